package server_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/server"
	"github.com/mypoll/mypoll/internal/linetest"
)

// streamCheck checks one connection's EVT and LOST lines (PROTOCOL.md A.6):
// every seq at most once, strictly increasing over the whole connection.
type streamCheck struct {
	t    testing.TB
	name string
	last uint64 // highest seq seen (as EVT or inside a LOST); 0 before any
	evts int
}

func (s *streamCheck) add(l string) evt {
	s.t.Helper()
	e := linetest.ParseEvt(s.t, l)
	first, last := e.Seq, e.Seq
	if e.Lost {
		first, last = e.First, e.Last
		if last < first || e.Count == 0 || e.Count > last-first+1 {
			s.t.Fatalf("%s: malformed %q", s.name, l)
		}
	} else {
		s.evts++
	}
	if first <= s.last {
		s.t.Fatalf("%s: %q after seq %d: a seq twice or out of order", s.name, l, s.last)
	}
	s.last = last
	return e
}

// TestServer_NoEventsBeforeSubscribe: a client that never subscribes gets
// no EVT and no LOST line, while subscribed clients get events, device
// overflows and queue overflows (A.5).
func TestServer_NoEventsBeforeSubscribe(t *testing.T) {
	t.Run("device overflow", func(t *testing.T) {
		dev := emu.New(emu.Config{RingOrder: 4, MaxBurst: 100})
		d := startDaemon(t, withDevice(dev))
		silent := d.dial(t)
		sub := d.dialSub(t, "all")
		overflowDevice(t, dev)
		sub.Expect(deviceOverflowLines()...)
		silent.Send("echo sync")
		if r, skipped := silent.Reply(); r != "OK echo sync" || len(skipped) > 0 {
			t.Fatalf("unsubscribed client: echo -> %q after %q; want no EVT or LOST", r, skipped)
		}
	})
	t.Run("queue overflow", func(t *testing.T) {
		d := startDaemon(t, func(c *server.Config) { c.TXQBytes = 8192 })
		silent := d.dial(t)
		silent.Net().(*net.UnixConn).SetReadBuffer(4096)
		sub := d.dialSub(t, "all")
		// A subscriber that does not read gets LOST ... queue; the silent
		// client, with the same small buffers, must get nothing.
		stalled := d.dialSub(t, "all")
		stalled.Net().(*net.UnixConn).SetReadBuffer(4096)
		ctl := d.dial(t)
		const flood = 20000
		for range flood / 100 {
			if r := ctl.Do("trigger 2 100"); !strings.HasPrefix(r, "OK trigger ") {
				t.Fatalf("trigger -> %q", r)
			}
			for _, e := range sub.Events(100) {
				if e.Lost {
					t.Fatalf("reading subscriber lost %+v", e)
				}
			}
		}
		sc := &streamCheck{t: t, name: "stalled"}
		var lost uint64
		for _, e := range stalled.Events(flood) {
			if e.Lost {
				lost += e.Count
			}
			sc.add(lineOf(e))
		}
		if lost == 0 {
			t.Fatalf("the stalled subscriber lost nothing: the flood did not overflow a queue")
		}
		silent.Send("echo sync")
		if r, skipped := silent.Reply(); r != "OK echo sync" || len(skipped) > 0 {
			t.Fatalf("unsubscribed client: echo -> %q after %q; want no EVT or LOST", r, skipped)
		}
		if r := ctl.Do("stats"); !strings.Contains(r, " lost_queue="+fmt.Sprint(lost)+" ") {
			t.Errorf("stats = %q, want lost_queue=%d (the silent client lost nothing)", r, lost)
		}
	})
}

// lineOf turns a parsed evt back into its wire form for streamCheck.
func lineOf(e evt) string {
	if e.Lost {
		return fmt.Sprintf("LOST %d %d %d %s", e.First, e.Last, e.Count, e.Reason)
	}
	return fmt.Sprintf("EVT %d %s 0 %d %d 0", e.Seq, e.Type, e.Arg, e.Aux)
}

