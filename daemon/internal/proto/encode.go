package proto

import (
	"strconv"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
)

// The Append functions append one complete server line, '\n' included, to
// dst and return the extended slice. They do not allocate when dst has the
// capacity. Text that may come from a peer (details, messages, verbs) is
// sanitized: bytes that are not printable ASCII become '?'.

// AppendHello appends the greeting "HELLO mypoll 1 <instance_id> <next_seq>",
// instance_id as 16 lowercase hex digits (PROTOCOL.md A.3).
func AppendHello(dst []byte, instanceID, nextSeq uint64) []byte {
	dst = append(dst, "HELLO mypoll 1 "...)
	dst = appendHex16(dst, instanceID)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, nextSeq, 10)
	return append(dst, '\n')
}

// appendHex16 appends v as exactly 16 lowercase hex digits.
func appendHex16(dst []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, digits[v>>uint(shift)&0xf])
	}
	return dst
}

// AppendOK appends "OK <verb>".
func AppendOK(dst []byte, v Verb) []byte {
	dst = append(dst, "OK "...)
	dst = append(dst, v.String()...)
	return append(dst, '\n')
}

// AppendOKDetail appends "OK <verb> <detail>". The separator is written even
// when detail is empty, so an echo of "echo " is "OK echo " byte for byte.
func AppendOKDetail(dst []byte, v Verb, detail []byte) []byte {
	dst = append(dst, "OK "...)
	dst = append(dst, v.String()...)
	dst = append(dst, ' ')
	dst = appendSanitized(dst, detail, false)
	return append(dst, '\n')
}

// AppendOKUint appends "OK <verb> <n>": the reply to start_timer and
// stop_timer ("OK start_timer 3").
func AppendOKUint(dst []byte, v Verb, n uint64) []byte {
	dst = append(dst, "OK "...)
	dst = append(dst, v.String()...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, n, 10)
	return append(dst, '\n')
}

// AppendOKTrigger appends "OK trigger <first_seq> <count>".
func AppendOKTrigger(dst []byte, firstSeq uint64, count uint32) []byte {
	dst = append(dst, "OK trigger "...)
	dst = strconv.AppendUint(dst, firstSeq, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(count), 10)
	return append(dst, '\n')
}

// AppendOKSubscribe appends "OK subscribe <set>" with the canonical set.
func AppendOKSubscribe(dst []byte, f Filter) []byte {
	dst = append(dst, "OK subscribe "...)
	dst = f.Append(dst)
	return append(dst, '\n')
}

// TimerInfo is one running timer in the timers reply.
type TimerInfo struct {
	ID       uint32
	PeriodMS uint64
	Ticks    uint64
	Count    uint64 // 0 = forever
}

// AppendOKTimers appends "OK timers[ <id>:<period_ms>:<ticks>:<count>]...";
// the caller passes the running timers in ascending id.
func AppendOKTimers(dst []byte, timers []TimerInfo) []byte {
	dst = append(dst, "OK timers"...)
	for _, t := range timers {
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(t.ID), 10)
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(t.PeriodMS), 10)
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, t.Ticks, 10)
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, t.Count, 10)
	}
	return append(dst, '\n')
}

// Stat is one key=value pair of the stats reply. Key must be a snake_case
// word; Value is written in decimal, or with Hex as 16 lowercase hex digits
// (instance_id, as in HELLO).
type Stat struct {
	Key   string
	Value uint64
	Hex   bool
}

// AppendOKStats appends "OK stats <key>=<value> ...". Bytes of a key that are
// not printable ASCII become '?' and spaces '_', so every pair stays one
// token.
func AppendOKStats(dst []byte, stats []Stat) []byte {
	dst = append(dst, "OK stats"...)
	for _, s := range stats {
		dst = append(dst, ' ')
		dst = appendSanitized(dst, []byte(s.Key), true)
		dst = append(dst, '=')
		if s.Hex {
			dst = appendHex16(dst, s.Value)
		} else {
			dst = strconv.AppendUint(dst, s.Value, 10)
		}
	}
	return append(dst, '\n')
}

