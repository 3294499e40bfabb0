package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/yamux"
	"github.com/mypoll/mypoll/qemu/internal/wire"
)

// consoleTailLines is how many console lines error messages quote.
const consoleTailLines = 40

// PhaseError is returned by VM methods: it names the phase (boot,
// handshake, exec, ...) and carries the console tail when the failure was
// not a plain refusal by the agent.
type PhaseError struct {
	Phase string
	Err   error
	// ConsoleTail is the last lines of the serial console, or "".
	ConsoleTail string
}

func (e *PhaseError) Error() string {
	if e.ConsoleTail == "" {
		return e.Phase + ": " + e.Err.Error()
	}
	return e.Phase + ": " + e.Err.Error() + "\n--- console tail ---\n" + e.ConsoleTail
}

func (e *PhaseError) Unwrap() error { return e.Err }

// VM is a running qemu-system-aarch64 (or qemu-system-arm). Its methods may be called from any
// goroutine; ops run concurrently over one yamux session.
type VM struct {
	cfg     Config
	log     hclog.Logger
	cmd     *exec.Cmd
	args    []string
	sockDir string
	sock    string
	started time.Time

	exited  chan struct{} // closed when QEMU exited
	exitErr error         // set before exited is closed

	console     *os.File
	consolePath string
	consoleDone chan struct{}

	mu       sync.Mutex
	tail     []string // last console lines
	trouble  []string // console lines that match a complaint
	ignore   []string // substrings that excuse a complaint
	sess     *yamux.Session
	framed   *wire.Framed // the session's framing: its Err names a damaged link
	ready    Ready
	readyAt  time.Duration // QEMU start to first READY
	connects int

	target *targetState // attached to a board (Config.Target): no QEMU

	serving     chan struct{} // closed when the console shows the agent serving
	servingOnce sync.Once
}

// Start boots QEMU with cfg. It returns once QEMU runs; call Connect to
// wait for the agent. QEMU is killed when ctx ends.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Target != "" {
		return startTarget(cfg)
	}
	if cfg.Kernel == "" {
		return nil, &PhaseError{Phase: "boot", Err: errors.New("no kernel")}
	}
	if cfg.Arch == "" {
		cfg.Arch = ArchARM64
		if a, err := KernelArch(cfg.Kernel); err == nil {
			cfg.Arch = a
		}
	}
	arch, err := archOf(cfg.Arch)
	if err != nil {
		return nil, &PhaseError{Phase: "boot", Err: err}
	}
	if cfg.QEMU == "" {
		cfg.QEMU = arch.qemu
	}
	if cfg.SMP <= 0 {
		cfg.SMP = 1
	}
	if cfg.Machine == MachineRaspi3b && cfg.BootTimeout <= 0 {
		cfg.BootTimeout = Raspi3bBootTimeout
	}
	if cfg.MemoryMB <= 0 {
		cfg.MemoryMB = 512
	}
	// A short directory: sun_path is 108 bytes and t.TempDir() can exceed it.
	dir, err := os.MkdirTemp("", "mpq")
	if err != nil {
		return nil, &PhaseError{Phase: "boot", Err: err}
	}
	vm := &VM{
		cfg:         cfg,
		log:         cfg.Logger,
		sockDir:     dir,
		sock:        filepath.Join(dir, "port.sock"),
		exited:      make(chan struct{}),
		consoleDone: make(chan struct{}),
		serving:     make(chan struct{}),
	}
	vm.args = vm.qemuArgs()
	vm.consolePath = cfg.ConsoleLog
	if vm.consolePath == "" {
		vm.consolePath = filepath.Join(dir, "console.log")
	}
	if err := os.MkdirAll(filepath.Dir(vm.consolePath), 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, &PhaseError{Phase: "boot", Err: err}
	}
	if vm.console, err = os.Create(vm.consolePath); err != nil {
		os.RemoveAll(dir)
		return nil, &PhaseError{Phase: "boot", Err: err}
	}
	fmt.Fprintf(vm.console, "# %s\n", vm.CommandLine())

	vm.cmd = exec.CommandContext(ctx, cfg.QEMU, vm.args...)
	vm.cmd.Stdin = nil // /dev/null: -serial stdio must not grab a terminal
	// QEMU dies with the test binary (go test's timeout panic exits
	// without running cleanups).
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := vm.cmd.StdoutPipe()
	if err != nil {
		vm.cleanupFiles()
		return nil, &PhaseError{Phase: "boot", Err: err}
	}
	vm.cmd.Stderr = vm.cmd.Stdout
	vm.log.Info("starting qemu", "command", vm.CommandLine(), "console", vm.consolePath)
	vm.started = time.Now()
	if err := vm.cmd.Start(); err != nil {
		vm.cleanupFiles()
		return nil, &PhaseError{Phase: "boot", Err: fmt.Errorf("start qemu: %w", err)}
	}
	go vm.readConsole(out)
	go func() {
		<-vm.consoleDone // Wait closes the pipe: read it to the end first
		vm.exitErr = vm.cmd.Wait()
		close(vm.exited)
		vm.mu.Lock()
		if vm.sess != nil {
			_ = vm.sess.Close()
		}
		vm.mu.Unlock()
	}()
	return vm, nil
}

