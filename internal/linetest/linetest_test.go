package linetest_test

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/internal/linetest"
)

// serve plays the daemon on the far end of a pipe: it writes the greeting,
// then for each request line the lines script gives for it.
func serve(t *testing.T, script map[string][]string) net.Conn {
	t.Helper()
	client, srv := net.Pipe()
	t.Cleanup(func() { srv.Close() })
	go func() {
		fmt.Fprintf(srv, "HELLO mypoll 1 00000000000000aa 5\n")
		br := bufio.NewReader(srv)
		for {
			req, err := br.ReadString('\n')
			if err != nil {
				return
			}
			for _, l := range script[strings.TrimSuffix(req, "\n")] {
				if l == "CLOSE" {
					srv.Close()
					return
				}
				fmt.Fprintf(srv, "%s\n", l)
			}
		}
	}()
	return client
}

func TestConn(t *testing.T) {
	nc := serve(t, map[string][]string{
		"trigger 0 2": {"EVT 5 trigger 0 0 0 10", "EVT 6 trigger 0 0 1 11", "OK trigger 5 2"},
		"burst":       {"LOST 7 9 3 queue", "EVT 10 timer_stopped 3 4 1 12", "EVT 11 timer 1 2 0 13"},
		"quit":        {"OK quit", "CLOSE"},
	})
	c := linetest.New(t, nc, 5*time.Second)
	if h := c.Greet(); h != "HELLO mypoll 1 00000000000000aa 5" || c.Hello != h {
		t.Fatalf("Greet() = %q, Hello %q", h, c.Hello)
	}
	c.Send("trigger 0 2")
	r, skipped := c.Reply()
	if r != "OK trigger 5 2" || len(skipped) != 2 {
		t.Fatalf("Reply() = %q, %q; want the OK after two EVT lines", r, skipped)
	}
	c.Send("burst")
	evs := c.Events(4) // 3 in the LOST line, 1 EVT
	want := []linetest.Evt{
		{Lost: true, First: 7, Last: 9, Count: 3, Reason: "queue"},
		{Seq: 10, Type: "timer_stopped", Src: 3, Arg: 4, Aux: 1, TS: 12},
	}
	if !slices.Equal(evs, want) {
		t.Fatalf("Events(4) = %+v, want %+v", evs, want)
	}
	c.Expect("11")
	if r := c.Do("quit"); r != "OK quit" {
		t.Fatalf("Do(quit) = %q", r)
	}
	c.ExpectEOF()
	if lost := linetest.QueueLoss(t, []linetest.Evt{{Seq: 3}, {Lost: true, First: 5, Last: 9, Count: 4, Reason: "queue"}, {Seq: 10}}, 3); lost != 4 {
		t.Errorf("QueueLoss() = %d, want 4", lost)
	}
	if got := linetest.Seqs(3, 5); !slices.Equal(got, []string{"3", "4", "5"}) {
		t.Errorf("Seqs(3, 5) = %q", got)
	}
}

// recorder is a TB whose Fatalf ends only the calling goroutine, as the
// real one does, and keeps the message.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func fatal(t *testing.T, f func(tb linetest.TB)) string {
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(rec)
	}()
	<-done
	return rec.msg
}

func TestConn_failures(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		f          func(tb linetest.TB)
	}{
		{"wrong seq", `got "EVT 6 trigger 0 0 0 1", want EVT seq 5`, func(tb linetest.TB) {
			c := linetest.New(tb, serve(t, map[string][]string{"go": {"EVT 6 trigger 0 0 0 1"}}), time.Second)
			c.Greet()
			c.Send("go")
			c.Expect("5")
		}},
		{"wrong LOST", `got "LOST 1 2 2 queue", want "LOST 1 2 2 device"`, func(tb linetest.TB) {
			c := linetest.New(tb, serve(t, map[string][]string{"go": {"LOST 1 2 2 queue"}}), time.Second)
			c.Greet()
			c.Send("go")
			c.Expect("LOST 1 2 2 device")
		}},
		{"not an event", `not an EVT or LOST line: "OK echo"`, func(tb linetest.TB) {
			c := linetest.New(tb, serve(t, map[string][]string{"go": {"OK echo"}}), time.Second)
			c.Greet()
			c.Send("go")
			c.Next()
		}},
		{"bad number", `bad number "x" in "EVT x trigger 0 0 0 1"`, func(tb linetest.TB) {
			linetest.ParseEvt(tb, "EVT x trigger 0 0 0 1")
		}},
		{"silence", "read line: ", func(tb linetest.TB) {
			c := linetest.New(tb, serve(t, nil), 50*time.Millisecond)
			c.Greet()
			c.Line()
		}},
		{"queue loss out of order", "EVT seq 4 after seq 6: not increasing", func(tb linetest.TB) {
			linetest.QueueLoss(tb, []linetest.Evt{{Seq: 3}, {Lost: true, First: 4, Last: 6, Count: 3, Reason: "queue"}, {Seq: 4}}, 3)
		}},
		{"queue loss of the wrong reason", "bad LOST", func(tb linetest.TB) {
			linetest.QueueLoss(tb, []linetest.Evt{{Lost: true, First: 4, Last: 6, Count: 3, Reason: "device"}}, 3)
		}},
		{"no EOF", `read after close = "OK quit", <nil>; want EOF`, func(tb linetest.TB) {
			c := linetest.New(tb, serve(t, map[string][]string{"quit": {"OK quit"}}), time.Second)
			c.Greet()
			c.Send("quit")
			c.ExpectEOF()
		}},
	} {
		if got := fatal(t, tc.f); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: Fatalf(%q), want %q", tc.name, got, tc.want)
		}
	}
}

func TestStreamLog(t *testing.T) {
	ev := func(seq uint64) client.StreamMessage { return client.StreamMessage{Event: &client.Event{Seq: seq}} }
	lost := func(first, last, count uint64) client.StreamMessage {
		return client.StreamMessage{Lost: &client.Lost{First: first, Last: last, Count: count, Reason: "restart"}}
	}
	resume := func(from uint64, newInstance bool) client.StreamMessage {
		return client.StreamMessage{Reconnect: &client.Reconnect{From: from, NewInstance: newInstance}}
	}
	var l linetest.StreamLog
	for i, m := range []client.StreamMessage{ev(4), ev(5), resume(6, false), lost(6, 9, 4), ev(10)} {
		if err := l.Add(m); err != nil {
			t.Fatalf("Add(#%d) = %v", i, err)
		}
	}
	want := linetest.StreamLog{First: 4, Next: 11, Events: 3, Lost: 4, LostLines: 1, Resumes: 1}
	if l != want {
		t.Fatalf("log = %+v, want %+v", l, want)
	}
	for _, m := range []client.StreamMessage{ev(10), ev(12), lost(12, 13, 2), lost(11, 13, 2), lost(11, 10, 0), resume(10, false), resume(11, true)} {
		before := l
		if err := l.Add(m); err == nil {
			t.Errorf("Add(%+v %+v %+v) at seq 11 accepted", m.Event, m.Lost, m.Reconnect)
		}
		if l != before {
			t.Errorf("a refused message changed the log: %+v, was %+v", l, before)
		}
	}
	var fresh linetest.StreamLog
	if err := fresh.Add(lost(1, 2, 2)); err == nil {
		t.Errorf("LOST before any event accepted with no known start")
	}
}
