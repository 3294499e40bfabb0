// Package subset writes a subscription set's canonical text (PROTOCOL.md
// A.5) for both sides that must agree on it: the daemon's reply to
// subscribe (daemon/internal/proto.Filter) and the public client library
// (client.Filter), which compares that reply with what it asked for.
package subset

import "strconv"

// The classes of a set, as bits.
const (
	ClassTimer   uint8 = 1 << 0 // every timer's timer and timer_stopped events
	ClassTrigger uint8 = 1 << 1 // every trigger
	ClassAll           = ClassTimer | ClassTrigger
)

// Append appends the canonical text of the set made of the classes, the
// timer ids whose bits are set in timers (bit i: timer:i) and the trigger
// payloads: "all", "none", or the classes first, then timer:<id>
// ascending, then trigger:<payload> in decimal, comma-separated. Items a
// class covers are left out. payloads must be ascending without
// duplicates. It does not allocate beyond growing dst.
func Append(dst []byte, classes, timers uint8, payloads []uint64) []byte {
	if classes&ClassTimer != 0 {
		timers = 0
	}
	if classes&ClassTrigger != 0 {
		payloads = nil
	}
	switch {
	case classes&ClassAll == ClassAll:
		return append(dst, "all"...)
	case classes == 0 && timers == 0 && len(payloads) == 0:
		return append(dst, "none"...)
	}
	start := len(dst)
	sep := func() {
		if len(dst) > start {
			dst = append(dst, ',')
		}
	}
	if classes&ClassTimer != 0 {
		dst = append(dst, "timer"...)
	}
	if classes&ClassTrigger != 0 {
		sep()
		dst = append(dst, "trigger"...)
	}
	for id := range 8 {
		if timers&(1<<id) != 0 {
			sep()
			dst = append(dst, "timer:"...)
			dst = strconv.AppendUint(dst, uint64(id), 10)
		}
	}
	for _, p := range payloads {
		sep()
		dst = append(dst, "trigger:"...)
		dst = strconv.AppendUint(dst, p, 10)
	}
	return dst
}
