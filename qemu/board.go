package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mypoll/mypoll/qemu/internal/serial"
)

// Boards (issue 21): the raspi3b machine booted from an SD card, and
// attaching to a board that already runs the agent (Config.Target).

// MachineRaspi3b is Config.Machine for QEMU's Raspberry Pi 3 model B.
const MachineRaspi3b = "raspi3b"

// Raspi3bBootTimeout is the raspi3b default boot budget (before
// MYPOLL_TIMEOUT_MULT): U-Boot's 2 s autoboot delay, reading 37 MB from the
// emulated SD card, four TCG CPUs and an initramfs before the root: about
// 20 s on an idle host, over 60 s under load.
const Raspi3bBootTimeout = 180 * time.Second

// boardFromEnv reads MYPOLL_MACHINE, MYPOLL_DTB, MYPOLL_SDCARD,
// MYPOLL_TARGET, MYPOLL_CONSOLE and MYPOLL_POWER_CMD into c.
func boardFromEnv(c *Config) error {
	c.Machine = os.Getenv("MYPOLL_MACHINE")
	c.DTB = os.Getenv("MYPOLL_DTB")
	c.SDCard = os.Getenv("MYPOLL_SDCARD")
	c.Target = os.Getenv("MYPOLL_TARGET")
	c.TargetConsole = os.Getenv("MYPOLL_CONSOLE")
	c.PowerCmd = os.Getenv("MYPOLL_POWER_CMD")
	switch c.Machine {
	case "", "virt", MachineRaspi3b:
	default:
		return fmt.Errorf("MYPOLL_MACHINE=%q: want virt or %s", c.Machine, MachineRaspi3b)
	}
	if c.Target != "" {
		if _, _, err := parseTarget(c.Target); err != nil {
			return err
		}
	}
	if c.TargetConsole != "" {
		if _, err := serial.ParseSpec(c.TargetConsole); err != nil {
			return fmt.Errorf("MYPOLL_CONSOLE: %w", err)
		}
	}
	return nil
}

// parseTarget splits "serial:/dev/TTY[@BAUD][,rtscts]" or "tcp:HOST:PORT".
func parseTarget(s string) (kind, addr string, err error) {
	kind, addr, _ = strings.Cut(s, ":")
	switch kind {
	case "serial":
		if _, err := serial.ParseSpec(addr); err != nil {
			return "", "", fmt.Errorf("target %q: %w", s, err)
		}
		return kind, addr, nil
	case "tcp":
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", "", fmt.Errorf("target %q: want tcp:HOST:PORT: %w", s, err)
		}
		return kind, addr, nil
	}
	return "", "", fmt.Errorf("target %q: want serial:/dev/TTY[@BAUD][,rtscts] or tcp:HOST:PORT", s)
}

// raspi3bArgs is the QEMU command line of the raspi3b machine: U-Boot as
// the "kernel" stands in for the Pi's boot firmware and boots the SD card;
// serial0 is the PL011 (the agent's line, a unix socket), serial1 the mini
// UART (U-Boot and the kernel console, on stdout). The machine has 1 GiB
// and 4 CPUs, fixed.
func (vm *VM) raspi3bArgs() []string {
	c := vm.cfg
	args := []string{
		"-M", MachineRaspi3b,
		"-display", "none", "-monitor", "none", "-no-reboot", "-net", "none",
		"-kernel", c.Kernel,
	}
	if c.DTB != "" {
		args = append(args, "-dtb", c.DTB)
	}
	if c.SDCard != "" {
		args = append(args, "-drive", "if=sd,format=raw,snapshot=on,file="+c.SDCard)
	}
	args = append(args,
		"-chardev", "socket,id=port0,path="+vm.sock+",server=on,wait=off",
		"-serial", "chardev:port0", "-serial", "stdio")
	return append(args, c.ExtraArgs...)
}

// IsTarget reports whether vm is attached to a board (Config.Target)
// rather than a QEMU it started.
func (vm *VM) IsTarget() bool { return vm.cfg.Target != "" }

// CanPowerCycle reports whether the harness can restart the guest: a QEMU
// it started always (a new VM), a board only with Config.PowerCmd.
func (vm *VM) CanPowerCycle() bool { return !vm.IsTarget() || vm.cfg.PowerCmd != "" }

// targetState is what an attached VM keeps instead of a QEMU process.
type targetState struct {
	line     *os.File // the console line, or nil
	exitOnce sync.Once
}