func (vm *VM) qemuArgs() []string {
	c := vm.cfg
	if c.Machine == MachineRaspi3b {
		return vm.raspi3bArgs()
	}
	cmdline := BaseAppend
	if c.Append != "" {
		cmdline += " " + c.Append
	}
	arch, _ := archOf(c.Arch) // checked by Start
	args := append(arch.machineArgs(),
		"-smp", fmt.Sprint(c.SMP), "-m", fmt.Sprint(c.MemoryMB),
		"-display", "none", "-monitor", "none", "-serial", "stdio",
		"-no-reboot", "-net", "none",
		"-kernel", c.Kernel,
		"-append", cmdline,
	)
	if c.Initrd != "" {
		args = append(args, "-initrd", c.Initrd)
	}
	if c.Disk != "" {
		format := "raw"
		if strings.HasSuffix(c.Disk, ".qcow2") {
			format = "qcow2"
		}
		args = append(args,
			"-drive", "file="+c.Disk+",format="+format+",if=none,id=hd0,snapshot=on",
			"-device", "virtio-blk-pci,drive=hd0")
	}
	args = append(args,
		"-device", "virtio-serial-pci",
		"-chardev", "socket,id=port0,path="+vm.sock+",server=on,wait=off",
		"-device", "virtserialport,chardev=port0,name="+wire.PortName,
	)
	return append(args, c.ExtraArgs...)
}

// BaseAppend starts every kernel command line. loglevel=5 keeps info and
// notice messages off the slow emulated UART but still prints warnings and
// worse (the whole log is checked through KMSG anyway); cryptomgr.notests
// skips the crypto self-tests, about 0.4 s of a TCG boot. Config.Append
// comes after it and wins (e.g. "loglevel=8").
const BaseAppend = "console=ttyAMA0 panic=-1 loglevel=5 cryptomgr.notests"

