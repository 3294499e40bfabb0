package sys

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrWouldBlock is returned unwrapped when a non-blocking call would block
// (EAGAIN). It is a syscall.Errno, so errors.Is(err, syscall.EAGAIN) holds too.
var ErrWouldBlock error = unix.EAGAIN

// wrap is the package's one error wrapper: EAGAIN becomes the bare
// ErrWouldBlock, anything else an *os.SyscallError naming op.
func wrap(op string, err error) error {
	if err == unix.EAGAIN {
		return ErrWouldBlock
	}
	return os.NewSyscallError(op, err)
}

// retry calls f again while it fails with EINTR (signal(7): a handler
// installed without SA_RESTART interrupts a blocking call) and wraps any
// other failure with wrap(op, err). On failure it returns f's value as is
// (-1 for the fd of a failed open). f does not escape, so the closure
// costs no allocation.
func retry[T any](op string, f func() (T, error)) (T, error) {
	for {
		v, err := f()
		switch err {
		case nil:
			return v, nil
		case unix.EINTR:
			continue
		}
		return v, wrap(op, err)
	}
}

// retryErr is retry for a call that returns only an error.
func retryErr(op string, f func() error) error {
	_, err := retry(op, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

// Read reads from fd into p. It returns ErrWouldBlock when fd is non-blocking
// and has no data, and (0, nil) at end of file.
func Read(fd int, p []byte) (int, error) {
	n, err := retry("read", func() (int, error) { return unix.Read(fd, p) })
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ReadNonblock is Read for an fd the caller knows is O_NONBLOCK. It never
// blocks, so it is issued as a raw syscall without telling the Go
// scheduler (see EpollWait). On a blocking fd it would stall the runtime:
// use Read.
func ReadNonblock(fd int, p []byte) (int, error) {
	return retry("read", func() (int, error) {
		return rawRet(unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p))))
	})
}

// WriteNonblock is Write for an fd the caller knows is O_NONBLOCK, issued
// raw like ReadNonblock.
func WriteNonblock(fd int, p []byte) (int, error) {
	return retry("write", func() (int, error) {
		return rawRet(unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p))))
	})
}

// rawRet turns a raw syscall's results into a count or an errno.
func rawRet(r, _ uintptr, errno unix.Errno) (int, error) {
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// Write writes p to fd once and returns the count written (possibly short).
func Write(fd int, p []byte) (int, error) {
	n, err := retry("write", func() (int, error) { return unix.Write(fd, p) })
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Close closes fd. It is never retried (close(2): the fd is gone even on
// EINTR); callers log a failure at Debug.
func Close(fd int) error {
	if err := unix.Close(fd); err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}
