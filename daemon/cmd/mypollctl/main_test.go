package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mypoll/mypoll/client"
)

// fake is a tiny stand-in for mypolld on a unix socket in t.TempDir(): it
// greets with hello and answers each request line with reply(req). It
// speaks only the lines these tests need; tests against the real daemon
// live with it.
type fake struct {
	path string
	mu   sync.Mutex
	reqs []string // every request received, in order
}

func startFake(t *testing.T, hello string, reply func(req string) []string) *fake {
	t.Helper()
	f := &fake{path: filepath.Join(t.TempDir(), "mypoll.sock")}
	ln, err := net.Listen("unix", f.path)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { f.serve(nc, hello, reply) })
		}
	})
	return f
}

func (f *fake) serve(nc net.Conn, hello string, reply func(string) []string) {
	defer nc.Close()
	if _, err := fmt.Fprintf(nc, "%s\n", hello); err != nil || reply == nil {
		return
	}
	br := bufio.NewReader(nc)
	for {
		req, err := br.ReadString('\n')
		if err != nil {
			return
		}
		req = strings.TrimSuffix(req, "\n")
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		f.mu.Unlock()
		for _, l := range reply(req) {
			if l == "CLOSE" {
				return
			}
			if _, err := fmt.Fprintf(nc, "%s\n", l); err != nil {
				return
			}
		}
	}
}

func (f *fake) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

const hello = "HELLO mypoll 1 00000000000000aa 5"

// daemonReplies answers like mypolld for the requests the tests send.
func daemonReplies(req string) []string {
	verb, rest, _ := strings.Cut(req, " ")
	switch verb {
	case "echo":
		return []string{"OK " + req}
	case "trigger":
		return []string{"OK trigger 17 3"}
	case "start_timer":
		if strings.HasPrefix(rest, "1 ") {
			return []string{"ERR start_timer EBUSY timer 1 already running"}
		}
		if strings.Fields(rest)[1] == "0" {
			return []string{"ERR start_timer EINVAL period_ms must be 1..3600000"}
		}
		return []string{"OK start_timer " + strings.Fields(rest)[0]}
	case "stop_timer":
		return []string{"ERR stop_timer ENOENT timer " + rest + " not running"}
	case "timers":
		return []string{"OK timers 2:100:5:0 7:3600000:0:9"}
	case "stats":
		return []string{"OK stats clients=3 next_seq=40 instance_id=00000000000000aa"}
	case "help":
		return []string{"OK help echo trigger quit"}
	case "subscribe":
		set, _, _ := strings.Cut(rest, " ")
		return []string{"OK subscribe " + set}
	}
	return []string{"ERR " + verb + " ENOSYS unknown command"}
}

type result struct {
	code           int
	stdout, stderr string
}

