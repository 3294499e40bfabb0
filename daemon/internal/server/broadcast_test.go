package server_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/server"
	"github.com/mypoll/mypoll/daemon/internal/sys"
	"github.com/mypoll/mypoll/internal/linetest"
)

func TestServer_BroadcastOrder(t *testing.T) {
	d := startDaemon(t)
	const clients, bursts, burst = 64, 20, 50
	cs := make([]*conn, clients)
	for i := range cs {
		cs[i] = d.dialSub(t, "all")
	}
	ctl := d.dial(t)
	ctl.Do("subscribe none")
	// Bursts from several controllers at once; the device orders them.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			c := d.dial(t)
			c.Do("subscribe none")
			for b := range bursts / 4 {
				if r := c.Do(fmt.Sprintf("trigger %d %d", g*1000+b, burst)); !strings.HasPrefix(r, "OK trigger ") {
					t.Errorf("trigger -> %q", r)
				}
			}
		})
	}
	wg.Wait()
	const total = bursts * burst
	var ref []evt
	for i, c := range cs {
		evs := c.Events(total)
		for j, e := range evs {
			if e.Lost {
				t.Fatalf("client %d: %v at %d: nothing may be lost here", i, e, j)
			}
			if e.Seq != uint64(j+1) || e.Type != "trigger" {
				t.Fatalf("client %d event %d = %+v, want seq %d trigger", i, j, e, j+1)
			}
		}
		if i == 0 {
			ref = evs
			continue
		}
		for j := range evs {
			if evs[j] != ref[j] {
				t.Fatalf("client %d event %d = %+v, client 0 got %+v", i, j, evs[j], ref[j])
			}
		}
	}
}

func TestServer_SubscribeSets(t *testing.T) {
	d := startDaemon(t)
	trig := d.dial(t)
	trig.Do("subscribe trigger")
	none := d.dial(t)
	none.Do("subscribe none")
	tim := d.dial(t)
	tim.Do("subscribe timer")
	ctl := d.dial(t)
	ctl.Do("subscribe none")
	ctl.Do("trigger 9 2")
	ctl.Do("start_timer 1 1 2") // two ticks, then timer_stopped
	// The timer subscriber sees exactly the timer's records: its ticks up
	// to 2, then timer_stopped. A late expiry folds both ticks into one
	// record (arg 2, aux 1; PROTOCOL.md B.2), so count ticks, not lines.
	var got []string
	ticks := uint64(0)
	for len(got) == 0 || got[len(got)-1] == "timer" {
		e := linetest.ParseEvt(t, tim.Line())
		got = append(got, e.Type)
		if e.Type == "timer" {
			ticks += e.Aux + 1
			if e.Arg != ticks {
				t.Errorf("timer record arg %d aux %d after %d ticks", e.Arg, e.Aux, ticks-e.Aux-1)
			}
		}
	}
	if got[len(got)-1] != "timer_stopped" || ticks != 2 || len(got) > 3 {
		t.Errorf("timer subscriber got %v (%d ticks), want timer records of 2 ticks then timer_stopped", got, ticks)
	}
	for range 2 {
		if e := linetest.ParseEvt(t, trig.Line()); e.Type != "trigger" || e.Arg != 9 {
			t.Errorf("trigger subscriber got %+v", e)
		}
	}
	// Nothing else is pending for the trigger or none subscribers: the
	// next line each gets is the reply to a fresh echo.
	for _, c := range []*conn{trig, none} {
		c.Send("echo sync")
		if r, skipped := c.Reply(); r != "OK echo sync" || len(skipped) > 0 {
			t.Errorf("echo sync -> %q after unexpected lines %q", r, skipped)
		}
	}
}

