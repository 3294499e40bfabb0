package qemu_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/qemu"
	"github.com/mypoll/mypoll/qemu/internal/wire"
	"github.com/mypoll/mypoll/qemu/qemutest"
)

var boots = flag.Int("boots", 3, "TestBootTime: number of boots to take the median of")

const echoSocket = "/run/mypoll-agent/echo.sock"

// TestVM boots one VM and exercises every op against it.
func TestVM(t *testing.T) {
	cfg := qemutest.DefaultConfig(t)
	mult := max(cfg.TimeoutMult, 1)
	vm := qemutest.StartT(t, cfg)
	ready := vm.Ready()
	t.Logf("boot to ready: %v (guest uptime %d ms, timings %v, daemon %q)",
		vm.BootTime().Round(time.Millisecond), ready.UptimeMS, ready.Timings, ready.Daemon)
	agent := ready.Agent
	if agent == "" {
		t.Fatalf("READY has no agent path: %+v", ready)
	}

	t.Run("Exec", func(t *testing.T) {
		for _, code := range []int{0, 3, 42} {
			res, err := vm.Exec(t.Context(), []string{agent, "tool", "exit", fmt.Sprint(code)}, nil)
			if err != nil {
				t.Fatalf("Exec(exit %d): %v", code, err)
			}
			if res.ExitCode != code || string(res.Stderr) != fmt.Sprintf("exit %d\n", code) {
				t.Errorf("Exec(exit %d) = code %d stderr %q, want code %d", code, res.ExitCode, res.Stderr, code)
			}
		}
		res, err := vm.Exec(t.Context(), []string{"/no/such/binary"}, nil)
		if !errors.Is(err, qemu.ErrRemote) {
			t.Errorf("Exec(missing binary) = %+v, %v; want an agent error", res, err)
		}
	})

	t.Run("ExecStdin", func(t *testing.T) {
		in := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: several frames
		res, err := vm.Exec(t.Context(), []string{agent, "tool", "cat"}, in)
		if err != nil {
			t.Fatalf("Exec(cat): %v", err)
		}
		if res.ExitCode != 0 || !bytes.Equal(res.Stdout, in) {
			t.Errorf("Exec(cat) = code %d, %d bytes out; want 0, the %d input bytes", res.ExitCode, len(res.Stdout), len(in))
		}
		res, err = vm.ExecWith(t.Context(), qemu.ExecRequest{
			Argv: []string{agent, "tool", "exit", "1"}, Combined: true,
		})
		if err != nil || res.ExitCode != 1 || string(res.Output) != "exit 1\n" {
			t.Errorf("ExecWith(Combined) = %+v, %v; want code 1 and output %q", res, err, "exit 1\n")
		}
	})

	t.Run("ExecTimeout", func(t *testing.T) {
		res, err := vm.ExecWith(t.Context(), qemu.ExecRequest{
			Argv: []string{agent, "tool", "sleep", "60s"}, Timeout: 300 * time.Millisecond,
		})
		if err != nil {
			t.Fatalf("ExecWith(sleep, timeout): %v", err)
		}
		if !res.TimedOut || res.Signal != "SIGKILL" || res.ExitCode != -1 {
			t.Errorf("ExecWith(sleep, timeout) = %+v, want timed out, SIGKILL, -1", res)
		}
	})

	t.Run("FetchPut", func(t *testing.T) {
		cmdline, err := vm.Fetch(t.Context(), "/proc/cmdline")
		if err != nil || !strings.Contains(string(cmdline), "console=ttyAMA0") {
			t.Errorf("Fetch(/proc/cmdline) = %q, %v; want the kernel command line", cmdline, err)
		}
		data := bytes.Repeat([]byte{0, 1, 2, 255}, 50000)
		if err := vm.Put(t.Context(), "/tmp/blob", data); err != nil {
			t.Fatalf("Put: %v", err)
		}
		got, err := vm.Fetch(t.Context(), "/tmp/blob")
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("Fetch after Put = %d bytes, %v; want the %d bytes put", len(got), err, len(data))
		}
		if _, err := vm.Fetch(t.Context(), "/no/such/file"); !errors.Is(err, qemu.ErrRemote) {
			t.Errorf("Fetch(missing) error = %v, want an agent error", err)
		}
	})

	t.Run("Dial", func(t *testing.T) {
		c, err := vm.Dial(t.Context(), echoSocket)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.Close()
		msg := bytes.Repeat([]byte("ping through the port\n"), 5000)
		go func() {
			_, _ = c.Write(msg)
			_ = c.(interface{ CloseWrite() error }).CloseWrite()
		}()
		got, err := io.ReadAll(c) // ends only if the half-close travelled both ways
		if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("echo = %d bytes, %v; want %d bytes back then EOF", len(got), err, len(msg))
		}
		if _, err := vm.Dial(t.Context(), "/run/nobody.sock"); !errors.Is(err, qemu.ErrRemote) {
			t.Errorf("Dial(missing socket) error = %v, want an agent error", err)
		}
	})

	t.Run("Forward", func(t *testing.T) {
		sock := t.TempDir() + "/f.sock"
		if len(sock) > 100 {
			sock = "/tmp/mypoll-fwd-" + fmt.Sprint(time.Now().UnixNano()) + ".sock"
		}
		done := make(chan error, 1)
		ctx, cancel := contextWithCancel(t)
		go func() { done <- vm.Forward(ctx, sock, echoSocket) }()
		var c net.Conn
		var err error
		for range 200 {
			if c, err = net.Dial("unix", sock); err == nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("dial forwarded socket: %v", err)
		}
		_, _ = c.Write([]byte("hello"))
		_ = c.(*net.UnixConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "hello" {
			t.Errorf("forwarded echo = %q, %v; want hello", got, err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Forward = %v, want nil after cancel", err)
		}
	})

	t.Run("Daemon", func(t *testing.T) {
		if ready.Daemon == "absent" {
			_, err := vm.Daemon(t.Context(), "start")
			if !errors.Is(err, qemu.ErrRemote) {
				t.Errorf("Daemon(start) without mypolld = %v, want an agent error", err)
			}
			return
		}
		st, err := vm.Daemon(t.Context(), "restart")
		if err != nil {
			t.Fatalf("Daemon(restart): %v", err)
		}
		if st.State != "running" || st.PID == 0 || st.Socket == "" {
			t.Fatalf("Daemon(restart) = %+v, want running with a pid and socket", st)
		}
		c, err := vm.Dial(t.Context(), st.Socket)
		if err != nil {
			t.Fatalf("Dial(daemon socket): %v", err)
		}
		c.Close()
		t.Logf("mypolld restarted: pid %d ready in %d ms", st.PID, st.ReadyMS)
	})

	t.Run("Signal", func(t *testing.T) {
		type result struct {
			res qemu.ExecResult
			err error
		}
		ch := make(chan result, 1)
		go func() {
			res, err := vm.Exec(t.Context(), []string{agent, "tool", "sleep", "60s"}, nil)
			ch <- result{res, err}
		}()
		var pids []int
		var err error
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) { // the sleeper names itself after it starts
			if pids, err = vm.Signal(t.Context(), "agent-sleep", "TERM"); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil || len(pids) != 1 {
			t.Fatalf("Signal(agent-sleep, TERM) = %v, %v; want one pid", pids, err)
		}
		r := <-ch
		if r.err != nil || r.res.Signal != "SIGTERM" || r.res.ExitCode != -1 {
			t.Errorf("signalled Exec = %+v, %v; want killed by SIGTERM", r.res, r.err)
		}
		if _, err := vm.Signal(t.Context(), "1", "KILL"); !errors.Is(err, qemu.ErrRemote) {
			t.Errorf("Signal(1) = %v, want a refusal: PID 1 is never signalled", err)
		}
	})

	t.Run("Init", func(t *testing.T) {
		// PID 1 survives the signals that end a Go program by default.
		for _, sig := range []string{"15", "2", "1"} {
			res, err := vm.Exec(t.Context(), []string{agent, "tool", "kill", "1", sig}, nil)
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("tool kill 1 %s = %+v, %v", sig, res, err)
			}
		}
		if _, err := vm.Ping(t.Context()); err != nil {
			t.Fatalf("agent after SIGTERM/SIGINT/SIGHUP to PID 1: %v", err)
		}
		// An orphan re-parented to PID 1 is reaped when it exits.
		res, err := vm.Exec(t.Context(), []string{agent, "tool", "orphan"}, nil)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("tool orphan = %+v, %v", res, err)
		}
		pid := strings.TrimSpace(string(res.Stdout))
		var stat []byte
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if stat, err = vm.Fetch(t.Context(), "/proc/"+pid+"/stat"); err != nil {
				break // gone: reaped
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !errors.Is(err, qemu.ErrRemote) {
			t.Errorf("orphan %s still there after 20s: %q (%v)", pid, stat, err)
		}
	})

	t.Run("ServiceMode", func(t *testing.T) {
		// Not PID 1 and no such port: exits 0 without a word.
		res, err := vm.Exec(t.Context(), []string{agent, "--service", "--port", "no.such.port"}, nil)
		if err != nil || res.ExitCode != 0 || len(res.Stdout)+len(res.Stderr) != 0 {
			t.Errorf("agent --service without its port = %+v, %v; want exit 0, no output", res, err)
		}
	})

	t.Run("Modules", func(t *testing.T) {
		mods, err := vm.Fetch(t.Context(), "/proc/modules")
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.Rmmod(t.Context(), "no_such_module"); !errors.Is(err, qemu.ErrRemote) {
			t.Errorf("Rmmod(no_such_module) = %v, want an agent error", err)
		}
		if !bytes.Contains(mods, []byte("mypoll ")) {
			if _, err := vm.Fetch(t.Context(), "/lib/modules/mypoll.ko"); err == nil {
				t.Fatalf("/lib/modules/mypoll.ko is in the image but not loaded:\n%s", mods)
			}
			t.Log("image without mypoll.ko: reload not exercised")
			return
		}
		if ready.Daemon != "absent" {
			if _, err := vm.Daemon(t.Context(), "stop"); err != nil {
				t.Fatalf("Daemon(stop): %v", err)
			}
		}
		if err := vm.Rmmod(t.Context(), "mypoll"); err != nil {
			t.Fatalf("Rmmod(mypoll): %v", err)
		}
		if err := vm.Insmod(t.Context(), "/lib/modules/mypoll.ko", ""); err != nil {
			t.Fatalf("Insmod(mypoll.ko): %v", err)
		}
		if err := vm.Insmod(t.Context(), "/lib/modules/mypoll.ko", ""); err != nil {
			t.Errorf("Insmod of a loaded module = %v, want nil (EEXIST is fine)", err)
		}
		if ready.Daemon != "absent" {
			if st, err := vm.Daemon(t.Context(), "start"); err != nil || st.State != "running" {
				t.Fatalf("Daemon(start) after reload = %+v, %v", st, err)
			}
		}
	})

	t.Run("Reconnect", func(t *testing.T) {
		first := vm.Ready().Session
		for i := range 3 {
			// Leave a transfer half-read so stale bytes sit in the port.
			c, err := vm.Dial(t.Context(), echoSocket)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write(bytes.Repeat([]byte("x"), 200000))
			vm.Disconnect()
			start := time.Now()
			if err := vm.Connect(t.Context()); err != nil {
				t.Fatalf("reconnect %d: %v", i, err)
			}
			t.Logf("reconnect %d: ready after %v", i, time.Since(start).Round(time.Millisecond))
			res, err := vm.Exec(t.Context(), []string{agent, "tool", "exit", "7"}, nil)
			if err != nil || res.ExitCode != 7 {
				t.Fatalf("Exec after reconnect %d = %+v, %v", i, res, err)
			}
		}
		if got := vm.Ready().Session; got <= first {
			t.Errorf("session after reconnects = %d, want > %d", got, first)
		}
	})

	t.Run("KernelLogCheck", func(t *testing.T) {
		if err := vm.CheckKernel(t.Context()); err != nil {
			t.Fatalf("kernel log before planting: %v", err)
		}
		marker := "mypoll-harness-selftest-" + wire.NewNonce()
		if err := vm.Put(t.Context(), "/dev/kmsg", []byte("WARNING: "+marker+"\n")); err != nil {
			t.Fatalf("Put(/dev/kmsg): %v", err)
		}
		log, err := vm.KernelLog(t.Context())
		if err != nil || !strings.Contains(log, marker) {
			t.Fatalf("KernelLog misses the planted line (%v); log tail:\n%s", err, log[max(0, len(log)-600):])
		}
		if err := qemu.CheckKernelLog(log); err == nil || !strings.Contains(err.Error(), marker) {
			t.Errorf("CheckKernelLog = %v, want it to report the planted warning", err)
		}
		if err := vm.CheckKernel(t.Context()); err == nil {
			t.Errorf("CheckKernel = nil after a planted warning")
		}
		_, next, err := vm.KernelLogSince(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if tail, _, err := vm.KernelLogSince(t.Context(), next); err != nil || tail != "" {
			t.Errorf("KernelLogSince(next) = %q, %v; want nothing new", tail, err)
		}
		vm.IgnoreTrouble(marker)
		if err := vm.CheckKernel(t.Context()); err != nil {
			t.Errorf("CheckKernel after IgnoreTrouble: %v", err)
		}
	})

	t.Run("Poweroff", func(t *testing.T) {
		start := time.Now()
		if err := vm.Poweroff(t.Context()); err != nil {
			t.Fatalf("Poweroff: %v", err)
		}
		took := time.Since(start)
		t.Logf("poweroff to qemu exit: %v", took.Round(time.Millisecond))
		if limit := time.Duration(5 * mult * float64(time.Second)); took > limit {
			t.Errorf("poweroff (with its kernel-log check) took %v, want under %v", took, limit)
		}
		if err := vm.Wait(); err != nil {
			t.Errorf("qemu exit status: %v", err)
		}
	})
}

// TestBootTime boots -boots VMs one after the other and reports the median
// time from QEMU start to agent READY (go test -run TestBootTime ./qemu -boots=10).
func TestBootTime(t *testing.T) {
	var times, daemon []time.Duration
	for i := range *boots {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			vm := qemutest.StartT(t, qemutest.DefaultConfig(t))
			times = append(times, vm.BootTime())
			if _, err := vm.Exec(t.Context(), []string{vm.Ready().Agent, "tool", "exit", "0"}, nil); err != nil {
				t.Errorf("first exec: %v", err)
			}
			// DAEMON status waits for the boot-time start of mypolld.
			st, err := vm.Daemon(t.Context(), "status")
			if err != nil {
				t.Errorf("daemon status: %v", err)
			} else if st.State == "running" {
				// Guest uptime maps to host time through READY.
				d := vm.BootTime() + time.Duration(st.ReadyUptimeMS-vm.Ready().UptimeMS)*time.Millisecond
				daemon = append(daemon, max(d, vm.BootTime()))
			}
			if err := vm.Poweroff(t.Context()); err != nil {
				t.Errorf("poweroff: %v", err)
			}
		})
	}
	if len(times) == 0 {
		return
	}
	t.Logf("QEMU start to agent READY over %d boots: %s", len(times), stats(times))
	if len(daemon) > 0 {
		t.Logf("QEMU start to mypolld accepting over %d boots: %s", len(daemon), stats(daemon))
	}
}

func stats(ds []time.Duration) string {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("min %v, median %v, max %v", r(ds[0]), r(ds[len(ds)/2]), r(ds[len(ds)-1]))
}
