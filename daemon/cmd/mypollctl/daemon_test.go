package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/server"
)

// realDaemon runs the real server with the emu device and returns its socket.
func realDaemon(t *testing.T, opts ...func(*server.Config)) string {
	t.Helper()
	dir := t.TempDir()
	cfg := server.Config{
		Socket: filepath.Join(dir, "mypoll.sock"), History: server.DefaultHistory,
		Device: emu.New(emu.Config{}), Log: hclog.NewNullLogger(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run() }()
	t.Cleanup(func() {
		srv.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
		srv.Close()
	})
	return cfg.Socket
}

func ctl(t *testing.T, sock string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	code := run(ctx, append([]string{"--socket", sock}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestMypollctl_AgainstDaemon(t *testing.T) {
	sock := realDaemon(t)
	tests := []struct {
		args     []string
		code     int
		out, err string // substrings
	}{
		{[]string{"echo", "hello world"}, 0, "hello world", ""},
		{[]string{"trigger", "0x2a", "3"}, 0, "1", ""},
		{[]string{"start-timer", "2", "500"}, 0, "", ""},
		{[]string{"start-timer", "2", "500"}, 1, "", "EBUSY"},
		{[]string{"timers"}, 0, "2", ""},
		{[]string{"stop-timer", "2"}, 0, "", ""},
		{[]string{"stop-timer", "2"}, 1, "", "ENOENT"},
		{[]string{"trigger", "1", "0"}, 2, "", ""},
		{[]string{"stats"}, 0, "clients", ""},
		{[]string{"--json", "stats"}, 0, `"clients"`, ""},
		{[]string{"--json", "stop-timer", "7"}, 1, "", `"ENOENT"`},
		{[]string{"open-device", "--count", "1"}, 1, "", "ENODEV"}, // emu has no node; the QEMU tests cover the real one
	}
	for _, tt := range tests {
		code, out, errs := ctl(t, sock, tt.args...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errs, tt.err) {
			t.Errorf("mypollctl %q = exit %d, stdout %q, stderr %q; want exit %d with %q / %q",
				tt.args, code, out, errs, tt.code, tt.out, tt.err)
		}
	}
	if code, _, errs := ctl(t, filepath.Join(t.TempDir(), "none.sock"), "stats"); code != 3 || !strings.Contains(errs, "cannot connect") {
		t.Errorf("no daemon: exit %d %q, want exit 3 'cannot connect'", code, errs)
	}
}

// TestMypollctl_Listen streams events, resumes with --from and prints a
// gap (LOST) so a person sees it.
func TestMypollctl_Listen(t *testing.T) {
	sock := realDaemon(t, func(c *server.Config) { c.History = 8 })
	// A witness sees all 20 events, so they are in the daemon's history
	// (which keeps 13..20): a listener from seq 3 gets LOST 3..12 restart,
	// then 13..20.
	w := witness(t, sock)
	if _, _, err := w.Trigger(t.Context(), 5, 20); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if m, err := w.Next(t.Context()); err != nil || m.Event == nil {
			t.Fatalf("witness: %+v, %v", m, err)
		}
	}
	for _, jsonOut := range []bool{false, true} {
		pr, pw := io.Pipe()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan int, 1)
		args := []string{"--socket", sock, "listen", "--from", "3"}
		if jsonOut {
			args = append([]string{"--json"}, args...)
		}
		go func() { done <- run(ctx, args, strings.NewReader(""), pw, io.Discard); pw.Close() }()
		r := bufio.NewReader(pr)
		var lines []string
		for len(lines) < 9 {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("listen output ended after %q: %v", lines, err)
			}
			lines = append(lines, strings.TrimSpace(l))
		}
		cancel()
		go io.Copy(io.Discard, r)
		if code := <-done; code != 0 {
			t.Errorf("listen exit code after cancel = %d, want 0", code)
		}
		if !jsonOut {
			if lines[0] != "LOST 3..12: 10 events not delivered (restart: not retained across a daemon restart or module reload)" {
				t.Errorf("gap line = %q", lines[0])
			}
			if !strings.HasPrefix(lines[1], "EVT 13 trigger ") || !strings.HasPrefix(lines[8], "EVT 20 trigger ") {
				t.Errorf("events = %q", lines[1:])
			}
			continue
		}
		var lost struct {
			Kind               string
			First, Last, Count uint64
			Reason             string
		}
		if err := json.Unmarshal([]byte(lines[0]), &lost); err != nil || lost.Kind != "lost" || lost.First != 3 || lost.Last != 12 || lost.Count != 10 || lost.Reason != "restart" {
			t.Errorf("json gap = %q (%+v, %v)", lines[0], lost, err)
		}
		var ev struct {
			Kind string
			Seq  uint64
			Arg  uint64
		}
		if err := json.Unmarshal([]byte(lines[8]), &ev); err != nil || ev.Kind != "event" || ev.Seq != 20 || ev.Arg != 5 {
			t.Errorf("json event = %q (%+v, %v)", lines[8], ev, err)
		}
	}
}

// TestMypollctl_ListenResume: listen --resume follows events across a
// daemon restart, prints the reconnect, and neither repeats nor skips a seq.
func TestMypollctl_ListenResume(t *testing.T) {
	for _, jsonOut := range []bool{false, true} {
		dev := emu.New(emu.Config{})
		dir := t.TempDir()
		sock := filepath.Join(dir, "mypoll.sock")
		cfg := server.Config{
			Socket: sock, Device: dev, History: server.DefaultHistory,
			StateDir: filepath.Join(dir, "state"), Log: hclog.NewNullLogger(),
		}
		start := func() (stop func()) {
			srv, err := server.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- srv.Run() }()
			return func() {
				srv.Shutdown()
				if err := <-done; err != nil {
					t.Errorf("Run() = %v", err)
				}
				srv.Close()
			}
		}
		stop := start()
		f, err := dev.OpenFile(true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Trigger(1, 2); err != nil { // seqs 1, 2: before listen
			t.Fatal(err)
		}

		pr, pw := io.Pipe()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan int, 1)
		args := []string{"--socket", sock, "listen", "--resume", "--from", "2"}
		if jsonOut {
			args = append([]string{"--json"}, args...)
		}
		go func() { done <- run(ctx, args, strings.NewReader(""), pw, io.Discard); pw.Close() }()
		r := bufio.NewReader(pr)
		next := func() string {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("listen output ended: %v", err)
			}
			return strings.TrimSpace(l)
		}
		var lines []string
		lines = append(lines, next()) // seq 2: listen is subscribed
		f.Trigger(2, 2)               // 3, 4
		lines = append(lines, next(), next())
		stop()
		f.Trigger(3, 3) // 5..7 while the daemon is down
		stop = start()
		lines = append(lines, next(), next(), next(), next())
		f.Trigger(4, 1) // 8: live again
		lines = append(lines, next())
		cancel()
		go io.Copy(io.Discard, r)
		if code := <-done; code != 0 {
			t.Errorf("listen --resume exit code after cancel = %d, want 0", code)
		}
		stop()
		f.Close()

		var got []string
		for _, l := range lines {
			if jsonOut {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("not JSON: %q", l)
				}
				switch m["kind"] {
				case "event":
					got = append(got, fmt.Sprintf("EVT %v", m["seq"]))
				case "reconnect":
					got = append(got, fmt.Sprintf("RECONNECT from %v new %v", m["from"], m["new_instance"]))
				default:
					got = append(got, l)
				}
				continue
			}
			f := strings.Fields(l)
			switch {
			case f[0] == "EVT":
				got = append(got, "EVT "+f[1])
			case f[0] == "RECONNECT" && strings.Contains(l, "resumed from seq 5 after"):
				got = append(got, fmt.Sprintf("RECONNECT from 5 new %v", strings.Contains(l, "NEW")))
			default:
				got = append(got, l)
			}
		}
		want := []string{"EVT 2", "EVT 3", "EVT 4", "RECONNECT from 5 new false", "EVT 5", "EVT 6", "EVT 7", "EVT 8"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("listen --resume (json %v) printed\n%s\nwant\n%s\n(raw %q)", jsonOut, strings.Join(got, "\n"), strings.Join(want, "\n"), lines)
		}
	}
}

