package proto_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/proto"
)

// parseCases are the table for ParseRequest and the fuzz seeds.
var parseCases = []struct {
	line string
	want proto.Request // when err == ""
	err  string        // the ERR reply line, without '\n'
}{
	// echo: the text is the rest after exactly one separator.
	{line: "echo", want: proto.Request{Verb: proto.VerbEcho}},
	{line: "echo hello", want: proto.Request{Verb: proto.VerbEcho, Text: []byte("hello")}},
	{line: "echo  two  spaces ", want: proto.Request{Verb: proto.VerbEcho, Text: []byte(" two  spaces ")}},
	{line: "echo\ttab\tsep", want: proto.Request{Verb: proto.VerbEcho, Text: []byte("tab\tsep")}},
	{line: "echo ", want: proto.Request{Verb: proto.VerbEcho, Text: []byte("")}},
	{line: "  \techo x", want: proto.Request{Verb: proto.VerbEcho, Text: []byte("x")}},
	{line: "echo ~!@#$%^&*()", want: proto.Request{Verb: proto.VerbEcho, Text: []byte("~!@#$%^&*()")}},
	{line: "echox", err: "ERR echox ENOSYS unknown command (help lists the commands)"},

	// trigger
	{line: "trigger", want: proto.Request{Verb: proto.VerbTrigger, Count: 1}},
	{line: "trigger 42", want: proto.Request{Verb: proto.VerbTrigger, Payload: 42, Count: 1}},
	{line: "trigger 0x2A 3", want: proto.Request{Verb: proto.VerbTrigger, Payload: 42, Count: 3}},
	{line: "trigger 0Xff", want: proto.Request{Verb: proto.VerbTrigger, Payload: 255, Count: 1}},
	{line: "trigger 0xffffffffffffffff 4294967295", want: proto.Request{Verb: proto.VerbTrigger, Payload: 1<<64 - 1, Count: 1<<32 - 1}},
	{line: "trigger 18446744073709551615", want: proto.Request{Verb: proto.VerbTrigger, Payload: 1<<64 - 1, Count: 1}},
	{line: "trigger 007", want: proto.Request{Verb: proto.VerbTrigger, Payload: 7, Count: 1}},
	{line: "trigger\t\t1 \t 2\t", want: proto.Request{Verb: proto.VerbTrigger, Payload: 1, Count: 2}},
	{line: "trigger 18446744073709551616", err: "ERR trigger EINVAL payload must be a u64, decimal or 0x hex"},
	{line: "trigger 0x10000000000000000", err: "ERR trigger EINVAL payload must be a u64, decimal or 0x hex"},
	{line: "trigger 0x", err: "ERR trigger EINVAL payload must be a u64, decimal or 0x hex"},
	{line: "trigger 0xg", err: "ERR trigger EINVAL payload must be a u64, decimal or 0x hex"},
	{line: "trigger -1", err: "ERR trigger EINVAL payload must be a u64, decimal or 0x hex"},
	{line: "trigger +1", err: "ERR trigger EINVAL payload must be a u64, decimal or 0x hex"},
	{line: "trigger 1 0", err: "ERR trigger EINVAL count must be 1..4294967295 (and at most max_burst)"},
	{line: "trigger 1 4294967296", err: "ERR trigger EINVAL count must be 1..4294967295 (and at most max_burst)"},
	{line: "trigger 1 0x2", err: "ERR trigger EINVAL count must be 1..4294967295 (and at most max_burst)"},
	{line: "trigger 1 2 3", err: "ERR trigger EINVAL too many arguments: trigger [<payload> [<count>]]"},

	// start_timer, stop_timer
	{line: "start_timer 0 1", want: proto.Request{Verb: proto.VerbStartTimer, ID: 0, PeriodMS: 1}},
	{line: "start_timer 7 3600000 18446744073709551615", want: proto.Request{Verb: proto.VerbStartTimer, ID: 7, PeriodMS: 3600000, TimerCount: 1<<64 - 1}},
	{line: "start_timer 3 100 0", want: proto.Request{Verb: proto.VerbStartTimer, ID: 3, PeriodMS: 100}},
	{line: "start_timer", err: "ERR start_timer EINVAL id must be 0..7"},
	{line: "start_timer 8 100", err: "ERR start_timer EINVAL id must be 0..7"},
	{line: "start_timer 1", err: "ERR start_timer EINVAL usage: start_timer <id> <period_ms> [<count>]"},
	{line: "start_timer 1 0", err: "ERR start_timer EINVAL period_ms must be 1..3600000"},
	{line: "start_timer 1 3600001", err: "ERR start_timer EINVAL period_ms must be 1..3600000"},
	{line: "start_timer 1 99999999999999999999999", err: "ERR start_timer EINVAL period_ms must be 1..3600000"},
	{line: "start_timer 1 10 18446744073709551616", err: "ERR start_timer EINVAL count must be a u64 (0 = forever)"},
	{line: "start_timer 1 10 5 x", err: "ERR start_timer EINVAL too many arguments: start_timer <id> <period_ms> [<count>]"},
	{line: "stop_timer 5", want: proto.Request{Verb: proto.VerbStopTimer, ID: 5}},
	{line: "stop_timer", err: "ERR stop_timer EINVAL id must be 0..7"},
	{line: "stop_timer -0", err: "ERR stop_timer EINVAL id must be 0..7"},
	{line: "stop_timer 1 2", err: "ERR stop_timer EINVAL too many arguments: stop_timer <id>"},

	// subscribe
	{line: "subscribe all", want: proto.Request{Verb: proto.VerbSubscribe, Filter: proto.FilterAll}},
	{line: "subscribe none", want: proto.Request{Verb: proto.VerbSubscribe, Filter: proto.FilterNone}},
	{line: "subscribe timer", want: proto.Request{Verb: proto.VerbSubscribe, Filter: proto.FilterTimer}},
	{line: "subscribe trigger,timer", want: proto.Request{Verb: proto.VerbSubscribe, Filter: proto.FilterAll}},
	{line: "subscribe trigger from=17", want: proto.Request{Verb: proto.VerbSubscribe, Filter: proto.FilterTrigger, From: 17, HasFrom: true}},
	{line: "subscribe all from=0", want: proto.Request{Verb: proto.VerbSubscribe, Filter: proto.FilterAll, HasFrom: true}},
	{line: "subscribe", err: errBadSet},
	{line: "subscribe timer,", err: errBadSet},
	{line: "subscribe ,timer", err: errBadSet},
	{line: "subscribe all,timer", err: errBadSet},
	{line: "subscribe timer_stopped", err: errBadSet},
	{line: "subscribe timer:3,trigger:0x10 from=5", want: proto.Request{Verb: proto.VerbSubscribe, Filter: mustFilter("trigger:16,timer:3"), From: 5, HasFrom: true}},
	{line: "subscribe timer:8", err: errBadSet},
	{line: "subscribe all from=", err: "ERR subscribe EINVAL usage: subscribe <set> [from=<seq>]"},
	{line: "subscribe all since=3", err: "ERR subscribe EINVAL usage: subscribe <set> [from=<seq>]"},
	{line: "subscribe all from=x", err: "ERR subscribe EINVAL from=<seq> must be a u64"},
	{line: "subscribe all from=18446744073709551616", err: "ERR subscribe EINVAL from=<seq> must be a u64"},
	{line: "subscribe all from=1 x", err: "ERR subscribe EINVAL too many arguments: subscribe <set> [from=<seq>]"},

	// verbs without arguments
	{line: "timers", want: proto.Request{Verb: proto.VerbTimers}},
	{line: "stats", want: proto.Request{Verb: proto.VerbStats}},
	{line: "open_device", want: proto.Request{Verb: proto.VerbOpenDevice}},
	{line: "help", want: proto.Request{Verb: proto.VerbHelp}},
	{line: "quit", want: proto.Request{Verb: proto.VerbQuit}},
	{line: " quit \t", want: proto.Request{Verb: proto.VerbQuit}},
	{line: "timers x", err: "ERR timers EINVAL timers takes no arguments"},
	{line: "stats 1", err: "ERR stats EINVAL stats takes no arguments"},
	{line: "open_device x", err: "ERR open_device EINVAL open_device takes no arguments"},
	{line: "help me", err: "ERR help EINVAL help takes no arguments"},
	{line: "quit now", err: "ERR quit EINVAL quit takes no arguments"},

	// unknown verbs, case, truncation, bytes
	{line: "ECHO x", err: "ERR ECHO ENOSYS unknown command (help lists the commands)"},
	{line: "frobnicate", err: "ERR frobnicate ENOSYS unknown command (help lists the commands)"},
	{line: strings.Repeat("v", 40) + " x", err: "ERR " + strings.Repeat("v", 32) + " ENOSYS unknown command (help lists the commands)"},
	{line: "echo \x00", err: "ERR - EILSEQ request is not printable ASCII"},
	{line: "echo caf\xc3\xa9", err: "ERR - EILSEQ request is not printable ASCII"},
	{line: "\x7f", err: "ERR - EILSEQ request is not printable ASCII"},
	{line: "echo x\r", err: "ERR - EILSEQ request is not printable ASCII"},
	{line: "", err: "ERR - EINVAL empty request"},
	{line: " \t ", err: "ERR - EINVAL empty request"},
}

