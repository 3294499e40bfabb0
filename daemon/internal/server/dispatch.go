package server

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/proto"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// handlers executes each verb of proto's table; a test checks that every
// verb has one. A handler queues exactly one reply.
var handlers = [...]func(s *Server, c *client, req proto.Request){
	proto.VerbEcho:       (*Server).echo,
	proto.VerbTrigger:    (*Server).trigger,
	proto.VerbStartTimer: (*Server).startTimer,
	proto.VerbStopTimer:  (*Server).stopTimer,
	proto.VerbTimers:     (*Server).timers,
	proto.VerbSubscribe:  (*Server).subscribe,
	proto.VerbStats:      (*Server).stats,
	proto.VerbOpenDevice: (*Server).openDeviceFor,
	proto.VerbHelp:       (*Server).help,
	proto.VerbQuit:       (*Server).quit,
}

// handlerOf returns the handler of v, or nil.
func handlerOf(v proto.Verb) func(s *Server, c *client, req proto.Request) {
	if int(v) < len(handlers) {
		return handlers[v]
	}
	return nil
}

// handleRequest executes one request line and queues exactly one reply.
func (s *Server) handleRequest(c *client, line []byte) {
	req, perr := proto.ParseRequest(line)
	if perr != nil {
		c.reply(proto.AppendErr(s.scratch[:0], perr))
		return
	}
	if !s.permit(c, req.Verb) {
		return
	}
	h := handlerOf(req.Verb)
	if h == nil {
		s.replyErr(c, req.Verb, proto.ENOSYS, "unknown command")
		return
	}
	h(s, c, req)
}

func (s *Server) echo(c *client, req proto.Request) {
	if req.Text == nil {
		c.reply(proto.AppendOK(s.scratch[:0], req.Verb))
	} else {
		c.reply(proto.AppendOKDetail(s.scratch[:0], req.Verb, req.Text))
	}
}

func (s *Server) help(c *client, _ proto.Request) {
	c.reply(proto.AppendOKHelp(s.scratch[:0]))
}

func (s *Server) quit(c *client, req proto.Request) {
	c.reply(proto.AppendOK(s.scratch[:0], req.Verb))
	c.setPhase(phaseQuitting)
}

func (s *Server) replyErr(c *client, v proto.Verb, errno proto.Errno, msg string) {
	c.reply(proto.AppendErr(s.scratch[:0], &proto.Error{Verb: []byte(v.String()), Errno: errno, Msg: msg}))
}

// haveDevice replies ENODEV and reports false when there is no device.
func (s *Server) haveDevice(c *client, v proto.Verb) bool {
	switch {
	case s.dev == nil:
		s.replyErr(c, v, proto.ENODEV, "no event device (mypolld runs with --device none)")
		return false
	case s.devR.gone:
		s.replyErr(c, v, proto.EIO, "event device failed (unplugged or module error); see the daemon log")
		return false
	}
	return true
}

// deviceErr maps a device call's error to an ERR reply.
func (s *Server) deviceErr(c *client, v proto.Verb, err error, busy, idle string) {
	switch {
	case errors.Is(err, syscall.EBUSY):
		s.replyErr(c, v, proto.EBUSY, busy)
	case errors.Is(err, syscall.ENOENT):
		s.replyErr(c, v, proto.ENOENT, idle)
	case errors.Is(err, syscall.EINVAL):
		s.replyErr(c, v, proto.EINVAL, "device rejected the arguments")
	default:
		c.log.Warn("device call failed", "verb", v.String(), "error", err)
		s.replyErr(c, v, proto.EIO, "device error: "+errnoName(err))
	}
}

func errnoName(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en.Error()
	}
	return "unknown"
}

func (s *Server) trigger(c *client, req proto.Request) {
	if !s.haveDevice(c, req.Verb) {
		return
	}
	if req.Count > s.info.MaxBurst {
		s.replyErr(c, req.Verb, proto.EINVAL, fmt.Sprintf("count must be 1..%d", s.info.MaxBurst))
		return
	}
	first, err := s.dev.Trigger(req.Payload, req.Count)
	if err != nil {
		s.deviceErr(c, req.Verb, err, "", "")
		return
	}
	c.reply(proto.AppendOKTrigger(s.scratch[:0], first, req.Count))
	s.triggered += uint64(req.Count)
}

func (s *Server) startTimer(c *client, req proto.Request) {
	if !s.haveDevice(c, req.Verb) {
		return
	}
	period := uint64(req.PeriodMS) * 1e6
	if period < s.info.MinPeriodNS {
		s.replyErr(c, req.Verb, proto.EINVAL, fmt.Sprintf("period_ms below the device minimum of %d us", s.info.MinPeriodNS/1000))
		return
	}
	// Timers are not OWNED: they are device state and keep running across
	// a daemon restart, so a resuming client loses none of their ticks.
	err := s.dev.TimerStart(devabi.Timer{ID: req.ID, PeriodNS: period, Count: req.TimerCount})
	if err != nil {
		s.deviceErr(c, req.Verb, err, fmt.Sprintf("timer %d already running", req.ID), "")
		return
	}
	c.reply(proto.AppendOKUint(s.scratch[:0], req.Verb, uint64(req.ID)))
}

