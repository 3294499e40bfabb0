package tests_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mypoll/mypoll/internal/linetest"
)

// TestSubscribeFilter drives subscribe filters (PROTOCOL.md A.5, A.6) on
// the real /dev/mypoll in the guest: a timer:3 subscriber sees exactly
// timer 3's events, and a stalled timer:3,trigger:7 subscriber's LOST ...
// queue counts are exact under a flood.
func TestSubscribeFilter(t *testing.T) {
	g := boot(t, 1)
	g.subtest(t, "timer:3 sees exactly timer 3", func(t *testing.T) {
		t3 := g.dialSub(t, "timer:3")
		all := g.dialSub(t, "all")
		ctl := g.dial(t)
		for _, req := range []string{"start_timer 1 20 10", "start_timer 3 30 5", "trigger 3 5", "trigger 0x3"} {
			if r := ctl.do(req); !strings.HasPrefix(r, "OK ") {
				t.Fatalf("%s -> %q", req, r)
			}
		}
		// all reads until both timers stopped and the 6 triggers came.
		var want []uint64
		stopped, triggers := 0, 0
		for stopped < 2 || triggers < 6 {
			e := all.next()
			switch {
			case e.lost:
				t.Fatalf("all: %+v", e)
			case e.typ == "trigger":
				triggers++
			case e.typ == "timer_stopped":
				stopped++
			}
			if (e.typ == "timer" || e.typ == "timer_stopped") && e.src == 3 {
				want = append(want, e.seq)
			}
		}
		if len(want) < 2 {
			t.Fatalf("timer 3 made %d events, want ticks and a timer_stopped", len(want))
		}
		// Every event is broadcast by now: t3's precede its echo reply.
		t3.send("echo sync")
		r, lines := t3.Reply()
		var got []uint64
		for _, l := range lines {
			e := parse(t, l)
			if e.lost || e.src != 3 || e.typ == "trigger" {
				t.Errorf("timer:3 subscriber got %q", l)
			}
			got = append(got, e.seq)
		}
		if r != "OK echo sync" || !slices.Equal(got, want) {
			t.Errorf("timer:3 subscriber: seqs %v then %q, want seqs %v", got, r, want)
		}
	})

	g.subtest(t, "exact LOST queue counts for a stalled filtered client", func(t *testing.T) {
		stalled := g.dialSub(t, "timer:3,trigger:7")
		healthy := g.dialSub(t, "all")
		ctl := g.dial(t)
		ctl.do("subscribe none")
		before := u64(t, ctl.stat("lost_queue"))
		// Three bursts in four match: more than the proxy, the socket and
		// the TX queue hold for a client that does not read.
		const total, burst = 40000, 250
		// healthy reads every event: the truth for the stalled client.
		match := map[uint64]bool{}
		var nMatch uint64
		var wg sync.WaitGroup
		wg.Go(func() {
			stopped, triggers := false, 0
			for !stopped || triggers < total {
				e := healthy.next()
				if e.lost {
					t.Errorf("healthy client lost %+v", e)
					return
				}
				if e.typ == "trigger" {
					triggers++
				}
				if (e.typ == "timer" || e.typ == "timer_stopped") && e.src == 3 {
					stopped = stopped || e.typ == "timer_stopped"
					match[e.seq] = true
				}
				if e.typ == "trigger" && e.arg == 7 {
					match[e.seq] = true
				}
			}
		})
		if r := ctl.do("start_timer 3 5 40"); r != "OK start_timer 3" {
			t.Fatalf("start_timer -> %q", r)
		}
		for i := range total / burst {
			if r := ctl.do(fmt.Sprintf("trigger %d %d", 7+i%4/3, burst)); !strings.HasPrefix(r, "OK trigger") {
				t.Fatalf("trigger -> %q", r)
			}
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		nMatch = uint64(len(match))
		var lost, delivered uint64
		evs := stalled.Events(nMatch)
		for _, e := range evs {
			if !e.Lost {
				if !match[e.Seq] {
					t.Fatalf("stalled client got EVT %d, not a timer 3 or payload 7 event", e.Seq)
				}
				delivered++
				continue
			}
			var n uint64
			for s := e.First; s <= e.Last; s++ {
				if match[s] {
					n++
				}
			}
			if e.Count != n {
				t.Errorf("LOST %d %d %d %s: the range holds %d matching events", e.First, e.Last, e.Count, e.Reason, n)
			}
			lost += e.Count
		}
		linetest.QueueLoss(t, evs, 1)
		if lost == 0 {
			t.Fatalf("the stalled client lost nothing: it was not stalled")
		}
		if delivered+lost != nMatch {
			t.Errorf("delivered %d + lost %d != %d matching events", delivered, lost, nMatch)
		}
		if d := u64(t, ctl.stat("lost_queue")) - before; d != lost {
			t.Errorf("stats lost_queue grew by %d, the client was told %d", d, lost)
		}
		t.Logf("stalled timer:3,trigger:7 client: %d matching events, %d delivered, %d reported lost", nMatch, delivered, lost)
	})
}

// subtest runs f as t's subtest name on g, then checks the kernel log.
func (g *guest) subtest(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		f(t)
		g.checkKernel(t)
	})
}
