package loop_test

import (
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/loop"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// TestLoop_Allocs checks the steady state: a turn that dispatches an event,
// runs a posted function and calls the turn-end hook allocates nothing.
func TestLoop_Allocs(t *testing.T) {
	l := newLoop(t)
	a, b := socketpair(t)
	buf := make([]byte, 8)
	h := loop.HandlerFunc(func(fd int, _ uint32) error {
		_, err := sys.Read(fd, buf)
		return err
	})
	if _, err := l.Add(a, sys.EventIn, h); err != nil {
		t.Fatalf("Add() = %v", err)
	}
	posted, ends := 0, 0
	noop := func() { posted++ }
	l.OnTurnEnd(func() { ends++ })
	msg := []byte("x")
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := sys.Write(b, msg); err != nil {
			t.Fatalf("Write() = %v", err)
		}
		l.Post(noop)
		if err := l.Turn(); err != nil {
			t.Fatalf("Turn() = %v", err)
		}
	})
	if allocs != 0 {
		t.Errorf("one turn allocates %v times, want 0", allocs)
	}
	if posted != 201 || ends != 201 {
		t.Errorf("posted ran %d times, turn end %d; want 201 each", posted, ends)
	}
}

func TestLoop_Close(t *testing.T) {
	checkFDs(t)
	l, err := loop.New(nil)
	if err == nil {
		err = l.Close()
	}
	if err != nil {
		t.Fatalf("New+Close = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close(twice) = %v, want nil", err)
	}
	if _, err := l.Add(0, sys.EventIn, nil); err != loop.ErrClosed {
		t.Errorf("Add(after Close) = %v, want ErrClosed", err)
	}
	if err := l.Run(); err != loop.ErrClosed {
		t.Errorf("Run(after Close) = %v, want ErrClosed", err)
	}
	l.Post(func() {}) // must not write to the closed eventfd's number
	l.Stop()
}

// BenchmarkLoop_Turn measures one dispatched readable event per turn
// (write, epoll_wait, handler read), against the same syscalls made
// directly in the "raw" baseline.
func BenchmarkLoop_Turn(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		epfd, err := sys.EpollCreate()
		if err != nil {
			b.Fatal(err)
		}
		defer sys.Close(epfd)
		x, y, err := sys.Socketpair()
		if err != nil {
			b.Fatal(err)
		}
		defer sys.Close(x)
		defer sys.Close(y)
		if err := sys.EpollAdd(epfd, x, sys.EventIn, 1); err != nil {
			b.Fatal(err)
		}
		evs := make([]sys.EpollEvent, 256)
		buf, msg := make([]byte, 8), []byte("x")
		for b.Loop() {
			sys.Write(y, msg)
			sys.EpollWait(epfd, evs, -1)
			sys.Read(x, buf)
		}
	})
	b.Run("loop", func(b *testing.B) {
		l, err := loop.New(nil)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		x, y, err := sys.Socketpair()
		if err != nil {
			b.Fatal(err)
		}
		defer sys.Close(x)
		defer sys.Close(y)
		buf, msg := make([]byte, 8), []byte("x")
		if _, err := l.Add(x, sys.EventIn, loop.HandlerFunc(func(fd int, _ uint32) error {
			_, err := sys.Read(fd, buf)
			return err
		})); err != nil {
			b.Fatal(err)
		}
		l.OnTurnEnd(func() {})
		for b.Loop() {
			sys.Write(y, msg)
			if err := l.Turn(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
