package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mypoll/mypoll/internal/defaults"
)

// ErrClosed is returned by every method of a Conn after Close.
var ErrClosed = errors.New("mypoll connection closed")

// Conn is a connection to mypolld. Its methods may be called from several
// goroutines at once. One reader goroutine, started by NewConn and stopped by
// Close, reads every line the daemon sends: it hands replies to the waiting
// calls in request order and queues events for Next.
type Conn struct {
	nc    net.Conn
	hello Hello
	done  chan struct{} // closed when the reader goroutine has returned

	// wmu serializes writes, so that the order of pending matches the
	// order of requests on the wire.
	wmu sync.Mutex

	mu      sync.Mutex    // guards the fields below
	pending []*Call       // sent requests waiting for their reply, oldest first
	events  []Message     // EVT and LOST lines not yet returned by Next
	evReady chan struct{} // capacity 1: signaled when events grows
	err     error         // why the connection ended; nil while it is up
	fds     []int         // descriptors received (SCM_RIGHTS) not yet given to an open_device reply

	closeOnce sync.Once
}

// DefaultSocket is where mypolld listens unless told otherwise and where
// its clients connect by default (PROTOCOL.md A.1).
const DefaultSocket = defaults.Socket

// Dial connects to the daemon's socket at path and reads its greeting. If
// the daemon refuses the client ("ERR - EMFILE too many clients"), Dial
// returns that reply as an *Error. ctx bounds the connect and the greeting.
func Dial(ctx context.Context, path string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err // *net.OpError already names the path
	}
	return NewConnContext(ctx, nc)
}

// NewConn reads the greeting from nc, which the returned Conn owns from then
// on (it is closed on every error). It blocks until the greeting arrives;
// use NewConnContext to bound the wait.
func NewConn(nc net.Conn) (*Conn, error) {
	return NewConnContext(context.Background(), nc)
}

// NewConnContext is NewConn with ctx bounding the wait for the greeting.
func NewConnContext(ctx context.Context, nc net.Conn) (*Conn, error) {
	c := &Conn{nc: nc, done: make(chan struct{}), evReady: make(chan struct{}, 1)}
	var src io.Reader = nc
	if uc, ok := nc.(*net.UnixConn); ok {
		src = &rightsReader{c: c, uc: uc, oob: make([]byte, syscall.CmsgSpace(4*4))}
	}
	br := bufio.NewReaderSize(src, 16<<10)
	stop := deadline(ctx, nc.SetReadDeadline)
	b, err := readLine(br)
	stop()
	if err == nil {
		err = nc.SetReadDeadline(time.Time{})
	}
	var l Line
	if err == nil {
		l, err = ParseLine(b)
	}
	switch {
	case err != nil:
		err = fmt.Errorf("read greeting: %w", ctxErr(ctx, err))
	case l.Kind == LineErr:
		err = l.Err
	case l.Kind != LineHello:
		err = fmt.Errorf("%w: first line is not HELLO: %q", ErrProtocol, b)
	case l.Hello.Version != 1:
		err = fmt.Errorf("%w: unsupported protocol version %d", ErrProtocol, l.Hello.Version)
	}
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	c.hello = l.Hello
	go c.read(br)
	return c, nil
}

// deadline applies ctx's deadline with set and, until the returned stop
// is called, makes ctx's cancellation expire it at once.
func deadline(ctx context.Context, set func(time.Time) error) (stop func() bool) {
	d, _ := ctx.Deadline()
	_ = set(d) // the zero time clears an older deadline
	return context.AfterFunc(ctx, func() { _ = set(time.Unix(1, 0)) })
}

// ctxErr returns ctx's error for err caused by the deadline that deadline
// applied, and err otherwise. (The socket deadline can expire a moment before
// ctx reports it.)
func ctxErr(ctx context.Context, err error) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if _, ok := ctx.Deadline(); ok {
		return context.DeadlineExceeded
	}
	return err
}

// Hello returns the daemon's greeting.
func (c *Conn) Hello() Hello { return c.hello }

// readLine returns the next line without its '\n'.
func readLine(br *bufio.Reader) ([]byte, error) {
	b, err := br.ReadSlice('\n')
	if err == nil {
		return b[:len(b)-1], nil
	}
	var long []byte
	for errors.Is(err, bufio.ErrBufferFull) {
		long = append(long, b...)
		if len(long) >= MaxServerLine {
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, MaxServerLine)
		}
		b, err = br.ReadSlice('\n')
	}
	long = append(long, b...)
	if err != nil {
		if errors.Is(err, io.EOF) && len(long) > 0 {
			err = fmt.Errorf("%w: connection closed in the middle of a line", ErrProtocol)
		}
		return nil, err
	}
	return long[:len(long)-1], nil
}

