package loop_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/loop"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// checkFDs fails the test if it ends with more open fds than it started
// with. Register it before anything that opens fds.
func checkFDs(t *testing.T) {
	t.Helper()
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatalf("read /proc/self/fd: %v", err)
		}
		return len(ents)
	}
	before := count()
	t.Cleanup(func() {
		if after := count(); after != before {
			t.Errorf("%d fds open at the end, %d at the start", after, before)
		}
	})
}

func newLoop(t *testing.T) *loop.Loop {
	t.Helper()
	log := hclog.New(&hclog.LoggerOptions{Name: "loop", Output: t.Output(), Level: hclog.Trace})
	l, err := loop.New(log)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return l
}

func socketpair(t *testing.T) (int, int) {
	t.Helper()
	a, b, err := sys.Socketpair()
	if err != nil {
		t.Fatalf("Socketpair() = %v", err)
	}
	t.Cleanup(func() {
		sys.Close(a)
		sys.Close(b)
	})
	return a, b
}

func write(t *testing.T, fd int, s string) {
	t.Helper()
	if _, err := sys.Write(fd, []byte(s)); err != nil {
		t.Fatalf("Write(%d) = %v", fd, err)
	}
}

// runAsync runs l.Run on a new goroutine and returns a function that waits
// for its result, failing the test after 10 s.
func runAsync(t *testing.T, l *loop.Loop) func() error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.Run() }()
	return func() error {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			l.Stop()
			<-done
			t.Fatalf("Run() did not return within 10s")
			return nil
		}
	}
}

func TestLoop_Dispatch(t *testing.T) {
	checkFDs(t)
	l := newLoop(t)
	a, b := socketpair(t)
	var got []byte
	turns := 0
	l.OnTurnEnd(func() { turns++ })
	id, err := l.Add(a, sys.EventIn, loop.HandlerFunc(func(fd int, events uint32) error {
		if fd != a || events&sys.EventIn == 0 {
			t.Errorf("HandleEvent(%d, %#x), want (%d, EventIn)", fd, events, a)
		}
		buf := make([]byte, 16)
		n, err := sys.Read(fd, buf)
		if err != nil {
			return err
		}
		got = append(got, buf[:n]...)
		if string(got) == "hello" {
			l.Stop()
		}
		return nil
	}))
	if err != nil {
		t.Fatalf("Add() = %v", err)
	}
	if id.FD() != a {
		t.Errorf("Add(%d).FD() = %d", a, id.FD())
	}
	if _, err := l.Add(a, sys.EventIn, loop.HandlerFunc(nil)); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("Add(same fd again) = %v, want EEXIST", err)
	}
	wait := runAsync(t, l)
	write(t, b, "hello")
	if err := wait(); err != nil {
		t.Fatalf("Run() = %v, want nil", err)
	}
	if string(got) != "hello" {
		t.Errorf("handler read %q, want %q", got, "hello")
	}
	if turns != 0 {
		t.Errorf("OnTurnEnd ran %d times, want 0 (Stop in the only batch)", turns)
	}
	if err := l.Remove(id); err != nil {
		t.Errorf("Remove() = %v", err)
	}
	if err := l.Remove(id); !errors.Is(err, loop.ErrUnknownID) {
		t.Errorf("Remove(twice) = %v, want ErrUnknownID", err)
	}
	if err := l.Modify(id, sys.EventOut); !errors.Is(err, loop.ErrUnknownID) {
		t.Errorf("Modify(removed) = %v, want ErrUnknownID", err)
	}
}

func TestLoop_ModifyAndTurnEnd(t *testing.T) {
	checkFDs(t)
	l := newLoop(t)
	a, _ := socketpair(t)
	var seen []uint32
	turns := 0
	l.OnTurnEnd(func() { turns++ })
	id, err := l.Add(a, 0, loop.HandlerFunc(func(_ int, events uint32) error {
		seen = append(seen, events)
		return nil
	}))
	if err != nil {
		t.Fatalf("Add() = %v", err)
	}
	if err := l.Modify(id, sys.EventOut); err != nil {
		t.Fatalf("Modify() = %v", err)
	}
	// Level-triggered: a writable socket is reported on every turn.
	for range 3 {
		if err := l.Turn(); err != nil {
			t.Fatalf("Turn() = %v", err)
		}
	}
	if want := []uint32{sys.EventOut, sys.EventOut, sys.EventOut}; !slices.Equal(seen, want) || turns != 3 {
		t.Errorf("events %v, %d turn ends; want %v, 3", seen, turns, want)
	}
}

