package server

import (
	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/proto"
)

// histEntry is one retained device record: an event, or a gap (an OVERFLOW
// record: ev.Seq is the first lost seq, ev.Aux the count) with its reason.
type histEntry struct {
	ev     devabi.Event
	reason proto.LostReason // gaps only
}

func (e *histEntry) isGap() bool { return e.ev.Type == devabi.EvOverflow }

// lastSeq is the highest seq the entry covers.
func (e *histEntry) lastSeq() uint64 {
	if e.isGap() && e.ev.Aux > 0 {
		return e.ev.Seq + e.ev.Aux - 1
	}
	return e.ev.Seq
}

// history keeps the last N device records for subscribe from= (A.8).
// Entries have absolute indices; [first, end) are retained.
type history struct {
	buf        []histEntry
	first, end uint64
	// nextSeq is the seq after the last record the daemon has read, i.e.
	// the first seq not yet broadcast.
	nextSeq uint64
}

func (h *history) init(n int) {
	if n > 0 {
		h.buf = make([]histEntry, n)
	}
	h.nextSeq = 1
}

// add retains e; when the history is full (see full), that drops the
// oldest entry.
func (h *history) add(e histEntry) {
	h.nextSeq = e.lastSeq() + 1
	if len(h.buf) == 0 {
		return
	}
	h.buf[h.end%uint64(len(h.buf))] = e
	h.end++
	if h.end-h.first > uint64(len(h.buf)) {
		h.first++
	}
}

// full reports whether the next add drops the oldest entry (h.first).
func (h *history) full() bool {
	return len(h.buf) > 0 && h.end-h.first == uint64(len(h.buf))
}

func (h *history) at(i uint64) *histEntry { return &h.buf[i%uint64(len(h.buf))] }

// oldestSeq is the first seq the history can replay or account for.
func (h *history) oldestSeq() uint64 {
	if h.first == h.end {
		return h.nextSeq
	}
	return h.at(h.first).ev.Seq
}

// search returns the index of the first retained entry covering a seq >= seq.
func (h *history) search(seq uint64) uint64 {
	lo, hi := h.first, h.end
	for lo < hi {
		mid := lo + (hi-lo)/2
		if h.at(mid).lastSeq() < seq {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
