package tests_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/internal/linetest"
)

// streamLog is what one resuming client saw, checked as it arrives.
type streamLog struct {
	linetest.StreamLog
	err error
}

// TestResumeUnderLoad (issue 9): mypolld is SIGKILLed and restarted
// repeatedly while triggers and a 5 ms timer run; several client.Streams
// reconnect and resume at once with "subscribe all from=<next>" as their
// first request. Per client, every seq is delivered exactly once or lies in
// a LOST line, strictly increasing on each connection and across them.
func TestResumeUnderLoad(t *testing.T) {
	g := boot(t, 1)
	g.imageSkipUnlessSysV(t, "systemd restarts a killed mypolld (Restart=on-failure), so it is not down while the ring wraps")
	const clients, kills = 4, 10
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	ctl := g.dial(t)
	if r := ctl.do("start_timer 5 5"); r != "OK start_timer 5" {
		t.Fatalf("start_timer -> %q", r)
	}
	start := u64(t, ctl.hello[4])

	// Load: paced trigger bursts over a connection of its own, redialed
	// after each kill. (Timers are device state: they tick on while the
	// daemon is down.)
	var triggers atomic.Uint64
	var load sync.WaitGroup
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	load.Go(func() {
		ctx := loadCtx
		for ctx.Err() == nil {
			nc, err := g.vm.Dial(ctx, sock)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			c, err := client.NewConnContext(ctx, nc)
			if err != nil {
				continue
			}
			for ctx.Err() == nil {
				if _, n, err := c.Trigger(ctx, 7, 4); err != nil {
					break
				} else {
					triggers.Add(uint64(n))
				}
				time.Sleep(15 * time.Millisecond)
			}
			c.Close()
		}
	})

	logs := make([]streamLog, clients)
	pos := make([]atomic.Uint64, clients)    // logs[i].Next, for polling
	resumed := make([]atomic.Int64, clients) // logs[i].Resumes, for polling
	var wg sync.WaitGroup
	for i := range clients {
		st := client.NewStream(client.StreamConfig{
			From:       start,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
			Dial: func(ctx context.Context) (*client.Conn, error) {
				nc, err := g.vm.Dial(ctx, sock)
				if err != nil {
					return nil, err
				}
				return client.NewConnContext(ctx, nc)
			},
		})
		l := &logs[i]
		l.First, l.Next = start, start
		pos[i].Store(start)
		wg.Go(func() {
			defer st.Close()
			for {
				m, err := st.Next(ctx)
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						l.err = err
					}
					return
				}
				if err := l.Add(m); err != nil {
					l.err = err
					return
				}
				resumed[i].Store(int64(l.Resumes))
				pos[i].Store(l.Next)
			}
		})
	}

	rng := rand.New(rand.NewPCG(9, uint64(time.Now().UnixNano())))
	for k := range kills {
		time.Sleep(time.Duration(300+rng.IntN(500)) * time.Millisecond)
		g.signal(t, "KILL")
		if k == kills/2 {
			// A long outage: the ring overwrites what the daemon never
			// read, which every client must get as LOST ... restart.
			g.triggerDirect(t, 3000)
		} else {
			time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		}
		g.daemon(t, "start", defaultDaemonArgs...)
		// Every client resumes from this kill before the next one (its
		// backoff may be at its bound); they reconnect at about once.
		deadline := time.Now().Add(g.wait)
		for i := range clients {
			for resumed[i].Load() < int64(k+1) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	load.Wait()
	ctl = g.dial(t)
	if r := ctl.do("stop_timer 5"); r != "OK stop_timer 5" {
		t.Fatalf("stop_timer -> %q", r)
	}
	end := g.info(t).NextSeq // nothing generates events from here on

	// Let every client catch up with the last event, then stop them.
	deadline := time.Now().Add(3 * g.wait)
	for i := range clients {
		for pos[i].Load() < end && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	cancel()
	wg.Wait()

	var resumes int
	for i, l := range logs {
		if l.err != nil && !strings.Contains(l.err.Error(), "context canceled") {
			t.Errorf("client %d: %v", i, l.err)
			continue
		}
		resumes += l.Resumes
		if l.Next != end {
			t.Errorf("client %d ended at seq %d, the device's next_seq is %d", i, l.Next, end)
		}
		if l.Resumes != kills {
			t.Errorf("client %d resumed %d times, want %d (one per kill)", i, l.Resumes, kills)
		}
		if l.Lost == 0 {
			t.Errorf("client %d was told of no loss: the long outage did not overflow the ring", i)
		}
		t.Logf("client %d: seqs %d..%d: %d events, %d lost in %d LOST lines, %d resumes",
			i, l.First, l.Next-1, l.Events, l.Lost, l.LostLines, l.Resumes)
	}
	t.Logf("%d resumes under load (%d clients x %d SIGKILLs), %d triggers by the load: none out of order, repeated or unaccounted",
		resumes, clients, kills, triggers.Load())
	g.checkKernel(t)
}
