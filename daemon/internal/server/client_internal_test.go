package server

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
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
	c, _ := addTestConn(t, s)
	if len(s.clients) != 1 {
		t.Fatalf("%d clients after addConn, want 1", len(s.clients))
	}
	if got, err := sys.SendBuffer(c.fd); err != nil || got != DefaultSendBuffer {
		t.Errorf("SO_SNDBUF of an accepted socket = %d, %v, want %d", got, err, DefaultSendBuffer)
	}
}

// addTestConn adds one end of a socketpair to s as an accepted connection
// (s owns it from then on) and returns its client and the other end, the
// peer, closed when the test ends.
func addTestConn(t *testing.T, s *Server) (*client, int) {
	t.Helper()
	a, b, err := sys.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Close(b) })
	s.addConn(a)
	return s.clients[len(s.clients)-1], b
}

// TestFlushDirty_triggerTurn: a trigger's records leave in the trigger's
// own turn, ahead of its reply, unless the turn was busy and the triggers
// made a device read's worth of records or more; such a burst is left to
// the next turn, to be batched with what comes by then. A paced publisher
// whose small trigger met a busy loop used to get its reply first and its
// subscribers their event a turn later. (A loop that is not running
// reports every turn busy.)
func TestFlushDirty_triggerTurn(t *testing.T) {
	s := newEmuServer(t)
	if s.lp.StartedIdle() {
		t.Fatal("StartedIdle() = true on a loop that never waited, want false")
	}
	// lines returns the lines the server has sent to peer so far.
	lines := func(peer int) []string {
		var buf [1 << 16]byte
		n, _, err := syscall.Recvfrom(peer, buf[:], syscall.MSG_DONTWAIT)
		if errors.Is(err, syscall.EAGAIN) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		l := strings.SplitAfter(string(buf[:n]), "\n")
		return l[:len(l)-1] // after the last newline: ""
	}
	request := func(c *client, line string) {
		s.handleRequest(c, []byte(line))
		s.flushDirty()
	}
	sub, subPeer := addTestConn(t, s)
	pub, pubPeer := addTestConn(t, s)
	s.flushDirty()
	lines(subPeer) // HELLO
	lines(pubPeer)
	request(sub, "subscribe all")
	if got := lines(subPeer); len(got) != 1 || got[0] != "OK subscribe all\n" {
		t.Fatalf("subscribe all: %q", got)
	}

	request(pub, "trigger 7 1")
	if got := lines(subPeer); len(got) != 1 || !strings.HasPrefix(got[0], "EVT ") {
		t.Errorf("after a busy turn with a one-record trigger the subscriber has %q, want its EVT line", got)
	}
	if got := lines(pubPeer); len(got) != 1 || !strings.HasPrefix(got[0], "OK trigger ") {
		t.Errorf("publisher got %q, want OK trigger", got)
	}

	request(pub, fmt.Sprintf("trigger 8 %d", devReadRecords))
	if got := lines(subPeer); len(got) != 0 {
		t.Errorf("after a busy turn with a %d-record burst the subscriber has %d lines, want none before the next turn", devReadRecords, len(got))
	}
	if got := lines(pubPeer); len(got) != 1 || !strings.HasPrefix(got[0], "OK trigger ") {
		t.Errorf("publisher got %q, want OK trigger", got)
	}
	_ = s.handleDevice(0, sys.EventIn) // the next turn
	s.flushDirty()
	if got := lines(subPeer); len(got) != devReadRecords {
		t.Errorf("the next turn sent the subscriber %d lines, want the burst's %d EVT lines", len(got), devReadRecords)
	}
}
