package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/mypoll/mypoll/qemu/internal/serial"
)

// A port spec names what the agent serves (--port, or mypolltest.port= on
// the kernel command line):
//
//	mypoll.test                  a virtio-serial port by name (the default)
//	/dev/ttyAMA0[@BAUD][,rtscts] a tty used as given: O_NOCTTY, raw 8N1,
//	                             BAUD (default 115200), RTS/CTS when asked
//	tcp:[HOST]:PORT              a TCP listener (one session at a time; a
//	                             new connection replaces the current one)
type portSpec struct {
	kind   string // "virtio", "tty", "tcp"
	name   string // virtio port name, tty path or listen address
	baud   int
	rtscts bool
}

func parsePortSpec(s string) (portSpec, error) {
	switch {
	case strings.HasPrefix(s, "tcp:"):
		addr := strings.TrimPrefix(s, "tcp:")
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return portSpec{}, fmt.Errorf("port %q: want tcp:[HOST]:PORT: %w", s, err)
		}
		return portSpec{kind: "tcp", name: addr}, nil
	case strings.HasPrefix(s, "/"):
		sp, err := serial.ParseSpec(s)
		if err != nil {
			return portSpec{}, err
		}
		return portSpec{kind: "tty", name: sp.Path, baud: sp.Baud, rtscts: sp.RTSCTS}, nil
	case s != "" && !strings.ContainsAny(s, "/:@,"):
		return portSpec{kind: "virtio", name: s}, nil
	}
	return portSpec{}, fmt.Errorf("port %q: want a virtio port name, /dev/TTY[@BAUD][,rtscts] or tcp:[HOST]:PORT", s)
}

func (p portSpec) String() string {
	switch p.kind {
	case "tty":
		return serial.Spec{Path: p.name, Baud: p.baud, RTSCTS: p.rtscts}.String()
	case "tcp":
		return "tcp:" + p.name
	}
	return p.name
}

// link hands out one connection per session.
type link interface {
	// next returns the connection for the next session.
	next(ctx context.Context) (io.ReadWriteCloser, error)
	// replaced is closed when a newer connection waits (tcp), else nil.
	replaced() <-chan struct{}
	close()
}

// devLink reopens a virtio port for every session (a reopen is how the
// guest side of virtio-serial starts clean).
type devLink struct{ dev string }

func (l devLink) next(context.Context) (io.ReadWriteCloser, error) {
	f, err := os.OpenFile(l.dev, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open port: %w", err)
	}
	return f, nil
}
func (devLink) replaced() <-chan struct{} { return nil }
func (devLink) close()                    {}

// ttyLink keeps one tty open across sessions: closing it could drop DTR
// and lose what the host sent meanwhile.
type ttyLink struct{ f *os.File }

func (l ttyLink) next(context.Context) (io.ReadWriteCloser, error) {
	return noClose(l), l.f.SetReadDeadline(time.Time{})
}
func (ttyLink) replaced() <-chan struct{} { return nil }
func (l ttyLink) close()                  { _ = l.f.Close() }

// noClose is a session's view of a shared file: Close only ends the
// session's blocked reads (by a past read deadline), the file stays open.
type noClose struct{ f *os.File }

func (n noClose) Read(p []byte) (int, error)        { return n.f.Read(p) }
func (n noClose) Write(p []byte) (int, error)       { return n.f.Write(p) }
func (n noClose) SetReadDeadline(t time.Time) error { return n.f.SetReadDeadline(t) }
func (n noClose) Close() error                      { return n.f.SetReadDeadline(time.Unix(1, 0)) }

// tcpLink accepts connections; a new one replaces the current session (a
// host that vanished without a FIN would otherwise hold the agent).
type tcpLink struct {
	ln    net.Listener
	conns chan net.Conn
	newer chan struct{}
}

func listenTCP(addr string) (*tcpLink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	l := &tcpLink{ln: ln, conns: make(chan net.Conn), newer: make(chan struct{}, 1)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(l.conns)
				return
			}
			select {
			case l.newer <- struct{}{}:
			default:
			}
			l.conns <- c
		}
	}()
	return l, nil
}

func (l *tcpLink) next(ctx context.Context) (io.ReadWriteCloser, error) {
	select {
	case c, ok := <-l.conns:
		if !ok {
			return nil, errors.New("listener closed")
		}
		select { // this connection's own arrival does not replace it
		case <-l.newer:
		default:
		}
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
func (l *tcpLink) replaced() <-chan struct{} { return l.newer }
func (l *tcpLink) close()                    { _ = l.ln.Close() }

// openLink opens what p names; a virtio port is looked up for up to wait.
func openLink(p portSpec, wait time.Duration) (link, string, error) {
	switch p.kind {
	case "tty":
		f, err := serial.Open(serial.Spec{Path: p.name, Baud: p.baud, RTSCTS: p.rtscts})
		if err != nil {
			return nil, "", err
		}
		return ttyLink{f}, p.String(), nil
	case "tcp":
		l, err := listenTCP(p.name)
		if err != nil {
			return nil, "", err
		}
		return l, "tcp:" + l.ln.Addr().String(), nil
	}
	dev, err := findPort(p.name, wait)
	if err != nil {
		return nil, "", err
	}
	return devLink{dev}, dev, nil
}
