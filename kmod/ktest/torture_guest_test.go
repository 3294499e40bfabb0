//go:build mypoll_guest

package ktest

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Torture tests that need a real kernel: CPU hotplug, io_uring, clock
// jumps, queued SIGIO, and a bounded ioctl/read/write fuzzer. They run on
// every kernel of the matrix.

const cpu1Online = "/sys/devices/system/cpu/cpu1/online"

func setOnline(t *testing.T, v string) {
	t.Helper()
	if err := os.WriteFile(cpu1Online, []byte(v), 0o644); err != nil {
		t.Fatalf("write %s to %s: %v", v, cpu1Online, err)
	}
}

// CPU 1 goes offline and online again and again while four timers run and
// a reader follows: the soft hrtimers migrate, keep ticking, and the stream
// stays whole; the module unloads cleanly afterwards.
func TestTorture_CPUHotplug(t *testing.T) {
	if _, err := os.Stat(cpu1Online); err != nil {
		t.Fatalf("the VM test boots two CPUs: %v", err)
	}
	setup(t, "min_period_us=100")
	t.Cleanup(func() { _ = os.WriteFile(cpu1Online, []byte("1"), 0o644) })
	w := rw(t)
	d := rw(t)
	for id := uint32(0); id < 4; id++ {
		w.timerStart(id, time.Duration(200+300*id)*time.Microsecond, 0, 0)
	}
	var sc streamCheck
	for i := range 12 {
		setOnline(t, "0")
		time.Sleep(time.Duration(10+rand.IntN(40)) * time.Millisecond)
		if err := sc.add(d.drain()); err != nil {
			t.Fatalf("round %d (cpu1 offline): %v", i, err)
		}
		setOnline(t, "1")
		w.trigger(uint64(i), 100)
		time.Sleep(time.Duration(10+rand.IntN(40)) * time.Millisecond)
		if err := sc.add(d.drain()); err != nil {
			t.Fatalf("round %d (cpu1 online): %v", i, err)
		}
	}
	var before [4]uint64
	for id := range before {
		before[id] = w.timerGet(uint32(id)).Ticks
	}
	for id := range before {
		// a loaded TCG host can starve the guest for a while: give each
		// timer up to 5 s to tick again
		a := w.timerGet(uint32(id))
		for end := time.Now().Add(5 * time.Second); a.Ticks <= before[id] && time.Now().Before(end); {
			time.Sleep(20 * time.Millisecond)
			a = w.timerGet(uint32(id))
		}
		if a.Active != 1 || a.Ticks <= before[id] {
			t.Errorf("timer %d after hotplug: active %d ticks %d -> %d", id, a.Active, before[id], a.Ticks)
		}
		if err := w.timerStopErr(uint32(id)); err != nil {
			t.Error(err)
		}
	}
	if err := sc.add(d.drain()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records, %d lost over 12 hotplug rounds", sc.records, sc.lost)
	w.close()
	d.close()
	unloadEventually(t)
}

func monoNow(t *testing.T) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

// CLOCK_REALTIME jumps by hours back and forth while a 10 ms timer runs:
// MONOTONIC timers do not care. The ticks match the monotonic time that
// passed (missed ticks are counted when the late callback runs), and record
// timestamps stay within the monotonic clock read around them.
func TestTorture_ClockSettimeJumps(t *testing.T) {
	setup(t, "")
	w := rw(t)
	d := rw(t)
	var saved unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &saved); err != nil {
		t.Fatal(err)
	}
	monoSaved := monoNow(t)
	t.Cleanup(func() { // put the wall clock back where it would be
		ts := unix.NsecToTimespec(saved.Nano() + int64(monoNow(t)-monoSaved))
		_ = unix.ClockSettime(unix.CLOCK_REALTIME, &ts)
	})
	const period = 10 * time.Millisecond
	start := monoNow(t)
	w.timerStart(2, period, 0, 0)
	for i, jump := range []time.Duration{time.Hour, -3 * time.Hour, 24 * time.Hour, -48 * time.Hour, time.Minute} {
		var now unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_REALTIME, &now); err != nil {
			t.Fatal(err)
		}
		ts := unix.NsecToTimespec(now.Nano() + int64(jump))
		if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
			t.Fatalf("jump %d (%v): %v", i, jump, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A timer that followed CLOCK_REALTIME would be off by the jumps:
	// hundreds of thousands of ticks ahead, or none for hours (the net jump
	// is -26 h). A MONOTONIC timer never runs ahead of the monotonic time,
	// and catches up with it: its callback may lag a loaded host by
	// hundreds of ms (seen: 24 ticks after 632 ms under TCG at host load
	// 10), so wait for the ticks instead of reading them once.
	want := (monoNow(t) - start) / uint64(period)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ticks := w.timerGet(2).Ticks
		elapsed := monoNow(t) - start
		if limit := elapsed/uint64(period) + 1; ticks > limit {
			t.Fatalf("ticks %d after %v of monotonic time: ahead of it (at most %d)", ticks, time.Duration(elapsed), limit)
		}
		if ticks >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticks %d after %v of monotonic time: %d were due before the last jump", ticks, time.Duration(elapsed), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := w.timerStopErr(2); err != nil {
		t.Fatal(err)
	}
	end := monoNow(t)
	var prev uint64
	for _, e := range d.drain() {
		if e.TS < start || e.TS > end || e.TS < prev {
			t.Errorf("record %v timestamp %d outside [%d, %d] or before %d", e, e.TS, start, end, prev)
		}
		prev = e.TS
	}
}

