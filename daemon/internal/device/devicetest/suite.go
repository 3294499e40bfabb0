package devicetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// Options describe the device under test.
type Options struct {
	// Fresh says the device was never used before Run: next_seq 1, no
	// records, no timers, no other opener. Only the first subtest (Info)
	// relies on it, so a module instance just loaded and shared by every
	// subtest qualifies. Every other check works on deltas.
	Fresh bool
	// TimeScale multiplies every wait (e.g. 10 under QEMU TCG); 0 means 1.
	TimeScale float64
	// CanUnplug runs the unplug subtest, which leaves the device dead: the
	// factory must return a live device again afterwards (the emulation: a
	// new one; the module: reload it), or the subtest must come last (it
	// does in Run). The device is unplugged with Unplug if set, else by its
	// own Unplug() or Unplug() error method.
	CanUnplug bool
	// Unplug unplugs the device the factory returned last, e.g. by writing
	// 1 to the module's debugfs unplug hook.
	Unplug func(t *testing.T)
}

// Run runs the conformance suite as subtests of t against devices from
// factory, called once per subtest. Subtests run sequentially (they share
// timers and the ring when the factory returns one module instance).
func Run(t *testing.T, factory func(t *testing.T) device.Device, opt Options) {
	tests := []struct {
		name string
		fn   func(e *env)
	}{
		{"Info", testInfo},
		{"TriggerSequence", testTriggerSequence},
		{"Burst", testBurst},
		{"TwoReadersIdentical", testTwoReaders},
		{"LateOpenerLive", testLateOpener},
		{"Seek", testSeek},
		{"SeekOverwritten", testSeekOverwritten},
		{"Overflow", testOverflow},
		{"Stats", testStats},
		{"ReadSizes", testReadSizes},
		{"Readiness", testReadiness},
		{"TimerCount", testTimerCount},
		{"TimerStop", testTimerStop},
		{"TimerOwned", testTimerOwned},
		{"TimerReplace", testTimerReplace},
		{"TimerIdle", testTimerIdle},
		{"Validation", testValidation},
		{"ReadOnlyEBADF", testReadOnly},
		{"TextControl", testTextControl},
		{"ResetStats", testResetStats},
		{"CloseIdempotent", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(newEnv(t, factory, opt)) })
	}
	if opt.CanUnplug {
		t.Run("Unplug", func(t *testing.T) { testUnplug(newEnv(t, factory, opt)) })
	}
}

func testInfo(e *env) {
	t := e.t
	in := e.info
	if in.ABIVersion != devabi.ABIVersion || in.EventSize != devabi.EventSize || in.MaxTimers != devabi.MaxTimers {
		t.Errorf("Info() abi %d event_size %d max_timers %d, want %d %d %d",
			in.ABIVersion, in.EventSize, in.MaxTimers, devabi.ABIVersion, devabi.EventSize, devabi.MaxTimers)
	}
	if in.RingSize < 16 || in.RingSize > 65536 || in.RingSize&(in.RingSize-1) != 0 {
		t.Errorf("Info() ring_size %d, want a power of two in 16..65536", in.RingSize)
	}
	if in.MinPeriodNS < uint64(100*time.Microsecond) || in.MaxPeriodNS != devabi.MaxPeriodNS {
		t.Errorf("Info() period range %d..%d ns, want min >= 100000 and max %d", in.MinPeriodNS, in.MaxPeriodNS, uint64(devabi.MaxPeriodNS))
	}
	if in.MaxBurst == 0 || in.MaxBurst > 65536 || in.MaxWrite != devabi.MaxWrite {
		t.Errorf("Info() max_burst %d max_write %d, want 1..65536 and %d", in.MaxBurst, in.MaxWrite, devabi.MaxWrite)
	}
	if in.InstanceID == 0 || in.Reserved != [3]uint64{} {
		t.Errorf("Info() instance_id %#x reserved %v, want non-zero and zeros", in.InstanceID, in.Reserved)
	}
	ro := e.open(false)
	in2, err := ro.Info()
	if err != nil || in2 != in {
		t.Errorf("Info() on a second read-only File = %+v, %v; want %+v", in2, err, in)
	}
	s := e.stats()
	if s.Reserved != [4]uint64{} {
		t.Errorf("Stats() reserved = %v, want zeros", s.Reserved)
	}
	if e.opt.Fresh {
		want := devabi.Stats{NextSeq: 1, OldestSeq: 1, Readers: 2}
		if s != want {
			t.Errorf("fresh device Stats() = %+v, want %+v", s, want)
		}
	}
}

