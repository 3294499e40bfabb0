package logx_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/logx"
)

func TestRedactURLs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"tcp://user:s3cret@broker:1883", "tcp://user:xxxxx@broker:1883"},
		{"ssl://u:p@ss:w0rd@h:8883/x?y#z", "ssl://u:xxxxx@h:8883/x?y#z"},
		{"ssl://u:pa/ss@h", "ssl://u:xxxxx@h"},
		{"tcp://:onlypass@h", "tcp://:xxxxx@h"},
		{"tcp://a:b@h1:1883,ssl://c:d@h2:8883", "tcp://a:xxxxx@h1:1883,ssl://c:xxxxx@h2:8883"},
		{`connect "tcp://u:p@h:1": refused; retry tcp://v:q@g`, `connect "tcp://u:xxxxx@h:1": refused; retry tcp://v:xxxxx@g`},
		{"tcp://user@h:1883", "tcp://user@h:1883"},
		{"tcp://h:1883", "tcp://h:1883"},
		{"tcp://h:1883 and a:b@c", "tcp://h:1883 and a:b@c"},
		{"unix:///run/mosquitto.sock", "unix:///run/mosquitto.sock"},
		{"user:pass@host without a scheme", "user:pass@host without a scheme"},
		{"://", "://"},
		{"", ""},
	} {
		if got := logx.RedactURLs(tc.in); got != tc.want {
			t.Errorf("RedactURLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzRedactURLs: never panics, is stable, and never lets the password of
// a URL it is given through.
func FuzzRedactURLs(f *testing.F) {
	f.Add("tcp://user:s3cret@broker:1883", "pw1")
	f.Add("x ssl://u:", "a@b:c/d")
	f.Fuzz(func(t *testing.T, s, pw string) {
		if len(s) > 4096 || len(pw) > 256 {
			return
		}
		r := logx.RedactURLs(s)
		if logx.RedactURLs(r) != r {
			t.Errorf("RedactURLs(%q) = %q, which redacts again to %q", s, r, logx.RedactURLs(r))
		}
		if len(pw) < 4 || strings.ContainsAny(pw, " \t\r\n\"'`\x00") || strings.Contains(pw, "://") || strings.Contains(pw, logx.Redacted) {
			return
		}
		line := s + " tcp://user:" + pw + "@host:1883 " + s
		// The URL comes out with the mark in place of the password, and
		// nothing of it (the mark, or the host after it, could spell a
		// short password: "xxxx", "xxx@", "@hos").
		if r := logx.RedactURLs(line); !strings.Contains(r, " tcp://user:"+logx.Redacted+"@host:1883 ") {
			t.Errorf("RedactURLs(%q) = %q", line, r)
		}
	})
}

// TestRedact: no password of a URL reaches the output, text or JSON,
// whether in the message, an argument, an error, a quoted value, a
// Stringer or the implied arguments of With and Named loggers.
func TestRedact(t *testing.T) {
	const url = "tcp://bridge:s3cret@broker:1883"
	for _, json := range []bool{false, true} {
		var out bytes.Buffer
		l := logx.Redact(hclog.New(&hclog.LoggerOptions{Name: "b", Output: &out, JSONFormat: json, Level: hclog.Trace}))
		err := fmt.Errorf("dial %s: %w", url, io.EOF)
		l.Info("starting", "brokers", []string{url}, "broker", url, "error", err, "q", hclog.Quote(url), "s", stringer(url))
		l.With("broker", url).Named("pub").Warn("broker connection lost, spooling " + url)
		l.Log(hclog.Error, "x", "error", err)
		l.StandardLogger(nil).Print("paho: " + url)
		if strings.Contains(out.String(), "s3cret") {
			t.Errorf("json=%v: the password was logged:\n%s", json, out.String())
		}
		if n := strings.Count(out.String(), "tcp://bridge:xxxxx@broker:1883"); n < 6 {
			t.Errorf("json=%v: %d redacted URLs, want at least 6:\n%s", json, n, out.String())
		}
	}
}

// TestRedact_errorChain: a redacted error still matches its cause.
func TestRedact_errorChain(t *testing.T) {
	var got error
	l := logx.Redact(hclog.New(&hclog.LoggerOptions{Output: io.Discard}))
	probe := &capture{Logger: hclog.NewNullLogger(), err: &got}
	logx.Redact(probe).Warn("x", "error", fmt.Errorf("dial tcp://u:p@h: %w", io.EOF))
	_ = l
	if !errors.Is(got, io.EOF) || strings.Contains(got.Error(), ":p@") {
		t.Errorf("logged error %v: want it redacted and matching io.EOF", got)
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

// capture keeps the "error" argument it is given.
type capture struct {
	hclog.Logger
	err *error
}

func (c *capture) Log(_ hclog.Level, _ string, args ...any) {
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == "error" {
			*c.err, _ = args[i+1].(error)
		}
	}
}

func (c *capture) Warn(msg string, args ...any) { c.Log(hclog.Warn, msg, args...) }
