package logx

import (
	"io"
	"log"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultEvery is the window of Limit in the daemons: a repeated warning
// costs at most one line and one count line per 30 s.
const DefaultEvery = 30 * time.Second

// maxKeys bounds the messages Limit tracks at once. Messages are constant
// phrases (STYLE.md §4), so it is never reached in practice; beyond it,
// lines pass unlimited rather than being lost.
const maxKeys = 256

// Clock schedules the end of a window: f runs once, d from now, on any
// goroutine. The real clock is time.AfterFunc; tests advance a fake one.
type Clock interface {
	AfterFunc(d time.Duration, f func())
}

// RealClock is the Clock of time.AfterFunc.
type RealClock struct{}

// AfterFunc runs f in its own goroutine after d (time.AfterFunc).
func (RealClock) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// Limit returns a logger that passes every line to l, except repeated Warn
// and Error lines: the first line of a message (same logger name, level and
// message, whatever its arguments) is logged at once; the same message
// again within every of it is counted instead, and when the window ends
// the count is logged as the message with "more_like_this"=N and
// "in_last"=every, and a new window begins. A window without repeats ends
// the suppression, so the next occurrence is logged in full again. Trace,
// Debug and Info lines are never limited: they are asked for, or
// lifecycle. The loggers it returns (also from With and Named) share one
// count and may be used from any goroutine. The count line is logged from
// the clock's goroutine; a count still open when the process exits is not
// logged.
func Limit(l hclog.Logger, every time.Duration, clock Clock) hclog.Logger {
	return &limited{Logger: l, lim: &limiter{every: every, clock: clock, seen: make(map[limitKey]*window)}}
}

// limiter is the state Limit's loggers share.
type limiter struct {
	every time.Duration
	clock Clock

	mu   sync.Mutex
	seen map[limitKey]*window // under mu
}

type limitKey struct {
	name  string
	level hclog.Level
	msg   string
}

// window is one message's current window.
type window struct {
	log  hclog.Logger // the logger of its first line, for the count line
	more int          // lines suppressed in this window
}

// allow reports whether a line of key may be logged, and counts it if not.
func (m *limiter) allow(key limitKey, l hclog.Logger) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w, ok := m.seen[key]; ok {
		w.more++
		return false
	}
	if len(m.seen) >= maxKeys {
		return true
	}
	m.seen[key] = &window{log: l}
	m.clock.AfterFunc(m.every, func() { m.end(key) })
	return true
}

// end closes key's window: it logs the count of a window with repeats and
// opens the next one, or forgets a key that was quiet.
func (m *limiter) end(key limitKey) {
	m.mu.Lock()
	w := m.seen[key]
	more := w.more
	if more == 0 {
		delete(m.seen, key)
	} else {
		w.more = 0
		m.clock.AfterFunc(m.every, func() { m.end(key) })
	}
	m.mu.Unlock()
	if more > 0 {
		w.log.Log(key.level, key.msg, "more_like_this", more, "in_last", m.every)
	}
}

// limited is a logger of Limit.
type limited struct {
	hclog.Logger
	lim *limiter
}

// Log logs msg through the limiter.
func (l *limited) Log(level hclog.Level, msg string, args ...any) {
	if level >= hclog.Warn && l.Logger.GetLevel() <= level &&
		!l.lim.allow(limitKey{name: l.Logger.Name(), level: level, msg: msg}, l.Logger) {
		return
	}
	l.Logger.Log(level, msg, args...)
}

func (l *limited) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *limited) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *limited) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *limited) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *limited) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *limited) With(args ...any) hclog.Logger {
	return &limited{Logger: l.Logger.With(args...), lim: l.lim}
}

func (l *limited) Named(name string) hclog.Logger {
	return &limited{Logger: l.Logger.Named(name), lim: l.lim}
}

func (l *limited) ResetNamed(name string) hclog.Logger {
	return &limited{Logger: l.Logger.ResetNamed(name), lim: l.lim}
}

func (l *limited) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

func (l *limited) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return stdWriter{l, opts}
}

// stdWriter logs each Write as one line of l, at opts.ForceLevel or Info:
// a standard library logger writing through a wrapped logger.
type stdWriter struct {
	l    hclog.Logger
	opts *hclog.StandardLoggerOptions
}

func (w stdWriter) Write(p []byte) (int, error) {
	level := hclog.Info
	if w.opts != nil && w.opts.ForceLevel != hclog.NoLevel {
		level = w.opts.ForceLevel
	}
	w.l.Log(level, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