func testTriggerSequence(e *env) {
	t := e.t
	n := min(200, e.ring())
	r := e.open(false)
	s0 := e.stats()
	t0 := sys.Monotonic()
	for i := range uint64(n) {
		first, err := e.ctl.Trigger(i*7+1, 1)
		if err != nil {
			t.Fatalf("Trigger(%d, 1) = %v", i*7+1, err)
		}
		if first != s0.NextSeq+i {
			t.Fatalf("Trigger #%d first_seq = %d, want %d", i, first, s0.NextSeq+i)
		}
	}
	t1 := sys.Monotonic()
	evs := e.readAll(r)
	if uint64(len(evs)) != n {
		t.Fatalf("read %d records, want %d", len(evs), n)
	}
	// Timestamps are CLOCK_MONOTONIC at generation (PROTOCOL.md B.2).
	if ts0, ts1 := time.Duration(evs[0].TimestampNS), time.Duration(evs[n-1].TimestampNS); ts0 < t0 || ts1 > t1 {
		t.Errorf("timestamps %v..%v outside the CLOCK_MONOTONIC window %v..%v of the triggers", ts0, ts1, t0, t1)
	}
	if err := checkStream(evs, s0.NextSeq); err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		if ev.Type != devabi.EvTrigger || ev.SourceID != 0 || ev.Arg != uint64(i)*7+1 || ev.Aux != 0 {
			t.Fatalf("record %d = %+v, want TRIGGER arg %d aux 0", i, ev, i*7+1)
		}
	}
	s1 := e.stats()
	if s1.NextSeq != s0.NextSeq+n || s1.Generated != s1.NextSeq-1 || s1.TriggerEvents != s0.TriggerEvents+n {
		t.Errorf("Stats() after %d triggers: next_seq %d generated %d trigger_events %d; want %d %d %d",
			n, s1.NextSeq, s1.Generated, s1.TriggerEvents, s0.NextSeq+n, s0.NextSeq+n-1, s0.TriggerEvents+n)
	}
}

func testBurst(e *env) {
	t := e.t
	r := e.open(false)
	s0 := e.stats()
	first, err := e.ctl.Trigger(9, 10)
	if err != nil || first != s0.NextSeq {
		t.Fatalf("Trigger(9, 10) = %d, %v; want %d", first, err, s0.NextSeq)
	}
	second, err := e.ctl.Trigger(11, 3)
	if err != nil || second != first+10 {
		t.Fatalf("second Trigger(11, 3) = %d, %v; want %d", second, err, first+10)
	}
	evs := e.readAll(r)
	if len(evs) != 13 {
		t.Fatalf("read %d records, want 13", len(evs))
	}
	if err := checkStream(evs, first); err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		payload, idx := uint64(9), uint64(i)
		if i >= 10 {
			payload, idx = 11, uint64(i-10)
		}
		if ev.Type != devabi.EvTrigger || ev.Arg != payload || ev.Aux != idx {
			t.Errorf("record %d = %+v, want TRIGGER arg %d aux %d", i, ev, payload, idx)
		}
	}
	// The largest burst is accepted even when it exceeds the ring.
	burst := uint64(e.info.MaxBurst)
	s1 := e.stats()
	if f, err := e.ctl.Trigger(1, e.info.MaxBurst); err != nil || f != s1.NextSeq {
		t.Fatalf("Trigger(1, max_burst %d) = %d, %v; want %d", burst, f, err, s1.NextSeq)
	}
	if s2 := e.stats(); s2.NextSeq != s1.NextSeq+burst {
		t.Errorf("next_seq after a max_burst burst = %d, want %d", s2.NextSeq, s1.NextSeq+burst)
	}
}

func testTwoReaders(e *env) {
	t := e.t
	a, b := e.open(false), e.open(true)
	e.trigger(1, 5)
	e.trigger(2, 10)
	if _, err := e.ctl.WriteText([]byte("trigger 3\n")); err != nil {
		t.Fatalf("WriteText(trigger 3) = %v", err)
	}
	ea, eb := e.readAll(a), e.readAll(b)
	if len(ea) != 16 || !reflect.DeepEqual(ea, eb) {
		t.Fatalf("two Files read different streams:\n a: %s\n b: %s", summary(ea), summary(eb))
	}
	if err := checkStream(ea, 0); err != nil {
		t.Fatal(err)
	}
}

func testLateOpener(e *env) {
	t := e.t
	a := e.open(false)
	first := e.trigger(5, 3)
	b := e.open(false)
	if r := e.reader(b); r.Cursor != first+3 || r.Pending != 0 || r.LostTotal != 0 || r.Overflows != 0 {
		t.Errorf("late opener Reader() = %+v, want cursor %d (live) and nothing pending", r, first+3)
	}
	if _, err := b.Read(make([]byte, devabi.EventSize)); !errors.Is(err, sys.ErrWouldBlock) {
		t.Errorf("late opener Read() error = %v, want EAGAIN", err)
	}
	e.trigger(6, 2)
	eb := e.readAll(b)
	if len(eb) != 2 || eb[0].Seq != first+3 || eb[0].Arg != 6 {
		t.Errorf("late opener read %s, want seqs %d..%d", summary(eb), first+3, first+4)
	}
	if ea := e.readAll(a); len(ea) != 5 || ea[0].Seq != first {
		t.Errorf("early opener read %s, want 5 records from %d", summary(ea), first)
	}
}

