package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Framing under yamux. A real UART drops and flips bytes, and yamux has no
// checksum: a damaged yamux header would make a session wait for a body
// that never comes, or deliver wrong bytes. So after the handshake both
// ends wrap the connection in a Framed, and yamux runs on top of it. Each
// frame is
//
//	magic 0xB5 0x4D | length uint16 BE | ^length uint16 BE | payload | CRC-32 (IEEE) BE
//
// where the CRC covers the first six bytes and the payload, and length is at
// most MaxFrame. Length 0xFFFF marks an abort frame: one length byte and a
// message follow instead of a payload; a reader that finds a damaged frame
// sends one, so the peer's session ends too, with the cause, instead of
// waiting on a peer that gave up. A bad magic, a length that does not match its complement,
// a bad CRC, or a frame that stays incomplete for StallTimeout ends the
// session with an error wrapping ErrFrame that names the cause (Framed.Err
// keeps it for the caller to report).
//
// Framing also bounds the reconnect preamble (FlushSize): a host that went
// away mid-frame leaves the guest's reader waiting for at most MaxFrame+4
// bytes, whatever yamux's window.
const (
	// MaxFrame is the largest frame payload.
	MaxFrame = 2048
	// FrameOverhead is the header and CRC bytes per frame.
	FrameOverhead = 10
	// DefaultStallTimeout is how long a started frame may stay incomplete.
	DefaultStallTimeout = 10 * time.Second
)

var frameMagic = [2]byte{0xB5, 0x4D}

const abortLen = 0xFFFF

// ErrFrame is wrapped by every framing error (a damaged or incomplete frame).
var ErrFrame = errors.New("damaged frame")

// Framed is an io.ReadWriteCloser that frames writes and checks frames on
// read. Writes may come from several goroutines; reads from one.
type Framed struct {
	rw    io.ReadWriteCloser
	br    *bufio.Reader // over rw: a read(2) per frame part costs a TCG guest
	stall time.Duration

	wmu  sync.Mutex
	wbuf []byte

	rbuf   []byte // payload not yet returned
	hdr    [6]byte
	body   []byte
	frames int64

	emu       sync.Mutex
	err       error         // first framing error, sticky
	abortDone chan struct{} // closed once the abort frame went out
}

// FrameOptions tunes NewFramed.
type FrameOptions struct {
	// StallTimeout bounds how long a frame may stay incomplete once its
	// first byte arrived (default DefaultStallTimeout). It needs a
	// connection with SetReadDeadline (net.Conn, a pollable *os.File);
	// without one a frame that lost bytes waits for the next frame's bytes
	// and then fails its CRC.
	StallTimeout time.Duration
}

// NewFramed wraps rw.
func NewFramed(rw io.ReadWriteCloser, opts FrameOptions) *Framed {
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	return &Framed{rw: rw, br: bufio.NewReaderSize(rw, 64<<10), stall: opts.StallTimeout, body: make([]byte, MaxFrame+4)}
}

// Write implements io.Writer: p goes out as frames of at most MaxFrame bytes.
func (f *Framed) Write(p []byte) (int, error) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	// Up to 32 frames per write(2): a syscall (and a virtqueue kick) per
	// frame would cost throughput on a virtio port.
	done := 0
	for len(p) > 0 {
		// After a framing error only the abort frame goes out: yamux's
		// own GoAway would end the peer's session without the cause.
		if err := f.Err(); err != nil {
			return done, err
		}
		f.wbuf = f.wbuf[:0]
		batch := 0
		for len(p) > 0 && len(f.wbuf) < 32*MaxFrame {
			n := min(len(p), MaxFrame)
			f.wbuf = AppendFrame(f.wbuf, p[:n])
			batch += n
			p = p[n:]
		}
		if _, err := f.rw.Write(f.wbuf); err != nil {
			return done, err
		}
		done += batch
	}
	return done, nil
}

// AppendFrame appends one frame holding payload (at most MaxFrame bytes) to dst.
func AppendFrame(dst, payload []byte) []byte {
	if len(payload) > MaxFrame {
		panic("wire: frame payload too long")
	}
	start := len(dst)
	n := uint16(len(payload))
	dst = append(dst, frameMagic[0], frameMagic[1], byte(n>>8), byte(n), byte(^n>>8), byte(^n))
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}

// Read implements io.Reader: it returns payload bytes of checked frames.
func (f *Framed) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(f.rbuf) == 0 {
		if err := f.Err(); err != nil {
			return 0, err
		}
		if err := f.readFrame(); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.rbuf)
	f.rbuf = f.rbuf[n:]
	return n, nil
}

type readDeadliner interface{ SetReadDeadline(time.Time) error }

