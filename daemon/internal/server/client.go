package server

import (
	"errors"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/loop"
	"github.com/mypoll/mypoll/daemon/internal/proto"
	"github.com/mypoll/mypoll/daemon/internal/sys"
	"github.com/mypoll/mypoll/daemon/internal/txq"
)

// passFD is a device fd to send with the OK open_device line that starts
// at byte offset at of the client's TX stream.
type passFD struct {
	fd int
	at uint64
}

// maxPassFDs bounds the open_device replies in flight per client.
const maxPassFDs = 4

// replyReserve is the TX space kept free for replies: events may fill a
// queue only up to Cap-replyReserve, and a request is processed only while
// at least replyReserve bytes are free, so a reply always fits and is never
// dropped (PROTOCOL.md A.6). The largest reply, an echo of a 1024-byte
// request, is 1032 bytes.
const replyReserve = 2048

// inCap is the per-client input buffer: one partial request line plus what
// one read brings. Pipelined requests beyond it wait in the socket buffer.
const inCap = 2 * proto.MaxLine

// maxReadsPerWake bounds the reads for one client per loop turn (fairness).
const maxReadsPerWake = 4

// flushRounds bounds the rounds of one flush call: a round writes the
// queue and refills it from owed LOST lines, the replay or throttled
// input. A refill marks the client dirty again, so after the last round it
// goes to the back of this turn's dirty list: a client replaying its whole
// history yields to the other clients' flushes every flushRounds queues
// instead of delaying them all behind it.
const flushRounds = 16

// phase is where a client is in its life. With the server's draining flag
// and the TX queue's length it decides the client's epoll interest (see
// interest); setPhase is how it changes.
type phase uint8

const (
	phaseServing   phase = iota // requests are read and answered
	phaseThrottled              // TX queue above high water: requests wait until it drains below low water
	phaseQuitting               // quit or EOF: no more requests; closed once everything owed is sent
	phaseClosed                 // unregistered and closed
)

// client is one connection. Only the loop goroutine touches it.
type client struct {
	srv  *Server
	id   uint64
	fd   int
	lid  loop.ID
	idx  int // index in srv.clients
	peer sys.Peer
	log  hclog.Logger

	tx   *txq.Queue
	in   []byte // unconsumed request bytes are in[r:w]
	r, w int
	fr   proto.Framer

	phase      phase
	mask       uint32 // epoll interest last set: interest() when it was synced
	dirty      bool   // in srv.dirty
	canControl bool

	feed feed // subscription, cursor, replay and owed LOST lines

	txOff      uint64   // bytes of the TX stream sent so far
	fds        []passFD // open_device fds waiting for their OK line to be sent
	stallStart int64    // unix nanos when the queue began dropping; 0 if healthy
}

// HandleEvent is the client's loop.Handler.
func (c *client) HandleEvent(_ int, events uint32) error {
	if c.closed() {
		return nil
	}
	if events&sys.EventErr != 0 {
		c.srv.closeClient(c, closeSocketError, nil)
		return nil
	}
	if events&sys.EventIn != 0 {
		c.readRequests()
		if c.closed() {
			return nil
		}
	}
	if events&sys.EventHup != 0 && !c.closed() {
		c.srv.closeClient(c, closeHangup, nil)
		return nil
	}
	if events&sys.EventOut != 0 {
		c.srv.markDirty(c)
	}
	return nil
}

// readRequests reads and processes requests until the socket is empty, the
// client is throttled, or the per-wake budget is spent.
func (c *client) readRequests() {
	s := c.srv
	for range maxReadsPerWake {
		if c.phase != phaseServing || s.draining {
			return
		}
		if c.in == nil {
			c.in = make([]byte, inCap)
		}
		if c.w == len(c.in) {
			return // processInput left a full buffer: it is throttled
		}
		n, err := sys.Recv(c.fd, c.in[c.w:])
		if errors.Is(err, sys.ErrWouldBlock) {
			return
		}
		if err != nil {
			s.closeClient(c, closeReadError, err)
			return
		}
		if n == 0 {
			c.processInput() // answer what came before EOF
			if c.tx.Len() == 0 && !c.feed.pending() {
				s.closeClient(c, closeEOF, nil)
				return
			}
			c.setPhase(phaseQuitting) // flush what is owed, then close
			s.markDirty(c)
			return
		}
		space := len(c.in) - c.w
		c.w += n
		c.processInput()
		if n < space {
			// A short read drained the socket: skip the read that would
			// only say EAGAIN; level-triggered epoll reports new data.
			return
		}
	}
}

