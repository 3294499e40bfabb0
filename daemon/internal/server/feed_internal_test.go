package server

import (
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/proto"
	"github.com/mypoll/mypoll/daemon/internal/txq"
)

// TestFeed_dropHistoryExact: when the history drops entries a slow
// replaying feed has not reached, the LOST ... queue count is exactly the
// matching events among them, whatever the filter (A.6); a dropped gap
// keeps its reason and counts every seq.
func TestFeed_dropHistoryExact(t *testing.T) {
	var h history
	h.init(8)
	add := func(e histEntry) {
		if h.full() {
			t.Fatalf("history full before the test asked")
		}
		h.add(e)
	}
	// seqs 1..6: triggers with payloads 7, 8, 7, 8, 7, then a gap of 3
	// (seqs 6..8, device), then seq 9 payload 7.
	for seq := uint64(1); seq <= 5; seq++ {
		add(histEntry{ev: devabi.Event{Seq: seq, Type: devabi.EvTrigger, Arg: 7 + (seq+1)%2}})
	}
	add(histEntry{ev: devabi.Event{Seq: 6, Type: devabi.EvOverflow, Aux: 3}, reason: proto.LostDevice})
	add(histEntry{ev: devabi.Event{Seq: 9, Type: devabi.EvTrigger, Arg: 7}})

	flt, _ := proto.ParseFilter([]byte("trigger:7"))
	tx := txq.New(MinTXQBytes)
	var replayers int
	f := newFeed(tx, 0, h.nextSeq, &replayers) // limit 0: nothing fits, the replay stalls
	f.subscribe(flt)
	f.resume(2, &h, nil)
	if !f.replaying || f.replayIdx != 1 || replayers != 1 {
		t.Fatalf("resume(2): replaying %v at %d, %d replayers; want entry 1, 1", f.replaying, f.replayIdx, replayers)
	}
	// Fill the history: entries 0..6 are dropped one by one.
	var lost uint64
	for seq := uint64(10); seq < 18; seq++ {
		if full := h.full(); full != (seq > 10) {
			t.Fatalf("before adding seq %d: full() = %v", seq, full) // 8 entries after seq 10
		}
		if h.full() {
			lost += f.dropHistory(h.first, h.at(h.first))
		}
		h.add(histEntry{ev: devabi.Event{Seq: seq, Type: devabi.EvTrigger, Arg: 8}})
	}
	// Entry 0 (seq 1) was below from=2; seqs 3, 5 and 9 match: 3 queue
	// losses; the gap 6..8 is owed as device.
	if lost != 3 {
		t.Errorf("dropHistory counted %d queue losses, want 3", lost)
	}
	var got []gap
	for !f.gaps.empty() {
		got = append(got, f.gaps.front())
		f.gaps.pop()
	}
	want := []gap{{3, 5, 2, proto.LostQueue}, {6, 8, 3, proto.LostDevice}, {9, 9, 1, proto.LostQueue}}
	if len(got) != len(want) {
		t.Fatalf("owed gaps %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("owed gap %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	f.stop()
	if replayers != 0 {
		t.Errorf("%d replayers after stop, want 0", replayers)
	}
	if f.replayIdx != h.first || f.minSeq != 10 || f.sent != 9 {
		t.Errorf("after the drops: replayIdx %d minSeq %d sent %d, want %d, 10, 9", f.replayIdx, f.minSeq, f.sent, h.first)
	}
}
