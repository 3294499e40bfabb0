//go:build mypoll_guest

package ktest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

var definedIoctls = map[uintptr]uintptr{ // cmd -> struct size
	iocGetInfo: 72, iocGetStats: 96, iocGetReader: 64, iocSeek: 16, iocTimerStart: 48,
	iocTimerStop: 4, iocTimerGet: 48, iocTrigger: 24, iocResetStats: 0,
}

// §4.4 test 25: every nr with every direction and wrong sizes, and foreign
// magics, give ENOTTY and change nothing.
func TestIoctl_UnknownNumbers(t *testing.T) {
	setup(t, "")
	d := rw(t)
	before := d.stats()
	buf := make([]byte, 8192)
	p := uintptr(unsafe.Pointer(&buf[0]))
	calls := 0
	for _, magic := range []uintptr{0xBC, 0xBB, 0xBD, 0xB8} {
		for nr := uintptr(0); nr < 256; nr++ {
			sizes := []uintptr{0, 1, 8191}
			for cmd, size := range definedIoctls {
				if cmd&0xff == nr {
					sizes = append(sizes, size+1)
					if size > 0 {
						sizes = append(sizes, size-1)
					}
				}
			}
			for dir := uintptr(0); dir < 4; dir++ {
				for _, size := range sizes {
					cmd := dir<<30 | size<<16 | magic<<8 | nr
					if _, ok := definedIoctls[cmd]; ok {
						continue
					}
					clear(buf)
					calls++
					if err := ioctlAddr(d.fd, cmd, p); !errors.Is(err, unix.ENOTTY) {
						t.Fatalf("ioctl %#x: %v, want ENOTTY", cmd, err)
					}
				}
			}
		}
	}
	after := d.stats()
	if after.NextSeq != before.NextSeq || after.ActiveTimers != 0 {
		t.Errorf("unknown ioctls changed state: %+v -> %+v", before, after)
	}
	t.Logf("%d unknown ioctl numbers", calls)
}

// ABI version 2 moved the ioctls from magic 0xB8 to 0xBC (PROTOCOL.md B.3):
// every version-1 number, with a buffer of its size, gives ENOTTY and
// changes nothing, so a daemon built for version 1 fails at its first
// GET_INFO.
func TestIoctl_Version1Numbers(t *testing.T) {
	setup(t, "")
	d := rw(t)
	before := d.stats()
	buf := make([]byte, 128)
	for cmd := range definedIoctls {
		v1 := cmd&^(0xff<<8) | 0xB8<<8
		clear(buf)
		binary.NativeEndian.PutUint32(buf[8:], 1) // a valid TRIGGER count, were it one
		if err := ioctlAddr(d.fd, v1, uintptr(unsafe.Pointer(&buf[0]))); !errors.Is(err, unix.ENOTTY) {
			t.Errorf("version-1 ioctl %#x (version 2: %#x): %v, want ENOTTY", v1, cmd, err)
		}
	}
	if after := d.stats(); after != before {
		t.Errorf("version-1 ioctls changed the device: %+v -> %+v", before, after)
	}
	if got := d.info().ABIVersion; got != 2 {
		t.Errorf("GET_INFO abi_version %d, want 2", got)
	}
}

