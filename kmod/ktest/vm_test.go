//go:build !mypoll_guest

package ktest_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/qemu"
	"github.com/mypoll/mypoll/qemu/qemutest"
)

// Guest test binaries the image build (GUEST_BINS in mk/kmod.mk) installs.
const (
	// tortureBin is this package built with -tags mypoll_guest.
	tortureBin = "/bin/mypoll-kmod.test"
	// conformanceBin is daemon/internal/device/devicetest/guest: the
	// device conformance suite the emulation passes too.
	conformanceBin = "/bin/mypoll-devicetest.test"
	// tortureArmBin is this package for GOARCH=arm (32-bit, compat).
	tortureArmBin = "/bin/mypoll-kmod-arm.test"
)

// fuzzFilter selects the fuzzer (run in EXECs of its own).
const fuzzFilter = "^TestTorture_Fuzz$"

// compatTests are the torture tests the 32-bit binary runs: every ioctl,
// read and write path, not the long concurrency runs.
const compatTests = "TestABISizes|TestIoctl_|TestRead_Sizes|TestRead_Faults|TestRead_OtherCalls|TestSeq_LateOpenerAndSeek|TestSeq_BoundaryOverflow|TestWrite_Text|TestLife_Unplug"

// TestGuest boots the guest (aarch64, or 32-bit ARM) with two CPUs and slub_debug, without
// mypolld and with mypoll.ko loaded at boot with test_hooks=1. It runs the
// device conformance suite on that fresh instance, then the torture suite
// (which reloads the module itself), and fails on a non-zero exit or on
// kernel trouble in the guest's log. MYPOLL_KTEST_RUN passes a -test.run
// filter to the torture suite.
func TestGuest(t *testing.T) {
	cfg := qemutest.DefaultConfig(t)
	cfg.SMP = 2
	cfg.Append = strings.TrimSpace(cfg.Append + " slub_debug=FZPU mypolltest.daemon=off mypolltest.ko_params=test_hooks=1")
	vm := qemutest.StartT(t, cfg)
	t.Logf("guest booted in %v", vm.BootTime())

	// One EXEC must finish within yamux's StreamCloseTimeout (5 minutes:
	// the host half-closes the stream after the request). So the fuzzer
	// runs in EXECs of its own after the rest of the torture suite, for
	// MYPOLL_FUZZ_SECONDS (default 20; make fuzz-kmod sets 600) split into
	// rounds of at most fuzzRound seconds on the same boot.
	const fuzzRound = 240
	fuzzSecs := 20
	if s := os.Getenv("MYPOLL_FUZZ_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("MYPOLL_FUZZ_SECONDS=%q: want a positive number of seconds", s)
		}
		fuzzSecs = n
	}
	var rounds []int
	for n := fuzzSecs; n > 0; n -= fuzzRound {
		rounds = append(rounds, min(n, fuzzRound))
	}
	filter := os.Getenv("MYPOLL_KTEST_RUN")
	extra := time.Duration(0)
	// The suites print thousands of lines; a log viewer that keeps only
	// the tail would lose the failure. Each failure is repeated at the end.
	var failures []string
	defer func() {
		if len(failures) > 0 {
			t.Logf("TestGuest failures, repeated from above:\n\t%s", strings.Join(failures, "\n\t"))
		}
	}()
	run := func(name string, req qemu.ExecRequest) {
		t.Helper()
		req.Combined = true
		req.Timeout = 8*time.Minute + extra
		start := time.Now()
		res, err := vm.ExecWith(t.Context(), req)
		lines := strings.Split(strings.TrimRight(string(res.Output), "\n"), "\n")
		next := 0 // the first line not yet in failures
		for i, line := range lines {
			t.Logf("%s: %s", name, line)
			if failureLine(line) {
				// with the lines before it: the failing test's messages
				for _, l := range lines[max(next, i-failureContext) : i+1] {
					failures = append(failures, name+": "+l)
				}
				next = i + 1
			}
		}
		if err != nil {
			failures = append(failures, fmt.Sprintf("exec %s: %v", req.Argv[0], err))
			t.Fatalf("exec %s: %v", req.Argv[0], err)
		}
		t.Logf("%s ran %v", name, time.Since(start).Round(time.Millisecond))
		if res.ExitCode != 0 || res.TimedOut {
			t.Errorf("%s exited %d (signal %q, timed out %v)", req.Argv[0], res.ExitCode, res.Signal, res.TimedOut)
			failures = append(failures, fmt.Sprintf("%s exited %d (signal %q, timed out %v)", name, res.ExitCode, res.Signal, res.TimedOut))
		}
		if err := vm.CheckKernel(t.Context()); err != nil {
			t.Errorf("guest kernel log after %s: %v", name, err)
			failures = append(failures, fmt.Sprintf("guest kernel log after %s: %v", name, err))
		}
	}

	mult := "10" // TCG
	if m := os.Getenv("MYPOLL_TIMEOUT_MULT"); m != "" {
		mult = m
	}
	run("conformance", qemu.ExecRequest{
		Argv: []string{conformanceBin, "-test.v"},
		Env: []string{"MYPOLL_DEVICE=/dev/mypoll", "MYPOLL_DEVICE_FRESH=1", "MYPOLL_TIMEOUT_MULT=" + mult,
			"MYPOLL_DEVICE_UNPLUG=/sys/kernel/debug/mypoll/unplug"},
	})
	torture := func(name string, secs int, args ...string) {
		extra = time.Duration(secs) * time.Second
		argv := append([]string{tortureBin, "-test.v", "-test.timeout=" + (8*time.Minute + extra).String()}, args...)
		run(name, qemu.ExecRequest{Argv: argv, Env: []string{"MYPOLL_FUZZ_SECONDS=" + strconv.Itoa(secs)}})
		extra = 0
	}
	switch {
	case filter == fuzzFilter: // make fuzz-kmod
	case filter != "":
		torture("torture", rounds[0], "-test.run="+filter)
	default:
		torture("torture", 0, "-test.skip="+fuzzFilter)
	}
	if filter == "" || filter == fuzzFilter {
		for i, secs := range rounds {
			torture(fmt.Sprintf("fuzz round %d/%d (%d s)", i+1, len(rounds), secs), secs, "-test.run="+fuzzFilter)
		}
	}
	// §4.4 test 30: the ABI subset from 32-bit user space (compat_ptr_ioctl).
	// On a 32-bit kernel the suites above were 32-bit programs already and
	// there is no compat layer (the image has no tortureArmBin).
	if cfg.Arch == qemu.ArchARM {
		t.Logf("torture-arm32: not run, the %s kernel runs the suites as 32-bit programs", cfg.Arch)
		return
	}
	run("torture-arm32", qemu.ExecRequest{Argv: []string{tortureArmBin, "-test.v", "-test.timeout=4m",
		"-test.run=" + compatTests}})
}

// failureContext is how many lines before a failure line the summary at
// the end of TestGuest repeats.
const failureContext = 12

// failureLine reports whether a line of a guest test binary's -test.v
// output reports a failure: a FAIL line, a panic or a timeout.
func failureLine(line string) bool {
	l := strings.TrimSpace(line)
	return strings.HasPrefix(l, "--- FAIL") || strings.HasPrefix(l, "panic:") ||
		strings.HasPrefix(l, "FAIL") || strings.Contains(l, "test timed out")
}

func TestFailureLine(t *testing.T) {
	for line, want := range map[string]bool{
		"--- FAIL: TestSeq_Wrap (0.02s)":             true,
		"    --- FAIL: TestKernelConformance/Unplug": true,
		"FAIL": true,
		"panic: runtime error: index out of range": true,
		"panic: test timed out after 8m0s":         true,
		"--- PASS: TestSeq_Wrap (0.02s)":           false,
		"    seq_guest_test.go:40: FAIL is a word": false,
		"PASS": false,
	} {
		if got := failureLine(line); got != want {
			t.Errorf("failureLine(%q) = %v, want %v", line, got, want)
		}
	}
}
