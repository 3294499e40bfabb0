package server_test

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/server"
	"github.com/mypoll/mypoll/internal/linetest"
)

// mustDo sends req on c and fails unless the reply is want.
func mustDo(t *testing.T, c *conn, req, want string) {
	t.Helper()
	if r := c.Do(req); r != want {
		t.Fatalf("%s -> %q, want %q", req, r, want)
	}
}

// seqsOf returns the seqs of the EVT lines among lines.
func seqsOf(t *testing.T, lines []string) []uint64 {
	t.Helper()
	var s []uint64
	for _, l := range lines {
		e := linetest.ParseEvt(t, l)
		if e.Lost {
			t.Fatalf("unexpected %q", l)
		}
		s = append(s, e.Seq)
	}
	return s
}

// TestServer_SubscribeFilter: a client subscribed to timer:3 gets exactly
// timer 3's events (its ticks and its timer_stopped), one subscribed to
// trigger payloads exactly those triggers (A.5, A.6).
func TestServer_SubscribeFilter(t *testing.T) {
	d := startDaemon(t)
	all := d.dialSub(t, "all")
	t3 := d.dialSub(t, "timer:3")
	trg := d.dial(t)
	mustDo(t, trg, "subscribe trigger:0x9,trigger:7,trigger:9", "OK subscribe trigger:7,trigger:9")
	mixed := d.dialSub(t, "timer,trigger:8")
	ctl := d.dial(t)
	for _, req := range []string{"start_timer 1 1 5", "start_timer 3 1 4", "trigger 7 2", "trigger 8", "trigger 9", "trigger 0x9"} {
		if r := ctl.Do(req); !strings.HasPrefix(r, "OK ") {
			t.Fatalf("%s -> %q", req, r)
		}
	}
	// all gets timer 1 and 3's ticks (late ticks fold into one event:
	// up to 5 and 4), their timer_stopped, and 5 triggers.
	var want3, wantTrg, wantMixed []uint64
	stopped, triggers := 0, 0
	for stopped < 2 || triggers < 5 {
		e := all.Next()
		if e.Lost {
			t.Fatalf("all: %+v", e)
		}
		if e.Type == "trigger" {
			triggers++
		}
		switch {
		case e.Type == "trigger" && (e.Arg == 7 || e.Arg == 9):
			wantTrg = append(wantTrg, e.Seq)
		case e.Type == "trigger" && e.Arg == 8:
			wantMixed = append(wantMixed, e.Seq)
		case e.Type == "timer" || e.Type == "timer_stopped":
			wantMixed = append(wantMixed, e.Seq)
			if e.Src == 3 {
				want3 = append(want3, e.Seq)
			}
			if e.Type == "timer_stopped" {
				stopped++
			}
		}
	}
	if len(want3) < 2 || len(wantTrg) != 4 {
		t.Fatalf("all: %d timer 3 events, %d triggers 7/9; want at least 2 (a tick and timer_stopped), 4", len(want3), len(wantTrg))
	}
	slices.Sort(wantMixed)
	for _, tc := range []struct {
		name string
		c    *conn
		want []uint64
	}{{"timer:3", t3, want3}, {"trigger:7,trigger:9", trg, wantTrg}, {"timer,trigger:8", mixed, wantMixed}} {
		// Every event is broadcast by now (all has read them): the ones
		// for c precede the reply to its echo.
		tc.c.Send("echo sync")
		r, got := tc.c.Reply()
		if r != "OK echo sync" || !slices.Equal(seqsOf(t, got), tc.want) {
			t.Errorf("%s: got %q, want seqs %v", tc.name, got, tc.want)
		}
	}
}

// TestServer_SubscribeFilterChange: a bad item gets ERR subscribe EINVAL
// and leaves the subscription as it was; a new subscribe replaces it.
func TestServer_SubscribeFilterChange(t *testing.T) {
	d := startDaemon(t)
	ctl := d.dial(t)
	c := d.dialSub(t, "trigger:1")
	for _, bad := range []string{"timer:8", "trigger:1,", "trigger:x", "timer,bogus", strings.Repeat("timer,", 16) + "timer"} {
		if r := c.Do("subscribe " + bad); !strings.HasPrefix(r, "ERR subscribe EINVAL ") {
			t.Fatalf("subscribe %s -> %q, want ERR subscribe EINVAL", bad, r)
		}
	}
	ctl.Do("trigger 2") // 1
	ctl.Do("trigger 1") // 2
	c.Expect("2")
	mustDo(t, c, "subscribe trigger:2,timer:0", "OK subscribe timer:0,trigger:2")
	ctl.Do("trigger 1") // 3
	ctl.Do("trigger 2") // 4
	c.Expect("4")
	c.Send("echo sync")
	if r, skipped := c.Reply(); r != "OK echo sync" || len(skipped) > 0 {
		t.Fatalf("echo -> %q after %q", r, skipped)
	}
}