// read is the reader goroutine.
func (c *Conn) read(br *bufio.Reader) {
	defer close(c.done)
	for {
		b, err := readLine(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("connection closed by mypolld: %w", io.EOF)
			}
			c.fail(err)
			return
		}
		l, err := ParseLine(b)
		if err != nil {
			c.fail(err)
			return
		}
		if err := c.dispatch(l); err != nil {
			c.fail(err)
			return
		}
	}
}

// dispatch hands a reply to the oldest pending call or queues an event.
func (c *Conn) dispatch(l Line) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch l.Kind {
	case LineOK, LineErr:
		if len(c.pending) == 0 {
			return fmt.Errorf("%w: reply without a request: %q", ErrProtocol, l.String())
		}
		call := c.pending[0]
		c.pending[0] = nil
		c.pending = c.pending[1:]
		if l.Kind == LineOK {
			call.reply = l.Reply
			if l.Reply.Verb == "open_device" && len(c.fds) > 0 {
				call.reply.File = os.NewFile(uintptr(c.fds[0]), "mypoll-device")
				c.fds = c.fds[1:]
			}
		} else {
			call.err = l.Err
		}
		close(call.done)
	case LineEvent:
		ev := l.Event
		c.events = append(c.events, Message{Event: &ev})
		c.signal()
	case LineLost:
		lost := l.Lost
		c.events = append(c.events, Message{Lost: &lost})
		c.signal()
	default:
		return fmt.Errorf("%w: unexpected %q", ErrProtocol, l.String())
	}
	return nil
}

// rightsReader reads a unix socket with recvmsg so that descriptors the
// daemon passes (open_device, PROTOCOL.md A.9) are kept for their reply.
// The kernel ends a read at the message that carries descriptors, so they
// are queued before the bytes of their "OK open_device" line are parsed.
type rightsReader struct {
	c   *Conn
	uc  *net.UnixConn
	oob []byte
}

// Read reads like recvmsg(2) and queues the descriptors that came with the
// bytes. The daemon passes one descriptor per message; more, control data
// truncated by the kernel (MSG_CTRUNC: r.oob too small) or a control
// message that does not parse is a protocol error: every descriptor that
// was received is closed, none is queued, and the error ends the
// connection; the bytes that came with them are dropped, so the reply they
// carry fails with the error instead of succeeding without its descriptor.
func (r *rightsReader) Read(p []byte) (int, error) {
	n, oobn, flags, _, err := r.uc.ReadMsgUnix(p, r.oob)
	n = max(n, 0) // ReadMsgUnix reports -1 with some errors
	if oobn == 0 && flags&syscall.MSG_CTRUNC == 0 {
		return n, err
	}
	fds, ferr := parseRights(r.oob[:oobn])
	switch {
	case ferr != nil:
	case flags&syscall.MSG_CTRUNC != 0:
		ferr = errors.New("control data truncated")
	case len(fds) > 1:
		ferr = fmt.Errorf("%d descriptors in one message, want 1", len(fds))
	}
	if ferr != nil {
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
		return 0, fmt.Errorf("%w: receive descriptor: %w", ErrProtocol, ferr)
	}
	for _, fd := range fds {
		syscall.CloseOnExec(fd)
	}
	r.c.mu.Lock()
	r.c.fds = append(r.c.fds, fds...)
	r.c.mu.Unlock()
	return n, err
}

// parseRights returns the descriptors of the SCM_RIGHTS messages in oob,
// skipping other control messages. On a malformed message it returns the
// descriptors found so far with the error, for the caller to close.
func parseRights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control message: %w", err)
	}
	var fds []int
	for i := range msgs {
		h := msgs[i].Header
		if h.Level != syscall.SOL_SOCKET || h.Type != syscall.SCM_RIGHTS {
			continue
		}
		got, err := syscall.ParseUnixRights(&msgs[i])
		fds = append(fds, got...)
		if err != nil {
			return fds, fmt.Errorf("parse SCM_RIGHTS: %w", err)
		}
	}
	return fds, nil
}

// signal wakes a waiting Next; c.mu is held.
func (c *Conn) signal() {
	select {
	case c.evReady <- struct{}{}:
	default:
	}
}

