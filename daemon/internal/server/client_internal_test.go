package server

import (
	"fmt"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/sys"
	"github.com/mypoll/mypoll/daemon/internal/txq"
)

// TestClient_interest: the epoll mask follows from the phase, the daemon's
// draining flag and whether the TX queue holds bytes, and nothing else.
func TestClient_interest(t *testing.T) {
	in, out := sys.EventIn, sys.EventOut
	tests := []struct {
		phase    phase
		draining bool
		queued   bool
		want     uint32
	}{
		{phaseServing, false, false, in},
		{phaseServing, false, true, in | out},
		{phaseServing, true, false, 0},
		{phaseServing, true, true, out},
		{phaseThrottled, false, false, 0},
		{phaseThrottled, false, true, out},
		{phaseQuitting, false, true, out},
		{phaseQuitting, false, false, 0},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("phase=%d draining=%v queued=%v", tc.phase, tc.draining, tc.queued)
		t.Run(name, func(t *testing.T) {
			c := &client{srv: &Server{draining: tc.draining}, tx: txq.New(MinTXQBytes), phase: tc.phase}
			if tc.queued {
				c.tx.Append([]byte("x\n"))
			}
			if got := c.interest(); got != tc.want {
				t.Errorf("interest() = %#x, want %#x", got, tc.want)
			}
		})
	}
}

// TestAddConn_sendBuffer: an accepted connection's socket is bounded to
// Config.SendBuffer (SO_SNDBUF as getsockopt reads it back).
func TestAddConn_sendBuffer(t *testing.T) {
	s := newEmuServer(t)
	a, b, err := sys.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(b)
	s.addConn(a) // owns a from here on
	if len(s.clients) != 1 {
		t.Fatalf("%d clients after addConn, want 1", len(s.clients))
	}
	if got, err := sys.SendBuffer(a); err != nil || got != DefaultSendBuffer {
		t.Errorf("SO_SNDBUF of an accepted socket = %d, %v, want %d", got, err, DefaultSendBuffer)
	}
}
