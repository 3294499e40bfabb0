//go:build mypoll_guest

package ktest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperEnv names the helper a re-executed test binary runs instead of
// the tests (see runHelper).
const helperEnv = "MYPOLL_KTEST_HELPER"

// kmsgFD reads the kernel log from where TestMain started.
var kmsgFD = -1

// lastLoad is how long the last setup's finit_module took (plus the node).
var lastLoad time.Duration

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(h))
	}
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "mypoll-kmod.test runs as root in the QEMU guest (it loads mypoll.ko)")
		os.Exit(2)
	}
	if err := prepareGuest(); err != nil {
		fmt.Fprintln(os.Stderr, "prepare guest:", err)
		os.Exit(2)
	}
	code := m.Run()
	// Leave the module loaded with defaults, as the image's agent does.
	if !moduleLoaded() {
		if err := loadModule(""); err != nil {
			fmt.Fprintln(os.Stderr, "reload with defaults:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func prepareGuest() error {
	mounts, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return err
	}
	if !strings.Contains(string(mounts), " debugfs ") {
		if err := os.MkdirAll("/sys/kernel/debug", 0o700); err != nil {
			return err
		}
		if err := unix.Mount("debugfs", "/sys/kernel/debug", "debugfs", 0, ""); err != nil {
			return fmt.Errorf("mount debugfs: %w", err)
		}
	}
	kmsgFD, err = unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/kmsg: %w", err)
	}
	if _, err := unix.Seek(kmsgFD, 0, unix.SEEK_END); err != nil {
		return fmt.Errorf("seek /dev/kmsg: %w", err)
	}
	return nil
}

// troublePatterns are kernel log fragments that fail a test.
var troublePatterns = []string{
	"BUG", "WARNING:", "Oops", "Unable to handle", "corruption", "Slab cache still has objects",
	"Objects remaining", "Poison overwritten", "Redzone", "Object padding", "soft lockup",
	"hung_task", "blocked for more than", "rcu_sched detected stall", "self-detected stall",
	"general protection", "Kernel panic", "refcount_t",
}

// kernelLog returns the kernel log lines since the last call and those of
// them that report trouble.
func kernelLog() (lines, trouble []string) {
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(kmsgFD, buf)
		if errors.Is(err, unix.EPIPE) {
			continue // overwritten records: the next read resumes
		}
		if err != nil || n == 0 {
			return lines, trouble
		}
		rec := string(buf[:n])
		_, msg, _ := strings.Cut(rec, ";")
		msg, _, _ = strings.Cut(msg, "\n")
		lines = append(lines, msg)
		for _, p := range troublePatterns {
			if strings.Contains(msg, p) {
				trouble = append(trouble, msg)
				break
			}
		}
	}
}

// checkKernel fails t on kernel trouble since the last check and on a
// failing debugfs invariant check (when the module is loaded with hooks).
func checkKernel(t testing.TB) {
	t.Helper()
	if b, err := os.ReadFile("/sys/kernel/debug/mypoll/check"); err == nil {
		if s := strings.TrimSpace(string(b)); s != "ok" {
			t.Errorf("debugfs check: %s", s)
		}
	}
	lines, trouble := kernelLog()
	for _, l := range trouble {
		t.Errorf("kernel: %s", l)
	}
	if len(trouble) > 0 {
		for _, l := range lines {
			t.Logf("kmsg: %s", l)
		}
	}
}

// setup (re)loads mypoll.ko with params (test_hooks=1 is added) and, at
// cleanup, after every fd the test opened is closed, checks that readers is
// back to 0, the debugfs invariant check and the kernel log.
func setup(t *testing.T, params string) {
	t.Helper()
	if moduleLoaded() {
		if err := unloadModule(); err != nil {
			t.Fatalf("unload the previous mypoll (is mypolld holding /dev/mypoll?): %v", err)
		}
	}
	if !strings.Contains(params, "test_hooks") {
		params = strings.TrimSpace(params + " test_hooks=1")
	}
	start := time.Now()
	if err := loadModule(params); err != nil {
		t.Fatal(err)
	}
	lastLoad = time.Since(start)
	t.Cleanup(func() {
		if moduleLoaded() {
			if n := sysfsAttr(t, "readers"); n != 0 {
				t.Errorf("readers = %d after the test closed its files", n)
			}
		}
		checkKernel(t)
	})
}

// helper starts this binary as helper name with extra fds (child fd 3, 4,
// ...) and env; stdout is returned as a line reader.
func helper(t *testing.T, name string, fds []int, env ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + name}, env...)...)
	cmd.Stderr = os.Stderr
	for _, fd := range fds {
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(dup), "mypoll")
		defer f.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd, bufio.NewReader(out)
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() { s, err := r.ReadString('\n'); ch <- res{s, err} }()
	select {
	case v := <-ch:
		if v.err != nil {
			t.Fatalf("helper output: %v", v.err)
		}
		return strings.TrimSpace(v.s)
	case <-time.After(30 * time.Second):
		t.Fatal("helper said nothing for 30s")
	}
	return ""
}

// runHelper is the body of a re-executed test binary.
func runHelper(name string) int {
	switch name {
	case "hold": // keep fd 3 open until stdin closes
		buf := make([]byte, 1)
		os.Stdin.Read(buf)
		return 0
	case "read": // read MYPOLL_N records from fd 3, print their seqs
		var n int
		fmt.Sscan(os.Getenv("MYPOLL_N"), &n)
		buf := make([]byte, n*eventSize)
		got, err := unix.Read(3, buf)
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		for _, e := range decode(buf[:got]) {
			fmt.Println(e.Seq)
		}
		return 0
	case "owner": // start OWNED timers 0..3, then block in read
		fd, err := unix.Open(devPath, unix.O_RDWR, 0)
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		for id := uint32(0); id < 4; id++ {
			a := timerArg{ID: id, Flags: timerOwned, PeriodNS: uint64(5 * time.Millisecond)}
			if err := ioctlPtrTimer(fd, &a); err != nil {
				fmt.Println("error", err)
				return 1
			}
		}
		fmt.Println("ready")
		buf := make([]byte, 64*eventSize)
		for {
			if _, err := unix.Read(fd, buf); err != nil && !errors.Is(err, unix.EINTR) {
				return 1
			}
		}
	case "blockread": // blocking reads of one record from fd 3, print each seq and type
		buf := make([]byte, eventSize)
		for {
			n, err := unix.Read(3, buf)
			if err != nil {
				fmt.Println("error", err)
				return 1
			}
			for _, e := range decode(buf[:n]) {
				fmt.Println(e.Seq, e.Type, e.Aux)
			}
		}
	}
	fmt.Fprintln(os.Stderr, "unknown helper", name)
	return 2
}
