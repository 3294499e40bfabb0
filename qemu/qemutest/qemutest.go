package qemutest

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/mypoll/mypoll/qemu"
)

// DefaultConfig returns qemu.ConfigFromEnv with a logger writing to the test
// output and the console log under <out>/qemu/logs/<test>.console.log. When
// no VM is configured it skips the test, or fails it if qemu.RequireVM.
func DefaultConfig(t testing.TB) qemu.Config {
	t.Helper()
	cfg, err := qemu.ConfigFromEnv()
	if err != nil {
		if errors.Is(err, qemu.ErrNoVM) && !qemu.RequireVM() {
			t.Skipf("skipping VM test (set MYPOLL_REQUIRE_VM=1 to fail instead): %v", err)
		}
		t.Fatalf("VM config: %v", err)
	}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{
		Name:   "qemu",
		Output: testOutput(t),
		Level:  hclog.Info,
	})
	if out, err := qemu.OutDir(); err == nil {
		cfg.ConsoleLog = filepath.Join(out, "qemu", "logs", safeName(t.Name())+".console.log")
	}
	return cfg
}

func testOutput(t testing.TB) io.Writer {
	if o, ok := t.(interface{ Output() io.Writer }); ok {
		return o.Output()
	}
	return os.Stderr
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == ':' {
			return '_'
		}
		return r
	}, s)
}

// cleanupMargin is the part of the time left before the test deadline
// kept for cleanup (power off, kernel log).
func cleanupMargin(left time.Duration) time.Duration {
	return min(max(left/10, 5*time.Second), 30*time.Second)
}

// StartT boots cfg for the test t, connects to the agent and waits until
// the boot-time start of mypolld finished (its socket accepts, or it is
// off, absent or failed: see VM.Daemon(ctx, "status")); any failure is
// fatal. Every phase is bounded by the test deadline (minus a cleanup
// margin). Before every power-off it checks the kernel log for kernel
// trouble (Errorf), chaining any cfg.BeforePoweroff; at cleanup it powers
// off, checks the console and keeps the console log (its path is logged;
// with go test -artifacts it is also copied to t.ArtifactDir()).
func StartT(t *testing.T, cfg qemu.Config) *qemu.VM {
	t.Helper()
	if dl, ok := t.Deadline(); ok && cfg.Deadline.IsZero() {
		cfg.Deadline = dl.Add(-cleanupMargin(time.Until(dl)))
	}
	if cfg.ConsoleLog == "" {
		cfg.ConsoleLog = filepath.Join(t.TempDir(), "console.log")
	}
	// The kernel log is checked before every power-off, also one the test
	// asks for.
	before := cfg.BeforePoweroff
	cfg.BeforePoweroff = func(ctx context.Context, vm *qemu.VM) {
		if before != nil {
			before(ctx, vm)
		}
		if err := vm.CheckKernel(ctx); err != nil {
			t.Errorf("kernel log: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	vm, err := qemu.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("start vm: %v", err)
	}
	t.Cleanup(func() {
		defer cancel()
		if err := vm.Shutdown(); err != nil {
			t.Errorf("%v", err)
		}
		if err := vm.CheckConsole(); err != nil {
			t.Errorf("console: %v", err)
		}
		keepConsole(t, vm)
		_ = vm.Close()
	})
	if err := vm.Connect(ctx); err != nil {
		t.Fatalf("%v", err)
	}
	// Wait for the boot-time start of mypolld (instant when it is off or
	// absent) so a test can Dial its socket at once.
	st, err := vm.Daemon(ctx, "status")
	if err != nil {
		t.Fatalf("%v", err)
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	log.Info("guest ready", "boot", vm.BootTime().Round(time.Millisecond), "daemon", st.State)
	return vm
}

func keepConsole(t *testing.T, vm *qemu.VM) {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		dst := filepath.Join(t.ArtifactDir(), "console.log")
		if b, err := os.ReadFile(vm.ConsolePath()); err == nil {
			_ = os.WriteFile(dst, b, 0o644)
		}
	}
	if t.Failed() {
		t.Logf("console log: %s\nreproduce: %s", vm.ConsolePath(), vm.CommandLine())
	}
}

// NeedPower skips t, saying why, when vm is a board the harness cannot
// power-cycle (qemu.Config.Target without PowerCmd): a test that reloads
// the module or reboots must not leave a board nobody can reset. With
// power control, the board is power-cycled at the test's cleanup.
func NeedPower(t testing.TB, vm *qemu.VM, why string) {
	t.Helper()
	if !vm.CanPowerCycle() {
		t.Skip("board without power control (set POWER_CMD to run it): " + why)
	}
	if vm.IsTarget() {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			if err := vm.PowerCycle(ctx); err != nil {
				t.Errorf("power cycle after the test: %v", err)
			}
		})
	}
}
