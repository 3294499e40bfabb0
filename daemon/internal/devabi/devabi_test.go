package devabi_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
)

// field is one member of a C struct: its name in mypoll.h, offset and size.
type field struct {
	name         string
	offset, size uintptr
}

// layouts is PROTOCOL.md B.2/B.2a written out by hand: the Go structs must
// have exactly these offsets and sizes (and so no implicit padding).
var layouts = []struct {
	v      any
	size   uintptr
	fields []field
}{
	{devabi.Event{}, devabi.EventSize, []field{{"seq", 0, 8}, {"timestamp_ns", 8, 8}, {"type", 16, 2}, {"flags", 18, 2}, {"source_id", 20, 4}, {"arg", 24, 8}, {"aux", 32, 8}, {"reserved", 40, 8}}},
	{devabi.Info{}, devabi.InfoSize, []field{{"abi_version", 0, 4}, {"event_size", 4, 4}, {"ring_size", 8, 4}, {"max_timers", 12, 4}, {"min_period_ns", 16, 8}, {"max_period_ns", 24, 8}, {"max_burst", 32, 4}, {"max_write", 36, 4}, {"instance_id", 40, 8}, {"reserved", 48, 24}}},
	{devabi.Stats{}, devabi.StatsSize, []field{{"next_seq", 0, 8}, {"oldest_seq", 8, 8}, {"generated", 16, 8}, {"timer_events", 24, 8}, {"trigger_events", 32, 8}, {"overwritten", 40, 8}, {"timer_overruns", 48, 8}, {"readers", 56, 4}, {"active_timers", 60, 4}, {"reserved", 64, 32}}},
	{devabi.ReaderInfo{}, devabi.ReaderInfoSize, []field{{"cursor", 0, 8}, {"pending", 8, 8}, {"lost_total", 16, 8}, {"overflows", 24, 8}, {"reserved", 32, 32}}},
	{devabi.Seek{}, devabi.SeekSize, []field{{"whence", 0, 4}, {"reserved", 4, 4}, {"seq", 8, 8}}},
	{devabi.Timer{}, devabi.TimerSize, []field{{"id", 0, 4}, {"flags", 4, 4}, {"period_ns", 8, 8}, {"count", 16, 8}, {"cookie", 24, 8}, {"ticks", 32, 8}, {"active", 40, 4}, {"reserved", 44, 4}}},
	{devabi.Trigger{}, devabi.TriggerSize, []field{{"payload", 0, 8}, {"count", 8, 4}, {"flags", 12, 4}, {"first_seq", 16, 8}}},
}

func TestLayout(t *testing.T) {
	for _, l := range layouts {
		typ := reflect.TypeOf(l.v)
		t.Run(typ.Name(), func(t *testing.T) {
			if typ.Size() != l.size {
				t.Errorf("sizeof(%s) = %d, want %d", typ.Name(), typ.Size(), l.size)
			}
			if typ.NumField() != len(l.fields) {
				t.Fatalf("%s has %d fields, want %d", typ.Name(), typ.NumField(), len(l.fields))
			}
			for i, want := range l.fields {
				f := typ.Field(i)
				if f.Offset != want.offset || f.Type.Size() != want.size {
					t.Errorf("%s.%s (%s): offset %d size %d, want offset %d size %d",
						typ.Name(), f.Name, want.name, f.Offset, f.Type.Size(), want.offset, want.size)
				}
			}
		})
	}
}

// ioc rebuilds an asm-generic ioctl number: dir<<30 | size<<16 | type<<8 | nr.
func ioc(dir, nr, size uint32) uint32 { return dir<<30 | size<<16 | devabi.IocMagic<<8 | nr }

