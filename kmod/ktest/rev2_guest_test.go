//go:build mypoll_guest

package ktest

import (
	"errors"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Tests for issue 20, the module's second revision: no reader waits for a
// writer (PROTOCOL.md B.3, shown with the park hook), unplug during a burst,
// the signal check in read(), EPOLLPRI wake keys, and read_iter.

const parkHook = "/sys/kernel/debug/mypoll/park"

// park writes v ("1" or "0") to the park hook. A module without the hook
// fails the test: it cannot show B.3's rule.
func park(t *testing.T, v string) {
	t.Helper()
	if err := os.WriteFile(parkHook, []byte(v), 0o600); err != nil {
		t.Fatalf("park hook: %v (PROTOCOL.md B.3 test_hooks: unplug, check and park)", err)
	}
}

// parked reads the park hook: true while a burst is parked.
func parked(t *testing.T) bool {
	t.Helper()
	b, err := os.ReadFile(parkHook)
	if err != nil {
		t.Fatalf("park hook: %v", err)
	}
	return strings.TrimSpace(string(b)) == "1"
}

// waitParked waits until a burst is parked on the hook.
func waitParked(t *testing.T) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !parked(t); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no burst parked 10 s after TRIGGER with the park hook armed")
		}
	}
}

type trigResult struct {
	first uint64
	err   error
}

// parkBurst arms the park hook and starts a TRIGGER of count records with
// payload from w in a goroutine; it returns once the burst is parked. The
// result arrives on the channel after the hook is released. The hook is
// released at cleanup whatever happens.
func parkBurst(t *testing.T, w *dev, payload uint64, count uint32) <-chan trigResult {
	t.Helper()
	park(t, "1")
	t.Cleanup(func() { _ = os.WriteFile(parkHook, []byte("0"), 0o600) })
	res := make(chan trigResult, 1)
	go func() {
		first, err := w.triggerErr(payload, count)
		res <- trigResult{first, err}
	}()
	waitParked(t)
	return res
}

