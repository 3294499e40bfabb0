package logx

import (
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Redacted replaces a password in a URL.
const Redacted = "xxxxx"

// RedactURLs returns s with the password of every URL in it replaced by
// Redacted: in SCHEME://USER:PASSWORD@HOST..., what follows the first ':'
// after "://" up to the last '@' before white space, a quote, the next
// URL's scheme or the end of s. So a raw '@', ':' or '/' in the password is covered too, at the cost
// of redacting a port and path in the rare URL with no userinfo and an
// '@' in its path. A user name alone is kept; s without "://" is returned
// as is.
func RedactURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		i += len("://")
		b.WriteString(rest[:i])
		rest = rest[i:]
		end := strings.IndexAny(rest, " \t\r\n\"'`")
		if end < 0 {
			end = len(rest)
		}
		if j := strings.Index(rest[:end], "://"); j >= 0 {
			// Another URL follows, as in a comma list: stop before its scheme.
			k := j
			for k > 0 && isSchemeByte(rest[k-1]) {
				k--
			}
			if k > 0 {
				end = k
			}
		}
		auth := rest[:end]
		at := strings.LastIndexByte(auth, '@')
		colon := strings.IndexByte(auth, ':')
		if at < 0 || colon < 0 || colon > at {
			b.WriteString(auth)
		} else {
			b.WriteString(auth[:colon+1])
			b.WriteString(Redacted)
			b.WriteString(auth[at:])
		}
		rest = rest[end:]
	}
}

// isSchemeByte reports whether c may be in a URL scheme (RFC 3986 3.1).
func isSchemeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

// Redact returns a logger that passes every line to l with RedactURLs
// applied to its message and to its arguments (also those given to With):
// strings, string slices, hclog.Quote values, errors (whose text is redacted; errors.Is
// and As still see the original) and fmt.Stringer values. Other values are
// passed as they are. The loggers it returns (also from With and Named)
// may be used from any goroutine.
func Redact(l hclog.Logger) hclog.Logger { return &redacting{l} }

type redacting struct{ hclog.Logger }

// redactArgs returns args with each value redacted; args itself is not
// changed, and returned as is when nothing needed redacting.
func redactArgs(args []any) []any {
	var out []any
	for i, a := range args {
		r, changed := redactValue(a)
		if out == nil {
			if !changed {
				continue
			}
			out = append(make([]any, 0, len(args)), args[:i]...)
		}
		out = append(out, r)
	}
	if out == nil {
		return args
	}
	return out
}

// redactValue returns a redacted, and whether that changed anything.
func redactValue(a any) (any, bool) {
	switch v := a.(type) {
	case string:
		if r := RedactURLs(v); r != v {
			return r, true
		}
	case hclog.Quote:
		if r := RedactURLs(string(v)); r != string(v) {
			return hclog.Quote(r), true
		}
	case []string:
		var out []string
		for i, s := range v {
			if r := RedactURLs(s); r != s && out == nil {
				out = append(make([]string, 0, len(v)), v[:i]...)
			}
			if out != nil {
				out = append(out, RedactURLs(s))
			}
		}
		if out != nil {
			return out, true
		}
	case error:
		if r := RedactURLs(v.Error()); r != v.Error() {
			return &redactedError{msg: r, err: v}, true
		}
	case fmt.Stringer:
		if s := v.String(); RedactURLs(s) != s {
			return RedactURLs(s), true
		}
	}
	return a, false
}

// redactedError is an error whose text had a password.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (r *redacting) Log(level hclog.Level, msg string, args ...any) {
	r.Logger.Log(level, RedactURLs(msg), redactArgs(args)...)
}

func (r *redacting) Trace(msg string, args ...any) { r.Log(hclog.Trace, msg, args...) }
func (r *redacting) Debug(msg string, args ...any) { r.Log(hclog.Debug, msg, args...) }
func (r *redacting) Info(msg string, args ...any)  { r.Log(hclog.Info, msg, args...) }
func (r *redacting) Warn(msg string, args ...any)  { r.Log(hclog.Warn, msg, args...) }
func (r *redacting) Error(msg string, args ...any) { r.Log(hclog.Error, msg, args...) }

func (r *redacting) With(args ...any) hclog.Logger {
	return &redacting{r.Logger.With(redactArgs(args)...)}
}

func (r *redacting) Named(name string) hclog.Logger { return &redacting{r.Logger.Named(name)} }

func (r *redacting) ResetNamed(name string) hclog.Logger {
	return &redacting{r.Logger.ResetNamed(name)}
}

func (r *redacting) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(r.StandardWriter(opts), "", 0)
}

func (r *redacting) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return stdWriter{r, opts}
}
