package server

import (
	"os"
	"strings"
	"testing"
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
