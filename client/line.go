package client

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrProtocol is wrapped by every error about a line that breaks the
// protocol (a malformed line, or a reply nobody asked for).
var ErrProtocol = errors.New("mypoll protocol violation")

// MaxServerLine is the longest server line the client accepts, '\n'
// included. The protocol's longest replies (echo, stats) are far shorter.
const MaxServerLine = 64 << 10

// LineKind is the kind of a server line.
type LineKind uint8

// The five kinds of server line (PROTOCOL.md A.2).
const (
	LineHello LineKind = iota + 1
	LineOK
	LineErr
	LineEvent
	LineLost
)

// Hello is the greeting: "HELLO mypoll <version> <instance_id> <next_seq>".
type Hello struct {
	Version    uint64
	InstanceID uint64 // the device instance; 0 when the daemon has no device
	NextSeq    uint64 // the seq the next device event will get
}

// Reply is a successful reply: "OK <verb>[ <detail>]".
type Reply struct {
	Verb   string
	Detail string
	// File is the descriptor passed with an "OK open_device" reply
	// (SCM_RIGHTS), owned by the caller; nil for every other reply.
	File *os.File
}

// Error is an ERR reply: "ERR <verb> <ERRNO> <message>". Verb is "-" when
// the request had no verb (E2BIG, EILSEQ, EMFILE at connect). Branch on
// Errno with errors.As; Msg is for people.
type Error struct {
	Verb  string
	Errno string // "EINVAL", "ENOENT", ...
	Msg   string
}

// Error returns "<verb>: <ERRNO> <msg>".
func (e *Error) Error() string { return e.Verb + ": " + e.Errno + " " + e.Msg }

// Event is one device event: "EVT <seq> <type> <source_id> <arg> <aux>
// <timestamp_ns>". Type is "timer", "trigger" or "timer_stopped"; the
// fields are as in PROTOCOL.md B.2.
type Event struct {
	Seq         uint64
	Type        string
	SourceID    uint32
	Arg         uint64
	Aux         uint64
	TimestampNS uint64
}

// StopReason names the reason a timer_stopped event carries in Aux
// (PROTOCOL.md B.2, MYPOLL_STOP_REASON_*): "stop" (stopped by a request),
// "count" (its count was reached) or "closed" (its owner's file was
// released); an unknown value is given in decimal. It is "" for the other
// event types.
func (e Event) StopReason() string {
	if e.Type != "timer_stopped" {
		return ""
	}
	switch e.Aux {
	case 0:
		return "stop"
	case 1:
		return "count"
	case 2:
		return "closed"
	}
	return strconv.FormatUint(e.Aux, 10)
}

// Lost reports events that were not delivered: "LOST <first> <last> <count>
// <reason>": within seqs First..Last, Count matching events were lost.
// Reason is "queue" (this client was too slow), "device" (the daemon fell
// behind the device) or "restart" (no longer retained after a restart);
// Resume and Stream add ReasonRange.
type Lost struct {
	First, Last, Count uint64
	Reason             string
}

// ReasonRange is the reason of the one loss that Resume and Stream report
// themselves, never read from the daemon: the position asked for was beyond
// the daemon's next_seq N for that instance (ERR subscribe ERANGE,
// PROTOCOL.md A.8), so it cannot be trusted. They resume from N, and the
// loss covers seqs 1..N-1 of the instance with Count N-1: every seq before
// N, since the position that said which of them the caller has is wrong
// (an upper bound, as the daemon's "restart" count is).
const ReasonRange = "range"

// Message is what Next returns: exactly one of Event and Lost is set.
type Message struct {
	Event *Event
	Lost  *Lost
}

// Line is a parsed server line; the field of its Kind is set.
type Line struct {
	Kind  LineKind
	Hello Hello
	Reply Reply
	Err   *Error
	Event Event
	Lost  Lost

	okSep bool // an OK line had a separator after the verb (even if Detail is "")
}

