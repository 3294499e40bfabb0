package devabi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ABIVersion is MYPOLL_ABI_VERSION. Version 2 changed only the ioctl
// magic (version 1 used 0xB8, since assigned to other Linux drivers).
const ABIVersion = 2

// Limits fixed by the ABI (PROTOCOL.md B.1, B.2a).
const (
	// EventSize is sizeof(struct mypoll_event).
	EventSize = 48
	// MaxTimers is MYPOLL_MAX_TIMERS: timer ids are 0..MaxTimers-1.
	MaxTimers = 8
	// MaxWrite is the longest text control command accepted by write(2).
	MaxWrite = 64
	// MaxPeriodNS is the longest timer period: 3600 s.
	MaxPeriodNS = 3600 * 1000 * 1000 * 1000
)

// EventType is mypoll_event.type.
type EventType uint16

// Event types (MYPOLL_EV_*).
const (
	EvTimer        EventType = 1
	EvTrigger      EventType = 2
	EvOverflow     EventType = 3
	EvTimerStopped EventType = 4
)

// String returns the protocol name of t: "timer", "trigger", "overflow",
// "timer_stopped", or "type<N>" for an unknown value.
func (t EventType) String() string {
	switch t {
	case EvTimer:
		return "timer"
	case EvTrigger:
		return "trigger"
	case EvOverflow:
		return "overflow"
	case EvTimerStopped:
		return "timer_stopped"
	}
	return fmt.Sprintf("type%d", uint16(t))
}

// Reasons carried in the aux field of an EvTimerStopped record.
const (
	StopReasonStop   = 0 // TIMER_STOP ioctl or "stop" write
	StopReasonCount  = 1 // the timer's count was reached
	StopReasonClosed = 2 // the OWNED timer's file was released
)

// Seek whence values (MYPOLL_SEEK_*).
const (
	SeekLive   = 0 // cursor = next_seq
	SeekOldest = 1 // cursor = oldest_seq
	SeekSeq    = 2 // cursor = seq; seq > next_seq gives EINVAL
)

// Timer flags (MYPOLL_TIMER_F_*).
const (
	TimerOwned    = 1 << 0 // stop when the starting file is released
	TimerReplace  = 1 << 1 // restart a running timer instead of EBUSY
	TimerFlagsAll = TimerOwned | TimerReplace
)

// Event must match struct mypoll_event in mypoll.h (48 bytes).
type Event struct {
	Seq         uint64 // OVERFLOW: first lost seq
	TimestampNS uint64 // CLOCK_MONOTONIC at generation (OVERFLOW: at read)
	Type        EventType
	Flags       uint16
	SourceID    uint32 // timer id; 0 for TRIGGER
	Arg         uint64 // TIMER: tick number; TRIGGER: payload; TIMER_STOPPED: final tick
	Aux         uint64 // TIMER: extra ticks folded in; TRIGGER: index in burst; OVERFLOW: count lost; TIMER_STOPPED: reason
	Reserved    uint64
}

// Info must match struct mypoll_info in mypoll.h (72 bytes).
type Info struct {
	ABIVersion  uint32
	EventSize   uint32
	RingSize    uint32
	MaxTimers   uint32
	MinPeriodNS uint64
	MaxPeriodNS uint64
	MaxBurst    uint32
	MaxWrite    uint32
	InstanceID  uint64
	Reserved    [3]uint64
}

// Stats must match struct mypoll_stats in mypoll.h (96 bytes).
type Stats struct {
	NextSeq       uint64
	OldestSeq     uint64
	Generated     uint64
	TimerEvents   uint64
	TriggerEvents uint64
	Overwritten   uint64
	TimerOverruns uint64
	Readers       uint32
	ActiveTimers  uint32 // bitmask of running ids
	Reserved      [4]uint64
}

// ReaderInfo must match struct mypoll_reader_info in mypoll.h (64 bytes).
type ReaderInfo struct {
	Cursor    uint64
	Pending   uint64
	LostTotal uint64
	Overflows uint64
	Reserved  [4]uint64
}

// Seek must match struct mypoll_seek in mypoll.h (16 bytes).
type Seek struct {
	Whence   uint32
	Reserved uint32
	Seq      uint64
}

// Timer must match struct mypoll_timer in mypoll.h (48 bytes).
type Timer struct {
	ID       uint32
	Flags    uint32
	PeriodNS uint64
	Count    uint64 // 0 = forever
	Cookie   uint64
	Ticks    uint64 // out (TIMER_GET); must be 0 for TIMER_START
	Active   uint32 // out (TIMER_GET); must be 0 for TIMER_START
	Reserved uint32
}