func testSeek(e *env) {
	t := e.t
	first := e.trigger(4, 5)
	g := e.open(false)
	if err := g.Seek(devabi.SeekSeq, first+2); err != nil {
		t.Fatalf("Seek(SEQ, %d) = %v", first+2, err)
	}
	if r := e.reader(g); r.Cursor != first+2 || r.Pending != 3 {
		t.Errorf("Reader() after Seek(SEQ) = %+v, want cursor %d pending 3", r, first+2)
	}
	if evs := e.readAll(g); len(evs) != 3 || checkStream(evs, first+2) != nil {
		t.Errorf("after Seek(SEQ, %d) read %s, want 3 records", first+2, summary(evs))
	}
	next := e.stats().NextSeq
	if err := g.Seek(devabi.SeekSeq, next); err != nil {
		t.Errorf("Seek(SEQ, next_seq) = %v, want nil", err)
	}
	wantErrno(t, "Seek(SEQ, next_seq+1)", g.Seek(devabi.SeekSeq, next+1), syscall.EINVAL)
	wantErrno(t, "Seek(SEQ, 2^64-1)", g.Seek(devabi.SeekSeq, ^uint64(0)), syscall.EINVAL)
	if r := e.reader(g); r.Cursor != next {
		t.Errorf("a failed Seek moved the cursor to %d, want %d", r.Cursor, next)
	}
	if err := g.Seek(devabi.SeekSeq, first); err != nil {
		t.Fatal(err)
	}
	if err := g.Seek(devabi.SeekLive, 0); err != nil {
		t.Fatalf("Seek(LIVE) = %v", err)
	}
	if evs := e.readAll(g); len(evs) != 0 {
		t.Errorf("after Seek(LIVE) read %s, want nothing", summary(evs))
	}
	if err := g.Seek(devabi.SeekOldest, 0); err != nil {
		t.Fatalf("Seek(OLDEST) = %v", err)
	}
	s := e.stats()
	evs := e.readAll(g)
	if uint64(len(evs)) != s.NextSeq-s.OldestSeq || checkStream(evs, s.OldestSeq) != nil {
		t.Errorf("after Seek(OLDEST) read %d records from %s, want %d..%d without OVERFLOW",
			len(evs), summary(evs[:min(len(evs), 1)]), s.OldestSeq, s.NextSeq-1)
	}
	checkStatsInvariants(t, s, e.ring())
}

func testSeekOverwritten(e *env) {
	t := e.t
	first := e.trigger(1, e.ring()+5)
	g := e.open(false)
	if err := g.Seek(devabi.SeekSeq, first); err != nil {
		t.Fatalf("Seek(SEQ, overwritten %d) = %v", first, err)
	}
	s := e.stats()
	evs := e.readAll(g)
	if len(evs) == 0 || evs[0].Type != devabi.EvOverflow || evs[0].Seq != first || evs[0].Aux != s.OldestSeq-first {
		t.Fatalf("first record after seeking to overwritten %d = %s, want OVERFLOW seq %d aux %d",
			first, summary(evs[:min(len(evs), 2)]), first, s.OldestSeq-first)
	}
	if err := checkStream(evs, first); err != nil {
		t.Fatal(err)
	}
	if uint64(len(evs)) != 1+e.ring() {
		t.Errorf("read %d records, want OVERFLOW + %d", len(evs), e.ring())
	}
	if r := e.reader(g); r.LostTotal != evs[0].Aux || r.Overflows != 1 || r.Cursor != s.NextSeq {
		t.Errorf("Reader() = %+v, want lost_total %d overflows 1 cursor %d", r, evs[0].Aux, s.NextSeq)
	}
}

func testOverflow(e *env) {
	ring := e.ring()
	for _, n := range []uint64{ring - 1, ring, ring + 1, 3 * ring} {
		e.t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := &env{t: t, dev: e.dev, opt: e.opt, ctl: e.ctl, info: e.info}
			r := e.open(false)
			base := e.trigger(n, n)
			s := e.stats()
			if ri := e.reader(r); ri.Pending != n {
				t.Errorf("Reader().pending = %d, want %d", ri.Pending, n)
			}
			evs := e.readAll(r)
			if err := checkStream(evs, base); err != nil {
				t.Fatal(err)
			}
			lost := uint64(0)
			if n > ring {
				lost = n - ring
			}
			hasOvf := len(evs) > 0 && evs[0].Type == devabi.EvOverflow
			switch {
			case lost == 0 && (hasOvf || uint64(len(evs)) != n):
				t.Errorf("burst of %d into ring %d: read %d records (%s), want %d and no OVERFLOW", n, ring, len(evs), summary(evs[:min(len(evs), 2)]), n)
			case lost > 0 && (!hasOvf || evs[0].Seq != base || evs[0].Aux != lost || uint64(len(evs)) != 1+ring):
				t.Errorf("burst of %d into ring %d: read %d records from %s, want OVERFLOW seq %d aux %d then %d records",
					n, ring, len(evs), summary(evs[:min(len(evs), 2)]), base, lost, ring)
			}
			if hasOvf && len(evs) > 1 && evs[1].Seq != evs[0].Seq+evs[0].Aux {
				t.Errorf("record after OVERFLOW has seq %d, want ovf.seq + ovf.aux = %d", evs[1].Seq, evs[0].Seq+evs[0].Aux)
			}
			wantOvf := uint64(0)
			if lost > 0 {
				wantOvf = 1
			}
			if ri := e.reader(r); ri.LostTotal != lost || ri.Overflows != wantOvf || ri.Cursor != s.NextSeq || ri.Pending != 0 {
				t.Errorf("Reader() = %+v, want lost_total %d overflows %d cursor %d pending 0", ri, lost, wantOvf, s.NextSeq)
			}
			checkStatsInvariants(t, s, ring)
		})
	}
}

