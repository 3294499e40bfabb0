package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/mypoll/mypoll/qemu/internal/wire"
	"golang.org/x/sys/unix"
)

const (
	wirePortName = wire.PortName
	modulesOrder = "/etc/mypoll/modules.order"
	kmodPath     = "/lib/modules/mypoll.ko"
	agentRunDir  = "/run/mypoll-agent"
	echoSocket   = agentRunDir + "/echo.sock"
)

// mountAll mounts what a test image needs; "already mounted" is fine.
func mountAll() error {
	mounts := []struct {
		src, dst, fstype string
		flags            uintptr
		data             string
	}{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"debugfs", "/sys/kernel/debug", "debugfs", 0, ""},
	}
	var errs []error
	for _, m := range mounts {
		_ = os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fstype, m.flags, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err))
		}
	}
	return errors.Join(errs...)
}

// readCmdline returns the key=value words of /proc/cmdline ("" for a bare
// word); double quotes group words as the kernel does.
func readCmdline() map[string]string {
	b, _ := os.ReadFile("/proc/cmdline")
	return parseCmdline(string(b))
}

func parseCmdline(s string) map[string]string {
	out := map[string]string{}
	var words []string
	var cur strings.Builder
	inQuote := false
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r == '"':
			inQuote = !inQuote
		case (r == ' ' || r == '\n' || r == '\t') && !inQuote:
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	for _, w := range words {
		k, v, _ := strings.Cut(w, "=")
		out[k] = v
	}
	return out
}

// loadBootModules loads the modules in modules.order; a module that is
// already loaded is fine, any other failure is logged.
func loadBootModules(log hclog.Logger) {
	b, err := os.ReadFile(modulesOrder)
	if err != nil {
		log.Error("read module list", "error", err)
		return
	}
	for p := range strings.FieldsSeq(string(b)) {
		// EEXIST: an initramfs before us loaded it (the rpi3 SD image's).
		if err := insmod(p, ""); err != nil && !errors.Is(err, unix.EEXIST) {
			log.Error("load module", "path", p, "error", err)
		}
	}
}

func loadKMod(log hclog.Logger, params string) {
	if _, err := os.Stat(kmodPath); err != nil {
		return
	}
	if err := insmod(kmodPath, params); err != nil {
		log.Error("load module", "path", kmodPath, "params", params, "error", err)
		return
	}
	log.Info("module loaded", "path", kmodPath, "params", params)
	applyDeviceRule(log)
}

// insmod loads a module with finit_module(2), falling back to
// init_module(2) where finit_module is missing. Compressed modules (.ko.xz,
// .ko.gz, .ko.zst) are handed to the kernel with
// MODULE_INIT_COMPRESSED_FILE (Linux 5.17+, CONFIG_MODULE_DECOMPRESS).
// u-root's pkg/kmodule would decompress in user space but pulls three
// compression modules into go.mod for a case the test image never has.
func insmod(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	for _, ext := range []string{".xz", ".gz", ".zst"} {
		if strings.HasSuffix(path, ".ko"+ext) {
			flags = moduleInitCompressedFile
		}
	}
	err = unix.FinitModule(int(f.Fd()), params, flags)
	if errors.Is(err, unix.ENOSYS) && flags == 0 {
		var img []byte
		if img, err = os.ReadFile(path); err == nil {
			err = unix.InitModule(img, params)
		}
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return os.NewSyscallError("finit_module "+path, err)
	}
	return nil
}

// moduleInitCompressedFile is MODULE_INIT_COMPRESSED_FILE from
// include/uapi/linux/module.h (Linux 5.17).
const moduleInitCompressedFile = 4

// findPort returns /dev/<vport> of the virtio-serial port named name,
// polling sysfs every 2 ms for up to wait (the port appears asynchronously
// after virtio_console loads; there is no udev for /dev/virtio-ports).
func findPort(name string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		matches, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, m := range matches {
			b, err := os.ReadFile(m)
			if err == nil && strings.TrimSpace(string(b)) == name {
				dev := "/dev/" + filepath.Base(filepath.Dir(m))
				if _, err := os.Stat(dev); err == nil {
					return dev, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no virtio port named %q after %v", name, wait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func uptimeMS() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return -1
	}
	return ts.Nano() / 1e6
}

// poweroff syncs and powers the machine off with reboot(2) only: signalling
// PID 1 instead panics the kernel ("Attempted to kill init!").
func poweroff(log hclog.Logger) {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		log.Error("power off", "error", err)
	}
	select {} // PID 1 must not return
}

// reaper collects orphaned zombies when the agent is PID 1 without
// stealing the exit status of children that os/exec waits for: those are
// started through start and skipped while tracked.
type reaper struct {
	log     hclog.Logger
	mu      sync.Mutex
	tracked map[int]bool
}

func newReaper(log hclog.Logger) *reaper {
	return &reaper{log: log.Named("reaper"), tracked: map[int]bool{}}
}

// start starts cmd and tracks its PID until done is called. A nil reaper
// (service mode) just starts it.
func (r *reaper) start(cmd *exec.Cmd) error {
	if r == nil {
		return cmd.Start()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.tracked[cmd.Process.Pid] = true
	return nil
}

func (r *reaper) done(pid int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	delete(r.tracked, pid)
	r.mu.Unlock()
}

func (r *reaper) run() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGCHLD)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ch:
		case <-tick.C:
		}
		r.reap()
	}
}

// reap scans /proc without the lock (slow under TCG: it must not delay
// start), then reaps the zombies that are not tracked. A tracked child
// cannot be missed: start tracks it under the lock before it can be seen
// here, and done untracks it only after os/exec has waited for it.
func (r *reaper) reap() {
	self := os.Getpid()
	var zombies []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid, ok := procStat(pid); ok && state == 'Z' && ppid == self {
			zombies = append(zombies, pid)
		}
	}
	if len(zombies) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pid := range zombies {
		if r.tracked[pid] {
			continue
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err == nil {
			r.log.Debug("reaped orphan", "pid", pid, "status", int(ws))
		}
	}
}

// procStat returns the state and parent PID from /proc/<pid>/stat.
func procStat(pid int) (byte, int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) S ppid ...": comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return f[0][0], ppid, err == nil
}

// procComm returns /proc/<pid>/comm without the newline.
func procComm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// readLines returns the last n lines of a file (for error messages).
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, " | ")
}