// F_SETSIG queues a real-time signal per notification (with the fd in
// siginfo) instead of SIGIO. Under a load of timers and bursts from another
// file, a reader that drains on every signal keeps a whole stream, and once
// the load stops one more record still brings a signal.
func TestTorture_SIGIOSetsig(t *testing.T) {
	setup(t, "ring_order=12 min_period_us=100")
	w := rw(t)
	r := rw(t)
	rtsig := syscall.Signal(42) // a real-time signal (SIGRTMIN is 32..34)
	sigs := make(chan os.Signal, 4096)
	signal.Notify(sigs, rtsig, syscall.SIGIO)
	defer signal.Stop(sigs)
	if _, err := unix.FcntlInt(uintptr(r.fd), unix.F_SETOWN, unix.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(r.fd), unix.F_SETSIG, int(rtsig)); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(r.fd), unix.F_SETFL, unix.O_NONBLOCK|unix.O_ASYNC); err != nil {
		t.Fatal(err)
	}
	w.timerStart(0, 300*time.Microsecond, 0, 0)
	w.timerStart(1, 1100*time.Microsecond, 0, 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := w.triggerErr(i, uint32(1+i%2000)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var sc streamCheck
	var rt, io int
	deadline := time.After(3 * time.Second)
loop:
	for {
		select {
		case s := <-sigs:
			if s == rtsig {
				rt++
			} else {
				io++ // the kernel falls back to SIGIO when the RT queue is full
			}
			if err := sc.add(r.drain()); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			break loop
		}
	}
	close(stop)
	wg.Wait()
	w.timerStopErr(0)
	w.timerStopErr(1)
	if rt == 0 {
		t.Errorf("no %v under load (%d SIGIO)", rtsig, io)
	}
	time.Sleep(50 * time.Millisecond)
	for len(sigs) > 0 {
		<-sigs
	}
	if err := sc.add(r.drain()); err != nil {
		t.Fatal(err)
	}
	first := w.trigger(77, 1)
	select {
	case s := <-sigs:
		if s != rtsig {
			t.Errorf("got %v after the load, want %v", s, rtsig)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no signal for a record after the load")
	}
	evs := r.drain()
	if err := sc.add(evs); err != nil || len(evs) == 0 || evs[len(evs)-1].Seq != first {
		t.Errorf("after the load read %v (%v), want it to end with seq %d", evs, err, first)
	}
	t.Logf("%d %v and %d SIGIO, %d records, %d lost", rt, rtsig, io, sc.records, sc.lost)
}

// A minimal io_uring: one SQE, one CQE at a time.
type uring struct {
	fd                     int
	sq, cq, sqes           []byte
	sqHead, sqTail, sqMask *uint32
	sqArray                []uint32
	cqHead, cqTail, cqMask *uint32
	cqesOff                uint32
}

type uringParams struct {
	SqEntries, CqEntries, Flags, SqThreadCPU, SqThreadIdle, Features, WqFd uint32
	Resv                                                                   [3]uint32
	SqOff                                                                  struct {
		Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
		UserAddr                                                        uint64
	}
	CqOff struct {
		Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1 uint32
		UserAddr                                                        uint64
	}
}

const (
	sysIoUringSetup      = 425
	sysIoUringEnter      = 426
	ioringOpRead         = 22
	ioringOpAsyncCancel  = 14
	ioringEnterGetevents = 1
	ioringOffSqRing      = 0
	ioringOffCqRing      = 0x8000000
	ioringOffSqes        = 0x10000000
)

func newUring(t *testing.T) *uring {
	t.Helper()
	var p uringParams
	fd, _, errno := unix.Syscall(sysIoUringSetup, 4, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		t.Fatalf("io_uring_setup: %v (all Debian kernels of the matrix have CONFIG_IO_URING)", errno)
	}
	u := &uring{fd: int(fd)}
	mm := func(off, size uint32) []byte {
		b, err := unix.Mmap(u.fd, int64(off), int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			t.Fatalf("mmap io_uring: %v", err)
		}
		t.Cleanup(func() { unix.Munmap(b) })
		return b
	}
	u.sq = mm(ioringOffSqRing, p.SqOff.Array+p.SqEntries*4)
	u.cq = mm(ioringOffCqRing, p.CqOff.Cqes+p.CqEntries*16)
	u.sqes = mm(ioringOffSqes, p.SqEntries*64)
	t.Cleanup(func() { unix.Close(u.fd) })
	u32 := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	u.sqHead, u.sqTail, u.sqMask = u32(u.sq, p.SqOff.Head), u32(u.sq, p.SqOff.Tail), u32(u.sq, p.SqOff.RingMask)
	u.sqArray = unsafe.Slice(u32(u.sq, p.SqOff.Array), p.SqEntries)
	u.cqHead, u.cqTail, u.cqMask = u32(u.cq, p.CqOff.Head), u32(u.cq, p.CqOff.Tail), u32(u.cq, p.CqOff.RingMask)
	u.cqesOff = p.CqOff.Cqes
	return u
}

// uringBuf is an n-byte buffer for an io_uring read, outside Go's memory:
// the kernel may fill it after the submitting call returned, and a Go
// buffer that does not escape lives on the goroutine's stack, which moves
// when it grows (seen on 32-bit ARM: the completion landed in the old
// stack and the test read stale bytes).
func uringBuf(t *testing.T, n int) []byte {
	t.Helper()
	m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	return m
}

// rwfNowait is RWF_NOWAIT (uapi/linux/fs.h), for an SQE's rw_flags.
const rwfNowait = 0x8

// submit queues one SQE (opcode, fd, buffer, user data).
func (u *uring) submit(t *testing.T, op uint8, fd int, buf []byte, addr uint64, data uint64) {
	t.Helper()
	u.submitRW(t, op, fd, buf, addr, data, 0)
}

// submitFlags queues a read SQE with rw_flags (RWF_*).
func (u *uring) submitFlags(t *testing.T, op uint8, fd int, buf []byte, data uint64, rwFlags uint32) {
	t.Helper()
	u.submitRW(t, op, fd, buf, 0, data, rwFlags)
}

func (u *uring) submitRW(t *testing.T, op uint8, fd int, buf []byte, addr uint64, data uint64, rwFlags uint32) {
	t.Helper()
	tail := atomic.LoadUint32(u.sqTail)
	idx := tail & *u.sqMask
	sqe := u.sqes[idx*64 : idx*64+64]
	clear(sqe)
	sqe[0] = op
	*(*int32)(unsafe.Pointer(&sqe[4])) = int32(fd)
	if buf != nil {
		addr = uint64(uintptr(unsafe.Pointer(&buf[0])))
		*(*uint32)(unsafe.Pointer(&sqe[24])) = uint32(len(buf))
	}
	if op == ioringOpRead {
		*(*uint64)(unsafe.Pointer(&sqe[8])) = ^uint64(0) // off -1: the file position (a stream)
	}
	*(*uint64)(unsafe.Pointer(&sqe[16])) = addr
	*(*uint32)(unsafe.Pointer(&sqe[28])) = rwFlags
	*(*uint64)(unsafe.Pointer(&sqe[32])) = data
	u.sqArray[idx] = idx
	atomic.StoreUint32(u.sqTail, tail+1)
	if _, _, errno := unix.Syscall6(sysIoUringEnter, uintptr(u.fd), 1, 0, 0, 0, 0); errno != 0 {
		t.Fatalf("io_uring_enter submit: %v", errno)
	}
}

// wait returns the next completion (user data, result), or ok false after d.
func (u *uring) wait(t *testing.T, d time.Duration) (data uint64, res int32, ok bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		head := atomic.LoadUint32(u.cqHead)
		if head != atomic.LoadUint32(u.cqTail) {
			off := u.cqesOff + (head&*u.cqMask)*16
			data = *(*uint64)(unsafe.Pointer(&u.cq[off]))
			res = *(*int32)(unsafe.Pointer(&u.cq[off+8]))
			atomic.StoreUint32(u.cqHead, head+1)
			return data, res, true
		}
		if time.Now().After(deadline) {
			return 0, 0, false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// read() through io_uring: whole records on a ready file, a short buffer's
// EINVAL, a read on an empty blocking file that completes when a record
// arrives, and one on a non-blocking file that gives EAGAIN or waits (io_uring
// may poll for it) but never returns a partial record.
func TestTorture_IOUringRead(t *testing.T) {
	setup(t, "")
	w := rw(t)
	d := openDev(t, unix.O_RDONLY)
	u := newUring(t)
	first := w.trigger(5, 10)
	buf := uringBuf(t, 4*eventSize+7)
	u.submit(t, ioringOpRead, d.fd, buf, 0, 1)
	if data, res, ok := u.wait(t, 10*time.Second); !ok || data != 1 || res != 4*eventSize {
		t.Fatalf("io_uring read: data %d res %d ok %v, want %d bytes", data, res, ok, 4*eventSize)
	}
	if evs := decode(buf[:4*eventSize]); evs[0].Seq != first || evs[3].Seq != first+3 {
		t.Errorf("io_uring read records %v, want seqs %d..%d", evs, first, first+3)
	}
	u.submit(t, ioringOpRead, d.fd, buf[:eventSize-1], 0, 2)
	if _, res, ok := u.wait(t, 10*time.Second); !ok || res != -int32(unix.EINVAL) {
		t.Errorf("io_uring read of %d bytes: res %d ok %v, want -EINVAL", eventSize-1, res, ok)
	}
	d.drain2(t, 6)
	u.submit(t, ioringOpRead, d.fd, buf, 0, 3)
	if _, _, ok := u.wait(t, 300*time.Millisecond); ok {
		t.Fatal("io_uring read on an empty ring completed")
	}
	next := w.trigger(6, 1)
	if data, res, ok := u.wait(t, 10*time.Second); !ok || data != 3 || res != eventSize {
		t.Fatalf("blocked io_uring read after TRIGGER: data %d res %d ok %v", data, res, ok)
	}
	if e := decode(buf[:eventSize])[0]; e.Seq != next || e.Arg != 6 {
		t.Errorf("blocked io_uring read got %v, want seq %d", e, next)
	}
	// cancelling a pending read interrupts the io-wq worker blocked in it
	// (or, where it cannot, a record completes it): both complete, nothing
	// is left behind
	u.submit(t, ioringOpRead, d.fd, buf, 0, 4)
	time.Sleep(50 * time.Millisecond)
	u.submit(t, ioringOpAsyncCancel, -1, nil, 4, 5)
	got := map[uint64]int32{}
	for len(got) < 2 {
		data, res, ok := u.wait(t, 2*time.Second)
		if !ok {
			if _, err := w.triggerErr(8, 1); err != nil {
				t.Fatal(err)
			}
			if data, res, ok = u.wait(t, 10*time.Second); !ok {
				t.Fatalf("pending io_uring read neither cancelled nor completed: %v", got)
			}
		}
		got[data] = res
	}
	t.Logf("cancel of a blocked io_uring read: read res %d, cancel res %d", got[4], got[5])
}

// drain2 reads n records from a blocking file.
func (d *dev) drain2(t *testing.T, n int) {
	t.Helper()
	evs, err := d.readSome(n)
	if err != nil || len(evs) != n {
		t.Fatalf("read %d records: got %d, %v", n, len(evs), err)
	}
}

// fuzzSeconds is how long TestTorture_Fuzz runs: MYPOLL_FUZZ_SECONDS, 20 by
// default (CI); a long run by hand sets it (make fuzz-kmod).
func fuzzSeconds() time.Duration {
	if s := os.Getenv("MYPOLL_FUZZ_SECONDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return 20 * time.Second
}

var fuzzCmds = []string{"trigger", "start", "stop", "trigger 1 2", "start 1 1", "start 9 5", "stop 0",
	"trigger 0x10", "start 0 1 3", "start 7 1000 2", "stop 8", "trigger -1", "", " ", "start 0x1 0x2",
	"trigger 18446744073709551615", "start 3 3600000", "start 3 3600001", "\x00", "trigger\n\n"}

// The fuzzer: four threads, each with its own and a shared file, run
// random ioctls (defined numbers with random contents, random numbers,
// good, bad and straddling pointers), reads of random sizes into random
// memory, text writes (mutated commands and random bytes), SEEKs and
// reopens, for a bounded time. Afterwards the debugfs invariants hold, the
// kernel log is clean, and the module unloads.
func TestTorture_Fuzz(t *testing.T) {
	setup(t, "ring_order=6 max_burst=300 min_period_us=100")
	dur := fuzzSeconds()
	shared := rw(t)
	ps := unix.Getpagesize()
	none := mapping(t, unix.PROT_NONE)
	ro := mapping(t, unix.PROT_READ)
	cmds := make([]uintptr, 0, len(definedIoctls))
	for c := range definedIoctls {
		cmds = append(cmds, c)
	}
	var execs atomic.Uint64
	var wg sync.WaitGroup
	deadline := time.Now().Add(dur)
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			own, err := unix.Open(devPath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer func() { unix.Close(own) }()
			mem := make([]byte, 8192)
			addr := func() uintptr {
				switch rng.IntN(8) {
				case 0:
					return 0
				case 1:
					return uintptr(unsafe.Pointer(&none[0])) + uintptr(ps) - uintptr(rng.IntN(64))
				case 2:
					return uintptr(unsafe.Pointer(&ro[0])) + uintptr(ps) + uintptr(rng.IntN(64))
				case 3:
					return kernelAddr
				default:
					return uintptr(unsafe.Pointer(&mem[rng.IntN(4096)]))
				}
			}
			for n := 0; time.Now().Before(deadline); n++ {
				fd := own
				if rng.IntN(2) == 0 {
					fd = shared.fd
				}
				switch op := rng.IntN(100); {
				case op < 50:
					for i := range 128 {
						mem[rng.IntN(4096)+i] = byte(rng.Uint32())
					}
					switch rng.IntN(6) { // plausible TRIGGER and TIMER_START arguments
					case 0:
						clear(mem[:64])
						*(*uint32)(unsafe.Pointer(&mem[8])) = uint32(rng.IntN(400))
					case 1:
						clear(mem[:64])
						*(*uint32)(unsafe.Pointer(&mem[0])) = uint32(rng.IntN(maxTimers + 1))
						*(*uint32)(unsafe.Pointer(&mem[4])) = uint32(rng.IntN(4))
						*(*uint64)(unsafe.Pointer(&mem[8])) = uint64(rng.IntN(5_000_000))
						*(*uint64)(unsafe.Pointer(&mem[16])) = uint64(rng.IntN(50))
					}
					cmd := cmds[rng.IntN(len(cmds))]
					if rng.IntN(5) == 0 {
						cmd = uintptr(rng.Uint32())
					} else if rng.IntN(5) == 0 {
						cmd ^= 1 << (16 + rng.IntN(14)) // a wrong size or direction
					}
					a := addr()
					if a >= uintptr(unsafe.Pointer(&mem[0])) && a < uintptr(unsafe.Pointer(&mem[0]))+8192 {
						a = uintptr(unsafe.Pointer(&mem[0]))
						if rng.IntN(3) == 0 {
							a += uintptr(rng.IntN(64))
						}
					}
					_ = ioctlAddr(fd, cmd, a)
				case op < 75:
					size := rng.IntN(2000)
					if rng.IntN(3) == 0 {
						size = eventSize * rng.IntN(40)
					}
					a := addr()
					_, _, _ = unix.Syscall(unix.SYS_READ, uintptr(fd), a, uintptr(size))
				case op < 90:
					c := []byte(fuzzCmds[rng.IntN(len(fuzzCmds))])
					for range rng.IntN(3) {
						if len(c) > 0 {
							c[rng.IntN(len(c))] = byte(rng.Uint32())
						}
					}
					if rng.IntN(10) == 0 {
						c = make([]byte, rng.IntN(200))
						for i := range c {
							c[i] = byte(rng.Uint32())
						}
					}
					if len(c) > 0 {
						_, _ = unix.Write(fd, c)
					}
				case op < 97:
					s := seekArg{Whence: uint32(rng.IntN(4)), Seq: rng.Uint64N(1 << 20)}
					_ = ioctl(fd, iocSeek, unsafe.Pointer(&s))
				default:
					unix.Close(own)
					own, err = unix.Open(devPath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
					if err != nil {
						t.Error(err)
						return
					}
				}
				execs.Add(1)
			}
		})
	}
	wg.Wait()
	for id := uint32(0); id < maxTimers; id++ {
		if err := shared.timerStopErr(id); err != nil && !errors.Is(err, unix.ENOENT) {
			t.Errorf("stop timer %d after fuzzing: %v", id, err)
		}
	}
	checkKernel(t)
	var sc streamCheck
	shared.seek(seekOldest, 0)
	if err := sc.add(shared.drain()); err != nil {
		t.Errorf("the ring after fuzzing: %v", err)
	}
	t.Logf("fuzz: %d executions in %v (%.0f/s), stats %+v", execs.Load(), dur,
		float64(execs.Load())/dur.Seconds(), shared.stats())
	shared.close()
	if err := unloadModule(); err != nil {
		t.Errorf("unload after fuzzing: %v", err)
	}
	runtime.GC()
}
