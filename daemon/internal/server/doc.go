// Package server is mypolld's core: it accepts clients on an AF_UNIX stream
// socket, parses their requests with proto, turns control requests into
// device calls, and broadcasts the device's records to every subscribed
// client in the device's total order, with per-client fixed TX queues, flow
// control, loss reporting (LOST), history and resume (PROTOCOL.md A).
//
// Everything runs on the goroutine of one loop.Loop; no state is shared with
// other goroutines except through loop.Post. The server owns policy. It
// must not know epoll (loop does), syscall details (sys does) or the wire
// syntax (proto does).
package server