// fail ends the connection with err (the first error wins), fails every
// pending call and closes the socket so that the reader returns.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	err = c.err
	pending := c.pending
	c.pending = nil
	c.signal()
	c.mu.Unlock()
	for _, call := range pending {
		call.err = err
		close(call.done)
	}
	_ = c.nc.Close()
}

// Close closes the connection and waits for the reader goroutine to return.
// Calls still waiting fail with ErrClosed. A second Close returns nil.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		if c.err == nil {
			c.err = ErrClosed
		}
		c.mu.Unlock()
		err = c.nc.Close()
		<-c.done
		c.mu.Lock()
		for _, fd := range c.fds { // passed but never claimed by a reply
			_ = syscall.Close(fd)
		}
		c.fds = nil
		c.mu.Unlock()
		if errors.Is(err, net.ErrClosed) { // the connection had already ended
			err = nil
		}
	})
	return err
}

// Call is a request sent with Send whose reply may not have arrived yet.
type Call struct {
	done  chan struct{} // closed when reply or err is set
	reply Reply
	err   error
}

// Done is closed when the reply has arrived or the connection ended.
func (call *Call) Done() <-chan struct{} { return call.done }

// Wait blocks until the reply arrives or ctx ends. An ERR reply is returned
// as an *Error. If ctx ends first, Wait returns ctx's error; the reply, when
// it comes, is dropped, and later replies still go to their own calls.
func (call *Call) Wait(ctx context.Context) (Reply, error) {
	select {
	case <-call.done:
		return call.reply, call.err
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
}

// Send writes one request line (without '\n') and returns at once, without
// waiting for the reply: requests may be pipelined, and their replies come
// in order. ctx bounds the write only. A line that would not get exactly one
// reply (empty, blank, or with a '\n') is refused. A write error ends the
// connection.
func (c *Conn) Send(ctx context.Context, line string) (*Call, error) {
	if strings.IndexByte(line, '\n') >= 0 || strings.Trim(line, " \t\r") == "" {
		return nil, fmt.Errorf("request %q: must be one non-blank line", line)
	}
	call := &Call{done: make(chan struct{})}
	buf := make([]byte, 0, len(line)+1)
	buf = append(append(buf, line...), '\n')

	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.pending = append(c.pending, call)
	c.mu.Unlock()

	stop := deadline(ctx, c.nc.SetWriteDeadline)
	_, err := c.nc.Write(buf)
	stop()
	if err != nil {
		err = ctxErr(ctx, err)
		// A partly written line cannot be taken back: end the connection.
		err = fmt.Errorf("send %q: %w", line, err)
		c.fail(err)
		return nil, err
	}
	return call, nil
}

// Do sends one request and waits for its reply (Send, then Call.Wait). An
// ERR reply is returned as an *Error.
func (c *Conn) Do(ctx context.Context, line string) (Reply, error) {
	call, err := c.Send(ctx, line)
	if err != nil {
		return Reply{}, err
	}
	return call.Wait(ctx)
}

// Next returns the next event or loss report, in the order the daemon sent
// them, waiting until one arrives or ctx ends. Queued messages are returned
// even after the daemon closed the connection; then Next returns the error
// that ended it (wrapping io.EOF when the daemon closed it, ErrClosed after
// Close).
func (c *Conn) Next(ctx context.Context) (Message, error) {
	for {
		c.mu.Lock()
		if errors.Is(c.err, ErrClosed) {
			c.mu.Unlock()
			return Message{}, ErrClosed
		}
		if len(c.events) > 0 {
			m := c.events[0]
			c.events[0] = Message{}
			c.events = c.events[1:]
			c.mu.Unlock()
			return m, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return Message{}, err
		}
		select {
		case <-c.evReady:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// Queued returns how many events and loss reports wait for Next.
func (c *Conn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// doVerb is Do for a request of verb, checking that the reply is for verb.
func (c *Conn) doVerb(ctx context.Context, verb, line string) (Reply, error) {
	r, err := c.Do(ctx, line)
	if err != nil {
		return r, err
	}
	if r.Verb != verb {
		return r, fmt.Errorf("%w: reply %q to a %s request", ErrProtocol, "OK "+r.Verb, verb)
	}
	return r, nil
}

// checkText refuses arguments that would change the request's framing.
func checkText(what, s string) error {
	if strings.ContainsAny(s, "\n\r") {
		return fmt.Errorf("%s %q: must not contain a line break", what, s)
	}
	return nil
}
