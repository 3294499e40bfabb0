package client_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mypoll/mypoll/client"
)

// TestResume: Resume subscribes from the given seq, or from the greeting's
// next_seq for 0, as the connection's first request.
func TestResume(t *testing.T) {
	var rec recorder
	fd := startFake(t, hello, rec.handle(func(req string) []string {
		if strings.HasPrefix(req, "subscribe bogus") {
			return []string{"ERR subscribe EINVAL bad set"}
		}
		return []string{"OK subscribe all", "EVT 5 trigger 0 1 0 100"}
	}))
	for _, from := range []uint64{0, 3} {
		c, err := client.Resume(t.Context(), fd.path, "all", from)
		if err != nil {
			t.Fatalf("Resume(from %d) = %v", from, err)
		}
		if m, err := c.Next(t.Context()); err != nil || m.Event == nil || m.Event.Seq != 5 {
			t.Errorf("Next after Resume = %+v, %v", m, err)
		}
		c.Close()
	}
	var perr *client.Error
	if _, err := client.Resume(t.Context(), fd.path, "bogus", 1); !errors.As(err, &perr) || perr.Errno != "EINVAL" {
		t.Errorf("Resume(bogus set) = %v, want EINVAL", err)
	}
	rec.expect(t, "subscribe all from=5|subscribe all from=3|subscribe bogus from=1")
}

