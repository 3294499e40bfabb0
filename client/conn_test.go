package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/client"
)

// fakeDaemon serves one connection on a unix socket in t.TempDir(): it sends
// hello, then for each request line the lines handle returns. It is just
// enough protocol to test the client's framing and matching; the real
// daemon's behaviour is tested in the server and end-to-end tests.
type fakeDaemon struct {
	path string
	// conns delivers the server side of each accepted connection, for
	// tests that write to it directly.
	conns chan net.Conn
}

// recorder keeps the request lines a fake daemon received, in order.
type recorder struct {
	mu   sync.Mutex
	reqs []string
}

// handle wraps a fake daemon's handler to record each request first.
func (r *recorder) handle(reply func(req string) []string) func(string) []string {
	return func(req string) []string {
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.mu.Unlock()
		return reply(req)
	}
}

// expect fails t unless the requests, joined by "|", are want.
func (r *recorder) expect(t *testing.T, want string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if got := strings.Join(r.reqs, "|"); got != want {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func startFake(t *testing.T, hello string, handle func(req string) []string) *fakeDaemon {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mypoll.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	fd := &fakeDaemon{path: path, conns: make(chan net.Conn, 4)}
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			fd.conns <- nc
			go serveFake(nc, hello, handle)
		}
	}()
	return fd
}

func serveFake(nc net.Conn, hello string, handle func(string) []string) {
	defer nc.Close()
	w := bufio.NewWriter(nc)
	fmt.Fprintf(w, "%s\n", hello)
	if w.Flush() != nil || handle == nil {
		return
	}
	br := bufio.NewReader(nc)
	for {
		req, err := br.ReadString('\n')
		if err != nil {
			break
		}
		out := handle(strings.TrimSuffix(req, "\n"))
		for _, l := range out {
			if l == "CLOSE" {
				_ = w.Flush()
				return
			}
			fmt.Fprintf(w, "%s\n", l)
		}
		if br.Buffered() == 0 || w.Buffered() > 32<<10 {
			if w.Flush() != nil {
				return
			}
		}
	}
	_ = w.Flush()
}

const hello = "HELLO mypoll 1 00000000000000aa 5"

// echoHandler answers like the daemon does for a few verbs.
func echoHandler(req string) []string {
	verb, rest, _ := strings.Cut(req, " ")
	switch verb {
	case "echo":
		if rest == "" && !strings.HasSuffix(req, " ") {
			return []string{"OK echo"}
		}
		return []string{"OK echo " + rest}
	case "trigger":
		return []string{"EVT 5 trigger 0 1 0 100", "OK trigger 5 1"}
	case "timers":
		return []string{"OK timers 1:100:5:0 7:3600000:0:9"}
	case "stats":
		return []string{"OK stats clients=1 next_seq=6 instance_id=00000000000000aa"}
	case "help":
		return []string{"OK help echo trigger quit"}
	case "stop_timer":
		return []string{"ERR stop_timer ENOENT timer " + rest + " is not running"}
	case "start_timer", "subscribe":
		return []string{"OK " + verb + " " + strings.Fields(rest)[0]}
	case "quit":
		return []string{"EVT 6 timer 1 6 0 200", "OK quit", "CLOSE"}
	}
	return []string{"ERR " + verb + " ENOSYS unknown command"}
}

