package server

import (
	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/proto"
	"github.com/mypoll/mypoll/daemon/internal/txq"
)

// feed is one client's event stream: its subscription, its cursor (what it
// was sent, what it wants from), its replay from the history and the LOST
// lines it is owed (PROTOCOL.md A.5, A.6, A.8). It is the only writer of
// that state. It queues EVT and LOST lines into the client's TX queue and
// knows nothing of sockets, the loop or the server's counters: its
// methods report what happened and the caller accounts for it.
type feed struct {
	tx    *txq.Queue
	limit int // how full events may make tx (the rest is kept for replies)

	sub    proto.Filter
	minSeq uint64 // events below this seq are not sent (subscribe from=)
	// sent is the highest seq this connection was sent, as an EVT line
	// or inside a LOST line (queued or owed); 0 before any. A later
	// subscribe from= replays only above it, so no seq goes out twice
	// (PROTOCOL.md A.6, A.8).
	sent uint64

	// Resume: while replaying, the feed takes events from the history
	// (from entry replayIdx on), not from the live broadcast.
	replaying bool // change it with setReplaying
	replayIdx uint64
	// replayers, when not nil, counts the replaying feeds of a server
	// (it tells the history's drops only to them).
	replayers *int

	gaps gapList // LOST lines owed, oldest first
}

// newFeed returns the feed of a new client: subscribed to nothing (no EVT
// or LOST line before the first subscribe, A.5), and, for a plain
// subscribe, live from next (HELLO's next_seq) on.
func newFeed(tx *txq.Queue, limit int, next uint64, replayers *int) feed {
	return feed{tx: tx, limit: limit, minSeq: next, replayers: replayers}
}

// setReplaying starts or ends the replay, counted in *f.replayers.
func (f *feed) setReplaying(on bool) {
	if f.replaying == on {
		return
	}
	f.replaying = on
	if f.replayers == nil {
		return
	}
	if on {
		*f.replayers++
	} else {
		*f.replayers--
	}
}

// stop ends the feed: its client is closed.
func (f *feed) stop() { f.setReplaying(false) }

// live reports whether the feed takes events from the live broadcast.
func (f *feed) live() bool { return !f.replaying && !f.sub.None() }

// pending reports whether the feed still owes the client lines (LOST
// lines or a replay) that are not in the TX queue yet.
func (f *feed) pending() bool { return f.replaying || !f.gaps.empty() }

func (f *feed) fits(n int) bool { return f.tx.Len()+n <= f.limit }

// offerBatch queues the whole encoded batch in one copy when the feed takes
// every event of it and has room; it reports whether it did. Otherwise the
// caller offers the events one by one.
func (f *feed) offerBatch(b *eventBatch) bool {
	if !f.sub.All() || !f.gaps.empty() || f.minSeq > b.ev[0].Seq || !f.fits(len(b.buf)) {
		return false
	}
	f.tx.Append(b.buf)
	f.sent = b.ev[len(b.ev)-1].Seq
	return true
}

// offer queues one live event line (of ev) if the feed wants it.
// queued reports that lines went into the TX queue (the event, or owed
// LOST lines); lost that the event matched but did not fit: it is owed
// as LOST ... queue.
func (f *feed) offer(line []byte, ev *devabi.Event, scratch []byte) (queued, lost bool) {
	seq := ev.Seq
	if seq < f.minSeq || !f.sub.All() && !f.sub.Match(ev) {
		return false, false
	}
	if !f.gaps.empty() {
		queued = f.flushGaps(scratch)
		if !f.gaps.empty() {
			f.dropped(seq)
			return queued, true
		}
	}
	if !f.fits(len(line)) {
		f.dropped(seq)
		return queued, true
	}
	f.tx.Append(line)
	f.sent = seq
	return true, false
}

// dropped owes a LOST ... queue line for the event with seq.
func (f *feed) dropped(seq uint64) {
	f.gaps.add(seq, seq, 1, proto.LostQueue)
	f.sent = seq
}

// lostUnseen reports seqs first..last that the daemon never saw (an
// OVERFLOW record) with reason r; it reports whether the feed owes a LOST
// line for them. The daemon cannot know the records' types: whatever the
// filter, the count is every seq of the range the feed had not passed yet
// (A.6).
func (f *feed) lostUnseen(first, last uint64, r proto.LostReason, scratch []byte) bool {
	if !f.live() || last < f.minSeq {
		return false
	}
	first = max(first, f.minSeq, f.sent+1)
	if first > last {
		return false
	}
	f.gaps.add(first, last, last-first+1, r)
	f.sent = last
	f.flushGaps(scratch)
	return true
}

