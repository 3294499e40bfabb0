package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Echo sends "echo <text>" and returns the echoed text. The daemon returns
// the text byte for byte; it must be printable ASCII on one line.
func (c *Conn) Echo(ctx context.Context, text string) (string, error) {
	if err := checkText("echo text", text); err != nil {
		return "", err
	}
	line := "echo"
	if text != "" {
		line += " " + text
	}
	r, err := c.doVerb(ctx, "echo", line)
	if err != nil {
		return "", err
	}
	return r.Detail, err
}

// Trigger asks the device for count events with payload and returns the
// seq of the first one and how many there are (consecutive seqs). count 0
// means 1. The daemon limits count to the device's max_burst (EINVAL).
func (c *Conn) Trigger(ctx context.Context, payload uint64, count uint32) (firstSeq uint64, n uint32, err error) {
	if count == 0 {
		count = 1
	}
	r, err := c.doVerb(ctx, "trigger", fmt.Sprintf("trigger %d %d", payload, count))
	if err != nil {
		return 0, 0, err
	}
	f := strings.Split(r.Detail, " ")
	var ok1, ok2 bool
	var n64 uint64
	if len(f) == 2 {
		firstSeq, ok1 = parseUint(f[0], 64)
		n64, ok2 = parseUint(f[1], 32)
	}
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("%w: trigger reply %q", ErrProtocol, r.Detail)
	}
	return firstSeq, uint32(n64), nil
}

// StartTimer starts timer id (0..7) with the given period, a whole number
// of milliseconds from 1 ms to 1 h, for count ticks (0 = until stopped). A
// running id gives an *Error with Errno "EBUSY".
func (c *Conn) StartTimer(ctx context.Context, id uint32, period time.Duration, count uint64) error {
	if period <= 0 || period%time.Millisecond != 0 {
		return fmt.Errorf("timer period %v: must be a positive whole number of milliseconds", period)
	}
	return c.StartTimerMS(ctx, id, uint64(period.Milliseconds()), count)
}

// StartTimerMS is StartTimer with the period in milliseconds, sent as given:
// the daemon checks the ranges (id 0..7, period 1..3600000) and answers an
// *Error with Errno "EINVAL" for a value out of range, as it does for any
// client.
func (c *Conn) StartTimerMS(ctx context.Context, id uint32, periodMS, count uint64) error {
	line := fmt.Sprintf("start_timer %d %d %d", id, periodMS, count)
	_, err := c.doVerb(ctx, "start_timer", line)
	return err
}

// StopTimer stops timer id. An idle id gives an *Error with Errno "ENOENT".
func (c *Conn) StopTimer(ctx context.Context, id uint32) error {
	_, err := c.doVerb(ctx, "stop_timer", fmt.Sprintf("stop_timer %d", id))
	return err
}

// Timer is a running timer, as listed by Timers.
type Timer struct {
	ID     uint32
	Period time.Duration
	Ticks  uint64 // ticks so far
	Count  uint64 // ticks to run; 0 = until stopped
}

// Timers lists the running timers in ascending id.
func (c *Conn) Timers(ctx context.Context) ([]Timer, error) {
	r, err := c.doVerb(ctx, "timers", "timers")
	if err != nil {
		return nil, err
	}
	return parseTimers(r.Detail)
}

func parseTimers(detail string) ([]Timer, error) {
	timers := []Timer{}
	if detail == "" {
		return timers, nil
	}
	for item := range strings.SplitSeq(detail, " ") {
		f := strings.Split(item, ":")
		if len(f) != 4 {
			return nil, fmt.Errorf("%w: timers item %q", ErrProtocol, item)
		}
		id, ok1 := parseUint(f[0], 32)
		ms, ok2 := parseUint(f[1], 32)
		ticks, ok3 := parseUint(f[2], 64)
		count, ok4 := parseUint(f[3], 64)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, fmt.Errorf("%w: timers item %q", ErrProtocol, item)
		}
		timers = append(timers, Timer{ID: uint32(id), Period: time.Duration(ms) * time.Millisecond, Ticks: ticks, Count: count})
	}
	return timers, nil
}

// Subscribe sets which events this connection receives: "all", "none", or
// a comma list of items (PROTOCOL.md A.5; see ParseFilter). With from > 0 the daemon first
// replays the retained events with seq >= from (PROTOCOL.md A.8); 0 means
// live events only.
func (c *Conn) Subscribe(ctx context.Context, set string, from uint64) error {
	s := Subscription{Set: set}
	if from > 0 {
		s.From = &from
	}
	_, err := c.SubscribeTo(ctx, s)
	return err
}

