package devicetest

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// env is one subtest's device, control File and limits.
type env struct {
	t    *testing.T
	dev  device.Device
	opt  Options
	ctl  device.File // read-write File for control calls
	info devabi.Info
}

func newEnv(t *testing.T, factory func(t *testing.T) device.Device, opt Options) *env {
	t.Helper()
	e := &env{t: t, dev: factory(t), opt: opt}
	e.ctl = e.open(true)
	info, err := e.ctl.Info()
	if err != nil {
		t.Fatalf("Info() = %v", err)
	}
	e.info = info
	return e
}

// open opens a File closed at the end of the subtest.
func (e *env) open(write bool) device.File {
	e.t.Helper()
	f, err := e.dev.Open(write)
	if err != nil {
		e.t.Fatalf("Open(write=%v) = %v", write, err)
	}
	e.t.Cleanup(func() {
		if err := f.Close(); err != nil {
			e.t.Errorf("Close() = %v", err)
		}
	})
	return f
}

func (e *env) stats() devabi.Stats {
	e.t.Helper()
	s, err := e.ctl.Stats()
	if err != nil {
		e.t.Fatalf("Stats() = %v", err)
	}
	return s
}

func (e *env) reader(f device.File) devabi.ReaderInfo {
	e.t.Helper()
	r, err := f.Reader()
	if err != nil {
		e.t.Fatalf("Reader() = %v", err)
	}
	return r
}

// timeout scales a wait by Options.TimeScale.
func (e *env) timeout(d time.Duration) time.Duration {
	if e.opt.TimeScale > 0 {
		return time.Duration(float64(d) * e.opt.TimeScale)
	}
	return d
}

// ring is the ring size as a uint64.
func (e *env) ring() uint64 { return uint64(e.info.RingSize) }

// period is the timer period the suite uses: 5ms or min_period if longer.
func (e *env) period() uint64 {
	return max(e.info.MinPeriodNS, uint64(5*time.Millisecond))
}

// trigger emits n TRIGGER records with payload in bursts of at most
// max_burst and returns the first seq.
func (e *env) trigger(payload, n uint64) uint64 {
	e.t.Helper()
	var first uint64
	for done := uint64(0); done < n; {
		c := min(n-done, uint64(e.info.MaxBurst))
		s, err := e.ctl.Trigger(payload, uint32(c))
		if err != nil {
			e.t.Fatalf("Trigger(%d, %d) = %v", payload, c, err)
		}
		if done == 0 {
			first = s
		}
		done += c
	}
	return first
}

// readAll reads f until ErrWouldBlock and decodes every record.
func (e *env) readAll(f device.File) []devabi.Event {
	e.t.Helper()
	var evs []devabi.Event
	buf := make([]byte, 64*devabi.EventSize)
	for {
		n, err := f.Read(buf)
		if errors.Is(err, sys.ErrWouldBlock) {
			return evs
		}
		if err != nil {
			e.t.Fatalf("Read(%d bytes) = %d, %v", len(buf), n, err)
		}
		if n == 0 || n%devabi.EventSize != 0 {
			e.t.Fatalf("Read(%d bytes) = %d, want a positive multiple of %d", len(buf), n, devabi.EventSize)
		}
		for off := 0; off < n; off += devabi.EventSize {
			ev, err := devabi.DecodeEvent(buf[off:])
			if err != nil {
				e.t.Fatal(err)
			}
			evs = append(evs, ev)
		}
	}
}

// waitFor reads f, sleeping in poll(2) on its FD, until done(records so
// far) holds; it fails the test after 10s (scaled).
func (e *env) waitFor(f device.File, what string, done func([]devabi.Event) bool) []devabi.Event {
	e.t.Helper()
	deadline := time.Now().Add(e.timeout(10 * time.Second))
	var evs []devabi.Event
	for {
		evs = append(evs, e.readAll(f)...)
		if done(evs) {
			return evs
		}
		left := time.Until(deadline)
		if left <= 0 {
			e.t.Fatalf("timed out waiting for %s; read %d records: %s", what, len(evs), summary(evs))
		}
		if _, err := sys.PollIn(f.FD(), min(left, 100*time.Millisecond)); err != nil {
			e.t.Fatalf("PollIn(FD) = %v", err)
		}
	}
}

