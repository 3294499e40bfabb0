package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/loop"
	"github.com/mypoll/mypoll/daemon/internal/proto"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// acceptBatch bounds the connections accepted per wake, so a connect storm
// cannot starve the clients already served.
const acceptBatch = 64

// acceptPause is how long the listener rests when even the reserve fd could
// not shed a connection (the process is out of fds).
const acceptPause = 100 * time.Millisecond

// ErrSocketInUse means another process accepts on the socket path.
var ErrSocketInUse = errors.New("socket in use")

// listener owns the listening socket: it binds it (or adopts the one
// systemd passed), sets the socket file's mode and group, accepts
// connections and hands each to onConn, sheds connections when the process
// is out of fds, and unlinks the socket file it created on Close. Only the
// loop goroutine uses it.
type listener struct {
	log  hclog.Logger
	lp   *loop.Loop
	path string // the socket's path; with an activated fd, only for logs

	fd        int         // listening socket, owned; -1 once closed
	lid       loop.ID     // its loop registration
	paused    bool        // removed from the loop after fd exhaustion
	stopped   bool        // removed from the loop for good (shutdown)
	created   os.FileInfo // the socket file this listener bound; nil when activated
	reserveFD int         // /dev/null held to shed a connection at EMFILE; -1 when spent
	line      []byte      // a refusal being written

	// onConn takes each accepted connection and owns its fd.
	onConn func(fd int)
}

// socketFile says how to create the socket file.
type socketFile struct {
	path string
	mode fs.FileMode
	gid  int // -1 keeps the daemon's group
}

// listen binds file (or adopts activatedFD when it is non-zero, owning it
// from then on, also on error), registers the socket with lp and reserves an
// fd for shedding. On error it has released what it acquired.
func listen(lp *loop.Loop, log hclog.Logger, file socketFile, activatedFD int, onConn func(fd int)) (*listener, error) {
	l := &listener{log: log, lp: lp, path: file.path, fd: -1, reserveFD: -1, onConn: onConn}
	if activatedFD != 0 {
		l.fd = activatedFD
	} else if err := l.bind(file); err != nil {
		return nil, err
	}
	id, err := lp.Add(l.fd, sys.EventIn, loop.HandlerFunc(l.handleAccept))
	if err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("watch listening socket: %w", err)
	}
	l.lid = id
	log.Info("listening", "socket", l.path, "activated", activatedFD != 0)
	if l.reserveFD, err = sys.OpenNull(); err != nil {
		log.Warn("no reserve fd for accept at fd exhaustion", "error", err)
	}
	return l, nil
}

// maxSocketPath is the longest path bind(2) takes for an AF_UNIX socket:
// sun_path is 108 bytes with the terminating NUL (unix(7)).
const maxSocketPath = 107

