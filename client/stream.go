package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Resume connects to the daemon's socket at path and, as its first request,
// subscribes to set from seq from (PROTOCOL.md A.8): the reply is followed by
// the retained events with seq >= from (a LOST ... restart line for those no
// longer retained), then live events, strictly increasing. from = 0 means the
// greeting's next_seq: every event generated after the connect, none missed
// between the greeting and the subscription. ctx bounds the connect, the
// greeting and the reply. On error the connection is closed.
//
// A client resuming after a disconnect passes the last seq it has plus one,
// if the greeting's instance_id is the one that seq belongs to; after a module
// reload (a new instance_id) seqs restart, so it passes 1. Stream does this
// bookkeeping and reconnects by itself.
//
// A from beyond the greeting's next_seq N cannot belong to this instance
// (a damaged cursor; the daemon answers ERANGE): Resume then subscribes
// from N, and the first message Next returns is a Lost 1..N-1 with reason
// ReasonRange (none when N is 1).
func Resume(ctx context.Context, path, set string, from uint64) (*Conn, error) {
	c, err := Dial(ctx, path)
	if err != nil {
		return nil, err
	}
	if from == 0 {
		from = c.Hello().NextSeq
	}
	if _, _, err := c.subscribeFrom(ctx, set, max(from, 1), false); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// subscribeFrom sends "subscribe set from=from". On ERANGE (from beyond
// next_seq, A.8) it subscribes again, and returns the seq it subscribed
// from and ranged = true: with fromStart, from seq 1 (the daemon replays
// what it retains and reports the rest as LOST restart); otherwise from the
// greeting's next_seq N, with a Lost 1..N-1 (ReasonRange) put before the
// events of the new subscription. Without ERANGE it returns from.
func (c *Conn) subscribeFrom(ctx context.Context, set string, from uint64, fromStart bool) (uint64, bool, error) {
	err := c.Subscribe(ctx, set, from)
	var perr *Error
	if !errors.As(err, &perr) || perr.Errno != "ERANGE" {
		return from, false, err
	}
	if fromStart {
		if err := c.Subscribe(ctx, set, 1); err != nil {
			return from, false, err
		}
		return 1, true, nil
	}
	next := max(c.Hello().NextSeq, 1)
	if next >= from {
		return from, false, err // the daemon's next_seq is not the greeting's: no answer to trust
	}
	// The subscription is as it was (none: this is the first request), so
	// nothing is queued yet from it; the events of this one come after the
	// loss, which goes first.
	c.mu.Lock()
	if next > 1 {
		c.events = slices.Insert(c.events, 0, Message{Lost: &Lost{First: 1, Last: next - 1, Count: next - 1, Reason: ReasonRange}})
	}
	c.mu.Unlock()
	if err := c.Subscribe(ctx, set, next); err != nil {
		return from, false, err
	}
	c.signal()
	return next, true, nil
}

// StreamConfig configures a Stream.
type StreamConfig struct {
	// Path is the daemon's socket, used when Dial is nil.
	Path string
	// Dial, when set, opens each connection (for a proxied socket, or to
	// hand over a first connection already made). It must return a Conn on
	// which no request was sent yet.
	Dial func(ctx context.Context) (*Conn, error)
	// Set is the subscription: "all" (the default when empty), "none", or
	// a comma list of items (PROTOCOL.md A.5). Filter, when not nil,
	// overrides it.
	Set    string
	Filter *Filter
	// From is the first seq wanted, of device instance InstanceID. From = 0
	// starts at the first greeting's next_seq. InstanceID = 0 accepts the
	// daemon's instance as it is; another value that differs from the
	// greeting's means seqs restarted: the stream starts at seq 1 of the new
	// instance and says so (Reconnect.NewInstance). A From beyond the
	// daemon's next_seq N for the same instance (a damaged position: the
	// daemon answers ERANGE) makes the stream start at N, after a Lost
	// 1..N-1 with reason ReasonRange.
	From       uint64
	InstanceID uint64
	// MinBackoff and MaxBackoff bound the wait between reconnect attempts:
	// it starts at MinBackoff (default 50ms), doubles per failed attempt up
	// to MaxBackoff (default 5s), and each wait is drawn at random from its
	// upper half (jitter, so that many clients do not reconnect in step).
	MinBackoff, MaxBackoff time.Duration
	// RangeFromStart changes what a From beyond the daemon's next_seq N
	// (ERANGE) does: the stream resumes from seq 1 of the instance, so the
	// daemon replays what it still retains and reports the rest as LOST
	// restart, instead of resuming from N after a ReasonRange Lost. For a
	// program that would rather fetch again what it can than skip it.
	RangeFromStart bool
	// Connected, when set, is called with the details of each new
	// connection, the first one included, once it is subscribed and before
	// Next returns any of its messages, on the goroutine calling Next. It
	// must not call Next. (Next itself returns a Reconnect only after a
	// connection ended or for a new instance.)
	Connected func(Reconnect)
}

// Reconnect describes a new connection of a Stream after the previous one
// ended (the daemon restarted or closed it).
type Reconnect struct {
	Cause      error  // why the previous connection ended
	Attempts   int    // connect attempts it took, at least 1
	InstanceID uint64 // the device instance in the new greeting
	NextSeq    uint64 // the greeting's next_seq
	From       uint64 // the seq the stream resumed from (subscribe from=)
	// NewInstance reports that the greeting names another device instance
	// than the stream's position (the module was reloaded): seqs restarted,
	// the stream resumed from seq 1 of the new instance, and every event of
	// the old instance from OldNext on is lost (how many is unknowable).
	NewInstance   bool
	OldInstanceID uint64
	OldNext       uint64
	// Range reports that the daemon answered ERANGE: the position was
	// beyond its next_seq for this instance (damaged), and the stream
	// resumed from From instead (StreamConfig.RangeFromStart says which).
	Range bool
}

// StreamMessage is what Stream.Next returns: exactly one field is set.
type StreamMessage struct {
	Event     *Event
	Lost      *Lost
	Reconnect *Reconnect
}

// Stream is a subscription that survives daemon restarts: it remembers the
// device instance and the next seq it wants, and when the connection ends
// it reconnects (with exponential backoff and jitter) and resumes with
// "subscribe <set> from=<next>" as the first request, so the events it
// returns are strictly increasing per instance, never repeated, and every
// gap is reported as a Lost (or, across a module reload, a Reconnect with
// NewInstance). Next must be called from one goroutine at a time; Position
// and Close may be called from any goroutine.
type Stream struct {
	cfg StreamConfig

	mu       sync.Mutex // guards the fields below
	conn     *Conn
	closed   bool
	instance uint64 // device instance of next; 0 before the first greeting
	next     uint64 // the next seq wanted; 0 before the first greeting
	cause    error  // why the last connection ended; nil before the first
}

// ErrStreamClosed is returned by Stream.Next after Close.
var ErrStreamClosed = errors.New("mypoll stream closed")

// NewStream returns a Stream for cfg. It does not connect: Next does.
func NewStream(cfg StreamConfig) *Stream {
	if cfg.Filter != nil {
		cfg.Set = cfg.Filter.String()
	}
	if cfg.Set == "" {
		cfg.Set = "all"
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if cfg.Dial == nil {
		path := cfg.Path
		cfg.Dial = func(ctx context.Context) (*Conn, error) { return Dial(ctx, path) }
	}
	return &Stream{cfg: cfg, instance: cfg.InstanceID, next: cfg.From}
}

// Position returns the device instance and the next seq the stream wants:
// the last seq returned (as an Event or inside a Lost) plus one. A program
// that persists its position across its own restarts stores these and
// passes them back as StreamConfig.InstanceID and From.
func (s *Stream) Position() (instanceID, next uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.instance, s.next
}

// Next returns the next event, loss report or reconnect notice, waiting
// until one arrives or ctx ends. When the connection ends it reconnects
// (retrying failed connects until ctx ends) and returns a Reconnect first.
// It returns ctx's error when ctx ends, ErrStreamClosed after Close, and an
// *Error when the daemon refuses the subscription (a bad Set).
func (s *Stream) Next(ctx context.Context) (StreamMessage, error) {
	for {
		s.mu.Lock()
		c, closed := s.conn, s.closed
		s.mu.Unlock()
		if closed {
			return StreamMessage{}, ErrStreamClosed
		}
		if c == nil {
			r, err := s.connect(ctx)
			if err != nil {
				return StreamMessage{}, err
			}
			if r != nil {
				return StreamMessage{Reconnect: r}, nil
			}
			continue
		}
		m, err := c.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return StreamMessage{}, ctx.Err()
			}
			s.drop(c, err)
			continue
		}
		if msg, ok := s.advance(m); ok {
			return msg, nil
		}
	}
}

