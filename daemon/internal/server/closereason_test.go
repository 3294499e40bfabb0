package server_test

import (
	"strings"
	"testing"
	"time"
)

// TestServer_StatsCloseReasons: stats counts closed clients by typed
// reason (closed_<reason>=, extra keys as A.5 allows).
func TestServer_StatsCloseReasons(t *testing.T) {
	d := startDaemon(t)
	q := d.dial(t)
	if r := q.Do("quit"); r != "OK quit" {
		t.Fatalf("quit -> %q", r)
	}
	q.ExpectEOF()
	e := d.dial(t)
	e.Net().Close()
	ctl := d.dial(t)
	want := []string{" closed_quit=1 ", " closed_eof=1 ", " closed_evicted=0 ", " closed_write_error=0 "}
	var r string
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r = ctl.Do("stats") + " "
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(r, w)
		}
		if ok {
			return
		}
	}
	t.Fatalf("stats = %q, want %q", r, want)
}