// processInput handles buffered request lines while replies fit.
func (c *client) processInput() {
	s := c.srv
	for c.r < c.w && c.phase == phaseServing {
		if c.tx.Free() < replyReserve {
			c.setPhase(phaseThrottled)
			return
		}
		line, n, kind := c.fr.Next(c.in[c.r:c.w])
		switch kind {
		case proto.Incomplete:
			c.compact()
			return
		case proto.TooLong:
			c.reply(proto.AppendErr(s.scratch[:0], proto.ErrTooLong()))
		case proto.Line:
			s.handleRequest(c, line)
		}
		c.r += n
	}
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
}

func (c *client) compact() {
	if c.r > 0 {
		c.w = copy(c.in, c.in[c.r:c.w])
		c.r = 0
	}
}

// reply queues one reply line. The reserve guarantees it fits; if it does
// not, an invariant is broken and the client is dropped rather than given a
// reply out of order.
func (c *client) reply(line []byte) {
	if !c.tx.Append(line) {
		c.srv.log.Error("reply does not fit in TX queue: dropping client", "client_id", c.id, "len", len(line), "free", c.tx.Free())
		c.srv.closeClient(c, closeReplyOverflow, nil)
		return
	}
	c.srv.markDirty(c)
}

func (c *client) closed() bool { return c.phase == phaseClosed }

// setPhase moves c to p (a closed client stays closed) and syncs its epoll
// interest.
func (c *client) setPhase(p phase) {
	if c.closed() || c.phase == p {
		return
	}
	c.phase = p
	c.syncInterest()
}

// interest is the epoll mask c's state calls for: input while it is
// serving and the daemon is not draining, output while its TX queue holds
// bytes.
func (c *client) interest() uint32 {
	var m uint32
	if c.phase == phaseServing && !c.srv.draining {
		m |= sys.EventIn
	}
	if c.tx.Len() > 0 {
		m |= sys.EventOut
	}
	return m
}

// syncInterest is the one place a client's epoll mask changes: it sets
// interest() if that differs from the mask last set.
func (c *client) syncInterest() {
	if c.closed() {
		return
	}
	m := c.interest()
	if m == c.mask {
		return
	}
	c.mask = m
	if err := c.srv.lp.Modify(c.lid, m); err != nil {
		c.srv.log.Error("update client interest", "client_id", c.id, "error", err)
	}
}

// lowWater is the TX length below which a throttled client is read again.
func (c *client) lowWater() int { return c.tx.Cap() / 2 }

// eventLimit is how full events may make the TX queue.
func (c *client) eventLimit() int { return c.tx.Cap() - replyReserve }

// flush writes queued bytes and advances the client's pending work (owed
// LOST lines, replay, throttled input). It returns false when the client
// was closed.
func (c *client) flush() bool {
	s := c.srv
	for range flushRounds {
		progressed := false
		for c.tx.Len() > 0 {
			n, full, err := c.send()
			if err != nil {
				s.closeClient(c, closeWriteError, err)
				return false
			}
			if n > 0 {
				c.tx.Consume(n)
				c.txOff += uint64(n)
				progressed = true
			}
			if full {
				break
			}
		}
		if c.tx.Len() > 0 {
			break // socket full: EPOLLOUT will call us back
		}
		if !c.feed.gaps.empty() && c.feed.flushGaps(s.scratch) {
			s.markDirty(c)
			progressed = true
		}
		if c.feed.replaying && s.pumpReplay(c) {
			progressed = true
		}
		if c.phase == phaseThrottled && c.tx.Len() <= c.lowWater() {
			c.phase = phaseServing // the mask follows below
			c.processInput()
			progressed = true
		}
		if c.closed() {
			return false
		}
		if !progressed || c.tx.Len() == 0 && !c.feed.pending() {
			break
		}
	}
	if c.tx.Len() < c.lowWater() {
		c.stallStart = 0
	}
	if c.phase == phaseQuitting && c.tx.Len() == 0 && !c.feed.pending() {
		s.closeClient(c, closeQuit, nil)
		return false
	}
	c.syncInterest()
	return true
}

// send writes the front of the TX queue with one sendmsg. An open_device
// reply carries its fd with its first byte, so bytes before it go in a
// send of their own. full reports that the socket took less than offered.
func (c *client) send() (n int, full bool, err error) {
	s := c.srv
	a, b := c.tx.Peek()
	if len(c.fds) > 0 {
		p := c.fds[0]
		if p.at == c.txOff {
			if len(c.fds) > 1 {
				// The next fd must travel with its own line.
				a = a[:min(len(a), int(c.fds[1].at-c.txOff))]
			}
			n, err = sys.SendFD(c.fd, a, p.fd)
			if errors.Is(err, sys.ErrWouldBlock) {
				return 0, true, nil
			}
			if n > 0 {
				_ = sys.Close(p.fd)
				c.fds = c.fds[:copy(c.fds, c.fds[1:])]
			}
			return n, n < len(a), err
		}
		limit := int(p.at - c.txOff)
		if len(a) >= limit {
			a, b = a[:limit], nil
		} else if len(a)+len(b) > limit {
			b = b[:limit-len(a)]
		}
	}
	s.iov[0], s.iov[1] = a, b
	n, err = sys.Sendv(c.fd, s.iov)
	s.iov[0], s.iov[1] = nil, nil
	if errors.Is(err, sys.ErrWouldBlock) {
		return 0, true, nil
	}
	return n, n < len(a)+len(b), err
}

