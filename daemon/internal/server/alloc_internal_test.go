package server

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/txq"
)

// newEmuServer returns a server, not running, on an emulated device with a
// state dir, for tests that drive its methods directly.
func newEmuServer(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	s, err := New(Config{
		Socket:   filepath.Join(dir, "mypoll.sock"),
		Device:   emu.New(emu.Config{}),
		StateDir: filepath.Join(dir, "state"),
		Log:      hclog.NewNullLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestHandleRequest_allocs: a request's reply is encoded into the server's
// scratch buffer and copied into the TX queue, so answering the common
// requests allocates nothing beyond what the device calls themselves
// allocate (the emulated device allocates in its timer calls; the kernel
// device does not). ERR replies are not counted here.
func TestHandleRequest_allocs(t *testing.T) {
	s := newEmuServer(t)
	c := &client{srv: s, tx: txq.New(1 << 16), log: hclog.NewNullLogger(), canControl: true}
	c.feed = newFeed(c.tx, c.eventLimit(), 1, nil)
	timerCalls := func() {
		_ = s.dev.TimerStart(devabi.Timer{ID: 3, PeriodNS: 1e9})
		for id := range uint32(devabi.MaxTimers) {
			_, _ = s.dev.TimerGet(id)
		}
		_ = s.dev.TimerStop(3)
	}
	for _, tc := range []struct {
		lines  []string
		device func() // the device calls the requests make
	}{
		{[]string{"echo hello"}, nil},
		{[]string{"help"}, nil},
		{[]string{"stats"}, nil},
		{[]string{"subscribe all"}, nil},
		{[]string{"subscribe timer:3,trigger:0x10,trigger:7,timer"}, nil},
		{[]string{"trigger 7"}, func() { _, _ = s.dev.Trigger(7, 1) }},
		{[]string{"start_timer 3 1000 0", "timers", "stop_timer 3"}, timerCalls},
	} {
		lines := tc.lines
		var want float64
		if tc.device != nil {
			want = testing.AllocsPerRun(50, tc.device)
		}
		reqs := make([][]byte, len(lines))
		for i, l := range lines {
			reqs[i] = []byte(l)
		}
		n := testing.AllocsPerRun(50, func() {
			for i, line := range reqs {
				s.handleRequest(c, line)
				if got, _ := c.tx.Peek(); c.closed() || !bytes.HasPrefix(got, []byte("OK ")) {
					t.Fatalf("handleRequest(%q) queued %q, want an OK line", lines[i], got)
				}
				c.tx.Clear()
			}
			c.dirty = false
			s.dirty = s.dirty[:0]
		})
		if n != want {
			t.Errorf("handleRequest(%q) allocs = %v, want %v (the device calls alone)", lines, n, want)
		}
	}
}

// BenchmarkHandleRequest: parse, execute and queue the reply of one request
// (no device calls).
func BenchmarkHandleRequest(b *testing.B) {
	s := newEmuServer(b)
	c := &client{srv: s, tx: txq.New(1 << 16), log: hclog.NewNullLogger(), canControl: true}
	c.feed = newFeed(c.tx, c.eventLimit(), 1, nil)
	for _, line := range []string{"echo hello", "help", "stats", "subscribe all", "subscribe timer:3,trigger:7,trigger:0x10"} {
		b.Run(line, func(b *testing.B) {
			l := []byte(line)
			b.ReportAllocs()
			for b.Loop() {
				s.handleRequest(c, l)
				c.tx.Clear()
				c.dirty = false
				s.dirty = s.dirty[:0]
			}
		})
	}
}
