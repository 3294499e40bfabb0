// Package wire is the protocol between the host harness (package qemu) and the
// guest agent (qemu/agent) over the virtio-serial port named PortName: the
// line handshake with a nonce that runs before every yamux session, the yamux
// configuration both sides use, and the op header and reply lines that start
// each yamux stream.
//
// It must not know QEMU, processes, mounts or tests: it deals in bytes on an
// io.ReadWriter and is shared verbatim by both ends.
package wire
