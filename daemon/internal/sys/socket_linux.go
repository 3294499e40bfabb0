package sys

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sockFlags makes every socket this package creates non-blocking and
// close-on-exec atomically (socket(2), accept4(2)).
const sockFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC

// ListenUnix creates a non-blocking, close-on-exec AF_UNIX stream socket
// bound to path and listening with the given backlog. The caller owns the
// fd. It neither removes a stale socket file nor sets its mode: that is the
// caller's policy. A path in use fails with an error that matches
// syscall.EADDRINUSE under errors.Is.
func ListenUnix(path string, backlog int) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|sockFlags, 0)
	if err != nil {
		return -1, wrap("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, wrap("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, wrap("listen", err)
	}
	return fd, nil
}

// ConnectUnix returns a non-blocking, close-on-exec AF_UNIX stream socket
// connected to the listener at path. Connecting an AF_UNIX stream socket
// completes at once or fails: ErrWouldBlock means the listener's backlog is
// full, ECONNREFUSED that nobody listens. The caller owns the fd.
func ConnectUnix(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|sockFlags, 0)
	if err != nil {
		return -1, wrap("socket", err)
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, wrap("connect", err)
	}
	return fd, nil
}

// Accept accepts one connection on listening socket lfd and returns its
// non-blocking, close-on-exec fd, which the caller owns. It returns
// ErrWouldBlock when no connection is pending. EINTR and ECONNABORTED (the
// peer gave up while queued) are retried. At fd exhaustion it returns an
// error matching syscall.EMFILE or syscall.ENFILE; the connection stays
// queued, so the listener stays readable and the caller must shed or pause.
func Accept(lfd int) (int, error) {
	for {
		fd, _, err := unix.Accept4(lfd, sockFlags)
		switch err {
		case nil:
			return fd, nil
		case unix.EINTR, unix.ECONNABORTED:
			continue
		}
		return -1, wrap("accept4", err)
	}
}

// Socketpair returns a connected pair of non-blocking, close-on-exec
// AF_UNIX stream sockets. The caller owns both.
func Socketpair() (a, b int, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|sockFlags, 0)
	if err != nil {
		return -1, -1, wrap("socketpair", err)
	}
	return fds[0], fds[1], nil
}

// SetSendBuffer sets SO_SNDBUF of socket fd. The kernel doubles the value
// and clamps it to [SOCK_MIN_SNDBUF, wmem_max] (socket(7)).
func SetSendBuffer(fd, bytes int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, bytes); err != nil {
		return wrap("setsockopt", err)
	}
	return nil
}

// SetRecvBuffer sets SO_RCVBUF of socket fd, doubled and clamped like
// SetSendBuffer.
func SetRecvBuffer(fd, bytes int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bytes); err != nil {
		return wrap("setsockopt", err)
	}
	return nil
}

// Peer holds the credentials of a socket peer as they were when it called
// connect(2) (or socketpair(2)): SO_PEERCRED and SO_PEERGROUPS (socket(7)).
type Peer struct {
	PID    int32
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups; empty when the kernel lacks SO_PEERGROUPS (before 4.13)
}

// maxPeerGroups is NGROUPS_MAX (include/uapi/linux/limits.h: 65536).
const maxPeerGroups = 65536

// PeerCred reads the credentials of the peer of connected AF_UNIX socket
// fd. Read them once at accept: they do not change afterwards.
func PeerCred(fd int) (Peer, error) {
	uc, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return Peer{}, wrap("getsockopt", err)
	}
	p := Peer{PID: uc.Pid, UID: uc.Uid, GID: uc.Gid}
	groups, err := peerGroups(fd)
	if err != nil {
		return Peer{}, err
	}
	p.Groups = groups
	return p, nil
}

