//go:build mypoll_guest

package ktest

import (
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// unloadEventually retries delete_module while deferred fputs finish.
func unloadEventually(t *testing.T) {
	t.Helper()
	var err error
	for range 100 {
		if err = unloadModule(); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("rmmod after the last reference went away: %v", err)
}

func wantInUse(t *testing.T, what string) {
	t.Helper()
	err := unloadModule()
	if !errors.Is(err, unix.EWOULDBLOCK) {
		t.Fatalf("rmmod with %s: %v, want EWOULDBLOCK (in use)", what, err)
	}
	if !moduleLoaded() {
		t.Fatalf("module gone after a refused rmmod with %s", what)
	}
}

// §4.3 test 18: every kind of reference keeps rmmod from succeeding.
func TestLife_RmmodInUse(t *testing.T) {
	t.Run("open", func(t *testing.T) {
		setup(t, "")
		d := rw(t)
		wantInUse(t, "an open fd")
		d.close()
		unloadEventually(t)
	})
	t.Run("dup", func(t *testing.T) {
		setup(t, "")
		d := rw(t)
		dup, err := unix.Dup(d.fd)
		if err != nil {
			t.Fatal(err)
		}
		d.close()
		wantInUse(t, "a dup")
		unix.Close(dup)
		unloadEventually(t)
	})
	t.Run("child", func(t *testing.T) {
		setup(t, "")
		d := rw(t)
		cmd, _ := helper(t, "hold", []int{d.fd})
		d.close()
		wantInUse(t, "a child's fd")
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		unloadEventually(t)
	})
	t.Run("scm_rights", func(t *testing.T) {
		setup(t, "")
		d := rw(t)
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Sendmsg(sp[0], []byte{1}, unix.UnixRights(d.fd), nil, 0); err != nil {
			t.Fatal(err)
		}
		d.close()
		wantInUse(t, "an fd in flight in SCM_RIGHTS")
		unix.Close(sp[0])
		unix.Close(sp[1])
		unloadEventually(t)
	})
	t.Run("epoll", func(t *testing.T) {
		setup(t, "")
		d := rw(t)
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(ep)
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, d.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(d.fd)}); err != nil {
			t.Fatal(err)
		}
		d.close()
		unloadEventually(t) // epoll holds no reference
	})
}

// §4.3 test 19 (scaled: 20 rounds instead of 500): unload with timers
// running and no fds open.
func TestLife_UnloadWithTimers(t *testing.T) {
	for round := range 20 {
		setup(t, "min_period_us=100")
		d := rw(t)
		for id := range uint32(maxTimers) {
			d.timerStart(id, time.Duration(100+50*id)*time.Microsecond, 0, 0)
		}
		if round%2 == 1 {
			time.Sleep(5 * time.Millisecond)
		}
		d.close()
		unloadEventually(t)
	}
	checkKernel(t)
}

// §4.3 test 20 (scaled: 10 cycles): open() racing insmod/rmmod.
func TestLife_OpenVsReload(t *testing.T) {
	setup(t, "")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var opened, failed int
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			fd, err := unix.Open(devPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.ENXIO) {
					t.Errorf("open during reload: %v", err)
				}
				failed++
				time.Sleep(100 * time.Microsecond)
				continue
			}
			opened++
			var s stats
			ioctl(fd, iocGetStats, unsafePtr(&s))
			unix.Close(fd)
		}
	})
	for range 10 {
		for {
			err := unloadModule()
			if err == nil {
				break
			}
			if !errors.Is(err, unix.EWOULDBLOCK) {
				t.Fatalf("rmmod: %v", err)
			}
		}
		if err := loadModule("test_hooks=1"); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d opens succeeded, %d failed", opened, failed)
	if opened == 0 {
		t.Error("no open succeeded between reloads")
	}
}

