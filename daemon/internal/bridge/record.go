package bridge

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strconv"

	"github.com/mypoll/mypoll/client"
)

// A record is one message of the stream the bridge carries: a device event
// or a loss report, of one device instance. The spool keeps records in a
// fixed 48-byte frame; the publisher turns them into the JSON of PROTOCOL.md
// C.2.
type record struct {
	Instance uint64
	Event    *client.Event // exactly one of Event and Lost is set
	Lost     *client.Lost
}

// first is the lowest seq the record stands for; key the highest. The
// stream is ordered by key (A.6: strictly increasing per connection).
func (r record) first() uint64 {
	if r.Event != nil {
		return r.Event.Seq
	}
	return r.Lost.First
}

func (r record) key() uint64 {
	if r.Event != nil {
		return r.Event.Seq
	}
	return r.Lost.Last
}

// eventTypes and lossReasons are the codes a frame stores; their index is
// the code, 0 is invalid.
var (
	eventTypes  = []string{"", "timer", "trigger", "timer_stopped"}
	lossReasons = []string{"", "queue", "device", "restart", "bridge"}
)

func codeOf(names []string, s string) byte {
	for i, n := range names {
		if i > 0 && n == s {
			return byte(i)
		}
	}
	return 0
}

// frameSize is the size of a record on disk:
//
//	0  kind (1 event, 2 loss)   1  type or reason code   2-3 zero
//	4  source_id (u32)          8  seq or first          16 arg or last
//	24 aux or count             32 ts_ns                 40 zero
//	44 CRC-32C of the instance_id (8 bytes, little endian) and bytes 0..43
//
// The instance_id is in the segment's header, not in each frame, but each
// frame's checksum covers it: a damaged header cannot pass its records
// off as another instance's. (Segments of version 1 checksum bytes 0..43
// only; they are still read.)
const frameSize = 48

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errBadFrame = errors.New("bad spool frame")

// encodeFrame writes r into b (len frameSize). It panics on a record the
// reader could not have produced (a broken invariant, not peer input).
func encodeFrame(b []byte, r record) {
	clear(b[:frameSize])
	le := binary.LittleEndian
	if e := r.Event; e != nil {
		b[0], b[1] = 1, codeOf(eventTypes, e.Type)
		le.PutUint32(b[4:], e.SourceID)
		le.PutUint64(b[8:], e.Seq)
		le.PutUint64(b[16:], e.Arg)
		le.PutUint64(b[24:], e.Aux)
		le.PutUint64(b[32:], e.TimestampNS)
	} else {
		l := r.Lost
		b[0], b[1] = 2, codeOf(lossReasons, l.Reason)
		le.PutUint64(b[8:], l.First)
		le.PutUint64(b[16:], l.Last)
		le.PutUint64(b[24:], l.Count)
	}
	if b[1] == 0 {
		panic("mypoll-bridge: record with unknown type or reason")
	}
	le.PutUint32(b[44:], frameCRC(b, r.Instance, segVersion))
}

// frameCRC is the checksum of frame b of instance inst in a segment of
// version ver.
func frameCRC(b []byte, inst uint64, ver uint32) uint32 {
	if ver == 1 {
		return crc32.Checksum(b[:44], castagnoli)
	}
	var h [8]byte
	binary.LittleEndian.PutUint64(h[:], inst)
	return crc32.Update(crc32.Checksum(h[:], castagnoli), castagnoli, b[:44])
}

// decodeFrame is the inverse of encodeFrame; a torn or corrupt frame, or
// one of another instance, gives errBadFrame.
func decodeFrame(b []byte, inst uint64) (record, error) {
	return decodeFrameVersion(b, inst, segVersion)
}

// decodeFrameVersion decodes a frame of a segment of version ver.
func decodeFrameVersion(b []byte, inst uint64, ver uint32) (record, error) {
	le := binary.LittleEndian
	if len(b) < frameSize || le.Uint32(b[44:]) != frameCRC(b, inst, ver) {
		return record{}, errBadFrame
	}
	r := record{Instance: inst}
	switch {
	case b[0] == 1 && int(b[1]) < len(eventTypes) && b[1] > 0:
		r.Event = &client.Event{Seq: le.Uint64(b[8:]), Type: eventTypes[b[1]], SourceID: le.Uint32(b[4:]),
			Arg: le.Uint64(b[16:]), Aux: le.Uint64(b[24:]), TimestampNS: le.Uint64(b[32:])}
	case b[0] == 2 && int(b[1]) < len(lossReasons) && b[1] > 0:
		r.Lost = &client.Lost{First: le.Uint64(b[8:]), Last: le.Uint64(b[16:]), Count: le.Uint64(b[24:]),
			Reason: lossReasons[b[1]]}
	default:
		return record{}, errBadFrame
	}
	return r, nil
}

// appendInstance appends the 16 lowercase hex digits of an instance_id.
func appendInstance(b []byte, id uint64) []byte {
	const hex = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hex[id>>uint(i)&0xf])
	}
	return b
}

// appendPayload appends the JSON of PROTOCOL.md C.2 for r: keys in the
// order the protocol lists them, integers exact (u64, never floats).
func appendPayload(b []byte, r record) []byte {
	if e := r.Event; e != nil {
		b = append(b, `{"seq":`...)
		b = strconv.AppendUint(b, e.Seq, 10)
		b = append(b, `,"type":"`...)
		b = append(b, e.Type...)
		b = append(b, `","source_id":`...)
		b = strconv.AppendUint(b, uint64(e.SourceID), 10)
		b = append(b, `,"arg":`...)
		b = strconv.AppendUint(b, e.Arg, 10)
		b = append(b, `,"aux":`...)
		b = strconv.AppendUint(b, e.Aux, 10)
		b = append(b, `,"ts_ns":`...)
		b = strconv.AppendUint(b, e.TimestampNS, 10)
	} else {
		l := r.Lost
		b = append(b, `{"first":`...)
		b = strconv.AppendUint(b, l.First, 10)
		b = append(b, `,"last":`...)
		b = strconv.AppendUint(b, l.Last, 10)
		b = append(b, `,"count":`...)
		b = strconv.AppendUint(b, l.Count, 10)
		b = append(b, `,"reason":"`...)
		b = append(b, l.Reason...)
		b = append(b, '"')
	}
	b = append(b, `,"instance_id":"`...)
	b = appendInstance(b, r.Instance)
	return append(b, `"}`...)
}

// appendStatus appends the retained status of C.2: online with the
// instance, next_seq = S+1 and the bridge version.
func appendStatus(b []byte, inst, nextSeq uint64, version string) []byte {
	b = append(b, `{"online":true,"instance_id":"`...)
	b = appendInstance(b, inst)
	b = append(b, `","next_seq":`...)
	b = strconv.AppendUint(b, nextSeq, 10)
	b = append(b, `,"version":`...)
	b = appendJSONString(b, version)
	return append(b, '}')
}

// offlineStatus is the will and the clean-shutdown status.
const offlineStatus = `{"online":false}`

// appendJSONString appends s as a JSON string, escaping what JSON requires.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