// TestServer_SubscribeFilterFrom: subscribe <filter> from= replays the
// retained events the filter matches (A.8); a from= beyond next_seq is
// ERANGE and leaves the filter as it was.
func TestServer_SubscribeFilterFrom(t *testing.T) {
	d := startDaemon(t)
	ctl := d.dial(t)
	for i := range 10 {
		ctl.Do(fmt.Sprintf("trigger %d", i%3)) // seqs 1..10, payloads 0,1,2,0,1,2,...
	}
	ctl.Do("echo barrier")
	c := d.dial(t)
	mustDo(t, c, "subscribe trigger:2 from=1", "OK subscribe trigger:2")
	c.Expect("3", "6", "9")
	if r := c.Do("subscribe trigger:0 from=99"); !strings.HasPrefix(r, "ERR subscribe ERANGE ") {
		t.Fatalf("subscribe from=99 -> %q", r)
	}
	ctl.Do("trigger 0") // 11
	ctl.Do("trigger 2") // 12
	c.Expect("12")
	// Later from=: only above the last seq sent, by the new filter.
	mustDo(t, c, "subscribe trigger:0 from=1", "OK subscribe trigger:0")
	ctl.Do("trigger 0") // 13
	c.Expect("13")
}

// TestServer_FilterDeviceOverflow: a client with a partial set gets LOST
// ... device whatever its filter, counting every seq of the range (A.6).
func TestServer_FilterDeviceOverflow(t *testing.T) {
	dev := emu.New(emu.Config{RingOrder: 4, MaxBurst: 100})
	d := startDaemon(t, withDevice(dev))
	c := d.dialSub(t, "trigger:5")
	overflowDevice(t, dev) // payload 1, seqs 1..50: the daemon reads 35..50
	ctl := d.dial(t)
	ctl.Do("trigger 5") // 51
	c.Expect("LOST 1 34 34 device", "51")
}

// TestServer_FilterQueueLostExact: under a flood a stalled subscriber to
// trigger:7 does not read, its LOST ... queue lines count exactly the
// payload-7 events of their ranges, and delivered + lost = every payload-7
// event generated (A.6).
func TestServer_FilterQueueLostExact(t *testing.T) {
	d := startDaemon(t, func(c *server.Config) { c.TXQBytes = 8192 })
	stalled := d.dialSub(t, "trigger:7")
	stalled.Net().(*net.UnixConn).SetReadBuffer(4096)
	ctl := d.dial(t)
	is7 := map[uint64]bool{}
	var total uint64
	for i := range 300 {
		p := 7 + i%2 // 7, 8, 7, 8, ...
		r := ctl.Do(fmt.Sprintf("trigger %d 100", p))
		f := strings.Fields(r)
		if len(f) != 4 || f[0] != "OK" {
			t.Fatalf("trigger -> %q", r)
		}
		first, _ := strconv.ParseUint(f[2], 10, 64)
		if p == 7 {
			for s := first; s < first+100; s++ {
				is7[s] = true
			}
			total += 100
		}
	}
	evs := stalled.Events(total)
	var lost uint64
	for _, e := range evs {
		if !e.Lost {
			if !is7[e.Seq] {
				t.Fatalf("delivered seq %d is not a payload-7 trigger", e.Seq)
			}
			continue
		}
		var n uint64
		for s := e.First; s <= e.Last; s++ {
			if is7[s] {
				n++
			}
		}
		if e.Reason != "queue" || e.Count != n {
			t.Fatalf("LOST %d %d %d %s: want count %d (payload-7 events in the range), reason queue", e.First, e.Last, e.Count, e.Reason, n)
		}
		lost += e.Count
	}
	if lost == 0 {
		t.Fatal("the stalled subscriber lost nothing: the flood did not overflow its queue")
	}
	linetest.QueueLoss(t, evs, 1)
	if r := ctl.Do("stats"); !strings.Contains(r, " lost_queue="+fmt.Sprint(lost)+" ") {
		t.Errorf("stats = %q, want lost_queue=%d", r, lost)
	}
}

// TestServer_FilterRestartNotRetained: seqs from= asks for that the
// history no longer holds are LOST ... restart counting every seq, whatever
// the filter; the retained ones replay by the filter (A.6, A.8).
func TestServer_FilterRestartNotRetained(t *testing.T) {
	d := startDaemon(t, func(c *server.Config) { c.History = 4 })
	ctl := d.dial(t)
	for i := range 10 {
		ctl.Do(fmt.Sprintf("trigger %d", 5+i%2)) // seqs 1..10, payloads 5,6,5,6,...
	}
	ctl.Do("echo barrier")
	c := d.dial(t)
	mustDo(t, c, "subscribe trigger:5 from=2", "OK subscribe trigger:5")
	c.Expect("LOST 2 6 5 restart", "7", "9") // 7..10 retained: 7 and 9 are payload 5
}
