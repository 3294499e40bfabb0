package wire

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// PortName is the name of the virtio-serial port the agent serves
// (virtserialport,name=...; the guest finds it in /sys/class/virtio-ports/*/name).
const PortName = "mypoll.test"

// Handshake markers. Every handshake line starts with '\n' so that it ends any
// stale partial line left in the port, and can never parse as a yamux header
// (whose first byte, the version, is 0). Markers are matched as substrings.
const (
	helloMarker = "MYPOLL-HELLO "
	readyMarker = "MYPOLL-READY "
	goMarker    = "MYPOLL-GO "
)

// FlushSize exceeds the largest frame (MaxFrame plus header and CRC, see
// Framed) by a margin: 2.1 KiB, 0.19 s at 115200 baud (it was 257 KiB,
// sized to yamux's window, when yamux ran on the bare port).
const FlushSize = MaxFrame + FrameOverhead + 64

// maxLine caps how much of a partial line the handshake keeps while it
// discards stale bytes: markers are short, junk (old yamux frames) is not.
const maxLine = 4096

// ErrHandshake is wrapped by every handshake failure that is not an I/O error.
var ErrHandshake = errors.New("handshake")

// Ready is what the guest reports in its READY line.
type Ready struct {
	// UptimeMS is the guest's CLOCK_BOOTTIME at READY in milliseconds.
	UptimeMS int64 `json:"uptime_ms"`
	// Session counts the handshakes served since the agent started (1 = first).
	Session int `json:"session"`
	// Discarded is how many stale bytes the guest skipped before the HELLO.
	Discarded int64 `json:"discarded"`
	// EOFReads counts reads that returned 0 (no host connected) before the HELLO.
	EOFReads int64 `json:"eof_reads"`
	// Mode is "init" (PID 1) or "service".
	Mode string `json:"mode"`
	// Timings holds named guest boot phases in milliseconds (mounts, modules...).
	Timings map[string]int64 `json:"timings,omitempty"`
	// Agent is the agent's own path in the guest (tools: "<Agent> tool ...").
	Agent string `json:"agent,omitempty"`
	// Daemon is the state of mypolld ("running", "absent", "off", "failed: ...").
	Daemon string `json:"daemon,omitempty"`
}

// NewNonce returns a random 16-hex-digit nonce.
func NewNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Conn is an io.ReadWriteCloser whose first reads return bytes a handshake
// read past its last line, then continue on the underlying connection.
type Conn struct {
	rest []byte
	rw   io.ReadWriteCloser
}

// NewConn returns a Conn that yields rest before reading from rw.
func NewConn(rest []byte, rw io.ReadWriteCloser) *Conn {
	return &Conn{rest: bytes.Clone(rest), rw: rw}
}

// Read implements io.Reader.
func (c *Conn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	return c.rw.Read(p)
}

// Write implements io.Writer.
func (c *Conn) Write(p []byte) (int, error) { return c.rw.Write(p) }

// Close closes the underlying connection.
func (c *Conn) Close() error { return c.rw.Close() }

// lineScanner splits a byte stream into '\n'-terminated lines, keeping at
// most maxLine bytes of a partial line, and remembers what follows the line
// it stopped at.
type lineScanner struct {
	partial   []byte
	discarded int64
}

// feed hands data to fn line by line; when fn returns true, feed returns the
// bytes after that line and true.
func (s *lineScanner) feed(data []byte, fn func(line string) bool) ([]byte, bool) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.partial = append(s.partial, data...)
			if over := len(s.partial) - maxLine; over > 0 {
				s.discarded += int64(over)
				s.partial = append(s.partial[:0], s.partial[over:]...)
			}
			return nil, false
		}
		s.partial = append(s.partial, data[:i]...)
		line := string(s.partial)
		s.partial = s.partial[:0]
		data = data[i+1:]
		if fn(line) {
			return data, true
		}
		s.discarded += int64(len(line)) + 1
	}
	return nil, false
}

// field returns the first word after marker in line, or "".
func field(line, marker string) (string, string) {
	i := bytes.Index([]byte(line), []byte(marker))
	if i < 0 {
		return "", ""
	}
	rest := line[i+len(marker):]
	word, tail, _ := cutSpace(rest)
	return word, tail
}

