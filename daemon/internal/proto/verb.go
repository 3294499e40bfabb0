package proto

import "github.com/mypoll/mypoll/daemon/internal/devabi"

// Verb is a request's command (PROTOCOL.md A.5). The zero Verb is not valid.
type Verb uint8

// The verbs of protocol version 1, in the order of the help reply.
const (
	VerbEcho Verb = iota + 1
	VerbTrigger
	VerbStartTimer
	VerbStopTimer
	VerbTimers
	VerbSubscribe
	VerbStats
	VerbOpenDevice
	VerbHelp
	VerbQuit
	verbEnd
)

var verbNames = [...]string{
	VerbEcho:       "echo",
	VerbTrigger:    "trigger",
	VerbStartTimer: "start_timer",
	VerbStopTimer:  "stop_timer",
	VerbTimers:     "timers",
	VerbSubscribe:  "subscribe",
	VerbStats:      "stats",
	VerbOpenDevice: "open_device",
	VerbHelp:       "help",
	VerbQuit:       "quit",
}

// String returns the wire name of v ("start_timer"), or "-" for an invalid
// value.
func (v Verb) String() string {
	if v > 0 && v < verbEnd {
		return verbNames[v]
	}
	return "-"
}

// Control reports whether v is a control request, subject to the control
// policy (PROTOCOL.md A.7): trigger, start_timer and stop_timer.
func (v Verb) Control() bool {
	return v == VerbTrigger || v == VerbStartTimer || v == VerbStopTimer
}

// lookupVerb returns the verb named tok, or 0. The switch on string(tok)
// does not allocate.
func lookupVerb(tok []byte) Verb {
	switch string(tok) {
	case "echo":
		return VerbEcho
	case "trigger":
		return VerbTrigger
	case "start_timer":
		return VerbStartTimer
	case "stop_timer":
		return VerbStopTimer
	case "timers":
		return VerbTimers
	case "subscribe":
		return VerbSubscribe
	case "stats":
		return VerbStats
	case "open_device":
		return VerbOpenDevice
	case "help":
		return VerbHelp
	case "quit":
		return VerbQuit
	}
	return 0
}

// Set is a subscription: a bitmask of event classes (PROTOCOL.md A.5,
// subscribe).
type Set uint8

// Subscription sets. SetTimer matches both timer and timer_stopped events.
const (
	SetNone    Set = 0
	SetTimer   Set = 1 << 0
	SetTrigger Set = 1 << 1
	SetAll         = SetTimer | SetTrigger
)

// String returns the canonical wire form of s: "all", "none", "timer" or
// "trigger".
func (s Set) String() string {
	switch s & SetAll {
	case SetAll:
		return "all"
	case SetTimer:
		return "timer"
	case SetTrigger:
		return "trigger"
	}
	return "none"
}

// SetOf returns the set class of an event type: SetTimer for timer and
// timer_stopped, SetTrigger for trigger, SetNone for anything else.
func SetOf(t devabi.EventType) Set {
	switch t {
	case devabi.EvTimer, devabi.EvTimerStopped:
		return SetTimer
	case devabi.EvTrigger:
		return SetTrigger
	}
	return SetNone
}

// Matches reports whether events of type t are in s.
func (s Set) Matches(t devabi.EventType) bool {
	return s&SetOf(t) != 0
}

// parseSet parses "all", "none" or a comma list of "timer" and "trigger".
func parseSet(tok []byte) (Set, bool) {
	switch string(tok) {
	case "all":
		return SetAll, true
	case "none":
		return SetNone, true
	}
	var s Set
	for len(tok) > 0 {
		i := 0
		for i < len(tok) && tok[i] != ',' {
			i++
		}
		switch string(tok[:i]) {
		case "timer":
			s |= SetTimer
		case "trigger":
			s |= SetTrigger
		default:
			return 0, false
		}
		if i == len(tok) {
			return s, true
		}
		tok = tok[i+1:]
		if len(tok) == 0 {
			return 0, false // trailing comma
		}
	}
	return 0, false
}