// ParseLine parses one server line, with or without its final '\n',
// strictly: one space between fields, numbers in canonical decimal (no sign,
// no leading zeros), instance_id as 16 lowercase hex digits, known event
// types and loss reasons. Errors wrap ErrProtocol. For every line it
// accepts, Line.String gives the line back unchanged.
func ParseLine(b []byte) (Line, error) {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if len(b)+1 > MaxServerLine {
		return Line{}, fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, MaxServerLine)
	}
	for _, c := range b {
		if !(c >= 0x20 && c <= 0x7e || c == '\t') {
			return Line{}, fmt.Errorf("%w: byte %#02x in line %q", ErrProtocol, c, b)
		}
	}
	s := string(b)
	bad := func(what string) (Line, error) {
		return Line{}, fmt.Errorf("%w: %s: %q", ErrProtocol, what, s)
	}
	kind, rest, _ := strings.Cut(s, " ")
	switch kind {
	case "HELLO":
		f := strings.Split(rest, " ")
		if len(f) != 4 || f[0] != "mypoll" {
			return bad("malformed HELLO")
		}
		v, ok1 := parseUint(f[1], 64)
		id, ok2 := parseHex16(f[2])
		seq, ok3 := parseUint(f[3], 64)
		if !ok1 || !ok2 || !ok3 {
			return bad("malformed HELLO")
		}
		return Line{Kind: LineHello, Hello: Hello{Version: v, InstanceID: id, NextSeq: seq}}, nil

	case "OK":
		verb, detail, sep := strings.Cut(rest, " ")
		if !isWord(verb) {
			return bad("malformed OK")
		}
		return Line{Kind: LineOK, Reply: Reply{Verb: verb, Detail: detail}, okSep: sep}, nil

	case "ERR":
		f := strings.SplitN(rest, " ", 3)
		if len(f) != 3 || f[0] == "" || strings.ContainsRune(f[0], '\t') || !isErrno(f[1]) || f[2] == "" {
			return bad("malformed ERR")
		}
		return Line{Kind: LineErr, Err: &Error{Verb: f[0], Errno: f[1], Msg: f[2]}}, nil

	case "EVT":
		f := strings.Split(rest, " ")
		if len(f) != 6 {
			return bad("malformed EVT")
		}
		var e Event
		var ok [5]bool
		e.Seq, ok[0] = parseUint(f[0], 64)
		e.Type = f[1]
		var src uint64
		src, ok[1] = parseUint(f[2], 32)
		e.SourceID = uint32(src)
		e.Arg, ok[2] = parseUint(f[3], 64)
		e.Aux, ok[3] = parseUint(f[4], 64)
		e.TimestampNS, ok[4] = parseUint(f[5], 64)
		if ok != [5]bool{true, true, true, true, true} {
			return bad("malformed EVT")
		}
		switch e.Type {
		case "timer", "trigger", "timer_stopped":
		default:
			return bad("unknown event type")
		}
		return Line{Kind: LineEvent, Event: e}, nil

	case "LOST":
		f := strings.Split(rest, " ")
		if len(f) != 4 {
			return bad("malformed LOST")
		}
		var l Lost
		var ok [3]bool
		l.First, ok[0] = parseUint(f[0], 64)
		l.Last, ok[1] = parseUint(f[1], 64)
		l.Count, ok[2] = parseUint(f[2], 64)
		l.Reason = f[3]
		if ok != [3]bool{true, true, true} {
			return bad("malformed LOST")
		}
		if l.First > l.Last || l.Count == 0 || l.Count-1 > l.Last-l.First {
			return bad("LOST count does not fit its range")
		}
		switch l.Reason {
		case "queue", "device", "restart":
		default:
			return bad("unknown LOST reason")
		}
		return Line{Kind: LineLost, Lost: l}, nil
	}
	return bad("unknown line kind")
}

// String returns the line in its wire form, without '\n'.
func (l Line) String() string {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	switch l.Kind {
	case LineHello:
		return fmt.Sprintf("HELLO mypoll %d %016x %d", l.Hello.Version, l.Hello.InstanceID, l.Hello.NextSeq)
	case LineOK:
		if l.okSep || l.Reply.Detail != "" {
			return "OK " + l.Reply.Verb + " " + l.Reply.Detail
		}
		return "OK " + l.Reply.Verb
	case LineErr:
		return "ERR " + l.Err.Verb + " " + l.Err.Errno + " " + l.Err.Msg
	case LineEvent:
		e := l.Event
		return "EVT " + u(e.Seq) + " " + e.Type + " " + u(uint64(e.SourceID)) + " " + u(e.Arg) + " " + u(e.Aux) + " " + u(e.TimestampNS)
	case LineLost:
		return "LOST " + u(l.Lost.First) + " " + u(l.Lost.Last) + " " + u(l.Lost.Count) + " " + l.Lost.Reason
	}
	return ""
}

// parseUint parses canonical decimal: digits only, no leading zero unless
// the number is 0, at most bits wide.
func parseUint(s string, bits int) (uint64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, bits)
	return v, err == nil
}

// parseHex16 parses exactly 16 lowercase hex digits.
func parseHex16(s string) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	for i := range len(s) {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 16, 64)
	return v, err == nil
}

// isWord reports whether s is a verb: lowercase letters, digits and '_'.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// isErrno reports whether s looks like an errno name: 'E' and then
// uppercase letters and digits.
func isErrno(s string) bool {
	if len(s) < 2 || s[0] != 'E' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
