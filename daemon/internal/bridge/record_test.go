package bridge

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/client"
)

func TestAppendPayload(t *testing.T) {
	tests := []struct {
		r    record
		want string
	}{
		{record{Instance: 0x2d085b32e2656ff1, Event: &client.Event{Seq: 17, Type: "trigger", Arg: 42, TimestampNS: 812736450112}},
			`{"seq":17,"type":"trigger","source_id":0,"arg":42,"aux":0,"ts_ns":812736450112,"instance_id":"2d085b32e2656ff1"}`},
		{record{Instance: 1, Event: &client.Event{Seq: math.MaxUint64, Type: "timer_stopped", SourceID: 7, Arg: 1 << 53, Aux: 2, TimestampNS: 1}},
			`{"seq":18446744073709551615,"type":"timer_stopped","source_id":7,"arg":9007199254740992,"aux":2,"ts_ns":1,"instance_id":"0000000000000001"}`},
		{record{Instance: 0x2d085b32e2656ff1, Lost: &client.Lost{First: 18, Last: 40, Count: 23, Reason: "queue"}},
			`{"first":18,"last":40,"count":23,"reason":"queue","instance_id":"2d085b32e2656ff1"}`},
		{record{Instance: math.MaxUint64, Lost: &client.Lost{First: 1, Last: 1, Count: 1, Reason: "bridge"}},
			`{"first":1,"last":1,"count":1,"reason":"bridge","instance_id":"ffffffffffffffff"}`},
	}
	for _, tt := range tests {
		got := string(appendPayload(nil, tt.r))
		if got != tt.want {
			t.Errorf("appendPayload(%+v) =\n%s\nwant\n%s", tt.r, got, tt.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("appendPayload: invalid JSON %s", got)
		}
	}
}

func TestAppendStatus(t *testing.T) {
	got := string(appendStatus(nil, 0x2d085b32e2656ff1, 18, `v1.0-3-g"x\`))
	want := `{"online":true,"instance_id":"2d085b32e2656ff1","next_seq":18,"version":"v1.0-3-g\"x\\"}`
	if got != want {
		t.Errorf("appendStatus = %s, want %s", got, want)
	}
	if got := string(appendStatus(nil, 0, 1, "dev")); !strings.Contains(got, `"instance_id":"0000000000000000"`) {
		t.Errorf("appendStatus before HELLO = %s", got)
	}
}

func TestFrame_RoundTrip(t *testing.T) {
	recs := []record{
		{Instance: 5, Event: &client.Event{Seq: 1, Type: "timer", SourceID: 3, Arg: 9, Aux: 1, TimestampNS: 77}},
		{Instance: 5, Event: &client.Event{Seq: math.MaxUint64, Type: "trigger", Arg: math.MaxUint64, Aux: math.MaxUint64, TimestampNS: math.MaxUint64, SourceID: math.MaxUint32}},
		{Instance: 5, Lost: &client.Lost{First: 2, Last: 9, Count: 8, Reason: "restart"}},
	}
	for _, r := range recs {
		var b [frameSize]byte
		encodeFrame(b[:], r)
		got, err := decodeFrame(b[:], 5)
		if err != nil {
			t.Fatalf("decodeFrame(encodeFrame(%+v)) error %v", r, err)
		}
		if string(appendPayload(nil, got)) != string(appendPayload(nil, r)) {
			t.Errorf("round trip %s != %s", appendPayload(nil, got), appendPayload(nil, r))
		}
		for i := range frameSize {
			c := b
			c[i] ^= 0x40
			if _, err := decodeFrame(c[:], 5); err == nil {
				t.Errorf("decodeFrame with byte %d flipped: no error", i)
			}
		}
	}
}