func TestParseRequest(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.line, func(t *testing.T) {
			got, perr := proto.ParseRequest([]byte(tc.line))
			if tc.err != "" {
				if perr == nil {
					t.Fatalf("ParseRequest(%q) = %+v, nil; want %q", tc.line, got, tc.err)
				}
				if line := string(proto.AppendErr(nil, perr)); line != tc.err+"\n" {
					t.Fatalf("ParseRequest(%q) error line = %q, want %q", tc.line, line, tc.err+"\n")
				}
				if !reflect.DeepEqual(got, proto.Request{}) {
					t.Errorf("ParseRequest(%q) = %+v with an error, want the zero Request", tc.line, got)
				}
				return
			}
			if perr != nil {
				t.Fatalf("ParseRequest(%q) error = %q, want %+v", tc.line, perr.Error(), tc.want)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseRequest(%q) = %+v, want %+v", tc.line, got, tc.want)
			}
			// A present but empty echo text must stay non-nil: "OK echo ".
			if (got.Text == nil) != (tc.want.Text == nil) {
				t.Fatalf("ParseRequest(%q).Text nil = %v, want %v", tc.line, got.Text == nil, tc.want.Text == nil)
			}
		})
	}
}

// TestParseRequest_echoReply checks that echo's reply is the request's text
// byte for byte (PROTOCOL.md A.5).
func TestParseRequest_echoReply(t *testing.T) {
	for _, tc := range []struct{ line, reply string }{
		{"echo", "OK echo\n"},
		{"echo ", "OK echo \n"},
		{"echo  a\tb  ", "OK echo  a\tb  \n"},
		{"echo\t\tx", "OK echo \tx\n"},
	} {
		req, perr := proto.ParseRequest([]byte(tc.line))
		if perr != nil {
			t.Fatalf("ParseRequest(%q) error = %v", tc.line, perr)
		}
		var got []byte
		if req.Text == nil {
			got = proto.AppendOK(nil, req.Verb)
		} else {
			got = proto.AppendOKDetail(nil, req.Verb, req.Text)
		}
		if string(got) != tc.reply {
			t.Errorf("reply to %q = %q, want %q", tc.line, got, tc.reply)
		}
	}
}