// TestServer_StalledClient: one client stops reading; it gets LOST ...
// queue with exact counts while 15 healthy clients lose nothing.
func TestServer_StalledClient(t *testing.T) {
	d := startDaemon(t)
	stalled := d.dialSub(t, "all")
	// Shrink the stalled client's socket buffers so its TX queue fills fast.
	stalled.Net().(interface{ SetReadBuffer(int) error }).SetReadBuffer(4096)
	healthy := make([]*conn, 15)
	for i := range healthy {
		healthy[i] = d.dialSub(t, "all")
	}
	ctl := d.dial(t)
	ctl.Do("subscribe none")
	const total, burst = 20000, 100
	var wg sync.WaitGroup
	results := make([][]evt, len(healthy))
	progress := make([]atomic.Int64, len(healthy))
	for i, c := range healthy {
		wg.Go(func() {
			for range total / burst {
				results[i] = append(results[i], c.Events(burst)...)
				progress[i].Add(burst)
			}
		})
	}
	// Healthy readers may lag by at most maxLag events (well within their
	// 64 KiB queue): this is what "healthy" means on a loaded test machine.
	const maxLag = 1000
	for sent := 0; sent < total; sent += burst {
		for i := range progress {
			for int(progress[i].Load()) < sent-maxLag {
				time.Sleep(100 * time.Microsecond)
			}
		}
		if r := ctl.Do(fmt.Sprintf("trigger 1 %d", burst)); !strings.HasPrefix(r, "OK trigger") {
			t.Fatalf("trigger -> %q", r)
		}
	}
	wg.Wait()
	for i, evs := range results {
		if len(evs) != total {
			t.Fatalf("healthy client %d: %d lines, want %d events", i, len(evs), total)
		}
		for j, e := range evs {
			if e.Lost || e.Seq != uint64(j+1) {
				t.Fatalf("healthy client %d line %d = %+v, want EVT seq %d", i, j, e, j+1)
			}
		}
	}
	// The stalled client now reads: events it got plus LOST counts cover
	// every seq exactly once, in order, and the losses are reported as queue.
	lost := linetest.QueueLoss(t, stalled.Events(total), 1)
	if lost == 0 {
		t.Fatalf("stalled client lost nothing: the test did not stall it")
	}
	r := ctl.Do("stats")
	if !strings.Contains(r, fmt.Sprintf(" lost_queue=%d ", lost)) {
		t.Errorf("stats = %q, want lost_queue=%d", r, lost)
	}
}

// TestServer_RepliesUnderBackpressure: a client that pipelines many echoes
// while events flood its queue gets every reply, in order.
func TestServer_RepliesUnderBackpressure(t *testing.T) {
	d := startDaemon(t, func(c *server.Config) { c.TXQBytes = 8192 })
	c := d.dialSub(t, "all")
	ctl := d.dial(t)
	ctl.Do("subscribe none")
	// Fill c's queue with events it does not read yet.
	for range 20 {
		ctl.Do("trigger 0 1000")
	}
	const n = 3000
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "echo %d\n", i)
	}
	done := make(chan struct{})
	go func() { defer close(done); c.SendRaw(b.String()) }()
	next := 0
	for next < n {
		l := c.Line()
		if strings.HasPrefix(l, "EVT ") || strings.HasPrefix(l, "LOST ") {
			continue
		}
		if want := "OK echo " + strconv.Itoa(next); l != want {
			t.Fatalf("reply = %q, want %q", l, want)
		}
		next++
	}
	<-done
}

// readCounter wraps a device and counts the reads of its Files that found
// nothing (sys.ErrWouldBlock).
type readCounter struct {
	device.Device
	empty atomic.Int64
}

func (r *readCounter) Open(write bool) (device.File, error) {
	f, err := r.Device.Open(write)
	if err != nil {
		return nil, err
	}
	return &countedFile{File: f, empty: &r.empty}, nil
}

type countedFile struct {
	device.File
	empty *atomic.Int64
}

func (f *countedFile) Read(buf []byte) (int, error) {
	n, err := f.File.Read(buf)
	if errors.Is(err, sys.ErrWouldBlock) {
		f.empty.Add(1)
	}
	return n, err
}

// TestServer_DeviceReadStopsShort: a device read that returns fewer
// records than asked for has emptied the ring, so the server does not
// read again to be told EAGAIN (one wasted syscall per batch on the
// kernel device). Records that come later arrive by readiness.
func TestServer_DeviceReadStopsShort(t *testing.T) {
	rc := &readCounter{Device: emu.New(emu.Config{})}
	d := startDaemon(t, withDevice(rc))
	sub := d.dialSub(t, "all")
	pub := d.dial(t)
	for i := range 50 {
		if r := pub.Do(fmt.Sprintf("trigger %d 1", i)); !strings.HasPrefix(r, "OK trigger ") {
			t.Fatalf("trigger -> %q", r)
		}
		if e := sub.Next(); e.Arg != uint64(i) {
			t.Fatalf("event %+v, want payload %d", e, i)
		}
	}
	// 100 records: a full read of 64, then a short one.
	if r := pub.Do("trigger 77 100"); !strings.HasPrefix(r, "OK trigger ") {
		t.Fatalf("trigger -> %q", r)
	}
	for _, e := range sub.Events(100) {
		if e.Arg != 77 {
			t.Fatalf("event %+v, want payload 77", e)
		}
	}
	if n := rc.empty.Load(); n != 0 {
		t.Errorf("%d device reads found nothing, want 0", n)
	}
}