// B.3, the MAJOR of issue 20: while a burst is parked right after the lock
// hold that reserved its seqs (most of them not stored yet), every assigned
// seq is readable: the burst's own records, with their payload and index, and
// the timer records after it; a reader blocked before the burst wakes; the
// OVERFLOW accounting of a reader left behind stays exact. Unparked, the
// burst returns its first seq, and the records it stores then are the ones
// readers were given while it was parked.
func TestRev2_ParkedBurstHidesNothing(t *testing.T) {
	setup(t, "ring_order=10")
	park(t, "0")    // fails here, before any reader blocks, without the hook
	r := rw(t)      // reads while parked
	behind := rw(t) // reads nothing until the ring has wrapped
	late := rw(t)   // reads after the burst is unparked
	blocked := openDev(t, unix.O_RDONLY)
	w := rw(t)
	ctl := rw(t)
	got := make(chan []event, 1)
	go func() {
		evs, _ := blocked.readSome(4) // an error leaves evs empty
		got <- evs
	}()
	time.Sleep(100 * time.Millisecond) // the reader is asleep by now

	const burst, payload = 1000, 0xbeef
	res := parkBurst(t, w, payload, burst)
	select {
	case evs := <-got:
		if len(evs) != 4 || evs[0].Seq != 1 || evs[0].Type != evTrigger || evs[3].Aux != 3 {
			t.Errorf("reader blocked before the burst read %v, want its first 4 records", evs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a reader blocked before the burst did not wake while the burst was parked")
	}
	// a timer of 10 ticks runs to its end while the burst stays parked
	ctl.timerStart(0, time.Millisecond, 10, 0)
	for end := time.Now().Add(20 * time.Second); ctl.timerGet(0).Active != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("10 ticks of a 1 ms timer took more than 20 s")
		}
	}
	if !parked(t) {
		t.Fatal("the burst is no longer parked")
	}
	select {
	case v := <-res:
		t.Fatalf("TRIGGER returned %+v while parked", v)
	default:
	}

	evs := r.drain()
	var sc streamCheck
	if err := sc.add(evs); err != nil {
		t.Fatalf("stream read while parked: %v", err)
	}
	if len(evs) < burst+2 || sc.overflows != 0 {
		t.Fatalf("read %d records (%d lost) while parked, want the %d of the burst, the timer's and no loss", len(evs), sc.lost, burst)
	}
	for i, e := range evs[:burst] {
		if e.Seq != uint64(1+i) || e.Type != evTrigger || e.Arg != payload || e.Aux != uint64(i) {
			t.Fatalf("record %d while parked = %v, want TRIGGER seq %d payload %#x index %d", i, e, 1+i, payload, i)
		}
	}
	var ticks uint64
	for _, e := range evs[burst : len(evs)-1] {
		if e.Type != evTimer || e.Src != 0 || e.Arg != ticks+e.Aux+1 {
			t.Fatalf("record %v after the burst, want the TIMER after tick %d", e, ticks)
		}
		ticks = e.Arg
	}
	if e := evs[len(evs)-1]; e.Type != evTimerStopped || e.Arg != 10 || e.Aux != reasonCount || ticks != 10 {
		t.Fatalf("last record while parked %v (last tick %d), want TIMER_STOPPED after 10 ticks", e, ticks)
	}
	// a burst of 100 more (no park: the hook parks one) wraps the ring
	next := evs[len(evs)-1].Seq + 1
	if first := ctl.trigger(7, 100); first != next {
		t.Fatalf("a TRIGGER during the parked one got seq %d, want %d", first, next)
	}
	end := next + 100
	oldest := end - 1024
	if s := ctl.stats(); s.NextSeq != end || s.OldestSeq != oldest || s.Overwritten != oldest-1 || s.Generated != end-1 {
		t.Errorf("stats while parked %+v, want next_seq %d oldest %d", s, end, oldest)
	}
	more := r.drain()
	if len(more) != 100 || more[0].Seq != next || more[99].Seq != end-1 || more[0].Arg != 7 {
		t.Errorf("the reader that kept up read %d records %v.., want seqs %d..%d", len(more), more[:min(1, len(more))], next, end-1)
	}
	pfd := []unix.PollFd{{Fd: int32(behind.fd), Events: unix.POLLIN | unix.POLLPRI}}
	if _, err := unix.Poll(pfd, 0); err != nil || pfd[0].Revents != unix.POLLIN|unix.POLLPRI {
		t.Errorf("poll of the reader left behind = %#x (%v), want POLLIN|POLLPRI", pfd[0].Revents, err)
	}
	evsBehind := behind.drain()
	if len(evsBehind) != 1025 {
		t.Fatalf("reader left behind read %d records, want OVERFLOW + 1024", len(evsBehind))
	}
	if o := evsBehind[0]; o.Type != evOverflow || o.Seq != 1 || o.Aux != oldest-1 {
		t.Errorf("reader left behind: first record %v, want OVERFLOW seq 1 count %d", o, oldest-1)
	}
	if ri := behind.reader(); ri.LostTotal != oldest-1 || ri.Overflows != 1 || ri.Cursor != end {
		t.Errorf("reader left behind: %+v, want lost %d cursor %d", ri, oldest-1, end)
	}
	for i, e := range evsBehind[1:] {
		if e.Seq != oldest+uint64(i) {
			t.Fatalf("reader left behind: record %d = %v, want seq %d", i, e, oldest+uint64(i))
		}
	}
	checkKernel(t) // the invariant check with a burst in flight

	park(t, "0")
	select {
	case v := <-res:
		if v.err != nil || v.first != 1 {
			t.Fatalf("parked TRIGGER returned %d, %v; want first seq 1", v.first, v.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("TRIGGER still parked 20 s after 0 was written to the hook")
	}
	if parked(t) {
		t.Error("the hook reads 1 after the burst went on")
	}
	// what the burst stored after the park is what readers were given
	late.seek(seekOldest, 0)
	stored := late.drain()
	if len(stored) != len(evsBehind)-1 {
		t.Fatalf("after the park %d records from the oldest, want %d", len(stored), len(evsBehind)-1)
	}
	for i, e := range stored {
		if e != evsBehind[i+1] {
			t.Fatalf("seq %d after the park %v, while parked %v", e.Seq, e, evsBehind[i+1])
		}
	}
}

// Review item 1: unplug while a burst is parked with records not stored:
// every reader still reads the whole burst (poll says POLLIN with HUP|ERR
// while records remain), and only then ENODEV: nothing more can come. The
// parked TRIGGER itself completes with its first seq.
func TestRev2_UnplugDuringBurst(t *testing.T) {
	setup(t, "")
	r := rw(t)
	blocked := openDev(t, unix.O_RDONLY)
	w := rw(t)
	const burst = 600
	res := parkBurst(t, w, 3, burst)
	unplug(t)
	pfd := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN | unix.POLLPRI}}
	if _, err := unix.Poll(pfd, 0); err != nil || pfd[0].Revents != unix.POLLIN|unix.POLLHUP|unix.POLLERR {
		t.Errorf("poll after unplug with a parked burst = %#x (%v), want IN|HUP|ERR", pfd[0].Revents, err)
	}
	for name, d := range map[string]*dev{"non-blocking": r, "blocking": blocked} {
		var all []event
		var err error
		for {
			var evs []event
			if evs, err = d.readSome(256); err != nil {
				break
			}
			all = append(all, evs...)
		}
		if !errors.Is(err, unix.ENODEV) || len(all) != burst || all[burst-1].Seq != burst || all[burst-1].Aux != burst-1 {
			t.Errorf("%s reader after unplug read %d records, then %v; want the %d of the burst, then ENODEV", name, len(all), err, burst)
		}
	}
	if _, err := unix.Poll(pfd, 0); err != nil || pfd[0].Revents != unix.POLLHUP|unix.POLLERR {
		t.Errorf("poll of a drained reader after unplug = %#x (%v), want HUP|ERR only", pfd[0].Revents, err)
	}
	park(t, "0")
	select {
	case v := <-res:
		if v.err != nil || v.first != 1 {
			t.Errorf("TRIGGER parked across unplug returned %d, %v; want 1", v.first, v.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("TRIGGER still parked 20 s after release")
	}
}

// Review item 2: a large read stops at a record boundary when a signal is
// pending once something was copied: with 65536 records waiting and the
// reading thread signalled again and again, some read returns early; no
// record is lost or repeated across the reads.
func TestRev2_ReadStopsForSignal(t *testing.T) {
	setup(t, "ring_order=16 max_burst=65536")
	r := rw(t)
	w := rw(t)
	const n = 65536
	w.trigger(1, n)
	sigs := make(chan os.Signal, 1024)
	signal.Notify(sigs, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	go func() {
		for range sigs {
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	pid := unix.Getpid()
	buf := make([]byte, n*eventSize)
	short := 0
	for round := 0; round < 20 && short == 0; round++ {
		r.seek(seekOldest, 0)
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Go(func() {
			for !stop.Load() {
				_ = unix.Tgkill(pid, tid, syscall.SIGUSR1)
				time.Sleep(50 * time.Microsecond)
			}
		})
		time.Sleep(time.Millisecond)
		next, total := uint64(1), 0
		for total < n {
			got, err := unix.Read(r.fd, buf)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("read after %d records: %v", total, err)
			}
			evs := decode(buf[:got])
			if total == 0 && len(evs) < n {
				short++
			}
			for _, e := range evs {
				if e.Seq != next {
					stop.Store(true)
					wg.Wait()
					t.Fatalf("seq %d after %d records, want %d", e.Seq, total, next)
				}
				next++
			}
			total += len(evs)
		}
		stop.Store(true)
		wg.Wait()
	}
	if short == 0 {
		t.Error("20 reads of 65536 waiting records with SIGUSR1 pending all copied everything: no signal check")
	}
}

// threadSwitches is the context switch count (voluntary + not) of thread tid.
func threadSwitches(t *testing.T, tid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "voluntary_ctxt_switches:") || strings.HasPrefix(l, "nonvoluntary_ctxt_switches:") {
			_, v, _ := strings.Cut(l, ":")
			c, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			n += c
		}
	}
	return n
}

// epollPri waits on fd for EPOLLPRI only, in a thread of its own; it sends
// its tid, then each epoll_wait result (events, or 0 on timeout).
func epollPri(t *testing.T, fd int, timeout time.Duration, tids chan<- int, out chan<- uint32) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Error(err)
		close(out)
		return
	}
	defer unix.Close(ep)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLPRI, Fd: int32(fd)}); err != nil {
		t.Error(err)
		close(out)
		return
	}
	tids <- unix.Gettid()
	evs := make([]unix.EpollEvent, 1)
	for {
		n, err := unix.EpollWait(ep, evs, int(timeout/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			out <- 0
			close(out)
			return
		}
		out <- evs[0].Events
	}
}

