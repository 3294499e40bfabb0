package proto_test

import (
	"math/rand/v2"
	"testing"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/proto"
)

// TestRoundTrip checks that the public client parses what the daemon's
// encoders write, field for field.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	types := []devabi.EventType{devabi.EvTimer, devabi.EvTrigger, devabi.EvTimerStopped}
	big := func() uint64 { return rng.Uint64() >> rng.UintN(64) }
	var buf []byte
	for i := range 2000 {
		ev := devabi.Event{Seq: big(), TimestampNS: big(), Type: types[i%3], SourceID: uint32(big()), Arg: big(), Aux: big()}
		buf = proto.AppendEvent(buf[:0], ev)
		l, err := client.ParseLine(buf)
		want := client.Event{Seq: ev.Seq, Type: ev.Type.String(), SourceID: ev.SourceID, Arg: ev.Arg, Aux: ev.Aux, TimestampNS: ev.TimestampNS}
		if err != nil || l.Kind != client.LineEvent || l.Event != want {
			t.Fatalf("ParseLine(AppendEvent(%+v)) = %+v, %v; want %+v", ev, l.Event, err, want)
		}

		first := big()
		last := first + big()%1000
		if last < first {
			last = first
		}
		count := 1 + (last-first)/2
		reason := proto.LostReason(i % 3)
		buf = proto.AppendLost(buf[:0], first, last, count, reason)
		l, err = client.ParseLine(buf)
		wantLost := client.Lost{First: first, Last: last, Count: count, Reason: reason.String()}
		if err != nil || l.Kind != client.LineLost || l.Lost != wantLost {
			t.Fatalf("ParseLine(%q) = %+v, %v; want %+v", buf, l.Lost, err, wantLost)
		}

		id, seq := rng.Uint64(), big()
		buf = proto.AppendHello(buf[:0], id, seq)
		l, err = client.ParseLine(buf)
		if err != nil || l.Hello != (client.Hello{Version: 1, InstanceID: id, NextSeq: seq}) {
			t.Fatalf("ParseLine(%q) = %+v, %v", buf, l.Hello, err)
		}
	}
	// Every ERR and OK the parser leads to is a valid client line.
	for _, tc := range parseCases {
		req, perr := proto.ParseRequest([]byte(tc.line))
		if perr != nil {
			buf = proto.AppendErr(buf[:0], perr)
		} else {
			buf = proto.AppendOKDetail(buf[:0], req.Verb, req.Text)
		}
		if _, err := client.ParseLine(buf); err != nil {
			t.Errorf("reply to %q = %q: ParseLine error %v", tc.line, buf, err)
		}
	}
}