func TestParseRequest_allocs(t *testing.T) {
	line := []byte("start_timer 3 250 10")
	if n := testing.AllocsPerRun(100, func() { _, _ = proto.ParseRequest(line) }); n != 0 {
		t.Errorf("ParseRequest(%q) allocs = %v, want 0", line, n)
	}
}

func TestVerb(t *testing.T) {
	var names []string
	for v := proto.Verb(1); v.String() != "-"; v++ {
		names = append(names, v.String())
		req, perr := proto.ParseRequest([]byte(v.String() + " 1 1"))
		// Every listed verb must parse as itself (possibly with EINVAL for
		// the arguments), never as ENOSYS.
		if perr != nil && perr.Errno == proto.ENOSYS || perr == nil && req.Verb != v {
			t.Errorf("ParseRequest(%q) = %+v, %v; want verb %v", v.String()+" 1 1", req, perr, v)
		}
	}
	want := "echo trigger start_timer stop_timer timers subscribe stats open_device help quit"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("verbs = %q, want %q", got, want)
	}
	if got := string(proto.AppendOKHelp(nil)); got != "OK help "+want+"\n" {
		t.Errorf("AppendOKHelp() = %q, want %q", got, "OK help "+want+"\n")
	}
	var control []string
	for v := proto.Verb(1); v.String() != "-"; v++ {
		if v.Control() {
			control = append(control, v.String())
		}
	}
	if got := strings.Join(control, " "); got != "trigger start_timer stop_timer" {
		t.Errorf("control verbs = %q, want %q", got, "trigger start_timer stop_timer")
	}
}

const errBadSet = "ERR subscribe EINVAL set must be all, none, or a comma list of at most 16 items: timer, trigger, timer:<id 0..7>, trigger:<payload>"

func mustFilter(s string) proto.Filter {
	f, ok := proto.ParseFilter([]byte(s))
	if !ok {
		panic("bad filter " + s)
	}
	return f
}
