package sys

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRetry: EINTR is retried, EAGAIN comes out as the bare ErrWouldBlock,
// any other errno as an *os.SyscallError naming the call, once.
func TestRetry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		errs  []error // what f returns, call by call
		calls int
		check func(error) bool
	}{
		{"ok", []error{nil}, 1, func(err error) bool { return err == nil }},
		{"eintr then ok", []error{unix.EINTR, unix.EINTR, nil}, 3, func(err error) bool { return err == nil }},
		{"eagain", []error{unix.EINTR, unix.EAGAIN}, 2, func(err error) bool { return err == ErrWouldBlock }},
		{"other", []error{unix.EBADF}, 1, func(err error) bool {
			var se *os.SyscallError
			return errors.As(err, &se) && se.Syscall == "op" && se.Err == unix.EBADF
		}},
	} {
		calls := 0
		v, err := retry("op", func() (int, error) {
			err := tc.errs[calls]
			calls++
			return calls, err
		})
		if calls != tc.calls || v != tc.calls || !tc.check(err) {
			t.Errorf("%s: retry = %d, %v after %d calls, want %d calls", tc.name, v, err, calls, tc.calls)
		}
		calls = 0
		err = retryErr("op", func() error {
			err := tc.errs[calls]
			calls++
			return err
		})
		if calls != tc.calls || !tc.check(err) {
			t.Errorf("%s: retryErr = %v after %d calls, want %d calls", tc.name, err, calls, tc.calls)
		}
	}
}

// TestDevice_errors: the device calls wrap their failures like the rest.
func TestDevice_errors(t *testing.T) {
	_, err := OpenDevice("/nonexistent/mypoll", false)
	var se *os.SyscallError
	if !errors.As(err, &se) || se.Syscall != "open" || !errors.Is(err, unix.ENOENT) {
		t.Errorf("OpenDevice(missing) = %v, want an *os.SyscallError for open with ENOENT", err)
	}
	_, err = IoctlGetInfo(-1)
	if !errors.As(err, &se) || se.Syscall != "ioctl" || !errors.Is(err, unix.EBADF) {
		t.Errorf("IoctlGetInfo(-1) = %v, want an *os.SyscallError for ioctl with EBADF", err)
	}
}
