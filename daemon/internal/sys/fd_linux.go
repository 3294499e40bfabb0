package sys

import (
	"os"

	"golang.org/x/sys/unix"
)

// ErrWouldBlock is returned unwrapped when a non-blocking call would block
// (EAGAIN). It is a syscall.Errno, so errors.Is(err, syscall.EAGAIN) holds too.
var ErrWouldBlock error = unix.EAGAIN

func wrap(op string, err error) error {
	if err == unix.EAGAIN {
		return ErrWouldBlock
	}
	return os.NewSyscallError(op, err)
}

// Read reads from fd into p. It returns ErrWouldBlock when fd is non-blocking
// and has no data, and (0, nil) at end of file.
func Read(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, wrap("read", err)
		}
		return n, nil
	}
}

// Write writes p to fd once and returns the count written (possibly short).
func Write(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, wrap("write", err)
		}
		return n, nil
	}
}

// Writev writes the buffers to fd in one writev(2) call and returns the
// count written (possibly short). Empty buffers are allowed.
func Writev(fd int, bufs [][]byte) (int, error) {
	for {
		n, err := unix.Writev(fd, bufs)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, wrap("writev", err)
		}
		return n, nil
	}
}

// Close closes fd. It is never retried (close(2): the fd is gone even on
// EINTR); callers log a failure at Debug.
func Close(fd int) error {
	if err := unix.Close(fd); err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}