func dial(t *testing.T, path string) *client.Conn {
	t.Helper()
	c, err := client.Dial(t.Context(), path)
	if err != nil {
		t.Fatalf("Dial(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return c
}

func TestDial(t *testing.T) {
	fd := startFake(t, hello, echoHandler)
	c := dial(t, fd.path)
	if got, want := c.Hello(), (client.Hello{Version: 1, InstanceID: 0xaa, NextSeq: 5}); got != want {
		t.Fatalf("Hello() = %+v, want %+v", got, want)
	}
}

func TestDial_refused(t *testing.T) {
	for _, tc := range []struct {
		hello string
		check func(error) bool
	}{
		{"ERR - EMFILE too many clients (max 2)", func(err error) bool {
			var e *client.Error
			return errors.As(err, &e) && e.Errno == "EMFILE" && e.Verb == "-"
		}},
		{"OK echo", func(err error) bool { return errors.Is(err, client.ErrProtocol) }},
		{"HELLO mypoll 2 0000000000000000 1", func(err error) bool { return errors.Is(err, client.ErrProtocol) }},
		{"HELLO mypoll", func(err error) bool { return errors.Is(err, client.ErrProtocol) }},
	} {
		fd := startFake(t, tc.hello, nil)
		c, err := client.Dial(t.Context(), fd.path)
		if err == nil {
			c.Close()
			t.Fatalf("Dial with greeting %q succeeded", tc.hello)
		}
		if !tc.check(err) {
			t.Errorf("Dial with greeting %q = %v, not the expected error", tc.hello, err)
		}
	}
	if _, err := client.Dial(t.Context(), filepath.Join(t.TempDir(), "none.sock")); err == nil {
		t.Errorf("Dial(missing socket) succeeded")
	}
}

func TestDial_timeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mypoll.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Nobody accepts, so no greeting comes; the ctx must end the wait.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := client.Dial(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial(silent daemon) = %v, want context.DeadlineExceeded", err)
	}
}

func TestConn_requests(t *testing.T) {
	fd := startFake(t, hello, echoHandler)
	c := dial(t, fd.path)
	ctx := t.Context()

	for _, text := range []string{"", "hi", " lead and trail ", "a\tb"} {
		if got, err := c.Echo(ctx, text); err != nil || got != text {
			t.Errorf("Echo(%q) = %q, %v; want %q, nil", text, got, err, text)
		}
	}
	if _, err := c.Echo(ctx, "a\nb"); err == nil {
		t.Errorf("Echo(with newline) succeeded")
	}
	if seq, n, err := c.Trigger(ctx, 1, 1); seq != 5 || n != 1 || err != nil {
		t.Errorf("Trigger() = %d, %d, %v; want 5, 1, nil", seq, n, err)
	}
	timers, err := c.Timers(ctx)
	want := []client.Timer{{ID: 1, Period: 100 * time.Millisecond, Ticks: 5}, {ID: 7, Period: time.Hour, Count: 9}}
	if err != nil || !reflect.DeepEqual(timers, want) {
		t.Errorf("Timers() = %+v, %v; want %+v", timers, err, want)
	}
	stats, err := c.Stats(ctx)
	if err != nil || stats["clients"] != "1" || stats["instance_id"] != "00000000000000aa" || len(stats) != 3 {
		t.Errorf("Stats() = %v, %v", stats, err)
	}
	if verbs, err := c.Help(ctx); err != nil || strings.Join(verbs, " ") != "echo trigger quit" {
		t.Errorf("Help() = %q, %v", verbs, err)
	}
	if err := c.StartTimer(ctx, 1, 100*time.Millisecond, 0); err != nil {
		t.Errorf("StartTimer() = %v", err)
	}
	if err := c.StartTimer(ctx, 1, 1500*time.Microsecond, 0); err == nil {
		t.Errorf("StartTimer(1.5ms) succeeded, want an error")
	}
	if err := c.Subscribe(ctx, "timer", 3); err != nil {
		t.Errorf("Subscribe() = %v", err)
	}
	err = c.StopTimer(ctx, 3)
	var e *client.Error
	if !errors.As(err, &e) || e.Errno != "ENOENT" || e.Verb != "stop_timer" || e.Msg != "timer 3 is not running" {
		t.Errorf("StopTimer(idle) = %v, want *Error ENOENT", err)
	}
	if r, err := c.Do(ctx, "frob x"); !errors.As(err, &e) || e.Errno != "ENOSYS" {
		t.Errorf("Do(frob) = %+v, %v; want ENOSYS", r, err)
	}
	for _, bad := range []string{"", " \t", "a\nb"} {
		if _, err := c.Do(ctx, bad); err == nil {
			t.Errorf("Do(%q) succeeded, want an error", bad)
		}
	}
	// The event the trigger produced waited for Next.
	m, err := c.Next(ctx)
	if err != nil || m.Event == nil || m.Event.Seq != 5 || m.Event.Type != "trigger" {
		t.Errorf("Next() = %+v, %v; want the trigger event", m, err)
	}
}

// TestConn_eventsQueued: a client that does requests and ignores events
// gets its replies, and later every event in order.
func TestConn_eventsQueued(t *testing.T) {
	const perRequest = 50
	seq := 0
	fd := startFake(t, hello, func(req string) []string {
		var out []string
		for range perRequest {
			seq++
			out = append(out, fmt.Sprintf("EVT %d trigger 0 %d 0 1", seq, seq))
		}
		if seq%500 == 0 {
			out = append(out, fmt.Sprintf("LOST %d %d 1 queue", seq+1, seq+1))
			seq++
		}
		return append(out, "OK "+req)
	})
	c := dial(t, fd.path)
	ctx := t.Context()
	const requests = 100
	for i := range requests {
		if _, err := c.Do(ctx, "echo"); err != nil {
			t.Fatalf("Do(echo) #%d = %v", i, err)
		}
	}
	want := uint64(1)
	for range requests * perRequest {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("Next() = %v", err)
		}
		if m.Lost != nil {
			if m.Lost.First != want {
				t.Fatalf("Next() = LOST %+v, want first %d", *m.Lost, want)
			}
			want++
			if m, err = c.Next(ctx); err != nil {
				t.Fatalf("Next() = %v", err)
			}
		}
		if m.Event == nil || m.Event.Seq != want {
			t.Fatalf("Next() = %+v, want event %d", m, want)
		}
		want++
	}
	if n := c.Queued(); n != 0 {
		t.Errorf("Queued() = %d after reading everything, want 0", n)
	}
}

