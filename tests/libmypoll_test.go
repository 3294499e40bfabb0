package tests_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The libmypoll examples (libmypoll/examples), cross-built static for arm64
// and put in the image by mk/libmypoll.mk.
const (
	cListen  = "/bin/mypoll-listen"
	cTrigger = "/bin/mypoll-trigger"
)

// TestLibmypoll runs the C examples in the guest against mypolld on the real
// /dev/mypoll: events triggered through libmypoll, replayed from a seq, and
// received live in the example's poll loop.
func TestLibmypoll(t *testing.T) {
	g := boot(t, 2)
	run := func(argv ...string) string {
		t.Helper()
		res, err := g.vm.Exec(t.Context(), argv, nil)
		if err != nil {
			t.Fatalf("%v: %v", argv, err)
		}
		if res.ExitCode != 0 {
			t.Fatalf("%v: exit %d (signal %q, timed out %v): %s", argv, res.ExitCode, res.Signal, res.TimedOut, res.Stderr)
		}
		return string(res.Stdout)
	}
	// checkEvents parses listen's output and checks n trigger events from
	// seq first on, with payload and index in burst.
	checkEvents := func(t *testing.T, out string, first uint64, n int, payload uint64) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != n {
			t.Fatalf("listen printed %d lines, want %d:\n%s", len(lines), n, out)
		}
		for i, l := range lines {
			e := parse(t, l)
			want := evt{seq: first + uint64(i), typ: "trigger", arg: payload, aux: uint64(i)}
			if e.lost || e.seq != want.seq || e.typ != want.typ || e.arg != want.arg || e.aux != want.aux || e.src != 0 {
				t.Errorf("line %d = %q, want EVT %d trigger 0 %d %d", i, l, want.seq, want.arg, want.aux)
			}
		}
	}

	t.Run("trigger and replay", func(t *testing.T) {
		in := g.info(t)
		f := strings.Fields(run(cTrigger, "-s", sock, "-p", "77", "-c", "5"))
		if len(f) != 2 || f[1] != "5" {
			t.Fatalf("trigger printed %q, want \"<first_seq> 5\"", f)
		}
		first := u64(t, f[0])
		if first < in.NextSeq {
			t.Errorf("first_seq %d, device next_seq before was %d", first, in.NextSeq)
		}
		// A new client resumes from first: the daemon replays the five.
		out := run(cListen, "-s", sock, "-e", "trigger", "-f", fmt.Sprint(first), "-n", "5")
		checkEvents(t, out, first, 5, 77)
		g.checkKernel(t)
	})

	t.Run("open_device", func(t *testing.T) {
		// The descriptor comes from the daemon by SCM_RIGHTS into the
		// library; the example reads the first triggered record from it.
		f := strings.Fields(run(cTrigger, "-s", sock, "-p", "5", "-c", "2", "-d"))
		if len(f) != 3 || f[1] != "2" || f[2] != f[0] {
			t.Fatalf("trigger -d printed %q, want \"<first_seq> 2 <first_seq>\"", f)
		}
		g.checkKernel(t)
	})

	t.Run("live", func(t *testing.T) {
		c := g.dial(t)
		c.do("subscribe none")
		base := libmypollStat(t, c, "clients")
		// -f next: whether the trigger lands before or after the
		// example's subscribe, it receives the three exactly once.
		next := libmypollStat(t, c, "next_seq")
		type result struct {
			out string
			err error
		}
		done := make(chan result, 1)
		go func() {
			res, err := g.vm.Exec(t.Context(), []string{cListen, "-s", sock, "-e", "trigger", "-f", fmt.Sprint(next), "-n", "3"}, nil)
			if err == nil && res.ExitCode != 0 {
				err = fmt.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
			}
			done <- result{string(res.Stdout), err}
		}()
		// Trigger once the example is connected (usually live, then).
		deadline := time.Now().Add(g.wait)
		for libmypollStat(t, c, "clients") <= base {
			if time.Now().After(deadline) {
				t.Fatal("the C listener never connected")
			}
			time.Sleep(20 * time.Millisecond)
		}
		reply := c.do("trigger 0x2a 3")
		f := strings.Fields(reply)
		if len(f) != 4 || f[0] != "OK" {
			t.Fatalf("trigger: %q", reply)
		}
		var r result
		select {
		case r = <-done:
		case <-time.After(g.wait):
			t.Fatal("the C listener did not receive 3 events")
		}
		if r.err != nil {
			t.Fatalf("listen: %v", r.err)
		}
		if u64(t, f[2]) != next {
			t.Fatalf("trigger: %q, want first_seq %d", reply, next)
		}
		checkEvents(t, r.out, next, 3, 42)
		g.checkKernel(t)
	})
}

// libmypollStat returns a numeric key of the daemon's stats reply.
func libmypollStat(t *testing.T, c *conn, key string) uint64 {
	t.Helper()
	reply := c.do("stats")
	for _, kv := range strings.Fields(reply)[2:] {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("stats: %q", reply)
			}
			return n
		}
	}
	t.Fatalf("stats without %s: %q", key, reply)
	return 0
}
