// The race detector's shadow memory grows with every allocation it sees, so
// a resident-set measurement is only meaningful in a build without -race.

//go:build !race

package txq_test

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/txq"
)

// statmRSS returns this process's resident set in bytes (proc(5)).
func statmRSS(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatalf("read statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("parse statm %q: %v", b, err)
	}
	return pages * os.Getpagesize()
}

// TestQueue_IdleRSS checks the memory claim behind the rewind: 1,000
// queues of 64 KiB that each pass 70 KB in small, promptly flushed writes
// (more than a full lap of the ring without the rewind) touch only their
// first page, so they add far less than 16 MiB of resident memory.
func TestQueue_IdleRSS(t *testing.T) {
	const clients, size = 1000, 64 << 10
	runtime.GC()
	before := statmRSS(t)
	qs := make([]*txq.Queue, clients)
	for i := range qs {
		qs[i] = txq.New(size)
	}
	line := bytes.Repeat([]byte("x"), 99)
	line = append(line, '\n')
	for _, q := range qs {
		for range 700 {
			q.Append(line)
			a, _ := q.Peek()
			q.Consume(len(a))
		}
	}
	grew := statmRSS(t) - before
	runtime.KeepAlive(qs)
	t.Logf("%d queues of %d KiB: RSS grew %.1f MiB", clients, size>>10, float64(grew)/(1<<20))
	if grew > 16<<20 {
		t.Errorf("RSS grew %d MiB for %d idle queues, want under 16 MiB", grew>>20, clients)
	}
}