func runCtl(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func TestRun(t *testing.T) {
	f := startFake(t, hello, daemonReplies)
	sock := "--socket=" + f.path
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string // exact, when not ""
		stderr     string // substring, when not ""
		wantNoConn bool   // must fail before connecting
	}{
		{args: []string{sock, "echo", "hello", " world"}, stdout: "hello  world\n"},
		{args: []string{sock, "echo", "--json", "-x"}, stdout: "--json -x\n"},
		{args: []string{sock, "--json", "echo", "a"}, stdout: `{"text":"a"}` + "\n"},
		{args: []string{sock, "trigger", "0x2a", "3"}, stdout: "triggered 3 event(s): seq 17..19\n"},
		{args: []string{"trigger", "--json", sock}, stdout: `{"first_seq":17,"count":3}` + "\n"},
		{args: []string{sock, "start-timer", "3", "250"}, stdout: "timer 3 started: every 250 ms, until stopped\n"},
		{args: []string{sock, "start-timer", "3", "250", "10"}, stdout: "timer 3 started: every 250 ms, for 10 ticks\n"},
		{args: []string{sock, "start-timer", "1", "100"}, code: 1, stderr: "mypollctl: start-timer: timer 1 already running (EBUSY)\n"},
		{args: []string{sock, "start-timer", "3", "0"}, code: 1, stderr: "period_ms must be 1..3600000 (EINVAL)"},
		{args: []string{sock, "--json", "stop-timer", "4"}, code: 1, stderr: `{"error":"timer 4 not running","errno":"ENOENT","verb":"stop_timer","exit":1}` + "\n"},
		{args: []string{sock, "timers"}, stdout: "ID   PERIOD_MS        TICKS        COUNT\n2          100            5      forever\n7      3600000            0            9\n"},
		{args: []string{sock, "timers", "--json"}, stdout: `{"timers":[{"id":2,"period_ms":100,"ticks":5,"count":0},{"id":7,"period_ms":3600000,"ticks":0,"count":9}]}` + "\n"},
		{args: []string{sock, "stats"}, stdout: "clients=3\ninstance_id=00000000000000aa\nnext_seq=40\n"},
		{args: []string{sock, "--json", "stats"}, stdout: `{"clients":3,"instance_id":"00000000000000aa","next_seq":40}` + "\n"},
		{args: []string{sock, "subscribe", "timer", "--from", "12"}, stdout: "OK subscribe timer\n"},
		{args: []string{sock, "help"}, stdout: "echo trigger quit\n"},
		{args: []string{"--socket", "/nonexistent/x.sock", "version"}, stdout: "mypollctl dev (protocol 1)\n", wantNoConn: true},

		// Usage errors: exit 2, before connecting.
		{args: []string{sock}, code: 2, stderr: "mypollctl: no command given\nRun 'mypollctl --help' for usage.\n", wantNoConn: true},
		{args: []string{sock, "frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`, wantNoConn: true},
		{args: []string{"--bogus", "echo"}, code: 2, stderr: "flag provided but not defined: -bogus", wantNoConn: true},
		{args: []string{sock, "--timeout", "soon", "echo"}, code: 2, stderr: "invalid value", wantNoConn: true},
		{args: []string{sock, "stop-timer"}, code: 2, stderr: "stop-timer: wrong number of arguments", wantNoConn: true},
		{args: []string{sock, "timers", "x"}, code: 2, stderr: "timers: wrong number of arguments", wantNoConn: true},
		{args: []string{sock, "trigger", "1", "2", "3"}, code: 2, stderr: "trigger: wrong number of arguments", wantNoConn: true},
		{args: []string{sock, "trigger", "-5"}, code: 2, stderr: "flag provided but not defined: -5", wantNoConn: true},
		{args: []string{sock, "trigger", "0x"}, code: 2, stderr: `trigger: PAYLOAD must be a u64, decimal or 0x hex, got "0x"`, wantNoConn: true},
		{args: []string{sock, "trigger", "18446744073709551616"}, code: 2, stderr: "PAYLOAD must be a u64", wantNoConn: true},
		{args: []string{sock, "trigger", "1", "0"}, code: 2, stderr: `trigger: COUNT must be 1..4294967295, got "0"`, wantNoConn: true},
		{args: []string{sock, "start-timer", "x", "100"}, code: 2, stderr: `start-timer: ID must be a timer number 0..7, got "x"`, wantNoConn: true},
		{args: []string{sock, "start-timer", "1", "1.5"}, code: 2, stderr: "PERIOD_MS must be a number of milliseconds", wantNoConn: true},
		{args: []string{sock, "subscribe", "all", "--from", "x"}, code: 2, stderr: "SEQ must be a decimal sequence number", wantNoConn: true},
		{args: []string{sock, "echo", "two\nlines"}, code: 2, stderr: "echo: TEXT must be one line", wantNoConn: true},
		{args: []string{sock, "--json", "nope"}, code: 2, stderr: `{"error":"unknown command \"nope\"","exit":2}` + "\n", wantNoConn: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			before := len(f.requests())
			got := runCtl(t, t.Context(), tc.args...)
			if got.code != tc.code {
				t.Fatalf("run(%q) = %d, want %d\nstdout: %s\nstderr: %s", tc.args, got.code, tc.code, got.stdout, got.stderr)
			}
			if tc.stdout != "" && got.stdout != tc.stdout {
				t.Errorf("run(%q) stdout = %q, want %q", tc.args, got.stdout, tc.stdout)
			}
			if tc.code == 0 && got.stderr != "" {
				t.Errorf("run(%q) stderr = %q, want nothing", tc.args, got.stderr)
			}
			if tc.code != 0 && got.stdout != "" {
				t.Errorf("run(%q) stdout = %q on failure, want nothing", tc.args, got.stdout)
			}
			if !strings.Contains(got.stderr, tc.stderr) {
				t.Errorf("run(%q) stderr = %q, want it to contain %q", tc.args, got.stderr, tc.stderr)
			}
			if n := len(f.requests()) - before; tc.wantNoConn && n != 0 {
				t.Errorf("run(%q) sent %d requests, want none", tc.args, n)
			}
		})
	}
}

// TestRun_requestLines checks what reaches the daemon.
func TestRun_requestLines(t *testing.T) {
	f := startFake(t, hello, daemonReplies)
	for _, args := range [][]string{
		{"echo"},
		{"trigger"},
		{"trigger", "0X1f", "4"},
		{"trigger", "010"},
		{"start-timer", "2", "100"},
		{"subscribe", "trigger,timer", "--from", "5"},
	} {
		if got := runCtl(t, t.Context(), append([]string{"--socket", f.path}, args...)...); got.code != 0 {
			t.Errorf("run(%q) = %d, %q", args, got.code, got.stderr)
		}
	}
	want := []string{
		"echo",
		"trigger 0 1",
		"trigger 31 4",
		"trigger 10 1",
		"start_timer 2 100 0",
		"subscribe trigger,timer from=5",
	}
	if got := f.requests(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestRun_help(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"--socket", "x", "--help"}, {"stats", "--help"}} {
		got := runCtl(t, t.Context(), args...)
		if got.code != 0 || got.stderr != "" {
			t.Fatalf("run(%q) = %d, stderr %q; want 0 and nothing", args, got.code, got.stderr)
		}
		for _, section := range []string{"SYNOPSIS", "COMMANDS", "GLOBAL FLAGS", "EXIT STATUS", "ENVIRONMENT", "EXAMPLES", "MYPOLL_SOCKET", "SUBSCRIPTION SETS", "--filter timer:3", "trigger:PAYLOAD"} {
			if !strings.Contains(got.stdout, section) {
				t.Errorf("run(%q) manual has no %s", args, section)
			}
		}
		// Every command is documented.
		for _, c := range cmds {
			if !strings.Contains(got.stdout, "\n    "+c.name) {
				t.Errorf("run(%q) manual does not document %s", args, c.name)
			}
		}
	}
}

func TestRun_connect(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.sock")
	got := runCtl(t, t.Context(), "--socket", missing, "stats")
	want := "mypollctl: cannot connect to " + missing + ": no such file (is mypolld running? --socket sets the path)\n"
	if got.code != 3 || got.stderr != want {
		t.Errorf("stats with no socket = %d, %q; want 3, %q", got.code, got.stderr, want)
	}

	got = runCtl(t, t.Context(), "--json", "--socket", missing, "stats")
	var rec struct {
		Error string
		Exit  int
	}
	if err := json.Unmarshal([]byte(got.stderr), &rec); err != nil || rec.Exit != 3 || !strings.Contains(rec.Error, "no such file") {
		t.Errorf("--json stats with no socket: stderr %q (%v), want a JSON error with exit 3", got.stderr, err)
	}

	full := startFake(t, "ERR - EMFILE too many clients (max 2)", nil)
	got = runCtl(t, t.Context(), "--socket", full.path, "echo")
	if got.code != 3 || !strings.Contains(got.stderr, "mypolld refused the connection: too many clients (max 2)") {
		t.Errorf("echo to a full daemon = %d, %q; want 3 and the daemon's reason", got.code, got.stderr)
	}

	t.Setenv("MYPOLL_SOCKET", startFake(t, hello, daemonReplies).path)
	if got := runCtl(t, t.Context(), "echo", "env"); got.code != 0 || got.stdout != "env\n" {
		t.Errorf("echo via MYPOLL_SOCKET = %d, %q, %q", got.code, got.stdout, got.stderr)
	}
}

func TestRun_timeout(t *testing.T) {
	silent := startFake(t, hello, func(string) []string { return nil })
	got := runCtl(t, t.Context(), "--socket", silent.path, "--timeout", "50ms", "stats")
	if got.code != 1 || got.stderr != "mypollctl: stats: no reply within 50ms (--timeout)\n" {
		t.Errorf("stats to a silent daemon = %d, %q; want 1 and a timeout message", got.code, got.stderr)
	}
}

// cancelOn is an io.Writer that cancels a context once it has seen marker.
type cancelOn struct {
	bytes.Buffer
	marker string
	cancel context.CancelFunc
}

func (w *cancelOn) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	if strings.Contains(w.String(), w.marker) {
		w.cancel()
	}
	return n, err
}