func (s *Server) stopTimer(c *client, req proto.Request) {
	if !s.haveDevice(c, req.Verb) {
		return
	}
	if err := s.dev.TimerStop(req.ID); err != nil {
		s.deviceErr(c, req.Verb, err, "", fmt.Sprintf("timer %d not running", req.ID))
		return
	}
	c.reply(proto.AppendOKUint(s.scratch[:0], req.Verb, uint64(req.ID)))
}

func (s *Server) timers(c *client, _ proto.Request) {
	var buf [devabi.MaxTimers]proto.TimerInfo
	running := buf[:0]
	if s.dev != nil && !s.devR.gone {
		for id := range uint32(devabi.MaxTimers) {
			t, err := s.dev.TimerGet(id)
			if err != nil {
				s.deviceErr(c, proto.VerbTimers, err, "", "")
				return
			}
			if t.Active == 0 {
				continue
			}
			running = append(running, proto.TimerInfo{ID: id, PeriodMS: t.PeriodNS / 1e6, Ticks: t.Ticks, Count: t.Count})
		}
	}
	c.reply(proto.AppendOKTimers(s.scratch[:0], running))
}

func (s *Server) stats(c *client, _ proto.Request) {
	var stats [13 + numCloseReasons]proto.Stat
	n := copy(stats[:], []proto.Stat{
		{Key: "clients", Value: uint64(len(s.clients))},
		{Key: "max_clients", Value: uint64(s.cfg.MaxClients)},
		{Key: "events", Value: s.counter.events},
		{Key: "lost_device", Value: s.counter.lostDevice},
		{Key: "lost_queue", Value: s.counter.lostQueue},
		{Key: "uptime_ms", Value: uint64(s.uptime().Milliseconds())},
		{Key: "next_seq", Value: s.helloNextSeq()},
		{Key: "instance_id", Value: s.info.InstanceID, Hex: true},
		{Key: "history", Value: uint64(s.hist.end - s.hist.first)},
		{Key: "accepted", Value: s.counter.accepted},
		{Key: "client_id", Value: c.id},
		{Key: "peer_pid", Value: uint64(c.peer.PID)},
		{Key: "peer_uid", Value: uint64(c.peer.UID)},
	})
	for r, v := range s.counter.closed {
		stats[n+r] = proto.Stat{Key: closeStatKeys[r], Value: v}
	}
	c.reply(proto.AppendOKStats(s.scratch[:0], stats[:]))
}

// subscribe sets the client's event set and, with from=, starts a replay
// from the history (A.8). A client starts subscribed to nothing, so a
// from= as its first request is followed by the replay, then live events.
// Later, the replay starts above the last seq this connection was sent:
// never a seq twice, never one out of order (A.6). A from= above next_seq
// cannot come from this device instance (a damaged cursor): ERANGE, and
// the subscription stays as it was (A.8).
func (s *Server) subscribe(c *client, req proto.Request) {
	if next := s.helloNextSeq(); req.HasFrom && req.From > next {
		s.replyErr(c, req.Verb, proto.ERANGE, fmt.Sprintf("from=%d is beyond next_seq %d", req.From, next))
		return
	}
	c.feed.subscribe(req.Filter)
	c.reply(proto.AppendOKSubscribe(s.scratch[:0], req.Filter))
	if !req.HasFrom || c.closed() {
		return
	}
	c.feed.resume(req.From, &s.hist, s.scratch)
	s.pumpReplay(c)
	s.markDirty(c)
}

// openDeviceFor answers open_device (A.9): a read-only fd of the device
// node travels with the OK line (SCM_RIGHTS), for a peer allowed to control
// (checked by permit).
func (s *Server) openDeviceFor(c *client, _ proto.Request) {
	v := proto.VerbOpenDevice
	if !s.haveDevice(c, v) {
		return
	}
	if s.cfg.DevicePath == "" {
		s.replyErr(c, v, proto.ENODEV, "the emulated device has no device node to pass")
		return
	}
	if len(c.fds) >= maxPassFDs {
		s.replyErr(c, v, proto.EMFILE, "too many open_device replies in flight; read them first")
		return
	}
	fd, err := sys.OpenForPeer(s.cfg.DevicePath)
	if err != nil {
		c.log.Warn("open_device failed", "path", s.cfg.DevicePath, "error", err)
		s.replyErr(c, v, proto.EIO, "cannot open the device: "+errnoName(err))
		return
	}
	c.fds = append(c.fds, passFD{fd: fd, at: c.txOff + uint64(c.tx.Len())})
	c.reply(proto.AppendOK(s.scratch[:0], v))
}
