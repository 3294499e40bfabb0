package loop

import "time"

// Turn runs one turn of the loop: wait, dispatch, timers, posted functions,
// turn-end hook.
func (l *Loop) Turn() error { return l.turn() }

// SetNow replaces the loop's monotonic clock.
func (l *Loop) SetNow(now func() time.Duration) { l.now = now }

// EpollFD returns the loop's epoll fd.
func (l *Loop) EpollFD() int { return l.epfd }
