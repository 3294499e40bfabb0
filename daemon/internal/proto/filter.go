package proto

import (
	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/internal/subset"
)

// MaxFilterItems is the most items a subscribe set may list (PROTOCOL.md A.5).
const MaxFilterItems = 16

// Event classes a Filter may take whole.
const (
	classTimer   = subset.ClassTimer // timer and timer_stopped events
	classTrigger = subset.ClassTrigger
	classAll     = subset.ClassAll
)

// Filter is a subscription (PROTOCOL.md A.5, subscribe): whole classes
// (timer, trigger), plus single timers by id and triggers by payload. A
// Filter is always canonical: items a class covers are not kept, payloads
// are unique and ascending, and unused storage is zero, so == compares
// sets. It is a plain value of fixed size: parsing one does not allocate.
// The zero Filter is none.
type Filter struct {
	classes uint8
	timers  uint8 // bit i: timer id i (only without classTimer)
	n       uint8 // payloads in use (only without classTrigger)
	pay     [MaxFilterItems]uint64
}

// Filters for whole classes.
var (
	FilterNone    = Filter{}
	FilterAll     = Filter{classes: classAll}
	FilterTimer   = Filter{classes: classTimer}
	FilterTrigger = Filter{classes: classTrigger}
)

// All reports whether f takes every event.
func (f Filter) All() bool { return f.classes == classAll }

// None reports whether f takes no event.
func (f Filter) None() bool { return f.classes == 0 && f.timers == 0 && f.n == 0 }

// WithTimer returns f plus timer id (0..MaxTimerID; others are ignored).
func (f Filter) WithTimer(id uint32) Filter {
	f.addTimer(id)
	return f
}

// WithTrigger returns f plus triggers with payload p, and false when f
// already holds MaxFilterItems payloads.
func (f Filter) WithTrigger(p uint64) (Filter, bool) {
	ok := f.addTrigger(p)
	return f, ok
}

func (f *Filter) addTimer(id uint32) {
	if id <= MaxTimerID && f.classes&classTimer == 0 {
		f.timers |= 1 << id
	}
}

// addTrigger inserts p in order; false when f is full.
func (f *Filter) addTrigger(p uint64) bool {
	if f.classes&classTrigger != 0 {
		return true
	}
	i := 0
	for i < int(f.n) && f.pay[i] < p {
		i++
	}
	if i < int(f.n) && f.pay[i] == p {
		return true
	}
	if int(f.n) == MaxFilterItems {
		return false
	}
	copy(f.pay[i+1:f.n+1], f.pay[i:f.n])
	f.pay[i] = p
	f.n++
	return true
}

// addClass adds class c and drops the items it covers.
func (f *Filter) addClass(c uint8) {
	f.classes |= c
	if c&classTimer != 0 {
		f.timers = 0
	}
	if c&classTrigger != 0 {
		f.n, f.pay = 0, [MaxFilterItems]uint64{}
	}
}

// Match reports whether f takes ev. Timer items match both timer and
// timer_stopped events of their id; trigger items match on the payload.
// Pointers: the broadcast calls it per event and client, and a Filter is
// 152 bytes.
func (f *Filter) Match(ev *devabi.Event) bool {
	switch ev.Type {
	case devabi.EvTimer, devabi.EvTimerStopped:
		return f.classes&classTimer != 0 || ev.SourceID <= MaxTimerID && f.timers&(1<<ev.SourceID) != 0
	case devabi.EvTrigger:
		if f.classes&classTrigger != 0 {
			return true
		}
		for _, p := range f.pay[:f.n] {
			if p == ev.Arg {
				return true
			}
		}
	}
	return false
}

// Append appends the canonical wire form of f: "all", "none", or the
// classes, then timer:<id> ascending, then trigger:<payload> ascending in
// decimal, comma-separated.
func (f Filter) Append(dst []byte) []byte {
	return subset.Append(dst, f.classes, f.timers, f.pay[:f.n])
}

// String returns the canonical wire form of f (see Append).
func (f Filter) String() string { return string(f.Append(nil)) }

// ParseFilter parses a subscribe set (A.5): "all", "none", or a comma list
// of at most MaxFilterItems items, each timer, trigger, timer:<id> (0..7)
// or trigger:<payload> (u64, decimal or 0x hex). It reports false for
// anything else: an unknown or empty item, a trailing comma, too many
// items, an id above 7, a payload that overflows. It does not allocate.
func ParseFilter(tok []byte) (Filter, bool) {
	switch string(tok) {
	case "all":
		return FilterAll, true
	case "none":
		return FilterNone, true
	}
	if len(tok) == 0 {
		return Filter{}, false
	}
	var f Filter
	for items := 1; ; items++ {
		if items > MaxFilterItems {
			return Filter{}, false
		}
		i := 0
		for i < len(tok) && tok[i] != ',' {
			i++
		}
		item := tok[:i]
		switch {
		case string(item) == "timer":
			f.addClass(classTimer)
		case string(item) == "trigger":
			f.addClass(classTrigger)
		case len(item) > len("timer:") && string(item[:len("timer:")]) == "timer:":
			id, ok := parseDec(item[len("timer:"):])
			if !ok || id > MaxTimerID {
				return Filter{}, false
			}
			f.addTimer(uint32(id))
		case len(item) > len("trigger:") && string(item[:len("trigger:")]) == "trigger:":
			p, ok := parsePayload(item[len("trigger:"):])
			if !ok {
				return Filter{}, false
			}
			f.addTrigger(p) // at most MaxFilterItems items: it fits
		default:
			return Filter{}, false
		}
		if i == len(tok) {
			return f, true
		}
		tok = tok[i+1:]
		if len(tok) == 0 {
			return Filter{}, false // trailing comma
		}
	}
}
