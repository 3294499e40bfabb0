// Package proto is the mypolld socket protocol, version 1 (PROTOCOL.md
// section A), on plain byte slices: request framing (Framer), request parsing
// (ParseRequest) and the encoding of every server line (HELLO, OK, ERR, EVT,
// LOST) by appending to a caller-owned buffer.
//
// It must not know where the bytes come from or go to: it does no I/O, keeps
// no clients, logs nothing and imports neither net, os, syscall,
// golang.org/x/sys nor unsafe (a test checks its dependencies). Buffers belong
// to the caller; the Framer keeps only the "discarding an over-long line"
// state. Nothing here allocates on the per-event path.
package proto
