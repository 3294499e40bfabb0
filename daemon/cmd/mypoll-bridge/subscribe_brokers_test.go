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
// and no loss message covers the seqs it did not subscribe to.
func TestBridge_SubscribeTrigger(t *testing.T) { checkBridgeFilter(t, "trigger") }

// A bridge started with --subscribe timer:1,trigger:1000 publishes timer
// 1's ticks and stop and the burst of triggers with payload 1000, nothing
// else.
func TestBridge_SubscribeSources(t *testing.T) { checkBridgeFilter(t, "timer:1,trigger:1000") }

// checkBridgeFilter runs a bridge with --subscribe set over a workload of
// two timers and bursts of triggers (payload = the events still to come:
// 2000, 1950, ..., 50, then 1) and checks that the broker gets exactly the
// events client.Filter.Match selects from what a client subscribed to all
// on the same daemon received (the ground truth), and no loss message.
func checkBridgeFilter(t *testing.T, set string) {
	f, err := client.ParseFilter(set)
	if err != nil {
		t.Fatal(err)
	}
	m := brokertest.StartMosquitto(t, "")
	c := brokertest.NewConsumer(t, m.URL())
	d := startDaemon(t)
	b := startBridge(t, d, "dev-sub", []string{m.URL()}, "--subscribe", set)
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
	for id, ticks := range []uint64{50, 30} {
		if err := truth.StartTimer(ctx, uint32(id), time.Duration(2+id)*time.Millisecond, ticks); err != nil {
			t.Fatal(err)
		}
	}
	d.triggerPaced(2000, 50, 2*time.Millisecond)
	var events []client.Event
	next := func(until func(client.Event) bool) {
		for {
			msg, err := truth.Next(ctx)
			if err != nil || msg.Event == nil {
				t.Fatalf("ground truth: %+v, %v; want only events", msg, err)
			}
			events = append(events, *msg.Event)
			if until(*msg.Event) {
				return
			}
		}
	}
	stopped := 0
	next(func(e client.Event) bool { // both timers' ticks and stops
		if e.Type == "timer_stopped" {
			stopped++
		}
		return stopped == 2
	})
	last := d.trigger(1)
	next(func(e client.Event) bool { return e.Seq == last })

	// Published in seq order on one connection: once the last matching
	// event is there, so is every one before it.
	var lastMatch uint64
	want := map[uint64]bool{}
	for _, e := range events {
		if f.Match(e) {
			lastMatch, want[e.Seq] = e.Seq, true
		}
	}
	if lastMatch == 0 {
		t.Fatalf("the workload has no event that %s matches", set)
	}
	inst, _ := c.WaitCovered("dev-sub", lastMatch, lastMatch)
	kinds := map[string]int{}
	for _, e := range events {
		got, published := c.Event("dev-sub", inst, e.Seq)
		switch {
		case want[e.Seq] && (!published || got.Type != e.Type || got.SourceID != uint64(e.SourceID) || got.Arg != e.Arg):
			t.Errorf("seq %d (%s %d %d): published %v as %+v, want it", e.Seq, e.Type, e.SourceID, e.Arg, published, got)
		case !want[e.Seq] && published:
			t.Errorf("seq %d (%s %d %d) published, want it filtered out by %s", e.Seq, e.Type, e.SourceID, e.Arg, set)
		}
		kinds[e.Type]++
	}
	if kinds["trigger"] != 2001 || kinds["timer"] < 2 || kinds["timer_stopped"] != 2 {
		t.Errorf("ground truth: %v, want 2001 triggers, ticks and 2 stops", kinds)
	}
	if l := c.Losses("dev-sub", inst); len(l) != 0 {
		t.Errorf("loss messages %+v, want none", l)
	}
	b.stop()
	c.CheckWellFormed()
}