// Subscription is one subscribe request (PROTOCOL.md A.5, A.8).
type Subscription struct {
	// Set is "all", "none", or a comma list of items (PROTOCOL.md A.5):
	// Filter.String gives one, ParseFilter reads one.
	Set string
	// From, when not nil, is sent as from=<seq>, 0 included: the daemon
	// replays the retained events with seq >= *From before live ones.
	From *uint64
}

// SubscribeTo sends the subscribe request s and returns the set as the
// daemon's reply names it. The set is passed through for the daemon to
// judge; an unknown one gives an *Error with Errno "EINVAL".
func (c *Conn) SubscribeTo(ctx context.Context, s Subscription) (string, error) {
	if err := checkText("subscription set", s.Set); err != nil {
		return "", err
	}
	line := "subscribe " + s.Set
	if s.From != nil {
		line += " from=" + strconv.FormatUint(*s.From, 10)
	}
	r, err := c.doVerb(ctx, "subscribe", line)
	return r.Detail, err
}

// SubscribeFilter sets which events this connection receives to f (with
// from > 0, after replaying the retained ones with seq >= from, as in
// Subscribe) and returns the filter the daemon's reply names, in canonical
// form. A filter of more than MaxFilterItems items is refused here, with an
// error wrapping ErrBadFilter, as the daemon would refuse it.
func (c *Conn) SubscribeFilter(ctx context.Context, f Filter, from uint64) (Filter, error) {
	if n := f.Len(); n > MaxFilterItems {
		return None, fmt.Errorf("%w: %d items, at most %d", ErrBadFilter, n, MaxFilterItems)
	}
	s := Subscription{Set: f.String()}
	if from > 0 {
		s.From = &from
	}
	got, err := c.SubscribeTo(ctx, s)
	if err != nil {
		return None, err
	}
	return parseSubscribed(got)
}

// parseSubscribed parses the set of an "OK subscribe" reply, which must be
// canonical (PROTOCOL.md A.5).
func parseSubscribed(detail string) (Filter, error) {
	f, err := ParseFilter(detail)
	if err != nil || f.String() != detail {
		return None, fmt.Errorf("%w: subscribe reply %q is not a canonical set", ErrProtocol, detail)
	}
	return f, nil
}

// Stats returns the daemon's counters as key=value pairs (at least
// clients, max_clients, events, lost_device, lost_queue, uptime_ms,
// next_seq and instance_id).
func (c *Conn) Stats(ctx context.Context) (map[string]string, error) {
	r, err := c.doVerb(ctx, "stats", "stats")
	if err != nil {
		return nil, err
	}
	stats := make(map[string]string)
	for kv := range strings.FieldsSeq(r.Detail) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: stats item %q", ErrProtocol, kv)
		}
		stats[k] = v
	}
	return stats, nil
}

// Help returns the verbs the daemon accepts.
func (c *Conn) Help(ctx context.Context) ([]string, error) {
	r, err := c.doVerb(ctx, "help", "help")
	if err != nil {
		return nil, err
	}
	return strings.Fields(r.Detail), nil
}

// Quit asks the daemon to flush what it queued for this connection and
// close it. Events sent before the close stay available to Next; Close
// must still be called.
func (c *Conn) Quit(ctx context.Context) error {
	_, err := c.doVerb(ctx, "quit", "quit")
	return err
}

// ErrNoDescriptor is returned by OpenDevice when the daemon's OK reply came
// without a descriptor: the connection cannot carry them (a proxied stream
// rather than a unix socket).
var ErrNoDescriptor = errors.New("open_device reply carried no file descriptor")

// OpenDevice asks the daemon for a read-only descriptor of its event device
// (PROTOCOL.md A.9) and returns it; the caller owns and closes it. The file
// has its own cursor (live at open) and yields 48-byte records (B.2); control
// ioctls on it fail with EBADF. It needs a peer allowed to control (A.7):
// otherwise the *Error has Errno "EPERM"; without a device node, "ENODEV".
func (c *Conn) OpenDevice(ctx context.Context) (*os.File, error) {
	r, err := c.doVerb(ctx, "open_device", "open_device")
	if err != nil {
		return nil, err
	}
	if r.File == nil {
		return nil, ErrNoDescriptor
	}
	return r.File, nil
}
