package wire_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/mypoll/mypoll/qemu/internal/wire"
)

// TestFlushSize: the reconnect preamble no longer scales with yamux's
// window (257 KiB, 23 s at 115200 baud) but with one frame.
func TestFlushSize(t *testing.T) {
	if wire.FlushSize > 4096 {
		t.Errorf("FlushSize = %d, want at most 4 KiB (0.36 s at 115200 baud)", wire.FlushSize)
	}
	if wire.FlushSize < wire.MaxFrame+wire.FrameOverhead {
		t.Errorf("FlushSize = %d cannot complete a %d-byte frame", wire.FlushSize, wire.MaxFrame+wire.FrameOverhead)
	}
}

// framedPair runs yamux over Framed on both ends of a link whose
// host-to-guest bytes pass through tamper (nil: unchanged).
func framedPair(t *testing.T, tamper func(b []byte) []byte) (host, guest *yamux.Session, hf, gf *wire.Framed) {
	t.Helper()
	h, mid := net.Pipe()
	mid2, g := net.Pipe()
	t.Cleanup(func() { h.Close(); mid.Close(); mid2.Close(); g.Close() })
	go func() { // host -> guest, tampered
		buf := make([]byte, 64<<10)
		for {
			n, err := mid.Read(buf)
			if err != nil {
				mid2.Close()
				return
			}
			b := buf[:n]
			if tamper != nil {
				b = tamper(bytes.Clone(b))
			}
			if _, err := mid2.Write(b); err != nil {
				return
			}
		}
	}()
	go func() { _, _ = io.Copy(mid, mid2) }() // guest -> host
	opts := wire.FrameOptions{StallTimeout: 300 * time.Millisecond}
	hf = wire.NewFramed(h, opts)
	gf = wire.NewFramed(g, opts)
	var err error
	if host, err = yamux.Client(hf, wire.YamuxConfig(nil)); err != nil {
		t.Fatal(err)
	}
	if guest, err = yamux.Server(gf, wire.YamuxConfig(nil)); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			st, err := guest.AcceptStream()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(st, st); st.Close() }()
		}
	}()
	return host, guest, hf, gf
}

func TestFramed_RoundTrip(t *testing.T) {
	host, _, _, gf := framedPair(t, nil)
	st, err := host.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KiB: many frames, more than a window
	go func() { _, _ = st.Write(want) }()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(st, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("echo: %v, equal %v", err, bytes.Equal(got, want))
	}
	if gf.Err() != nil || gf.Frames() < int64(len(want)/wire.MaxFrame) {
		t.Errorf("guest framed: err %v, %d frames", gf.Err(), gf.Frames())
	}
}

// TestFramed_Corruption: a flipped, dropped or inserted byte ends the
// session at once with an error that names the cause, instead of a hang
// or wrong data.
func TestFramed_Corruption(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(b []byte) []byte
		want   string
	}{
		{"flip", func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b }, "CRC-32 mismatch"},
		{"drop", func(b []byte) []byte { return append(b[:len(b)/2], b[len(b)/2+1:]...) }, "incomplete after"},
		{"insert", func(b []byte) []byte { return append(b[:3:3], append([]byte{'x'}, b[3:]...)...) }, "damaged header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			armed := false
			host, guest, hf, gf := framedPair(t, func(b []byte) []byte {
				if armed && len(b) > 100 {
					armed = false
					return tc.tamper(b)
				}
				return b
			})
			st, err := host.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(st, make([]byte, 5)); err != nil {
				t.Fatalf("echo before damage: %v", err)
			}
			armed = true
			_ = st.SetDeadline(time.Now().Add(5 * time.Second))
			go func() { _, _ = st.Write(bytes.Repeat([]byte{'y'}, 1500)) }()
			_, err = io.ReadFull(st, make([]byte, 1500))
			if err == nil {
				t.Fatalf("damaged data echoed without error")
			}
			if errors.Is(err, yamux.ErrTimeout) {
				t.Fatalf("stream timed out: the session hung on the damaged frame")
			}
			select {
			case <-guest.CloseChan():
			case <-time.After(5 * time.Second):
				t.Fatalf("guest session still open after the damage")
			}
			select {
			case <-host.CloseChan():
			case <-time.After(5 * time.Second):
				t.Fatalf("host session still open after the guest gave up")
			}
			ferr := gf.Err()
			if !errors.Is(ferr, wire.ErrFrame) || !strings.Contains(ferr.Error(), tc.want) {
				t.Fatalf("framing error = %v, want ErrFrame naming %q", ferr, tc.want)
			}
			herr := hf.Err()
			if !errors.Is(herr, wire.ErrFrame) || !strings.Contains(herr.Error(), "the peer gave up") || !strings.Contains(herr.Error(), tc.want) {
				t.Fatalf("host framing error = %v, want the guest's cause %q (stream error %v, guest %v)", herr, tc.want, err, ferr)
			}
			t.Logf("%s: guest: %v; host: %v", tc.name, ferr, herr)
		})
	}
}

// TestReconnect_SmallFlush: after a host vanished in the middle of a frame,
// the small preamble completes the frame, whose CRC fails, and the next
// handshake goes through at once.
func TestReconnect_SmallFlush(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	p, guest := newPort(t)
	go serveGuest(ctx, guest)
	h1 := p.attach()
	if _, _, _, err := wire.HostHandshake(ctx, h1, false); err != nil {
		t.Fatalf("first handshake: %v", err)
	}
	// A frame header promising MaxFrame bytes, of which 10 arrive.
	half := wire.AppendFrame(nil, make([]byte, wire.MaxFrame))[:16]
	if _, err := h1.Write(half); err != nil {
		t.Fatal(err)
	}
	h2 := p.attach()
	hctx, hcancel := context.WithTimeout(ctx, 2*time.Second)
	defer hcancel()
	start := time.Now()
	c2, _, _, err := wire.HostHandshake(hctx, h2, true)
	if err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	sess, err := yamux.Client(wire.NewFramed(c2, wire.FrameOptions{}), wire.YamuxConfig(nil))
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
	t.Logf("reconnect after a half frame: %v", time.Since(start))
}
