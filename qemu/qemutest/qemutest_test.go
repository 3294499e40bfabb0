package qemutest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/qemu"
	"github.com/mypoll/mypoll/qemu/qemutest"
)

func TestDefaultConfig_SkipsWithoutVM(t *testing.T) {
	for _, k := range []string{"MYPOLL_KERNEL", "MYPOLL_INITRD", "MYPOLL_DISK", "MYPOLL_APPEND", "MYPOLL_SMP", "MYPOLL_TIMEOUT_MULT"} {
		t.Setenv(k, "")
	}
	t.Setenv("MYPOLL_QEMU", "/bin/true") // found or not, no PATH lookup
	t.Setenv("MYPOLL_OUT", t.TempDir())  // no kernel.env, no image
	t.Setenv("MYPOLL_REQUIRE_VM", "")
	var skipped bool
	t.Run("vm", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		qemutest.DefaultConfig(t)
		t.Errorf("DefaultConfig returned without a VM configured")
	})
	if !skipped {
		t.Errorf("DefaultConfig without a VM did not skip")
	}
}

func TestDefaultConfig_FailsWhenRequired(t *testing.T) {
	for _, k := range []string{"MYPOLL_KERNEL", "MYPOLL_INITRD", "MYPOLL_DISK", "MYPOLL_APPEND", "MYPOLL_SMP", "MYPOLL_TIMEOUT_MULT"} {
		t.Setenv(k, "")
	}
	t.Setenv("MYPOLL_QEMU", "/bin/true")
	t.Setenv("MYPOLL_OUT", t.TempDir())
	t.Setenv("MYPOLL_REQUIRE_VM", "1")
	// A fake TB records what DefaultConfig does without ending this test.
	tb := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		qemutest.DefaultConfig(tb)
	}()
	<-done
	if !tb.fatal || tb.skipped {
		t.Errorf("DefaultConfig with MYPOLL_REQUIRE_VM=1 and no VM: fatal %v, skipped %v; want a failure, not a skip", tb.fatal, tb.skipped)
	}
}

// recorder is a testing.TB whose Fatalf and Skipf end only the calling
// goroutine, as the real ones do, and record which was called.
type recorder struct {
	testing.TB
	fatal, skipped bool
	skipMsg        string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(string, ...any) { r.fatal = true; runtime.Goexit() }

func (r *recorder) Skipf(string, ...any) { r.skipped = true; runtime.Goexit() }

func (r *recorder) Skip(args ...any) {
	r.skipped, r.skipMsg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

// TestNeedPower_BoardWithoutPowerSkips: a board the harness cannot
// power-cycle (a target without POWER_CMD) skips a test that reloads the
// module, and says why and what to set.
func TestNeedPower_BoardWithoutPowerSkips(t *testing.T) {
	vm, err := qemu.Start(context.Background(), qemu.Config{Target: "tcp:127.0.0.1:1", BootTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	tb := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		qemutest.NeedPower(tb, vm, "reloads the module")
	}()
	<-done
	if !tb.skipped || !strings.Contains(tb.skipMsg, "POWER_CMD") || !strings.Contains(tb.skipMsg, "reloads the module") {
		t.Errorf("skipped %v with %q; want a skip naming POWER_CMD and the reason", tb.skipped, tb.skipMsg)
	}
}
