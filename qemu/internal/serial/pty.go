package serial

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenPTY opens a new pseudo-terminal: its master end, and the path of its
// slave (/dev/pts/N), unlocked and ready to open. Tests use it as a serial
// line: the agent or the harness opens the slave as it would a UART, the
// test plays the other end on the master. The caller closes the master.
func OpenPTY() (master *os.File, slave string, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, "", fmt.Errorf("open a pty: %w", err)
	}
	rc, err := m.SyscallConn()
	if err != nil {
		m.Close()
		return nil, "", err
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr == nil {
			n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	}); err != nil {
		ierr = err
	}
	if ierr != nil {
		m.Close()
		return nil, "", fmt.Errorf("unlock the pty: %w", ierr)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n), nil
}
