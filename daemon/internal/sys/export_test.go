package sys

// Test-only helpers: the daemon never calls them, so they exist only in this
// package's test binary, for the external tests (sys_test).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ConnectUnix returns a non-blocking, close-on-exec AF_UNIX stream socket
// connected to the listener at path. Connecting an AF_UNIX stream socket
// completes at once or fails: ErrWouldBlock means the listener's backlog is
// full, ECONNREFUSED that nobody listens. The caller owns the fd.
func ConnectUnix(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|sockFlags, 0)
	if err != nil {
		return -1, wrap("socket", err)
	}
	err = retryErr("connect", func() error { return unix.Connect(fd, &unix.SockaddrUnix{Name: path}) })
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// maxRecvFDs is how many fds RecvFD makes room for: one is accepted, the
// room for more lets it see (and close) extra fds instead of having them
// silently truncated.
const maxRecvFDs = 4

// Errors RecvFD returns, wrapped, after closing the fds it received: the
// peer sent more fds than one, or more control data than fits (MSG_CTRUNC),
// or control data that does not parse.
var (
	ErrTooManyFDs    = errors.New("more than one fd received")
	ErrControlTrunc  = errors.New("control message truncated")
	errBadControlMsg = errors.New("malformed control message")
)

// RecvFD reads into p from stream socket fd with recvmsg(2) and
// MSG_CMSG_CLOEXEC, and returns the count read and the fd passed with those
// bytes (SCM_RIGHTS), or -1 when none came. The caller owns the returned fd.
// At end of stream it returns (0, -1, nil); with nothing to read,
// ErrWouldBlock. When more than one fd came, or the control data was
// truncated (MSG_CTRUNC) or malformed, it closes every fd received and
// returns the count read with an error matching ErrTooManyFDs or
// ErrControlTrunc: the bytes were consumed.
func RecvFD(fd int, p []byte) (n int, passFD int, err error) {
	var oobBuf [64]byte
	oob := oobBuf[:unix.CmsgSpace(maxRecvFDs*4)]
	var oobn, flags int
	n, err = retry("recvmsg", func() (r int, err error) {
		r, oobn, flags, _, err = unix.Recvmsg(fd, p, oob, unix.MSG_CMSG_CLOEXEC)
		return r, err
	})
	if err != nil {
		return 0, -1, err
	}
	if oobn == 0 && flags&unix.MSG_CTRUNC == 0 {
		return n, -1, nil
	}
	fds, perr := parseRights(oob[:oobn])
	switch {
	case perr != nil:
		err = perr
	case flags&unix.MSG_CTRUNC != 0:
		err = ErrControlTrunc
	case len(fds) > 1:
		err = ErrTooManyFDs
	}
	if err != nil {
		for _, f := range fds {
			unix.Close(f)
		}
		return n, -1, fmt.Errorf("receive fd: %w", err)
	}
	if len(fds) == 0 {
		return n, -1, nil
	}
	return n, fds[0], nil
}

// parseRights returns every fd in the SCM_RIGHTS messages of oob. On a
// parse error it still returns the fds it found, so the caller can close
// them.
func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, errBadControlMsg
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		fds = append(fds, got...)
		if err != nil {
			return fds, errBadControlMsg
		}
	}
	return fds, nil
}

// NoFileLimit returns the soft and hard RLIMIT_NOFILE of this process
// (getrlimit(2)). The Go runtime raises the soft limit to the hard one at
// start-up (os/rlimit.go), so cur is usually max.
func NoFileLimit() (cur, max uint64, err error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, wrap("getrlimit", err)
	}
	return rl.Cur, rl.Max, nil
}

// SetNoFileLimit sets the soft RLIMIT_NOFILE to cur and keeps the hard
// limit. New fds then fail with EMFILE once every number below cur is in
// use (tests of fd exhaustion).
func SetNoFileLimit(cur uint64) error {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return wrap("getrlimit", err)
	}
	rl.Cur = cur
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return wrap("setrlimit", err)
	}
	return nil
}

// ProcessRSS returns the resident set size of this process in bytes, from
// the second field of /proc/self/statm (proc(5)), counted in pages.
func ProcessRSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("parse /proc/self/statm: %d fields", len(f))
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/self/statm: %w", err)
	}
	return pages * uint64(os.Getpagesize()), nil
}
