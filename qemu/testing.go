package qemu

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
)

// RequireVM reports whether MYPOLL_REQUIRE_VM=1: a missing VM is then a
// failure, not a skip (make test sets it).
func RequireVM() bool { return os.Getenv("MYPOLL_REQUIRE_VM") == "1" }

// DefaultConfig returns ConfigFromEnv with a logger writing to the test
// output and the console log under <out>/qemu/logs/<test>.console.log. When
// no VM is configured it skips the test, or fails it if RequireVM.
func DefaultConfig(t testing.TB) Config {
	t.Helper()
	cfg, err := ConfigFromEnv()
	if err != nil {
		if errors.Is(err, ErrNoVM) && !RequireVM() {
			t.Skipf("skipping VM test (set MYPOLL_REQUIRE_VM=1 to fail instead): %v", err)
		}
		t.Fatalf("VM config: %v", err)
	}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{
		Name:   "qemu",
		Output: testOutput(t),
		Level:  hclog.Info,
	})
	if out, err := OutDir(); err == nil {
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
// the boot-time start of mypolld finished (its socket accepts, or it is off,
// absent or failed: see Daemon(ctx, "status")); any failure is fatal. Every phase is bounded by the test deadline (minus a cleanup
// margin). At cleanup it checks the kernel log and the console for kernel
// trouble (Errorf), powers off, and keeps the console log (its path is
// logged; with go test -artifacts it is also copied to t.ArtifactDir()).
func StartT(t *testing.T, cfg Config) *VM {
	t.Helper()
	if dl, ok := t.Deadline(); ok && cfg.Deadline.IsZero() {
		cfg.Deadline = dl.Add(-cleanupMargin(time.Until(dl)))
	}
	if cfg.ConsoleLog == "" {
		cfg.ConsoleLog = filepath.Join(t.TempDir(), "console.log")
	}
	ctx, cancel := context.WithCancel(context.Background())
	vm, err := Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("start vm: %v", err)
	}
	// The kernel log is checked before every power-off, also one the test
	// asks for.
	vm.beforePoweroff = func(ctx context.Context) {
		if err := vm.CheckKernel(ctx); err != nil {
			t.Errorf("kernel log: %v", err)
		}
	}
	t.Cleanup(func() {
		defer cancel()
		cctx, ccancel := context.WithTimeout(context.Background(), cfg.budget(cfg.OpTimeout, DefaultOpTimeout))
		defer ccancel()
		select {
		case <-vm.Exited():
		default:
			if !vm.sessionUp() {
				vm.Kill() // never connected (the test already failed) or lost
				break
			}
			if err := vm.Poweroff(cctx); err != nil {
				t.Errorf("%v", err)
			}
		}
		vm.Kill()
		<-vm.consoleDone
		if err := vm.CheckConsole(); err != nil {
			t.Errorf("console: %v", err)
		}
		keepConsole(t, vm)
		_ = os.RemoveAll(vm.sockDir)
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
	vm.log.Info("guest ready", "boot", vm.BootTime().Round(time.Millisecond), "daemon", st.State)
	return vm
}

func (vm *VM) sessionUp() bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.sess != nil && !vm.sess.IsClosed()
}

func keepConsole(t *testing.T, vm *VM) {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		dst := filepath.Join(t.ArtifactDir(), "console.log")
		if b, err := os.ReadFile(vm.consolePath); err == nil {
			_ = os.WriteFile(dst, b, 0o644)
		}
	}
	if t.Failed() {
		t.Logf("console log: %s\nreproduce: %s", vm.consolePath, vm.CommandLine())
	}
}
