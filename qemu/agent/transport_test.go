package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/yamux"
	"github.com/mypoll/mypoll/qemu/internal/serial"
	"github.com/mypoll/mypoll/qemu/internal/wire"
	"golang.org/x/sys/unix"
)

func TestParsePortSpec(t *testing.T) {
	good := map[string]string{
		"mypoll.test":              "mypoll.test",
		"/dev/ttyAMA0":             "/dev/ttyAMA0@115200",
		"/dev/ttyAMA0@921600":      "/dev/ttyAMA0@921600",
		"/dev/ttyS0@115200,rtscts": "/dev/ttyS0@115200,rtscts",
		"/dev/ttyUSB0,rtscts":      "/dev/ttyUSB0@115200,rtscts",
		"tcp::7000":                "tcp::7000",
		"tcp:10.0.2.15:7000":       "tcp:10.0.2.15:7000",
	}
	for in, want := range good {
		p, err := parsePortSpec(in)
		if err != nil || p.String() != want {
			t.Errorf("parsePortSpec(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "/dev/ttyS0@12345", "/dev/ttyS0,xonxoff", "tcp:7000", "a:b"} {
		if _, err := parsePortSpec(in); err == nil {
			t.Errorf("parsePortSpec(%q) accepted", in)
		}
	}
}

// serveSpec runs the agent (service mode) on spec and returns where it serves.
func serveSpec(t *testing.T, spec string) string {
	t.Helper()
	p, err := parsePortSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	l, where, err := openLink(p, 0)
	if err != nil {
		t.Fatalf("openLink(%s): %v", spec, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := newAgent(hclog.NewNullLogger(), "service", nil)
	a.daemon.bootDone()
	done := make(chan struct{})
	go func() { defer close(done); _ = a.serve(ctx, l) }()
	t.Cleanup(func() { cancel(); l.close(); <-done })
	return where
}

// ping handshakes on rw, runs PING through a framed yamux session and
// returns the session number the agent reports.
func ping(t *testing.T, rw io.ReadWriteCloser, flush bool) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	line, shared := rw.(noCloseRW)
	if shared {
		_ = line.SetReadDeadline(time.Time{}) // the last session's Close set one
	}
	c, ready, _, err := wire.HostHandshake(ctx, rw, flush)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	sess, err := yamux.Client(wire.NewFramed(c, wire.FrameOptions{}), wire.YamuxConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(st, wire.OpPing+"\n"); err != nil {
		t.Fatal(err)
	}
	reply, err := wire.ReadLine(bufio.NewReader(st))
	if err != nil || !strings.HasPrefix(reply, "OK {") {
		t.Fatalf("PING reply %q, %v", reply, err)
	}
	st.Close()
	if shared {
		// The host goes away without a word, as a harness process that
		// exits does: its session's reader stops (Close waits for it) and
		// nothing is sent. A reader left blocked on the shared line would
		// take the next session's READY (seen under load: a 10-minute hang).
		_ = sess.Close()
	}
	return ready.Session
}

func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, slave, err := serial.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, slave
}

// TestServeTTY: the agent serves a tty given by path, in raw mode at the
// given speed with RTS/CTS, and survives a reconnect on the same line.
func TestServeTTY(t *testing.T) {
	master, slave := openPTY(t)
	where := serveSpec(t, slave+"@921600,rtscts")
	if where != slave+"@921600,rtscts" {
		t.Errorf("serving %q", where)
	}
	s, err := os.OpenFile(slave, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 || tio.Oflag&unix.OPOST != 0 || tio.Iflag&(unix.ICRNL|unix.IXON) != 0 {
		t.Errorf("tty not raw: iflag %#o oflag %#o lflag %#o", tio.Iflag, tio.Oflag, tio.Lflag)
	}
	if tio.Cflag&unix.CBAUD != unix.B921600 || tio.Cflag&unix.CRTSCTS == 0 || tio.Cflag&unix.CSIZE != unix.CS8 {
		t.Errorf("cflag %#o: want B921600, CRTSCTS, CS8", tio.Cflag)
	}
	host := noCloseRW{master}
	if n := ping(t, host, false); n != 1 {
		t.Errorf("first session = %d", n)
	}
	// The host goes away without a word and comes back: the preamble ends
	// the stale session on the same line.
	if n := ping(t, host, true); n < 2 {
		t.Errorf("session after reconnect = %d, want >= 2", n)
	}
}

// TestServeTCP: the agent listens on TCP; a new connection replaces a
// session whose host vanished without closing.
func TestServeTCP(t *testing.T) {
	where := serveSpec(t, "tcp:127.0.0.1:0")
	addr := strings.TrimPrefix(where, "tcp:")
	c1, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if n := ping(t, c1, false); n != 1 {
		t.Errorf("first session = %d", n)
	}
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if n := ping(t, c2, false); n != 2 {
		t.Errorf("second session = %d, want 2", n)
	}
}

// noCloseRW is the host's view of a pty master that stays open across
// sessions (as the agent's noClose is of its tty): Close ends the blocked
// reads with a past read deadline and keeps the line.
type noCloseRW struct{ *os.File }

func (n noCloseRW) Close() error { return n.SetReadDeadline(time.Unix(1, 0)) }
