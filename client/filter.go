package client

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mypoll/mypoll/internal/subset"
)

// MaxFilterItems is the most items a subscribe request may name (PROTOCOL.md
// A.5); a longer list gets ERR subscribe EINVAL.
const MaxFilterItems = 16

// MaxTimerID is the highest timer id (PROTOCOL.md A.5, start_timer).
const MaxTimerID = 7

// ErrBadFilter is wrapped by every error of ParseFilter.
var ErrBadFilter = errors.New("bad subscription filter")

// Filter is a subscription set (PROTOCOL.md A.5): whole classes (every
// timer's timer and timer_stopped events; every trigger) and single sources
// (the events of timer id; the triggers with a given payload). It is a
// value: the zero Filter is None, and Or returns a new one. String gives
// A.5's canonical form, the one the daemon's "OK subscribe" reply names,
// and ParseFilter reads it (or any list the daemon accepts) back.
type Filter struct {
	classes  uint8    // classTimer | classTrigger
	timers   uint8    // bit id: timer id, when classTimer is not set
	payloads []uint64 // ascending, no duplicates; empty when classTrigger is set
}

const (
	classTimer   = subset.ClassTimer
	classTrigger = subset.ClassTrigger
	classAll     = subset.ClassAll
)

// The filters of A.5's two words and two classes.
var (
	// All is every event ("all", the same as "timer,trigger").
	All = Filter{classes: classAll}
	// None is no event ("none"), the subscription of a new connection.
	None = Filter{}
)

// Timers returns the filter of every timer's timer and timer_stopped
// events ("timer").
func Timers() Filter { return Filter{classes: classTimer} }

// Triggers returns the filter of every trigger event ("trigger").
func Triggers() Filter { return Filter{classes: classTrigger} }

// TimerSource returns the filter of timer id's timer and timer_stopped
// events ("timer:<id>"). It panics when id is above MaxTimerID, as no
// such timer exists (ParseFilter returns an error instead).
func TimerSource(id uint8) Filter {
	if id > MaxTimerID {
		panic("client.TimerSource: timer id " + strconv.Itoa(int(id)) + " is above 7")
	}
	return Filter{timers: 1 << id}
}

// TriggerPayload returns the filter of the trigger events whose payload
// equals p ("trigger:<p>").
func TriggerPayload(p uint64) Filter { return Filter{payloads: []uint64{p}} }

// Or returns the union of f and others: every event one of them matches.
func (f Filter) Or(others ...Filter) Filter {
	u := Filter{classes: f.classes, timers: f.timers, payloads: slices.Clone(f.payloads)}
	for _, g := range others {
		u.classes |= g.classes
		u.timers |= g.timers
		u.payloads = append(u.payloads, g.payloads...)
	}
	return u.canonical()
}

// canonical drops what a class covers and sorts the payloads.
func (f Filter) canonical() Filter {
	if f.classes&classTimer != 0 {
		f.timers = 0
	}
	if f.classes&classTrigger != 0 || len(f.payloads) == 0 {
		f.payloads = nil
	} else {
		slices.Sort(f.payloads)
		f.payloads = slices.Compact(f.payloads)
	}
	return f
}

// IsAll reports whether f matches every event.
func (f Filter) IsAll() bool { return f.classes == classAll }

// IsNone reports whether f matches no event.
func (f Filter) IsNone() bool { return f.classes == 0 && f.timers == 0 && len(f.payloads) == 0 }

// Equal reports whether f and g match the same events (Filter holds a
// slice, so == does not compile).
func (f Filter) Equal(g Filter) bool {
	return f.classes == g.classes && f.timers == g.timers && slices.Equal(f.payloads, g.payloads)
}

// Len is the number of items of f's canonical form; 0 for all and none.
// A filter of more than MaxFilterItems cannot be subscribed to.
func (f Filter) Len() int {
	if f.IsAll() {
		return 0
	}
	n := len(f.payloads)
	for c := f.classes; c != 0; c &= c - 1 {
		n++
	}
	for t := f.timers; t != 0; t &= t - 1 {
		n++
	}
	return n
}