// Review item 4: the wake keys follow B.3's poll rules. A SEEK to an
// overwritten position wakes an EPOLLPRI-only waiter; timer records on a
// wrapped ring wake no EPOLLPRI-only waiter of a reader that keeps up (no
// OVERFLOW is pending: a wake would be spurious, seen as context switches of
// the waiting thread); a record that overwrites what a reader has not read
// wakes it with EPOLLPRI.
func TestRev2_PriWakeKeys(t *testing.T) {
	setup(t, "ring_order=8")
	w := rw(t)
	r := rw(t)
	w.trigger(0, 300) // the ring of 256 has wrapped; r is behind
	r.drain()         // OVERFLOW + 256: caught up

	tids := make(chan int, 1)
	out := make(chan uint32, 16)
	go epollPri(t, r.fd, 10*time.Second, tids, out)
	tid := <-tids
	time.Sleep(50 * time.Millisecond) // asleep in epoll_wait
	before := threadSwitches(t, tid)
	w.timerStart(0, time.Millisecond, 100, 0)
	var sc streamCheck
	for end := time.Now().Add(20 * time.Second); w.timerGet(0).Active != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("100 ticks of a 1 ms timer took more than 20 s")
		}
		if err := sc.add(r.drain()); err != nil {
			t.Fatal(err)
		}
	}
	if err := sc.add(r.drain()); err != nil {
		t.Fatal(err)
	}
	records := sc.records
	wakes := threadSwitches(t, tid) - before
	if sc.overflows != 0 {
		t.Fatalf("the reader fell 256 records behind a 1 ms timer (a stalled guest): %d lost", sc.lost)
	}
	select {
	case ev := <-out:
		t.Fatalf("EPOLLPRI-only waiter returned %#x for timer records read as they came", ev)
	default:
	}
	if wakes > 3 {
		t.Errorf("the EPOLLPRI-only waiter of a reader that keeps up woke %d times for %d timer records", wakes, records)
	}
	t.Logf("EPOLLPRI-only waiter: %d context switches over %d timer records", wakes, records)

	// SEEK to an overwritten seq: an OVERFLOW is pending, the waiter wakes
	r.seek(seekSeq, 1)
	select {
	case ev := <-out:
		if ev&unix.EPOLLPRI == 0 {
			t.Errorf("after SEEK to an overwritten seq the waiter got %#x, want EPOLLPRI", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SEEK to an overwritten seq did not wake the EPOLLPRI waiter")
	}
	r.drain()
	// a new record overwriting what r has not read wakes it with EPOLLPRI
	w.trigger(1, 1)
	r2 := rw(t)
	r2.seek(seekOldest, 0)
	tids2 := make(chan int, 1)
	out2 := make(chan uint32, 16)
	go epollPri(t, r2.fd, 10*time.Second, tids2, out2)
	<-tids2
	time.Sleep(50 * time.Millisecond)
	w.trigger(2, 1)
	select {
	case ev := <-out2:
		if ev&unix.EPOLLPRI == 0 {
			t.Errorf("after an overwrite the waiter got %#x, want EPOLLPRI", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a record overwriting an unread one did not wake the EPOLLPRI waiter")
	}
}

// Review item 4, per file: records that overwrite what one file has not
// read make an OVERFLOW pending for that file only, so only its EPOLLPRI
// waiter wakes; the EPOLLPRI-only waiter of a file that keeps up sleeps on
// (no context switches), and the lagging one wakes with EPOLLPRI.
func TestRev2_PriWakeKeysPerFile(t *testing.T) {
	setup(t, "ring_order=8")
	w := rw(t)
	keeper := rw(t)
	lagger := rw(t)
	tids := make(chan int, 1)
	out := make(chan uint32, 16)
	go epollPri(t, keeper.fd, 10*time.Second, tids, out)
	tid := <-tids
	time.Sleep(50 * time.Millisecond) // asleep in epoll_wait
	before := threadSwitches(t, tid)
	var sc streamCheck
	lagged := 0
	for round := range 10 {
		// 320 records per round, the keeper reading every 16: the
		// lagger, which catches up only between rounds, falls behind
		// the ring of 256 once a round
		for i := range 20 {
			w.trigger(uint64(round*20+i), 16)
			if err := sc.add(keeper.drain()); err != nil {
				t.Fatal(err)
			}
		}
		if lagger.reader().Pending > 256 {
			lagged++
		}
		if n := len(lagger.drain()); n != 257 {
			t.Fatalf("round %d: the lagging file read %d records, want OVERFLOW + 256", round, n)
		}
	}
	wakes := threadSwitches(t, tid) - before
	select {
	case ev := <-out:
		t.Fatalf("EPOLLPRI-only waiter of a file that keeps up returned %#x", ev)
	default:
	}
	if sc.overflows != 0 || lagged != 10 {
		t.Fatalf("keeper lost %d records, lagger behind the ring %d times of 10: the setup is wrong", sc.lost, lagged)
	}
	if wakes > 3 {
		t.Errorf("the EPOLLPRI-only waiter of a file that keeps up woke %d times while another file fell behind", wakes)
	}
	// and the lagging file's own EPOLLPRI waiter does wake
	tids2 := make(chan int, 1)
	out2 := make(chan uint32, 16)
	go epollPri(t, lagger.fd, 10*time.Second, tids2, out2)
	<-tids2
	time.Sleep(50 * time.Millisecond)
	for range 17 {
		w.trigger(0, 16)
		keeper.drain()
	}
	select {
	case ev := <-out2:
		if ev&unix.EPOLLPRI == 0 {
			t.Errorf("the lagging file's waiter got %#x, want EPOLLPRI", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lagging file's EPOLLPRI waiter did not wake when it fell behind")
	}
	t.Logf("keeper's EPOLLPRI-only waiter: %d context switches over %d records while the other file overflowed", wakes, sc.records)
}

// rtSigtimedwait waits for one of set's signals on this thread and returns
// its siginfo's si_code and si_band.
func rtSigtimedwait(set *unix.Sigset_t, d time.Duration) (code int32, band int64, err error) {
	var info [128]byte
	ts := unix.NsecToTimespec(int64(d))
	_, _, e := unix.Syscall6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafePtr(set)), uintptr(unsafePtr(&info)),
		uintptr(unsafePtr(&ts)), 8, 0, 0)
	if e != 0 {
		return 0, 0, e
	}
	// siginfo: si_signo, si_errno, si_code (int32 each), then the union
	// (aligned to 8 on 64-bit: at 16; at 12 on 32-bit) with si_band first
	code = *(*int32)(unsafePtr(&info[8]))
	if unsafe.Sizeof(uintptr(0)) == 8 {
		band = *(*int64)(unsafePtr(&info[16]))
	} else {
		band = int64(*(*int32)(unsafePtr(&info[12])))
	}
	return code, band, nil
}

// Review item 4, SIGIO: with F_SETSIG, a record that overwrites what the
// owner's file has not read queues a signal with POLL_PRI (si_band
// POLLPRI); a record it keeps up with only POLL_IN.
func TestRev2_SigioPollPri(t *testing.T) {
	setup(t, "ring_order=4")
	w := rw(t)
	r := rw(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const rtsig = 40
	var set unix.Sigset_t
	sigaddset(&set, rtsig)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil); err != nil {
		t.Fatal(err)
	}
	defer unix.PthreadSigmask(unix.SIG_UNBLOCK, &set, nil)
	// struct f_owner_ex { int type; pid_t pid; }, type F_OWNER_TID (0)
	owner := [2]int32{0, int32(unix.Gettid())}
	if _, _, e := unix.Syscall(unix.SYS_FCNTL, uintptr(r.fd), unix.F_SETOWN_EX, uintptr(unsafePtr(&owner))); e != 0 {
		t.Fatal(e)
	}
	if _, err := unix.FcntlInt(uintptr(r.fd), unix.F_SETSIG, rtsig); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(r.fd), unix.F_SETFL, unix.O_NONBLOCK|unix.O_ASYNC); err != nil {
		t.Fatal(err)
	}
	collect := func() (in, pri int) {
		for {
			code, band, err := rtSigtimedwait(&set, 200*time.Millisecond)
			if err != nil {
				return in, pri
			}
			switch {
			case code == 5 && band&unix.POLLPRI != 0: // POLL_PRI
				pri++
			case code == 1 && band&unix.POLLIN != 0: // POLL_IN
				in++
			default:
				t.Errorf("signal with si_code %d si_band %#x", code, band)
			}
		}
	}
	w.trigger(0, 8)
	r.drain()
	if in, pri := collect(); in == 0 || pri != 0 {
		t.Errorf("8 records read as they came: %d POLL_IN and %d POLL_PRI signals, want some and none", in, pri)
	}
	w.trigger(0, 20) // overwrites records r has not read
	if in, pri := collect(); in == 0 || pri == 0 {
		t.Errorf("a burst overwriting unread records: %d POLL_IN and %d POLL_PRI signals, want both", in, pri)
	}
	r.drain()
}

// sigaddset sets signal sig in set (a little-endian bit mask whatever its
// word size: arm64 and arm).
func sigaddset(set *unix.Sigset_t, sig int) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(set)), unsafe.Sizeof(*set))
	b[(sig-1)/8] |= 1 << ((sig - 1) % 8)
}

