package proto_test

import (
	"bytes"
	"testing"

	"github.com/mypoll/mypoll/client"

	"github.com/mypoll/mypoll/daemon/internal/proto"
)

// maxFuzzInput caps fuzz inputs: a few lines over MaxLine are enough.
const maxFuzzInput = 4 * proto.MaxLine

// checkServerLine fails unless b is one well-formed server line: printable
// ASCII (or TAB), exactly one '\n', at the end.
func checkServerLine(t *testing.T, b []byte) {
	t.Helper()
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("line %q does not end in '\\n'", b)
	}
	for _, c := range b[:len(b)-1] {
		if !(c >= 0x20 && c <= 0x7e || c == '\t') {
			t.Fatalf("line %q has byte %#x", b, c)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) > maxFuzzInput {
			return
		}
		req, perr := proto.ParseRequest(line)
		if perr != nil {
			b := proto.AppendErr(nil, perr)
			checkServerLine(t, b)
			if l, err := client.ParseLine(b); err != nil || l.Kind != client.LineErr {
				t.Fatalf("ParseRequest(%q) error line %q: client.ParseLine = %+v, %v", line, b, l, err)
			}
			f := bytes.Split(b[:len(b)-1], []byte(" "))
			if len(f) < 4 || string(f[0]) != "ERR" || len(f[1]) == 0 || len(f[1]) > 32 || len(f[3]) == 0 {
				t.Fatalf("ParseRequest(%q) error line %q is not ERR <verb> <ERRNO> <msg>", line, b)
			}
			return
		}
		if req.Verb.String() == "-" {
			t.Fatalf("ParseRequest(%q) = %+v without error and without a verb", line, req)
		}
		// A valid request is printable, so its OK reply is too.
		ok := proto.AppendOKDetail(nil, req.Verb, req.Text)
		checkServerLine(t, ok)
		if l, err := client.ParseLine(ok); err != nil || l.Kind != client.LineOK {
			t.Fatalf("reply %q to %q: client.ParseLine = %+v, %v", ok, line, l, err)
		}
		if req.Verb == proto.VerbEcho && req.Text != nil && !bytes.HasSuffix(line, req.Text) {
			t.Fatalf("ParseRequest(%q).Text = %q, not the end of the line", line, req.Text)
		}
	})
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte("echo hi\r\nquit\n"), []byte{1, 2, 3})
	f.Add(bytes.Repeat([]byte("x"), proto.MaxLine+3), []byte{200, 255, 7})
	f.Add(append(bytes.Repeat([]byte("y"), proto.MaxLine-2), "\r\n\n \t\nz\n"...), []byte{0})
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		if len(stream) > maxFuzzInput || len(cuts) > 64 {
			return
		}
		want := feed(t, [][]byte{stream})
		// Chunk sizes from cuts (each 1..256 bytes), the rest in one chunk.
		var chunks [][]byte
		rest := stream
		for _, c := range cuts {
			n := min(int(c)+1, len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		chunks = append(chunks, rest)
		got := feed(t, chunks)
		if !equalFrames(got, want) {
			t.Fatalf("Framer(%q) chunked %v = %v, one shot = %v", stream, cuts, got, want)
		}
		// At most one TooLong per over-long line: count lines (split by
		// '\n') longer than MaxLine including their '\n'. An unterminated
		// last line counts with the '\n' it would need: MaxLine bytes
		// without one can never become a valid request.
		long := 0
		for _, l := range bytes.Split(stream, []byte("\n")) {
			if len(l)+1 > proto.MaxLine {
				long++
			}
		}
		tooLong := 0
		for _, fr := range got {
			if fr.kind == proto.TooLong {
				tooLong++
			} else if len(fr.line)+1 > proto.MaxLine {
				t.Fatalf("Framer(%q) returned a %d-byte line", stream, len(fr.line))
			}
		}
		if tooLong != long {
			t.Fatalf("Framer(%q): %d TooLong for %d over-long lines", stream, tooLong, long)
		}
	})
}
