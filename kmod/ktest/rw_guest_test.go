//go:build mypoll_guest

package ktest

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func rawRead(fd int, addr, count uintptr) (int, error) {
	n, _, e := unix.Syscall(unix.SYS_READ, uintptr(fd), addr, count)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// kernel64 reports whether the running kernel is 64-bit, from its machine
// name (uname -m): a 32-bit ARM kernel says armv7l (or older), an arm64
// kernel aarch64, or armv8l to a task with the PER_LINUX32 personality.
func kernel64(t *testing.T) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatalf("uname: %v", err)
	}
	m := unix.ByteSliceToString(u.Machine[:])
	return strings.HasSuffix(m, "64") || m == "armv8l"
}

// §4.5 test 32: read sizes.
func TestRead_Sizes(t *testing.T) {
	setup(t, "")
	d := rw(t)
	d.trigger(0, 10)
	buf := make([]byte, 1<<20)
	p := uintptr(unsafe.Pointer(&buf[0]))
	for _, c := range []struct {
		count uintptr
		want  int
		err   error
	}{
		{0, 0, nil}, {1, 0, unix.EINVAL}, {47, 0, unix.EINVAL}, {48, 48, nil}, {49, 48, nil},
		{95, 48, nil}, {96, 96, nil}, {1 << 20, 5 * 48, nil},
	} {
		cur := d.reader().Cursor
		n, err := rawRead(d.fd, p, c.count)
		if n != c.want || !errors.Is(err, c.err) && !(err == nil && c.err == nil) {
			t.Errorf("read(%d) = %d, %v; want %d, %v", c.count, n, err, c.want, c.err)
		}
		if got := d.reader().Cursor; got != cur+uint64(c.want/48) {
			t.Errorf("read(%d) moved the cursor %d -> %d", c.count, cur, got)
		}
	}
	d.trigger(0, 2)
	// The VFS refuses a count that leaves the address space; a large one
	// that does not reaches the module, which copies only what is pending.
	// What the address space is depends on the kernel, not on this
	// program: a 32-bit task on a 64-bit kernel (compat) has its range
	// checked against the 64-bit limit, so the module sees the read and
	// copies the 2 pending records; on a 32-bit kernel the range passes
	// TASK_SIZE and the read fails as on a 64-bit task.
	n, err := rawRead(d.fd, p, ^uintptr(0)-p)
	if unsafe.Sizeof(p) == 4 && kernel64(t) {
		if n != 96 || err != nil {
			t.Errorf("32-bit read to the end of the address space on a 64-bit kernel = %d, %v; want 96", n, err)
		}
		d.trigger(0, 2)
	} else if !errors.Is(err, unix.EFAULT) {
		t.Errorf("read to the end of the address space = %d, %v; want EFAULT", n, err)
	}
	if n, err := rawRead(d.fd, p, 1<<30); n != 96 || err != nil {
		t.Errorf("read(2^30) with 2 pending = %d, %v; want 96", n, err)
	}
}

// §4.5 test 33: faults never consume records; partial copies return only
// whole records that landed.
func TestRead_Faults(t *testing.T) {
	setup(t, "")
	d := rw(t)
	d.trigger(0, 5)
	ps := unix.Getpagesize()
	for name, addr := range map[string]uintptr{"NULL": 0, "kernel": kernelAddr} {
		if _, err := rawRead(d.fd, addr, 480); !errors.Is(err, unix.EFAULT) {
			t.Errorf("read into %s: %v, want EFAULT", name, err)
		}
	}
	ro := mapping(t, unix.PROT_READ)
	if _, err := rawRead(d.fd, uintptr(unsafe.Pointer(&ro[ps])), 480); !errors.Is(err, unix.EFAULT) {
		t.Errorf("read into read-only memory: %v, want EFAULT", err)
	}
	if c := d.reader().Cursor; c != 1 {
		t.Fatalf("failed reads moved the cursor to %d", c)
	}
	none := mapping(t, unix.PROT_NONE)
	start := uintptr(unsafe.Pointer(&none[0])) + uintptr(ps) - 2*48 - 10
	n, err := rawRead(d.fd, start, 5*48)
	if err != nil || n%48 != 0 || n == 0 || n > 96 {
		t.Fatalf("read straddling PROT_NONE = %d, %v; want 1 or 2 whole records", n, err)
	}
	evs := d.drain()
	if len(evs) != 5-n/48 || evs[0].Seq != uint64(1+n/48) {
		t.Fatalf("after a partial read of %d bytes the next read gave %v", n, evs)
	}
}

