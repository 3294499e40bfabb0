package server_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/server"
	"github.com/mypoll/mypoll/internal/linetest"
)

// TestServer_ResumeFromHistory: a client that reconnects with
// "subscribe all from=SEQ" gets the retained events it missed, and a LOST
// restart line for the ones no longer retained.
func TestServer_ResumeFromHistory(t *testing.T) {
	d := startDaemon(t, func(c *server.Config) { c.History = 8 })
	ctl := d.dial(t)
	ctl.Do("subscribe none")
	ctl.Do("trigger 0 20") // seqs 1..20; history keeps 13..20
	ctl.Do("echo barrier")

	c := d.dial(t)
	c.Send("subscribe all from=15")
	if r := c.Line(); r != "OK subscribe all" {
		t.Fatalf("subscribe from=15 -> %q", r)
	}
	c.Expect(linetest.Seqs(15, 20)...)
	ctl.Do("trigger 0 2")
	c.Expect("21", "22") // then live, no duplicates

	old := d.dial(t)
	old.Send("subscribe trigger from=3")
	if r := old.Line(); r != "OK subscribe trigger" {
		t.Fatalf("subscribe from=3 -> %q", r)
	}
	old.Expect(append([]string{"LOST 3 14 12 restart"}, linetest.Seqs(15, 22)...)...)

	// A from= equal to next_seq is the next event: it waits for it.
	fut := d.dial(t)
	fut.Send("subscribe all from=23")
	if r := fut.Line(); r != "OK subscribe all" {
		t.Fatalf("subscribe from=next_seq -> %q", r)
	}
	ctl.Do("trigger 0 4") // 23..26
	fut.Expect("23", "24", "25", "26")
}

// TestServer_ResumeBeyondNextSeq: a from= above next_seq cannot come from
// this instance (a damaged cursor): ERR subscribe ERANGE with the exact
// text of A.8, and the subscription stays as it was, both for a new
// client (still none: no event) and for a subscribed one (still its set,
// no replay, no seq twice).
func TestServer_ResumeBeyondNextSeq(t *testing.T) {
	d := startDaemon(t)
	ctl := d.dial(t)
	ctl.Do("subscribe none")
	ctl.Do("trigger 0 5") // next_seq 6

	fresh := d.dial(t)
	if r := fresh.Do("subscribe all from=7"); r != "ERR subscribe ERANGE from=7 is beyond next_seq 6" {
		t.Fatalf("subscribe all from=7 with next_seq 6 -> %q", r)
	}
	if r := fresh.Do("subscribe trigger from=1000000000001"); r != "ERR subscribe ERANGE from=1000000000001 is beyond next_seq 6" {
		t.Fatalf("subscribe from=10^12+1 -> %q", r)
	}
	sub := d.dialSub(t, "timer")
	if r := sub.Do("subscribe all from=99"); r != "ERR subscribe ERANGE from=99 is beyond next_seq 6" {
		t.Fatalf("subscribed client, from=99 -> %q", r)
	}
	ctl.Do("trigger 0 1") // seq 6: a trigger, which "timer" does not match
	fresh.Send("echo a")
	if r, skipped := fresh.Reply(); r != "OK echo a" || len(skipped) != 0 {
		t.Fatalf("fresh client after ERANGE: %q, events %v (want none: still subscribed to nothing)", r, skipped)
	}
	sub.Send("echo b")
	if r, skipped := sub.Reply(); r != "OK echo b" || len(skipped) != 0 {
		t.Fatalf("client subscribed to timer after ERANGE: %q, events %v (want none: its set is still timer)", r, skipped)
	}
	// The fresh client is still subscribed to nothing: a later subscribe
	// with a valid from= replays as a first subscribe does.
	if r := fresh.Do("subscribe all from=6"); r != "OK subscribe all" {
		t.Fatalf("subscribe all from=6 after ERANGE -> %q", r)
	}
	fresh.Expect("6")
}

// TestServer_ResumeAfterRestart: the daemon persists its position; a
// restarted daemon seeks the device there, so a client resuming with
// from= gets every event generated while the daemon was down, or a LOST
// restart line with the exact count when the device ring overwrote them.
func TestServer_ResumeAfterRestart(t *testing.T) {
	for _, tt := range []struct {
		name     string
		down     int    // events generated while the daemon is down
		wantLost string // "" when nothing is lost
	}{
		{"replayed", 5, ""},
		{"overwritten", 40, "LOST 11 34 24 restart"}, // ring 16: after seq 50, oldest is 35
	} {
		t.Run(tt.name, func(t *testing.T) {
			dev := emu.New(emu.Config{RingOrder: 4})
			state := filepath.Join(t.TempDir(), "state")
			opts := func(c *server.Config) { c.Device = dev; c.StateDir = state }
			d1 := startDaemon(t, opts)
			c := d1.dialSub(t, "all")
			ctl := d1.dial(t)
			ctl.Do("subscribe none")
			ctl.Do("trigger 0 10")
			c.Expect(linetest.Seqs(1, 10)...)
			d1.stop()

			f, err := dev.OpenFile(true)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Trigger(7, uint32(tt.down)); err != nil {
				t.Fatalf("Trigger while down: %v", err)
			}
			f.Close()

			d2 := startDaemon(t, opts)
			c2 := d2.dial(t)
			c2.Send("subscribe all from=11")
			if r := c2.Line(); r != "OK subscribe all" {
				t.Fatalf("subscribe -> %q", r)
			}
			last := 10 + tt.down
			if tt.wantLost == "" {
				c2.Expect(linetest.Seqs(11, last)...)
			} else {
				c2.Expect(append([]string{tt.wantLost}, linetest.Seqs(35, last)...)...)
			}
			ctl2 := d2.dial(t)
			ctl2.Do("subscribe none")
			ctl2.Do("trigger 0 1")
			c2.Expect(fmt.Sprint(last + 1))
		})
	}
}

// TestServer_DeviceOverflow: when the daemon falls behind the device ring,
// every subscribed client gets LOST ... device with the exact range.
func TestServer_DeviceOverflow(t *testing.T) {
	dev := emu.New(emu.Config{RingOrder: 4, MaxBurst: 100})
	d := startDaemon(t, withDevice(dev))
	c := d.dialSub(t, "all")
	overflowDevice(t, dev)
	c.Expect(deviceOverflowLines()...)
	if r := c.Do("stats"); !strings.Contains(r, " lost_device=34 ") {
		t.Errorf("stats = %q, want lost_device=34", r)
	}
}

// overflowDevice triggers one burst of 50 events on dev, whose ring must
// hold 16 (RingOrder 4): it lands in the ring at once, and the daemon can
// read at most the newest 16, so a subscriber gets deviceOverflowLines.
func overflowDevice(t *testing.T, dev *emu.Device) {
	t.Helper()
	f, err := dev.OpenFile(true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Trigger(1, 50); err != nil {
		t.Fatal(err)
	}
}

// deviceOverflowLines is what a subscriber reads after overflowDevice.
func deviceOverflowLines() []string {
	return append([]string{"LOST 1 34 34 device"}, linetest.Seqs(35, 50)...)
}
