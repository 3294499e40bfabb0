package wire_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/mypoll/mypoll/qemu/internal/wire"
)

// port models a virtio-serial port: one byte stream per direction that
// outlives host connections. A host connection sees the guest's bytes
// from the moment it attaches; bytes a detached host wrote stay written.
type port struct {
	h2gR *io.PipeReader
	h2gW *io.PipeWriter

	mu   sync.Mutex
	host *io.PipeWriter // where guest bytes go now
}

func newPort(t *testing.T) (*port, io.ReadWriteCloser) {
	p := &port{}
	p.h2gR, p.h2gW = io.Pipe()
	g2hR, g2hW := io.Pipe()
	go func() { // deliver guest bytes to whichever host is attached
		buf := make([]byte, 32<<10)
		for {
			n, err := g2hR.Read(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			h := p.host
			p.mu.Unlock()
			if h != nil {
				_, _ = h.Write(buf[:n])
			}
		}
	}()
	t.Cleanup(func() { p.h2gW.Close(); g2hR.Close() })
	return p, rwc{p.h2gR, g2hW, nil}
}

// attach returns a new host connection; the previous one stops receiving.
func (p *port) attach() io.ReadWriteCloser {
	r, w := io.Pipe()
	p.mu.Lock()
	if p.host != nil {
		p.host.Close()
	}
	p.host = w
	p.mu.Unlock()
	return rwc{r, p.h2gW, r} // Close ends this host's reads only
}

type rwc struct {
	io.Reader
	io.Writer
	closer io.Closer
}

func (c rwc) Close() error { // the guest's port is never closed by a session
	if c.closer != nil {
		return c.closer.Close()
	}
	return nil
}

// serveGuest runs the agent's loop: handshake, yamux server, repeat.
func serveGuest(ctx context.Context, g io.ReadWriteCloser) {
	for ctx.Err() == nil {
		c, _, err := wire.GuestHandshake(ctx, g, wire.GuestOptions{})
		if err != nil {
			return
		}
		sess, err := yamux.Server(c, wire.YamuxConfig(nil))
		if err != nil {
			return
		}
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				break
			}
			go func() { _, _ = io.Copy(st, st); st.Close() }()
		}
		sess.Close()
	}
}

// TestReconnect_AfterHalfFrame: a host that vanished in the middle of a
// yamux frame leaves the guest's session waiting for the rest of the body;
// only the flush lets the next host's HELLO through.
func TestReconnect_AfterHalfFrame(t *testing.T) {
	for _, flush := range []bool{true, false} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		p, guest := newPort(t)
		go serveGuest(ctx, guest)

		h1 := p.attach()
		c1, _, _, err := wire.HostHandshake(ctx, h1, false)
		if err != nil {
			t.Fatalf("first handshake: %v", err)
		}
		if _, err := yamux.Client(c1, wire.YamuxConfig(nil)); err != nil {
			t.Fatal(err)
		}
		// A data frame that opens stream 1 and promises 100000 bytes, of
		// which only 10 arrive before the host goes away.
		hdr := make([]byte, 12)
		hdr[1] = 0                               // type data
		binary.BigEndian.PutUint16(hdr[2:], 1)   // SYN
		binary.BigEndian.PutUint32(hdr[4:], 1)   // stream 1
		binary.BigEndian.PutUint32(hdr[8:], 1e5) // length
		if _, err := h1.Write(append(hdr, make([]byte, 10)...)); err != nil {
			t.Fatal(err)
		}

		hctx, hcancel := context.WithTimeout(ctx, time.Second)
		h2 := p.attach()
		c2, _, _, err := wire.HostHandshake(hctx, h2, flush)
		hcancel()
		if !flush {
			if !errors.Is(err, wire.ErrHandshake) {
				t.Errorf("reconnect without flush = %v, want a handshake timeout (the test models the bug)", err)
			}
			cancel()
			continue
		}
		if err != nil {
			t.Fatalf("reconnect with flush: %v", err)
		}
		sess, err := yamux.Client(c2, wire.YamuxConfig(nil))
		if err != nil {
			t.Fatal(err)
		}
		st, err := sess.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = st.Write([]byte("after reconnect"))
		got := make([]byte, 15)
		if _, err := io.ReadFull(st, got); err != nil || string(got) != "after reconnect" {
			t.Errorf("echo after reconnect = %q, %v", got, err)
		}
		cancel()
	}
}
