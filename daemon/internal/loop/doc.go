// Package loop is mypolld's event loop: one goroutine waits for its epoll
// fd (in epoll_wait on its own thread while it has had work in the last
// few milliseconds, else parked in the Go runtime's poller; see Loop.wait)
// and dispatches readiness (fd, event mask) to a Handler per registered
// fd, runs timers from a min-heap of deadlines, and runs functions posted from
// other goroutines, woken through an eventfd. After every turn it calls one
// hook, where the server flushes its coalesced transmit queues.
//
// Registrations are keyed by an ID of fd plus generation, kept in epoll_data
// (never a Go pointer), so that events still queued for an fd that was
// removed, closed and reused within one batch are dropped.
//
// It must not know protocols, clients or policy: only fds, event masks and
// deadlines. It does not own the fds it watches, and it does no I/O on them.
package loop
