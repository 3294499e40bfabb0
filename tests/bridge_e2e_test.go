//go:build brokers

package tests_test

// The fleet bridge end to end (issue 13, PROTOCOL.md C): mypolld runs on
// the real /dev/mypoll in the guest, which has no network; its socket is
// forwarded to a host path, and mypoll-bridge runs on the host against it,
// publishing into a real mosquitto on 127.0.0.1. Built with the tag
// brokers (it needs Debian's mosquitto); make test-bridge-e2e runs it.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/internal/brokertest"
)

// buildBridge builds the host's mypoll-bridge into a temp dir.
func buildBridge(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mypoll-bridge")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../daemon/cmd/mypoll-bridge")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build mypoll-bridge: %v\n%s", err, out)
	}
	return bin
}

// forward serves the guest daemon's socket on a host path (qemu's
// VM.Forward) until the test ends, and returns the path once it answers
// with a greeting.
func (g *guest) forward(t *testing.T) string {
	t.Helper()
	host := filepath.Join(t.TempDir(), "mypoll.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.vm.Forward(ctx, host, sock) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("forward: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(t.Context(), g.wait)
	defer wcancel()
	for {
		c, err := client.Dial(wctx, host)
		if err == nil {
			_ = c.Close()
			return host
		}
		select {
		case err := <-done:
			t.Fatalf("forward %s: %v", host, err)
		case <-wctx.Done():
			t.Fatalf("forwarded socket %s does not answer: %v", host, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ctlConn is a protocol client to the guest daemon over the harness.
func (g *guest) ctlConn(t *testing.T) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), g.wait)
	defer cancel()
	nc, err := g.vm.Dial(ctx, sock)
	if err != nil {
		t.Fatalf("dial %s in the guest: %v", sock, err)
	}
	c, err := client.NewConnContext(ctx, nc)
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// trig is what a trigger record carries: the payload and the index in its
// burst (arg and aux, PROTOCOL.md B.2).
type trig struct{ payload, index uint64 }

// triggers sends n triggers with payload in bursts of burst and records
// each seq's trigger in want.
func triggers(t *testing.T, c *client.Conn, payload uint64, n, burst int, want map[uint64]trig) uint64 {
	t.Helper()
	var last uint64
	for n > 0 {
		k := min(n, burst)
		first, got, err := c.Trigger(t.Context(), payload, uint32(k))
		if err != nil {
			t.Fatalf("trigger %d %d: %v", payload, k, err)
		}
		for i := range uint64(got) {
			want[first+i] = trig{payload, i}
		}
		last = first + uint64(got) - 1
		n -= k
		time.Sleep(2 * time.Millisecond) // pacing, not synchronisation: a flood the proxy keeps up with
	}
	return last
}

// TestBridgeE2E: the bridge carries the guest's events (triggers and a
// 10 ms timer) into mosquitto; mypolld is stopped mid-stream, the device
// emits more events while it is down, and it is started again on the same
// device instance. The consumer sees one instance_id, every seq from the
// bridge's start to the last as an event or inside a loss message (C.3),
// and each event's payload as the device produced it.
func TestBridgeE2E(t *testing.T) {
	g := boot(t, 1)
	imageSkip(t, "stops and starts the harness's mypolld")
	bin := buildBridge(t)
	host := g.forward(t)
	m := brokertest.StartMosquitto(t, "")
	c := brokertest.NewConsumer(t, m.URL())

	ctl := g.ctlConn(t)
	h := ctl.Hello()
	inst := fmt.Sprintf("%016x", h.InstanceID)
	const dev = "guest"
	b := brokertest.Start(t, bin, "--socket", host, "--broker", m.URL(), "--device-id", dev,
		"--state-dir", filepath.Join(t.TempDir(), "state"), "--keepalive", "2s", "--log-level", "debug")
	c.WaitStatus(dev, `"online":true`)
	b.WaitLog(t, "mypolld connected: instance_id="+inst+" from="+fmt.Sprint(h.NextSeq))
	start := h.NextSeq

	want := map[uint64]trig{} // trigger seq -> what it carries
	const timerID = 3
	if err := ctl.StartTimer(t.Context(), timerID, 10*time.Millisecond, 0); err != nil {
		t.Fatalf("start_timer: %v", err)
	}
	last1 := triggers(t, ctl, 42, 1500, 100, want)
	c.WaitCoveredInstance(dev, inst, start, last1)

	// mypolld stops mid-stream (the timer is device state and ticks on);
	// the device emits a burst nobody reads; mypolld starts again and
	// resumes the device where it stopped (--state-dir, A.8).
	g.daemon(t, "stop")
	direct := g.triggerDirect(t, 200)
	for i := range uint64(200) {
		want[direct+i] = trig{5, i} // mypollprobe's payload
	}
	g.daemon(t, "start", defaultDaemonArgs...)
	ctl = g.ctlConn(t)
	if got := ctl.Hello().InstanceID; got != h.InstanceID {
		t.Fatalf("instance_id after the restart %016x, want %016x (same module)", got, h.InstanceID)
	}
	waitCount(t, b.Log, "mypolld connected: instance_id="+inst+" from=", 2)
	triggers(t, ctl, 43, 1500, 100, want)
	if err := ctl.StopTimer(t.Context(), timerID); err != nil {
		t.Fatalf("stop_timer: %v", err)
	}
	last := triggers(t, ctl, 44, 1, 1, want) // after the timer_stopped record

	lost := c.WaitCoveredInstance(dev, inst, start, last)
	if ids := c.Instances(dev); len(ids) != 1 || ids[0] != inst {
		t.Errorf("instances %v, want only %s", ids, inst)
	}
	if n := strings.Count(readFile(t, b.Log), "mypolld connected"); n != 2 {
		t.Errorf("bridge connected to mypolld %d times, want 2 (start, after the restart)", n)
	}
	// Losses: the flood may overrun the bridge's TX queue in mypolld (a
	// slow reader through the proxy: queue) but the device ring held what
	// was emitted while mypolld was down (no restart loss), and the bridge
	// dropped nothing (no bridge loss).
	for _, l := range c.Losses(dev, inst) {
		if l.Reason != "queue" && l.Reason != "device" {
			t.Errorf("loss %+v, want none but queue or device", l)
		}
	}
	if lost > (last-start+1)/2 {
		t.Errorf("%d of %d seqs only in loss messages: %+v", lost, last-start+1, c.Losses(dev, inst))
	}

	// Payloads: each trigger with its payload, source 0 and its index in
	// the burst; the timer's ticks increasing; one timer_stopped (reason
	// 0, stop); timestamps not decreasing with seq.
	var ticks, stopped, delivered int
	var lastTick, lastTS uint64
	for seq := start; seq <= last; seq++ {
		e, ok := c.Event(dev, inst, seq)
		if !ok {
			continue
		}
		delivered++
		if e.TimestampNS < lastTS {
			t.Errorf("seq %d: ts_ns %d before the previous event's %d", seq, e.TimestampNS, lastTS)
		}
		lastTS = e.TimestampNS
		p, isTrigger := want[seq]
		switch {
		case isTrigger:
			if e.Type != "trigger" || e.SourceID != 0 || e.Arg != p.payload || e.Aux != p.index {
				t.Errorf("seq %d: %+v, want a trigger with payload %d, index %d", seq, e, p.payload, p.index)
			}
		case e.Type == "timer":
			if e.SourceID != timerID || e.Arg <= lastTick {
				t.Errorf("seq %d: %+v, want timer %d with a tick after %d", seq, e, timerID, lastTick)
			}
			lastTick = e.Arg
			ticks++
		case e.Type == "timer_stopped":
			if e.SourceID != timerID || e.Aux != 0 {
				t.Errorf("seq %d: %+v, want timer %d stopped by request (aux 0)", seq, e, timerID)
			}
			stopped++
		default:
			t.Errorf("seq %d: %+v, not a trigger, timer or timer_stopped", seq, e)
		}
	}
	if stopped != 1 || ticks == 0 {
		t.Errorf("%d timer events and %d timer_stopped, want some and exactly one", ticks, stopped)
	}
	t.Logf("seqs %d..%d: %d events delivered (%d timer ticks), %d only in loss messages %+v",
		start, last, delivered, ticks, lost, c.Losses(dev, inst))
	c.CheckWellFormed()
	g.checkKernel(t)
}

// waitCount waits until the log at path holds s n times.
func waitCount(t *testing.T, path, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(brokertest.Timeout)
	for strings.Count(readFile(t, path), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q fewer than %d times after %v", path, s, n, brokertest.Timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}
