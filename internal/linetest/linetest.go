package linetest

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// TB is the part of testing.TB the client uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Conn is a raw protocol connection of one test goroutine (t's). Every
// read and write is bounded by the wait given at dial.
type Conn struct {
	// Hello is the greeting line read by Dial (without '\n').
	Hello string

	t    TB
	nc   net.Conn
	r    *bufio.Reader
	wait time.Duration
}

// New wraps nc, which is closed at t's cleanup. It reads nothing.
func New(t TB, nc net.Conn, wait time.Duration) *Conn {
	t.Cleanup(func() { nc.Close() })
	return &Conn{t: t, nc: nc, r: bufio.NewReaderSize(nc, 1<<16), wait: wait}
}

// DialRaw connects to the unix socket at path and reads nothing. While
// nothing listens there yet (no socket file, or connection refused) it
// retries for up to wait, so a test may dial a daemon it just started.
func DialRaw(t TB, path string, wait time.Duration) *Conn {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		nc, err := net.Dial("unix", path)
		if err == nil {
			return New(t, nc, wait)
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Dial is DialRaw, then it reads the greeting into Hello; a first line
// that is not a HELLO fails t.
func Dial(t TB, path string, wait time.Duration) *Conn {
	t.Helper()
	c := DialRaw(t, path, wait)
	c.Greet()
	return c
}

// Greet reads the greeting into Hello and returns it; a line that is not
// a HELLO fails the test. Tests of the greeting itself check the rest.
func (c *Conn) Greet() string {
	c.t.Helper()
	c.Hello = c.Line()
	if !strings.HasPrefix(c.Hello, "HELLO ") {
		c.t.Fatalf("greeting = %q, want HELLO ...", c.Hello)
	}
	return c.Hello
}

// Net returns the connection, for tests that shape the socket itself.
func (c *Conn) Net() net.Conn { return c.nc }

// Send writes each line with a '\n' after it, in one write.
func (c *Conn) Send(lines ...string) {
	c.t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	c.SendRaw(b.String())
}

// SendRaw writes s as it is.
func (c *Conn) SendRaw(s string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(c.wait))
	if _, err := c.nc.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// ReadLine reads one line without '\n'; an error (io.EOF when the daemon
// closed the connection) is returned, with what was read of the line.
func (c *Conn) ReadLine() (string, error) {
	c.nc.SetReadDeadline(time.Now().Add(c.wait))
	s, err := c.r.ReadString('\n')
	if err != nil {
		return s, err
	}
	return strings.TrimSuffix(s, "\n"), nil
}

// Line reads one line without '\n'; any error fails the test.
func (c *Conn) Line() string {
	c.t.Helper()
	s, err := c.ReadLine()
	if err != nil {
		c.t.Fatalf("read line: %v (partial %q)", err, s)
	}
	return s
}

// Reply reads lines until an OK or ERR line and returns it; the EVT and
// LOST lines before it are returned in skipped.
func (c *Conn) Reply() (reply string, skipped []string) {
	c.t.Helper()
	for {
		l := c.Line()
		if strings.HasPrefix(l, "OK ") || strings.HasPrefix(l, "ERR ") {
			return l, skipped
		}
		skipped = append(skipped, l)
	}
}

// Do sends one request and returns its reply, skipping EVT and LOST lines.
func (c *Conn) Do(req string) string {
	c.t.Helper()
	c.Send(req)
	r, _ := c.Reply()
	return r
}

// ExpectEOF checks that the daemon closed the connection.
func (c *Conn) ExpectEOF() {
	c.t.Helper()
	if s, err := c.ReadLine(); err == nil || s != "" {
		c.t.Fatalf("read after close = %q, %v; want EOF", s, err)
	}
}

// Evt is a parsed EVT or LOST line (PROTOCOL.md A.6).
type Evt struct {
	Lost                   bool
	Seq, Src, Arg, Aux, TS uint64 // EVT
	Type                   string
	First, Last, Count     uint64 // LOST
	Reason                 string
}

// ParseEvt parses an EVT or LOST line; anything else fails t.
func ParseEvt(t TB, l string) Evt {
	t.Helper()
	f := strings.Fields(l)
	u := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("bad number %q in %q", s, l)
		}
		return v
	}
	switch {
	case len(f) == 7 && f[0] == "EVT":
		return Evt{Seq: u(f[1]), Type: f[2], Src: u(f[3]), Arg: u(f[4]), Aux: u(f[5]), TS: u(f[6])}
	case len(f) == 5 && f[0] == "LOST":
		return Evt{Lost: true, First: u(f[1]), Last: u(f[2]), Count: u(f[3]), Reason: f[4]}
	}
	t.Fatalf("not an EVT or LOST line: %q", l)
	return Evt{}
}

// Next reads the next line, which must be an EVT or LOST line.
func (c *Conn) Next() Evt {
	c.t.Helper()
	return ParseEvt(c.t, c.Line())
}

// Events reads lines until n events are accounted for (delivered, or
// reported in LOST counts).
func (c *Conn) Events(n uint64) []Evt {
	c.t.Helper()
	var out []Evt
	var got uint64
	for got < n {
		e := c.Next()
		out = append(out, e)
		if e.Lost {
			got += e.Count
		} else {
			got++
		}
	}
	return out
}

// Expect reads one line per want and compares: a want starting "LOST " is
// the whole line, any other is an EVT's seq in decimal (see Seqs).
func (c *Conn) Expect(want ...string) {
	c.t.Helper()
	for _, w := range want {
		l := c.Line()
		if strings.HasPrefix(w, "LOST ") {
			if l != w {
				c.t.Fatalf("got %q, want %q", l, w)
			}
			continue
		}
		if e := ParseEvt(c.t, l); e.Lost || fmt.Sprint(e.Seq) != w {
			c.t.Fatalf("got %q, want EVT seq %s", l, w)
		}
	}
}

// Seqs returns from..to in decimal, for Expect.
func Seqs[T ~int | ~uint64](from, to T) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, fmt.Sprint(i))
	}
	return s
}

// QueueLoss checks the lines a client read while it was too slow: events
// strictly increasing from seq from on, every gap a well-formed
// "LOST ... queue" range. It returns how many events the LOST lines
// reported.
func QueueLoss(t TB, evs []Evt, from uint64) (lost uint64) {
	t.Helper()
	next := from
	for _, e := range evs {
		if e.Lost {
			if e.Reason != "queue" || e.First < next || e.Last < e.First || e.Count == 0 || e.Count > e.Last-e.First+1 {
				t.Fatalf("bad LOST %+v (next expected seq %d)", e, next)
			}
			lost += e.Count
			next = e.Last + 1
			continue
		}
		if e.Seq < next {
			t.Fatalf("EVT seq %d after seq %d: not increasing", e.Seq, next-1)
		}
		next = e.Seq + 1
	}
	return lost
}
