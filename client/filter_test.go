package client_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/client"
)

// TestFilter_String: the constructors and Or give A.5's canonical form.
func TestFilter_String(t *testing.T) {
	for _, tc := range []struct {
		f    client.Filter
		want string
	}{
		{client.All, "all"},
		{client.None, "none"},
		{client.Filter{}, "none"},
		{client.Timers(), "timer"},
		{client.Triggers(), "trigger"},
		{client.TimerSource(3), "timer:3"},
		{client.TriggerPayload(42), "trigger:42"},
		{client.Timers().Or(client.Triggers()), "all"},
		{client.TriggerPayload(42).Or(client.TimerSource(7), client.TriggerPayload(7), client.TimerSource(0), client.TriggerPayload(42)),
			"timer:0,timer:7,trigger:7,trigger:42"},
		{client.TimerSource(3).Or(client.Timers(), client.TriggerPayload(1)), "timer,trigger:1"},
		{client.TriggerPayload(1).Or(client.Triggers(), client.TimerSource(2)), "trigger,timer:2"},
		{client.TriggerPayload(1<<64 - 1), "trigger:18446744073709551615"},
		{client.None.Or(), "none"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

// TestFilter_Or_doesNotAlias: Or returns a new value; the operands stay
// as they were.
func TestFilter_Or_doesNotAlias(t *testing.T) {
	a := client.TriggerPayload(5).Or(client.TriggerPayload(9))
	b := a.Or(client.TriggerPayload(1))
	_ = a.Or(client.TriggerPayload(7))
	if a.String() != "trigger:5,trigger:9" || b.String() != "trigger:1,trigger:5,trigger:9" {
		t.Errorf("a = %s, b = %s", a, b)
	}
}

// TestParseFilter: what the daemon accepts parses to its canonical form;
// what it refuses with EINVAL is an ErrBadFilter.
func TestParseFilter(t *testing.T) {
	for in, want := range map[string]string{
		"all":                                  "all",
		"none":                                 "none",
		"timer":                                "timer",
		"trigger,timer":                        "all",
		"timer,trigger,timer:3":                "all",
		"timer:3":                              "timer:3",
		"timer:03":                             "timer:3",
		"timer:7,timer:0,timer:7":              "timer:0,timer:7",
		"trigger:0x2a,trigger:42":              "trigger:42",
		"trigger:0X2A":                         "trigger:42",
		"trigger:0xffffffffffffffff":           "trigger:18446744073709551615",
		"trigger:18446744073709551615":         "trigger:18446744073709551615",
		"trigger:9,timer:2,trigger":            "trigger,timer:2",
		"trigger:9,timer:2,timer":              "timer,trigger:9",
		"trigger:1,trigger:0,timer:5":          "timer:5,trigger:0,trigger:1",
		strings.Repeat("timer,", 15) + "timer": "timer",
	} {
		f, err := client.ParseFilter(in)
		if err != nil || f.String() != want {
			t.Errorf("ParseFilter(%q) = %q, %v; want %q", in, f, err, want)
		}
	}
	for _, in := range []string{
		"", "All", "ALL", "all,timer", "none,timer", "timers", "timer:", "timer:8", "timer:-1", "timer:+1",
		"timer:0x1", "timer:3:4", "trigger:", "trigger:0x", "trigger:-1", "trigger:+1", "trigger:1_0",
		"trigger:0x1_0", "trigger:18446744073709551616", "trigger:0x10000000000000000", "trigger:ff",
		"timer,", ",timer", "timer,,trigger", " timer", "timer ", "trigger:0x-1", "timer_stopped",
		strings.Repeat("timer,", 16) + "timer",
	} {
		if f, err := client.ParseFilter(in); !errors.Is(err, client.ErrBadFilter) {
			t.Errorf("ParseFilter(%q) = %q, %v; want ErrBadFilter", in, f, err)
		}
	}
}

// TestFilter_Match: the classes match their types, a source item only its
// timer id or trigger payload.
func TestFilter_Match(t *testing.T) {
	timer3 := client.Event{Type: "timer", SourceID: 3, Arg: 42}
	stop3 := client.Event{Type: "timer_stopped", SourceID: 3}
	timer4 := client.Event{Type: "timer", SourceID: 4, Arg: 42}
	trig42 := client.Event{Type: "trigger", SourceID: 0, Arg: 42}
	trig3 := client.Event{Type: "trigger", SourceID: 0, Arg: 3}
	events := []client.Event{timer3, stop3, timer4, trig42, trig3}
	for set, want := range map[string][]bool{
		"all":                  {true, true, true, true, true},
		"none":                 {false, false, false, false, false},
		"timer":                {true, true, true, false, false},
		"trigger":              {false, false, false, true, true},
		"timer:3":              {true, true, false, false, false},
		"trigger:42":           {false, false, false, true, false},
		"timer:4,trigger:3":    {false, false, true, false, true},
		"trigger,timer:3":      {true, true, false, true, true},
		"timer:0,trigger:1234": {false, false, false, false, false},
	} {
		f, err := client.ParseFilter(set)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range events {
			if got := f.Match(e); got != want[i] {
				t.Errorf("%s.Match(%+v) = %v, want %v", set, e, got, want[i])
			}
		}
	}
}

// TestFilter_text: a Filter is a TextMarshaler, so it goes through JSON
// and flag.TextVar as its canonical string.
func TestFilter_text(t *testing.T) {
	var v struct{ F client.Filter }
	if err := json.Unmarshal([]byte(`{"F":"trigger:0x10,timer:1"}`), &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) != `{"F":"timer:1,trigger:16"}` {
		t.Errorf("Marshal = %s, %v", b, err)
	}
	if err := json.Unmarshal([]byte(`{"F":"timer:9"}`), &v); !errors.Is(err, client.ErrBadFilter) {
		t.Errorf("Unmarshal(timer:9) = %v, want ErrBadFilter", err)
	}
	if !v.F.Equal(client.TimerSource(1).Or(client.TriggerPayload(16))) || v.F.Len() != 2 || client.All.Len() != 0 {
		t.Errorf("F = %s (Len %d)", v.F, v.F.Len())
	}
}

// TestTimerSource_panics: there is no timer 8.
func TestTimerSource_panics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("TimerSource(8) did not panic")
		}
	}()
	client.TimerSource(8)
}

