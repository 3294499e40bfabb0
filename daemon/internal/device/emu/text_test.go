package emu_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/device/emu"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in   string
		want emu.Command
		ok   bool
	}{
		{"trigger", emu.Command{Verb: emu.VerbTrigger}, true},
		{"trigger 7\n", emu.Command{Verb: emu.VerbTrigger, Payload: 7}, true},
		{"trigger\t0XfF", emu.Command{Verb: emu.VerbTrigger, Payload: 255}, true},
		{"  start  3 10 4 ", emu.Command{Verb: emu.VerbStart, ID: 3, PeriodMS: 10, Count: 4}, true},
		{"start 9 10", emu.Command{Verb: emu.VerbStart, ID: 8, PeriodMS: 10}, true},
		{"stop 7", emu.Command{Verb: emu.VerbStop, ID: 7}, true},
		{"stop 99999999999", emu.Command{Verb: emu.VerbStop, ID: 8}, true},
		{"", emu.Command{}, false},
		{"\n", emu.Command{}, false},
		{"trigger 1 2", emu.Command{}, false},
		{"trigger 0b1", emu.Command{}, false},
		{"trigger 1e3", emu.Command{}, false},
		{"stop\v1", emu.Command{}, false},
		{"start 1 2 3 4", emu.Command{}, false},
		{"trigger \xff", emu.Command{}, false},
	}
	for _, tt := range tests {
		got, ok := emu.ParseCommand([]byte(tt.in))
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFile_WriteTextDisabled(t *testing.T) {
	d := emu.New(emu.Config{NoTextCtl: true})
	f, err := d.OpenFile(true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteText([]byte("trigger\n")); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("WriteText with text control off: error = %v, want EINVAL", err)
	}
}

// canonical re-encodes c in the form ParseCommand must read back as c.
func canonical(c emu.Command) string {
	switch c.Verb {
	case emu.VerbTrigger:
		return fmt.Sprintf("trigger %d", c.Payload)
	case emu.VerbStart:
		return fmt.Sprintf("start %d %d %d", c.ID, c.PeriodMS, c.Count)
	case emu.VerbStop:
		return fmt.Sprintf("stop %d", c.ID)
	}
	return ""
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"trigger", "trigger 42\n", "trigger 0x2a", "start 0 10", "start 7 1000 5\n", "stop 3",
		"stop 8", "start 0 3600001", "trigger\x00", "trigger 18446744073709551616", "\n", "",
	} {
		f.Add([]byte(s))
	}
	clk := emu.NewManualClock(0)
	d := emu.New(emu.Config{Clock: clk, RingOrder: 4})
	w, err := d.OpenFile(true)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { w.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4*devabi.MaxWrite {
			return
		}
		c, ok := emu.ParseCommand(b)
		if ok {
			if len(b) > devabi.MaxWrite {
				t.Fatalf("ParseCommand accepted %d bytes", len(b))
			}
			again, ok2 := emu.ParseCommand([]byte(canonical(c)))
			if !ok2 || again != c {
				t.Fatalf("ParseCommand(%q) = %+v, but its canonical form %q parses as %+v, %v", b, c, canonical(c), again, ok2)
			}
		}
		// The device path must agree with the parser and fail only with
		// the documented errnos.
		n, err := w.WriteText(b)
		switch {
		case err == nil:
			if n != len(b) || (!ok && len(b) > 0) {
				t.Fatalf("WriteText(%q) = %d, nil; parser ok=%v", b, n, ok)
			}
		case errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.EBUSY), errors.Is(err, syscall.ENOENT):
		default:
			t.Fatalf("WriteText(%q) error = %v", b, err)
		}
		clk.Advance(time.Millisecond)
	})
}