func TestLoop_HandlerErrorEndsRun(t *testing.T) {
	checkFDs(t)
	l := newLoop(t)
	a, _ := socketpair(t)
	errBoom := errors.New("boom")
	if _, err := l.Add(a, sys.EventOut, loop.HandlerFunc(func(int, uint32) error { return errBoom })); err != nil {
		t.Fatalf("Add() = %v", err)
	}
	if err := runAsync(t, l)(); err != errBoom {
		t.Errorf("Run() = %v, want %v", err, errBoom)
	}
}

func TestLoop_Stop(t *testing.T) {
	t.Run("from another goroutine", func(t *testing.T) {
		checkFDs(t)
		l := newLoop(t)
		started := make(chan struct{})
		l.Post(func() { close(started) })
		wait := runAsync(t, l)
		<-started
		l.Stop()
		if err := wait(); err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	})
	t.Run("before Run", func(t *testing.T) {
		l := newLoop(t)
		l.Stop()
		if err := runAsync(t, l)(); err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	})
	t.Run("from a posted function", func(t *testing.T) {
		l := newLoop(t)
		ran := false
		l.Post(l.Stop)
		l.Post(func() { ran = true })
		if err := runAsync(t, l)(); err != nil || ran {
			t.Errorf("Run() = %v, function posted after Stop ran %v; want nil, false", err, ran)
		}
	})
}

// TestLoop_Post posts from many goroutines at once: every function runs
// once, each poster's in order. The functions touch unguarded state, so
// the race detector fails the test if one ran off the loop goroutine.
func TestLoop_Post(t *testing.T) {
	checkFDs(t)
	const posters, each = 8, 500
	l := newLoop(t)
	next := make([]int, posters) // owned by the loop goroutine
	total := 0
	var wg sync.WaitGroup
	for p := range posters {
		wg.Go(func() {
			for i := range each {
				l.Post(func() {
					if next[p] != i {
						t.Errorf("poster %d: function %d ran, want %d", p, i, next[p])
					}
					next[p]++
					total++
				})
			}
		})
	}
	wait := runAsync(t, l)
	wg.Wait()
	l.Post(l.Stop)
	if err := wait(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if total != posters*each {
		t.Errorf("%d posted functions ran, want %d", total, posters*each)
	}
}

// TestLoop_RemoveDropsStale closes and reuses an fd number inside one
// batch: the first handler removes and closes the other fd and opens a new,
// readable fd with the same number. The event already fetched for the old
// fd must reach neither its removed handler nor the new one; the new fd's
// own event comes on the next turn.
func TestLoop_RemoveDropsStale(t *testing.T) {
	checkFDs(t)
	l := newLoop(t)
	open := map[int]bool{}
	t.Cleanup(func() {
		for fd := range open {
			sys.Close(fd)
		}
	})
	a, aPeer, err := sys.Socketpair()
	if err != nil {
		t.Fatalf("Socketpair() = %v", err)
	}
	open[a], open[aPeer] = true, true
	b, bPeer, err := sys.Socketpair()
	if err != nil {
		t.Fatalf("Socketpair() = %v", err)
	}
	open[b], open[bPeer] = true, true
	write(t, aPeer, "x")
	write(t, bPeer, "x")

	var calls []string
	names := map[int]string{a: "a", b: "b"}
	ids := map[int]loop.ID{}
	reused := -1
	newH := loop.HandlerFunc(func(int, uint32) error {
		calls = append(calls, "new")
		return nil
	})
	first := func(other int) loop.HandlerFunc {
		return func(fd int, _ uint32) error {
			calls = append(calls, names[fd])
			if len(calls) > 1 {
				return nil
			}
			if err := l.Remove(ids[other]); err != nil {
				t.Errorf("Remove() = %v", err)
			}
			sys.Close(other)
			delete(open, other)
			// Open eventfds until one takes the freed number (lower
			// numbers may be free too).
			for range 64 {
				efd, err := sys.Eventfd()
				if err != nil {
					return err
				}
				open[efd] = true
				if efd == other {
					reused = efd
					break
				}
			}
			if reused < 0 {
				t.Fatalf("no new fd got the closed number %d: the test's premise failed", other)
			}
			if err := sys.EventfdSignal(reused); err != nil {
				return err
			}
			var err error
			ids[reused], err = l.Add(reused, sys.EventIn, newH)
			return err
		}
	}
	if ids[a], err = l.Add(a, sys.EventIn, first(b)); err != nil {
		t.Fatalf("Add() = %v", err)
	}
	if ids[b], err = l.Add(b, sys.EventIn, first(a)); err != nil {
		t.Fatalf("Add() = %v", err)
	}
	if err := l.Turn(); err != nil {
		t.Fatalf("Turn() = %v", err)
	}
	if len(calls) != 1 {
		t.Fatalf("handlers called %v in the batch, want only the first", calls)
	}
	if err := l.Turn(); err != nil {
		t.Fatalf("Turn() = %v", err)
	}
	// Level-triggered: the survivor is still readable, and the new fd is.
	got := slices.Sorted(slices.Values(calls[1:]))
	if want := []string{calls[0], "new"}; !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("second turn called %v, want %v", calls[1:], want)
	}
	if err := l.Remove(ids[reused]); err != nil {
		t.Errorf("Remove(new) = %v", err)
	}
}

