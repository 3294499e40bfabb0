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

// Accept accepts one connection on listening socket lfd and returns its
// non-blocking, close-on-exec fd, which the caller owns. It returns
// ErrWouldBlock when no connection is pending. EINTR and ECONNABORTED (the
// peer gave up while queued) are retried. At fd exhaustion it returns an
// error matching syscall.EMFILE or syscall.ENFILE; the connection stays
// queued, so the listener stays readable and the caller must shed or pause.
func Accept(lfd int) (int, error) {
	fd, err := retry("accept4", func() (int, error) {
		for {
			// The connection was reset while queued (accept(2)): take the next.
			fd, _, err := unix.Accept4(lfd, sockFlags)
			if err != unix.ECONNABORTED {
				return fd, err
			}
		}
	})
	if err != nil {
		return -1, err
	}
	return fd, nil
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
		err := retryErr("getsockopt", func() error {
			_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
				uintptr(unsafe.Pointer(&groups[0])), uintptr(unsafe.Pointer(&size)), 0)
			if errno != 0 {
				return errno
			}
			return nil
		})
		switch {
		case err == nil:
			return groups[:size/4], nil
		case errors.Is(err, unix.ENOPROTOOPT):
			return nil, nil
		case errors.Is(err, unix.ERANGE):
			n := int(size / 4)
			if n <= len(groups) || n > maxPeerGroups {
				return nil, fmt.Errorf("read peer groups: kernel asked for %d groups", n)
			}
			groups = make([]uint32, n)
			continue
		}
		return nil, err
	}
}

// maxIovecs bounds the buffers Sendv passes to one sendmsg(2); it keeps the
// iovec array on the stack. Later buffers are left for the next call, as
// with any short write.
const maxIovecs = 16

// Recv reads from stream socket fd into p with MSG_DONTWAIT, whatever the
// fd's own mode, so it never blocks and is issued raw (see EpollWait). It
// returns ErrWouldBlock when there is no data and (0, nil) at end of
// stream.
func Recv(fd int, p []byte) (int, error) {
	return retry("recvfrom", func() (int, error) {
		return rawRet(unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)),
			unix.MSG_DONTWAIT, 0, 0))
	})
}

// Sendv sends the buffers on stream socket fd in one sendmsg(2) (sendto(2)
// when only one is not empty) with MSG_NOSIGNAL|MSG_DONTWAIT and returns the
// count sent, possibly short (at most the first 16 buffers are used). It
// returns ErrWouldBlock when the socket buffer is full, and an error
// matching syscall.EPIPE when the peer is gone (never SIGPIPE). It does not
// allocate.
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
	if n == 1 {
		// One buffer, the usual case (a ring that has not wrapped):
		// sendto(2) takes it without the msghdr and iovec that sendmsg
		// copies in: about 200 ns less per call here (BenchmarkSendv).
		return retry("sendto", func() (int, error) {
			return rawRet(unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(iov[0].Base)), uintptr(iov[0].Len),
				unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, 0, 0))
		})
	}
	var msg unix.Msghdr
	msg.Iov = &iov[0]
	msg.SetIovlen(n)
	sent, err := retry("sendmsg", func() (int, error) {
		// Raw: MSG_DONTWAIT never blocks, so the runtime need not know (see
		// EpollWait).
		return rawRet(unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)),
			unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT))
	})
	if err != nil {
		return 0, err
	}
	return sent, nil
}

// SendFD sends p and a copy of passFD (SCM_RIGHTS, unix(7)) on stream
// socket fd in one sendmsg(2) with MSG_NOSIGNAL. The caller keeps owning
// passFD. The fd travels with the first byte of p; an empty p sends one
// zero byte and returns 0. It returns the count of p sent, possibly short,
// or ErrWouldBlock when nothing could be sent.
func SendFD(fd int, p []byte, passFD int) (int, error) {
	oob := unix.UnixRights(passFD)
	n, err := retry("sendmsg", func() (int, error) { return unix.SendmsgN(fd, p, oob, nil, unix.MSG_NOSIGNAL) })
	if err != nil {
		return 0, err
	}
	return n, nil
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

// SetSendBuffer bounds the send buffer of socket fd to n bytes as the
// kernel counts them (SO_SNDBUF, socket(7)): data queued and not yet read
// by the peer, with the kernel's bookkeeping, for an AF_UNIX stream socket
// (the receiver's queue is charged to the sender). The kernel doubles the
// value it is given for that bookkeeping, so n/2 is passed and SendBuffer
// reads back n. The kernel raises a value below its minimum
// (SOCK_MIN_SNDBUF, about 4.5 KiB) and caps one above net.core.wmem_max.
func SetSendBuffer(fd, n int) error {
	return wrap("setsockopt", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n/2))
}

// SendBuffer returns the send buffer bound of socket fd in bytes, as the
// kernel counts them (getsockopt SO_SNDBUF).
func SendBuffer(fd int) (int, error) {
	n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	return n, wrap("getsockopt", err)
}

// Unread returns the bytes in stream socket fd's receive queue that were
// not read yet (SIOCINQ, unix(7)).
func Unread(fd int) (int, error) {
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	return n, wrap("ioctl", err)
}
