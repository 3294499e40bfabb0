package wire_test

import (
	"context"
	"io"
	"sync"
	"testing"

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
		sess, err := yamux.Server(wire.NewFramed(c, wire.FrameOptions{}), wire.YamuxConfig(nil))
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
