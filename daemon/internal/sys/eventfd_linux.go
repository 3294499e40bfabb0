package sys

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Eventfd returns a new non-blocking, close-on-exec eventfd with counter 0.
// The caller owns it and closes it with Close.
func Eventfd() (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return -1, wrap("eventfd", err)
	}
	return fd, nil
}

// EventfdSignal adds 1 to the counter of eventfd fd, making it readable. It
// may be called from any goroutine and never blocks: a saturated counter
// (EAGAIN) is already readable, so that is not an error.
func EventfdSignal(fd int) error {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], 1)
	_, err := WriteNonblock(fd, b[:])
	if err == ErrWouldBlock {
		return nil
	}
	return err
}

// EventfdDrain reads and resets the counter of eventfd fd. It returns
// (0, nil) when the counter was already 0.
func EventfdDrain(fd int) (uint64, error) {
	var b [8]byte
	_, err := ReadNonblock(fd, b[:])
	if err == ErrWouldBlock {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return binary.NativeEndian.Uint64(b[:]), nil
}