// §4.5 test 34: readv, pread, lseek, mmap, splice, sendfile.
func TestRead_OtherCalls(t *testing.T) {
	setup(t, "")
	d := rw(t)
	d.trigger(0, 10)
	iov := make([][]byte, 12)
	for i := range iov {
		iov[i] = make([]byte, 48)
	}
	n, err := unix.Readv(d.fd, iov)
	if err != nil || n != 480 {
		t.Errorf("readv of 12 x 48 with 10 pending = %d, %v; want 480", n, err)
	}
	if _, err := unix.Pread(d.fd, make([]byte, 48), 0); !errors.Is(err, unix.ESPIPE) {
		t.Errorf("pread: %v, want ESPIPE", err)
	}
	if _, err := unix.Seek(d.fd, 0, 0); !errors.Is(err, unix.ESPIPE) {
		t.Errorf("lseek: %v, want ESPIPE", err)
	}
	if _, err := unix.Mmap(d.fd, 0, 4096, unix.PROT_READ, unix.MAP_SHARED); !errors.Is(err, unix.ENODEV) {
		t.Errorf("mmap: %v, want ENODEV", err)
	}
	d.trigger(0, 2)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if _, err := unix.Splice(d.fd, nil, p[1], nil, 96, 0); err == nil {
		t.Errorf("splice from the device succeeded")
	}
	if _, err := unix.Sendfile(p[1], d.fd, nil, 96); err == nil {
		t.Errorf("sendfile from the device succeeded")
	}
	if evs := d.drain(); len(evs) != 2 {
		t.Errorf("after failed splice/sendfile read %d records, want 2", len(evs))
	}
}

// §4.5 test 35: O_NONBLOCK read of an empty fd fails at once; toggling it
// under a blocked reader is harmless.
func TestRead_NonblockToggle(t *testing.T) {
	setup(t, "")
	d := rw(t)
	t0 := time.Now()
	if _, err := d.readSome(1); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("empty non-blocking read: %v, want EAGAIN", err)
	}
	if el := time.Since(t0); el > 100*time.Millisecond {
		t.Errorf("empty non-blocking read took %v", el)
	}
	b := openDev(t, unix.O_RDONLY)
	got := make(chan error, 1)
	go func() { _, err := b.readSome(1); got <- err }()
	time.Sleep(50 * time.Millisecond)
	if _, err := unix.FcntlInt(uintptr(b.fd), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	d.trigger(0, 1)
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("blocked read after toggling O_NONBLOCK: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked read did not return")
	}
	if _, err := b.readSome(1); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("read after setting O_NONBLOCK: %v, want EAGAIN", err)
	}
}

// §4.5 test 36: a child blocked in read is stopped, continued, hit by
// signals and finally killed; the shared cursor loses and repeats nothing.
func TestRead_Signals(t *testing.T) {
	setup(t, "ring_order=12")
	w := rw(t)
	shared := openDev(t, unix.O_RDONLY)
	seen := map[uint64]bool{}
	collect := func(out interface{ ReadString(byte) (string, error) }, upTo uint64) {
		for len(seen) < int(upTo) {
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatalf("child output: %v", err)
			}
			f := strings.Fields(line)
			seq, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				t.Fatalf("child printed %q", line)
			}
			if seen[seq] {
				t.Fatalf("seq %d read twice", seq)
			}
			seen[seq] = true
		}
	}
	cmd, out := helper(t, "blockread", []int{shared.fd})
	next := uint64(0)
	for round := range 20 {
		time.Sleep(2 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGSTOP)
		w.trigger(uint64(round), 3)
		for range 20 {
			cmd.Process.Signal(syscall.SIGURG) // Go's preemption signal, SA_RESTART
		}
		cmd.Process.Signal(syscall.SIGCONT)
		next += 3
		collect(out, next)
	}
	// Kill it while it sleeps in read, then let a second child continue.
	time.Sleep(20 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	w.trigger(99, 5)
	_, out2 := helper(t, "blockread", []int{shared.fd})
	next += 5
	collect(out2, next)
	for s := uint64(1); s <= next; s++ {
		if !seen[s] {
			t.Fatalf("seq %d lost across signals (saw %d records)", s, len(seen))
		}
	}
}

