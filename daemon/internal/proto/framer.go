package proto

import "bytes"

// Kind says what Framer.Next found.
type Kind uint8

// The results of Framer.Next.
const (
	// Incomplete: no complete line yet; consume nothing and wait for more.
	Incomplete Kind = iota
	// Line: a request line (without "\r\n" or "\n"); parse it.
	Line
	// TooLong: a line exceeds MaxLine; reply ErrTooLong() once.
	TooLong
	// Skip: an empty or blank line, or the tail of an over-long one; no reply.
	Skip
)

func (k Kind) String() string {
	switch k {
	case Incomplete:
		return "incomplete"
	case Line:
		return "line"
	case TooLong:
		return "too_long"
	case Skip:
		return "skip"
	}
	return "kind?"
}

// Framer splits a client's byte stream into request lines (PROTOCOL.md A.2).
// The caller owns the byte buffer; the Framer keeps only whether it is
// discarding the rest of an over-long line. The zero Framer is ready to use.
// A Framer is not safe for concurrent use; use one per client.
type Framer struct {
	discarding bool // inside a line already reported TooLong
}

// Next examines data, the caller's unconsumed input, and returns the next
// line, how many bytes of data to consume, and the kind of result:
//   - Line: line is a request without "\n" and one "\r" before it (it
//     aliases data); consume n.
//   - Incomplete: no '\n' in fewer than MaxLine bytes; n is 0.
//   - TooLong: the line is longer than MaxLine bytes (counting its "\r\n");
//     send ErrTooLong() once and consume n (MaxLine). Later calls discard
//     the rest of the line up to and including its '\n' and return Skip or
//     Incomplete, never a second TooLong for the same line.
//   - Skip: an empty or blank (spaces and tabs) line, or discarded bytes of
//     an over-long line; consume n (> 0) and send nothing.
//
// Every kind but Incomplete has n > 0, so a caller that loops until
// Incomplete always progresses. The caller's buffer must hold at least
// MaxLine bytes, or a long line never completes.
func (f *Framer) Next(data []byte) (line []byte, n int, kind Kind) {
	if len(data) == 0 {
		return nil, 0, Incomplete
	}
	if f.discarding {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil, len(data), Skip
		}
		f.discarding = false
		return nil, i + 1, Skip
	}
	search := data
	if len(search) > MaxLine {
		search = search[:MaxLine]
	}
	i := bytes.IndexByte(search, '\n')
	if i < 0 {
		if len(data) < MaxLine {
			return nil, 0, Incomplete
		}
		// MaxLine bytes and no '\n': too long whatever follows. Discard
		// the part already seen and the rest up to the next '\n'.
		f.discarding = true
		return nil, MaxLine, TooLong
	}
	line = data[:i]
	if i > 0 && line[i-1] == '\r' {
		line = line[:i-1]
	}
	for _, c := range line {
		if !isSpace(c) {
			return line, i + 1, Line
		}
	}
	return nil, i + 1, Skip
}
