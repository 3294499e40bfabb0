package wire_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/qemu/internal/wire"
)

// pipeConn adapts one end of net.Pipe; Close is idempotent.
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

func TestHandshake_StaleBytesAndPayload(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	host, guest := pair(t)

	type res struct {
		conn  *wire.Conn
		ready wire.Ready
		err   error
	}
	gch := make(chan res, 1)
	go func() {
		c, r, err := wire.GuestHandshake(ctx, guest, wire.GuestOptions{
			Ready: func() wire.Ready { return wire.Ready{Session: 7, Mode: "init"} },
		})
		gch <- res{c, r, err}
	}()

	// Stale bytes from an old session arrive at the host first; they are
	// written by a goroutine because net.Pipe is synchronous.
	stale := append(bytes.Repeat([]byte{0, 1, 2, 'x'}, 3000), []byte("MYPOLL-READY deadbeef {}\n")...)
	hostSide := &prefixRW{r: io.MultiReader(bytes.NewReader(stale), host), w: host, c: host}
	hc, ready, discarded, err := wire.HostHandshake(ctx, hostSide, false)
	if err != nil {
		t.Fatalf("HostHandshake: %v", err)
	}
	if ready.Session != 7 || ready.Mode != "init" {
		t.Errorf("ready = %+v, want session 7 mode init", ready)
	}
	if discarded < int64(len(stale)) {
		t.Errorf("discarded = %d, want >= %d", discarded, len(stale))
	}
	g := <-gch
	if g.err != nil {
		t.Fatalf("GuestHandshake: %v", g.err)
	}

	// Bytes after GO reach the guest's Conn intact, both ways.
	go func() { _, _ = hc.Write([]byte("payload\n")) }()
	line, err := bufio.NewReader(g.conn).ReadString('\n')
	if err != nil || line != "payload\n" {
		t.Fatalf("guest read %q, %v; want payload", line, err)
	}
	go func() { _, _ = g.conn.Write([]byte("back\n")) }()
	line, err = bufio.NewReader(hc).ReadString('\n')
	if err != nil || line != "back\n" {
		t.Fatalf("host read %q, %v; want back", line, err)
	}
}

func TestHandshake_NewNonceRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	host, guest := pair(t)
	sessions := 0
	gch := make(chan error, 1)
	go func() {
		_, _, err := wire.GuestHandshake(ctx, guest, wire.GuestOptions{
			Ready: func() wire.Ready { sessions++; return wire.Ready{Session: sessions} },
		})
		gch <- err
	}()
	// A first host sends HELLO and vanishes before GO (its READY is read
	// here and thrown away), then the real host handshakes.
	go func() { _, _ = io.WriteString(host, "\nMYPOLL-HELLO 1111\n") }()
	br := bufio.NewReader(host)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read first ready: %v", err)
		}
		if strings.Contains(line, "MYPOLL-READY 1111 ") {
			break
		}
	}
	_, ready, _, err := wire.HostHandshake(ctx, &prefixRW{r: br, w: host, c: host}, true)
	if err != nil {
		t.Fatalf("HostHandshake: %v", err)
	}
	if ready.Session != 2 {
		t.Errorf("ready.Session = %d, want 2", ready.Session)
	}
	if err := <-gch; err != nil {
		t.Fatalf("GuestHandshake: %v", err)
	}
}

func TestHostHandshake_ContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	host, guest := pair(t)
	go func() { _, _ = io.Copy(io.Discard, guest) }() // a guest that never answers
	_, _, _, err := wire.HostHandshake(ctx, host, false)
	if !errors.Is(err, wire.ErrHandshake) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("HostHandshake = %v, want ErrHandshake and DeadlineExceeded", err)
	}
}

func TestGuestHandshake_BacksOffOnEOF(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Millisecond)
	defer cancel()
	r := &eofPort{}
	_, _, err := wire.GuestHandshake(ctx, r, wire.GuestOptions{EOFBackoff: 10 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GuestHandshake = %v, want DeadlineExceeded", err)
	}
	if r.reads < 2 || r.reads > 10 {
		t.Errorf("reads = %d, want a handful (backoff 10ms over 60ms)", r.reads)
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		line    string
		want    string
		wantErr bool
	}{
		{"OK", "", false},
		{"OK 12 x", "12 x", false},
		{"ERR no such file", "", true},
		{"garbage", "", true},
	}
	for _, tt := range tests {
		got, err := wire.ParseReply(tt.line)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseReply(%q) = %q, %v; want %q, err %v", tt.line, got, err, tt.want, tt.wantErr)
		}
		if tt.wantErr && strings.HasPrefix(tt.line, "ERR") && !errors.Is(err, wire.ErrRemote) {
			t.Errorf("ParseReply(%q) error %v does not wrap ErrRemote", tt.line, err)
		}
	}
}

type prefixRW struct {
	r io.Reader
	w io.Writer
	c io.Closer
}

func (p *prefixRW) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *prefixRW) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *prefixRW) Close() error                { return p.c.Close() }

type eofPort struct{ reads int }

func (e *eofPort) Read([]byte) (int, error)    { e.reads++; return 0, io.EOF }
func (e *eofPort) Write(b []byte) (int, error) { return len(b), nil }
func (e *eofPort) Close() error                { return nil }