// §4.5 test 38: text write() control edge cases.
func TestWrite_Text(t *testing.T) {
	setup(t, "")
	d := rw(t)
	write := func(s string) error {
		n, err := unix.Write(d.fd, []byte(s))
		if err == nil && n != len(s) {
			return fmt.Errorf("wrote %d of %d", n, len(s))
		}
		return err
	}
	valid := map[string][2]uint64{ // command -> {records, payload of the last}
		"trigger": {1, 0}, "trigger\n": {1, 0}, "trigger 5": {1, 5}, "trigger 0x1F\n": {1, 31},
		"  trigger\t\t7 ": {1, 7}, "trigger 18446744073709551615": {1, ^uint64(0)}, "trigger 0XfF": {1, 255},
	}
	for cmd, want := range valid {
		before := d.stats().NextSeq
		if err := write(cmd); err != nil {
			t.Errorf("write %q: %v", cmd, err)
			continue
		}
		evs := d.drain()
		if uint64(len(evs)) != want[0] || evs[len(evs)-1].Arg != want[1] || evs[0].Seq != before {
			t.Errorf("write %q gave %v", cmd, evs)
		}
	}
	invalid := []string{
		"", "\n", "trigger 1 2", "trigger\n\n", "trigger\x00", "trig\x00ger", "trigger -1", "trigger +1",
		"trigger 18446744073709551616", "trigger 0x", "trigger 0x0x5", "trigger 010a", "trigger 1_000",
		"TRIGGER", "trigger\r\n", "start", "start 1", "start 8 10", "start 1 0", "start 1 3600001",
		"start 1 10 5 6", "stop", "stop 8", "stop 1 2", "trigger\ntrigger", "start 1 1\nstop 1",
		"frobnicate", strings.Repeat(" ", 64) + "x", "trigger " + strings.Repeat("0", 57),
	}
	for _, cmd := range invalid {
		err := write(cmd)
		if cmd == "" {
			if err != nil {
				t.Errorf("write of 0 bytes: %v", err)
			}
			continue
		}
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("write %q: %v, want EINVAL", cmd, err)
		}
	}
	if evs := d.drain(); len(evs) != 0 {
		t.Errorf("invalid writes emitted %v", evs)
	}
	// 2 ticks of 500 ms: long enough that the second start still finds it
	// running on a loaded TCG host (at 5 ms, and once at 50 ms, it had
	// ended in between)
	if err := write("start 3 500 2"); err != nil {
		t.Fatal(err)
	}
	if err := write("start 3 5"); !errors.Is(err, unix.EBUSY) {
		t.Errorf("start of a running id: %v, want EBUSY", err)
	}
	time.Sleep(2500 * time.Millisecond)
	if err := write("stop 3\n"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("stop after count 2 at 500 ms: %v, want ENOENT", err)
	}
	if tg := d.timerGet(3); tg.PeriodNS != 500e6 || tg.Count != 2 || tg.Ticks != 2 || tg.Active != 0 {
		t.Errorf("timer started by write: %+v", tg)
	}
	// A command split across two writes: each half alone is judged.
	if err := write("start 4"); !errors.Is(err, unix.EINVAL) {
		t.Errorf("first half: %v", err)
	}
	if err := write(" 10\n"); !errors.Is(err, unix.EINVAL) {
		t.Errorf("second half: %v", err)
	}
	// Lengths: 65 bytes, 1 GiB claimed over a small mapping, unmapped memory.
	if err := write("trigger " + strings.Repeat("0", 56) + "1"); !errors.Is(err, unix.EINVAL) {
		t.Errorf("65-byte write: %v, want EINVAL", err)
	}
	small := []byte("trigger")
	if _, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(d.fd), uintptr(unsafe.Pointer(&small[0])), 1<<30); e != unix.EINVAL {
		t.Errorf("1 GiB write: %v, want EINVAL", e)
	}
	if _, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(d.fd), 0, 7); e != unix.EFAULT {
		t.Errorf("write from NULL: %v, want EFAULT", e)
	}
	if s := d.stats(); s.ActiveTimers != 0 {
		t.Errorf("timers left: %#x", s.ActiveTimers)
	}
}

// The text_ctl=0 parameter turns text control off.
func TestWrite_TextCtlOff(t *testing.T) {
	setup(t, "text_ctl=0")
	d := rw(t)
	if _, err := unix.Write(d.fd, []byte("trigger")); !errors.Is(err, unix.EINVAL) {
		t.Errorf("write with text_ctl=0: %v, want EINVAL", err)
	}
	if s := d.stats(); s.NextSeq != 1 {
		t.Errorf("write with text_ctl=0 emitted records")
	}
}

// §4.2 test 16 (part): O_ASYNC delivers SIGIO to the owner on new records;
// closing with fasync enabled leaves nothing behind.
func TestRead_Fasync(t *testing.T) {
	setup(t, "")
	w := rw(t)
	r := rw(t)
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGIO)
	defer signal.Stop(sigs)
	if _, err := unix.FcntlInt(uintptr(r.fd), unix.F_SETOWN, unix.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(r.fd), unix.F_SETFL, unix.O_NONBLOCK|unix.O_ASYNC); err != nil {
		t.Fatal(err)
	}
	w.trigger(0, 1)
	select {
	case <-sigs:
	case <-time.After(5 * time.Second):
		t.Fatal("no SIGIO after a trigger with O_ASYNC")
	}
	r.close() // fasync still on: release must remove the entry
	for len(sigs) > 0 {
		<-sigs
	}
	w.trigger(0, 1)
	select {
	case <-sigs:
		t.Error("SIGIO after the O_ASYNC file was closed")
	case <-time.After(200 * time.Millisecond):
	}
}
