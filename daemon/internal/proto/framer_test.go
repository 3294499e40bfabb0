package proto_test

import (
	"strings"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/proto"
)

// frame is one non-Skip result of the Framer.
type frame struct {
	kind proto.Kind
	line string
}

// feed runs a stream through a Framer the way a server does: chunks are
// appended to a buffer of unconsumed bytes and Next is called until
// Incomplete. It fails the test if a call does not progress.
func feed(t testing.TB, chunks [][]byte) []frame {
	t.Helper()
	var f proto.Framer
	var buf []byte
	var out []frame
	for _, c := range chunks {
		buf = append(buf, c...)
		for {
			line, n, kind := f.Next(buf)
			if kind == proto.Incomplete {
				if n != 0 {
					t.Fatalf("Next(%d bytes) = Incomplete with n=%d, want 0", len(buf), n)
				}
				if len(buf) >= proto.MaxLine {
					t.Fatalf("Next(%d bytes) = Incomplete with a full buffer", len(buf))
				}
				break
			}
			if n <= 0 || n > len(buf) {
				t.Fatalf("Next(%d bytes) = %v with n=%d, want 1..%d", len(buf), kind, n, len(buf))
			}
			if kind != proto.Skip {
				out = append(out, frame{kind, string(line)})
			}
			buf = buf[n:]
		}
	}
	return out
}

func TestFramer_Next(t *testing.T) {
	long := strings.Repeat("x", proto.MaxLine) // 1025 bytes with its '\n'
	max := strings.Repeat("y", proto.MaxLine-1)
	maxCRLF := strings.Repeat("z", proto.MaxLine-2)
	for _, tc := range []struct {
		name   string
		stream string
		want   []frame
	}{
		{"one", "echo hi\n", []frame{{proto.Line, "echo hi"}}},
		{"crlf", "echo hi\r\n", []frame{{proto.Line, "echo hi"}}},
		{"cr kept once", "echo hi\r\r\n", []frame{{proto.Line, "echo hi\r"}}},
		{"empty and blank lines", "\n\r\n \t \n\r\nquit\n", []frame{{proto.Line, "quit"}}},
		{"no newline yet", "echo hi", nil},
		{"pipelined", "a\nb\r\nc\n", []frame{{proto.Line, "a"}, {proto.Line, "b"}, {proto.Line, "c"}}},
		{"exactly max", max + "\n", []frame{{proto.Line, max}}},
		{"exactly max crlf", maxCRLF + "\r\n", []frame{{proto.Line, maxCRLF}}},
		{"one over max", long + "\nquit\n", []frame{{proto.TooLong, ""}, {proto.Line, "quit"}}},
		{"one over max crlf", max + "\r\nquit\n", []frame{{proto.TooLong, ""}, {proto.Line, "quit"}}},
		{"very long", strings.Repeat(long, 5) + "\nquit\n", []frame{{proto.TooLong, ""}, {proto.Line, "quit"}}},
		{"two long", long + "\n" + long + "\n", []frame{{proto.TooLong, ""}, {proto.TooLong, ""}}},
		{"long unterminated", long + long, []frame{{proto.TooLong, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One shot, then byte by byte: the same frames.
			got := feed(t, [][]byte{[]byte(tc.stream)})
			if !equalFrames(got, tc.want) {
				t.Fatalf("Framer(%q) one shot = %v, want %v", tc.stream, got, tc.want)
			}
			var chunks [][]byte
			for i := range len(tc.stream) {
				chunks = append(chunks, []byte{tc.stream[i]})
			}
			if got := feed(t, chunks); !equalFrames(got, tc.want) {
				t.Fatalf("Framer(%q) byte by byte = %v, want %v", tc.stream, got, tc.want)
			}
		})
	}
}

func TestFramer_tooLongReply(t *testing.T) {
	got := string(proto.AppendErr(nil, proto.ErrTooLong()))
	if want := "ERR - E2BIG request longer than 1024 bytes\n"; got != want {
		t.Errorf("AppendErr(ErrTooLong()) = %q, want %q", got, want)
	}
}

func equalFrames(a, b []frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