// TestConn_pipeline sends 10,000 requests before waiting for any reply.
func TestConn_pipeline(t *testing.T) {
	fd := startFake(t, hello, echoHandler)
	c := dial(t, fd.path)
	ctx := t.Context()
	const n = 10000
	calls := make([]*client.Call, n)
	for i := range n {
		var err error
		if calls[i], err = c.Send(ctx, "echo "+strconv.Itoa(i)); err != nil {
			t.Fatalf("Send #%d = %v", i, err)
		}
	}
	for i, call := range calls {
		r, err := call.Wait(ctx)
		if err != nil || r.Verb != "echo" || r.Detail != strconv.Itoa(i) {
			t.Fatalf("Wait #%d = %+v, %v; want OK echo %d", i, r, err, i)
		}
	}
}

// TestConn_waitCancelled: giving up on one reply does not shift the next.
func TestConn_waitCancelled(t *testing.T) {
	release := make(chan struct{})
	fd := startFake(t, hello, func(req string) []string {
		if req == "echo slow" {
			<-release
		}
		return []string{"OK " + req}
	})
	c := dial(t, fd.path)
	ctx, cancel := context.WithCancel(t.Context())
	slow, err := c.Send(t.Context(), "echo slow")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := slow.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait(cancelled) = %v, want context.Canceled", err)
	}
	close(release)
	if got, err := c.Echo(t.Context(), "fast"); got != "fast" || err != nil {
		t.Fatalf("Echo(fast) after a cancelled wait = %q, %v; want fast", got, err)
	}
}

// TestConn_serverClose: events sent before the daemon closed stay readable;
// then Next and new requests report the end.
func TestConn_serverClose(t *testing.T) {
	fd := startFake(t, hello, echoHandler)
	c := dial(t, fd.path)
	ctx := t.Context()
	if err := c.Quit(ctx); err != nil {
		t.Fatalf("Quit() = %v", err)
	}
	if m, err := c.Next(ctx); err != nil || m.Event == nil || m.Event.Seq != 6 {
		t.Fatalf("Next() = %+v, %v; want event 6", m, err)
	}
	if _, err := c.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Next() after the close = %v, want io.EOF", err)
	}
	if _, err := c.Echo(ctx, "x"); !errors.Is(err, io.EOF) {
		t.Fatalf("Echo() after the close = %v, want io.EOF", err)
	}
}

func TestConn_protocolViolation(t *testing.T) {
	fd := startFake(t, hello, func(string) []string { return []string{"OK a", "OK b"} })
	c := dial(t, fd.path)
	if _, err := c.Do(t.Context(), "a"); err != nil {
		t.Fatalf("Do(a) = %v", err)
	}
	// The unrequested "OK b" ends the connection with ErrProtocol.
	if _, err := c.Next(t.Context()); !errors.Is(err, client.ErrProtocol) {
		t.Fatalf("Next() = %v, want ErrProtocol", err)
	}
}

func TestConn_Close(t *testing.T) {
	fd := startFake(t, hello, func(string) []string { return nil }) // never replies
	c, err := client.Dial(t.Context(), fd.path)
	if err != nil {
		t.Fatal(err)
	}
	call, err := c.Send(t.Context(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	next := make(chan error)
	go func() { _, err := c.Next(t.Context()); next <- err }()
	if err := c.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}
	if _, err := call.Wait(t.Context()); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Wait() after Close = %v, want ErrClosed", err)
	}
	if err := <-next; !errors.Is(err, client.ErrClosed) {
		t.Errorf("Next() across Close = %v, want ErrClosed", err)
	}
	if _, err := c.Do(t.Context(), "echo"); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Do() after Close = %v, want ErrClosed", err)
	}
}