// Trigger must match struct mypoll_trigger in mypoll.h (24 bytes).
type Trigger struct {
	Payload  uint64
	Count    uint32 // 1..max_burst
	Flags    uint32 // 0
	FirstSeq uint64 // out; must be 0 on input
}

// ioctl numbers on the asm-generic encoding (x86, arm, arm64, riscv),
// PROTOCOL.md B.2a. The dir/size/type/nr split is checked by the tests.
const (
	IocMagic = 0xBC

	// #define MYPOLL_IOC_GET_INFO _IOR(MYPOLL_IOC_MAGIC, 0x00, struct mypoll_info)
	IocGetInfo = 0x8048bc00
	// #define MYPOLL_IOC_GET_STATS _IOR(MYPOLL_IOC_MAGIC, 0x01, struct mypoll_stats)
	IocGetStats = 0x8060bc01
	// #define MYPOLL_IOC_GET_READER _IOR(MYPOLL_IOC_MAGIC, 0x02, struct mypoll_reader_info)
	IocGetReader = 0x8040bc02
	// #define MYPOLL_IOC_SEEK _IOW(MYPOLL_IOC_MAGIC, 0x03, struct mypoll_seek)
	IocSeek = 0x4010bc03
	// #define MYPOLL_IOC_TIMER_START _IOW(MYPOLL_IOC_MAGIC, 0x10, struct mypoll_timer)
	IocTimerStart = 0x4030bc10
	// #define MYPOLL_IOC_TIMER_STOP _IOW(MYPOLL_IOC_MAGIC, 0x11, __u32)
	IocTimerStop = 0x4004bc11
	// #define MYPOLL_IOC_TIMER_GET _IOWR(MYPOLL_IOC_MAGIC, 0x12, struct mypoll_timer)
	IocTimerGet = 0xc030bc12
	// #define MYPOLL_IOC_TRIGGER _IOWR(MYPOLL_IOC_MAGIC, 0x13, struct mypoll_trigger)
	IocTrigger = 0xc018bc13
	// #define MYPOLL_IOC_RESET_STATS _IO(MYPOLL_IOC_MAGIC, 0x14)
	IocResetStats = 0x0000bc14
)

// IocGetInfoV1 is MYPOLL_IOC_GET_INFO of ABI version 1 (magic 0xB8, not in
// today's mypoll.h); nothing issues it. A version-2 module answers every
// version-1 number with ENOTTY (kmod/ktest checks it), and a version-1
// module answers IocGetInfo with ENOTTY, which device.Open reports as an
// ABIError.
const IocGetInfoV1 = 0x8048b800

// Size constants: sizeof each struct in mypoll.h.
const (
	InfoSize       = 72
	StatsSize      = 96
	ReaderInfoSize = 64
	SeekSize       = 16
	TimerSize      = 48
	TriggerSize    = 24
)

// ErrShortRecord is returned by DecodeEvent for fewer than EventSize bytes.
var ErrShortRecord = errors.New("devabi: record shorter than 48 bytes")

// DecodeEvent decodes one record from the first EventSize bytes of b, in the
// byte order of the machine (the kernel writes native-endian records).
func DecodeEvent(b []byte) (Event, error) {
	if len(b) < EventSize {
		return Event{}, ErrShortRecord
	}
	ne := binary.NativeEndian
	return Event{
		Seq:         ne.Uint64(b[0:]),
		TimestampNS: ne.Uint64(b[8:]),
		Type:        EventType(ne.Uint16(b[16:])),
		Flags:       ne.Uint16(b[18:]),
		SourceID:    ne.Uint32(b[20:]),
		Arg:         ne.Uint64(b[24:]),
		Aux:         ne.Uint64(b[32:]),
		Reserved:    ne.Uint64(b[40:]),
	}, nil
}

// AppendEvent appends the EventSize-byte native-endian encoding of e to b.
// It is the inverse of DecodeEvent (used by the emulated device and tests).
func AppendEvent(b []byte, e Event) []byte {
	ne := binary.NativeEndian
	b = ne.AppendUint64(b, e.Seq)
	b = ne.AppendUint64(b, e.TimestampNS)
	b = ne.AppendUint16(b, uint16(e.Type))
	b = ne.AppendUint16(b, e.Flags)
	b = ne.AppendUint32(b, e.SourceID)
	b = ne.AppendUint64(b, e.Arg)
	b = ne.AppendUint64(b, e.Aux)
	return ne.AppendUint64(b, e.Reserved)
}
