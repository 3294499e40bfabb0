// Package bridge is mypoll-bridge's engine (PROTOCOL.md section C): it
// reads one mypolld through client.Stream (reconnect, resume from its
// cursor, backoff) into a crash-safe spool on disk (the session), and
// publishes the spool in seq order to an MQTT broker or broker cluster,
// advancing the acknowledged cursor (the publisher); it also serves the
// optional remote requests (C.5).
//
// It must not know the daemon's internals (it is an ordinary client: it
// reads the wire only through the public client package, never
// daemon/internal/proto or server), nor the command line: flags, their
// defaults and checks, TLS files and passwords are mypoll-bridge's main,
// which hands a Config to New.
package bridge