func (f *Framed) fail(format string, args ...any) error {
	return f.failErr(fmt.Errorf("%w: frame %d: %s", ErrFrame, f.frames+1, fmt.Sprintf(format, args...)), true)
}

// failErr records err and, when tell, sends the peer an abort frame naming
// it (in the background: a writer may be blocked on a full link).
func (f *Framed) failErr(err error, tell bool) error {
	f.emu.Lock()
	first := f.err == nil
	if first {
		f.err = err
		if tell {
			f.abortDone = make(chan struct{})
		}
	}
	f.emu.Unlock()
	if first && tell {
		msg := strings.TrimPrefix(err.Error(), ErrFrame.Error()+": ")
		if len(msg) > 255 {
			msg = msg[:255]
		}
		go func() {
			defer close(f.abortDone)
			f.wmu.Lock()
			defer f.wmu.Unlock()
			b := append([]byte{frameMagic[0], frameMagic[1], 0xFF, 0xFF, 0, 0, byte(len(msg))}, msg...)
			_, _ = f.rw.Write(binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b)))
		}()
	}
	return err
}

// readFrame reads one frame. Bytes it read ahead are lost when the session
// ends; the next handshake does not need them (the host re-sends HELLO).
func (f *Framed) readFrame() error {
	// The first byte may take forever (an idle session); the rest of the
	// frame must follow within the stall timeout.
	if _, err := io.ReadFull(f.br, f.hdr[:1]); err != nil {
		return err
	}
	dl, _ := f.rw.(readDeadliner)
	if f.br.Buffered() >= len(f.hdr)+MaxFrame+4 {
		dl = nil // the whole frame is here: no deadline to set
	}
	if dl != nil && dl.SetReadDeadline(time.Now().Add(f.stall)) != nil {
		dl = nil
	}
	if dl != nil {
		defer func() { _ = dl.SetReadDeadline(time.Time{}) }()
	}
	got := 1
	rest := func(b []byte, want int) error {
		n, err := io.ReadFull(f.br, b)
		got += n
		if err == nil {
			return nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return f.fail("incomplete after %v: %d of %d bytes arrived (bytes lost on the link?)", f.stall, got, want)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return f.fail("connection ended inside a frame (%d of %d bytes)", got, want)
		}
		return err
	}
	if err := rest(f.hdr[1:], len(f.hdr)); err != nil {
		return err
	}
	if f.hdr[0] != frameMagic[0] || f.hdr[1] != frameMagic[1] {
		return f.fail("bad magic % x (want % x): the link lost or changed bytes", f.hdr[:2], frameMagic[:])
	}
	n := binary.BigEndian.Uint16(f.hdr[2:])
	if ^n != binary.BigEndian.Uint16(f.hdr[4:]) {
		return f.fail("length %d does not match its complement %#04x: damaged header", n, binary.BigEndian.Uint16(f.hdr[4:]))
	}
	if n == abortLen {
		var ml [1]byte
		if err := rest(ml[:], len(f.hdr)+1); err != nil {
			return err
		}
		msg := make([]byte, int(ml[0])+4)
		if err := rest(msg, len(f.hdr)+1+len(msg)); err != nil {
			return err
		}
		h := crc32.NewIEEE()
		_, _ = h.Write(f.hdr[:])
		_, _ = h.Write(ml[:])
		_, _ = h.Write(msg[:ml[0]])
		if h.Sum32() != binary.BigEndian.Uint32(msg[ml[0]:]) {
			return f.fail("damaged abort frame from the peer")
		}
		return f.failErr(fmt.Errorf("%w: the peer gave up: %s", ErrFrame, msg[:ml[0]]), false)
	}
	if n > MaxFrame {
		return f.fail("length %d exceeds %d", n, MaxFrame)
	}
	body := f.body[:int(n)+4]
	if err := rest(body, len(f.hdr)+len(body)); err != nil {
		return err
	}
	h := crc32.NewIEEE()
	_, _ = h.Write(f.hdr[:])
	_, _ = h.Write(body[:n])
	if want, sum := binary.BigEndian.Uint32(body[n:]), h.Sum32(); want != sum {
		return f.fail("CRC-32 mismatch (%08x, frame says %08x) in %d payload bytes: the link corrupted data", sum, want, n)
	}
	f.frames++
	f.rbuf = body[:n]
	return nil
}

// Err returns the first framing error (wrapping ErrFrame), or nil.
func (f *Framed) Err() error {
	f.emu.Lock()
	defer f.emu.Unlock()
	return f.err
}

// Frames returns how many good frames were read.
func (f *Framed) Frames() int64 { return f.frames }

// Close closes the underlying connection, after the abort frame went out
// (waiting at most a second for it).
func (f *Framed) Close() error {
	f.emu.Lock()
	done := f.abortDone
	f.emu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
	return f.rw.Close()
}
