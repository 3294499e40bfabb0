package client_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/client"
)

var validLines = []struct {
	line string
	want client.Line
}{
	{"HELLO mypoll 1 00000000deadbeef 42", client.Line{Kind: client.LineHello, Hello: client.Hello{Version: 1, InstanceID: 0xdeadbeef, NextSeq: 42}}},
	{"HELLO mypoll 1 0000000000000000 0", client.Line{Kind: client.LineHello, Hello: client.Hello{Version: 1}}},
	{"OK quit", client.Line{Kind: client.LineOK, Reply: client.Reply{Verb: "quit"}}},
	{"OK echo  two  \tspaces ", client.Line{Kind: client.LineOK, Reply: client.Reply{Verb: "echo", Detail: " two  \tspaces "}}},
	{"OK trigger 17 3", client.Line{Kind: client.LineOK, Reply: client.Reply{Verb: "trigger", Detail: "17 3"}}},
	{"ERR - E2BIG request longer than 1024 bytes", client.Line{Kind: client.LineErr, Err: &client.Error{Verb: "-", Errno: "E2BIG", Msg: "request longer than 1024 bytes"}}},
	{"ERR start_timer EINVAL period_ms must be 1..3600000", client.Line{Kind: client.LineErr, Err: &client.Error{Verb: "start_timer", Errno: "EINVAL", Msg: "period_ms must be 1..3600000"}}},
	{"EVT 1 timer 7 12 2 99", client.Line{Kind: client.LineEvent, Event: client.Event{Seq: 1, Type: "timer", SourceID: 7, Arg: 12, Aux: 2, TimestampNS: 99}}},
	{"EVT 18446744073709551615 trigger 4294967295 0 0 0", client.Line{Kind: client.LineEvent, Event: client.Event{Seq: 1<<64 - 1, Type: "trigger", SourceID: 1<<32 - 1}}},
	{"EVT 5 timer_stopped 2 10 1 0", client.Line{Kind: client.LineEvent, Event: client.Event{Seq: 5, Type: "timer_stopped", SourceID: 2, Arg: 10, Aux: 1}}},
	{"LOST 120 130 11 queue", client.Line{Kind: client.LineLost, Lost: client.Lost{First: 120, Last: 130, Count: 11, Reason: "queue"}}},
	{"LOST 1 1 1 device", client.Line{Kind: client.LineLost, Lost: client.Lost{First: 1, Last: 1, Count: 1, Reason: "device"}}},
	{"LOST 3 9 2 restart", client.Line{Kind: client.LineLost, Lost: client.Lost{First: 3, Last: 9, Count: 2, Reason: "restart"}}},
}

var invalidLines = []string{
	"",
	"HELLO",
	"HELLO mypoll 1 deadbeef 42",          // instance id not 16 digits
	"HELLO mypoll 1 00000000DEADBEEF 42",  // uppercase hex
	"HELLO mypoll 1 00000000deadbeef 042", // leading zero
	"HELLO other 1 00000000deadbeef 42",
	"HELLO mypoll 1 00000000deadbeef 42 x",
	"HELLO  mypoll 1 00000000deadbeef 42",
	"OK",
	"OK ",
	"OK Echo",
	"OK\techo",
	"ERR - E2BIG",
	"ERR - E2BIG ",
	"ERR - einval msg",
	"ERR  EINVAL msg",
	"EVT 1 timer 7 12 2",
	"EVT 1 overflow 7 12 2 3",
	"EVT 01 timer 7 12 2 3",
	"EVT 1 timer 4294967296 12 2 3",
	"EVT 1 timer 7 12 2 18446744073709551616",
	"EVT 1 timer 7 -12 2 3",
	"EVT 1  timer 7 12 2 3",
	"EVT 1 timer 7 12 2 3 ",
	"LOST 130 120 1 queue",
	"LOST 1 2 3 queue",
	"LOST 1 2 0 queue",
	"LOST 1 2 1 slow",
	"NOTE hi",
	"ok quit",
	"OK echo caf\xc3\xa9",
	"OK echo a\rb",
	"OK echo a\nb",
}

func TestParseLine(t *testing.T) {
	for _, tc := range validLines {
		for _, in := range []string{tc.line, tc.line + "\n"} {
			got, err := client.ParseLine([]byte(in))
			if err != nil {
				t.Errorf("ParseLine(%q) error = %v", in, err)
				continue
			}
			if got.String() != tc.line {
				t.Errorf("ParseLine(%q).String() = %q, want the line back", in, got.String())
			}
			if !equalLine(got, tc.want) {
				t.Errorf("ParseLine(%q) = %+v, want %+v", in, got, tc.want)
			}
		}
	}
	for _, in := range invalidLines {
		got, err := client.ParseLine([]byte(in))
		if err == nil {
			t.Errorf("ParseLine(%q) = %+v, want an error", in, got)
		} else if !errors.Is(err, client.ErrProtocol) {
			t.Errorf("ParseLine(%q) error = %v, want it to wrap ErrProtocol", in, err)
		}
	}
	long := "OK echo " + strings.Repeat("x", client.MaxServerLine)
	if _, err := client.ParseLine([]byte(long)); err == nil {
		t.Errorf("ParseLine(%d bytes) succeeded, want an error", len(long))
	}
}

// equalLine compares the exported fields of two lines.
func equalLine(a, b client.Line) bool {
	return a.Kind == b.Kind && a.Hello == b.Hello && a.Reply == b.Reply &&
		reflect.DeepEqual(a.Err, b.Err) && a.Event == b.Event && a.Lost == b.Lost
}

func FuzzParseLine(f *testing.F) {
	for _, tc := range validLines {
		f.Add([]byte(tc.line))
	}
	for _, in := range invalidLines {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		l, err := client.ParseLine(b)
		if err != nil {
			if !errors.Is(err, client.ErrProtocol) {
				t.Fatalf("ParseLine(%q) error = %v, want it to wrap ErrProtocol", b, err)
			}
			return
		}
		want := strings.TrimSuffix(string(b), "\n")
		if got := l.String(); got != want {
			t.Fatalf("ParseLine(%q).String() = %q, want the line back", b, got)
		}
		again, err := client.ParseLine([]byte(l.String()))
		if err != nil || !equalLine(again, l) {
			t.Fatalf("ParseLine(String()) of %q = %+v, %v; want %+v", b, again, err, l)
		}
	})
}
