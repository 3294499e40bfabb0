package tests_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/qemu/qemutest"
)

// TestSmoke needs nothing in the guest but the agent and a running mypolld
// on /dev/mypoll, so it also checks images built by Buildroot or Yocto
// (make test-image), where the init system, not the agent, starts the
// daemon: greeting, a round trip, a trigger seen as an event, and stats.
func TestSmoke(t *testing.T) {
	cfg := qemutest.DefaultConfig(t)
	vm := qemutest.StartT(t, cfg)
	path := sock
	if p := os.Getenv("MYPOLL_GUEST_SOCKET"); p != "" {
		path = p
	}
	// The image's init system may still be starting the daemon.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var g guest
	g.vm, g.wait = vm, 30*time.Second
	var c *conn
	for c == nil {
		nc, err := vm.Dial(ctx, path)
		if err == nil {
			nc.Close()
			c = g.dial(t)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no daemon accepting on %s in the guest: %v", path, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if c.hello[3] == "0000000000000000" {
		t.Errorf("daemon runs without the device: %v", c.hello)
	}
	if r := c.do("echo smoke"); r != "OK echo smoke" {
		t.Errorf("echo -> %q", r)
	}
	c.do("subscribe trigger")
	r := strings.Fields(c.do("trigger 0x5 2"))
	if len(r) != 4 || r[0] != "OK" {
		t.Fatalf("trigger -> %v", r)
	}
	first := u64(t, r[2])
	c.expect(seqs(first, first+1)...)
	if got := c.stat("instance_id"); got != c.hello[3] {
		t.Errorf("stats instance_id %s, HELLO %s", got, c.hello[3])
	}
	g.checkKernel(t)
}
