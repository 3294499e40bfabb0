package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/device"
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

// Server is one running mypolld instance. All methods except Shutdown,
// Reload and Stats are called on the loop goroutine (inside Run) or before
// Run.
type Server struct {
	cfg Config
	log hclog.Logger
	lp  *loop.Loop

	lfd       int     // listening socket, owned
	lid       loop.ID // its loop registration
	lpaused   bool    // listener removed from the loop after fd exhaustion
	sockOwned os.FileInfo
	reserveFD int // /dev/null held to shed a connection at EMFILE; -1 when spent

	dev  device.File // nil without a device
	info devabi.Info
	devR deviceReader

	clients   []*client // every live client; client.idx is its index
	dirty     []*client // clients with unflushed TX or pending work this turn
	triggered bool      // a trigger ran this turn: read the device before flushing
	nextID    uint64

	hist    history
	state   stateFile
	policy  policy
	counter counters
	start   time.Time

	scratch []byte     // one encoded reply or event
	iov     [][]byte   // Sendv argument, reused
	rbuf    []byte     // shared socket read buffer
	devBuf  []byte     // device read buffer
	batch   eventBatch // encoded run of events being broadcast

	draining bool
	stopped  bool
}

// counters are the totals reported by stats.
type counters struct {
	events     uint64 // device events broadcast
	lostDevice uint64 // events the daemon lost to the device ring
	lostQueue  uint64 // deliveries dropped because a TX queue was full
	accepted   uint64
}

// New validates cfg, opens the device, restores the resume state and starts
// listening. The returned Server is served by Run; Close releases it.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Log,
		lfd:       -1,
		reserveFD: -1,
		start:     cfg.Now(),
		scratch:   make([]byte, 0, 2*replyReserve),
		iov:       make([][]byte, 2),
		rbuf:      make([]byte, 16384),
		devBuf:    make([]byte, devReadRecords*devabi.EventSize),
	}
	s.hist.init(cfg.History)
	s.state = stateFile{dir: cfg.StateDir}
	if err := s.policy.load(cfg.ControlGroup, cfg.LookupGroup); err != nil {
		return nil, err
	}
	lp, err := loop.New(cfg.Log.Named("loop"))
	if err != nil {
		return nil, fmt.Errorf("create event loop: %w", err)
	}
	s.lp = lp
	lp.OnTurnEnd(s.flushDirty)
	if err := s.openDevice(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.listen(); err != nil {
		s.Close()
		return nil, err
	}
	if s.reserveFD, err = sys.OpenNull(); err != nil {
		s.log.Warn("no reserve fd for accept at fd exhaustion", "error", err)
	}
	return s, nil
}

// Run serves until Shutdown has drained the clients, or a fatal error.
func (s *Server) Run() error {
	if s.state.dir != "" {
		s.lp.AfterFunc(stateInterval, s.persistTick)
	}
	err := s.lp.Run()
	s.persist()
	return err
}

// Shutdown stops accepting, flushes every client's TX queue (bounded by
// Config.DrainTimeout) and makes Run return. Any goroutine may call it.
func (s *Server) Shutdown() { s.lp.Post(s.beginDrain) }

// Reload re-reads the control-group policy (SIGHUP). Any goroutine may call it.
func (s *Server) Reload() { s.lp.Post(s.reload) }

// SocketPath returns the path clients connect to ("" when socket-activated
// on an fd whose name is not known).
func (s *Server) SocketPath() string {
	if s.cfg.ListenFD >= 0 {
		return ""
	}
	return s.cfg.Socket
}

// Close releases everything New acquired; after Run returned, or on error
// paths. It unlinks the socket only if this server created it.
func (s *Server) Close() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	for len(s.clients) > 0 {
		s.closeClient(s.clients[len(s.clients)-1], "daemon stopping")
	}
	if s.lfd >= 0 {
		_ = sys.Close(s.lfd)
		s.lfd = -1
	}
	if s.sockOwned != nil {
		if fi, err := os.Lstat(s.cfg.Socket); err == nil && os.SameFile(fi, s.sockOwned) {
			_ = os.Remove(s.cfg.Socket)
		}
	}
	if s.reserveFD >= 0 {
		_ = sys.Close(s.reserveFD)
		s.reserveFD = -1
	}
	if s.dev != nil {
		_ = s.dev.Close()
	}
	if s.lp != nil {
		return s.lp.Close()
	}
	return nil
}

// listen binds the socket (or adopts the activated one) and registers it.
func (s *Server) listen() error {
	if s.cfg.ListenFD >= 0 {
		s.lfd = s.cfg.ListenFD
	} else {
		fd, err := s.bindSocket()
		if err != nil {
			return err
		}
		s.lfd = fd
	}
	id, err := s.lp.Add(s.lfd, sys.EventIn, loop.HandlerFunc(s.handleAccept))
	if err != nil {
		return fmt.Errorf("watch listening socket: %w", err)
	}
	s.lid = id
	s.log.Info("listening", "socket", s.cfg.Socket, "activated", s.cfg.ListenFD >= 0)
	return nil
}

// ErrSocketInUse means another process accepts on the socket path.
var ErrSocketInUse = errors.New("socket in use")

