package loop_test

import (
	"slices"
	"testing"
	"time"
)

func TestTimer_Order(t *testing.T) {
	checkFDs(t)
	l := newLoop(t)
	var now time.Duration
	l.SetNow(func() time.Duration { return now })
	var fired []string
	rec := func(s string) func() { return func() { fired = append(fired, s) } }

	l.AfterFunc(30*time.Millisecond, rec("30ms"))
	l.AfterFunc(10*time.Millisecond, rec("10ms"))
	l.AfterFunc(20*time.Millisecond, rec("20ms"))
	l.AfterFunc(20*time.Millisecond, rec("20ms second"))
	stopped := l.AfterFunc(15*time.Millisecond, rec("stopped"))
	if !stopped.Stop() {
		t.Errorf("Stop(pending) = false, want true")
	}
	if stopped.Stop() {
		t.Errorf("Stop(stopped) = true, want false")
	}

	now = 25 * time.Millisecond
	if err := l.Turn(); err != nil { // the 10ms deadline has passed: no wait
		t.Fatalf("Turn() = %v", err)
	}
	if want := []string{"10ms", "20ms", "20ms second"}; !slices.Equal(fired, want) {
		t.Fatalf("fired %v at 25ms, want %v", fired, want)
	}
	now = 30 * time.Millisecond
	last := l.AfterFunc(0, rec("0 at 30ms"))
	if err := l.Turn(); err != nil {
		t.Fatalf("Turn() = %v", err)
	}
	if want := []string{"10ms", "20ms", "20ms second", "30ms", "0 at 30ms"}; !slices.Equal(fired, want) {
		t.Errorf("fired %v at 30ms, want %v", fired, want)
	}
	if last.Stop() {
		t.Errorf("Stop(fired) = true, want false")
	}
}

// TestTimer_NoStarvation: a timer that reschedules itself at once runs once
// per turn, so events and posted functions still get their turn.
func TestTimer_NoStarvation(t *testing.T) {
	l := newLoop(t)
	var now time.Duration
	l.SetNow(func() time.Duration { return now })
	runs := 0
	var tick func()
	tick = func() {
		runs++
		l.AfterFunc(0, tick)
	}
	l.AfterFunc(0, tick)
	for turn := 1; turn <= 3; turn++ {
		if err := l.Turn(); err != nil {
			t.Fatalf("Turn() = %v", err)
		}
		if runs != turn {
			t.Fatalf("after %d turns the timer ran %d times, want %d", turn, runs, turn)
		}
	}
}

// TestTimer_Run uses the real clock: the epoll timeout must come from the
// timer heap, or Run would wait forever.
func TestTimer_Run(t *testing.T) {
	checkFDs(t)
	l := newLoop(t)
	start := time.Now()
	var fired []int
	l.AfterFunc(3*time.Millisecond, func() { fired = append(fired, 2) })
	l.AfterFunc(1*time.Millisecond, func() { fired = append(fired, 1) })
	l.AfterFunc(5*time.Millisecond, l.Stop)
	if err := runAsync(t, l)(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if elapsed := time.Since(start); elapsed < 5*time.Millisecond {
		t.Errorf("Run() stopped after %v, before the 5ms timer", elapsed)
	}
	if !slices.Equal(fired, []int{1, 2}) {
		t.Errorf("fired %v, want [1 2]", fired)
	}
}