// checkStatsInvariants checks the derived counters of PROTOCOL.md B.
func checkStatsInvariants(t *testing.T, s devabi.Stats, ring uint64) {
	t.Helper()
	over := uint64(0)
	if s.Generated > ring {
		over = s.Generated - ring
	}
	oldest := uint64(1)
	if s.NextSeq-1 > ring {
		oldest = s.NextSeq - ring
	}
	if s.Generated != s.NextSeq-1 || s.Overwritten != over || s.OldestSeq != oldest {
		t.Errorf("Stats() next_seq %d generated %d overwritten %d oldest_seq %d; want generated %d overwritten %d oldest_seq %d",
			s.NextSeq, s.Generated, s.Overwritten, s.OldestSeq, s.NextSeq-1, over, oldest)
	}
}

func testStats(e *env) {
	t := e.t
	s0 := e.stats()
	checkStatsInvariants(t, s0, e.ring())
	f, err := e.dev.Open(false)
	if err != nil {
		t.Fatal(err)
	}
	if s := e.stats(); s.Readers != s0.Readers+1 {
		t.Errorf("readers after Open = %d, want %d", s.Readers, s0.Readers+1)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if s := e.stats(); s.Readers != s0.Readers {
		t.Errorf("readers after Close = %d, want %d", s.Readers, s0.Readers)
	}
	e.trigger(0, 3)
	s1 := e.stats()
	if s1.NextSeq != s0.NextSeq+3 || s1.TriggerEvents != s0.TriggerEvents+3 || s1.TimerEvents != s0.TimerEvents {
		t.Errorf("Stats() after 3 triggers = %+v, want next_seq %d trigger_events %d timer_events %d",
			s1, s0.NextSeq+3, s0.TriggerEvents+3, s0.TimerEvents)
	}
	checkStatsInvariants(t, s1, e.ring())
}

func testReadSizes(e *env) {
	t := e.t
	r := e.open(false)
	first := e.trigger(3, 4)
	if n, err := r.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(0 bytes) = %d, %v; want 0, nil", n, err)
	}
	n, err := r.Read(make([]byte, devabi.EventSize-1))
	wantErrno(t, "Read(47 bytes)", err, syscall.EINVAL)
	if n != 0 {
		t.Errorf("Read(47 bytes) = %d, want 0", n)
	}
	if ri := e.reader(r); ri.Cursor != first {
		t.Fatalf("Read(0) and Read(47) moved the cursor to %d, want %d", ri.Cursor, first)
	}
	readSeqs := func(size int, want ...uint64) {
		t.Helper()
		buf := make([]byte, size)
		n, err := r.Read(buf)
		if err != nil || n != len(want)*devabi.EventSize {
			t.Fatalf("Read(%d bytes) = %d, %v; want %d", size, n, err, len(want)*devabi.EventSize)
		}
		for i, seq := range want {
			if ev, _ := devabi.DecodeEvent(buf[i*devabi.EventSize:]); ev.Seq != seq {
				t.Errorf("Read(%d bytes) record %d seq %d, want %d", size, i, ev.Seq, seq)
			}
		}
	}
	readSeqs(devabi.EventSize+1, first)
	readSeqs(2*devabi.EventSize, first+1, first+2)
	readSeqs(3*devabi.EventSize-1, first+3)
	_, err = r.Read(make([]byte, 2*devabi.EventSize))
	if !errors.Is(err, sys.ErrWouldBlock) || !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("Read(empty) error = %v, want EAGAIN", err)
	}
}

func testReadiness(e *env) {
	t := e.t
	r := e.open(false)
	ready := func(want bool, what string) {
		t.Helper()
		wait := time.Duration(0)
		if want {
			wait = e.timeout(5 * time.Second)
		}
		got, err := sys.PollIn(r.FD(), wait)
		if err != nil || got != want {
			t.Fatalf("%s: PollIn(FD) = %v, %v; want %v", what, got, err, want)
		}
	}
	ready(false, "new live File")
	e.trigger(0, 1)
	ready(true, "after a trigger")
	e.readAll(r)
	ready(false, "after reading to EAGAIN")
	e.trigger(0, 2)
	ready(true, "after a second trigger")
	buf := make([]byte, devabi.EventSize)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	ready(true, "with one record left")
	if err := r.Seek(devabi.SeekLive, 0); err != nil {
		t.Fatal(err)
	}
	ready(false, "after Seek(LIVE)")
	if err := r.Seek(devabi.SeekOldest, 0); err != nil {
		t.Fatal(err)
	}
	ready(true, "after Seek(OLDEST)")
}

