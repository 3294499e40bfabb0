package sys

import "golang.org/x/sys/unix"

// OpenNull opens /dev/null read-only, close-on-exec. The daemon keeps one
// such fd in reserve so that at fd exhaustion it can close it, accept one
// pending connection and refuse it cleanly instead of spinning on EMFILE.
func OpenNull() (int, error) {
	return openFile("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC)
}

// OpenForPeer opens path read-only and close-on-exec, in blocking mode, to
// be passed to a client with SendFD: O_NONBLOCK would be shared with the
// receiver through the open file description, so it is left to the peer.
func OpenForPeer(path string) (int, error) {
	return openFile(path, unix.O_RDONLY|unix.O_CLOEXEC)
}

// openFile opens path with flags, retrying EINTR (open(2) on a FIFO or a
// device may block and be interrupted). It returns -1 on failure.
func openFile(path string, flags int) (int, error) {
	fd, err := retry("open", func() (int, error) { return unix.Open(path, flags, 0) })
	if err != nil {
		return -1, err
	}
	return fd, nil
}

// Dup returns a close-on-exec duplicate of fd (F_DUPFD_CLOEXEC), owned by
// the caller.
func Dup(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, wrap("fcntl", err)
	}
	return nfd, nil
}