// §4.3 test 21: SIGKILL of a process blocked in read that owns timers
// stops them, one TIMER_STOPPED (reason 2) each.
func TestLife_KillOwner(t *testing.T) {
	setup(t, "")
	r := rw(t)
	cmd, out := helper(t, "owner", nil)
	if s := readLine(t, out); s != "ready" {
		t.Fatalf("owner helper: %s", s)
	}
	time.Sleep(50 * time.Millisecond)
	if s := r.stats(); s.ActiveTimers != 0xf || s.Readers != 2 {
		t.Fatalf("with the owner running: %+v", s)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	s := r.stats()
	if s.ActiveTimers != 0 || s.Readers != 1 {
		t.Fatalf("after SIGKILL: active %#x readers %d", s.ActiveTimers, s.Readers)
	}
	stopped := map[uint32]int{}
	lastTick := map[uint32]uint64{}
	for _, e := range r.drain() {
		switch e.Type {
		case evTimer:
			if stopped[e.Src] > 0 {
				t.Errorf("TIMER %v after its TIMER_STOPPED", e)
			}
			lastTick[e.Src] = e.Arg
		case evTimerStopped:
			stopped[e.Src]++
			if e.Aux != reasonClosed || e.Arg != lastTick[e.Src] {
				t.Errorf("TIMER_STOPPED %v, want reason 2 and final tick %d", e, lastTick[e.Src])
			}
		}
	}
	for id := range uint32(4) {
		if stopped[id] != 1 {
			t.Errorf("timer %d: %d TIMER_STOPPED records, want 1", id, stopped[id])
		}
	}
}

// §4.3 test 22: the unplug hook: readers drain then get ENODEV, poll says
// EPOLLHUP|EPOLLERR, new opens fail, a Go os.File reader gets an error.
func TestLife_Unplug(t *testing.T) {
	setup(t, "")
	w := rw(t)
	pending := rw(t)
	blocked := openDev(t, unix.O_RDONLY)
	gof, err := os.OpenFile(devPath, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer gof.Close()
	w.timerStart(0, time.Millisecond, 0, timerOwned)
	time.Sleep(20 * time.Millisecond)
	w.timerStopErr(0)
	pending.drain()
	gof.Read(make([]byte, 1<<16)) // drain the Go reader too (it is non-blocking inside)
	w.trigger(1, 5)
	blockedDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<16)
		for {
			if _, err := unix.Read(blocked.fd, buf); err != nil {
				blockedDone <- err
				return
			}
		}
	}()
	goDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<16)
		for {
			if _, err := gof.Read(buf); err != nil {
				goDone <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	unplug(t)
	for name, ch := range map[string]chan error{"blocked read": blockedDone, "os.File read": goDone} {
		select {
		case err := <-ch:
			if !errors.Is(err, unix.ENODEV) {
				t.Errorf("%s after unplug: %v, want ENODEV", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still blocked 10s after unplug", name)
		}
	}
	pfd := []unix.PollFd{{Fd: int32(pending.fd), Events: unix.POLLIN | unix.POLLPRI | unix.POLLOUT}}
	if _, err := unix.Poll(pfd, 0); err != nil {
		t.Fatal(err)
	}
	if want := int16(unix.POLLIN | unix.POLLHUP | unix.POLLERR); pfd[0].Revents&want != want {
		t.Errorf("poll after unplug with records left = %#x, want IN|HUP|ERR", pfd[0].Revents)
	}
	evs, err := pending.readSome(64)
	if err != nil || len(evs) != 5 || evs[0].Arg != 1 {
		t.Errorf("remaining records after unplug: %v, %v", evs, err)
	}
	if _, err := pending.readSome(64); !errors.Is(err, unix.ENODEV) {
		t.Errorf("read of a drained fd after unplug: %v, want ENODEV", err)
	}
	if _, err := unix.Poll(pfd, 0); err != nil || pfd[0].Revents&unix.POLLERR == 0 || pfd[0].Revents&unix.POLLHUP == 0 {
		t.Errorf("poll of a drained fd after unplug = %#x: a bare or missing ERR/HUP", pfd[0].Revents)
	}
	if _, err := unix.Open(devPath, unix.O_RDONLY, 0); !errors.Is(err, unix.ENODEV) {
		t.Errorf("open after unplug: %v, want ENODEV", err)
	}
	if _, err := w.triggerErr(0, 1); !errors.Is(err, unix.ENODEV) {
		t.Errorf("trigger after unplug: %v, want ENODEV", err)
	}
	if err := w.timerStartErr(timerArg{ID: 1, PeriodNS: 1e6}); !errors.Is(err, unix.ENODEV) {
		t.Errorf("timer start after unplug: %v, want ENODEV", err)
	}
	if s := w.stats(); s.ActiveTimers != 0 {
		t.Errorf("active timers %#x after unplug", s.ActiveTimers)
	}
}

// §4.3 test 23: bad parameters fail the load cleanly; a good load follows.
func TestLife_BadParams(t *testing.T) {
	setup(t, "")
	if err := unloadModule(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"ring_order=0", "ring_order=3", "ring_order=17", "ring_order=100", "ring_order=-1",
		"max_burst=0", "max_burst=65537", "max_burst=-5", "min_period_us=99", "min_period_us=0",
		"min_period_us=4000000000", "text_ctl=maybe", "ring_order=abc",
	} {
		err := loadModule(p)
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("load with %s: %v, want EINVAL", p, err)
		}
		if moduleLoaded() {
			t.Fatalf("module loaded with %s", p)
		}
		if _, err := os.Stat(devPath); err == nil {
			t.Errorf("%s left after a failed load with %s", devPath, p)
		}
	}
	for _, p := range []string{"ring_order=4 max_burst=65536 min_period_us=100", "ring_order=16 text_ctl=0"} {
		if err := loadModule(p + " test_hooks=1"); err != nil {
			t.Fatalf("load with %s after failed loads: %v", p, err)
		}
		d := rw(t)
		i := d.info()
		if !strings.Contains(p, "ring_order=4") == (i.RingSize == 16) {
			t.Errorf("%s: info %+v", p, i)
		}
		d.close()
		unloadEventually(t)
	}
	if err := loadModule("test_hooks=1"); err != nil {
		t.Fatal(err)
	}
}

// unplug writes the debugfs unplug hook.
func unplug(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile("/sys/kernel/debug/mypoll/unplug", os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("unplug hook: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString("1\n"); err != nil {
		t.Fatalf("unplug hook: %v", err)
	}
}
