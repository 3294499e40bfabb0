package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/mypoll/mypoll/qemu/image"
)

// Default per-phase budgets, before MYPOLL_TIMEOUT_MULT. The median boot
// under TCG is under 2 s; 60 s still fails fast on a hung guest.
const (
	DefaultBootTimeout     = 60 * time.Second
	DefaultOpTimeout       = 30 * time.Second
	DefaultPoweroffTimeout = 10 * time.Second
)

// RequireVM reports whether MYPOLL_REQUIRE_VM=1: a missing VM is then a
// failure, not a skip (make test sets it).
func RequireVM() bool { return os.Getenv("MYPOLL_REQUIRE_VM") == "1" }

// ErrNoVM is wrapped by ConfigFromEnv when no VM can be configured (no
// kernel, image or QEMU binary).
var ErrNoVM = errors.New("no VM configured")

// Config describes one VM.
type Config struct {
	// QEMU is the QEMU binary (default: the architecture's,
	// qemu-system-aarch64 or qemu-system-arm, looked up in PATH).
	QEMU string
	// Kernel is the kernel image: an arm64 Image or a 32-bit ARM zImage
	// (Debian's vmlinuz is one).
	Kernel string

	// Architecture (qemu/arch.go).
	// Arch is the guest architecture, ArchARM64 or ArchARM: it chooses the
	// QEMU binary (when QEMU is empty), the machine and the CPU. Empty: the
	// kernel image's (KernelArch), else ArchARM64.
	Arch string

	// Initrd is the initramfs; the agent must be its /init or a service in it.
	Initrd string
	// Disk is an optional root file system image (raw, or qcow2 by name),
	// attached as virtio-blk /dev/vda with snapshot=on; Append should then
	// hold "root=/dev/vda" (RootArgs does it).
	Disk string
	// Append is added to the kernel command line after BaseAppend.
	Append string
	// SMP is the number of guest CPUs (default 1: TCG boots no faster with 2).
	SMP int
	// MemoryMB is the guest RAM (default 512).
	MemoryMB int
	// ExtraArgs are appended to the QEMU command line.
	ExtraArgs []string
	// ConsoleLog is the file the serial console is written to (default: a
	// file in the socket directory, removed with it).
	ConsoleLog string
	// Logger receives harness events (default: a null logger).
	Logger hclog.Logger
	// TimeoutMult multiplies every default budget (MYPOLL_TIMEOUT_MULT; default 1).
	TimeoutMult float64
	// BootTimeout bounds QEMU start to agent READY; OpTimeout each op but
	// EXEC; PoweroffTimeout POWEROFF to QEMU exit. Zero: the defaults.
	BootTimeout, OpTimeout, PoweroffTimeout time.Duration
	// Deadline, when set, bounds every phase (qemutest.StartT sets it from
	// the test deadline, with a margin for cleanup).
	Deadline time.Time
	// KernelLogWant are texts the kernel log must contain: CheckKernel
	// reports each one missing (the debug kernels' lockdep, KASAN and KCSAN
	// banners, so that their tier cannot pass on a kernel without them).
	KernelLogWant []string
	// BeforePoweroff, when set, runs at the start of every Poweroff while
	// the agent is connected (also the one Shutdown makes), with ctx bounded
	// by OpTimeout: the last moment the guest can be asked anything, such
	// as its kernel log (qemutest.StartT checks it there).
	BeforePoweroff func(ctx context.Context, vm *VM)

	// --- Boards and transports (issue 21; see board.go) ---

	// Machine is the QEMU machine: "" or "virt" (the default), or
	// "raspi3b": Kernel is then U-Boot (u-boot.bin), DTB the board's
	// device tree, SDCard the card it boots from (Initrd, Disk, Append,
	// SMP and MemoryMB do not apply); the agent is on the PL011 (first
	// -serial, a unix socket), the console on the mini UART (second).
	Machine string
	// DTB is given to QEMU with -dtb (raspi3b).
	DTB string
	// SDCard is an SD card image (raspi3b), attached with snapshot=on.
	SDCard string
	// Target, when set, attaches to a board that already runs the agent
	// instead of starting QEMU: "serial:/dev/ttyUSB0[@BAUD][,rtscts]" or
	// "tcp:HOST:PORT". Power-off then only detaches (the board keeps
	// running) unless PowerCmd is set.
	Target string
	// TargetConsole is the board's console line, "/dev/TTY[@BAUD]",
	// captured and scanned like QEMU's console (optional).
	TargetConsole string
	// PowerCmd power-cycles the Target board (run with sh -c); empty: the
	// harness has no power control and tests that need it skip.
	PowerCmd string
}

