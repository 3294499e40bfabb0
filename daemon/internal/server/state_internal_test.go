package server

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestStateTick_onlyWhenChanged: the resume position is saved within a
// tick of a change, and no tick stays scheduled while nothing changes, so
// an idle daemon with a state dir does not wake for it.
func TestStateTick_onlyWhenChanged(t *testing.T) {
	s := newEmuServer(t)
	if !s.state.armed {
		t.Fatal("opening the device changed the state but scheduled no save")
	}
	s.persistTick()
	if s.state.armed || s.state.dirty {
		t.Fatalf("after a save: armed %v, dirty %v; want neither (idle)", s.state.armed, s.state.dirty)
	}
	b, err := os.ReadFile(s.state.path())
	if err != nil || !strings.HasPrefix(string(b), "instance_id=") {
		t.Fatalf("state file = %q, %v", b, err)
	}
	if _, err := s.dev.Trigger(1, 3); err != nil {
		t.Fatal(err)
	}
	_ = s.handleDevice(0, 0)
	if !s.state.armed || s.state.lastSeq != 3 {
		t.Fatalf("after 3 events: armed %v, lastSeq %d; want a save scheduled for seq 3", s.state.armed, s.state.lastSeq)
	}
	s.persistTick()
	if b, _ := os.ReadFile(s.state.path()); !strings.Contains(string(b), "last_seq=3\n") || s.state.armed {
		t.Fatalf("state file %q, armed %v; want last_seq=3 saved and no tick left", b, s.state.armed)
	}
}

// TestStateTick_backoff: a save that keeps failing is retried after a
// delay that doubles from stateInterval up to maxStateRetry, not every
// stateInterval forever (issue 19, item 13); the first save that works
// again is logged and the delay starts over.
func TestStateTick_backoff(t *testing.T) {
	s := newEmuServer(t)
	var logs bytes.Buffer
	s.log = hclog.New(&hclog.LoggerOptions{Output: &logs, DisableTime: true})
	good := s.state.dir
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.state.dir = notDir // every save fails: ENOTDIR
	var got []time.Duration
	for range 12 {
		s.persistTick()
		if !s.state.armed {
			t.Fatal("a failed save scheduled no retry")
		}
		got = append(got, s.state.retry)
	}
	want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond,
		3200 * time.Millisecond, 6400 * time.Millisecond, 12800 * time.Millisecond, 25600 * time.Millisecond,
		51200 * time.Millisecond, time.Minute, time.Minute, time.Minute}
	if !slices.Equal(got, want) {
		t.Errorf("retry delays %v, want %v", got, want)
	}
	s.state.dir = good
	s.persistTick()
	if s.state.armed || s.state.retry != 0 || s.state.dirty {
		t.Errorf("after a good save: armed %v, retry %v, dirty %v; want none", s.state.armed, s.state.retry, s.state.dirty)
	}
	if n := strings.Count(logs.String(), "[ERROR] persist resume state"); n != 12 {
		t.Errorf("%d failures logged, want 12 (one per attempt; the daemon's logger limits them)", n)
	}
	if !strings.Contains(logs.String(), "[INFO]  resume state saved again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}