// bindSocket creates the socket directory and file (A.1): a stale socket
// (connect refused) is replaced, a live one is an error.
func (s *Server) bindSocket() (int, error) {
	path := s.cfg.Socket
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return -1, fmt.Errorf("create socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return -1, fmt.Errorf("%s exists and is not a socket; remove it or choose another --socket", path)
		}
		conn, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			conn.Close()
			return -1, fmt.Errorf("%w: another daemon is accepting on %s", ErrSocketInUse, path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return -1, fmt.Errorf("probe existing socket %s: %w", path, err)
		}
		s.log.Info("replacing stale socket", "socket", path)
		if err := os.Remove(path); err != nil {
			return -1, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	fd, err := sys.ListenUnix(path, 128)
	if err != nil {
		return -1, fmt.Errorf("listen on %s: %w", path, err)
	}
	fi, err := os.Lstat(path)
	if err == nil {
		s.sockOwned = fi
		err = os.Chmod(path, s.cfg.SocketMode)
	}
	if err == nil && s.cfg.SocketGID >= 0 {
		err = os.Lchown(path, -1, s.cfg.SocketGID)
	}
	if err != nil {
		_ = sys.Close(fd)
		return -1, fmt.Errorf("set socket permissions: %w", err)
	}
	return fd, nil
}

// handleAccept accepts pending connections.
func (s *Server) handleAccept(int, uint32) error {
	for range acceptBatch {
		fd, err := sys.Accept(s.lfd)
		switch {
		case err == nil:
		case errors.Is(err, sys.ErrWouldBlock):
			return nil
		case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
			s.shedConnection()
			return nil
		default:
			s.log.Warn("accept failed", "error", err)
			return nil
		}
		s.counter.accepted++
		if len(s.clients) >= s.cfg.MaxClients || s.draining {
			s.refuse(fd, s.refusalMsg())
			continue
		}
		s.addClient(fd)
	}
	return nil
}

func (s *Server) refusalMsg() string {
	if s.draining {
		return "daemon is shutting down"
	}
	return fmt.Sprintf("too many clients (max %d)", s.cfg.MaxClients)
}

// refuse sends "ERR - EMFILE <msg>" on a fresh connection and closes it. A
// fresh socket has an empty send buffer, so the non-blocking write does not
// fall short.
func (s *Server) refuse(fd int, msg string) {
	line := proto.AppendErr(s.scratch[:0], &proto.Error{Errno: proto.EMFILE, Msg: msg})
	if _, err := sys.Write(fd, line); err != nil {
		s.log.Debug("refusal not sent", "error", err)
	}
	_ = sys.Close(fd)
}

// shedConnection handles accept at fd exhaustion: it spends the reserve fd
// to accept and refuse one connection, so a level-triggered listener does
// not spin; without a reserve the listener pauses briefly.
func (s *Server) shedConnection() {
	if s.reserveFD >= 0 {
		_ = sys.Close(s.reserveFD)
		s.reserveFD = -1
		if fd, err := sys.Accept(s.lfd); err == nil {
			s.refuse(fd, "daemon is out of file descriptors")
		}
		if fd, err := sys.OpenNull(); err == nil {
			s.reserveFD = fd
		}
		s.log.Warn("out of file descriptors: refused a connection")
		if s.reserveFD >= 0 {
			return
		}
	}
	if s.lpaused {
		return
	}
	s.lpaused = true
	if err := s.lp.Modify(s.lid, 0); err != nil {
		s.log.Error("pause listener", "error", err)
	}
	s.lp.AfterFunc(acceptPause, func() {
		s.lpaused = false
		if s.draining || s.lfd < 0 {
			return
		}
		if err := s.lp.Modify(s.lid, sys.EventIn); err != nil {
			s.log.Error("resume listener", "error", err)
		}
	})
}

// beginDrain starts the shutdown: no more accepts or requests; TX queues
// flush until empty or the drain deadline.
func (s *Server) beginDrain() {
	if s.draining {
		return
	}
	s.draining = true
	s.log.Info("shutting down: draining clients", "clients", len(s.clients), "timeout", s.cfg.DrainTimeout)
	if s.lfd >= 0 {
		_ = s.lp.Remove(s.lid)
	}
	for _, c := range s.clients {
		c.stopReading()
		s.markDirty(c)
	}
	s.lp.AfterFunc(s.cfg.DrainTimeout, func() {
		s.log.Warn("drain timeout: closing clients with unsent data", "clients", len(s.clients))
		s.lp.Stop()
	})
	s.checkDrained()
}

// checkDrained stops the loop once every queue is empty during a drain.
func (s *Server) checkDrained() {
	if !s.draining {
		return
	}
	for _, c := range s.clients {
		if c.tx.Len() > 0 {
			return
		}
	}
	s.lp.Stop()
}

func (s *Server) reload() {
	if err := s.policy.load(s.cfg.ControlGroup, s.cfg.LookupGroup); err != nil {
		s.log.Error("reload policy failed; keeping the old one", "error", err)
		return
	}
	for _, c := range s.clients {
		c.canControl = s.policy.allows(c.peer)
	}
	s.log.Info("policy reloaded", "control_group", s.cfg.ControlGroup)
}

func (s *Server) uptime() time.Duration { return s.cfg.Now().Sub(s.start) }
