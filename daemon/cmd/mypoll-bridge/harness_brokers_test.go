//go:build brokers

package main

// The broker tier (make test-bridge): real mypolld processes with the
// emulated device, real mypoll-bridge processes and real brokers from
// Debian's packages (mosquitto, nats-server), all on 127.0.0.1 ports picked
// at run time, never a mock broker. The brokers, the child processes and
// the consumer that checks PROTOCOL.md C.3's coverage invariant are
// internal/brokertest's, shared with the end-to-end test in tests/.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/internal/brokertest"
)

var binDir string // mypolld and mypoll-bridge, built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mypoll-bridge-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, c := range []string{"mypolld", "mypoll-bridge"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, c), "../"+c)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", c, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const waitTimeout = brokertest.Timeout

// daemon is a mypolld with the emulated device.
type daemon struct {
	t     *testing.T
	sock  string
	state string
	args  []string // extra mypolld flags
	p     *brokertest.Proc
}

// startDaemon starts mypolld on the emulated device; args are extra flags.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{t: t, sock: filepath.Join(dir, "mypoll.sock"), state: filepath.Join(dir, "state"), args: args}
	d.start()
	return d
}

func (d *daemon) start() {
	args := append([]string{"--device", "emu", "--socket", d.sock, "--state-dir", d.state, "--log-level", "warn"}, d.args...)
	d.p = brokertest.Start(d.t, filepath.Join(binDir, "mypolld"), args...)
	deadline := time.Now().Add(waitTimeout)
	for {
		c, err := client.Dial(d.t.Context(), d.sock)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("mypolld does not answer: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// trigger generates n events in bursts and returns the last seq.
func (d *daemon) trigger(n int) uint64 { return d.triggerPaced(n, 100, time.Millisecond) }

// triggerPaced generates n events in bursts of burst, pausing between
// bursts (a flood the daemon keeps up with), and returns the last seq.
func (d *daemon) triggerPaced(n, burst int, pause time.Duration) uint64 {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.t.Context(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, d.sock)
	if err != nil {
		d.t.Fatal(err)
	}
	defer c.Close()
	var last uint64
	for n > 0 {
		k := min(n, burst)
		first, got, err := c.Trigger(ctx, uint64(n), uint32(k))
		if err != nil {
			d.t.Fatalf("trigger: %v", err)
		}
		last = first + uint64(got) - 1
		n -= k
		if pause > 0 {
			time.Sleep(pause)
		}
	}
	return last
}

// bridgeProc is a mypoll-bridge process with its own state dir.
type bridgeProc struct {
	t     *testing.T
	args  []string
	state string
	p     *brokertest.Proc
}

func startBridge(t *testing.T, d *daemon, device string, brokers []string, extra ...string) *bridgeProc {
	t.Helper()
	b := &bridgeProc{t: t, state: filepath.Join(t.TempDir(), "state")}
	b.args = []string{"--socket", d.sock, "--device-id", device, "--state-dir", b.state,
		"--keepalive", "2s", "--log-level", "debug"}
	for _, u := range brokers {
		b.args = append(b.args, "--broker", u)
	}
	b.args = append(b.args, extra...)
	b.start()
	return b
}

func (b *bridgeProc) start() {
	b.p = brokertest.Start(b.t, filepath.Join(binDir, "mypoll-bridge"), b.args...)
}

// stop sends SIGTERM and checks the exit status 0 (C.2).
func (b *bridgeProc) stop() {
	b.t.Helper()
	b.p.Kill(syscall.SIGTERM)
	if b.p.Err() != nil {
		b.t.Errorf("bridge after SIGTERM: %v, want exit 0", b.p.Err())
	}
}
