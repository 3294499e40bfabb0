package sys_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mypoll/mypoll/daemon/internal/sys"
)

func TestOpenDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regular")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, write := range []bool{false, true} {
		fd, err := sys.OpenDevice(path, write)
		if err != nil {
			t.Fatalf("OpenDevice(%q, %v) = %v", path, write, err)
		}
		// A regular file has no mypoll ioctls: ENOTTY, wrapped as a
		// SyscallError naming the call.
		_, err = sys.IoctlGetInfo(fd)
		var se *os.SyscallError
		if !errors.Is(err, syscall.ENOTTY) || !errors.As(err, &se) || se.Syscall != "ioctl" {
			t.Errorf("IoctlGetInfo(regular file) error = %v, want ioctl: ENOTTY", err)
		}
		if err := sys.IoctlResetStats(fd); !errors.Is(err, syscall.ENOTTY) {
			t.Errorf("IoctlResetStats(regular file) error = %v, want ENOTTY", err)
		}
		// The fd must be non-blocking and close-on-exec.
		fl, err := fcntl(fd, syscall.F_GETFL)
		if err != nil || fl&syscall.O_NONBLOCK == 0 {
			t.Errorf("F_GETFL = %#x, %v; want O_NONBLOCK set", fl, err)
		}
		if acc := fl & syscall.O_ACCMODE; (acc == syscall.O_RDWR) != write {
			t.Errorf("access mode %#x for write=%v", acc, write)
		}
		fdfl, err := fcntl(fd, syscall.F_GETFD)
		if err != nil || fdfl&syscall.FD_CLOEXEC == 0 {
			t.Errorf("F_GETFD = %#x, %v; want FD_CLOEXEC", fdfl, err)
		}
		if err := sys.Close(fd); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sys.OpenDevice(filepath.Join(t.TempDir(), "missing"), false); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("OpenDevice(missing) error = %v, want ENOENT", err)
	}
}

func fcntl(fd, cmd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func TestPollIn(t *testing.T) {
	fd, err := sys.Eventfd()
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(fd)
	if ok, err := sys.PollIn(fd, 0); ok || err != nil {
		t.Fatalf("PollIn(empty eventfd, 0) = %v, %v; want false, nil", ok, err)
	}
	start := time.Now()
	if ok, err := sys.PollIn(fd, 20*time.Millisecond); ok || err != nil {
		t.Fatalf("PollIn(empty eventfd, 20ms) = %v, %v; want false, nil", ok, err)
	}
	if d := time.Since(start); d < 15*time.Millisecond {
		t.Errorf("PollIn(20ms) returned after %v, want about 20ms", d)
	}
	if err := sys.EventfdSignal(fd); err != nil {
		t.Fatal(err)
	}
	if ok, err := sys.PollIn(fd, time.Second); !ok || err != nil {
		t.Fatalf("PollIn(signalled eventfd) = %v, %v; want true, nil", ok, err)
	}
	// A hung-up pipe is "readable": the read returns EOF at once.
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer sys.Close(p[0])
	if ok, err := sys.PollIn(p[0], 0); ok || err != nil {
		t.Fatalf("PollIn(empty pipe) = %v, %v; want false, nil", ok, err)
	}
	sys.Close(p[1])
	if ok, err := sys.PollIn(p[0], 0); !ok || err != nil {
		t.Fatalf("PollIn(pipe with writer closed) = %v, %v; want true (POLLHUP), nil", ok, err)
	}
	if ok, err := sys.PollIn(-1, 0); ok || err != nil {
		// poll(2) reports a negative fd as "ignored", not an error.
		t.Fatalf("PollIn(-1) = %v, %v; want false, nil", ok, err)
	}
}

func TestMonotonic(t *testing.T) {
	// The device stamps records with CLOCK_MONOTONIC and so must
	// Monotonic: a clock_gettime(2) between two calls lies between them.
	for range 100 {
		a := sys.Monotonic()
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			t.Fatal(err)
		}
		b := sys.Monotonic()
		if c := time.Duration(ts.Nano()); a <= 0 || c < a || b < c {
			t.Fatalf("Monotonic() = %v, then clock_gettime(CLOCK_MONOTONIC) = %v, then Monotonic() = %v: want them in order", a, c, b)
		}
	}
}
