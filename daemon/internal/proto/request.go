package proto

// MaxLine is the longest request line in bytes, including the '\n' (and a
// '\r' before it) (PROTOCOL.md A.2).
const MaxLine = 1024

// Request limits (PROTOCOL.md A.5).
const (
	MaxTimerID  = 7       // timer ids are 0..MaxTimerID
	MaxPeriodMS = 3600000 // timer periods are 1..MaxPeriodMS
)

// Request is a parsed request line. Only the fields of its Verb are set.
type Request struct {
	Verb Verb
	// Text is the echo text: the rest of the line after exactly one
	// separator, byte for byte; nil when the line is just "echo". It
	// aliases the line given to ParseRequest.
	Text []byte
	// Payload and Count are trigger's arguments (defaults 0 and 1). The
	// parser checks Count is 1..2^32-1; the server checks it against
	// max_burst.
	Payload uint64
	Count   uint32
	// ID is the timer id of start_timer and stop_timer (0..MaxTimerID).
	ID uint32
	// PeriodMS is start_timer's period (1..MaxPeriodMS).
	PeriodMS uint32
	// TimerCount is start_timer's count; 0 (the default) runs forever.
	TimerCount uint64
	// Filter is subscribe's set; From is its from=<seq> argument when
	// HasFrom.
	Filter  Filter
	From    uint64
	HasFrom bool
}

// Fixed error replies.
var (
	errNotPrintable = &Error{Errno: EILSEQ, Msg: "request is not printable ASCII"}
	errTooLong      = &Error{Errno: E2BIG, Msg: "request longer than 1024 bytes"}
	errEmpty        = &Error{Errno: EINVAL, Msg: "empty request"}
)

// ErrTooLong returns the reply to an over-long line (Framer kind TooLong):
// "ERR - E2BIG request longer than 1024 bytes". The caller must not modify it.
func ErrTooLong() *Error { return errTooLong }