// TestStream_backoff: with no daemon, Next keeps retrying with bounded
// backoff until ctx ends or Close is called; a refused subscription is
// returned at once.
func TestStream_backoff(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	dialErr := errors.New("no daemon")
	st := client.NewStream(client.StreamConfig{
		MinBackoff: 2 * time.Millisecond, MaxBackoff: 16 * time.Millisecond,
		Dial: func(ctx context.Context) (*client.Conn, error) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			return nil, dialErr
		},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := st.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next without daemon = %v, want context.DeadlineExceeded", err)
	}
	mu.Lock()
	n := len(at)
	var longest time.Duration
	for i := 1; i < n; i++ {
		longest = max(longest, at[i].Sub(at[i-1]))
	}
	mu.Unlock()
	// 300ms at waits of at most 16ms: well over 10 attempts; no wait much
	// beyond the bound (scheduling slack allowed).
	if n < 10 || longest > 200*time.Millisecond {
		t.Errorf("%d attempts, longest wait %v; want >= 10 attempts, waits bounded by MaxBackoff", n, longest)
	}

	// Close ends a waiting Next.
	done := make(chan error, 1)
	go func() { _, err := st.Next(t.Context()); done <- err }()
	time.Sleep(20 * time.Millisecond)
	st.Close()
	select {
	case err := <-done:
		if !errors.Is(err, client.ErrStreamClosed) {
			t.Errorf("Next after Close = %v, want ErrStreamClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end Next")
	}

	fd := startFake(t, hello, func(req string) []string { return []string{"ERR subscribe EINVAL bad set"} })
	bad := client.NewStream(client.StreamConfig{Path: fd.path, Set: "bogus"})
	defer bad.Close()
	var perr *client.Error
	if _, err := bad.Next(t.Context()); !errors.As(err, &perr) || perr.Errno != "EINVAL" {
		t.Errorf("Next with a bad set = %v, want EINVAL", err)
	}
}

// rangeHandler answers subscribe as mypolld does with next_seq 5 (the
// greeting's): a from= beyond it gets ERANGE (PROTOCOL.md A.8), another
// the reply and then event 5.
func rangeHandler(rec *recorder) func(string) []string {
	return rec.handle(func(req string) []string {
		var from uint64
		if _, f, ok := strings.Cut(req, " from="); ok {
			from, _ = strconv.ParseUint(f, 10, 64)
		}
		if from > 5 {
			return []string{"ERR subscribe ERANGE from=" + strconv.FormatUint(from, 10) + " is beyond next_seq 5"}
		}
		return []string{"OK subscribe all", "EVT 5 trigger 0 1 0 100"}
	})
}

// TestResume_beyondNextSeq: a from= beyond the daemon's next_seq (a
// damaged cursor) gets ERANGE; Resume then subscribes from the greeting's
// next_seq and reports every seq of the instance below it, which the
// caller's position can no longer vouch for, as one loss (reason "range",
// count = the seqs in the range, an upper bound as for "restart"), before
// the events.
func TestResume_beyondNextSeq(t *testing.T) {
	var rec recorder
	fd := startFake(t, hello, rangeHandler(&rec))
	c, err := client.Resume(t.Context(), fd.path, "all", 1000000000001)
	if err != nil {
		t.Fatalf("Resume(from 10^12+1, next_seq 5) = %v, want a connection from next_seq", err)
	}
	defer c.Close()
	m, err := c.Next(t.Context())
	if err != nil || m.Lost == nil || *m.Lost != (client.Lost{First: 1, Last: 4, Count: 4, Reason: client.ReasonRange}) {
		t.Fatalf("first message = %+v (lost %+v), %v; want LOST 1 4 4 range", m, m.Lost, err)
	}
	if m, err := c.Next(t.Context()); err != nil || m.Event == nil || m.Event.Seq != 5 {
		t.Fatalf("second message = %+v, %v; want event 5", m, err)
	}
	rec.expect(t, "subscribe all from=1000000000001|subscribe all from=5")
}

// TestStream_beyondNextSeq: a Stream whose configured position is beyond
// the daemon's next_seq for that instance resumes from next_seq, reports
// the seqs below it as one loss (reason "range") before the events, and
// its position follows the daemon from there.
func TestStream_beyondNextSeq(t *testing.T) {
	var rec recorder
	fd := startFake(t, hello, rangeHandler(&rec))
	st := client.NewStream(client.StreamConfig{Path: fd.path, InstanceID: 0xaa, From: 500})
	defer st.Close()
	m, err := st.Next(t.Context())
	if err != nil || m.Lost == nil || *m.Lost != (client.Lost{First: 1, Last: 4, Count: 4, Reason: client.ReasonRange}) {
		t.Fatalf("first message = %+v (lost %+v), %v; want LOST 1 4 4 range", m, m.Lost, err)
	}
	if inst, next := st.Position(); inst != 0xaa || next != 5 {
		t.Errorf("Position after the loss = %x, %d; want aa, 5", inst, next)
	}
	if m, err := st.Next(t.Context()); err != nil || m.Event == nil || m.Event.Seq != 5 {
		t.Fatalf("second message = %+v, %v; want event 5", m, err)
	}
	if inst, next := st.Position(); inst != 0xaa || next != 6 {
		t.Errorf("Position after event 5 = %x, %d; want aa, 6", inst, next)
	}
	rec.expect(t, "subscribe all from=500|subscribe all from=5")
}

// TestStream_rangeFromStart: with RangeFromStart, a position beyond the
// daemon's next_seq resumes from seq 1 (the daemon replays what it retains)
// with no loss of the stream's own, and Connected says so.
func TestStream_rangeFromStart(t *testing.T) {
	var rec recorder
	fd := startFake(t, hello, rangeHandler(&rec))
	var got []client.Reconnect
	st := client.NewStream(client.StreamConfig{Path: fd.path, InstanceID: 0xaa, From: 500, RangeFromStart: true,
		Connected: func(r client.Reconnect) { got = append(got, r) }})
	defer st.Close()
	if m, err := st.Next(t.Context()); err != nil || m.Event == nil || m.Event.Seq != 5 {
		t.Fatalf("first message = %+v, %v; want event 5 (no range loss)", m, err)
	}
	if len(got) != 1 || !got[0].Range || got[0].From != 1 || got[0].InstanceID != 0xaa || got[0].NextSeq != 5 {
		t.Errorf("Connected got %+v, want one call with Range, From 1", got)
	}
	rec.expect(t, "subscribe all from=500|subscribe all from=1")
}

// TestStream_connectedAndDo: Connected is called for the first connection
// and each reconnect, before their messages; Do goes over the current
// connection, and returns ErrNotConnected before the first.
func TestStream_connectedAndDo(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	fd := startFake(t, hello, func(req string) []string {
		if strings.HasPrefix(req, "echo") {
			return []string{"OK " + req}
		}
		mu.Lock()
		conns++
		n := conns
		mu.Unlock()
		if n == 1 {
			return []string{"OK subscribe all", "EVT 5 trigger 0 1 0 100", "CLOSE"}
		}
		return []string{"OK subscribe all", "EVT 6 trigger 0 1 0 100"}
	})
	var log []string
	st := client.NewStream(client.StreamConfig{Path: fd.path, MinBackoff: time.Millisecond,
		Connected: func(r client.Reconnect) {
			log = append(log, "connected from="+strconv.FormatUint(r.From, 10)+" cause="+strconv.FormatBool(r.Cause != nil))
		}})
	defer st.Close()
	if _, err := st.Do(t.Context(), "echo x"); !errors.Is(err, client.ErrNotConnected) {
		t.Errorf("Do before Next = %v, want ErrNotConnected", err)
	}
	for range 3 {
		m, err := st.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case m.Event != nil:
			log = append(log, "event "+strconv.FormatUint(m.Event.Seq, 10))
		case m.Reconnect != nil:
			log = append(log, "reconnect")
		}
	}
	if r, err := st.Do(t.Context(), "echo hi"); err != nil || r.Detail != "hi" {
		t.Errorf("Do(echo hi) = %+v, %v", r, err)
	}
	if want := "connected from=5 cause=false|event 5|connected from=6 cause=true|reconnect|event 6"; strings.Join(log, "|") != want {
		t.Errorf("sequence = %q, want %q", strings.Join(log, "|"), want)
	}
}
