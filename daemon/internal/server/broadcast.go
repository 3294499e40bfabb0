package server

import (
	"errors"
	"fmt"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/loop"
	"github.com/mypoll/mypoll/daemon/internal/proto"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// devReadRecords is how many records one device read takes; devReadRounds
// bounds the reads per wake so the device cannot starve clients (the fd is
// level-triggered: the loop comes back).
const (
	devReadRecords = 64
	devReadRounds  = 16
)

// deviceReader is the server's device registration and resume state.
type deviceReader struct {
	lid loop.ID
	// restartUntil: OVERFLOW records for seqs below it were generated
	// before this daemon started (reason restart, not device).
	restartUntil uint64
	gone         bool
}

// eventBatch is a run of consecutive events encoded once for all clients.
type eventBatch struct {
	buf []byte
	off []int          // line i is buf[off[i]:off[i+1]]
	ev  []devabi.Event // decoded, for the filters
}

func (b *eventBatch) reset() {
	b.buf, b.off, b.ev = b.buf[:0], b.off[:0], b.ev[:0]
}

func (b *eventBatch) line(i int) []byte { return b.buf[b.off[i]:b.off[i+1]] }

// openDevice opens the configured device read-write and positions its
// cursor: where the previous daemon stopped when the persisted state names
// the same device instance, else at the oldest retained record.
func (s *Server) openDevice() error {
	if s.cfg.Device == nil {
		return nil
	}
	f, err := s.cfg.Device.Open(true)
	if err != nil {
		return fmt.Errorf("open device: %w", err)
	}
	s.dev = f
	if s.info, err = f.Info(); err != nil {
		return fmt.Errorf("device info: %w", err)
	}
	if s.info.ABIVersion != devabi.ABIVersion || s.info.EventSize != devabi.EventSize {
		return fmt.Errorf("device speaks ABI %d with %d-byte records; this daemon needs ABI %d with %d-byte records",
			s.info.ABIVersion, s.info.EventSize, devabi.ABIVersion, devabi.EventSize)
	}
	st, err := f.Stats()
	if err != nil {
		return fmt.Errorf("device stats: %w", err)
	}
	s.devR.restartUntil = st.NextSeq
	prev, havePrev, err := s.state.load()
	if err != nil {
		s.log.Warn("ignoring unreadable state file", "error", err)
	}
	switch {
	case havePrev && prev.instanceID == s.info.InstanceID && prev.lastSeq < st.NextSeq:
		err = f.Seek(devabi.SeekSeq, prev.lastSeq+1)
		s.log.Info("resuming device after the last broadcast event", "seq", prev.lastSeq+1, "next_seq", st.NextSeq)
	case havePrev && prev.instanceID != s.info.InstanceID:
		s.log.Warn("device was reset since the last run (module reloaded): sequence restarts",
			"old_instance_id", fmt.Sprintf("%016x", prev.instanceID), "old_last_seq", prev.lastSeq,
			"instance_id", fmt.Sprintf("%016x", s.info.InstanceID))
		err = f.Seek(devabi.SeekOldest, 0)
	default:
		err = f.Seek(devabi.SeekOldest, 0)
	}
	if err != nil {
		return fmt.Errorf("position device cursor: %w", err)
	}
	ri, err := f.Reader()
	if err != nil {
		return fmt.Errorf("device reader info: %w", err)
	}
	s.hist.nextSeq = ri.Cursor
	s.state.instanceID = s.info.InstanceID
	s.state.lastSeq = ri.Cursor - 1
	s.stateChanged()
	id, err := s.lp.Add(f.FD(), sys.EventIn, loop.HandlerFunc(s.handleDevice))
	if err != nil {
		return fmt.Errorf("watch device: %w", err)
	}
	s.devR.lid = id
	s.log.Info("device open", "instance_id", fmt.Sprintf("%016x", s.info.InstanceID),
		"ring_size", s.info.RingSize, "next_seq", st.NextSeq, "cursor", ri.Cursor)
	return nil
}

// helloNextSeq is the seq the next device event will get (A.3).
func (s *Server) helloNextSeq() uint64 {
	if s.dev != nil && !s.devR.gone {
		if st, err := s.dev.Stats(); err == nil {
			return st.NextSeq
		}
	}
	return s.hist.nextSeq
}

// handleDevice drains the device's records and broadcasts them.
func (s *Server) handleDevice(_ int, events uint32) error {
	for range devReadRounds {
		n, err := s.dev.Read(s.devBuf)
		if errors.Is(err, sys.ErrWouldBlock) {
			return nil
		}
		if err != nil {
			s.deviceGone(err)
			return nil
		}
		if n == 0 {
			break
		}
		s.broadcast(s.devBuf[:n])
		if n < len(s.devBuf) {
			// A short read emptied the ring: another read would only get
			// EAGAIN (a syscall per batch on the kernel device). Records
			// that arrive later make the fd readable again.
			break
		}
	}
	if events&(sys.EventHup|sys.EventErr) != 0 && events&sys.EventIn == 0 {
		s.deviceGone(errors.New("device hung up"))
	}
	return nil
}

// deviceGone stops watching a device that failed (unplugged): the daemon
// keeps serving clients; control requests get EIO.
func (s *Server) deviceGone(err error) {
	if s.devR.gone {
		return
	}
	s.devR.gone = true
	_ = s.lp.Remove(s.devR.lid)
	s.log.Error("event device failed: no more events", "error", err)
}

// broadcast sends the records in buf to every subscribed client.
func (s *Server) broadcast(buf []byte) {
	b := &s.batch
	b.reset()
	for len(buf) >= devabi.EventSize {
		ev, _ := devabi.DecodeEvent(buf)
		buf = buf[devabi.EventSize:]
		if ev.Type == devabi.EvOverflow {
			s.deliverBatch()
			s.overflow(ev)
			continue
		}
		switch ev.Type {
		case devabi.EvTimer, devabi.EvTimerStopped, devabi.EvTrigger:
		default:
			s.log.Warn("skipping device record of unknown type", "seq", ev.Seq, "type", uint16(ev.Type))
			continue
		}
		s.addHistory(histEntry{ev: ev})
		s.counter.events++
		if len(b.off) == 0 {
			b.off = append(b.off, 0)
		}
		b.buf = proto.AppendEvent(b.buf, ev)
		b.off = append(b.off, len(b.buf))
		b.ev = append(b.ev, ev)
	}
	s.deliverBatch()
	s.state.lastSeq = s.hist.nextSeq - 1
	s.stateChanged()
}

// deliverBatch hands the encoded batch to the clients: the whole batch in
// one copy for a healthy client subscribed to everything, else event by event.
func (s *Server) deliverBatch() {
	b := &s.batch
	if len(b.ev) == 0 {
		return
	}
	// Backwards: closeClient swaps the last client into the closed slot.
	for i := len(s.clients) - 1; i >= 0; i-- {
		c := s.clients[i]
		if !c.feed.live() {
			continue
		}
		if c.feed.offerBatch(b) {
			s.markDirty(c)
			continue
		}
		for j := range b.ev {
			if c.closed() {
				break
			}
			s.deliver(c, b.line(j), &b.ev[j])
		}
	}
	b.reset()
}

// deliver offers one event line to c and accounts for a drop.
func (s *Server) deliver(c *client, line []byte, ev *devabi.Event) {
	queued, lost := c.feed.offer(line, ev, s.scratch)
	if queued {
		s.markDirty(c)
	}
	if lost {
		c.lostToQueue()
	}
}

// overflow handles an OVERFLOW record: the daemon did not read seqs
// ev.Seq..ev.Seq+ev.Aux-1 before the ring overwrote them.
func (s *Server) overflow(ev devabi.Event) {
	if ev.Aux == 0 {
		return
	}
	reason := proto.LostDevice
	if ev.Seq < s.devR.restartUntil {
		reason = proto.LostRestart
	}
	e := histEntry{ev: ev, reason: reason}
	s.addHistory(e)
	first, last := ev.Seq, e.lastSeq()
	s.counter.lostDevice += ev.Aux
	s.log.Warn("events lost before the daemon read them", "first_seq", first, "last_seq", last,
		"count", ev.Aux, "reason", reason.String())
	for i := len(s.clients) - 1; i >= 0; i-- {
		c := s.clients[i]
		if c.feed.lostUnseen(first, last, reason, s.scratch) {
			s.markDirty(c)
		}
	}
}

// pumpReplay moves retained events into a resuming client's TX queue while
// they fit; it reports whether it queued anything. Once the client has
// caught up with the history it switches to the live broadcast.
func (s *Server) pumpReplay(c *client) bool {
	if c.closed() {
		return false
	}
	progress, lost := c.feed.replay(&s.hist, s.scratch)
	s.counter.lostQueue += lost
	if progress {
		s.markDirty(c)
	}
	return progress
}

// addHistory retains e. When that drops the oldest entry, the feeds still
// replaying from it account for it first: a matching event they will not
// get is owed as LOST ... queue, counted exactly for their filter (A.6).
func (s *Server) addHistory(e histEntry) {
	if s.replayers > 0 && s.hist.full() {
		idx := s.hist.first
		old := s.hist.at(idx)
		for _, c := range s.clients {
			if c.feed.replaying && !c.closed() {
				s.counter.lostQueue += c.feed.dropHistory(idx, old)
			}
		}
	}
	s.hist.add(e)
}
