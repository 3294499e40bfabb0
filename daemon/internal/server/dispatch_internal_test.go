package server

import (
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/proto"
)

// TestHandlers_everyVerb: every verb of proto's table has a handler, so a
// verb added there without one fails here instead of answering ENOSYS
// while help lists it; and no handler is left for a verb that is gone.
func TestHandlers_everyVerb(t *testing.T) {
	verbs := proto.Verbs()
	for _, v := range verbs {
		if handlerOf(v) == nil {
			t.Errorf("verb %q has no handler in dispatch.go", v)
		}
	}
	for i, h := range handlers {
		if h != nil && (i == 0 || i > len(verbs)) {
			t.Errorf("handler at %d is for no verb", i)
		}
	}
}

// TestNeedsControl: the verbs the control policy covers.
func TestNeedsControl(t *testing.T) {
	var got []string
	for _, v := range proto.Verbs() {
		if needsControl(v) {
			got = append(got, v.String())
		}
	}
	want := []string{"trigger", "start_timer", "stop_timer", "open_device"}
	if len(got) != len(want) {
		t.Fatalf("needsControl: %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("needsControl: %q, want %q", got, want)
		}
	}
}