func listenReplies(req string) []string {
	if strings.HasPrefix(req, "subscribe") {
		return []string{
			"OK subscribe all", "EVT 3 timer 1 7 0 1000", "EVT 4 trigger 0 42 0 2000",
			"LOST 5 15 11 queue", "LOST 16 16 1 device", "EVT 17 timer_stopped 1 8 0 3000",
		}
	}
	return daemonReplies(req)
}

func TestRun_listen(t *testing.T) {
	f := startFake(t, hello, listenReplies)
	for _, tc := range []struct {
		json bool
		want string
	}{
		{false, `EVT 3 timer source=1 arg=7 aux=0 ts=1000ns
EVT 4 trigger source=0 arg=42 aux=0 ts=2000ns
LOST 5..15: 11 events not delivered (queue: this client was too slow)
LOST 16: 1 event not delivered (device: the daemon fell behind the device)
EVT 17 timer_stopped source=1 arg=8 reason=stop ts=3000ns
`},
		{true, `{"kind":"event","seq":3,"type":"timer","source_id":1,"arg":7,"aux":0,"timestamp_ns":1000}
{"kind":"event","seq":4,"type":"trigger","source_id":0,"arg":42,"aux":0,"timestamp_ns":2000}
{"kind":"lost","first":5,"last":15,"count":11,"reason":"queue"}
{"kind":"lost","first":16,"last":16,"count":1,"reason":"device"}
{"kind":"event","seq":17,"type":"timer_stopped","source_id":1,"arg":8,"aux":0,"timestamp_ns":3000}
`},
	} {
		ctx, cancel := context.WithCancel(t.Context())
		out := &cancelOn{marker: "17", cancel: cancel}
		var stderr bytes.Buffer
		args := []string{"--socket", f.path, "listen"}
		if tc.json {
			args = append(args, "--json")
		}
		// The marker cancels ctx as SIGINT would: listen ends with 0.
		code := run(ctx, args, strings.NewReader(""), out, &stderr)
		cancel()
		if code != 0 || stderr.Len() != 0 {
			t.Errorf("listen (json %v) = %d, stderr %q; want 0 and nothing", tc.json, code, stderr.String())
		}
		if out.String() != tc.want {
			t.Errorf("listen (json %v) stdout =\n%s\nwant\n%s", tc.json, out.String(), tc.want)
		}
	}
	if got := f.requests(); strings.Join(got, " ") != "subscribe all subscribe all" {
		t.Errorf("listen sent %q, want subscribe all twice", got)
	}
}