// subscribe sets the subscription.
func (f *feed) subscribe(flt proto.Filter) { f.sub = flt }

// resume starts a replay from seq from (subscribe from=, A.8): never below
// what this connection was already sent; seqs the history no longer holds
// are owed as LOST ... restart. The caller then runs replay.
func (f *feed) resume(from uint64, h *history, scratch []byte) {
	from = max(from, 1, f.sent+1)
	oldest := h.oldestSeq()
	f.setReplaying(false)
	f.minSeq = from
	if from < oldest {
		f.gaps.add(from, oldest-1, oldest-from, proto.LostRestart)
		f.sent = oldest - 1
		f.minSeq = oldest
		f.flushGaps(scratch)
	}
	if f.minSeq < h.nextSeq {
		f.setReplaying(true)
		f.replayIdx = h.search(f.minSeq)
	}
}

// replay moves retained events into the TX queue while they fit. progress
// reports whether it queued any event; lostQueue is how many events the
// history dropped before this slow feed could replay them (owed as LOST
// ... queue). Once the feed has caught up with the history it goes live.
func (f *feed) replay(h *history, scratch []byte) (progress bool, lostQueue uint64) {
	for f.replaying {
		if f.replayIdx < h.first {
			// The history moved on while this client was too slow. The
			// server reports each dropped entry (dropHistory), so this
			// only happens to a feed it did not tell: count every seq.
			oldest := h.oldestSeq()
			if oldest > f.minSeq {
				n := oldest - f.minSeq
				f.gaps.add(f.minSeq, oldest-1, n, proto.LostQueue)
				lostQueue += n
				f.sent = oldest - 1
				f.minSeq = oldest
			}
			f.replayIdx = h.first
		}
		if !f.gaps.empty() && (!f.flushGaps(scratch) || !f.gaps.empty()) {
			break
		}
		if f.replayIdx >= h.end {
			f.setReplaying(false)
			f.minSeq = max(f.minSeq, h.nextSeq)
			break
		}
		e := h.at(f.replayIdx)
		if e.lastSeq() < f.minSeq {
			f.replayIdx++
			continue
		}
		if e.isGap() {
			first := max(e.ev.Seq, f.minSeq)
			f.gaps.add(first, e.lastSeq(), e.lastSeq()-first+1, e.reason)
			f.sent = e.lastSeq()
			f.minSeq = e.lastSeq() + 1
			f.replayIdx++
			continue
		}
		if !f.sub.Match(&e.ev) {
			f.minSeq = e.ev.Seq + 1
			f.replayIdx++
			continue
		}
		line := proto.AppendEvent(scratch[:0], e.ev)
		if !f.fits(len(line)) || !f.tx.Append(line) {
			break
		}
		f.sent = e.ev.Seq
		f.minSeq = e.ev.Seq + 1
		f.replayIdx++
		progress = true
	}
	return progress, lostQueue
}

// dropHistory is told that the history dropped entry idx (old) to make
// room. A replaying feed that had not reached it yet accounts for it: a
// matching event is owed as LOST ... queue (returned as lostQueue, so the
// count is exact for any filter), a gap keeps its reason.
func (f *feed) dropHistory(idx uint64, old *histEntry) (lostQueue uint64) {
	if !f.replaying || f.replayIdx != idx {
		return 0
	}
	f.replayIdx++
	last := old.lastSeq()
	if last < f.minSeq {
		return 0
	}
	switch {
	case old.isGap():
		first := max(old.ev.Seq, f.minSeq)
		f.gaps.add(first, last, last-first+1, old.reason)
		f.sent = last
	case f.sub.Match(&old.ev):
		f.dropped(last)
		lostQueue = 1
	}
	f.minSeq = last + 1
	return lostQueue
}

// flushGaps queues owed LOST lines while they fit under the event limit;
// it reports whether it queued any.
func (f *feed) flushGaps(scratch []byte) bool {
	queued := false
	for !f.gaps.empty() {
		g := f.gaps.front()
		line := proto.AppendLost(scratch[:0], g.first, g.last, g.count, g.reason)
		if !f.fits(len(line)) || !f.tx.Append(line) {
			break
		}
		f.gaps.pop()
		queued = true
	}
	return queued
}
