//go:build !mypoll_guest

package ktest_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/qemu"
)

// guestBin is where the image build (GUEST_BINS) installs the torture
// test binary built from this package with -tags mypoll_guest.
const guestBin = "/bin/mypoll-kmod.test"

// TestGuestTorture boots the aarch64 guest with two CPUs and slub_debug,
// without mypolld (the tests load and unload mypoll.ko themselves), runs
// the in-guest torture suite and fails on a non-zero exit or on kernel
// trouble in the guest's log. MYPOLL_KTEST_RUN passes a -test.run filter.
func TestGuestTorture(t *testing.T) {
	cfg := qemu.DefaultConfig(t)
	cfg.SMP = 2
	cfg.Append = strings.TrimSpace(cfg.Append + " slub_debug=FZPU mypolltest.daemon=off")
	vm := qemu.StartT(t, cfg)
	t.Logf("guest booted in %v", vm.BootTime())

	argv := []string{guestBin, "-test.v", "-test.timeout=9m"}
	if run := os.Getenv("MYPOLL_KTEST_RUN"); run != "" {
		argv = append(argv, "-test.run="+run)
	}
	start := time.Now()
	res, err := vm.ExecWith(t.Context(), qemu.ExecRequest{Argv: argv, Combined: true, Timeout: 8 * time.Minute})
	for _, line := range strings.Split(strings.TrimRight(string(res.Output), "\n"), "\n") {
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("exec %s: %v", guestBin, err)
	}
	t.Logf("guest suite ran %v (guest says %v)", time.Since(start).Round(time.Millisecond), res.Duration)
	if res.ExitCode != 0 || res.TimedOut {
		t.Errorf("%s exited %d (signal %q, timed out %v)", guestBin, res.ExitCode, res.Signal, res.TimedOut)
	}
	if err := vm.CheckKernel(t.Context()); err != nil {
		t.Errorf("guest kernel log: %v", err)
	}
}
