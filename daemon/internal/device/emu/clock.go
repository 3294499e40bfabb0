package emu

import (
	"slices"
	"sync"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// Clock is the time source of an emulated device: Now stamps records and
// drives timers, AfterFunc schedules timer expiries. AfterFunc calls f on a
// goroutine of the Clock's choosing without any emu lock held; stop
// cancels a pending call and reports whether it did (f may still run after
// a false stop; the device ignores such stale calls).
type Clock interface {
	Now() time.Duration
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// realClock is CLOCK_MONOTONIC (the kernel's record clock) with Go timers,
// which the runtime also drives from CLOCK_MONOTONIC.
type realClock struct{}

func (realClock) Now() time.Duration { return sys.Monotonic() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// ManualClock is a Clock that moves only when Advance is called, for
// deterministic tests: time jumps, then every callback that became due runs
// once, in deadline order, on the goroutine calling Advance. A timer of
// period P advanced by 5P therefore fires once, late, and coalesces the
// missed ticks exactly like an hrtimer on a stalled CPU. It is safe for
// concurrent use.
type ManualClock struct {
	mu      sync.Mutex
	now     time.Duration // guarded by mu
	next    uint64        // guarded by mu: id of the next callback
	pending []manualCall  // guarded by mu: scheduled callbacks
}

type manualCall struct {
	at time.Duration
	id uint64
	f  func()
}

// NewManualClock returns a ManualClock reading start.
func NewManualClock(start time.Duration) *ManualClock {
	return &ManualClock{now: start}
}

// Now returns the clock's current reading.
func (c *ManualClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run when the clock reaches Now()+d.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	id := c.next
	c.pending = append(c.pending, manualCall{at: c.now + d, id: id, f: f})
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.IndexFunc(c.pending, func(m manualCall) bool { return m.id == id })
		if i < 0 {
			return false
		}
		c.pending = slices.Delete(c.pending, i, i+1)
		return true
	}
}

// Advance moves the clock forward by d, then runs every callback that is
// due, including ones scheduled by those callbacks, before returning. It
// must not be called from a callback.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now += d
	c.mu.Unlock()
	for {
		c.mu.Lock()
		i := -1
		for j, m := range c.pending {
			if m.at <= c.now && (i < 0 || m.at < c.pending[i].at || m.at == c.pending[i].at && m.id < c.pending[i].id) {
				i = j
			}
		}
		if i < 0 {
			c.mu.Unlock()
			return
		}
		f := c.pending[i].f
		c.pending = slices.Delete(c.pending, i, i+1)
		c.mu.Unlock()
		f()
	}
}