// CommandLine returns the QEMU command line, quoted for a shell (to
// reproduce a run by hand).
func (vm *VM) CommandLine() string {
	if vm.target != nil {
		return "attach " + vm.cfg.Target
	}
	q := []string{shellQuote(vm.cfg.QEMU)}
	for _, a := range vm.args {
		q = append(q, shellQuote(a))
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ',' || r == ':' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// StartTime returns when QEMU was started.
func (vm *VM) StartTime() time.Time { return vm.started }

// ConsolePath returns the file the console is written to.
func (vm *VM) ConsolePath() string { return vm.consolePath }

func (vm *VM) readConsole(r io.Reader) {
	defer close(vm.consoleDone)
	br := bufio.NewReaderSize(r, 64<<10)
	w := bufio.NewWriter(vm.console)
	defer func() {
		_ = w.Flush()
		_ = vm.console.Close()
	}()
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			line = strings.TrimRight(line, "\r\n")
			line = strings.ReplaceAll(line, "\r", "")
			fmt.Fprintf(w, "[+%7.3fs] %s\n", time.Since(vm.started).Seconds(), line)
			if br.Buffered() == 0 {
				_ = w.Flush()
			}
			vm.mu.Lock()
			vm.tail = append(vm.tail, line)
			if len(vm.tail) > consoleTailLines {
				vm.tail = vm.tail[len(vm.tail)-consoleTailLines:]
			}
			if isTrouble(line) {
				vm.trouble = append(vm.trouble, line)
			}
			vm.noteAgentLine(line)
			vm.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// ConsoleTail returns the last console lines.
func (vm *VM) ConsoleTail() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return strings.Join(vm.tail, "\n")
}

// Exited is closed when QEMU has exited.
func (vm *VM) Exited() <-chan struct{} { return vm.exited }

// Wait waits for QEMU to exit and returns its exit error.
func (vm *VM) Wait() error {
	<-vm.exited
	return vm.exitErr
}

// Kill kills QEMU at once and waits for it.
func (vm *VM) Kill() {
	if vm.target != nil {
		vm.detach()
		vm.cleanupFiles()
		return
	}
	select {
	case <-vm.exited:
	default:
		_ = vm.cmd.Process.Kill()
		<-vm.exited
	}
	vm.cleanupFiles()
}

func (vm *VM) cleanupFiles() {
	if vm.consolePath == filepath.Join(vm.sockDir, "console.log") {
		return // the console is in sockDir: keep it for the caller to read
	}
	_ = os.RemoveAll(vm.sockDir)
}

// Shutdown ends the VM for good: it powers the guest off when the agent is
// connected (Poweroff, bounded by OpTimeout) and otherwise, or when that
// fails, kills QEMU; then it waits until the console has been read to the
// end, so CheckConsole sees every line. It returns Poweroff's error. Files
// stay for the caller to read: Close removes them.
func (vm *VM) Shutdown() error {
	var err error
	select {
	case <-vm.exited:
	default:
		if vm.sessionUp() {
			ctx, cancel := context.WithTimeout(context.Background(), vm.cfg.budget(vm.cfg.OpTimeout, DefaultOpTimeout))
			err = vm.Poweroff(ctx)
			cancel()
		}
	}
	vm.Kill()
	<-vm.consoleDone
	return err
}

func (vm *VM) sessionUp() bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.sess != nil && !vm.sess.IsClosed()
}

// Close kills QEMU if it still runs and removes the socket directory
// (with the console log if it lives there).
func (vm *VM) Close() error {
	vm.Kill()
	return os.RemoveAll(vm.sockDir)
}

// BootTime returns the time from QEMU start to the agent's first READY
// (0 before the first Connect).
func (vm *VM) BootTime() time.Duration {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.readyAt
}

// Ready is what the guest agent reports about itself, in its READY line at
// each handshake and in reply to Ping.
type Ready struct {
	// UptimeMS is the guest's CLOCK_BOOTTIME at READY in milliseconds.
	UptimeMS int64
	// Session counts the handshakes served since the agent started (1 = first).
	Session int
	// Discarded is how many stale bytes the guest skipped before the HELLO.
	Discarded int64
	// EOFReads counts reads that returned 0 (no host connected) before the HELLO.
	EOFReads int64
	// Mode is "init" (PID 1) or "service".
	Mode string
	// Timings holds named guest boot phases in milliseconds (mounts, modules...).
	Timings map[string]int64
	// Agent is the agent's own path in the guest (tools: "<Agent> tool ...").
	Agent string
	// Daemon is the state of mypolld ("running", "absent", "off", "failed: ...").
	Daemon string
}

// Ready returns the guest's READY payload of the last handshake.
func (vm *VM) Ready() Ready {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.ready
}

// phaseErr wraps err with the phase and, unless the agent merely refused
// (an ERR reply), the console tail.
func (vm *VM) phaseErr(phase string, err error) error {
	if err == nil {
		return nil
	}
	pe := &PhaseError{Phase: phase, Err: err}
	vm.mu.Lock()
	framed := vm.framed
	vm.mu.Unlock()
	if framed != nil && !errors.Is(err, wire.ErrFrame) {
		if ferr := framed.Err(); ferr != nil {
			pe.Err = fmt.Errorf("%w (link: %w)", err, ferr)
		}
	}
	if !errors.Is(err, wire.ErrRemote) {
		select {
		case <-vm.exited:
			pe.Err = fmt.Errorf("%w (qemu exited: %v)", pe.Err, vm.exitErr)
		default:
		}
		pe.ConsoleTail = vm.ConsoleTail()
	}
	return pe
}

// phaseCtx bounds ctx by the phase budget and the config deadline.
func (vm *VM) phaseCtx(ctx context.Context, budget time.Duration) (context.Context, context.CancelFunc) {
	deadline := vm.cfg.Deadline
	if budget > 0 {
		if d := time.Now().Add(budget); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	if deadline.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline)
}
