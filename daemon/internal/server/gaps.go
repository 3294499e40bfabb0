package server

import "github.com/mypoll/mypoll/daemon/internal/proto"

// gap is a LOST line owed to a client: count matching events in seqs
// first..last were not delivered, for reason.
type gap struct {
	first, last, count uint64
	reason             proto.LostReason
}

// maxGaps bounds the owed LOST lines per client. Adjacent gaps of the same
// reason merge; past the bound the newest gaps merge into the last one,
// which keeps the count exact and widens the range (never loses a count).
const maxGaps = 4

// gapList is a client's owed LOST lines, in seq order. No allocation: the
// array is part of the client.
type gapList struct {
	g [maxGaps]gap
	n int
}

func (l *gapList) empty() bool { return l.n == 0 }

// add records count lost events in first..last. Gaps arrive in seq order.
func (l *gapList) add(first, last, count uint64, r proto.LostReason) {
	if l.n > 0 {
		p := &l.g[l.n-1]
		// Same reason: extend. Out of slots: keep the count honest under
		// the older gap's reason rather than drop it.
		if p.reason == r || l.n == maxGaps {
			p.last = max(p.last, last)
			p.count += count
			return
		}
	}
	l.g[l.n] = gap{first: first, last: last, count: count, reason: r}
	l.n++
}

// front returns the oldest owed gap.
func (l *gapList) front() gap { return l.g[0] }

// pop drops the oldest owed gap.
func (l *gapList) pop() {
	copy(l.g[:], l.g[1:l.n])
	l.n--
}

// lostToQueue accounts for an event the feed dropped because c's TX queue
// was full, and starts the eviction clock.
func (c *client) lostToQueue() {
	s := c.srv
	s.counter.lostQueue++
	if c.stallStart == 0 {
		c.stallStart = s.cfg.Now().UnixNano()
		c.log.Warn("client too slow: dropping events", "txq_bytes", c.tx.Cap())
		return
	}
	if s.cfg.EvictAfter > 0 && s.cfg.Now().UnixNano()-c.stallStart >= int64(s.cfg.EvictAfter) {
		c.log.Warn("evicting slow client", "evict_after", s.cfg.EvictAfter)
		s.closeClient(c, closeEvicted, nil)
	}
}