// startTarget "starts" a VM attached to cfg.Target: it opens the console
// line if there is one; Connect reaches the agent.
func startTarget(cfg Config) (*VM, error) {
	dir, err := os.MkdirTemp("", "mpq")
	if err != nil {
		return nil, &PhaseError{Phase: "attach", Err: err}
	}
	vm := &VM{
		cfg:         cfg,
		log:         cfg.Logger,
		sockDir:     dir,
		exited:      make(chan struct{}),
		consoleDone: make(chan struct{}),
		target:      &targetState{},
		started:     time.Now(),
	}
	vm.consolePath = cfg.ConsoleLog
	if vm.consolePath == "" {
		vm.consolePath = filepath.Join(dir, "console.log")
	}
	if err := os.MkdirAll(filepath.Dir(vm.consolePath), 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, &PhaseError{Phase: "attach", Err: err}
	}
	if vm.console, err = os.Create(vm.consolePath); err != nil {
		os.RemoveAll(dir)
		return nil, &PhaseError{Phase: "attach", Err: err}
	}
	fmt.Fprintf(vm.console, "# %s\n", vm.CommandLine())
	if cfg.TargetConsole == "" {
		_ = vm.console.Close()
		close(vm.consoleDone)
	} else {
		sp, _ := serial.ParseSpec(cfg.TargetConsole)
		f, err := serial.Open(sp)
		if err != nil {
			_ = vm.console.Close()
			os.RemoveAll(dir)
			return nil, &PhaseError{Phase: "attach", Err: fmt.Errorf("console: %w", err)}
		}
		vm.target.line = f
		go vm.readConsole(f)
	}
	vm.log.Info("attaching to a board", "target", cfg.Target, "console", cfg.TargetConsole, "power", cfg.PowerCmd != "")
	return vm, nil
}

// detach ends an attached VM: the board keeps running.
func (vm *VM) detach() {
	vm.target.exitOnce.Do(func() {
		vm.Disconnect()
		if vm.target.line != nil {
			_ = vm.target.line.Close()
		}
		close(vm.exited)
	})
}

// dialTarget connects to the board's agent, retrying until ctx ends (the
// board may still be booting).
func (vm *VM) dialTarget(ctx context.Context) (rwc interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	Close() error
}, err error) {
	kind, addr, err := parseTarget(vm.cfg.Target)
	if err != nil {
		return nil, err
	}
	for {
		switch kind {
		case "serial":
			sp, _ := serial.ParseSpec(addr)
			f, err := serial.Open(sp)
			if err == nil {
				return f, nil
			}
			if !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		case "tcp":
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				return c, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dial %s: %w", vm.cfg.Target, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// PowerCycle restarts an attached board with Config.PowerCmd and
// reconnects (the boot phase); with a QEMU VM it is an error (start a new
// VM instead).
func (vm *VM) PowerCycle(ctx context.Context) error {
	if !vm.IsTarget() || vm.cfg.PowerCmd == "" {
		return vm.phaseErr("power cycle", errors.New("no power control (set POWER_CMD)"))
	}
	vm.Disconnect()
	cmd := exec.CommandContext(ctx, "sh", "-c", vm.cfg.PowerCmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return vm.phaseErr("power cycle", fmt.Errorf("%s: %w: %s", vm.cfg.PowerCmd, err, out))
	}
	vm.mu.Lock()
	vm.connects = 0 // the next Connect is a boot
	vm.started = time.Now()
	vm.mu.Unlock()
	return vm.Connect(ctx)
}

// agentServing is what the agent logs on the console once its line is open.
const agentServing = "agent: serving: port="

func (vm *VM) noteAgentLine(line string) {
	if vm.serving != nil && strings.Contains(line, agentServing) {
		vm.servingOnce.Do(func() { close(vm.serving) })
	}
}

// waitServing holds the first connection to a raspi3b's PL011 until the
// console shows the agent serving it. QEMU 7.2's PL011 raises its receive
// interrupt only when its FIFO goes from empty to one byte and has no
// receive timeout interrupt: with a backlog of re-sent HELLOs queued before
// Linux opened the port, the FIFO can stay full with the interrupt cleared,
// and the guest never reads again (seen about once in three boots). A
// real PL011 has the timeout interrupt; virtio has no FIFO.
func (vm *VM) waitServing(ctx context.Context) error {
	if vm.cfg.Machine != MachineRaspi3b || vm.serving == nil {
		return nil
	}
	select {
	case <-vm.serving:
		return nil
	case <-vm.exited:
		return fmt.Errorf("qemu exited before the agent served its line: %v", vm.exitErr)
	case <-ctx.Done():
		return fmt.Errorf("no %q on the console: %w", agentServing, ctx.Err())
	}
}
