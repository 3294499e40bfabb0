// Package linetest is the raw line client that the tests of mypolld share
// (daemon/internal/server, daemon/cmd/mypolld, tests/): it dials the daemon
// or wraps a proxied connection, writes request lines as given and reads
// server lines with a deadline, failing the test on any I/O error. It
// parses only what tests compare by value (EVT and LOST lines); replies are
// returned as text. Real clients use package client.
//
// It must not know the daemon's internals, and it does not import testing:
// a TB is the part of testing.TB it needs.
package linetest