// AppendOKHelp appends "OK help <verb> <verb> ..." with every verb, in the
// order of the Verb constants.
func AppendOKHelp(dst []byte) []byte {
	dst = append(dst, "OK help"...)
	for v := VerbEcho; v < verbEnd; v++ {
		dst = append(dst, ' ')
		dst = append(dst, v.String()...)
	}
	return append(dst, '\n')
}

// AppendErr appends "ERR <verb|-> <ERRNO> <msg>". An empty Verb is written
// as "-", an empty Msg as a short description of the errno, an invalid Errno
// as EIO. Verb is truncated to 32 bytes and has its spaces replaced too, so
// the line always has the four fields.
func AppendErr(dst []byte, e *Error) []byte {
	dst = append(dst, "ERR "...)
	verb := e.Verb
	if len(verb) > maxErrVerb {
		verb = verb[:maxErrVerb]
	}
	if len(verb) == 0 {
		dst = append(dst, '-')
	} else {
		dst = appendSanitized(dst, verb, true)
	}
	dst = append(dst, ' ')
	errno := e.Errno
	if int(errno) >= len(errnoNames) || errnoNames[errno] == "" {
		errno = EIO
	}
	dst = append(dst, errnoNames[errno]...)
	dst = append(dst, ' ')
	if e.Msg == "" {
		dst = append(dst, errnoText[errno]...)
	} else {
		dst = appendSanitized(dst, []byte(e.Msg), false)
	}
	return append(dst, '\n')
}

// appendSanitized appends s with every byte that is not printable ASCII
// (0x20-0x7e or TAB) replaced by '?'; when token is set, spaces and TABs
// become '_' so that s stays one token.
func appendSanitized(dst, s []byte, token bool) []byte {
	for _, c := range s {
		switch {
		case (c == ' ' || c == '\t') && token:
			c = '_'
		case !printable(c):
			c = '?'
		}
		dst = append(dst, c)
	}
	return dst
}

// AppendEvent appends "EVT <seq> <type> <source_id> <arg> <aux>
// <timestamp_ns>" for a timer, trigger or timer_stopped record (PROTOCOL.md
// A.6). The caller reports OVERFLOW records with AppendLost instead; any
// other type is written by its devabi name and is not a valid protocol line.
// It runs once per broadcast event and does not allocate.
func AppendEvent(dst []byte, e devabi.Event) []byte {
	dst = append(dst, "EVT "...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	switch e.Type {
	case devabi.EvTimer:
		dst = append(dst, " timer "...)
	case devabi.EvTrigger:
		dst = append(dst, " trigger "...)
	case devabi.EvTimerStopped:
		dst = append(dst, " timer_stopped "...)
	default:
		dst = append(dst, ' ')
		dst = append(dst, e.Type.String()...)
		dst = append(dst, ' ')
	}
	dst = strconv.AppendUint(dst, uint64(e.SourceID), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, e.Arg, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, e.Aux, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, e.TimestampNS, 10)
	return append(dst, '\n')
}

// LostReason says why events were not delivered (PROTOCOL.md A.6).
type LostReason uint8

// The reasons of a LOST line.
const (
	LostQueue   LostReason = iota // this client's TX queue was full
	LostDevice                    // the daemon fell behind the device ring
	LostRestart                   // not replayable after a restart or reload
)

// String returns the wire name: "queue", "device" or "restart".
func (r LostReason) String() string {
	switch r {
	case LostQueue:
		return "queue"
	case LostDevice:
		return "device"
	}
	return "restart"
}

// AppendLost appends "LOST <first_seq> <last_seq> <count> <reason>": within
// seqs first..last (inclusive), count matching events were not delivered.
func AppendLost(dst []byte, first, last, count uint64, r LostReason) []byte {
	dst = append(dst, "LOST "...)
	dst = strconv.AppendUint(dst, first, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, last, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, count, 10)
	dst = append(dst, ' ')
	dst = append(dst, r.String()...)
	return append(dst, '\n')
}
