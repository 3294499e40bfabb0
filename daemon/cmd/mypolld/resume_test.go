package main

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/client"
)

// TestMypolld_StreamAcrossKill: a client.Stream follows a real mypolld that
// is SIGKILLed and started again with the same --state-dir. The emulated
// device lives in the daemon process, so the new daemon has a new device
// instance: the stream says so and continues from seq 1 of the new one.
func TestMypolld_StreamAcrossKill(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "mypoll.sock")
	args := []string{"--device", "emu", "--socket", sock, "--state-dir", filepath.Join(dir, "state")}
	p := startProc(t, nil, nil, args...)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()

	var ctl *client.Conn
	var err error
	for ctl == nil { // wait for the daemon to listen
		if ctl, err = client.Dial(ctx, sock); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("dial: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	st := client.NewStream(client.StreamConfig{Path: sock, MinBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	defer st.Close()
	if _, _, err := ctl.Trigger(ctx, 7, 3); err != nil { // seqs 1..3, before the stream connects
		t.Fatal(err)
	}
	// The stream's first connection starts at the greeting's next_seq (4).
	firstEvent := func() *client.Event {
		t.Helper()
		m, err := st.Next(ctx)
		if err != nil || m.Event == nil {
			t.Fatalf("stream Next = %+v, %v; want an event", m, err)
		}
		return m.Event
	}
	done := make(chan *client.Event, 1)
	go func() {
		m, err := st.Next(ctx)
		if err != nil {
			t.Errorf("stream Next = %v", err)
		}
		done <- m.Event
	}()
	// Trigger until the stream is connected and gets an event.
	var ev *client.Event
	for ev == nil {
		if _, _, err := ctl.Trigger(ctx, 8, 1); err != nil {
			t.Fatal(err)
		}
		select {
		case ev = <-done:
		case <-time.After(20 * time.Millisecond):
		}
	}
	if ev == nil || ev.Seq < 4 || ev.Arg != 8 {
		t.Fatalf("first stream event = %+v, want a trigger 8 with seq >= 4", ev)
	}
	inst, next := st.Position()
	if next != ev.Seq+1 || inst != ctl.Hello().InstanceID {
		t.Fatalf("Position() = %016x %d, want %016x %d", inst, next, ctl.Hello().InstanceID, ev.Seq+1)
	}
	ctl.Close()

	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t)
	time.Sleep(50 * time.Millisecond) // the stream retries while nothing listens
	startProc(t, nil, nil, args...)

	m, err := st.Next(ctx)
	if err != nil || m.Reconnect == nil {
		t.Fatalf("after restart: Next = %+v, %v; want a Reconnect", m, err)
	}
	r := m.Reconnect
	if !r.NewInstance || r.OldInstanceID != inst || r.OldNext != next || r.From != 1 || r.Cause == nil || r.Attempts < 1 {
		t.Fatalf("Reconnect = %+v; want a new instance after %016x at %d, resumed from 1", r, inst, next)
	}
	ctl2, err := client.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl2.Close()
	if _, _, err := ctl2.Trigger(ctx, 9, 2); err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 2; want++ {
		if e := firstEvent(); e.Seq != want || e.Arg != 9 {
			t.Fatalf("event after restart = %+v, want seq %d arg 9", e, want)
		}
	}
	t.Logf("reconnected after %d attempts (%v)", r.Attempts, r.Cause)
}
