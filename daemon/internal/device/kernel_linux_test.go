package device_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/device"
)

// The module itself is tested in the QEMU guest (kmod/ktest runs
// devicetest against device.Kernel); on the host only the client's own
// behaviour can be checked: open flags, errno passing and Close.

func TestKernel_OpenMissing(t *testing.T) {
	_, err := device.Kernel(filepath.Join(t.TempDir(), "mypoll")).Open(false)
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Open(missing node) error = %v, want ENOENT", err)
	}
}

// A node that does not answer GET_INFO of this ABI version (ENOTTY, as a
// version-1 module does) fails Open with an ABIError that names both
// versions, and Open leaves no fd behind.
func TestKernel_OpenOtherABI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-a-device")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	f, err := device.Kernel(path).Open(true)
	if err == nil {
		f.Close()
		t.Fatal("Open of a node without the ABI succeeded, want an ABIError")
	}
	var ae *device.ABIError
	if !errors.As(err, &ae) || ae.Want != devabi.ABIVersion || ae.Found != 0 || !errors.Is(err, syscall.ENOTTY) {
		t.Fatalf("Open error = %#v, want *ABIError{Want: %d} wrapping ENOTTY", err, devabi.ABIVersion)
	}
	for _, s := range []string{path, "ABI 2", "version 1", "0xB8"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Open error %q does not mention %q", err, s)
		}
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d fds open after the failed Open, %d before", after, before)
	}
	other := &device.ABIError{Path: "/dev/mypoll", Found: 1, Want: 2}
	if got := other.Error(); !strings.Contains(got, "ABI 1") || !strings.Contains(got, "needs ABI 2") {
		t.Errorf("ABIError{Found: 1} = %q, want both versions named", got)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestKernel_File(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-a-device")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := device.FileFromFD(fd)
	if f.FD() < 0 {
		t.Fatalf("FD() = %d", f.FD())
	}
	// A regular file has none of the ioctls: every call reaches the
	// kernel and comes back as ENOTTY.
	calls := map[string]error{}
	_, calls["Info"] = f.Info()
	_, calls["Stats"] = f.Stats()
	_, calls["Reader"] = f.Reader()
	calls["Seek"] = f.Seek(devabi.SeekLive, 0)
	_, calls["Trigger"] = f.Trigger(1, 1)
	calls["TimerStart"] = f.TimerStart(devabi.Timer{PeriodNS: 1e6})
	calls["TimerStop"] = f.TimerStop(0)
	_, calls["TimerGet"] = f.TimerGet(0)
	calls["ResetStats"] = f.ResetStats()
	for name, err := range calls {
		if !errors.Is(err, syscall.ENOTTY) {
			t.Errorf("%s on a regular file error = %v, want ENOTTY", name, err)
		}
	}
	if n, err := f.WriteText([]byte("trigger\n")); n != 8 || err != nil {
		t.Errorf("WriteText = %d, %v; want the write(2) result 8, nil", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := f.Read(make([]byte, 48)); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Read after Close error = %v, want EBADF", err)
	}
	if _, err := f.Info(); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Info after Close error = %v, want EBADF", err)
	}
}