// advance moves the position past m. The daemon never sends a seq twice
// on one connection (A.6); should one break that, the position never moves
// back, and the message is still returned, for the caller to see.
func (s *Stream) advance(m Message) (StreamMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case m.Event != nil:
		s.next = max(s.next, m.Event.Seq+1)
		return StreamMessage{Event: m.Event}, true
	case m.Lost != nil:
		s.next = max(s.next, m.Lost.Last+1)
		return StreamMessage{Lost: m.Lost}, true
	}
	return StreamMessage{}, false
}

// drop forgets connection c, which ended with err.
func (s *Stream) drop(c *Conn, err error) {
	_ = c.Close()
	s.mu.Lock()
	if s.conn == c {
		s.conn = nil
		s.cause = err
	}
	s.mu.Unlock()
}

// connect opens a connection and resumes, retrying with backoff until it
// works or ctx ends. It returns the Reconnect to report (nil for a first
// connection that needs no notice).
func (s *Stream) connect(ctx context.Context) (*Reconnect, error) {
	wait := s.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		c, r, err := s.resume(ctx)
		if err == nil {
			r.Attempts = attempt
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				_ = c.Close()
				return nil, ErrStreamClosed
			}
			s.conn = c
			r.Cause, s.cause = s.cause, nil
			s.mu.Unlock()
			if s.cfg.Connected != nil {
				s.cfg.Connected(*r)
			}
			if r.Cause == nil && !r.NewInstance {
				return nil, nil // the first connection, where it was asked to start
			}
			return r, nil
		}
		var refused *Error
		if errors.As(err, &refused) && refused.Verb == "subscribe" {
			return nil, err // a bad Set: retrying cannot help
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return nil, ErrStreamClosed
		}
		// Full jitter over the upper half keeps the bound and spreads clients.
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		wait = min(2*wait, s.cfg.MaxBackoff)
	}
}