// TestConn_receiveFDs: a descriptor passed with "OK open_device" becomes the
// reply's file; more than one, or more than the control buffer holds
// (MSG_CTRUNC), ends the connection with ErrProtocol and closes every
// descriptor received. Each descriptor is a copy of a pipe's write end, so
// the read end sees EOF only once the client has closed them all.
func TestConn_receiveFDs(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int // copies of the write end sent with the reply
		ok   bool
	}{
		{"one", 1, true},
		{"two", 2, false},
		{"truncated", 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reqs := make(chan string, 1)
			fd := startFake(t, hello, func(req string) []string { reqs <- req; return nil })
			c := dial(t, fd.path)
			sc := (<-fd.conns).(*net.UnixConn)
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			type result struct {
				f   *os.File
				err error
			}
			res := make(chan result, 1)
			go func() {
				f, err := c.OpenDevice(t.Context())
				res <- result{f, err}
			}()
			if req := <-reqs; req != "open_device" {
				t.Fatalf("request %q, want open_device", req)
			}
			rights := make([]int, tc.n)
			for i := range rights {
				rights[i] = int(pw.Fd())
			}
			if _, _, err := sc.WriteMsgUnix([]byte("OK open_device\n"), syscall.UnixRights(rights...), nil); err != nil {
				t.Fatalf("WriteMsgUnix: %v", err)
			}
			_ = pw.Close()
			r := <-res
			switch {
			case tc.ok && r.err != nil:
				t.Fatalf("OpenDevice() = %v, want a file", r.err)
			case tc.ok:
				_ = r.f.Close()
			case !errors.Is(r.err, client.ErrProtocol):
				t.Fatalf("OpenDevice() = %v, %v; want ErrProtocol", r.f, r.err)
			}
			if err := pr.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if n, err := pr.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("read end = %d, %v; want EOF (a received descriptor was not closed)", n, err)
			}
		})
	}
}

// TestConn_passThrough checks the request lines of the calls that leave
// range checks to the daemon, and the reply detail SubscribeTo returns.
func TestConn_passThrough(t *testing.T) {
	reqs := make(chan string, 8)
	fd := startFake(t, hello, func(req string) []string {
		reqs <- req
		verb, rest, _ := strings.Cut(req, " ")
		if verb == "start_timer" && strings.Fields(rest)[1] == "0" {
			return []string{"ERR start_timer EINVAL period_ms must be 1..3600000"}
		}
		if verb == "subscribe" {
			return []string{"OK subscribe timer,trigger"}
		}
		return echoHandler(req)
	})
	c := dial(t, fd.path)
	ctx := t.Context()
	zero, five := uint64(0), uint64(5)
	for _, tc := range []struct {
		name, want string
		call       func() error
		errno      string
	}{
		{"StartTimerMS", "start_timer 3 250 10", func() error { return c.StartTimerMS(ctx, 3, 250, 10) }, ""},
		{"StartTimerMS(0 ms)", "start_timer 9 0 0", func() error { return c.StartTimerMS(ctx, 9, 0, 0) }, "EINVAL"},
		{"StartTimer", "start_timer 1 7200000 2", func() error { return c.StartTimer(ctx, 1, 2*time.Hour, 2) }, ""},
		{"SubscribeTo(from=0)", "subscribe trigger,timer from=0", func() error {
			got, err := c.SubscribeTo(ctx, client.Subscription{Set: "trigger,timer", From: &zero})
			if err == nil && got != "timer,trigger" {
				return fmt.Errorf("reply detail %q, want %q", got, "timer,trigger")
			}
			return err
		}, ""},
		{"SubscribeTo(no from)", "subscribe all", func() error { _, err := c.SubscribeTo(ctx, client.Subscription{Set: "all"}); return err }, ""},
		{"SubscribeTo(from=5)", "subscribe none from=5", func() error {
			_, err := c.SubscribeTo(ctx, client.Subscription{Set: "none", From: &five})
			return err
		}, ""},
		{"Subscribe(from 0)", "subscribe all", func() error { return c.Subscribe(ctx, "all", 0) }, ""},
	} {
		err := tc.call()
		var e *client.Error
		switch {
		case tc.errno == "" && err != nil:
			t.Errorf("%s = %v, want nil", tc.name, err)
		case tc.errno != "" && (!errors.As(err, &e) || e.Errno != tc.errno):
			t.Errorf("%s = %v, want *Error %s", tc.name, err, tc.errno)
		}
		if got := <-reqs; got != tc.want {
			t.Errorf("%s sent %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := c.SubscribeTo(ctx, client.Subscription{Set: "a\nb"}); err == nil {
		t.Errorf("SubscribeTo(set with a newline) succeeded")
	}
}

func TestEvent_StopReason(t *testing.T) {
	for _, tc := range []struct {
		ev   client.Event
		want string
	}{
		{client.Event{Type: "timer_stopped", Aux: 0}, "stop"},
		{client.Event{Type: "timer_stopped", Aux: 1}, "count"},
		{client.Event{Type: "timer_stopped", Aux: 2}, "closed"},
		{client.Event{Type: "timer_stopped", Aux: 9}, "9"},
		{client.Event{Type: "timer", Aux: 1}, ""},
		{client.Event{Type: "trigger"}, ""},
	} {
		if got := tc.ev.StopReason(); got != tc.want {
			t.Errorf("%+v.StopReason() = %q, want %q", tc.ev, got, tc.want)
		}
	}
}