// Review item 5: read_iter. readv with iovecs that are no multiple of a
// record gets whole records spread over them.
func TestRev2_Readv(t *testing.T) {
	setup(t, "")
	w := rw(t)
	r := rw(t)
	first := w.trigger(9, 5)
	a, b, c := make([]byte, 40), make([]byte, 60), make([]byte, 100)
	n, err := unix.Readv(r.fd, [][]byte{a, b, c})
	if err != nil || n != 4*eventSize {
		t.Fatalf("readv of 40+60+100 bytes = %d, %v; want 4 records (%d bytes)", n, err, 4*eventSize)
	}
	flat := append(append(append([]byte{}, a...), b...), c...)
	for i, e := range decode(flat[:n]) {
		if e.Seq != first+uint64(i) || e.Arg != 9 || e.Aux != uint64(i) {
			t.Errorf("readv record %d = %v, want seq %d", i, e, first+uint64(i))
		}
	}
	if n, err := unix.Readv(r.fd, [][]byte{make([]byte, 20), make([]byte, 20)}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("readv of 2 x 20 bytes = %d, %v; want EINVAL", n, err)
	}
	if evs := r.drain(); len(evs) != 1 || evs[0].Seq != first+4 {
		t.Errorf("after the readvs read %v, want seq %d", evs, first+4)
	}
}