func testTimerCount(e *env) {
	t := e.t
	id := e.idleTimer()
	r := e.open(false)
	s0 := e.stats()
	tm := devabi.Timer{ID: id, PeriodNS: e.period(), Count: 5, Cookie: 0xc0ffee}
	if err := e.ctl.TimerStart(tm); err != nil {
		t.Fatalf("TimerStart(%+v) = %v", tm, err)
	}
	evs := e.waitFor(r, "TIMER_STOPPED", func(evs []devabi.Event) bool { return stoppedIn(evs, id) })
	if err := checkStream(evs, s0.NextSeq); err != nil {
		t.Fatal(err)
	}
	recs := timerRecords(evs, id)
	last, coalesced, err := checkTicks(recs)
	if err != nil {
		t.Fatalf("timer %d records %s: %v", id, summary(recs), err)
	}
	stop := recs[len(recs)-1]
	if last != 5 || stop.Aux != devabi.StopReasonCount {
		t.Errorf("count-limited timer ended at tick %d with reason %d, want 5 and %d (count reached)", last, stop.Aux, devabi.StopReasonCount)
	}
	got, err := e.ctl.TimerGet(id)
	want := devabi.Timer{ID: id, PeriodNS: tm.PeriodNS, Count: 5, Cookie: tm.Cookie, Ticks: 5, Active: 0}
	if err != nil || got != want {
		t.Errorf("TimerGet(%d) after count reached = %+v, %v; want %+v", id, got, err, want)
	}
	s1 := e.stats()
	if s1.ActiveTimers&(1<<id) != 0 {
		t.Errorf("active_timers = %#x still has bit %d", s1.ActiveTimers, id)
	}
	// Only this timer generated records since s0: the per-source counters
	// account for every one of them (TIMER_STOPPED counts as a timer event).
	if got, want := s1.TimerEvents-s0.TimerEvents, uint64(len(recs)); got != want || s1.NextSeq-s0.NextSeq != want {
		t.Errorf("timer_events grew by %d and next_seq by %d, want %d (records of the timer)", got, s1.NextSeq-s0.NextSeq, want)
	}
	if got := s1.TimerOverruns - s0.TimerOverruns; got != coalesced {
		t.Errorf("timer_overruns grew by %d, want %d (sum of aux)", got, coalesced)
	}
}

func testTimerStop(e *env) {
	t := e.t
	id := e.idleTimer()
	r := e.open(false)
	tm := devabi.Timer{ID: id, PeriodNS: e.period(), Cookie: 7}
	if err := e.ctl.TimerStart(tm); err != nil {
		t.Fatalf("TimerStart(%+v) = %v", tm, err)
	}
	got, err := e.ctl.TimerGet(id)
	if err != nil || got.ID != id || got.PeriodNS != tm.PeriodNS || got.Count != 0 || got.Cookie != 7 || got.Active != 1 {
		t.Errorf("TimerGet(%d) of a running timer = %+v, %v; want period %d count 0 cookie 7 active 1", id, got, err, tm.PeriodNS)
	}
	if s := e.stats(); s.ActiveTimers&(1<<id) == 0 {
		t.Errorf("active_timers = %#x lacks bit %d", s.ActiveTimers, id)
	}
	all := e.waitFor(r, "two ticks", func(evs []devabi.Event) bool {
		recs := timerRecords(evs, id)
		return len(recs) > 0 && recs[len(recs)-1].Arg >= 2
	})
	if err := e.ctl.TimerStop(id); err != nil {
		t.Fatalf("TimerStop(%d) = %v", id, err)
	}
	// Nothing of this timer may follow its TIMER_STOPPED: read up to a
	// marker generated after the stop returned.
	marker := e.trigger(0xfeed, 1)
	all = append(all, e.waitFor(r, "the marker", func(evs []devabi.Event) bool {
		return len(evs) > 0 && evs[len(evs)-1].Seq >= marker
	})...)
	if err := checkStream(all, 0); err != nil {
		t.Fatal(err)
	}
	recs := timerRecords(all, id)
	if len(recs) == 0 || recs[len(recs)-1].Type != devabi.EvTimerStopped {
		t.Fatalf("timer %d records up to the marker: %s; want ending in TIMER_STOPPED", id, summary(recs))
	}
	last, _, err := checkTicks(recs)
	stop := recs[len(recs)-1]
	if err != nil || stop.Aux != devabi.StopReasonStop || last < 2 {
		t.Errorf("timer %d records %s: err %v; want ticks >= 2 and TIMER_STOPPED reason 0", id, summary(recs), err)
	}
	got, err = e.ctl.TimerGet(id)
	if err != nil || got.Active != 0 || got.Ticks != stop.Arg {
		t.Errorf("TimerGet(%d) after stop = %+v, %v; want active 0 ticks %d", id, got, err, stop.Arg)
	}
	if s := e.stats(); s.ActiveTimers&(1<<id) != 0 {
		t.Errorf("active_timers = %#x still has bit %d", s.ActiveTimers, id)
	}
	wantErrno(t, "second TimerStop", e.ctl.TimerStop(id), syscall.ENOENT)
}