func TestIoctlNumbers(t *testing.T) {
	const none, write, read = 0, 1, 2
	tests := []struct {
		name string
		got  uint32
		want uint32
	}{
		{"GET_INFO", devabi.IocGetInfo, ioc(read, 0x00, devabi.InfoSize)},
		{"GET_STATS", devabi.IocGetStats, ioc(read, 0x01, devabi.StatsSize)},
		{"GET_READER", devabi.IocGetReader, ioc(read, 0x02, devabi.ReaderInfoSize)},
		{"SEEK", devabi.IocSeek, ioc(write, 0x03, devabi.SeekSize)},
		{"TIMER_START", devabi.IocTimerStart, ioc(write, 0x10, devabi.TimerSize)},
		{"TIMER_STOP", devabi.IocTimerStop, ioc(write, 0x11, 4)},
		{"TIMER_GET", devabi.IocTimerGet, ioc(read|write, 0x12, devabi.TimerSize)},
		{"TRIGGER", devabi.IocTrigger, ioc(read|write, 0x13, devabi.TriggerSize)},
		{"RESET_STATS", devabi.IocResetStats, ioc(none, 0x14, 0)},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("MYPOLL_IOC_%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
	}
}

// TestIoctlNumbers_ProtocolB checks the numbers PROTOCOL.md B.2a lists for
// ABI version 2 (magic 0xBC), and that GET_INFO of version 1 (magic 0xB8),
// which the daemon tries to name an old module, is the old number.
func TestIoctlNumbers_ProtocolB(t *testing.T) {
	if devabi.ABIVersion != 2 || devabi.IocMagic != 0xBC {
		t.Errorf("ABI version %d magic %#x, want 2 and 0xbc", devabi.ABIVersion, devabi.IocMagic)
	}
	for _, tt := range []struct {
		name      string
		got, want uint32
	}{
		{"GET_INFO", devabi.IocGetInfo, 0x8048bc00},
		{"GET_STATS", devabi.IocGetStats, 0x8060bc01},
		{"GET_READER", devabi.IocGetReader, 0x8040bc02},
		{"SEEK", devabi.IocSeek, 0x4010bc03},
		{"TIMER_START", devabi.IocTimerStart, 0x4030bc10},
		{"TIMER_STOP", devabi.IocTimerStop, 0x4004bc11},
		{"TIMER_GET", devabi.IocTimerGet, 0xc030bc12},
		{"TRIGGER", devabi.IocTrigger, 0xc018bc13},
		{"RESET_STATS", devabi.IocResetStats, 0x0000bc14},
		{"GET_INFO of version 1", devabi.IocGetInfoV1, 0x8048b800},
	} {
		if tt.got != tt.want {
			t.Errorf("MYPOLL_IOC_%s = %#x, PROTOCOL.md B.2a says %#x", tt.name, tt.got, tt.want)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	e := devabi.Event{Seq: 7, TimestampNS: 1e9, Type: devabi.EvTimer, SourceID: 3, Arg: 12, Aux: 2}
	b := devabi.AppendEvent(nil, e)
	if len(b) != devabi.EventSize {
		t.Fatalf("AppendEvent wrote %d bytes, want %d", len(b), devabi.EventSize)
	}
	got, err := devabi.DecodeEvent(b)
	if err != nil || got != e {
		t.Fatalf("DecodeEvent(AppendEvent(%+v)) = %+v, %v", e, got, err)
	}
	if _, err := devabi.DecodeEvent(b[:47]); err != devabi.ErrShortRecord {
		t.Fatalf("DecodeEvent(47 bytes) error = %v, want ErrShortRecord", err)
	}
}

func TestEventType_String(t *testing.T) {
	for typ, want := range map[devabi.EventType]string{1: "timer", 2: "trigger", 3: "overflow", 4: "timer_stopped", 9: "type9"} {
		if got := typ.String(); got != want {
			t.Errorf("EventType(%d).String() = %q, want %q", typ, got, want)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(devabi.AppendEvent(nil, devabi.Event{Seq: 1, Type: devabi.EvTrigger}))
	f.Add(make([]byte, 47))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		e, err := devabi.DecodeEvent(b)
		if err != nil {
			if len(b) >= devabi.EventSize {
				t.Fatalf("DecodeEvent(%d bytes) failed: %v", len(b), err)
			}
			return
		}
		if re := devabi.AppendEvent(nil, e); !bytes.Equal(re, b[:devabi.EventSize]) {
			t.Fatalf("re-encoding %+v changed the bytes", e)
		}
		_ = e.Type.String()
	})
}