// idleTimer returns a timer id not running now (the highest free one) and
// registers a cleanup that stops it if a failing test left it running.
func (e *env) idleTimer(not ...uint32) uint32 {
	e.t.Helper()
	active := e.stats().ActiveTimers
	for id := uint32(devabi.MaxTimers); id > 0; id-- {
		i := id - 1
		if active&(1<<i) != 0 || contains(not, i) {
			continue
		}
		e.t.Cleanup(func() { _ = e.ctl.TimerStop(i) })
		return i
	}
	e.t.Fatalf("no idle timer: active_timers = %#x", active)
	return 0
}

func contains(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkStream verifies PROTOCOL.md B invariants of one File's records:
// seqs strictly increasing, every hole exactly covered by an OVERFLOW
// record, timestamps of real records non-decreasing, reserved fields 0.
// from is the expected first seq (0: any).
func checkStream(evs []devabi.Event, from uint64) error {
	next := from
	var lastTS uint64
	for i, ev := range evs {
		if ev.Reserved != 0 || ev.Flags != 0 {
			return fmt.Errorf("record %d: reserved %d flags %d, want 0", i, ev.Reserved, ev.Flags)
		}
		if next != 0 && ev.Seq != next {
			return fmt.Errorf("record %d: seq %d, want %d", i, ev.Seq, next)
		}
		if ev.Type == devabi.EvOverflow {
			if ev.Aux == 0 {
				return fmt.Errorf("record %d: OVERFLOW with aux 0", i)
			}
			next = ev.Seq + ev.Aux
			continue
		}
		if ev.TimestampNS < lastTS {
			return fmt.Errorf("record %d (seq %d): timestamp %d before %d", i, ev.Seq, ev.TimestampNS, lastTS)
		}
		lastTS = ev.TimestampNS
		next = ev.Seq + 1
	}
	return nil
}

// wantErrno fails unless err is want (errors.Is).
func wantErrno(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s error = %v, want %s", what, err, errName(want))
	}
}

func errName(e syscall.Errno) string {
	switch e {
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.EBADF:
		return "EBADF"
	case syscall.EBUSY:
		return "EBUSY"
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.ENODEV:
		return "ENODEV"
	case syscall.EAGAIN:
		return "EAGAIN"
	}
	return e.Error()
}

// summary prints up to the last 8 records for failure messages.
func summary(evs []devabi.Event) string {
	s := ""
	if len(evs) > 8 {
		s = "... "
		evs = evs[len(evs)-8:]
	}
	for _, ev := range evs {
		s += fmt.Sprintf("{seq %d %s src %d arg %d aux %d} ", ev.Seq, ev.Type, ev.SourceID, ev.Arg, ev.Aux)
	}
	return s
}

// timerRecords returns the TIMER and TIMER_STOPPED records of timer id.
func timerRecords(evs []devabi.Event, id uint32) []devabi.Event {
	var out []devabi.Event
	for _, ev := range evs {
		if (ev.Type == devabi.EvTimer || ev.Type == devabi.EvTimerStopped) && ev.SourceID == id {
			out = append(out, ev)
		}
	}
	return out
}

// stoppedIn reports whether evs holds a TIMER_STOPPED record for id.
func stoppedIn(evs []devabi.Event, id uint32) bool {
	for _, ev := range evs {
		if ev.Type == devabi.EvTimerStopped && ev.SourceID == id {
			return true
		}
	}
	return false
}

// checkTicks verifies one timer's records: TIMER args strictly increasing
// by aux+1 from 1, then at most one TIMER_STOPPED (last) whose arg is the
// final tick. It returns the last tick and the sum of aux (coalesced ticks).
func checkTicks(recs []devabi.Event) (last, coalesced uint64, err error) {
	for i, ev := range recs {
		if ev.Type == devabi.EvTimerStopped {
			if i != len(recs)-1 {
				return 0, 0, fmt.Errorf("TIMER_STOPPED at seq %d is not the timer's last record", ev.Seq)
			}
			if ev.Arg != last {
				return 0, 0, fmt.Errorf("TIMER_STOPPED arg %d, want final tick %d", ev.Arg, last)
			}
			continue
		}
		if ev.Arg != last+ev.Aux+1 {
			return 0, 0, fmt.Errorf("TIMER seq %d: arg %d aux %d after tick %d, want arg = %d", ev.Seq, ev.Arg, ev.Aux, last, last+ev.Aux+1)
		}
		last = ev.Arg
		coalesced += ev.Aux
	}
	return last, coalesced, nil
}
