// Package client is the Go client of mypolld, the mypoll daemon: it speaks
// the line protocol of PROTOCOL.md section A over an AF_UNIX socket (or any
// net.Conn, such as a proxied connection into a test VM).
//
// A Conn has one reader goroutine that reads every line the daemon sends.
// Replies are matched to requests in order, so requests may be pipelined
// (Send many, then Wait on each Call). Events (EVT) and loss reports (LOST)
// are kept, in order, in an in-memory queue until Next returns them: a
// program that does requests and never calls Next cannot deadlock the
// connection, but its queue grows with every event it is subscribed to
// (subscribe to "none" to stop that).
//
// A new connection is subscribed to nothing: it gets no events until it
// calls Subscribe (or SubscribeFilter with a typed Filter: whole classes,
// one timer's events, the triggers of one payload; PROTOCOL.md A.5). Resume connects and subscribes from a given seq in one
// step, so the replay of what was missed comes first, then live events,
// strictly increasing. Stream goes further: it reconnects after a daemon
// restart (with backoff), resumes where it stopped, and reports each
// reconnect and every gap.
//
// It must not know the daemon's internals: it cannot import
// github.com/mypoll/mypoll/daemon/..., so it has its own strict parser for
// server lines (ParseLine). It does not log and imports neither
// golang.org/x/sys nor unsafe.
package client
