package server_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/server"
)

var helloRE = regexp.MustCompile(`^HELLO mypoll 1 ([0-9a-f]{16}) ([0-9]+)$`)

func TestServer_Greeting(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	m := helloRE.FindStringSubmatch(c.Hello)
	if m == nil {
		t.Fatalf("greeting = %q, want HELLO mypoll 1 <16 hex> <next_seq>", c.Hello)
	}
	f, _ := d.dev.OpenFile(false)
	defer f.Close()
	info, _ := f.Info()
	if want := fmt.Sprintf("%016x", info.InstanceID); m[1] != want {
		t.Errorf("instance_id = %s, want %s", m[1], want)
	}
	if m[2] != "1" {
		t.Errorf("next_seq on a fresh device = %s, want 1", m[2])
	}
	// next_seq follows the device.
	if r := c.Do("trigger 5 3"); r != "OK trigger 1 3" {
		t.Fatalf("trigger 5 3 = %q, want OK trigger 1 3", r)
	}
	c2 := d.dial(t)
	if m := helloRE.FindStringSubmatch(c2.Hello); m == nil || m[2] != "4" {
		t.Errorf("greeting after 3 events = %q, want next_seq 4", c2.Hello)
	}
}

func TestServer_GreetingNoDevice(t *testing.T) {
	d := startDaemon(t, withDevice(nil))
	c := d.dial(t)
	if c.Hello != "HELLO mypoll 1 0000000000000000 1" {
		t.Errorf("greeting without device = %q, want HELLO mypoll 1 0000000000000000 1", c.Hello)
	}
	for _, req := range []string{"trigger", "start_timer 0 100", "stop_timer 0", "open_device"} {
		verb := fields(req)[0]
		if r := c.Do(req); !strings.HasPrefix(r, "ERR "+verb+" ENODEV ") {
			t.Errorf("%s without device = %q, want ERR %s ENODEV ...", req, r, verb)
		}
	}
	if r := c.Do("echo still here"); r != "OK echo still here" {
		t.Errorf("echo = %q", r)
	}
}

// TestServer_Requests checks every request's OK form and every ERR form of
// PROTOCOL.md A.4/A.5 (open_device is A.9, tested separately).
func TestServer_Requests(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	c.Send("subscribe none") // keep events out of this test's replies
	if r, _ := c.Reply(); r != "OK subscribe none" {
		t.Fatalf("subscribe none = %q", r)
	}
	tests := []struct {
		req  string
		want string // exact reply, or a prefix ending in a space for ERR lines
	}{
		{"echo", "OK echo"},
		{"echo hello world", "OK echo hello world"},
		{"echo   spaced  text\t", "OK echo   spaced  text\t"},
		{"echo\tx", "OK echo x"},
		{"trigger", "OK trigger 1 1"},
		{"trigger 7", "OK trigger 2 1"},
		{"trigger 0x10 4", "OK trigger 3 4"},
		{"trigger 1 0", "ERR trigger EINVAL "},
		{"trigger 1 4097", "ERR trigger EINVAL "},
		{"trigger x", "ERR trigger EINVAL "},
		{"trigger 18446744073709551616", "ERR trigger EINVAL "},
		{"trigger 1 2 3", "ERR trigger EINVAL "},
		{"start_timer 3 1000", "OK start_timer 3"},
		{"start_timer 3 1000", "ERR start_timer EBUSY "},
		{"start_timer 5 2000 7", "OK start_timer 5"},
		{"timers", "OK timers 3:1000:0:0 5:2000:0:7"},
		{"start_timer 8 100", "ERR start_timer EINVAL "},
		{"start_timer 0 0", "ERR start_timer EINVAL "},
		{"start_timer 0 3600001", "ERR start_timer EINVAL "},
		{"start_timer 0", "ERR start_timer EINVAL "},
		{"stop_timer 3", "OK stop_timer 3"},
		{"stop_timer 3", "ERR stop_timer ENOENT "},
		{"stop_timer 5", "OK stop_timer 5"},
		{"stop_timer 9", "ERR stop_timer EINVAL "},
		{"stop_timer", "ERR stop_timer EINVAL "},
		{"timers", "OK timers"},
		{"subscribe trigger", "OK subscribe trigger"},
		{"subscribe timer,trigger", "OK subscribe all"},
		{"subscribe bogus", "ERR subscribe EINVAL "},
		{"subscribe", "ERR subscribe EINVAL "},
		{"subscribe none", "OK subscribe none"},
		{"help", "OK help echo trigger start_timer stop_timer timers subscribe stats open_device help quit"},
		{"frobnicate now", "ERR frobnicate ENOSYS "},
		{"ECHO x", "ERR ECHO ENOSYS "},
		{strings.Repeat("v", 40) + " x", "ERR " + strings.Repeat("v", 32) + " ENOSYS "},
	}
	for _, tt := range tests {
		got := c.Do(tt.req)
		if strings.HasSuffix(tt.want, " ") && strings.HasPrefix(tt.want, "ERR ") {
			if !strings.HasPrefix(got, tt.want) || len(got) == len(tt.want) {
				t.Errorf("%q -> %q, want %q<message>", tt.req, got, tt.want)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("%q -> %q, want %q", tt.req, got, tt.want)
		}
	}
}

func TestServer_Stats(t *testing.T) {
	d := startDaemon(t, func(c *server.Config) { c.MaxClients = 7 })
	c := d.dialSub(t, "all")
	c.Do("trigger 1 5")
	c.Events(5) // the daemon has broadcast them
	r := c.Do("stats")
	if !strings.HasPrefix(r, "OK stats ") {
		t.Fatalf("stats = %q", r)
	}
	kv := map[string]string{}
	for _, f := range fields(r)[2:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("stats field %q is not key=value", f)
		}
		kv[k] = v
	}
	want := map[string]string{"clients": "1", "max_clients": "7", "events": "5", "lost_device": "0", "lost_queue": "0", "next_seq": "6"}
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("stats %s = %q, want %q (reply %q)", k, kv[k], v, r)
		}
	}
	for _, k := range []string{"uptime_ms", "instance_id"} {
		if _, ok := kv[k]; !ok {
			t.Errorf("stats lacks %s: %q", k, r)
		}
	}
	if m := helloRE.FindStringSubmatch(c.Hello); kv["instance_id"] != m[1] {
		t.Errorf("stats instance_id %s != HELLO's %s", kv["instance_id"], m[1])
	}
}

