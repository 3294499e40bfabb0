//go:build brokers

package main

import (
	"context"
	"testing"
	"time"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/internal/brokertest"
)

// A bridge started with --subscribe trigger publishes exactly the trigger
// events: every trigger seq arrives, no timer or timer_stopped event does,
// and no loss message covers the seqs it did not subscribe to. A client
// subscribed to all on the same daemon is the ground truth.
func TestBridge_SubscribeTrigger(t *testing.T) {
	m := brokertest.StartMosquitto(t, "")
	c := brokertest.NewConsumer(t, m.URL())
	d := startDaemon(t)
	b := startBridge(t, d, "dev-sub", []string{m.URL()}, "--subscribe", "trigger")
	b.p.WaitLog(t, "mypolld connected")
	c.WaitStatus("dev-sub", `"online":true`)

	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	truth, err := client.Dial(ctx, d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer truth.Close()
	if err := truth.Subscribe(ctx, "all", 0); err != nil {
		t.Fatal(err)
	}
	ctl, err := client.Dial(ctx, d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if err := ctl.StartTimer(ctx, 0, 2*time.Millisecond, 100); err != nil {
		t.Fatal(err)
	}
	d.triggerPaced(2000, 50, 2*time.Millisecond)
	types := map[uint64]string{}
	var first uint64
	for stopped := false; !stopped; { // the timer's ticks and its stop
		msg, err := truth.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Event == nil {
			t.Fatalf("ground truth: %+v, want only events", msg.Lost)
		}
		if first == 0 {
			first = msg.Event.Seq
		}
		types[msg.Event.Seq] = msg.Event.Type
		stopped = msg.Event.Type == "timer_stopped"
	}
	last := d.trigger(1) // after the timer: the last seq of the test
	for {
		msg, err := truth.Next(ctx)
		if err != nil || msg.Event == nil {
			t.Fatalf("ground truth: %+v, %v", msg, err)
		}
		types[msg.Event.Seq] = msg.Event.Type
		if msg.Event.Seq == last {
			break
		}
	}

	// Published in seq order on one connection: once the last trigger is
	// there, so is everything before it.
	inst, _ := c.WaitCovered("dev-sub", last, last)
	triggers, timers := 0, 0
	for seq := first; seq <= last; seq++ {
		typ, ok := types[seq]
		if !ok {
			t.Fatalf("ground truth has no seq %d", seq)
		}
		e, got := c.Event("dev-sub", inst, seq)
		switch {
		case typ == "trigger" && (!got || e.Type != "trigger"):
			t.Errorf("trigger seq %d: published %v (%+v), want it", seq, got, e)
		case typ != "trigger" && got:
			t.Errorf("%s seq %d published as %+v, want it filtered out", typ, seq, e)
		}
		if typ == "trigger" {
			triggers++
		} else {
			timers++
		}
	}
	// A late tick may carry several expirations in one event: at least a
	// tick and the stop.
	if triggers != 2001 || timers < 2 {
		t.Errorf("ground truth: %d triggers and %d timer events, want 2001 and at least 2", triggers, timers)
	}
	if l := c.Losses("dev-sub", inst); len(l) != 0 {
		t.Errorf("loss messages %+v, want none", l)
	}
	b.stop()
	c.CheckWellFormed()
}