// RootArgs is the Append text for a rootfs on Disk.
const RootArgs = "root=/dev/vda rw rootwait"

func (c Config) mult() float64 {
	if c.TimeoutMult > 0 {
		return c.TimeoutMult
	}
	return 1
}

func (c Config) budget(d, dflt time.Duration) time.Duration {
	if d <= 0 {
		d = dflt
	}
	return time.Duration(float64(d) * c.mult())
}

// RepoRoot returns the directory of the nearest go.mod at or above the
// working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("repo root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repo root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// OutDir returns MYPOLL_OUT, or <repo root>/out.
func OutDir() (string, error) {
	if d := os.Getenv("MYPOLL_OUT"); d != "" {
		return filepath.Abs(d)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "out"), nil
}

// ConfigFromEnv builds a Config from the build output and the environment:
// MYPOLL_KERNEL (else KIMAGE of <out>/kernel/kernel.env), MYPOLL_INITRD (else
// the image <out>/image/current names), MYPOLL_DISK, MYPOLL_APPEND,
// MYPOLL_ARCH (else the kernel image's architecture), MYPOLL_QEMU (else
// qemu-system-aarch64 or qemu-system-arm in PATH), MYPOLL_SMP,
// MYPOLL_TIMEOUT_MULT, MYPOLL_KLOG_WANT ('|'-separated KernelLogWant);
// <out> is MYPOLL_OUT or the repo's out/. An error
// wrapping ErrNoVM says what is missing.
func ConfigFromEnv() (Config, error) {
	var c Config
	if err := boardFromEnv(&c); err != nil {
		return c, err
	}
	c.Kernel = os.Getenv("MYPOLL_KERNEL")
	c.Initrd = os.Getenv("MYPOLL_INITRD")
	c.Disk = os.Getenv("MYPOLL_DISK")
	c.Append = os.Getenv("MYPOLL_APPEND")
	for w := range strings.SplitSeq(os.Getenv("MYPOLL_KLOG_WANT"), "|") {
		if w != "" {
			c.KernelLogWant = append(c.KernelLogWant, w)
		}
	}
	if s := os.Getenv("MYPOLL_SMP"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return c, fmt.Errorf("MYPOLL_SMP=%q: want a positive integer", s)
		}
		c.SMP = n
	}
	if s := os.Getenv("MYPOLL_TIMEOUT_MULT"); s != "" {
		m, err := strconv.ParseFloat(s, 64)
		if err != nil || m <= 0 {
			return c, fmt.Errorf("MYPOLL_TIMEOUT_MULT=%q: want a positive number", s)
		}
		c.TimeoutMult = m
	}
	if c.Target != "" {
		return c, nil // a board: nothing to boot
	}
	if c.Kernel == "" || (c.Initrd == "" && c.Disk == "" && c.SDCard == "") {
		out, err := OutDir()
		if err != nil {
			return c, fmt.Errorf("%w: %w", ErrNoVM, err)
		}
		if c.Kernel == "" {
			env, err := readEnvFile(filepath.Join(out, "kernel", "kernel.env"))
			if err != nil {
				return c, fmt.Errorf("%w: %w (run 'make kernel' or set MYPOLL_KERNEL)", ErrNoVM, err)
			}
			c.Kernel = env["KIMAGE"]
		}
		if c.Initrd == "" && c.Disk == "" && c.SDCard == "" {
			p, err := image.Current(filepath.Join(out, "image"))
			if err != nil {
				return c, fmt.Errorf("%w: %w (run 'make image' or set MYPOLL_INITRD)", ErrNoVM, err)
			}
			c.Initrd = p
		}
	}
	for _, f := range []string{c.Kernel, c.Initrd, c.Disk, c.SDCard, c.DTB} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return c, fmt.Errorf("%w: %w", ErrNoVM, err)
		}
	}
	arch, err := archFromEnv(c.Kernel)
	if err != nil {
		return c, err
	}
	c.Arch = arch
	c.QEMU = os.Getenv("MYPOLL_QEMU")
	if c.QEMU == "" {
		spec, _ := archOf(c.Arch)
		p, err := exec.LookPath(spec.qemu)
		if err != nil {
			return c, fmt.Errorf("%w: %w (apt-get install qemu-system-arm)", ErrNoVM, err)
		}
		c.QEMU = p
	}
	return c, nil
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}
