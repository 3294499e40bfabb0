package proto

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