// printable reports whether c may appear in a line: 0x20-0x7e or TAB.
func printable(c byte) bool {
	return c >= 0x20 && c <= 0x7e || c == '\t'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// tokens splits a line into tokens separated by spaces and tabs.
type tokens struct {
	line []byte
	pos  int
}

// next returns the next token, or nil at the end of the line.
func (t *tokens) next() []byte {
	for t.pos < len(t.line) && isSpace(t.line[t.pos]) {
		t.pos++
	}
	start := t.pos
	for t.pos < len(t.line) && !isSpace(t.line[t.pos]) {
		t.pos++
	}
	if start == t.pos {
		return nil
	}
	return t.line[start:t.pos]
}

// ParseRequest parses one request line, given without its '\n' and '\r'
// (as the Framer returns it). It does not allocate for a valid request. The
// returned Request and Error may alias line. Errors:
//   - a byte that is not printable ASCII or TAB: "ERR - EILSEQ ...";
//   - a line with no token: "ERR - EINVAL empty request" (the Framer
//     already skips such lines, so a server never sends it);
//   - an unknown verb: ENOSYS;
//   - missing, malformed, out-of-range or extra arguments: EINVAL with a
//     message naming the argument and its range.
func ParseRequest(line []byte) (Request, *Error) {
	for _, c := range line {
		if !printable(c) {
			return Request{}, errNotPrintable
		}
	}
	toks := tokens{line: line}
	verbTok := toks.next()
	if verbTok == nil {
		return Request{}, errEmpty
	}
	v := lookupVerb(verbTok)
	if v == 0 {
		return Request{}, newError(verbTok, ENOSYS, "unknown command (help lists the commands)")
	}
	spec := &verbs[v]
	if spec.text {
		var text []byte
		if toks.pos < len(line) {
			text = line[toks.pos+1:]
		}
		return Request{Verb: v, Text: text}, nil
	}
	var a argList
	for tok := toks.next(); tok != nil; tok = toks.next() {
		if a.n < maxArgs {
			a.tok[a.n] = tok
		}
		a.n++
	}
	if spec.parse == nil {
		if a.n > 0 {
			return Request{}, newError(verbTok, EINVAL, spec.tooMany)
		}
		return Request{Verb: v}, nil
	}
	req, msg := spec.parse(a)
	if msg == "" && a.n > spec.maxArgs {
		msg = spec.tooMany
	}
	if msg != "" {
		return Request{}, newError(verbTok, EINVAL, msg)
	}
	req.Verb = v
	return req, nil
}

// The argument parsers of the verb table: each reads its verb's arguments
// into req and returns an EINVAL message, or "".

func parseTrigger(a argList) (req Request, msg string) {
	req.Count = 1
	tok := a.arg(0)
	if tok == nil {
		return req, ""
	}
	p, ok := parsePayload(tok)
	if !ok {
		return req, "payload must be a u64, decimal or 0x hex"
	}
	req.Payload = p
	if tok := a.arg(1); tok != nil {
		n, ok := parseDec(tok)
		if !ok || n < 1 || n > 1<<32-1 {
			return req, "count must be 1..4294967295 (and at most max_burst)"
		}
		req.Count = uint32(n)
	}
	return req, ""
}

func parseTimerID(tok []byte) (uint32, string) {
	id, ok := parseDec(tok)
	if !ok || id > MaxTimerID {
		return 0, "id must be 0..7"
	}
	return uint32(id), ""
}

func parseStopTimer(a argList) (req Request, msg string) {
	req.ID, msg = parseTimerID(a.arg(0))
	return req, msg
}

func parseStartTimer(a argList) (req Request, msg string) {
	if req.ID, msg = parseTimerID(a.arg(0)); msg != "" {
		return req, msg
	}
	tok := a.arg(1)
	if tok == nil {
		return req, "usage: start_timer <id> <period_ms> [<count>]"
	}
	p, ok := parseDec(tok)
	if !ok || p < 1 || p > MaxPeriodMS {
		return req, "period_ms must be 1..3600000"
	}
	req.PeriodMS = uint32(p)
	if tok := a.arg(2); tok != nil {
		n, ok := parseDec(tok)
		if !ok {
			return req, "count must be a u64 (0 = forever)"
		}
		req.TimerCount = n
	}
	return req, ""
}

func parseSubscribe(a argList) (req Request, msg string) {
	f, ok := ParseFilter(a.arg(0))
	if !ok {
		return req, "set must be all, none, or a comma list of at most 16 items: timer, trigger, timer:<id 0..7>, trigger:<payload>"
	}
	req.Filter = f
	if tok := a.arg(1); tok != nil {
		const from = "from="
		if len(tok) <= len(from) || string(tok[:len(from)]) != from {
			return req, "usage: subscribe <set> [from=<seq>]"
		}
		seq, ok := parseDec(tok[len(from):])
		if !ok {
			return req, "from=<seq> must be a u64"
		}
		req.From, req.HasFrom = seq, true
	}
	return req, ""
}

// parseDec parses an unsigned decimal u64 (leading zeros allowed, no sign).
// It reports false for nil, an empty token, a non-digit or overflow.
func parseDec(tok []byte) (uint64, bool) {
	if len(tok) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range tok {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parsePayload parses a u64 in decimal or with a 0x (or 0X) prefix in hex.
func parsePayload(tok []byte) (uint64, bool) {
	if len(tok) > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X') {
		var n uint64
		for _, c := range tok[2:] {
			var d byte
			switch {
			case c >= '0' && c <= '9':
				d = c - '0'
			case c >= 'a' && c <= 'f':
				d = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				d = c - 'A' + 10
			default:
				return 0, false
			}
			if n>>60 != 0 {
				return 0, false
			}
			n = n<<4 | uint64(d)
		}
		return n, true
	}
	return parseDec(tok)
}