// Match reports whether f matches e, as the daemon decides which events a
// subscriber gets (PROTOCOL.md A.5): "timer" and "timer:<id>" match the
// timer and timer_stopped events (of source id), "trigger" and
// "trigger:<payload>" the trigger events (whose arg is payload).
func (f Filter) Match(e Event) bool {
	switch e.Type {
	case "timer", "timer_stopped":
		return f.classes&classTimer != 0 || e.SourceID <= MaxTimerID && f.timers&(1<<e.SourceID) != 0
	case "trigger":
		if f.classes&classTrigger != 0 {
			return true
		}
		_, found := slices.BinarySearch(f.payloads, e.Arg)
		return found
	}
	return false
}

// String returns f in A.5's canonical form: "all", "none", or the items
// classes first, then timer ids ascending, then trigger payloads ascending
// in decimal, e.g. "timer,trigger:7,trigger:42".
func (f Filter) String() string {
	b, _ := f.AppendText(nil)
	return string(b)
}

// AppendText appends String's form to b (encoding.TextAppender).
func (f Filter) AppendText(b []byte) ([]byte, error) {
	return subset.Append(b, f.classes, f.timers, f.payloads), nil
}

// MarshalText returns String's form (encoding.TextMarshaler).
func (f Filter) MarshalText() ([]byte, error) { return f.AppendText(nil) }

// UnmarshalText sets f from text with ParseFilter (encoding.TextUnmarshaler),
// so a Filter can be a flag.TextVar or a JSON string.
func (f *Filter) UnmarshalText(text []byte) error {
	g, err := ParseFilter(string(text))
	if err != nil {
		return err
	}
	*f = g
	return nil
}

// ParseFilter parses a subscription set as the daemon does (PROTOCOL.md
// A.5): "all", "none", or a comma list of 1 to MaxFilterItems items, each
// "timer", "trigger", "timer:<id>" (id 0..7, decimal) or
// "trigger:<payload>" (a u64, decimal or 0x hex). Duplicates and items
// covered by their class are allowed and dropped. What the daemon answers
// with EINVAL is an error wrapping ErrBadFilter.
func ParseFilter(s string) (Filter, error) {
	switch s {
	case "all":
		return All, nil
	case "none":
		return None, nil
	case "":
		return None, fmt.Errorf("%w: empty (want all, none or a comma list)", ErrBadFilter)
	}
	var f Filter
	n := 0
	for item := range strings.SplitSeq(s, ",") {
		if n++; n > MaxFilterItems {
			return None, fmt.Errorf("%w: more than %d items", ErrBadFilter, MaxFilterItems)
		}
		switch kind, arg, hasArg := strings.Cut(item, ":"); {
		case item == "timer":
			f.classes |= classTimer
		case item == "trigger":
			f.classes |= classTrigger
		case hasArg && kind == "timer":
			id, ok := parseDec(arg)
			if !ok || id > MaxTimerID {
				return None, fmt.Errorf("%w: %q: timer id must be 0..%d", ErrBadFilter, item, MaxTimerID)
			}
			f.timers |= 1 << id
		case hasArg && kind == "trigger":
			p, ok := parsePayload(arg)
			if !ok {
				return None, fmt.Errorf("%w: %q: payload must be a u64, decimal or 0x hex", ErrBadFilter, item)
			}
			f.payloads = append(f.payloads, p)
		default:
			return None, fmt.Errorf("%w: item %q (want timer, trigger, timer:<id> or trigger:<payload>)", ErrBadFilter, item)
		}
	}
	return f.canonical(), nil
}

// parseDec parses an unsigned decimal u64, leading zeros allowed, as the
// daemon's request parser does.
func parseDec(s string) (uint64, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' { // no sign
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// parsePayload parses a u64 in decimal or, after 0x or 0X, in hex.
func parsePayload(s string) (uint64, bool) {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		v, err := strconv.ParseUint(s[2:], 16, 64) // no sign, no '_' in base 16
		return v, err == nil
	}
	return parseDec(s)
}