// resume dials once and subscribes from the stream's position.
func (s *Stream) resume(ctx context.Context) (*Conn, *Reconnect, error) {
	c, err := s.cfg.Dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	h := c.Hello()
	s.mu.Lock()
	r := &Reconnect{InstanceID: h.InstanceID, NextSeq: h.NextSeq}
	switch {
	case s.next == 0: // first connection, From = 0
		r.From = h.NextSeq
	case s.instance != 0 && h.InstanceID != s.instance:
		r.NewInstance, r.OldInstanceID, r.OldNext = true, s.instance, s.next
		r.From = 1
	default:
		r.From = s.next
	}
	s.mu.Unlock()
	from, ranged, err := c.subscribeFrom(ctx, s.cfg.Set, max(r.From, 1), s.cfg.RangeFromStart)
	if err != nil {
		_ = c.Close()
		return nil, nil, fmt.Errorf("resume from seq %s: %w", strconv.FormatUint(r.From, 10), err)
	}
	r.From, r.Range = from, ranged // lower than asked after ERANGE
	s.mu.Lock()
	s.instance, s.next = h.InstanceID, max(r.From, 1)
	s.mu.Unlock()
	return c, r, nil
}

// ErrNotConnected is returned by Stream.Do between connections.
var ErrNotConnected = errors.New("mypoll stream not connected")

// Do sends a request line on the stream's current connection and waits for
// its reply, as Conn.Do does; it may be called from any goroutine, while
// Next waits. Between connections it returns ErrNotConnected. A subscribe
// or quit sent this way changes the stream's own connection: do not.
func (s *Stream) Do(ctx context.Context, line string) (Reply, error) {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return Reply{}, ErrNotConnected
	}
	return c.Do(ctx, line)
}

// Close ends the stream and its connection. A Next waiting on the
// connection returns ErrStreamClosed. A second Close returns nil.
func (s *Stream) Close() error {
	s.mu.Lock()
	c := s.conn
	s.conn, s.closed = nil, true
	s.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	return nil
}