func testTimerOwned(e *env) {
	t := e.t
	owned := e.idleTimer()
	free := e.idleTimer(owned)
	r := e.open(false)
	w, err := e.dev.Open(true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.TimerStart(devabi.Timer{ID: owned, Flags: devabi.TimerOwned, PeriodNS: e.period()}); err != nil {
		t.Fatalf("TimerStart(OWNED) = %v", err)
	}
	if err := w.TimerStart(devabi.Timer{ID: free, PeriodNS: devabi.MaxPeriodNS}); err != nil {
		t.Fatalf("TimerStart(not owned) = %v", err)
	}
	e.waitFor(r, "a tick of the owned timer", func(evs []devabi.Event) bool { return len(timerRecords(evs, owned)) > 0 })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	evs := e.waitFor(r, "TIMER_STOPPED after Close", func(evs []devabi.Event) bool { return stoppedIn(evs, owned) })
	recs := timerRecords(evs, owned)
	if stop := recs[len(recs)-1]; stop.Aux != devabi.StopReasonClosed {
		t.Errorf("owned timer stopped with reason %d, want %d (owner closed)", stop.Aux, devabi.StopReasonClosed)
	}
	if tg, err := e.ctl.TimerGet(owned); err != nil || tg.Active != 0 {
		t.Errorf("TimerGet(owned) after Close = %+v, %v; want active 0", tg, err)
	}
	if tg, err := e.ctl.TimerGet(free); err != nil || tg.Active != 1 {
		t.Errorf("TimerGet(not owned) after its starter closed = %+v, %v; want active 1", tg, err)
	}
	if s := e.stats(); s.ActiveTimers&(1<<owned) != 0 || s.ActiveTimers&(1<<free) == 0 {
		t.Errorf("active_timers = %#x, want bit %d clear and bit %d set", s.ActiveTimers, owned, free)
	}
	if err := e.ctl.TimerStop(free); err != nil {
		t.Errorf("TimerStop(not owned) = %v", err)
	}
}

func testTimerReplace(e *env) {
	t := e.t
	id := e.idleTimer()
	p := uint64(devabi.MaxPeriodNS / 2) // never ticks during the test
	if err := e.ctl.TimerStart(devabi.Timer{ID: id, Flags: devabi.TimerReplace, PeriodNS: p, Cookie: 1}); err != nil {
		t.Fatalf("TimerStart(REPLACE) of an idle timer = %v", err)
	}
	wantErrno(t, "TimerStart of a running timer", e.ctl.TimerStart(devabi.Timer{ID: id, PeriodNS: p}), syscall.EBUSY)
	if err := e.ctl.TimerStart(devabi.Timer{ID: id, Flags: devabi.TimerReplace, PeriodNS: 2 * p, Count: 3, Cookie: 2}); err != nil {
		t.Fatalf("TimerStart(REPLACE) of a running timer = %v", err)
	}
	got, err := e.ctl.TimerGet(id)
	if err != nil || got.PeriodNS != 2*p || got.Count != 3 || got.Cookie != 2 || got.Active != 1 || got.Ticks != 0 {
		t.Errorf("TimerGet after REPLACE = %+v, %v; want period %d count 3 cookie 2 active 1 ticks 0", got, err, 2*p)
	}
	if err := e.ctl.TimerStop(id); err != nil {
		t.Errorf("TimerStop = %v", err)
	}
}

func testTimerIdle(e *env) {
	t := e.t
	id := e.idleTimer()
	wantErrno(t, "TimerStop(idle)", e.ctl.TimerStop(id), syscall.ENOENT)
	got, err := e.ctl.TimerGet(id)
	if err != nil || got.ID != id || got.Active != 0 {
		t.Errorf("TimerGet(idle %d) = %+v, %v; want id %d active 0", id, got, err, id)
	}
}

func testValidation(e *env) {
	t := e.t
	id := e.idleTimer()
	s0 := e.stats()
	p := e.period()
	timers := []struct {
		name string
		tm   devabi.Timer
	}{
		{"id 8", devabi.Timer{ID: 8, PeriodNS: p}},
		{"id max", devabi.Timer{ID: ^uint32(0), PeriodNS: p}},
		{"period 0", devabi.Timer{ID: id}},
		{"period below min", devabi.Timer{ID: id, PeriodNS: e.info.MinPeriodNS - 1}},
		{"period above max", devabi.Timer{ID: id, PeriodNS: e.info.MaxPeriodNS + 1}},
		{"unknown flag", devabi.Timer{ID: id, PeriodNS: p, Flags: 4}},
		{"high flag", devabi.Timer{ID: id, PeriodNS: p, Flags: 1 << 31}},
		{"ticks set", devabi.Timer{ID: id, PeriodNS: p, Ticks: 1}},
		{"active set", devabi.Timer{ID: id, PeriodNS: p, Active: 1}},
		{"reserved set", devabi.Timer{ID: id, PeriodNS: p, Reserved: 1}},
	}
	for _, tt := range timers {
		wantErrno(t, "TimerStart("+tt.name+")", e.ctl.TimerStart(tt.tm), syscall.EINVAL)
	}
	wantErrno(t, "TimerStop(8)", e.ctl.TimerStop(8), syscall.EINVAL)
	_, err := e.ctl.TimerGet(8)
	wantErrno(t, "TimerGet(8)", err, syscall.EINVAL)
	triggers := []struct {
		name string
		tr   devabi.Trigger
	}{
		{"count 0", devabi.Trigger{Count: 0}},
		{"count max_burst+1", devabi.Trigger{Count: e.info.MaxBurst + 1}},
		{"count max", devabi.Trigger{Count: ^uint32(0)}},
		{"flags set", devabi.Trigger{Count: 1, Flags: 1}},
		{"first_seq set", devabi.Trigger{Count: 1, FirstSeq: 1}},
	}
	for _, tt := range triggers {
		_, err := e.ctl.TriggerArgs(tt.tr)
		wantErrno(t, "TriggerArgs("+tt.name+")", err, syscall.EINVAL)
	}
	wantErrno(t, "SeekArgs(whence 3)", e.ctl.SeekArgs(devabi.Seek{Whence: 3}), syscall.EINVAL)
	wantErrno(t, "SeekArgs(reserved 1)", e.ctl.SeekArgs(devabi.Seek{Whence: devabi.SeekLive, Reserved: 1}), syscall.EINVAL)
	if s := e.stats(); s.NextSeq != s0.NextSeq || s.ActiveTimers != s0.ActiveTimers {
		t.Errorf("rejected calls changed the device: next_seq %d -> %d, active_timers %#x -> %#x",
			s0.NextSeq, s.NextSeq, s0.ActiveTimers, s.ActiveTimers)
	}
}

func testReadOnly(e *env) {
	t := e.t
	id := e.idleTimer()
	ro := e.open(false)
	s0 := e.stats()
	_, err := ro.Trigger(1, 1)
	wantErrno(t, "read-only Trigger", err, syscall.EBADF)
	wantErrno(t, "read-only TimerStart", ro.TimerStart(devabi.Timer{ID: id, PeriodNS: e.period()}), syscall.EBADF)
	wantErrno(t, "read-only TimerStop", ro.TimerStop(id), syscall.EBADF)
	wantErrno(t, "read-only ResetStats", ro.ResetStats(), syscall.EBADF)
	_, err = ro.WriteText([]byte("trigger\n"))
	wantErrno(t, "read-only WriteText", err, syscall.EBADF)
	// Queries and the File's own cursor are allowed.
	if _, err := ro.Info(); err != nil {
		t.Errorf("read-only Info() = %v", err)
	}
	if _, err := ro.Stats(); err != nil {
		t.Errorf("read-only Stats() = %v", err)
	}
	if _, err := ro.Reader(); err != nil {
		t.Errorf("read-only Reader() = %v", err)
	}
	if err := ro.Seek(devabi.SeekOldest, 0); err != nil {
		t.Errorf("read-only Seek() = %v", err)
	}
	if _, err := ro.TimerGet(id); err != nil {
		t.Errorf("read-only TimerGet() = %v", err)
	}
	if s := e.stats(); s.NextSeq != s0.NextSeq || s.ActiveTimers != s0.ActiveTimers || s.TriggerEvents != s0.TriggerEvents {
		t.Errorf("refused calls changed the device: %+v -> %+v", s0, s)
	}
}

func testTextControl(e *env) {
	t := e.t
	id := e.idleTimer()
	r := e.open(false)
	write := func(cmd string) error {
		t.Helper()
		n, err := e.ctl.WriteText([]byte(cmd))
		if err == nil && n != len(cmd) {
			t.Errorf("WriteText(%q) = %d, want %d", cmd, n, len(cmd))
		}
		return err
	}
	if n, err := e.ctl.WriteText(nil); n != 0 || err != nil {
		t.Errorf("WriteText(empty) = %d, %v; want 0, nil", n, err)
	}
	long64 := "trigger " + strings.Repeat("0", 55) + "1"
	payloads := []struct {
		cmd  string
		want uint64
	}{
		{"trigger", 0},
		{"trigger\n", 0},
		{"trigger 42", 42},
		{"trigger 42\n", 42},
		{"trigger 0x2a", 42},
		{"trigger 18446744073709551615", ^uint64(0)},
		{long64, 1},
	}
	for _, p := range payloads {
		if err := write(p.cmd); err != nil {
			t.Errorf("WriteText(%q) = %v", p.cmd, err)
			continue
		}
		evs := e.readAll(r)
		if len(evs) != 1 || evs[0].Type != devabi.EvTrigger || evs[0].Arg != p.want || evs[0].Aux != 0 {
			t.Errorf("WriteText(%q) generated %s, want one TRIGGER arg %d", p.cmd, summary(evs), p.want)
		}
	}
	ms := (e.period() + uint64(time.Millisecond) - 1) / uint64(time.Millisecond)
	if err := write(fmt.Sprintf("start %d %d 2\n", id, ms)); err != nil {
		t.Fatalf("WriteText(start count 2) = %v", err)
	}
	evs := e.waitFor(r, "TIMER_STOPPED", func(evs []devabi.Event) bool { return stoppedIn(evs, id) })
	recs := timerRecords(evs, id)
	if last, _, err := checkTicks(recs); err != nil || last != 2 || recs[len(recs)-1].Aux != devabi.StopReasonCount {
		t.Errorf("text-started timer records %s (%v), want 2 ticks and reason 1", summary(recs), err)
	}
	if err := write(fmt.Sprintf("start %d %d", id, ms)); err != nil {
		t.Fatalf("WriteText(start) = %v", err)
	}
	if tg, err := e.ctl.TimerGet(id); err != nil || tg.PeriodNS != ms*uint64(time.Millisecond) || tg.Count != 0 || tg.Active != 1 || tg.Flags != 0 {
		t.Errorf("TimerGet after text start = %+v, %v; want period %d ms, count 0, active, no flags", tg, err, ms)
	}
	wantErrno(t, "WriteText(start running)", write(fmt.Sprintf("start %d %d", id, ms)), syscall.EBUSY)
	if err := write(fmt.Sprintf("stop %d\n", id)); err != nil {
		t.Fatalf("WriteText(stop) = %v", err)
	}
	evs = e.waitFor(r, "TIMER_STOPPED", func(evs []devabi.Event) bool { return stoppedIn(evs, id) })
	if recs := timerRecords(evs, id); recs[len(recs)-1].Aux != devabi.StopReasonStop {
		t.Errorf("text stop gave %s, want TIMER_STOPPED reason 0", summary(recs))
	}
	wantErrno(t, "WriteText(stop idle)", write(fmt.Sprintf("stop %d", id)), syscall.ENOENT)

	s0 := e.stats()
	bad := []string{
		"bogus", "TRIGGER", "trigger x", "trigger 1 2", "trigger -1", "trigger +1", "trigger 1_0",
		"trigger 18446744073709551616", "trigger 0x", "trigger 0x10000000000000000",
		"start", "start 1", "start 8 10", "start 0 0", "start 0 3600001", "start 0 10 1 2", "start x 10",
		"stop", "stop 8", "stop 4294967296", "stop 0 1", "stop x",
		"trigger\x00", "trigger\n\n", "\ntrigger", "trigger\r\n",
		long64 + "0", strings.Repeat(" ", 65),
	}
	for _, cmd := range bad {
		wantErrno(t, fmt.Sprintf("WriteText(%q)", cmd), write(cmd), syscall.EINVAL)
	}
	if s := e.stats(); s.NextSeq != s0.NextSeq || s.ActiveTimers != s0.ActiveTimers {
		t.Errorf("rejected writes changed the device: next_seq %d -> %d, active_timers %#x -> %#x",
			s0.NextSeq, s.NextSeq, s0.ActiveTimers, s.ActiveTimers)
	}
}

func testResetStats(e *env) {
	t := e.t
	r := e.open(false)
	first := e.trigger(8, 5)
	s0 := e.stats()
	c0 := e.reader(r)
	if err := e.ctl.ResetStats(); err != nil {
		t.Fatalf("ResetStats() = %v", err)
	}
	s1 := e.stats()
	want := s0
	want.TimerEvents, want.TriggerEvents, want.TimerOverruns = 0, 0, 0
	if s1 != want {
		t.Errorf("Stats() after ResetStats = %+v, want %+v", s1, want)
	}
	if c1 := e.reader(r); c1 != c0 {
		t.Errorf("Reader() after ResetStats = %+v, want %+v", c1, c0)
	}
	if evs := e.readAll(r); len(evs) != 5 || evs[0].Seq != first {
		t.Errorf("after ResetStats read %s, want the 5 records from %d", summary(evs), first)
	}
	e.trigger(0, 2)
	if s := e.stats(); s.TriggerEvents != 2 {
		t.Errorf("trigger_events after reset and 2 triggers = %d, want 2", s.TriggerEvents)
	}
}

func testClose(e *env) {
	t := e.t
	s0 := e.stats()
	f, err := e.dev.Open(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if s := e.stats(); s.Readers != s0.Readers {
		t.Errorf("readers after Close = %d, want %d", s.Readers, s0.Readers)
	}
}

func testUnplug(e *env) {
	t := e.t
	r := e.open(false)
	first := e.trigger(1, 3)
	switch u := e.dev.(type) {
	case nil:
	case interface{ Unplug() }:
		if e.opt.Unplug == nil {
			u.Unplug()
		}
	case interface{ Unplug() error }:
		if e.opt.Unplug == nil {
			if err := u.Unplug(); err != nil {
				t.Fatalf("Unplug() = %v", err)
			}
		}
	default:
		if e.opt.Unplug == nil {
			t.Fatal("CanUnplug set but neither Options.Unplug nor an Unplug method")
		}
	}
	if e.opt.Unplug != nil {
		e.opt.Unplug(t)
	}
	if f, err := e.dev.Open(false); !errors.Is(err, syscall.ENODEV) {
		if err == nil {
			f.Close()
		}
		t.Errorf("Open after unplug error = %v, want ENODEV", err)
	}
	if ok, err := sys.PollIn(r.FD(), e.timeout(5*time.Second)); !ok || err != nil {
		t.Errorf("PollIn(FD) after unplug = %v, %v; want readable", ok, err)
	}
	buf := make([]byte, 64*devabi.EventSize)
	n, err := r.Read(buf)
	if err != nil || n != 3*devabi.EventSize {
		t.Fatalf("Read after unplug = %d, %v; want the 3 pending records", n, err)
	}
	if ev, _ := devabi.DecodeEvent(buf); ev.Seq != first {
		t.Errorf("first record after unplug seq %d, want %d", ev.Seq, first)
	}
	_, err = r.Read(buf)
	wantErrno(t, "Read of a drained unplugged device", err, syscall.ENODEV)
	if ok, err := sys.PollIn(r.FD(), 0); !ok || err != nil {
		t.Errorf("PollIn(FD) of a drained unplugged device = %v, %v; want readable (ENODEV pending)", ok, err)
	}
}
