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

// verbSpec declares one verb: everything proto knows about it derives from
// this table (its name, lookup, the help reply, the argument parser and its
// error messages). The server's dispatch table must have a handler for
// each (a test checks it).
type verbSpec struct {
	name string
	// control marks the control requests (PROTOCOL.md A.7).
	control bool
	// args is the argument synopsis for usage and error messages; ""
	// when the verb takes none.
	args string
	// text: the argument is the rest of the line after exactly one
	// separator, byte for byte (echo); parse is not called.
	text bool
	// maxArgs is how many argument tokens parse reads; more is EINVAL
	// (tooMany).
	maxArgs int
	// parse returns the request its arguments make (Verb is set by the
	// caller), or an EINVAL message. nil: no arguments. Values in and
	// out, so that calling it through the table does not allocate.
	parse func(a argList) (Request, string)
	// tooMany is the message for extra arguments (set by init).
	tooMany string
}

var verbs = [...]verbSpec{
	VerbEcho:       {name: "echo", args: "[<text>]", text: true},
	VerbTrigger:    {name: "trigger", control: true, args: "[<payload> [<count>]]", maxArgs: 2, parse: parseTrigger},
	VerbStartTimer: {name: "start_timer", control: true, args: "<id> <period_ms> [<count>]", maxArgs: 3, parse: parseStartTimer},
	VerbStopTimer:  {name: "stop_timer", control: true, args: "<id>", maxArgs: 1, parse: parseStopTimer},
	VerbTimers:     {name: "timers"},
	VerbSubscribe:  {name: "subscribe", args: "<set> [from=<seq>]", maxArgs: 2, parse: parseSubscribe},
	VerbStats:      {name: "stats"},
	VerbOpenDevice: {name: "open_device"},
	VerbHelp:       {name: "help"},
	VerbQuit:       {name: "quit"},
}

// maxArgs is the most argument tokens a verb takes.
const maxArgs = 3

// argList is a request's argument tokens, up to maxArgs of them and the
// count of all.
type argList struct {
	tok [maxArgs][]byte
	n   int
}

// arg returns argument i, or nil.
func (a *argList) arg(i int) []byte {
	if i < min(a.n, maxArgs) {
		return a.tok[i]
	}
	return nil
}

func init() {
	for v := VerbEcho; v < verbEnd; v++ {
		s := &verbs[v]
		if s.args == "" {
			s.tooMany = s.name + " takes no arguments"
		} else {
			s.tooMany = "too many arguments: " + s.Usage()
		}
	}
}

// Usage returns the synopsis of a verb's request: "name args".
func (s *verbSpec) Usage() string {
	if s.args == "" {
		return s.name
	}
	return s.name + " " + s.args
}

// Verbs returns every verb, in the order of the help reply.
func Verbs() []Verb {
	vs := make([]Verb, 0, verbEnd-1)
	for v := VerbEcho; v < verbEnd; v++ {
		vs = append(vs, v)
	}
	return vs
}

// String returns the wire name of v ("start_timer"), or "-" for an invalid
// value.
func (v Verb) String() string {
	if v > 0 && v < verbEnd {
		return verbs[v].name
	}
	return "-"
}

// Usage returns v's request synopsis ("start_timer <id> <period_ms>
// [<count>]"), or "" for an invalid value.
func (v Verb) Usage() string {
	if v > 0 && v < verbEnd {
		return verbs[v].Usage()
	}
	return ""
}

// Control reports whether v is a control request (PROTOCOL.md A.7):
// trigger, start_timer and stop_timer. Who may send them is the server's
// policy.
func (v Verb) Control() bool {
	return v > 0 && v < verbEnd && verbs[v].control
}

// lookupVerb returns the verb named tok, or 0. Comparing string(tok) does
// not allocate.
func lookupVerb(tok []byte) Verb {
	for v := VerbEcho; v < verbEnd; v++ {
		if string(tok) == verbs[v].name {
			return v
		}
	}
	return 0
}