func (s *Server) markDirty(c *client) {
	if !c.dirty && !c.closed() {
		c.dirty = true
		s.dirty = append(s.dirty, c)
	}
}

// flushDirty runs at the end of every loop turn: one write per client with
// pending bytes, however many lines were queued this turn.
func (s *Server) flushDirty() {
	if n := s.triggered; n > 0 {
		// The records of this turn's triggers are in the device already.
		// Read them now, so that they leave in this flush, not one turn
		// later, and send them before the trigger replies (their receivers
		// were dirtied last), so that a subscriber's wake-up does not queue
		// behind the publisher's. Only a busy turn (it began with work
		// waiting) whose triggers made a device read's worth of records or
		// more leaves them to the next turn, where they are read with
		// whatever else the device holds by then: under a flood of bursts
		// that batching is worth more than the turn (reading every turn's
		// records at once cost 5-11 % of the fan-out rate at 16 and 64
		// subscribers). Small triggers in a busy turn are a paced
		// publisher that fell behind: deferring its event let its reply
		// overtake the event, its next trigger came at once, the loop
		// stayed busy and every event left a turn late (docs/latency.md).
		s.triggered = 0
		if !s.devR.gone && (n < devReadRecords || s.lp.StartedIdle()) {
			from := len(s.dirty)
			_ = s.handleDevice(0, sys.EventIn)
			s.flushFrom(from)
		}
	}
	s.flushFrom(0)
	s.checkDrained()
}

// flushFrom flushes s.dirty[from:], including clients dirtied meanwhile,
// and truncates the list to from.
func (s *Server) flushFrom(from int) {
	for i := from; i < len(s.dirty); i++ {
		c := s.dirty[i]
		c.dirty = false
		if !c.closed() {
			c.flush()
		}
		s.dirty[i] = nil
	}
	s.dirty = s.dirty[:from]
}

// addClient registers an accepted connection of peer and greets it (A.3).
func (s *Server) addClient(fd int, peer sys.Peer) {
	s.nextID++
	c := &client{
		srv:   s,
		id:    s.nextID,
		fd:    fd,
		idx:   len(s.clients),
		peer:  peer,
		tx:    txq.New(s.cfg.TXQBytes),
		phase: phaseServing,
		mask:  sys.EventIn,
	}
	c.log = s.log.With("client_id", c.id, "peer_pid", peer.PID, "peer_uid", peer.UID)
	c.canControl = s.policy.allows(peer)
	if err := sys.SetSendBuffer(fd, s.cfg.SendBuffer); err != nil {
		c.log.Warn("cannot bound the socket send buffer", "error", err)
	}
	lid, err := s.lp.Add(fd, sys.EventIn, c)
	if err != nil {
		s.log.Error("register client", "error", err)
		_ = sys.Close(fd)
		return
	}
	c.lid = lid
	s.clients = append(s.clients, c)
	s.perUID[peer.UID]++
	next := s.helloNextSeq()
	c.feed = newFeed(c.tx, c.eventLimit(), next, &s.replayers)
	c.reply(proto.AppendHello(s.scratch[:0], s.info.InstanceID, next))
	c.log.Debug("client connected", "clients", len(s.clients))
}

// closeClient unregisters and closes c; reason is counted for stats and,
// with err when there is one, goes to the debug log.
func (s *Server) closeClient(c *client, reason closeReason, err error) {
	if c.closed() {
		return
	}
	c.phase = phaseClosed
	s.counter.closed[reason]++
	c.feed.stop()
	if err := s.lp.Remove(c.lid); err != nil {
		s.log.Debug("unregister client", "client_id", c.id, "error", err)
	}
	if err := sys.Close(c.fd); err != nil {
		s.log.Debug("close client", "client_id", c.id, "error", err)
	}
	for _, p := range c.fds {
		_ = sys.Close(p.fd)
	}
	c.fds = nil
	if n := s.perUID[c.peer.UID] - 1; n > 0 {
		s.perUID[c.peer.UID] = n
	} else {
		delete(s.perUID, c.peer.UID)
	}
	last := s.clients[len(s.clients)-1]
	s.clients[c.idx] = last
	last.idx = c.idx
	s.clients[len(s.clients)-1] = nil
	s.clients = s.clients[:len(s.clients)-1]
	if err != nil {
		c.log.Debug("client disconnected", "reason", reason.String(), "error", err, "clients", len(s.clients))
		return
	}
	c.log.Debug("client disconnected", "reason", reason.String(), "clients", len(s.clients))
}