func TestRun_listenDaemonCloses(t *testing.T) {
	f := startFake(t, hello, func(req string) []string {
		return []string{"OK subscribe all", "EVT 1 trigger 0 0 0 5", "CLOSE"}
	})
	got := runCtl(t, t.Context(), "--socket", f.path, "listen")
	if got.code != 1 || got.stdout != "EVT 1 trigger source=0 arg=0 aux=0 ts=5ns\n" || got.stderr != "mypollctl: listen: mypolld closed the connection\n" {
		t.Errorf("listen until the daemon closes = %d, %q, %q", got.code, got.stdout, got.stderr)
	}
	runCtl(t, t.Context(), "--socket", f.path, "listen", "--set", "timer", "--from", "9")
	want := []string{"subscribe all", "subscribe timer from=9"}
	if got := f.requests(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

// TestRun_listenStopReason: listen names the reason of a timer_stopped
// event (PROTOCOL.md B.2) instead of printing aux; --json keeps aux.
func TestRun_listenStopReason(t *testing.T) {
	f := startFake(t, hello, func(req string) []string {
		return []string{
			"OK subscribe all", "EVT 6 timer_stopped 2 3 1 10", "EVT 7 timer_stopped 4 1 2 20",
			"EVT 8 timer_stopped 5 9 0 30", "EVT 9 timer_stopped 6 9 7 40", "EVT 10 timer 1 4 1 50", "CLOSE",
		}
	})
	got := runCtl(t, t.Context(), "--socket", f.path, "listen")
	want := `EVT 6 timer_stopped source=2 arg=3 reason=count ts=10ns
EVT 7 timer_stopped source=4 arg=1 reason=closed ts=20ns
EVT 8 timer_stopped source=5 arg=9 reason=stop ts=30ns
EVT 9 timer_stopped source=6 arg=9 reason=7 ts=40ns
EVT 10 timer source=1 arg=4 aux=1 ts=50ns
`
	if got.code != 1 || got.stdout != want {
		t.Errorf("listen = %d, stdout\n%s\nwant 1 (daemon closed) and\n%s", got.code, got.stdout, want)
	}
	got = runCtl(t, t.Context(), "--socket", f.path, "--json", "listen")
	if first, _, _ := strings.Cut(got.stdout, "\n"); first != `{"kind":"event","seq":6,"type":"timer_stopped","source_id":2,"arg":3,"aux":1,"timestamp_ns":10}` {
		t.Errorf("listen --json first line = %s, want aux kept", first)
	}
}

// TestRun_passThrough: values the daemon range-checks reach it unchanged,
// and --from 0 is sent, not dropped.
func TestRun_passThrough(t *testing.T) {
	f := startFake(t, hello, daemonReplies)
	for _, args := range [][]string{
		{"start-timer", "9", "4000000", "1"},
		{"subscribe", "all", "--from", "0"},
		{"subscribe", "nonsense"},
	} {
		if got := runCtl(t, t.Context(), append([]string{"--socket", f.path}, args...)...); got.code != 0 {
			t.Errorf("run(%q) = %d, %q", args, got.code, got.stderr)
		}
	}
	want := []string{"start_timer 9 4000000 1", "subscribe all from=0", "subscribe nonsense"}
	if got := f.requests(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

// TestRun_defaultSocket: without --socket or MYPOLL_SOCKET, mypollctl
// dials client.DefaultSocket, and the manual names that path.
func TestRun_defaultSocket(t *testing.T) {
	t.Setenv("MYPOLL_SOCKET", "")
	got := runCtl(t, t.Context(), "--timeout", "1s", "stats")
	if !strings.HasPrefix(got.stderr, "mypollctl: cannot connect to "+client.DefaultSocket+": ") && got.code != 0 {
		t.Errorf("stats with no --socket = %d, %q; want it to dial %s", got.code, got.stderr, client.DefaultSocket)
	}
	if !strings.Contains(manual, client.DefaultSocket) {
		t.Errorf("the manual does not name the default socket %s", client.DefaultSocket)
	}
}

// TestRun_listenFilter: listen --filter (repeatable, --set its older name)
// sends the union in canonical form; a bad item or more than 16 items is a
// usage error found before connecting.
func TestRun_listenFilter(t *testing.T) {
	f := startFake(t, hello, func(req string) []string {
		set, _, _ := strings.Cut(strings.TrimPrefix(req, "subscribe "), " ")
		return []string{"OK subscribe " + set, "CLOSE"}
	})
	many := make([]string, 17)
	for i := range many {
		many[i] = fmt.Sprintf("trigger:%d", i)
	}
	for _, tc := range []struct {
		args   []string
		req    string // the subscribe line, when the run gets to send it
		stderr string // for a usage error
	}{
		{args: []string{"--filter", "timer:3"}, req: "subscribe timer:3"},
		{args: []string{"--filter", "trigger:0x2a,timer:5", "--from", "9"}, req: "subscribe timer:5,trigger:42 from=9"},
		{args: []string{"--filter", "timer:3", "--filter", "trigger:42", "--set", "timer:1"}, req: "subscribe timer:1,timer:3,trigger:42"},
		{args: []string{"--filter", "timer:3", "--filter", "timer"}, req: "subscribe timer"},
		{args: []string{"--set", "timer,trigger"}, req: "subscribe all"},
		{args: []string{"--filter", "none"}, req: "subscribe none"},
		{args: nil, req: "subscribe all"},
		{args: []string{"--filter", "timer:8"}, stderr: `listen: invalid value "timer:8" for flag -filter: bad subscription filter: "timer:8": timer id must be 0..7`},
		{args: []string{"--set", "bogus"}, stderr: `invalid value "bogus" for flag -set`},
		{args: []string{"--filter", ""}, stderr: "bad subscription filter: empty"},
		{args: []string{"--filter", strings.Join(many[:9], ","), "--filter", strings.Join(many[9:], ",")}, stderr: "listen: --filter names 17 items, at most 16"},
	} {
		before := len(f.requests())
		got := runCtl(t, t.Context(), append([]string{"--socket", f.path, "listen"}, tc.args...)...)
		reqs := f.requests()[before:]
		if tc.stderr != "" {
			if got.code != 2 || !strings.Contains(got.stderr, tc.stderr) || len(reqs) != 0 {
				t.Errorf("listen %q = %d, %q, sent %q; want 2, %q, nothing sent", tc.args, got.code, got.stderr, reqs, tc.stderr)
			}
			continue
		}
		if len(reqs) != 1 || reqs[0] != tc.req {
			t.Errorf("listen %q sent %q, want %q", tc.args, reqs, tc.req)
		}
	}
}

// TestRun_listenResumeFilter: listen --resume subscribes with the filter
// on every connection.
func TestRun_listenResumeFilter(t *testing.T) {
	f := startFake(t, hello, func(req string) []string {
		return []string{"OK subscribe timer:3", "EVT 5 timer 3 1 0 100"}
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &cancelOn{marker: "EVT 5", cancel: cancel}
	var stderr bytes.Buffer
	code := run(ctx, []string{"--socket", f.path, "listen", "--resume", "--filter", "timer:3"}, strings.NewReader(""), out, &stderr)
	if code != 0 || out.String() != "EVT 5 timer source=3 arg=1 aux=0 ts=100ns\n" {
		t.Errorf("listen --resume --filter timer:3 = %d, %q, %q", code, out.String(), stderr.String())
	}
	if got := f.requests(); len(got) != 1 || got[0] != "subscribe timer:3 from=5" {
		t.Errorf("requests = %q, want subscribe timer:3 from=5", got)
	}
}
