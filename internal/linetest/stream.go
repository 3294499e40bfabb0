package linetest

import (
	"fmt"

	"github.com/mypoll/mypoll/client"
)

// StreamLog checks what one client.Stream returns, message by message,
// against PROTOCOL.md A.6 and A.8 across reconnects: every seq once, in
// order, either as an event or inside a LOST range, and each reconnect
// resuming at the stream's position on the same device instance.
type StreamLog struct {
	// First is the first seq seen; Next the seq due next. Set both to a
	// known start, or leave them 0 to take the first event's seq.
	First, Next uint64
	// Events and Lost count the seqs delivered and reported lost;
	// LostLines the LOST messages, Resumes the reconnects.
	Events, Lost       uint64
	LostLines, Resumes int
}

// Add accounts for m, or returns what is wrong with it (the log is then
// left as it was).
func (l *StreamLog) Add(m client.StreamMessage) error {
	switch {
	case m.Reconnect != nil:
		r := m.Reconnect
		if r.NewInstance || r.From != l.Next {
			return fmt.Errorf("reconnect %+v, stream at seq %d: did not resume at its position", *r, l.Next)
		}
		l.Resumes++
	case m.Event != nil:
		seq := m.Event.Seq
		if l.Next == 0 {
			l.First, l.Next = seq, seq
		}
		if seq != l.Next {
			return fmt.Errorf("EVT %d where seq %d was due: out of order, repeated or skipped without LOST", seq, l.Next)
		}
		l.Events++
		l.Next++
	case m.Lost != nil:
		lo := m.Lost
		if l.Next == 0 || lo.First != l.Next || lo.Last < lo.First || lo.Count != lo.Last-lo.First+1 {
			return fmt.Errorf("LOST %+v where seq %d was due", *lo, l.Next)
		}
		l.Lost += lo.Count
		l.LostLines++
		l.Next = lo.Last + 1
	}
	return nil
}
