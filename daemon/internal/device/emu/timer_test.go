package emu_test

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// manual returns a device on a ManualClock, a read-write control File and
// a reader opened before anything happens.
func manual(t *testing.T) (*emu.ManualClock, *emu.File, *emu.File) {
	clk, _, ctl, r := manualDev(t)
	return clk, ctl, r
}

func manualDev(t *testing.T) (*emu.ManualClock, *emu.Device, *emu.File, *emu.File) {
	t.Helper()
	clk := emu.NewManualClock(time.Second)
	d := emu.New(emu.Config{Clock: clk})
	t.Cleanup(d.Unplug)
	ctl, err := d.OpenFile(true)
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.OpenFile(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close(); r.Close() })
	return clk, d, ctl, r
}

func read(t *testing.T, f *emu.File) []devabi.Event {
	t.Helper()
	var evs []devabi.Event
	buf := make([]byte, 16*devabi.EventSize)
	for {
		n, err := f.Read(buf)
		if errors.Is(err, sys.ErrWouldBlock) {
			return evs
		}
		if err != nil {
			t.Fatalf("Read() = %v", err)
		}
		for off := 0; off < n; off += devabi.EventSize {
			ev, _ := devabi.DecodeEvent(buf[off:])
			evs = append(evs, ev)
		}
	}
}

// rec is the part of a record these tests compare.
type rec struct {
	Type     devabi.EventType
	Src      uint32
	Arg, Aux uint64
	TS       time.Duration
}

func recs(evs []devabi.Event) []rec {
	out := make([]rec, len(evs))
	for i, ev := range evs {
		out[i] = rec{ev.Type, ev.SourceID, ev.Arg, ev.Aux, time.Duration(ev.TimestampNS)}
	}
	return out
}