// bind creates the socket directory and file (A.1): a stale socket
// (connect refused) is replaced, a live one is an error.
//
// The socket is never reachable with a wider mode than file.mode, whatever
// the umask: bind(2) creates the file with 0777 &^ umask, so it is bound
// inside a fresh directory of mode 0700 beside the final path, given its
// mode and group there, and renamed onto the path; a process of another uid
// cannot reach it through the private directory meanwhile. The rename also
// replaces a stale socket atomically, so clients never find no file. The
// umask is not changed around bind instead: it is per process, and a file
// created by any other goroutine meanwhile would get it.
func (l *listener) bind(file socketFile) error {
	path := file.path
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return fmt.Errorf("%s exists and is not a socket; remove it or choose another --socket", path)
		}
		conn, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			conn.Close()
			return fmt.Errorf("%w: another daemon is accepting on %s", ErrSocketInUse, path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("probe existing socket %s: %w", path, err)
		}
		l.log.Info("replacing stale socket", "socket", path)
	}
	private, err := os.MkdirTemp(dir, ".mypolld-") // mode 0700
	if err != nil {
		return fmt.Errorf("create private directory for the socket: %w", err)
	}
	defer os.RemoveAll(private) // empty once the socket is renamed
	tmp := filepath.Join(private, "s")
	if len(tmp) > maxSocketPath {
		return fmt.Errorf("socket directory %s: path too long for a socket (bound first as %s, at most %d bytes)", dir, tmp, maxSocketPath)
	}
	fd, err := sys.ListenUnix(tmp, 128)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	l.fd = fd
	err = os.Chmod(tmp, file.mode)
	if err == nil && file.gid >= 0 {
		err = os.Lchown(tmp, -1, file.gid)
	}
	if err != nil {
		_ = l.Close()
		return fmt.Errorf("set socket permissions: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = l.Close()
		return fmt.Errorf("move socket into place: %w", err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		_ = l.Close()
		return fmt.Errorf("socket file: %w", err)
	}
	l.created = fi
	return nil
}

// Close closes the socket and the reserve fd, and unlinks the socket file
// if this listener created it and it is still the same file. It may be
// called twice.
func (l *listener) Close() error {
	var err error
	if l.fd >= 0 {
		err = sys.Close(l.fd)
		l.fd = -1
	}
	if l.created != nil {
		if fi, lerr := os.Lstat(l.path); lerr == nil && os.SameFile(fi, l.created) {
			_ = os.Remove(l.path)
		}
		l.created = nil
	}
	if l.reserveFD >= 0 {
		_ = sys.Close(l.reserveFD)
		l.reserveFD = -1
	}
	return err
}

// stop stops accepting for good; the socket stays open until Close, so
// connecting clients queue in the backlog instead of being refused.
func (l *listener) stop() {
	if l.stopped || l.fd < 0 {
		return
	}
	l.stopped = true
	_ = l.lp.Remove(l.lid)
}

// handleAccept accepts pending connections.
func (l *listener) handleAccept(int, uint32) error {
	for range acceptBatch {
		fd, err := sys.Accept(l.fd)
		switch {
		case err == nil:
		case errors.Is(err, sys.ErrWouldBlock):
			return nil
		case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
			l.shed()
			return nil
		default:
			l.log.Warn("accept failed", "error", err)
			return nil
		}
		l.onConn(fd)
	}
	return nil
}

// refuse sends "ERR - EMFILE <msg>" on a fresh connection and closes it. A
// fresh socket has an empty send buffer, so the non-blocking write does not
// fall short.
func (l *listener) refuse(fd int, msg string) {
	l.line = proto.AppendErr(l.line[:0], &proto.Error{Errno: proto.EMFILE, Msg: msg})
	if _, err := sys.Write(fd, l.line); err != nil {
		l.log.Debug("refusal not sent", "error", err)
	}
	_ = sys.Close(fd)
}

// shed handles accept at fd exhaustion: it spends the reserve fd to accept
// and refuse one connection, so a level-triggered listener does not spin;
// without a reserve the listener pauses briefly.
func (l *listener) shed() {
	if l.reserveFD >= 0 {
		_ = sys.Close(l.reserveFD)
		l.reserveFD = -1
		if fd, err := sys.Accept(l.fd); err == nil {
			l.refuse(fd, "daemon is out of file descriptors")
		}
		if fd, err := sys.OpenNull(); err == nil {
			l.reserveFD = fd
		}
		l.log.Warn("out of file descriptors: refused a connection")
		if l.reserveFD >= 0 {
			return
		}
	}
	if l.paused {
		return
	}
	l.paused = true
	if err := l.lp.Modify(l.lid, 0); err != nil {
		l.log.Error("pause listener", "error", err)
	}
	l.lp.AfterFunc(acceptPause, func() {
		l.paused = false
		if l.stopped || l.fd < 0 {
			return
		}
		if err := l.lp.Modify(l.lid, sys.EventIn); err != nil {
			l.log.Error("resume listener", "error", err)
		}
	})
}
