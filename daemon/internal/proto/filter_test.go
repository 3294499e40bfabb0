package proto_test

import (
	"strings"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/proto"
)

// TestParseFilter: every accepted set and its canonical form (A.5), and
// every rejected one.
func TestParseFilter(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"all", "all"},
		{"none", "none"},
		{"timer", "timer"},
		{"trigger", "trigger"},
		{"trigger,timer", "all"},
		{"timer,trigger,timer", "all"},
		{"timer:3", "timer:3"},
		{"timer:7,timer:0,timer:3,timer:3", "timer:0,timer:3,timer:7"},
		{"timer:03", "timer:3"},
		{"timer:3,timer", "timer"},
		{"timer,timer:3", "timer"},
		{"trigger:0x10,trigger:7,trigger:16", "trigger:7,trigger:16"},
		{"trigger:7,trigger", "trigger"},
		{"trigger:18446744073709551615,trigger:0xffffffffffffffff", "trigger:18446744073709551615"},
		{"trigger:0", "trigger:0"},
		{"trigger:7,timer:3,timer", "timer,trigger:7"},
		{"timer:3,trigger:7,trigger", "trigger,timer:3"},
		{"timer:3,trigger:7,trigger,timer", "all"},
		{strings.Repeat("trigger:1,", 15) + "trigger:2", "trigger:1,trigger:2"},
		{"trigger:1,trigger:2,trigger:3,trigger:4,trigger:5,trigger:6,trigger:7,trigger:8,trigger:9,trigger:10,trigger:11,trigger:12,trigger:13,trigger:14,trigger:15,trigger:16",
			"trigger:1,trigger:2,trigger:3,trigger:4,trigger:5,trigger:6,trigger:7,trigger:8,trigger:9,trigger:10,trigger:11,trigger:12,trigger:13,trigger:14,trigger:15,trigger:16"},
	} {
		f, ok := proto.ParseFilter([]byte(tc.in))
		if !ok {
			t.Errorf("ParseFilter(%q) rejected, want %q", tc.in, tc.want)
			continue
		}
		if got := f.String(); got != tc.want {
			t.Errorf("ParseFilter(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if g, ok := proto.ParseFilter([]byte(f.String())); !ok || g != f {
			t.Errorf("ParseFilter(%q) does not round trip: %q", tc.in, g.String())
		}
	}
	for _, in := range []string{
		"", ",", "timer,", ",timer", "timer,,trigger", "all,timer", "none,timer", "timer_stopped",
		"timer:", "timer:8", "timer:-1", "timer:x", "timer:0x3", "timer:99999999999999999999",
		"trigger:", "trigger:x", "trigger:18446744073709551616", "trigger:0x10000000000000000", "trigger:0x",
		"trigger:-1", "Timer", "timer:3 ", "timers",
		strings.Repeat("timer,", 16) + "timer", // 17 items
		strings.Repeat("trigger:1,", 16) + "trigger:2",
	} {
		if f, ok := proto.ParseFilter([]byte(in)); ok {
			t.Errorf("ParseFilter(%q) = %q, want rejected", in, f.String())
		}
	}
}

func TestFilter_Match(t *testing.T) {
	timer := func(id uint32) devabi.Event { return devabi.Event{Type: devabi.EvTimer, SourceID: id, Arg: 5} }
	stopped := func(id uint32) devabi.Event { return devabi.Event{Type: devabi.EvTimerStopped, SourceID: id} }
	trig := func(p uint64) devabi.Event { return devabi.Event{Type: devabi.EvTrigger, Arg: p} }
	for _, tc := range []struct {
		set  string
		ev   devabi.Event
		want bool
	}{
		{"all", timer(1), true},
		{"all", devabi.Event{Type: devabi.EvOverflow}, false},
		{"none", trig(0), false},
		{"timer", stopped(4), true},
		{"timer", trig(3), false},
		{"trigger", trig(3), true},
		{"timer:3", timer(3), true},
		{"timer:3", stopped(3), true},
		{"timer:3", timer(1), false},
		{"timer:3", trig(3), false},
		{"timer:0", timer(0), true},
		{"timer:0", devabi.Event{Type: devabi.EvTimer, SourceID: 8}, false},
		{"trigger:7", trig(7), true},
		{"trigger:7", trig(8), false},
		{"trigger:7", timer(7), false},
		{"timer:3,trigger:0xff", trig(255), true},
		{"timer,trigger:9", trig(9), true},
		{"timer,trigger:9", trig(1), false},
	} {
		f, ok := proto.ParseFilter([]byte(tc.set))
		if !ok {
			t.Fatalf("ParseFilter(%q) rejected", tc.set)
		}
		if got := f.Match(&tc.ev); got != tc.want {
			t.Errorf("%q.Match(%v %d arg %d) = %v, want %v", tc.set, tc.ev.Type, tc.ev.SourceID, tc.ev.Arg, got, tc.want)
		}
	}
}

func TestFilter_AllNone(t *testing.T) {
	for _, tc := range []struct {
		set       string
		all, none bool
	}{
		{"all", true, false}, {"timer,trigger", true, false}, {"none", false, true},
		{"timer", false, false}, {"timer:0", false, false}, {"trigger:0", false, false},
	} {
		f, _ := proto.ParseFilter([]byte(tc.set))
		if f.All() != tc.all || f.None() != tc.none {
			t.Errorf("%q: All() = %v, None() = %v, want %v, %v", tc.set, f.All(), f.None(), tc.all, tc.none)
		}
	}
	if !(proto.Filter{}).None() || proto.FilterNone != (proto.Filter{}) {
		t.Error("the zero Filter is not none")
	}
}

// TestParseFilter_allocs: parsing a subscribe set does not allocate (the
// request path's 0 allocs).
func TestParseFilter_allocs(t *testing.T) {
	in := []byte("timer:3,timer:1,trigger:0x10,trigger:7,trigger:99")
	n := testing.AllocsPerRun(100, func() {
		if _, ok := proto.ParseFilter(in); !ok {
			t.Fatal("rejected")
		}
	})
	if n != 0 {
		t.Errorf("ParseFilter allocs = %v, want 0", n)
	}
}

// FuzzParseFilter: the parser never panics, what it accepts round trips
// through its canonical form, and the canonical form is a fixed point.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"all", "none", "timer", "trigger,timer", "timer:3,trigger:0x10", "trigger:7,trigger:7,timer", "timer:9", "trigger:,", strings.Repeat("trigger:1,", 17)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, ok := proto.ParseFilter([]byte(s))
		if !ok {
			return
		}
		c := flt.String()
		g, ok := proto.ParseFilter([]byte(c))
		if !ok || g != flt {
			t.Fatalf("%q: canonical %q parses back as %q, %v", s, c, g.String(), ok)
		}
		if c2 := g.String(); c2 != c {
			t.Fatalf("%q: canonical %q is not idempotent: %q", s, c, c2)
		}
		if strings.Count(s, ",") >= proto.MaxFilterItems {
			t.Fatalf("%q: more than %d items accepted", s, proto.MaxFilterItems)
		}
	})
}

func BenchmarkParseRequest(b *testing.B) {
	for _, line := range []string{"echo hello", "trigger 0x10 4", "start_timer 3 250 10", "subscribe all", "subscribe timer:3,trigger:7,trigger:0x10 from=5"} {
		b.Run(strings.Fields(line)[0]+"/"+strings.Fields(line + " x")[1], func(b *testing.B) {
			l := []byte(line)
			b.ReportAllocs()
			for b.Loop() {
				if _, perr := proto.ParseRequest(l); perr != nil {
					b.Fatal(perr)
				}
			}
		})
	}
}