func cutSpace(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// GuestOptions tunes GuestHandshake.
type GuestOptions struct {
	// EOFBackoff is the pause after a read returns 0 bytes (no host
	// connected: the virtio-serial port then reads EOF at once). Default 5 ms.
	EOFBackoff time.Duration
	// Ready fills the READY payload; Discarded and EOFReads are set by the
	// handshake. It is called once per nonce.
	Ready func() Ready
}

// GuestHandshake runs the guest side on a freshly opened port: it discards
// bytes until a HELLO, answers READY once per nonce, and returns when the GO
// for the current nonce arrives. A newer HELLO restarts the exchange with its
// nonce. It returns a Conn that replays bytes read past the GO line, for
// yamux. Only the caller's goroutine writes to port during the handshake.
func GuestHandshake(ctx context.Context, port io.ReadWriteCloser, opts GuestOptions) (*Conn, Ready, error) {
	backoff := opts.EOFBackoff
	if backoff <= 0 {
		backoff = 5 * time.Millisecond
	}
	var (
		sc       lineScanner
		nonce    string
		eofReads int64
		ready    Ready
		werr     error
	)
	buf := make([]byte, 32<<10)
	for {
		if err := ctx.Err(); err != nil {
			return nil, ready, err
		}
		n, err := port.Read(buf)
		if n == 0 && (err == nil || errors.Is(err, io.EOF)) {
			eofReads++
			select {
			case <-ctx.Done():
				return nil, ready, ctx.Err()
			case <-time.After(backoff):
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, ready, fmt.Errorf("read port: %w", err)
		}
		rest, done := sc.feed(buf[:n], func(line string) bool {
			if n, _ := field(line, helloMarker); n != "" {
				if n == nonce {
					return false // a re-sent HELLO: READY already went out
				}
				nonce = n
				if opts.Ready != nil {
					ready = opts.Ready()
				}
				ready.Discarded = sc.discarded
				ready.EOFReads = eofReads
				js, _ := json.Marshal(ready)
				_, werr = fmt.Fprintf(port, "\n%s%s %s\n", readyMarker, nonce, js)
				return werr != nil
			}
			if n, _ := field(line, goMarker); n != "" && n == nonce {
				return true
			}
			return false
		})
		if werr != nil {
			return nil, ready, fmt.Errorf("write ready: %w", werr)
		}
		if done {
			return NewConn(rest, port), ready, nil
		}
	}
}

// HostHandshake runs the host side on a fresh connection to the port's
// chardev socket: it sends HELLO with a new nonce (re-sent after 25 ms,
// doubling to 400 ms, until READY: a quick reconnect's first HELLO can be
// swallowed by the guest's old yamux session), skips stale bytes until the
// READY for its nonce, then sends GO. It returns a Conn for yamux, the READY
// payload and how many stale bytes it discarded. Cancel ctx to give up (the
// caller should also close conn to unblock the read).
//
// With flush (every reconnect), HELLO is preceded by FlushSize newlines: a
// host that went away mid-frame left the guest's old session's Framed
// waiting for the rest of a frame (at most MaxFrame+4 bytes), which would
// swallow the HELLO; the newlines complete that frame, whose CRC then fails
// and ends the old session, and the guest's handshake skips the rest as
// empty lines.
func HostHandshake(ctx context.Context, conn io.ReadWriteCloser, flush bool) (*Conn, Ready, int64, error) {
	nonce := NewNonce()
	hello := []byte("\n" + helloMarker + nonce + "\n")
	first := hello
	if flush {
		first = append(bytes.Repeat([]byte{'\n'}, FlushSize), hello...)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sendErr error
	wg.Add(1)
	go func() { // the only writer until READY
		defer wg.Done()
		d := 25 * time.Millisecond
		for msg := first; ; msg = hello {
			if _, err := conn.Write(msg); err != nil {
				sendErr = err
				return
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
			d = min(2*d, 400*time.Millisecond)
		}
	}()
	halt := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer halt()

	// Unblock the read when ctx ends.
	unblock := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer unblock()

	var (
		sc    lineScanner
		ready Ready
		perr  error
	)
	buf := make([]byte, 32<<10)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			rest, done := sc.feed(buf[:n], func(line string) bool {
				got, payload := field(line, readyMarker)
				if got != nonce {
					return false
				}
				if err := json.Unmarshal([]byte(payload), &ready); err != nil {
					perr = fmt.Errorf("%w: bad ready payload %q: %w", ErrHandshake, payload, err)
				}
				return true
			})
			if done {
				if perr != nil {
					return nil, ready, sc.discarded, perr
				}
				halt()
				if sendErr != nil {
					return nil, ready, sc.discarded, fmt.Errorf("send hello: %w", sendErr)
				}
				if _, err := conn.Write([]byte("\n" + goMarker + nonce + "\n")); err != nil {
					return nil, ready, sc.discarded, fmt.Errorf("send go: %w", err)
				}
				return NewConn(rest, conn), ready, sc.discarded, nil
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ready, sc.discarded, fmt.Errorf("%w: no ready for nonce %s: %w", ErrHandshake, nonce, ctx.Err())
			}
			return nil, ready, sc.discarded, fmt.Errorf("read ready: %w", err)
		}
	}
}
