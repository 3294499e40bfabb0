package tests_test

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mypoll/mypoll/internal/linetest"
)

// TestDaemon drives mypolld on the real /dev/mypoll in the aarch64 guest,
// only through connections proxied to its socket, as a client on a board
// would. One VM for the subtests; the kernel log is checked after each.
func TestDaemon(t *testing.T) {
	g := boot(t, 1)
	sub := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			f(t)
			g.checkKernel(t)
		})
	}

	sub("greeting", func(t *testing.T) {
		c := g.dial(t)
		in := g.info(t)
		if c.hello[3] != in.InstanceID || in.InstanceID == "0000000000000000" {
			t.Errorf("HELLO instance_id %s, device says %s", c.hello[3], in.InstanceID)
		}
		if next := u64(t, c.hello[4]); next != in.NextSeq {
			t.Errorf("HELLO next_seq %d, device next_seq %d", next, in.NextSeq)
		}
		if got := c.stat("instance_id"); got != in.InstanceID {
			t.Errorf("stats instance_id %s, want %s", got, in.InstanceID)
		}
	})

	sub("requests", func(t *testing.T) {
		c := g.dial(t)
		c.do("subscribe none")
		next := u64(t, c.hello[4])
		for _, tt := range []struct{ req, want string }{
			{"echo over the proxy", "OK echo over the proxy"},
			{"trigger 0x10 4", fmt.Sprintf("OK trigger %d 4", next)},
			{"trigger 1 0", "ERR trigger EINVAL "},
			{"trigger 1 4097", "ERR trigger EINVAL "},
			{"start_timer 6 60000 3", "OK start_timer 6"}, // long: a slow link (a UART) must not let it finish
			{"start_timer 6 60000", "ERR start_timer EBUSY "},
			{"timers", "OK timers 6:60000:"},
			{"stop_timer 6", "OK stop_timer 6"},
			{"stop_timer 6", "ERR stop_timer ENOENT "},
			{"start_timer 8 10", "ERR start_timer EINVAL "},
			{"start_timer 1 0", "ERR start_timer EINVAL "},
			{"subscribe timer,trigger", "OK subscribe all"},
			{"subscribe nonsense", "ERR subscribe EINVAL "},
			{"help", "OK help echo trigger start_timer stop_timer timers subscribe stats open_device help quit"},
			{"bogus", "ERR bogus ENOSYS "},
			{"echo \x01", "ERR - EILSEQ "},
			{"echo " + strings.Repeat("x", 2000), "ERR - E2BIG "},
			{"echo alive", "OK echo alive"},
		} {
			if got := c.do(tt.req); !strings.HasPrefix(got, tt.want) || (strings.HasSuffix(tt.want, " ") && len(got) == len(tt.want)) {
				t.Errorf("%.30q -> %q, want %q", tt.req, got, tt.want)
			}
		}
		c.send("quit")
		for l := c.line(); l != "OK quit"; l = c.line() {
		}
	})

	sub("broadcast to 16 clients", func(t *testing.T) {
		cs := make([]*conn, 16)
		for i := range cs {
			cs[i] = g.dial(t)
			cs[i].do("subscribe trigger")
		}
		ctl := g.dial(t)
		ctl.do("subscribe none")
		const bursts, burst = 10, 100
		first := uint64(0)
		for b := range bursts {
			r := strings.Fields(ctl.do(fmt.Sprintf("trigger %d %d", b, burst)))
			if len(r) != 4 || r[0] != "OK" {
				t.Fatalf("trigger -> %v", r)
			}
			if b == 0 {
				first = u64(t, r[2])
			}
		}
		var wg sync.WaitGroup
		got := make([][]evt, len(cs))
		for i, c := range cs {
			wg.Go(func() { got[i] = c.events(bursts * burst) })
		}
		wg.Wait()
		for i, evs := range got {
			for j, e := range evs {
				if e.lost || e.seq != first+uint64(j) || e.arg != uint64(j/burst) || e.aux != uint64(j%burst) {
					t.Fatalf("client %d event %d = %+v, want seq %d arg %d aux %d", i, j, e, first+uint64(j), j/burst, j%burst)
				}
			}
		}
	})

	sub("timer at 10 ms", func(t *testing.T) {
		c := g.dial(t)
		c.do("subscribe timer")
		ctl := g.dial(t)
		ctl.do("subscribe none")
		if r := ctl.do("start_timer 2 10"); r != "OK start_timer 2" {
			t.Fatalf("start_timer -> %q", r)
		}
		time.Sleep(3 * time.Second)
		if r := ctl.do("stop_timer 2"); r != "OK stop_timer 2" {
			t.Fatalf("stop_timer -> %q", r)
		}
		var last, records, coalesced uint64
		for {
			e := c.next()
			if e.lost {
				t.Fatalf("timer subscriber lost events: %+v", e)
			}
			if e.src != 2 {
				t.Fatalf("event from timer %d: %+v", e.src, e)
			}
			if e.typ == "timer_stopped" {
				if e.arg != last || e.aux != 0 {
					t.Fatalf("timer_stopped arg %d aux %d; want final tick %d, reason 0 (stop)", e.arg, e.aux, last)
				}
				break
			}
			if e.typ != "timer" || e.arg != last+e.aux+1 {
				t.Fatalf("tick record %+v after tick %d: want arg = %d + aux + 1", e, last, last)
			}
			last = e.arg
			records++
			coalesced += e.aux
		}
		if last < 100 {
			t.Errorf("only %d ticks in 3 s at 10 ms", last)
		}
		t.Logf("%d ticks in %d records (%d coalesced into aux)", last, records, coalesced)
	})

	sub("LOST device while the daemon is stopped", func(t *testing.T) {
		c := g.dialSub(t, "all")
		ctl := g.dial(t)
		ctl.do("subscribe none")
		r := strings.Fields(ctl.do("trigger 1 1"))
		s0 := u64(t, r[2])
		c.expect(fmt.Sprint(s0)) // the daemon has read everything
		ring := g.info(t).RingSize
		g.signal(t, "STOP")
		const n = 3000
		if first := g.triggerDirect(t, n); first != s0+1 {
			t.Fatalf("direct trigger first_seq %d, want %d", first, s0+1)
		}
		g.signal(t, "CONT")
		lostN := n - ring
		c.expect(append([]string{fmt.Sprintf("LOST %d %d %d device", s0+1, s0+lostN, lostN)}, seqs(s0+lostN+1, s0+n)...)...)
		if r := c.do("echo after"); r != "OK echo after" {
			t.Errorf("echo -> %q", r)
		}
	})

	sub("LOST queue for a stalled client only", func(t *testing.T) {
		stalled := g.dialSub(t, "all")
		healthy := []*conn{g.dialSub(t, "all"), g.dialSub(t, "all"), g.dialSub(t, "all")}
		ctl := g.dial(t)
		ctl.do("subscribe none")
		before := u64(t, ctl.stat("lost_queue"))
		first := u64(t, ctl.hello[4])
		const total, burst = 20000, 250
		var wg sync.WaitGroup
		got := make([][]evt, len(healthy))
		for i, c := range healthy {
			wg.Go(func() { got[i] = c.events(total) })
		}
		for range total / burst {
			if r := ctl.do(fmt.Sprintf("trigger 9 %d", burst)); !strings.HasPrefix(r, "OK trigger") {
				t.Fatalf("trigger -> %q", r)
			}
		}
		wg.Wait()
		for i, evs := range got {
			for j, e := range evs {
				if e.lost || e.seq != first+uint64(j) {
					t.Fatalf("healthy client %d line %d = %+v, want EVT seq %d", i, j, e, first+uint64(j))
				}
			}
		}
		lost := linetest.QueueLoss(t, stalled.Events(total), first)
		if lost == 0 {
			t.Fatalf("the stalled client lost nothing: it was not stalled")
		}
		if d := u64(t, ctl.stat("lost_queue")) - before; d != lost {
			t.Errorf("stats lost_queue grew by %d, the client was told %d", d, lost)
		}
		t.Logf("stalled client: %d of %d events reported lost", lost, total)
	})

	sub("open_device", func(t *testing.T) {
		var out struct {
			FirstSeq uint64 `json:"first_seq"`
			Records  []struct {
				Seq, Arg, Aux uint64
				Type          string
			} `json:"records"`
			CursorBefore uint64 `json:"cursor_before"`
			CursorAfter  uint64 `json:"cursor_after"`
			Trigger      string `json:"trigger_errno"`
			TimerStart   string `json:"timer_start_errno"`
			Write        string `json:"write_errno"`
			ReadOnly     bool   `json:"read_only"`
		}
		g.probe(t, &out, "opendevice", "--socket", sock)
		if len(out.Records) != 3 {
			t.Fatalf("read %d records from the passed fd, want 3: %+v", len(out.Records), out)
		}
		for i, r := range out.Records {
			if r.Seq != out.FirstSeq+uint64(i) || r.Type != "trigger" || r.Arg != 77 || r.Aux != uint64(i) {
				t.Errorf("record %d = %+v, want trigger seq %d arg 77 aux %d", i, r, out.FirstSeq+uint64(i), i)
			}
		}
		if out.CursorBefore != out.FirstSeq || out.CursorAfter != out.FirstSeq+3 {
			t.Errorf("own cursor %d -> %d, want %d -> %d", out.CursorBefore, out.CursorAfter, out.FirstSeq, out.FirstSeq+3)
		}
		if out.Trigger != "EBADF" || out.TimerStart != "EBADF" || out.Write != "EBADF" || !out.ReadOnly {
			t.Errorf("control on the passed fd: trigger %s, timer_start %s, write %s, read-only %v; want EBADF and read-only",
				out.Trigger, out.TimerStart, out.Write, out.ReadOnly)
		}
		// Through the proxy the fd cannot travel: the reply still comes, honestly without it.
		c := g.dial(t)
		if r := c.do("open_device"); r != "OK open_device" {
			t.Errorf("open_device over the proxy -> %q", r)
		}
	})

	sub("control group", func(t *testing.T) {
		g.imageSkipUnlessSysV(t, "restarts mypolld with --socket-mode 0666, which mypolld.socket sets under systemd")
		// Everyone may connect (0666); only root and group 4242 may control.
		g.daemon(t, "restart", append(defaultDaemonArgs, "--socket-mode", "0666", "--control-group", "4242")...)
		defer g.daemon(t, "restart", defaultDaemonArgs...)
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"--uid", "65534", "--gid", "65534", "trigger"}, "ERR trigger EPERM "},
			{[]string{"--uid", "65534", "--gid", "65534", "start_timer", "1", "100"}, "ERR start_timer EPERM "},
			{[]string{"--uid", "65534", "--gid", "65534", "open_device"}, "ERR open_device EPERM "},
			{[]string{"--uid", "65534", "--gid", "65534", "echo", "hi"}, "OK echo hi"},
			{[]string{"--uid", "65534", "--gid", "4242", "trigger"}, "OK trigger "},
			{[]string{"--uid", "65534", "--gid", "65534", "--groups", "4242", "trigger"}, "OK trigger "},
			{[]string{"trigger"}, "OK trigger "}, // root
		} {
			var out struct{ Reply string }
			g.probe(t, &out, append([]string{"request", "--socket", sock}, tt.args...)...)
			if !strings.HasPrefix(out.Reply, tt.want) {
				t.Errorf("%v -> %q, want %q", tt.args, out.Reply, tt.want)
			}
		}
	})

	sub("SIGTERM flushes queued replies and exits 0", func(t *testing.T) {
		defer g.daemon(t, "start", defaultDaemonArgs...)
		c := g.dial(t)
		c.do("subscribe none")
		payload := strings.Repeat("y", 900)
		var b strings.Builder
		const n = 400
		for i := range n {
			fmt.Fprintf(&b, "echo %d %s\n", i, payload)
		}
		go c.nc.Write([]byte(b.String()))
		time.Sleep(time.Second) // let replies pile up (nothing below depends on how many)
		g.signal(t, "TERM")
		got := 0
		for {
			l, err := c.ReadLine()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read after SIGTERM: %v", err)
			}
			if want := fmt.Sprintf("OK echo %d %s", got, payload); l != want {
				t.Fatalf("reply %d = %.30q, want %.30q", got, l, want)
			}
			got++
		}
		if got == 0 {
			t.Fatalf("no reply flushed")
		}
		if imageMode {
			// Only the agent sees the exit status of a daemon it started.
			g.imageDaemonGone(t)
			t.Logf("%d of %d replies flushed; mypolld exited (status not visible in an image)", got, n)
			return
		}
		st := g.daemon(t, "status")
		for deadline := time.Now().Add(g.wait); st.State == "running" && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond) // the agent reaps the daemon after its last close
			st = g.daemon(t, "status")
		}
		if !strings.Contains(st.State, "exit") || strings.Contains(st.State, "status") || strings.Contains(st.State, "signal") {
			t.Errorf("daemon state after SIGTERM %q, want a clean exit (status 0)", st.State)
		}
		t.Logf("%d of %d replies flushed; daemon %s", got, n, st.State)
	})
}