// TestConn_SubscribeFilter: the filter goes out in canonical form and the
// canonical reply comes back as a Filter; a reply that is not canonical
// is a protocol violation; more than 16 items never reach the daemon.
func TestConn_SubscribeFilter(t *testing.T) {
	var rec recorder
	fd := startFake(t, hello, rec.handle(func(req string) []string {
		set, _, _ := strings.Cut(strings.TrimPrefix(req, "subscribe "), " ")
		if set == "timer:3" {
			return []string{"OK subscribe timer:03"} // not canonical
		}
		return []string{"OK subscribe " + set}
	}))
	c := dial(t, fd.path)
	f := client.TriggerPayload(42).Or(client.TimerSource(5))
	got, err := c.SubscribeFilter(t.Context(), f, 7)
	if err != nil || !got.Equal(f) {
		t.Errorf("SubscribeFilter = %s, %v; want %s", got, err, f)
	}
	if _, err := c.SubscribeFilter(t.Context(), client.All, 0); err != nil {
		t.Errorf("SubscribeFilter(all) = %v", err)
	}
	if _, err := c.SubscribeFilter(t.Context(), client.TimerSource(3), 0); !errors.Is(err, client.ErrProtocol) {
		t.Errorf("SubscribeFilter with a non-canonical reply = %v, want ErrProtocol", err)
	}
	big := client.None
	for p := range uint64(17) {
		big = big.Or(client.TriggerPayload(p))
	}
	if _, err := c.SubscribeFilter(t.Context(), big, 0); !errors.Is(err, client.ErrBadFilter) {
		t.Errorf("SubscribeFilter(17 items) = %v, want ErrBadFilter", err)
	}
	rec.expect(t, "subscribe timer:5,trigger:42 from=7|subscribe all|subscribe timer:3")
}

// TestStream_filter: a Stream with a Filter resumes with its canonical
// form.
func TestStream_filter(t *testing.T) {
	reqs := make(chan string, 4)
	fd := startFake(t, hello, func(req string) []string {
		reqs <- req
		return []string{"OK subscribe timer:3", "EVT 5 timer 3 1 0 100"}
	})
	f := client.TimerSource(3)
	st := client.NewStream(client.StreamConfig{Path: fd.path, Filter: &f, Set: "ignored"})
	defer st.Close()
	m, err := st.Next(t.Context())
	if err != nil || m.Event == nil || m.Event.Seq != 5 {
		t.Fatalf("Next = %+v, %v", m, err)
	}
	if req := <-reqs; req != "subscribe timer:3 from=5" {
		t.Errorf("request = %q, want subscribe timer:3 from=5", req)
	}
}

// FuzzParseFilter: whatever ParseFilter accepts, its String parses back to
// the same filter and is a fixed point (canonical is idempotent), within
// the item limit; a string it refuses is never canonical text.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"all", "none", "timer", "trigger", "timer:3", "trigger:0x2a,timer:7,trigger",
		"trigger:18446744073709551615", "timer,trigger", "timer:08", "trigger:1,trigger:1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := client.ParseFilter(s)
		if err != nil {
			if !errors.Is(err, client.ErrBadFilter) {
				t.Fatalf("ParseFilter(%q) error %v does not wrap ErrBadFilter", s, err)
			}
			return
		}
		c := p.String()
		q, err := client.ParseFilter(c)
		if err != nil || !q.Equal(p) || q.String() != c {
			t.Fatalf("ParseFilter(%q) = %q; parsed again: %q, %v", s, c, q, err)
		}
		if p.Len() > client.MaxFilterItems || strings.Count(c, ",")+1 > client.MaxFilterItems {
			t.Fatalf("ParseFilter(%q) = %q: more than %d items", s, c, client.MaxFilterItems)
		}
		if (c == "all") != p.IsAll() || (c == "none") != p.IsNone() {
			t.Fatalf("ParseFilter(%q) = %q: IsAll %v IsNone %v", s, c, p.IsAll(), p.IsNone())
		}
	})
}
