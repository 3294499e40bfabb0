package logx_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/logx"
)

// fakeClock runs the functions given to AfterFunc when Advance passes
// their time, in time order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Duration
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Duration
	f  func()
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, fakeTimer{at: c.now + d, f: f})
}

// Advance moves the clock d on, running what falls due on the way.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now + d
	for {
		i := -1
		for j, t := range c.timers {
			if t.at <= end && (i < 0 || t.at < c.timers[i].at) {
				i = j
			}
		}
		if i < 0 {
			break
		}
		t := c.timers[i]
		c.timers = slices.Delete(c.timers, i, i+1)
		c.now = t.at
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// newLimited returns a limited logger at level writing lines without time
// stamps to the returned buffer.
func newLimited(level hclog.Level) (hclog.Logger, *fakeClock, *syncBuffer) {
	var out syncBuffer
	clock := &fakeClock{}
	base := hclog.New(&hclog.LoggerOptions{Name: "d", Level: level, Output: &out, DisableTime: true})
	return logx.Limit(base, 30*time.Second, clock), clock, &out
}

// syncBuffer is a bytes.Buffer for loggers on several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns and forgets what was written, one string per line.
func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	str := strings.TrimSuffix(s.b.String(), "\n")
	s.b.Reset()
	if str == "" {
		return nil
	}
	return strings.Split(str, "\n")
}

func expectLines(t *testing.T, out *syncBuffer, want ...string) {
	t.Helper()
	if got := out.lines(); !slices.Equal(got, want) {
		t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLimit_flood: 20,000 copies of one warning within a window (the
// bridge's garbage remote messages, issue 19 item 13) give the first line
// and, when the window ends, one count; a flood that goes on gives one
// count per window; a quiet window ends it, and the next one is logged in
// full again.
func TestLimit_flood(t *testing.T) {
	l, clock, out := newLimited(hclog.Info)
	for i := range 20000 {
		l.Warn("remote request dropped", "n", i)
	}
	expectLines(t, out, `[WARN]  d: remote request dropped: n=0`)
	clock.Advance(30 * time.Second)
	expectLines(t, out, `[WARN]  d: remote request dropped: more_like_this=19999 in_last=30s`)
	for range 3 {
		for range 100 {
			clock.Advance(100 * time.Millisecond)
			l.Warn("remote request dropped", "n", 1)
		}
		clock.Advance(20 * time.Second)
		expectLines(t, out, `[WARN]  d: remote request dropped: more_like_this=100 in_last=30s`)
	}
	clock.Advance(30 * time.Second) // quiet: nothing to count
	expectLines(t, out)
	l.Warn("remote request dropped", "n", 2)
	expectLines(t, out, `[WARN]  d: remote request dropped: n=2`)
}

// TestLimit_keys: messages, levels and logger names are counted apart;
// With shares its parent's count; Info and Debug lines, and lines below
// the logger's level, are never limited or counted.
func TestLimit_keys(t *testing.T) {
	l, clock, out := newLimited(hclog.Debug)
	srv := l.Named("server")
	for range 3 {
		l.Warn("a")
		l.Error("a")
		l.Warn("b")
		srv.Warn("a")
		srv.With("client_id", 7).Warn("a")
		l.Info("started")
		l.Debug("client connected")
		l.Trace("hidden")
	}
	expectLines(t, out,
		`[WARN]  d: a`, `[ERROR] d: a`, `[WARN]  d: b`, `[WARN]  d.server: a`, `[INFO]  d: started`, `[DEBUG] d: client connected`,
		`[INFO]  d: started`, `[DEBUG] d: client connected`,
		`[INFO]  d: started`, `[DEBUG] d: client connected`)
	clock.Advance(30 * time.Second)
	got := out.lines()
	slices.Sort(got)
	want := []string{
		`[ERROR] d: a: more_like_this=2 in_last=30s`,
		`[WARN]  d: a: more_like_this=2 in_last=30s`,
		`[WARN]  d: b: more_like_this=2 in_last=30s`,
		`[WARN]  d.server: a: more_like_this=5 in_last=30s`,
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("counts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	quiet, clock, out := newLimited(hclog.Error)
	for range 10 {
		quiet.Warn("below the level")
	}
	clock.Advance(time.Minute)
	expectLines(t, out)
}

// TestLimit_concurrent: loggers of one Limit used from many goroutines
// (run with -race) log each message once and count the rest.
func TestLimit_concurrent(t *testing.T) {
	l, clock, out := newLimited(hclog.Info)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			w := l.With("g", g)
			for range 1000 {
				w.Warn("busy")
			}
		})
	}
	wg.Wait()
	if got := out.lines(); len(got) != 1 || !strings.HasPrefix(got[0], "[WARN]  d: busy: g=") {
		t.Errorf("logged %q, want one busy line", got)
	}
	clock.Advance(30 * time.Second)
	// The count line has the implied arguments of the first line's logger.
	want := fmt.Sprintf(` more_like_this=%d in_last=30s`, 8*1000-1)
	if got := out.lines(); len(got) != 1 || !strings.HasPrefix(got[0], "[WARN]  d: busy: g=") || !strings.HasSuffix(got[0], want) {
		t.Errorf("logged %q, want one busy line ending in %q", got, want)
	}
}

// TestLimit_standardLogger: lines of the standard library logger it
// returns go through the limit too.
func TestLimit_standardLogger(t *testing.T) {
	l, _, out := newLimited(hclog.Info)
	std := l.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn})
	for range 5 {
		std.Print("paho: connection lost")
	}
	expectLines(t, out, `[WARN]  d: paho: connection lost`)
}
