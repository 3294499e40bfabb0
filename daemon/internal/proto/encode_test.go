package proto_test

import (
	"fmt"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/proto"
)

func TestAppend(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"hello", proto.AppendHello(nil, 0x1234abcd, 17), "HELLO mypoll 1 000000001234abcd 17\n"},
		{"hello no device", proto.AppendHello(nil, 0, 1), "HELLO mypoll 1 0000000000000000 1\n"},
		{"hello max", proto.AppendHello(nil, 1<<64-1, 1<<64-1), "HELLO mypoll 1 ffffffffffffffff 18446744073709551615\n"},
		{"ok", proto.AppendOK(nil, proto.VerbQuit), "OK quit\n"},
		{"ok detail", proto.AppendOKDetail(nil, proto.VerbEcho, []byte(" a\tb ")), "OK echo  a\tb \n"},
		{"ok detail sanitized", proto.AppendOKDetail(nil, proto.VerbEcho, []byte("a\nb\x00\xff")), "OK echo a?b??\n"},
		{"ok uint", proto.AppendOKUint(nil, proto.VerbStartTimer, 3), "OK start_timer 3\n"},
		{"ok trigger", proto.AppendOKTrigger(nil, 100, 4096), "OK trigger 100 4096\n"},
		{"ok subscribe", proto.AppendOKSubscribe(nil, proto.FilterAll), "OK subscribe all\n"},
		{"ok timers none", proto.AppendOKTimers(nil, nil), "OK timers\n"},
		{"ok timers", proto.AppendOKTimers(nil, []proto.TimerInfo{{ID: 1, PeriodMS: 100, Ticks: 5}, {ID: 7, PeriodMS: 3600000, Ticks: 0, Count: 9}}), "OK timers 1:100:5:0 7:3600000:0:9\n"},
		{"ok stats", proto.AppendOKStats(nil, []proto.Stat{
			{Key: "clients", Value: 2},
			{Key: "instance_id", Value: 0xab, Hex: true},
			{Key: "odd key\x01", Value: 1<<64 - 1},
		}), "OK stats clients=2 instance_id=00000000000000ab odd_key?=18446744073709551615\n"},
		{"err", proto.AppendErr(nil, &proto.Error{Verb: []byte("stop_timer"), Errno: proto.ENOENT, Msg: "timer 3 is not running"}), "ERR stop_timer ENOENT timer 3 is not running\n"},
		{"err no verb", proto.AppendErr(nil, &proto.Error{Errno: proto.EMFILE, Msg: "too many clients (max 1024)"}), "ERR - EMFILE too many clients (max 1024)\n"},
		{"err defaults", proto.AppendErr(nil, &proto.Error{Verb: []byte("a b\tc"), Errno: 0}), "ERR a_b_c EIO device error\n"},
		{"err sanitized", proto.AppendErr(nil, &proto.Error{Verb: []byte("x"), Errno: proto.EIO, Msg: "bad\x1b[0m\n"}), "ERR x EIO bad?[0m?\n"},
		{"err long verb", proto.AppendErr(nil, &proto.Error{Verb: []byte("0123456789012345678901234567890123456789"), Errno: proto.ENOSYS, Msg: "m"}), "ERR 01234567890123456789012345678901 ENOSYS m\n"},
		{"evt timer", proto.AppendEvent(nil, devabi.Event{Seq: 1, TimestampNS: 99, Type: devabi.EvTimer, SourceID: 7, Arg: 12, Aux: 2}), "EVT 1 timer 7 12 2 99\n"},
		{"evt trigger", proto.AppendEvent(nil, devabi.Event{Seq: 1<<64 - 1, TimestampNS: 1<<64 - 1, Type: devabi.EvTrigger, SourceID: 1<<32 - 1, Arg: 1<<64 - 1, Aux: 1<<64 - 1}), "EVT 18446744073709551615 trigger 4294967295 18446744073709551615 18446744073709551615 18446744073709551615\n"},
		{"evt stopped", proto.AppendEvent(nil, devabi.Event{Seq: 5, Type: devabi.EvTimerStopped, SourceID: 2, Arg: 10, Aux: devabi.StopReasonCount}), "EVT 5 timer_stopped 2 10 1 0\n"},
		{"lost queue", proto.AppendLost(nil, 120, 130, 11, proto.LostQueue), "LOST 120 130 11 queue\n"},
		{"lost device", proto.AppendLost(nil, 1, 1, 1, proto.LostDevice), "LOST 1 1 1 device\n"},
		{"lost restart", proto.AppendLost(nil, 3, 9, 2, proto.LostRestart), "LOST 3 9 2 restart\n"},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestAppendEvent_allocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	ev := devabi.Event{Seq: 123456, TimestampNS: 987654321012, Type: devabi.EvTimer, SourceID: 3, Arg: 77}
	if n := testing.AllocsPerRun(100, func() { buf = proto.AppendEvent(buf[:0], ev) }); n != 0 {
		t.Errorf("AppendEvent allocs = %v, want 0", n)
	}
}

func TestErrno_String(t *testing.T) {
	want := []string{"EINVAL", "E2BIG", "EILSEQ", "ENOSYS", "EPERM", "ENODEV", "EBUSY", "ENOENT", "EMFILE", "EIO", "ERANGE"}
	for i, w := range want {
		if got := proto.Errno(i + 1).String(); got != w {
			t.Errorf("Errno(%d).String() = %q, want %q", i+1, got, w)
		}
	}
}

// BenchmarkAppendEvent measures the per-broadcast encoding; "fmt" is the
// naive fmt.Appendf encoding, the baseline to compare with in the same run.
func BenchmarkAppendEvent(b *testing.B) {
	ev := devabi.Event{Seq: 1234567, TimestampNS: 98765432101234, Type: devabi.EvTimer, SourceID: 3, Arg: 4242}
	buf := make([]byte, 0, 256)
	b.Run("event", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = proto.AppendEvent(buf[:0], ev)
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("fmt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = fmt.Appendf(buf[:0], "EVT %d %s %d %d %d %d\n", ev.Seq, ev.Type, ev.SourceID, ev.Arg, ev.Aux, ev.TimestampNS)
		}
		b.SetBytes(int64(len(buf)))
	})
}
