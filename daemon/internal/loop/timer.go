package loop

import "time"

// Timer is a one-shot callback scheduled with AfterFunc. Its fields belong
// to the loop goroutine.
type Timer struct {
	l     *Loop
	when  time.Duration // deadline on the loop's monotonic clock
	seq   uint64        // scheduling order: ties fire first-scheduled first
	f     func()
	index int // position in the heap, -1 when not scheduled
}

// AfterFunc schedules f to run on the loop goroutine once d has passed on
// the monotonic clock (d <= 0: on the next turn). Timers run after the
// turn's events, earliest deadline first, ties in scheduling order. Call it
// on the loop goroutine (or before Run).
func (l *Loop) AfterFunc(d time.Duration, f func()) *Timer {
	l.timerSeq++
	t := &Timer{l: l, when: l.now() + max(d, 0), seq: l.timerSeq, f: f}
	l.timers.push(t)
	return t
}

// Stop cancels the timer. It returns true if that prevented f from running,
// false if f already ran or the timer was stopped before. Call it on the
// loop goroutine.
func (t *Timer) Stop() bool {
	if t.index < 0 {
		return false
	}
	t.l.timers.remove(t.index)
	t.f = nil
	return true
}

// runTimers runs every timer due at the start of the call. Timers that
// those schedule run on a later turn even when already due, so a timer
// rescheduling itself with d <= 0 cannot starve the loop: they sort after
// every older due timer, so stopping at the first one is enough.
func (l *Loop) runTimers() {
	now, last := l.now(), l.timerSeq
	for len(l.timers) > 0 && !l.stopping.Load() {
		t := l.timers[0]
		if t.when > now || t.seq > last {
			return
		}
		l.timers.pop()
		f := t.f
		t.f = nil
		f()
	}
}

// timerHeap is a binary min-heap on (when, seq). It is hand-written rather
// than container/heap to avoid an interface conversion per operation.
type timerHeap []*Timer

func (h timerHeap) less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].seq < h[j].seq
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) push(t *Timer) {
	t.index = len(*h)
	*h = append(*h, t)
	h.up(t.index)
}

func (h *timerHeap) pop() *Timer {
	return h.remove(0)
}

func (h *timerHeap) remove(i int) *Timer {
	old := *h
	n := len(old) - 1
	t := old[i]
	if i != n {
		old.swap(i, n)
	}
	old[n] = nil
	*h = old[:n]
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
	t.index = -1
	return t
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts h[i] down and reports whether it moved.
func (h timerHeap) down(i int) bool {
	start := i
	for {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if r := c + 1; r < len(h) && h.less(r, c) {
			c = r
		}
		if !h.less(c, i) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}