func equal(a, b []rec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

const ms = time.Millisecond

func TestTimer_Coalescing(t *testing.T) {
	clk, ctl, r := manual(t)
	if err := ctl.TimerStart(devabi.Timer{ID: 3, PeriodNS: uint64(10 * ms)}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		want    []rec
	}{
		{9 * ms, nil},
		{1 * ms, []rec{{devabi.EvTimer, 3, 1, 0, time.Second + 10*ms}}},
		// The timer "goroutine" stalls for 5 periods: one record stands
		// for ticks 2..6 (aux 4), never a burst of catch-up records.
		{52 * ms, []rec{{devabi.EvTimer, 3, 6, 4, time.Second + 62*ms}}},
		// The schedule stays on the original grid (next tick at 70ms).
		{7 * ms, nil},
		{1 * ms, []rec{{devabi.EvTimer, 3, 7, 0, time.Second + 70*ms}}},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if got := recs(read(t, r)); !equal(got, s.want) {
			t.Fatalf("step %d (+%v): records %+v, want %+v", i, s.advance, got, s.want)
		}
	}
	st, _ := ctl.Stats()
	if st.TimerOverruns != 4 || st.TimerEvents != 3 {
		t.Errorf("Stats() timer_overruns %d timer_events %d, want 4 and 3", st.TimerOverruns, st.TimerEvents)
	}
	if tg, _ := ctl.TimerGet(3); tg.Ticks != 7 || tg.Active != 1 {
		t.Errorf("TimerGet(3) = %+v, want ticks 7 active 1", tg)
	}
}

func TestTimer_CountClipsCoalescing(t *testing.T) {
	clk, ctl, r := manual(t)
	if err := ctl.TimerStart(devabi.Timer{ID: 0, PeriodNS: uint64(10 * ms), Count: 3}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(100 * ms) // 10 periods late, but only 3 ticks remain
	now := time.Second + 100*ms
	want := []rec{{devabi.EvTimer, 0, 3, 2, now}, {devabi.EvTimerStopped, 0, 3, devabi.StopReasonCount, now}}
	if got := recs(read(t, r)); !equal(got, want) {
		t.Fatalf("records %+v, want %+v", got, want)
	}
	clk.Advance(time.Second)
	if got := read(t, r); len(got) != 0 {
		t.Fatalf("a finished timer generated %+v", got)
	}
}

func TestTimer_StopCancelsPending(t *testing.T) {
	clk, ctl, r := manual(t)
	if err := ctl.TimerStart(devabi.Timer{ID: 1, PeriodNS: uint64(10 * ms)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(25 * ms)
	if err := ctl.TimerStop(1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	want := []rec{
		{devabi.EvTimer, 1, 2, 1, time.Second + 25*ms},
		{devabi.EvTimerStopped, 1, 2, devabi.StopReasonStop, time.Second + 25*ms},
	}
	if got := recs(read(t, r)); !equal(got, want) {
		t.Fatalf("records %+v, want %+v", got, want)
	}
}

func TestTimer_ReplaceRestartsTicks(t *testing.T) {
	clk, ctl, r := manual(t)
	if err := ctl.TimerStart(devabi.Timer{ID: 2, PeriodNS: uint64(10 * ms)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * ms)
	if err := ctl.TimerStart(devabi.Timer{ID: 2, Flags: devabi.TimerReplace, PeriodNS: uint64(20 * ms)}); err != nil {
		t.Fatal(err)
	}
	// The old schedule (next tick at +40ms) must not fire; the new one
	// counts from 1 at +50ms. REPLACE emits no TIMER_STOPPED.
	clk.Advance(20 * ms)
	want := []rec{
		{devabi.EvTimer, 2, 3, 2, time.Second + 30*ms},
		{devabi.EvTimer, 2, 1, 0, time.Second + 50*ms},
	}
	if got := recs(read(t, r)); !equal(got, want) {
		t.Fatalf("records %+v, want %+v", got, want)
	}
}

func TestTimer_OwnedStopsOnClose(t *testing.T) {
	clk, ctl, r := manual(t)
	if err := ctl.TimerStart(devabi.Timer{ID: 4, Flags: devabi.TimerOwned, PeriodNS: uint64(10 * ms)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * ms)
	if err := ctl.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	want := []rec{
		{devabi.EvTimer, 4, 1, 0, time.Second + 10*ms},
		{devabi.EvTimerStopped, 4, 1, devabi.StopReasonClosed, time.Second + 10*ms},
	}
	if got := recs(read(t, r)); !equal(got, want) {
		t.Fatalf("records %+v, want %+v", got, want)
	}
}

func TestDevice_Unplug(t *testing.T) {
	clk, d, ctl, r := manualDev(t)
	if err := ctl.TimerStart(devabi.Timer{ID: 5, PeriodNS: uint64(10 * ms)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Trigger(1, 2); err != nil {
		t.Fatal(err)
	}
	d.Unplug()
	clk.Advance(time.Second) // timers are gone: no records, no TIMER_STOPPED
	if _, err := ctl.Trigger(1, 1); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("Trigger after Unplug error = %v, want ENODEV", err)
	}
	if err := ctl.TimerStart(devabi.Timer{ID: 5, PeriodNS: uint64(10 * ms)}); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("TimerStart after Unplug error = %v, want ENODEV", err)
	}
	buf := make([]byte, 8*devabi.EventSize)
	if n, err := r.Read(buf); n != 2*devabi.EventSize || err != nil {
		t.Fatalf("Read after Unplug = %d, %v; want the 2 triggers", n, err)
	}
	if _, err := r.Read(buf); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("second Read after Unplug error = %v, want ENODEV", err)
	}
	if s, _ := ctl.Stats(); s.ActiveTimers != 0 {
		t.Errorf("active_timers after Unplug = %#x, want 0", s.ActiveTimers)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		cfg emu.Config
		ok  bool
	}{
		{emu.Config{}, true},
		{emu.Config{RingOrder: 4, MinPeriod: 100 * time.Microsecond, MaxBurst: 65536}, true},
		{emu.Config{RingOrder: 16}, true},
		{emu.Config{RingOrder: 3}, false},
		{emu.Config{RingOrder: 17}, false},
		{emu.Config{MinPeriod: 99 * time.Microsecond}, false},
		{emu.Config{MinPeriod: 2 * time.Hour}, false},
		{emu.Config{MaxBurst: 65537}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Config%+v.Validate() = %v, want ok=%v", tt.cfg, err, tt.ok)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("New(ring order 99) did not panic")
		}
	}()
	emu.New(emu.Config{RingOrder: 99})
}

func TestDevice_InstanceID(t *testing.T) {
	a, _ := emu.New(emu.Config{}).OpenFile(false)
	b, _ := emu.New(emu.Config{}).OpenFile(false)
	defer a.Close()
	defer b.Close()
	ia, _ := a.Info()
	ib, _ := b.Info()
	if ia.InstanceID == 0 || ia.InstanceID == ib.InstanceID {
		t.Errorf("instance ids %#x and %#x, want distinct and non-zero", ia.InstanceID, ib.InstanceID)
	}
}

func TestFile_ClosedEBADF(t *testing.T) {
	_, ctl, _ := manual(t)
	if err := ctl.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Read(make([]byte, 48)); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Read after Close error = %v, want EBADF", err)
	}
	if _, err := ctl.Stats(); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Stats after Close error = %v, want EBADF", err)
	}
	if _, err := ctl.Trigger(0, 1); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Trigger after Close error = %v, want EBADF", err)
	}
}

// TestFile_NoFDLeak opens and closes Files (also on an unplugged device)
// and checks the process has no more fds than before.
func TestFile_NoFDLeak(t *testing.T) {
	before := countFDs(t)
	d := emu.New(emu.Config{})
	for range 50 {
		f, err := d.Open(true)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	d.Unplug()
	if _, err := d.Open(false); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("Open after Unplug error = %v, want ENODEV", err)
	}
	if after := countFDs(t); after != before {
		t.Errorf("open fds %d before, %d after 50 Open/Close and a refused Open", before, after)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