// ioWorkers counts this process's io_uring worker threads (iou-wrk-*).
func ioWorkers(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/comm")
		if err == nil && strings.HasPrefix(string(b), "iou-wrk") {
			n++
		}
	}
	return n
}

// Review item 5: FMODE_NOWAIT. An io_uring read with RWF_NOWAIT gives EAGAIN
// on an empty file and records on a ready one (a driver without
// FMODE_NOWAIT gets EOPNOTSUPP); a blocking io_uring read of an empty file
// waits by poll, holding no io-wq worker thread, and completes on a record.
func TestRev2_IOUringNowait(t *testing.T) {
	setup(t, "")
	w := rw(t)
	d := openDev(t, unix.O_RDONLY)
	u := newUring(t)
	buf := uringBuf(t, 4*eventSize)
	u.submitFlags(t, ioringOpRead, d.fd, buf, 1, rwfNowait)
	if data, res, ok := u.wait(t, 10*time.Second); !ok || data != 1 || res != -int32(unix.EAGAIN) {
		t.Errorf("RWF_NOWAIT io_uring read of an empty file: data %d res %d ok %v, want -EAGAIN", data, res, ok)
	}
	first := w.trigger(4, 2)
	u.submitFlags(t, ioringOpRead, d.fd, buf, 2, rwfNowait)
	if data, res, ok := u.wait(t, 10*time.Second); !ok || data != 2 || res != 2*eventSize {
		t.Errorf("RWF_NOWAIT io_uring read of 2 records: data %d res %d ok %v", data, res, ok)
	} else if e := decode(buf[:eventSize])[0]; e.Seq != first {
		t.Errorf("RWF_NOWAIT io_uring read got %v, want seq %d", e, first)
	}
	u.submit(t, ioringOpRead, d.fd, buf, 0, 3)
	time.Sleep(300 * time.Millisecond)
	if _, _, ok := u.wait(t, 0); ok {
		t.Fatal("io_uring read of an empty file completed")
	}
	if n := ioWorkers(t); n != 0 {
		t.Errorf("a pending io_uring read holds %d io-wq worker threads, want 0 (poll-driven)", n)
	}
	next := w.trigger(5, 1)
	if data, res, ok := u.wait(t, 10*time.Second); !ok || data != 3 || res != eventSize {
		t.Fatalf("pending io_uring read after TRIGGER: data %d res %d ok %v", data, res, ok)
	}
	if e := decode(buf[:eventSize])[0]; e.Seq != next {
		t.Errorf("pending io_uring read got %v, want seq %d", e, next)
	}
}