// TestServer_ResumeFirstRequestOrdered: under a continuous event flow, a
// client whose first request is "subscribe all from=X" gets the reply
// first, then the replay from X, then live events: every seq from X on
// exactly once, strictly increasing (A.8; issue 9).
func TestServer_ResumeFirstRequestOrdered(t *testing.T) {
	d := startDaemon(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		ctl := d.dial(t)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r := ctl.Do("trigger 7 3"); !strings.HasPrefix(r, "OK trigger ") {
				t.Errorf("trigger -> %q", r)
				return
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	const iterations = 300
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range iterations {
		c := d.dial(t)
		hello := strings.Fields(c.Hello)
		next, err := strconv.ParseUint(hello[len(hello)-1], 10, 64)
		if err != nil || next == 0 {
			t.Fatalf("greeting %q: no next_seq", c.Hello)
		}
		back := rng.Uint64N(40)
		from := max(next-min(back, next-1), 1)
		c.Send(fmt.Sprintf("subscribe all from=%d", from))
		if r := c.Line(); r != "OK subscribe all" {
			t.Fatalf("iteration %d: first line after subscribe from=%d = %q, want the reply", i, from, r)
		}
		sc := &streamCheck{t: t, name: fmt.Sprintf("iteration %d", i), last: from - 1}
		for sc.last < next+10 {
			want := sc.last + 1
			e := sc.add(c.Line())
			// Every event is a trigger and history is large: nothing is
			// skipped, so each line continues exactly where the last ended.
			if e.Lost || e.Seq != want {
				t.Fatalf("iteration %d: got %+v, want EVT %d", i, e, want)
			}
		}
		c.Net().Close()
	}
}

// TestServer_LaterSubscribeFromNeverRepeats: a subscribe from= on a
// connection that already got events replays only seqs above the last one
// it was sent (A.8).
func TestServer_LaterSubscribeFromNeverRepeats(t *testing.T) {
	d := startDaemon(t)
	ctl := d.dial(t)
	c := d.dialSub(t, "trigger")
	ctl.Do("trigger 0 10") // 1..10
	c.Expect(linetest.Seqs(1, 10)...)
	if r := c.Do("subscribe all from=3"); r != "OK subscribe all" {
		t.Fatalf("subscribe all from=3 -> %q", r)
	}
	ctl.Do("trigger 0 2") // 11..12
	c.Expect("11", "12")

	// Events skipped while subscribed to none are above the last one sent:
	// they are replayed.
	c.Do("subscribe none")
	ctl.Do("trigger 0 5") // 13..17
	ctl.Do("echo barrier")
	c.Send("subscribe all from=1")
	if r, skipped := c.Reply(); r != "OK subscribe all" || len(skipped) > 0 {
		t.Fatalf("subscribe all from=1 -> %q after %q", r, skipped)
	}
	c.Expect(linetest.Seqs(13, 17)...)
	ctl.Do("trigger 0 1")
	c.Expect("18")

	// A from= above the last sent seq (and not beyond next_seq) skips to it.
	c.Do("subscribe none")
	ctl.Do("trigger 0 9") // 19..27
	ctl.Do("echo barrier")
	if r := c.Do("subscribe all from=25"); r != "OK subscribe all" {
		t.Fatalf("subscribe all from=25 -> %q", r)
	}
	c.Expect("25", "26", "27")
}

// TestServer_SubscribeFromStress: clients send subscribe requests (sets,
// from= backwards and forwards) at random moments while events flow, some
// with small queues that overflow and a history that replays overtake; on
// every connection no seq ever comes twice or out of order.
func TestServer_SubscribeFromStress(t *testing.T) {
	d := startDaemon(t, func(c *server.Config) { c.History = 64; c.TXQBytes = 8192 })
	stop := make(chan struct{})
	var gen sync.WaitGroup
	gen.Go(func() {
		ctl := d.dial(t)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req := "trigger 1 20"
			if i%10 == 0 {
				req = "trigger 1 200"
			}
			if r := ctl.Do(req); !strings.HasPrefix(r, "OK trigger ") {
				t.Errorf("trigger -> %q", r)
				return
			}
		}
	})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			c := d.dial(t)
			sc := &streamCheck{t: t, name: fmt.Sprintf("client %d", g)}
			sets := []string{"all", "trigger", "none", "timer", "trigger:1", "timer:0,trigger:1"}
			for range 150 {
				set := sets[rng.IntN(len(sets))]
				req := "subscribe " + set
				if rng.IntN(3) > 0 {
					from := sc.last + 1
					if n := rng.Uint64N(300); rng.IntN(2) == 0 {
						from -= min(n, sc.last) // backwards: must not repeat
					} else {
						from += n
					}
					req += fmt.Sprintf(" from=%d", from)
				}
				c.Send(req)
				for {
					l := c.Line()
					// A from= beyond next_seq gets ERANGE (A.8) and
					// leaves the subscription as it was.
					if strings.HasPrefix(l, "OK ") || strings.HasPrefix(l, "ERR subscribe ERANGE ") {
						break
					}
					sc.add(l)
				}
				// Read a few lines at the pace of a slow client.
				for range rng.IntN(40) {
					c.Send("echo x")
					for {
						l := c.Line()
						if l == "OK echo x" {
							break
						}
						sc.add(l)
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	gen.Wait()
}

// FuzzSubscribeFrom drives one connection through a sequence of requests
// decoded from the input (subscribe with sets and from= values around the
// last seq it was sent, triggers, device overflows, unread floods) and
// checks A.6 on everything it receives: no seq twice, strictly increasing.
func FuzzSubscribeFrom(f *testing.F) {
	f.Add([]byte{1, 0, 0, 5, 2, 0, 1, 3, 0, 0, 20, 2})
	f.Add([]byte{1, 0, 9, 0, 40, 3, 1, 1, 2, 1, 2, 0, 0, 3, 2})
	f.Add([]byte{0, 60, 1, 0, 0, 4, 1, 0, 250, 2, 3, 1, 0, 3, 2})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 96 {
			ops = ops[:96] // bound the work per input
		}
		dev := emu.New(emu.Config{RingOrder: 5, MaxBurst: 200})
		d := startDaemon(t, withDevice(dev), func(c *server.Config) { c.History = 16; c.TXQBytes = 4096 })
		ctl := d.dial(t)
		c := d.dial(t)
		sc := &streamCheck{t: t, name: "fuzzed client"}
		sets := []string{"all", "trigger", "none", "timer", "trigger:1", "trigger:2,trigger:3", "timer:1,trigger:3", "trigger:0"}
		// drain reads c's lines up to the reply to an echo.
		drain := func() {
			c.Send("echo sync")
			for {
				l := c.Line()
				if l == "OK echo sync" {
					return
				}
				if strings.HasPrefix(l, "OK ") || strings.HasPrefix(l, "ERR ") {
					continue // the reply to an earlier request
				}
				sc.add(l)
			}
		}
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%5, uint64(ops[i+1])
			switch op {
			case 0: // events through the daemon
				if r := ctl.Do(fmt.Sprintf("trigger 1 %d", 1+arg%100)); !strings.HasPrefix(r, "OK trigger ") {
					t.Fatalf("trigger -> %q", r)
				}
			case 1: // subscribe, from= near the last seq sent
				req := "subscribe " + sets[(arg^arg>>3)%8]
				if arg&4 != 0 {
					from := int64(sc.last) + int64(arg>>3) - 10
					req += fmt.Sprintf(" from=%d", max(from, 0))
				}
				c.Send(req)
			case 2:
				drain()
			case 3: // a burst the daemon cannot read in time: device overflow
				df, err := dev.OpenFile(true)
				if err != nil {
					t.Fatal(err)
				}
				df.Trigger(2, uint32(1+arg%200))
				df.Close()
			case 4: // a flood c does not read: queue overflow
				for range 1 + arg%4 {
					ctl.Do("trigger 3 200")
				}
			}
		}
		drain()
	})
}
