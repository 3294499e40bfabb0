package tests_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/qemu/qemutest"
)

// TestDaemonCrashResume: mypolld killed with SIGKILL and restarted. A client
// resuming with "subscribe all from=SEQ" gets every event the device
// generated while the daemon was down, or LOST ... restart with the exact
// count for those the ring overwrote.
func TestDaemonCrashResume(t *testing.T) {
	g := boot(t, 1)
	g.imageSkipUnlessSysV(t, "systemd restarts a killed mypolld (Restart=on-failure), so it is not down while the ring wraps")
	c := g.dialSub(t, "all")
	ctl := g.dial(t)
	ctl.do("subscribe none")
	r := strings.Fields(ctl.do("trigger 3 10"))
	first := u64(t, r[2])
	c.expect(seqs(first, first+9)...)
	last := first + 9

	// Down briefly: everything is replayed.
	g.signal(t, "KILL")
	if got := g.triggerDirect(t, 5); got != last+1 {
		t.Fatalf("direct trigger first_seq %d, want %d", got, last+1)
	}
	g.daemon(t, "start", defaultDaemonArgs...)
	c2 := g.dial(t)
	c2.send(fmt.Sprintf("subscribe all from=%d", last+1))
	if l := c2.line(); l != "OK subscribe all" {
		t.Fatalf("subscribe -> %q", l)
	}
	c2.expect(seqs(last+1, last+5)...)
	last += 5
	g.checkKernel(t)

	// Down while the ring wraps: the overwritten ones are reported exactly.
	ring := g.info(t).RingSize
	g.signal(t, "KILL")
	const n = 3000
	g.triggerDirect(t, n)
	g.daemon(t, "start", defaultDaemonArgs...)
	c3 := g.dial(t)
	c3.send(fmt.Sprintf("subscribe all from=%d", last+1))
	if l := c3.line(); l != "OK subscribe all" {
		t.Fatalf("subscribe -> %q", l)
	}
	lost := n - ring
	c3.expect(append([]string{fmt.Sprintf("LOST %d %d %d restart", last+1, last+lost, lost)}, seqs(last+lost+1, last+n)...)...)
	g.checkKernel(t)
}

// TestModuleReload: the module cannot be removed while the daemon holds the
// device; once the daemon stops it unloads, and after a reload HELLO names
// the new instance and the restarted daemon reports the reset.
func TestModuleReload(t *testing.T) {
	imageSkip(t, "reloads the module: insmod of the harness image's /lib/modules/mypoll.ko and the daemon log the agent keeps; in an image init loads the module and owns the daemon")
	g := boot(t, 1)
	qemutest.NeedPower(t, g.vm, "reloads the module")
	before := g.dial(t)
	old := before.hello[3]
	before.do("trigger 0 5")
	if err := g.vm.Rmmod(t.Context(), "mypoll"); err == nil {
		t.Fatalf("rmmod mypoll succeeded while mypolld holds /dev/mypoll")
	}
	g.daemon(t, "stop")
	if err := g.vm.Rmmod(t.Context(), "mypoll"); err != nil {
		t.Fatalf("rmmod after the daemon stopped: %v", err)
	}
	if err := g.vm.Insmod(t.Context(), "/lib/modules/mypoll.ko", ""); err != nil {
		t.Fatalf("insmod: %v", err)
	}
	g.daemon(t, "start", defaultDaemonArgs...)
	after := g.dial(t)
	if after.hello[3] == old || after.hello[3] != g.info(t).InstanceID {
		t.Errorf("instance_id after reload %s (before %s, device %s)", after.hello[3], old, g.info(t).InstanceID)
	}
	if after.hello[4] != "1" {
		t.Errorf("next_seq after reload = %s, want 1", after.hello[4])
	}
	log, err := g.vm.Fetch(t.Context(), "/run/mypoll-agent/mypolld.log")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "device was reset since the last run") {
		t.Errorf("the restarted daemon did not report the reset; its log:\n%s", log)
	}
	if r := after.do("trigger 0 1"); r != "OK trigger 1 1" {
		t.Errorf("first trigger after reload -> %q", r)
	}
	g.checkKernel(t)
}
