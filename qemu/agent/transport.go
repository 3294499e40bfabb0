package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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
		p := portSpec{kind: "tty", baud: 115200}
		path, opts, _ := strings.Cut(s, ",")
		path, baud, ok := strings.Cut(path, "@")
		if ok {
			n, err := strconv.Atoi(baud)
			if err != nil || baudFlag(n) == 0 {
				return portSpec{}, fmt.Errorf("port %q: unsupported speed %q", s, baud)
			}
			p.baud = n
		}
		p.name = path
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "":
			case "rtscts":
				p.rtscts = true
			default:
				return portSpec{}, fmt.Errorf("port %q: unknown option %q (want rtscts)", s, o)
			}
		}
		return p, nil
	case s != "" && !strings.ContainsAny(s, "/:@,"):
		return portSpec{kind: "virtio", name: s}, nil
	}
	return portSpec{}, fmt.Errorf("port %q: want a virtio port name, /dev/TTY[@BAUD][,rtscts] or tcp:[HOST]:PORT", s)
}

func (p portSpec) String() string {
	switch p.kind {
	case "tty":
		s := fmt.Sprintf("%s@%d", p.name, p.baud)
		if p.rtscts {
			s += ",rtscts"
		}
		return s
	case "tcp":
		return "tcp:" + p.name
	}
	return p.name
}

var baudFlags = map[int]uint32{
	9600: unix.B9600, 19200: unix.B19200, 38400: unix.B38400, 57600: unix.B57600,
	115200: unix.B115200, 230400: unix.B230400, 460800: unix.B460800, 500000: unix.B500000,
	576000: unix.B576000, 921600: unix.B921600, 1000000: unix.B1000000, 1152000: unix.B1152000,
	1500000: unix.B1500000, 2000000: unix.B2000000, 3000000: unix.B3000000, 4000000: unix.B4000000,
}

func baudFlag(n int) uint32 { return baudFlags[n] }

// makeRaw puts the tty in raw 8N1 mode at baud, with RTS/CTS flow control
// when rtscts, like cfmakeraw(3) plus CLOCAL and CREAD. It works through
// SyscallConn so the file stays in non-blocking mode (read deadlines).
func makeRaw(f *os.File, baud int, rtscts bool) error {
	speed := baudFlag(baud)
	if speed == 0 {
		return fmt.Errorf("unsupported speed %d", baud)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = fmt.Errorf("TCGETS %s: %w (not a tty?)", f.Name(), err)
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CBAUD | unix.CRTSCTS | unix.HUPCL
		t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL | speed
		if rtscts {
			t.Cflag |= unix.CRTSCTS
		}
		t.Ispeed, t.Ospeed = speed, speed
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		if err := unix.IoctlSetTermios(int(fd), unix.TCSETS, t); err != nil {
			ioErr = fmt.Errorf("TCSETS %s: %w", f.Name(), err)
			return
		}
		// Bytes that arrived before raw mode were cooked: drop them.
		_ = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIFLUSH)
	})
	if err != nil {
		return err
	}
	return ioErr
}

// openTTY opens a tty as the agent's line.
func openTTY(p portSpec) (*os.File, error) {
	f, err := os.OpenFile(p.name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open port: %w", err)
	}
	if err := makeRaw(f, p.baud, p.rtscts); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
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
	return noClose{l.f}, l.f.SetReadDeadline(time.Time{})
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
		f, err := openTTY(p)
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
