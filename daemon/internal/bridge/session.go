package bridge

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/client"
)

// session is the daemon side of the bridge: one client.Stream on mypolld
// (reconnect with jittered backoff, resume from the spool's position: C.3's
// R+1) whose every event and loss goes into the spool. The stream's Conn
// reads the socket in its own goroutine into an unbounded queue, so mypolld
// is never blocked by the bridge; the session moves that queue to disk.
type session struct {
	socket string
	filter client.Filter
	spool  *Spool
	log    hclog.Logger
	// onRange is called after mypolld answered ERANGE to the spool's
	// position and the cursor was forgotten (the status changes).
	onRange func()

	stream atomic.Pointer[client.Stream] // nil before run
	// helloInst and helloNext are the last connection's instance and
	// from=, for the status published before any event was acknowledged.
	helloInst, helloNext atomic.Uint64
	inst                 uint64 // the current connection's instance; run's goroutine only
	dialFails            int    // failed dials since the last connection; run's goroutine only
}

func newSession(socket string, f client.Filter, sp *Spool, log hclog.Logger) *session {
	return &session{socket: socket, filter: f, spool: sp, log: log}
}

// hello returns the last connection's instance and the seq it resumed from.
func (s *session) hello() (inst, next uint64) { return s.helloInst.Load(), s.helloNext.Load() }

// run reads mypolld into the spool until ctx ends. It returns an error only
// when mypolld refuses the subscription.
func (s *session) run(ctx context.Context) error {
	inst, from := s.spool.position()
	st := client.NewStream(client.StreamConfig{
		Filter:     &s.filter,
		From:       from,
		InstanceID: inst,
		MinBackoff: daemonMinWait,
		MaxBackoff: daemonMaxWait,
		// A damaged cursor (C.4): fetch again what mypolld retains, and
		// let it report the rest as LOST restart.
		RangeFromStart: true,
		Connected:      s.connected,
		Dial:           s.dial,
	})
	s.stream.Store(st)
	defer st.Close()
	for {
		m, err := st.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("subscribe %s: %w", s.filter, err)
		}
		if m.Reconnect != nil {
			continue // connected logged it
		}
		r := record{Instance: s.inst, Event: m.Event, Lost: m.Lost}
		if _, err := s.spool.add(r); err != nil {
			s.log.Error("spool append", "error", err) // not reached: the spool keeps what the disk refuses
		}
	}
}

// dial connects once; the stream retries with backoff. The first failure
// after a connection is a warning, the rest are debug lines.
func (s *session) dial(ctx context.Context) (*client.Conn, error) {
	c, err := client.Dial(ctx, s.socket)
	if err != nil && ctx.Err() == nil {
		lvl := hclog.Debug
		if s.dialFails == 0 {
			lvl = hclog.Warn
		}
		s.dialFails++
		s.log.Log(lvl, "mypolld unreachable, retrying", "socket", s.socket, "error", err)
	}
	return c, err
}

// connected runs for each new connection, before any of its messages.
func (s *session) connected(r client.Reconnect) {
	s.dialFails = 0
	if r.Cause != nil {
		s.log.Warn("mypolld connection lost, reconnected", "error", r.Cause, "attempts", r.Attempts)
	}
	ackInst, _ := s.spool.Cursor()
	if ackInst != 0 && ackInst != r.InstanceID {
		s.log.Info("new device instance, cursor reset", "instance_id", fmt.Sprintf("%016x", r.InstanceID), "previous", fmt.Sprintf("%016x", ackInst))
	}
	if r.Range {
		// The cursor names a seq this instance has not reached: damaged
		// (C.4). It is forgotten; mypolld replays what it retains from 1
		// and reports the rest as lost.
		s.log.Warn("cursor beyond mypolld's next_seq: damaged, not trusted", "instance_id", fmt.Sprintf("%016x", r.InstanceID),
			"next_seq", r.NextSeq)
		s.spool.beyondNextSeq(r.InstanceID)
	}
	s.inst = r.InstanceID
	s.helloInst.Store(r.InstanceID)
	s.helloNext.Store(r.From)
	if r.Range && s.onRange != nil {
		s.onRange() // the status said the damaged cursor
	}
	s.log.Info("mypolld connected", "instance_id", fmt.Sprintf("%016x", r.InstanceID), "from", r.From)
}

// do sends a request line to mypolld on the session's connection.
func (s *session) do(ctx context.Context, line string) (client.Reply, error) {
	st := s.stream.Load()
	if st == nil {
		return client.Reply{}, client.ErrNotConnected
	}
	return st.Do(ctx, line)
}