// peerGroups reads SO_PEERGROUPS. The kernel answers ERANGE and the needed
// length when the buffer is short (net/core/sock.c, sk_getsockopt), and
// ENOPROTOOPT before Linux 4.13.
func peerGroups(fd int) ([]uint32, error) {
	groups := make([]uint32, 16)
	for {
		size := uint32(len(groups) * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&groups[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch errno {
		case 0:
			return groups[:size/4], nil
		case unix.EINTR:
			continue
		case unix.ENOPROTOOPT:
			return nil, nil
		case unix.ERANGE:
			n := int(size / 4)
			if n <= len(groups) || n > maxPeerGroups {
				return nil, fmt.Errorf("read peer groups: kernel asked for %d groups", n)
			}
			groups = make([]uint32, n)
			continue
		}
		return nil, wrap("getsockopt", errno)
	}
}

// maxIovecs bounds the buffers Sendv passes to one sendmsg(2); it keeps the
// iovec array on the stack. Later buffers are left for the next call, as
// with any short write.
const maxIovecs = 16

// Sendv sends the buffers on stream socket fd in one sendmsg(2) with
// MSG_NOSIGNAL|MSG_DONTWAIT and returns the count sent, possibly short (at
// most the first 16 buffers are used). It returns ErrWouldBlock when the
// socket buffer is full, and an error matching syscall.EPIPE when the peer
// is gone (never SIGPIPE). It does not allocate.
func Sendv(fd int, bufs [][]byte) (int, error) {
	var iov [maxIovecs]unix.Iovec
	n := 0
	for _, b := range bufs {
		if n == maxIovecs {
			break
		}
		if len(b) == 0 {
			continue
		}
		iov[n].Base = &b[0]
		iov[n].SetLen(len(b))
		n++
	}
	if n == 0 {
		return 0, nil
	}
	var msg unix.Msghdr
	msg.Iov = &iov[0]
	msg.SetIovlen(n)
	for {
		r, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)),
			unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
		switch errno {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return 0, wrap("sendmsg", errno)
	}
}

// SendFD sends p and a copy of passFD (SCM_RIGHTS, unix(7)) on stream
// socket fd in one sendmsg(2) with MSG_NOSIGNAL. The caller keeps owning
// passFD. The fd travels with the first byte of p; an empty p sends one
// zero byte and returns 0. It returns the count of p sent, possibly short,
// or ErrWouldBlock when nothing could be sent.
func SendFD(fd int, p []byte, passFD int) (int, error) {
	oob := unix.UnixRights(passFD)
	for {
		n, err := unix.SendmsgN(fd, p, oob, nil, unix.MSG_NOSIGNAL)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, wrap("sendmsg", err)
		}
		return n, nil
	}
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
	for {
		n, oobn, flags, _, err = unix.Recvmsg(fd, p, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, -1, wrap("recvmsg", err)
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

// listenFDsStart is SD_LISTEN_FDS_START (sd-daemon.h): passed fds begin at 3.
const listenFDsStart = 3

// ListenFDs returns the fds passed by systemd socket activation
// (sd_listen_fds(3)): LISTEN_FDS fds from fd 3 on, when LISTEN_PID is this
// process. It returns (nil, nil) when the process was not activated. Each fd
// is made close-on-exec and non-blocking; the caller owns them. With
// unsetEnv it removes LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, so that
// children do not inherit them.
func ListenFDs(unsetEnv bool) ([]int, error) {
	if unsetEnv {
		defer func() {
			os.Unsetenv("LISTEN_PID")
			os.Unsetenv("LISTEN_FDS")
			os.Unsetenv("LISTEN_FDNAMES")
		}()
	}
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return nil, nil
	}
	count, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || count < 0 {
		return nil, fmt.Errorf("socket activation: bad LISTEN_FDS %q", os.Getenv("LISTEN_FDS"))
	}
	if count == 0 {
		return nil, nil
	}
	fds := make([]int, 0, count)
	for fd := listenFDsStart; fd < listenFDsStart+count; fd++ {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, wrap("fcntl", err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// IsListeningUnixSocket reports whether fd is a listening AF_UNIX stream
// socket (SO_ACCEPTCONN, SO_DOMAIN, SO_TYPE), as a passed fd must be.
func IsListeningUnixSocket(fd int) bool {
	acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil || acc != 1 {
		return false
	}
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil || dom != unix.AF_UNIX {
		return false
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	return err == nil && typ == unix.SOCK_STREAM
}
