package server

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/loop"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// Server is one running mypolld instance. All methods except Shutdown,
// Reload and Stats are called on the loop goroutine (inside Run) or before
// Run.
type Server struct {
	cfg Config
	log hclog.Logger
	lp  *loop.Loop

	lst *listener // nil until listening

	dev  device.File // nil without a device
	info devabi.Info
	devR deviceReader

	clients   []*client      // every live client; client.idx is its index
	perUID    map[uint32]int // live clients per peer uid (absent: none)
	dirty     []*client      // clients with unflushed TX or pending work this turn
	triggered uint64         // records this turn's triggers emitted: read the device before flushing
	replayers int            // clients whose feed is replaying
	nextID    uint64

	hist    history
	state   stateFile
	policy  policy
	counter counters
	start   time.Time

	scratch []byte     // one encoded reply or event
	iov     [][]byte   // Sendv argument, reused
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
	closed     [numCloseReasons]uint64 // clients closed, by reason
}

// New validates cfg, opens the device, restores the resume state and starts
// listening. The returned Server is served by Run; Close releases it.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Log,
		start:   cfg.Now(),
		scratch: make([]byte, 0, 2*replyReserve),
		iov:     make([][]byte, 2),
		devBuf:  make([]byte, devReadRecords*devabi.EventSize),
		perUID:  make(map[uint32]int),
	}
	s.hist.init(cfg.History)
	s.state = stateFile{dir: cfg.StateDir}
	sock := socketFile{path: cfg.Socket, mode: cfg.SocketMode, gid: -1}
	if cfg.SocketGroup != "" {
		gid, err := cfg.LookupGroup(cfg.SocketGroup)
		if err != nil {
			return nil, &ConfigError{Field: "SocketGroup", Value: strconv.Quote(cfg.SocketGroup), Err: err}
		}
		sock.gid = int(gid)
	}
	if err := s.policy.load(cfg.ControlGroup, cfg.LookupGroup); err != nil {
		return nil, err
	}
	lp, err := loop.New(cfg.Log.Named("loop"))
	if err != nil {
		return nil, fmt.Errorf("create event loop: %w", err)
	}
	s.lp = lp
	lp.OnTurnEnd(s.flushDirty)
	lp.SetBusyPoll(cfg.BusyPoll)
	if err := s.openDevice(); err != nil {
		s.Close()
		return nil, err
	}
	if s.lst, err = listen(lp, cfg.Log, sock, cfg.ListenFD, s.addConn); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Run serves until Shutdown has drained the clients, or a fatal error.
func (s *Server) Run() error {
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
	if s.cfg.ListenFD != 0 {
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
		s.closeClient(s.clients[len(s.clients)-1], closeStopping, nil)
	}
	if s.lst != nil {
		_ = s.lst.Close()
	}
	if s.dev != nil {
		_ = s.dev.Close()
	}
	if s.lp != nil {
		return s.lp.Close()
	}
	return nil
}

// addConn takes a connection the listener accepted: a client, or a
// refusal when the server is full, the peer's uid holds its share of the
// slots, or the server is shutting down (A.3).
func (s *Server) addConn(fd int) {
	s.counter.accepted++
	switch {
	case s.draining:
		s.lst.refuse(fd, "daemon is shutting down")
		return
	case len(s.clients) >= s.cfg.MaxClients:
		s.lst.refuse(fd, fmt.Sprintf("too many clients (max %d)", s.cfg.MaxClients))
		return
	}
	peer, err := sys.PeerCred(fd)
	if err != nil {
		s.log.Warn("no peer credentials: refusing client", "error", err)
		_ = sys.Close(fd)
		return
	}
	if limit := s.cfg.MaxClientsPerUID; limit != NoLimit && peer.UID != 0 && s.perUID[peer.UID] >= limit {
		s.log.Warn("client refused: its uid holds too many connections", "peer_uid", peer.UID, "peer_pid", peer.PID, "max", limit)
		s.lst.refuse(fd, fmt.Sprintf("too many clients for uid %d (max %d)", peer.UID, limit))
		return
	}
	s.addClient(fd, peer)
}

// beginDrain starts the shutdown: no more accepts or requests; TX queues
// flush until empty or the drain deadline.
func (s *Server) beginDrain() {
	if s.draining {
		return
	}
	s.draining = true
	s.log.Info("shutting down: draining clients", "clients", len(s.clients), "timeout", s.cfg.DrainTimeout)
	s.lst.stop()
	for _, c := range s.clients {
		c.syncInterest() // draining: no more input
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