// blockedIn returns the threads of this process blocked in epoll_pwait(2)
// on one of epfds, from /proc/self/task/*/syscall.
func blockedIn(t *testing.T, epfds ...int) int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/syscall")
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) < 2 || f[0] != strconv.Itoa(syscall.SYS_EPOLL_PWAIT) {
			continue
		}
		fd, err := strconv.ParseInt(strings.TrimPrefix(f[1], "0x"), 16, 64)
		if err == nil && slices.Contains(epfds, int(fd)) {
			n++
		}
	}
	return n
}

// TestLoop_IdleParks: a loop idle for longer than its hot span parks its
// goroutine in the runtime poller and holds no OS thread. Loops that always
// blocked in epoll_wait(2) on their own thread held one each.
func TestLoop_IdleParks(t *testing.T) {
	const loops = 64
	type running struct {
		l    *loop.Loop
		wait func() error
	}
	var rs []running
	var epfds []int
	for range loops {
		l := newLoop(t)
		ran := make(chan struct{})
		l.Post(func() { close(ran) })
		rs = append(rs, running{l, runAsync(t, l)})
		epfds = append(epfds, l.EpollFD())
		<-ran
	}
	// Every loop has run a turn and waits hot for its hot span, then parks.
	var blocked int
	for range 100 {
		if blocked = blockedIn(t, epfds...); blocked == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if blocked > 0 {
		t.Errorf("%d idle loops: %d threads still blocked in their epoll_wait after 1 s, want 0", loops, blocked)
	}
	for _, r := range rs {
		r.l.Stop()
		if err := r.wait(); err != nil {
			t.Errorf("Run() = %v", err)
		}
	}
}

// TestLoop_HotWait: right after a turn with work, the loop waits for the
// next event in epoll_wait(2) on its own thread (no poller hop), and the
// runtime leaves it there: one wake-up per event. A loop that never went
// through the scheduler had its P taken by sysmon in every wait after 10 ms
// (runtime.retake): about 9 voluntary context switches per event here. With
// GOMAXPROCS 1 sysmon takes the only P from any wait, so the loop always
// parks in the poller instead.
func TestLoop_HotWait(t *testing.T) {
	// Voluntary context switches per event: the loop's wait and the
	// writer's sleep make about 2 (1.2 with one P); a P hand-off per wait
	// made 8.6 (4.7).
	t.Run("GOMAXPROCS=default", func(t *testing.T) { testHotWait(t, true, 5) })
	t.Run("GOMAXPROCS=1", func(t *testing.T) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		testHotWait(t, false, 3)
	})
}

// countBytes registers fd with a handler that reads it and stops l once
// want bytes have come; it returns the count so far.
func countBytes(t *testing.T, l *loop.Loop, fd int, want int64) *atomic.Int64 {
	t.Helper()
	var got atomic.Int64
	if _, err := l.Add(fd, sys.EventIn, loop.HandlerFunc(func(fd int, _ uint32) error {
		var buf [64]byte
		n, err := sys.Read(fd, buf[:])
		if err != nil {
			return err
		}
		if got.Add(int64(n)) == want {
			l.Stop()
		}
		return nil
	})); err != nil {
		t.Fatalf("Add() = %v", err)
	}
	return &got
}

