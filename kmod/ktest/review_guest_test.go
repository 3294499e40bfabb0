//go:build mypoll_guest

package ktest

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests for the fixes of issue 8's review: reader concurrency like evdev
// and /dev/kmsg, and TRIGGER bursts written in short lock holds.

// within runs f in a goroutine on its own OS thread and fails t if it has
// not returned after d.
func within(t *testing.T, what string, d time.Duration, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		done <- f()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	case <-time.After(d):
		t.Errorf("%s: still blocked after %v", what, d)
	}
}

// A reader blocked in read() does not hold up SEEK, GET_READER, or a
// read() that another thread makes non-blocking on the same file (it must
// get EAGAIN, not wait behind the blocked reader).
func TestReview_BlockedReaderLeavesFileUsable(t *testing.T) {
	setup(t, "")
	d := openDev(t, unix.O_RDWR)
	w := rw(t)
	blocked := make(chan []event, 1)
	go func() {
		runtime.LockOSThread()
		evs, err := d.readSome(4)
		if err != nil {
			t.Errorf("blocked read: %v", err)
		}
		blocked <- evs
	}()
	time.Sleep(200 * time.Millisecond)
	within(t, "SEEK(LIVE) while another thread blocks in read", 3*time.Second, func() error {
		return d.seekErr(seekLive, 0)
	})
	within(t, "GET_READER while another thread blocks in read", 3*time.Second, func() error {
		var ri readerInfo
		return ioctlReader(d.fd, &ri)
	})
	if _, err := unix.FcntlInt(uintptr(d.fd), unix.F_SETFL, unix.O_RDWR|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	within(t, "non-blocking read while another thread blocks in read", 3*time.Second, func() error {
		_, err := d.readSome(1)
		if !errors.Is(err, unix.EAGAIN) {
			return errors.New("got " + errString(err) + ", want EAGAIN")
		}
		return nil
	})
	first := w.trigger(7, 1)
	select {
	case evs := <-blocked:
		if len(evs) != 1 || evs[0].Seq != first || evs[0].Arg != 7 {
			t.Errorf("blocked read returned %v, want the record %d", evs, first)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked read did not return after TRIGGER")
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// SEEK makes a file readable at once: a poller sleeping on it wakes up.
func TestReview_SeekWakesPoller(t *testing.T) {
	setup(t, "")
	d := rw(t)
	d.trigger(1, 5)
	if got := len(d.drain()); got != 5 {
		t.Fatalf("drained %d records, want 5", got)
	}
	type res struct {
		n       int
		revents int16
		took    time.Duration
		err     error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		fds := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}}
		start := time.Now()
		n, err := unix.Poll(fds, 5000)
		ch <- res{n, fds[0].Revents, time.Since(start), err}
	}()
	time.Sleep(300 * time.Millisecond) // the poller is asleep by now
	d.seek(seekOldest, 0)
	r := <-ch
	if r.err != nil || r.n != 1 || r.revents&unix.POLLIN == 0 {
		t.Fatalf("poll after SEEK(OLDEST) = %d revents %#x err %v, want POLLIN", r.n, r.revents, r.err)
	}
	if r.took > 3*time.Second {
		t.Errorf("poll woke after %v: SEEK did not wake it", r.took)
	}
	if got := len(d.drain()); got != 5 {
		t.Errorf("read %d records after SEEK(OLDEST), want 5", got)
	}
}

// A burst longer than the ring leaves exactly its last ring_size records,
// with their burst index in aux, after one OVERFLOW naming the rest.
func TestReview_BurstKeepsLast(t *testing.T) {
	setup(t, "ring_order=4 max_burst=1000")
	d := rw(t)
	w := rw(t)
	w.trigger(0, 3) // something older to be evicted
	first := w.trigger(0xabc, 1000)
	evs := d.drain()
	if len(evs) != 17 {
		t.Fatalf("read %d records, want OVERFLOW + 16: %v", len(evs), evs)
	}
	if o := evs[0]; o.Type != evOverflow || o.Seq != 1 || o.Aux != 3+1000-16 {
		t.Errorf("first record %v, want OVERFLOW seq 1 count %d", o, 3+1000-16)
	}
	for i, e := range evs[1:] {
		idx := uint64(1000 - 16 + i)
		if e.Type != evTrigger || e.Seq != first+idx || e.Aux != idx || e.Arg != 0xabc {
			t.Errorf("record %d = %v, want TRIGGER seq %d aux %d", i, e, first+idx, idx)
		}
	}
	if s := w.stats(); s.Generated != 1003 || s.TriggerEvents != 1003 || s.NextSeq != 1004 {
		t.Errorf("stats %+v, want 1003 generated and trigger events", s)
	}
}

// Maximum bursts (written in chunks) against timers and blocking readers
// following the chunks: every reader's stream stays gap-free (holes only
// as OVERFLOW records), every record is accounted for, the invariants hold.
func TestReview_MaxBurstsWithReaders(t *testing.T) {
	setup(t, "ring_order=16 max_burst=65536 min_period_us=100")
	w := rw(t)
	w.timerStart(0, 200*time.Microsecond, 0, 0)
	w.timerStart(1, 1*time.Millisecond, 0, 0)
	const readers = 3
	var wg sync.WaitGroup
	stop := make(chan struct{})
	checks := make([]streamCheck, readers)
	for i := range readers {
		d := openDev(t, unix.O_RDONLY)
		wg.Go(func() {
			runtime.LockOSThread()
			buf := make([]byte, 333*eventSize) // not a divisor of the chunk size
			for {
				n, err := unix.Read(d.fd, buf)
				if err != nil {
					t.Errorf("reader %d: %v", i, err)
					return
				}
				if err := checks[i].add(decode(buf[:n])); err != nil {
					t.Errorf("reader %d: %v", i, err)
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	deadline := time.Now().Add(3 * time.Second)
	bursts := 0
	for time.Now().Before(deadline) {
		w.trigger(uint64(bursts), 65536)
		bursts++
	}
	close(stop)
	w.timerStopErr(0)
	w.timerStopErr(1)
	w.trigger(0, 1) // wake readers that are blocked
	wg.Wait()
	checkKernel(t)
	s := w.stats()
	for i := range checks {
		c := checks[i]
		if c.records == 0 || c.next == 0 {
			t.Errorf("reader %d read nothing", i)
		}
		if c.next > s.NextSeq {
			t.Errorf("reader %d at seq %d beyond next_seq %d", i, c.next, s.NextSeq)
		}
	}
	t.Logf("%d bursts of 65536, stats %+v, reader 0: %d records %d lost", bursts, s, checks[0].records, checks[0].lost)
}