func TestServer_Framing(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	c.Do("subscribe none")

	// E2BIG once for an over-long line; the rest of it is discarded.
	long := strings.Repeat("a", 3000)
	c.SendRaw("echo " + long + "\n")
	if r := c.Line(); !strings.HasPrefix(r, "ERR - E2BIG ") {
		t.Fatalf("over-long request -> %q, want ERR - E2BIG ...", r)
	}
	if r := c.Do("echo after"); r != "OK echo after" {
		t.Fatalf("after E2BIG: echo -> %q (connection must stay usable, one ERR only)", r)
	}
	// Exactly 1024 bytes including '\n' is allowed; 1025 is not.
	ok := "echo " + strings.Repeat("b", 1024-len("echo ")-1)
	if r := c.Do(ok); r != "OK "+ok {
		t.Errorf("1024-byte request -> %.40q...", r)
	}
	if r := c.Do(ok + "c"); !strings.HasPrefix(r, "ERR - E2BIG ") {
		t.Errorf("1025-byte request -> %.40q, want E2BIG", r)
	}
	// Non-printable bytes.
	for _, bad := range []string{"echo a\x00b", "echo \x7f", "echo caf\xc3\xa9", "\x01"} {
		if r := c.Do(bad); !strings.HasPrefix(r, "ERR - EILSEQ ") {
			t.Errorf("%q -> %q, want ERR - EILSEQ ...", bad, r)
		}
	}
	// CRLF, empty lines, tabs.
	c.SendRaw("\n\r\n  \necho crlf\r\n")
	if r, _ := c.Reply(); r != "OK echo crlf" {
		t.Errorf("CRLF request -> %q, want OK echo crlf", r)
	}
	c.SendRaw("trigger\t\t0x2\t  3\n")
	if r, _ := c.Reply(); !strings.HasPrefix(r, "OK trigger ") || !strings.HasSuffix(r, " 3") {
		t.Errorf("tab-separated trigger -> %q", r)
	}
	// A request split across writes.
	c.SendRaw("ec")
	c.SendRaw("ho split\n")
	if r, _ := c.Reply(); r != "OK echo split" {
		t.Errorf("split request -> %q", r)
	}
}

func TestServer_Pipelining(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	const n = 10000
	var b strings.Builder
	b.WriteString("subscribe none\n")
	for i := range n {
		fmt.Fprintf(&b, "echo %d\n", i)
	}
	done := make(chan struct{})
	go func() { defer close(done); c.SendRaw(b.String()) }()
	if r := c.Line(); r != "OK subscribe none" {
		t.Fatalf("first reply = %q", r)
	}
	for i := range n {
		if r, want := c.Line(), "OK echo "+strconv.Itoa(i); r != want {
			t.Fatalf("reply %d = %q, want %q", i, r, want)
		}
	}
	<-done
}

func TestServer_Quit(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	c.Send("echo one", "quit", "echo never")
	if r := c.Line(); r != "OK echo one" {
		t.Fatalf("reply 1 = %q", r)
	}
	for {
		r := c.Line()
		if r == "OK quit" {
			break
		}
		if !strings.HasPrefix(r, "EVT ") && !strings.HasPrefix(r, "LOST ") {
			t.Fatalf("reply 2 = %q, want OK quit", r)
		}
	}
	c.ExpectEOF()
}

// TestServer_HalfClose: a client that sends requests and shuts down its
// write side still gets every reply.
func TestServer_HalfClose(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	c.Send("subscribe none", "echo a", "echo b")
	c.Net().(interface{ CloseWrite() error }).CloseWrite()
	for _, want := range []string{"OK subscribe none", "OK echo a", "OK echo b"} {
		if r := c.Line(); r != want {
			t.Fatalf("reply = %q, want %q", r, want)
		}
	}
	c.ExpectEOF()
}