func testHotWait(t *testing.T, wantHot bool, maxSwitches float64) {
	l := newLoop(t)
	a, b := socketpair(t)
	const events = 1000
	got := countBytes(t, l, a, events) // one byte per event
	var ru0, ru1 syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru0); err != nil {
		t.Fatal(err)
	}
	wait := runAsync(t, l)
	sawHot := false
	for range events {
		time.Sleep(500 * time.Microsecond)
		if !sawHot && blockedIn(t, l.EpollFD()) == 1 {
			sawHot = true
		}
		write(t, b, "x")
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the loop read %d of %d bytes", got.Load(), events)
		}
	})
	if err := wait(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru1); err != nil {
		t.Fatal(err)
	}
	if sawHot != wantHot {
		t.Errorf("a thread blocked in the loop's epoll_wait between events 0.5 ms apart: %v, want %v", sawHot, wantHot)
	}
	perEvent := float64(ru1.Nvcsw-ru0.Nvcsw) / events
	t.Logf("%d events 0.5 ms apart: %.1f voluntary context switches per event", events, perEvent)
	if perEvent > maxSwitches {
		t.Errorf("%.1f voluntary context switches per event, want at most %g (a P hand-off per wait?)", perEvent, maxSwitches)
	}
}

// TestLoop_HotWaitLowRate: at 100 events/s (10 ms apart, longer than one
// scheduling quantum) the loop still waits hot between events: it does not
// park and wake through the runtime poller for each one. A loop that parked
// after 5 ms made the runtime's sysmon restart its 20 us polling at every
// event, during the event's delivery (docs/latency.md).
func TestLoop_HotWaitLowRate(t *testing.T) {
	// With one P the loop never waits hot (Loop.wait); the test is about
	// the loop's span, so it runs with two on any machine.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	l := newLoop(t)
	a, b := socketpair(t)
	const events = 100
	countBytes(t, l, a, events)
	wait := runAsync(t, l)
	hot := 0
	for range events {
		// Three looks 6-8 ms after the event: on a loaded machine the
		// loop may be between two hot waits (a yield) at any one of them.
		time.Sleep(5 * time.Millisecond)
		seen := false
		for range 3 {
			time.Sleep(time.Millisecond)
			seen = seen || blockedIn(t, l.EpollFD()) == 1
		}
		if seen {
			hot++
		}
		time.Sleep(2 * time.Millisecond)
		write(t, b, "x")
	}
	if err := wait(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	t.Logf("%d events 10 ms apart: seen blocked in epoll_wait 6-8 ms after an event in %d gaps", events, hot)
	if hot < events/2 {
		t.Errorf("the loop was seen waiting hot 6-8 ms after an event in %d of %d gaps, want at least half (it parks between events 10 ms apart?)", hot, events)
	}
}

// TestLoop_BusyPollStops: with a busy poll set, a loop that has nothing to
// do spins at most that long after a turn, then parks: idle, it uses no
// CPU. A spin that never stopped would burn the whole idle window.
func TestLoop_BusyPollStops(t *testing.T) {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	l := newLoop(t)
	l.SetBusyPoll(500 * time.Microsecond)
	a, b := socketpair(t)
	got := make(chan string, 1)
	buf := make([]byte, 16)
	if _, err := l.Add(a, sys.EventIn, loop.HandlerFunc(func(fd int, _ uint32) error {
		n, err := sys.Read(fd, buf)
		if err == nil {
			got <- string(buf[:n])
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	wait := runAsync(t, l)
	write(t, b, "x")
	if s := <-got; s != "x" {
		t.Fatalf("handler read %q, want x", s)
	}
	const idle = 200 * time.Millisecond
	before := cpu()
	time.Sleep(idle)
	if used := cpu() - before; used > idle/4 {
		t.Errorf("idle loop with a 500us busy poll used %v of CPU in %v; want it parked after the spin", used, idle)
	}
	l.Stop()
	if err := wait(); err != nil {
		t.Errorf("Run() = %v", err)
	}
}

// TestLoop_StartedIdle: a turn that found its fd ready at once is busy; a
// turn that had to wait for it began idle.
func TestLoop_StartedIdle(t *testing.T) {
	l := newLoop(t)
	a, b := socketpair(t)
	var idle []bool
	buf := make([]byte, 64)
	if _, err := l.Add(a, sys.EventIn, loop.HandlerFunc(func(fd int, _ uint32) error {
		_, _ = sys.Read(fd, buf)
		idle = append(idle, l.StartedIdle())
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	write(t, b, "ready before the turn")
	if err := l.Turn(); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _ = sys.Write(b, []byte("after the loop parked"))
	}()
	if err := l.Turn(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(idle, []bool{false, true}) {
		t.Errorf("StartedIdle in the two turns = %v, want [false true]", idle)
	}
}
