package emu_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// TestDevice_Concurrent has writers trigger bursts and a real 1ms timer
// tick while readers of different speeds wait in poll(2) on FD: no reader
// may miss a wakeup, and each stream must account for every seq exactly
// (records plus OVERFLOW counts), with seqs strictly increasing.
func TestDevice_Concurrent(t *testing.T) {
	const writers, bursts = 4, 300
	d := emu.New(emu.Config{RingOrder: 8})
	t.Cleanup(d.Unplug)
	ctl, err := d.OpenFile(true)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	start, _ := ctl.Stats()

	var target atomic.Uint64 // next_seq once every producer stopped; 0 before
	type result struct {
		records, lost, overflows uint64
		info                     devabi.ReaderInfo
		err                      error
	}
	bufSizes := []int{1, 7, 64} // records per Read: slow, medium, fast
	results := make([]result, len(bufSizes))
	var rwg sync.WaitGroup
	for i, size := range bufSizes {
		f, err := d.OpenFile(false)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rwg.Go(func() {
			res := &results[i]
			buf := make([]byte, size*devabi.EventSize)
			next := start.NextSeq
			deadline := time.Now().Add(20 * time.Second)
			for {
				if tg := target.Load(); tg != 0 && next == tg {
					break
				}
				if time.Now().After(deadline) {
					res.err = fmt.Errorf("reader %d stuck at seq %d (target %d): lost wakeup?", i, next, target.Load())
					return
				}
				n, err := f.Read(buf)
				if errors.Is(err, sys.ErrWouldBlock) {
					if _, err := sys.PollIn(f.FD(), 50*time.Millisecond); err != nil {
						res.err = err
						return
					}
					continue
				}
				if err != nil {
					res.err = err
					return
				}
				for off := 0; off < n; off += devabi.EventSize {
					ev, _ := devabi.DecodeEvent(buf[off:])
					if ev.Seq != next {
						res.err = fmt.Errorf("reader %d: seq %d, want %d", i, ev.Seq, next)
						return
					}
					if ev.Type == devabi.EvOverflow {
						res.lost += ev.Aux
						res.overflows++
						next += ev.Aux
						continue
					}
					res.records++
					next++
				}
			}
			res.info, res.err = f.Reader()
		})
	}

	if err := ctl.TimerStart(devabi.Timer{ID: 0, PeriodNS: uint64(time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	var wwg sync.WaitGroup
	for w := range writers {
		f, err := d.OpenFile(true)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		wwg.Go(func() {
			for i := range bursts {
				if _, err := f.Trigger(uint64(w), uint32(1+i%8)); err != nil {
					t.Errorf("writer %d: Trigger = %v", w, err)
					return
				}
				if i%50 == 0 {
					if _, err := f.Stats(); err != nil {
						t.Errorf("writer %d: Stats = %v", w, err)
					}
				}
			}
		})
	}
	wwg.Wait()
	if err := ctl.TimerStop(0); err != nil {
		t.Fatal(err)
	}
	end, _ := ctl.Stats()
	target.Store(end.NextSeq)
	rwg.Wait()

	total := end.NextSeq - start.NextSeq
	want := uint64(0)
	for i := range bursts {
		want += writers * uint64(1+i%8)
	}
	if triggers := end.TriggerEvents - start.TriggerEvents; triggers != want {
		t.Errorf("trigger_events = %d, want %d", triggers, want)
	}
	for i, res := range results {
		if res.err != nil {
			t.Errorf("reader %d: %v", i, res.err)
			continue
		}
		if res.records+res.lost != total || res.info.LostTotal != res.lost || res.info.Overflows != res.overflows {
			t.Errorf("reader %d (%d records/read): %d records + %d lost, want %d in all; Reader() = %+v, want lost_total %d overflows %d",
				i, bufSizes[i], res.records, res.lost, total, res.info, res.lost, res.overflows)
		}
		t.Logf("reader %d (%d records/read): %d records, %d lost in %d overflows", i, bufSizes[i], res.records, res.lost, res.overflows)
	}
}

// TestFile_WakeupPingPong makes a reader block in poll(2) before each
// trigger from another goroutine: every trigger must wake it (a lost
// wakeup shows as a 5s poll timeout).
func TestFile_WakeupPingPong(t *testing.T) {
	const rounds = 200
	d := emu.New(emu.Config{})
	t.Cleanup(d.Unplug)
	w, err := d.OpenFile(true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := d.OpenFile(false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ack := make(chan error)
	go func() {
		buf := make([]byte, devabi.EventSize)
		for range rounds {
			ack <- nil // about to wait
			ok, err := sys.PollIn(r.FD(), 5*time.Second)
			if err == nil && !ok {
				err = errors.New("poll timed out: lost wakeup")
			}
			if err == nil {
				_, err = r.Read(buf)
			}
			if err == nil {
				if _, err = r.Read(buf); errors.Is(err, sys.ErrWouldBlock) {
					err = nil
				} else {
					err = fmt.Errorf("second Read = %v, want EAGAIN", err)
				}
			}
			ack <- err
			if err != nil {
				return
			}
		}
	}()
	for i := range rounds {
		<-ack
		if _, err := w.Trigger(uint64(i), 1); err != nil {
			t.Fatal(err)
		}
		if err := <-ack; err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
}