// mapping returns two pages: the first read-write, the second set to prot.
func mapping(t *testing.T, prot int) []byte {
	t.Helper()
	ps := unix.Getpagesize()
	m, err := unix.Mmap(-1, 0, 2*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	if err := unix.Mprotect(m[ps:], prot); err != nil {
		t.Fatal(err)
	}
	return m
}

// §4.4 test 26: bad pointers give EFAULT and change no state.
func TestIoctl_BadPointers(t *testing.T) {
	setup(t, "")
	d := rw(t)
	d.timerStart(7, 60*time.Second, 0, 0) // running, but no tick during the test
	before := d.stats()
	ps := unix.Getpagesize()
	none := mapping(t, unix.PROT_NONE)
	ro := mapping(t, unix.PROT_READ)
	base := func(m []byte) uintptr { return uintptr(unsafe.Pointer(&m[0])) }
	for cmd, size := range definedIoctls {
		if size == 0 {
			continue
		}
		addrs := map[string]uintptr{
			"NULL": 0, "-1": ^uintptr(0), "kernel": kernelAddr,
			"straddling PROT_NONE": base(none) + uintptr(ps) - size/2,
		}
		if cmd>>30&2 != 0 { // the kernel writes: a read-only page faults
			addrs["read-only"] = base(ro) + uintptr(ps)
		}
		for name, addr := range addrs {
			if err := ioctlAddr(d.fd, cmd, addr); !errors.Is(err, unix.EFAULT) {
				t.Errorf("ioctl %#x on %s: %v, want EFAULT", cmd, name, err)
			}
		}
	}
	// A valid TRIGGER on readable but not writable memory fails before
	// emitting; a valid TIMER_START cut by a PROT_NONE page starts nothing.
	m := mapping(t, unix.PROT_NONE)
	*(*triggerArg)(unsafe.Pointer(&m[0])) = triggerArg{Payload: 1, Count: 5}
	ta := timerArg{ID: 3, PeriodNS: 1e6}
	copy(m[ps-24:ps], unsafe.Slice((*byte)(unsafe.Pointer(&ta)), 24)) // the rest lies in PROT_NONE
	if err := unix.Mprotect(m[:ps], unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	if err := ioctlAddr(d.fd, iocTrigger, base(m)); !errors.Is(err, unix.EFAULT) {
		t.Errorf("TRIGGER from read-only memory: %v, want EFAULT", err)
	}
	if err := ioctlAddr(d.fd, iocTimerStart, base(m)+uintptr(ps)-24); !errors.Is(err, unix.EFAULT) {
		t.Errorf("TIMER_START straddling PROT_NONE: %v, want EFAULT", err)
	}
	after := d.stats()
	if after.NextSeq != before.NextSeq || after.ActiveTimers != 1<<7 {
		t.Errorf("faulting ioctls changed state: %+v -> %+v", before, after)
	}
	// An unaligned but valid pointer works.
	buf := make([]byte, 200)
	if err := ioctlAddr(d.fd, iocGetStats, uintptr(unsafe.Pointer(&buf[1]))); err != nil {
		t.Errorf("GET_STATS at an unaligned address: %v", err)
	}
	if err := d.timerStopErr(7); err != nil {
		t.Error(err)
	}
}

// §4.4 test 27: out-of-range fields and non-zero reserved or flags give EINVAL.
func TestIoctl_FieldRanges(t *testing.T) {
	setup(t, "max_burst=100")
	d := rw(t)
	ok := timerArg{ID: 1, PeriodNS: 1e6}
	timers := map[string]timerArg{}
	for name, mod := range map[string]func(*timerArg){
		"id 8": func(a *timerArg) { a.ID = 8 }, "id max": func(a *timerArg) { a.ID = ^uint32(0) },
		"period 0": func(a *timerArg) { a.PeriodNS = 0 }, "period 1": func(a *timerArg) { a.PeriodNS = 1 },
		"period min-1": func(a *timerArg) { a.PeriodNS = 1e6 - 1 }, "period max+1": func(a *timerArg) { a.PeriodNS = maxPeriodNS + 1 },
		"period max u64": func(a *timerArg) { a.PeriodNS = ^uint64(0) }, "flag bit 2": func(a *timerArg) { a.Flags = 4 },
		"flag bit 31": func(a *timerArg) { a.Flags = 1 << 31 }, "ticks": func(a *timerArg) { a.Ticks = 1 },
		"active": func(a *timerArg) { a.Active = 1 }, "reserved": func(a *timerArg) { a.Reserved = 1 },
	} {
		a := ok
		mod(&a)
		timers[name] = a
	}
	for name, a := range timers {
		if err := d.timerStartErr(a); !errors.Is(err, unix.EINVAL) {
			t.Errorf("TIMER_START %s: %v, want EINVAL", name, err)
		}
	}
	for _, a := range []timerArg{{ID: 1, PeriodNS: 1e6}, {ID: 2, PeriodNS: maxPeriodNS, Count: ^uint64(0), Flags: timerOwned | timerReplace}} {
		if err := d.timerStartErr(a); err != nil {
			t.Errorf("TIMER_START %+v: %v", a, err)
		}
	}
	if err := d.timerStartErr(timerArg{ID: 1, PeriodNS: 1e6}); !errors.Is(err, unix.EBUSY) {
		t.Errorf("TIMER_START of a running id: %v, want EBUSY", err)
	}
	for _, id := range []uint32{8, ^uint32(0)} {
		if err := d.timerStopErr(id); !errors.Is(err, unix.EINVAL) {
			t.Errorf("TIMER_STOP %d: %v, want EINVAL", id, err)
		}
		a := timerArg{ID: id}
		if err := ioctl(d.fd, iocTimerGet, unsafe.Pointer(&a)); !errors.Is(err, unix.EINVAL) {
			t.Errorf("TIMER_GET %d: %v, want EINVAL", id, err)
		}
	}
	d.timerStopErr(1)
	d.timerStopErr(2)
	if err := d.timerStopErr(1); !errors.Is(err, unix.ENOENT) {
		t.Errorf("TIMER_STOP of an idle id: %v, want ENOENT", err)
	}
	before := d.stats().NextSeq
	for _, a := range []triggerArg{{Count: 0}, {Count: 101}, {Count: ^uint32(0)}, {Count: 1, Flags: 1}, {Count: 1, Flags: 1 << 31}, {Count: 1, FirstSeq: 1}} {
		if err := ioctl(d.fd, iocTrigger, unsafe.Pointer(&a)); !errors.Is(err, unix.EINVAL) {
			t.Errorf("TRIGGER %+v: %v, want EINVAL", a, err)
		}
	}
	if d.trigger(0, 100); d.stats().NextSeq != before+100 {
		t.Errorf("invalid triggers emitted records")
	}
	for _, s := range []seekArg{{Whence: 3}, {Whence: ^uint32(0)}, {Whence: seekLive, Reserved: 1}, {Whence: seekSeq, Seq: 0}, {Whence: seekSeq, Seq: before + 101}} {
		if err := ioctl(d.fd, iocSeek, unsafe.Pointer(&s)); !errors.Is(err, unix.EINVAL) {
			t.Errorf("SEEK %+v: %v, want EINVAL", s, err)
		}
	}
}

// §4.4 test 28: control ioctls need a writable file; queries do not.
func TestIoctl_AccessModes(t *testing.T) {
	setup(t, "")
	ro := openDev(t, unix.O_RDONLY|unix.O_NONBLOCK)
	if _, err := ro.triggerErr(0, 1); !errors.Is(err, unix.EBADF) {
		t.Errorf("TRIGGER on O_RDONLY: %v, want EBADF", err)
	}
	if err := ro.timerStartErr(timerArg{ID: 0, PeriodNS: 1e6}); !errors.Is(err, unix.EBADF) {
		t.Errorf("TIMER_START on O_RDONLY: %v, want EBADF", err)
	}
	if err := ro.timerStopErr(0); !errors.Is(err, unix.EBADF) {
		t.Errorf("TIMER_STOP on O_RDONLY: %v, want EBADF", err)
	}
	if err := ioctlAddr(ro.fd, iocResetStats, 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("RESET_STATS on O_RDONLY: %v, want EBADF", err)
	}
	if _, err := unix.Write(ro.fd, []byte("trigger")); !errors.Is(err, unix.EBADF) {
		t.Errorf("write on O_RDONLY: %v, want EBADF", err)
	}
	if s := ro.stats(); s.NextSeq != 1 {
		t.Errorf("refused control calls emitted records: %+v", s)
	}
	wo := openDev(t, unix.O_WRONLY|unix.O_NONBLOCK)
	wo.info()
	wo.stats()
	wo.reader()
	wo.seek(seekOldest, 0)
	wo.timerGet(0)
	wo.trigger(0, 2)
	if err := ioctlAddr(wo.fd, iocResetStats, 0); err != nil {
		t.Errorf("RESET_STATS on O_WRONLY: %v", err)
	}
	if s := wo.stats(); s.TriggerEvents != 0 || s.Generated != 2 || s.NextSeq != 3 {
		t.Errorf("RESET_STATS must zero only per-source counters: %+v", s)
	}
	if _, err := wo.readSome(4); !errors.Is(err, unix.EBADF) {
		t.Errorf("read on O_WRONLY: %v, want EBADF (VFS)", err)
	}
	pfd := []unix.PollFd{{Fd: int32(ro.fd), Events: unix.POLLOUT | unix.POLLIN}, {Fd: int32(wo.fd), Events: unix.POLLOUT}}
	unix.Poll(pfd, 0)
	if pfd[0].Revents != unix.POLLIN || pfd[1].Revents != unix.POLLOUT {
		t.Errorf("poll revents ro %#x (want IN), wo %#x (want OUT)", pfd[0].Revents, pfd[1].Revents)
	}
}

// §4.4 test 29: output structs are fully written; reserved bytes are 0.
func TestIoctl_NoInfoLeak(t *testing.T) {
	setup(t, "ring_order=4")
	d := rw(t)
	d.timerStart(2, 1e6, 0, 0)
	d.trigger(0, 40) // overflow pending for d
	fill := func(p unsafe.Pointer, n uintptr) []byte {
		b := unsafe.Slice((*byte)(p), n)
		for i := range b {
			b[i] = 0xA5
		}
		return b
	}
	var in info
	fill(unsafe.Pointer(&in), 72)
	var st stats
	fill(unsafe.Pointer(&st), 96)
	var ri readerInfo
	fill(unsafe.Pointer(&ri), 64)
	for name, c := range map[string]struct {
		cmd uintptr
		p   unsafe.Pointer
	}{"GET_INFO": {iocGetInfo, unsafe.Pointer(&in)}, "GET_STATS": {iocGetStats, unsafe.Pointer(&st)}, "GET_READER": {iocGetReader, unsafe.Pointer(&ri)}} {
		if err := ioctl(d.fd, c.cmd, c.p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if in.Reserved != [3]uint64{} || st.Reserved != [4]uint64{} || ri.Reserved != [4]uint64{} {
		t.Errorf("reserved bytes leaked: info %x stats %x reader %x", in.Reserved, st.Reserved, ri.Reserved)
	}
	for _, id := range []uint32{2, 5} {
		var tg timerArg
		b := fill(unsafe.Pointer(&tg), 48)
		clear(b[:8]) // id, flags
		tg.ID = id
		tg.Reserved = 0
		if err := ioctl(d.fd, iocTimerGet, unsafe.Pointer(&tg)); err != nil {
			t.Fatal(err)
		}
		if tg.Reserved != 0 || (id == 5 && tg != timerArg{ID: 5}) || (id == 2 && (tg.Active != 1 || tg.PeriodNS != 1e6 || tg.Cookie != 0)) {
			t.Errorf("TIMER_GET %d = %+v", id, tg)
		}
	}
	d.timerStopErr(2)
	buf := bytes.Repeat([]byte{0xA5}, 64*eventSize)
	n, err := unix.Read(d.fd, buf)
	if err != nil {
		t.Fatal(err)
	}
	var sc streamCheck
	if err := sc.add(decode(buf[:n])); err != nil || sc.overflows != 1 {
		t.Errorf("records read into a 0xA5 buffer: %v, %d overflows", err, sc.overflows)
	}
}
