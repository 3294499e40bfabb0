package emu

import (
	"bytes"
	"strconv"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
)

// Verb is the command of a text control write.
type Verb int

// Text control verbs (PROTOCOL.md B.3 write).
const (
	VerbTrigger Verb = iota + 1 // "trigger [payload]"
	VerbStart                   // "start <id> <period_ms> [count]"
	VerbStop                    // "stop <id>"
)

// Command is one parsed text control write. Ranges other than the number
// syntax (id < 8, period limits) are checked by the ioctl paths, not here.
type Command struct {
	Verb     Verb
	ID       uint32 // start, stop; any value >= 8 becomes 8 (invalid)
	PeriodMS uint64 // start
	Count    uint64 // start: 0 = forever
	Payload  uint64 // trigger
}

// ParseCommand parses one text control write: at most devabi.MaxWrite
// bytes, an optional single trailing "\n", tokens separated by spaces or
// tabs, numbers in decimal or 0x-prefixed hex without sign or underscores.
// Anything else (other control bytes, unknown verbs, missing or extra
// tokens, numbers above 2^64-1) gives ok == false, which is EINVAL.
func ParseCommand(b []byte) (c Command, ok bool) {
	if len(b) == 0 || len(b) > devabi.MaxWrite {
		return Command{}, false
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	for _, ch := range b {
		if ch != ' ' && ch != '\t' && (ch < 0x21 || ch > 0x7e) {
			return Command{}, false
		}
	}
	tok := bytes.FieldsFunc(b, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(tok) == 0 {
		return Command{}, false
	}
	nums := make([]uint64, len(tok)-1)
	for i, t := range tok[1:] {
		if nums[i], ok = parseNum(t); !ok {
			return Command{}, false
		}
	}
	switch string(tok[0]) {
	case "trigger":
		c.Verb = VerbTrigger
		switch len(nums) {
		case 0:
		case 1:
			c.Payload = nums[0]
		default:
			return Command{}, false
		}
	case "start":
		if len(nums) != 2 && len(nums) != 3 {
			return Command{}, false
		}
		c.Verb, c.ID, c.PeriodMS = VerbStart, id(nums[0]), nums[1]
		if len(nums) == 3 {
			c.Count = nums[2]
		}
	case "stop":
		if len(nums) != 1 {
			return Command{}, false
		}
		c.Verb, c.ID = VerbStop, id(nums[0])
	default:
		return Command{}, false
	}
	return c, true
}

// id narrows a parsed id, mapping anything out of range to MaxTimers so
// that validation rejects it instead of a truncated value passing.
func id(v uint64) uint32 {
	if v >= devabi.MaxTimers {
		return devabi.MaxTimers
	}
	return uint32(v)
}

func parseNum(t []byte) (uint64, bool) {
	s, base := string(t), 10
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s, base = s[2:], 16
	}
	// ParseUint with an explicit base accepts no sign, prefix or
	// underscores; only base 0 would.
	v, err := strconv.ParseUint(s, base, 64)
	return v, err == nil
}
