//go:build mypoll_guest

package ktest

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// §4.6 test 39 (scaled: 5 s instead of 10 min): 8 timers at min_period
// with nobody reading: counters stay exact.
func TestRes_TimersNoReader(t *testing.T) {
	setup(t, "ring_order=8")
	d := rw(t)
	for id := range uint32(maxTimers) {
		d.timerStart(id, time.Millisecond, 0, 0)
	}
	var prev uint64
	for range 5 {
		time.Sleep(time.Second)
		s := d.stats()
		if s.Generated <= prev || s.Generated != s.NextSeq-1 || s.Overwritten != uint64(max(int64(s.Generated)-256, 0)) ||
			s.OldestSeq != s.Overwritten+1 || s.ActiveTimers != 0xff {
			t.Fatalf("stats %+v", s)
		}
		prev = s.Generated
	}
	for id := range uint32(maxTimers) {
		d.timerStopErr(id)
	}
	s := d.stats()
	var ticks uint64
	for id := range uint32(maxTimers) {
		ticks += d.timerGet(id).Ticks
	}
	if s.TimerEvents-maxTimers+s.TimerOverruns != ticks {
		t.Errorf("timer_events %d - 8 stops + overruns %d != ticks %d", s.TimerEvents, s.TimerOverruns, ticks)
	}
	t.Logf("5 s of 8 x 1 ms timers: %d records, %d ticks, %d folded", s.Generated, ticks, s.TimerOverruns)
}

// §4.6 test 40: a thousand opens cost a small, fixed amount each.
func TestRes_ManyOpens(t *testing.T) {
	setup(t, "ring_order=16")
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	if lim.Cur < 1100 {
		lim.Cur = min(max(lim.Max, 1100), 4096)
		lim.Max = max(lim.Max, lim.Cur)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for range 1000 {
		fd, err := unix.Open(devPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open #%d: %v", len(fds), err)
		}
		fds = append(fds, fd)
	}
	if n := sysfsAttr(t, "readers"); n != 1000 {
		t.Errorf("readers = %d, want 1000", n)
	}
	b, err := os.ReadFile("/sys/kernel/slab/mypoll_reader/object_size")
	if err != nil {
		t.Fatalf("reader cache: %v", err)
	}
	size, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if size == 0 || size > 2048 {
		t.Errorf("per-open object is %d bytes, want a small fixed size independent of the ring (64 Ki records)", size)
	}
	t.Logf("per-open object %d bytes", size)
}

// §4.6 test 41: a period the TCG guest cannot keep coalesces ticks into
// records with aux > 0; tick numbers stay exact.
func TestRes_Coalescing(t *testing.T) {
	setup(t, "ring_order=16 min_period_us=100")
	d := rw(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var spins atomic.Int64
	for range runtime.NumCPU() {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					spins.Add(1)
				}
			}
		})
	}
	d.timerStart(0, 100*time.Microsecond, 0, 0)
	time.Sleep(1500 * time.Millisecond)
	if err := d.timerStopErr(0); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	var tick, folded, records uint64
	for _, e := range d.drain() {
		switch e.Type {
		case evTimer:
			if e.Arg != tick+e.Aux+1 {
				t.Fatalf("tick %d after %d with aux %d", e.Arg, tick, e.Aux)
			}
			tick = e.Arg
			folded += e.Aux
			records++
		case evTimerStopped:
			if e.Arg != tick {
				t.Errorf("TIMER_STOPPED final tick %d, last record %d", e.Arg, tick)
			}
		case evOverflow:
			t.Fatalf("overflow in a 64 Ki ring: %v", e)
		}
	}
	s := d.stats()
	tg := d.timerGet(0)
	t.Logf("1.5 s at 100 us: %d records, %d ticks, %d folded", records, tick, folded)
	if tg.Ticks != tick || s.TimerOverruns != folded {
		t.Errorf("TIMER_GET ticks %d, overruns %d; records say %d and %d", tg.Ticks, s.TimerOverruns, tick, folded)
	}
	if folded == 0 {
		t.Errorf("no tick was folded: the guest kept a 100 us period under load (records %d)", records)
	}
	if records+folded != tick {
		t.Errorf("records %d + folded %d != ticks %d", records, folded, tick)
	}
}
