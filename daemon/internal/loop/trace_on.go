//go:build looptrace

package loop

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// With the build tag looptrace, every turn of every loop is recorded
// (CLOCK_MONOTONIC ns: wait start, wake-up, turn end; the thread; how the
// wait ended) and, when $MYPOLL_LOOPTRACE names a file, written there as
// text when the loop closes. A profiling aid (docs/latency.md), never in
// the default build.

func traceNow() int64 { return int64(sys.Monotonic()) }

type turnRec struct {
	start, woke, end int64
	tid              int32
	n, polls         int32
	parked, hot      bool
}

var (
	traceMu   sync.Mutex
	traceRecs = make([]turnRec, 0, 1<<20)
)

func (l *Loop) traceTurn(start, woke int64, n int) {
	r := turnRec{start: start, woke: woke, end: traceNow(), tid: int32(syscall.Gettid()),
		n: int32(n), polls: int32(l.polls), parked: l.parked, hot: l.hotOK}
	traceMu.Lock()
	if len(traceRecs) < cap(traceRecs) {
		traceRecs = append(traceRecs, r)
	}
	traceMu.Unlock()
}

// traceDump writes "start woke end tid n polls parked hotOK" per turn.
func traceDump() {
	name := os.Getenv("MYPOLL_LOOPTRACE")
	if name == "" {
		return
	}
	f, err := os.Create(name)
	if err != nil {
		return
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	defer w.Flush()
	traceMu.Lock()
	defer traceMu.Unlock()
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	for _, r := range traceRecs {
		fmt.Fprintf(w, "%d %d %d %d %d %d %d %d\n", r.start, r.woke, r.end, r.tid, r.n, r.polls, b2i(r.parked), b2i(r.hot))
	}
}