// TestMypollctl_ListenFilter: listen --filter against the daemon replays
// exactly the events the filter matches (client.Filter.Match on what a
// witness subscribed to all received), in order, and nothing else.
func TestMypollctl_ListenFilter(t *testing.T) {
	sock := realDaemon(t)
	events := filterWorkload(t, sock)
	for _, f := range []string{"timer", "trigger"} {
		checkListenFilter(t, sock, f, events)
	}
}

// TestMypollctl_ListenFilterSources: the same for source items (PROTOCOL.md
// A.5): timer:<id> and trigger:<payload>, alone and with a class.
func TestMypollctl_ListenFilterSources(t *testing.T) {
	sock := realDaemon(t)
	events := filterWorkload(t, sock)
	for _, f := range []string{"timer:1", "trigger:8", "timer:2,trigger:7", "trigger,timer:1", "timer,trigger:0x8"} {
		checkListenFilter(t, sock, f, events)
	}
}

// witness is a client subscribed to all, closed at the end of the test.
func witness(t *testing.T, sock string) *client.Conn {
	t.Helper()
	w, err := client.Dial(t.Context(), sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Subscribe(t.Context(), "all", 0); err != nil {
		t.Fatal(err)
	}
	return w
}

// filterWorkload makes the daemon emit two triggers with payload 7, timer
// 1's three ticks and stop, a trigger with payload 8, timer 2's two ticks
// and stop and a trigger with payload 9, and returns them as a witness
// subscribed to all received them.
func filterWorkload(t *testing.T, sock string) []client.Event {
	t.Helper()
	w := witness(t, sock)
	var events []client.Event
	next := func(until func(client.Event) bool) {
		for {
			m, err := w.Next(t.Context())
			if err != nil || m.Event == nil {
				t.Fatalf("witness: %+v, %v", m, err)
			}
			events = append(events, *m.Event)
			if until(*m.Event) {
				return
			}
		}
	}
	for _, step := range []struct {
		payload uint64
		count   uint32
		timer   uint32
		ticks   uint64
	}{{payload: 7, count: 2}, {timer: 1, ticks: 3}, {payload: 8, count: 1}, {timer: 2, ticks: 2}, {payload: 9, count: 1}} {
		if step.count > 0 {
			first, n, err := w.Trigger(t.Context(), step.payload, step.count)
			if err != nil {
				t.Fatal(err)
			}
			next(func(e client.Event) bool { return e.Seq == first+uint64(n)-1 })
			continue
		}
		if err := w.StartTimer(t.Context(), step.timer, 10*time.Millisecond, step.ticks); err != nil {
			t.Fatal(err)
		}
		next(func(e client.Event) bool { return e.Type == "timer_stopped" })
	}
	return events
}

// checkListenFilter runs listen --filter filter from the workload's first
// seq and checks it prints the matching events, and only them.
func checkListenFilter(t *testing.T, sock, filter string, events []client.Event) {
	t.Helper()
	f, err := client.ParseFilter(filter)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range events {
		if f.Match(e) {
			want = append(want, fmt.Sprintf("EVT %d %s source=%d arg=%d", e.Seq, e.Type, e.SourceID, e.Arg))
		}
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	args := []string{"--socket", sock, "listen", "--filter", filter, "--from", fmt.Sprint(events[0].Seq)}
	go func() { done <- run(ctx, args, strings.NewReader(""), pw, io.Discard); pw.Close() }()
	// Line by line: an event the filter should have skipped shows up in
	// place of the next wanted one. (One after the last wanted one would go
	// unseen.)
	r := bufio.NewReader(pr)
	var got []string
	for len(got) < len(want) {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("listen --filter %s output ended after %q: %v", filter, got, err)
		}
		fields := strings.Fields(l)
		got = append(got, strings.Join(fields[:min(len(fields), 5)], " "))
	}
	cancel()
	go io.Copy(io.Discard, r)
	if code := <-done; code != 0 {
		t.Errorf("listen --filter %s exit code after cancel = %d, want 0", filter, code)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("listen --filter %s printed\n%s\nwant\n%s", filter, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestMypollctl_SubscribeCanonical: the daemon's canonical set (PROTOCOL.md
// A.5), which subscribe prints, is client.Filter's String of the same
// input, and the sets the client refuses the daemon refuses (EINVAL).
func TestMypollctl_SubscribeCanonical(t *testing.T) {
	sock := realDaemon(t)
	for _, set := range []string{
		"all", "none", "timer", "trigger", "trigger,timer", "timer:3", "timer:07,timer:0,timer:7",
		"trigger:0x2a,trigger:42,timer:5", "trigger:9,timer:2,timer", "trigger:1,trigger,timer:4",
		"trigger:18446744073709551615,trigger:0", "timer,trigger,timer:3,trigger:5",
		"timer:0,timer:1,timer:2,timer:3,timer:4,timer:5,timer:6,timer:7,trigger:1,trigger:2,trigger:3,trigger:4,trigger:5,trigger:6,trigger:7,trigger:8",
	} {
		f, err := client.ParseFilter(set)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", set, err)
		}
		if code, out, errs := ctl(t, sock, "subscribe", set); code != 0 || out != "OK subscribe "+f.String()+"\n" {
			t.Errorf("subscribe %s = %d, %q, %q; want OK subscribe %s", set, code, out, errs, f)
		}
	}
	for _, set := range []string{"timer:8", "trigger:", "timer,", "all,timer", "trigger:0x", "timer:1:2",
		"timer,timer,timer,timer,timer,timer,timer,timer,timer,timer,timer,timer,timer,timer,timer,timer,timer"} {
		if _, err := client.ParseFilter(set); err == nil {
			t.Errorf("ParseFilter(%q) accepted it", set)
		}
		if code, _, errs := ctl(t, sock, "subscribe", set); code != 1 || !strings.Contains(errs, "(EINVAL)") {
			t.Errorf("subscribe %s = %d, %q; want the daemon's EINVAL", set, code, errs)
		}
	}
}
