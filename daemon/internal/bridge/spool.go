package bridge

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/client"
)

// The spool is the bridge's crash-safe FIFO between the reader (mypolld) and
// the publisher (the broker), PROTOCOL.md C.4. Every record gets a position,
// a number that grows by one per record for the life of the spool directory
// (positions may be skipped). Records live in segment files "<first
// position>.seg" (20 decimal digits): a 16-byte header (magic, version,
// instance_id) then 48-byte frames, each with a checksum that covers the
// instance_id too. A segment holds records of one device instance only.
//
// Three positions move forward: head (the first record the broker has not
// acknowledged; everything before it is gone), read (the next record to
// hand to the publisher; head <= read) and end (the next record appended).
// The state file "cursor.json" holds head and the acknowledged cursor S
// with its instance, as one line of JSON and a line with its CRC-32C; it is
// replaced atomically (write temp, fsync, rename, fsync dir).
//
// When the segments exceed the byte limit, or the disk is full (ENOSPC,
// EDQUOT), the oldest records not yet handed to the publisher are dropped:
// they are replaced, in their segment, by one frame holding the bridge loss
// that covers them (merged with the loss just before when adjacent), so the
// loss is published where the records were and survives like a record.
//
// Nothing on disk is trusted (C.4). At open, a segment is cut at its first
// frame that fails its checksum, a segment whose header is garbled is
// removed, and a cursor that fails its checksum, lacks a field or does not
// fit the spool is ignored (the whole spool is published again: duplicates
// are allowed, losses are not). Then the records are walked in order: a
// seq missing between two records of one instance (a cut, removed or
// deleted segment) is covered by a bridge loss written into the free
// positions between them. Seqs missing after the last record are fetched
// again from mypolld (the position starts at the last record's seq + 1; mypolld
// replays what it retains and reports the rest as LOST restart). When the
// disk refuses records the spool keeps them in memory (not crash-safe, but
// published, and bounded by the same limit) and tries the disk again.

const (
	segMagic   = 0x6d707370 // "mpsp"
	segVersion = 2          // 1: frame checksums without the instance_id
	segHeader  = 16
	stateFile  = "cursor.json"

	// MinSpoolBytes is the smallest --spool-bytes (PROTOCOL.md C.4).
	MinSpoolBytes = 4096
)

// cursorState is the JSON line of the state file; every field is required.
type cursorState struct {
	Instance *string `json:"instance_id"` // of Acked; 16 hex digits
	Acked    *uint64 `json:"acked"`       // S of C.3
	Head     *uint64 `json:"head"`
}

type segment struct {
	first  uint64 // position of its first record
	n      uint64 // records in it
	inst   uint64
	ver    uint32
	f      *os.File // nil: a memory segment (records the disk refused)
	mem    []record
	sealed bool // takes no more appends
	dirty  bool // written since the last fsync
}

func (s *segment) end() uint64 { return s.first + s.n }

func (s *segment) size() int64 {
	if s.f == nil {
		return int64(s.n) * frameSize
	}
	return segHeader + int64(s.n)*frameSize
}

func segName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

// item is what the publisher gets: a record at a position. Drop marks a
// bridge loss (records the spool dropped).
type item struct {
	Pos  uint64
	Rec  record
	Drop bool
}

func isBridgeLoss(r record) bool { return r.Lost != nil && r.Lost.Reason == "bridge" }

// Spool is safe for concurrent use: the reader appends, the publisher takes
// and acknowledges, the syncer flushes. A failing or full disk never stops
// it (C.4): what the disk refuses is kept in memory or dropped as a bridge
// loss, and the failure is logged.
type Spool struct {
	dir    string
	limit  int64
	segMax uint64 // records per segment
	// memLimit bounds the records kept in memory while the disk refuses
	// them (counted as frames), in segments of memSegMax records.
	memLimit  int64
	memSegMax uint64

	mu    sync.Mutex
	log   hclog.Logger
	segs  []*segment // by position; the last one takes appends
	total int64
	head  uint64
	read  uint64
	// taken names the newest record handed to the publisher since head:
	// the lower end of the seqs a frame damaged after open could hold.
	takenInst, takenKey uint64
	end                 uint64
	acked               uint64 // S
	ackInst             uint64
	// last names the newest record appended: R of C.3 is lastKey when
	// the daemon's instance is lastInst.
	lastInst, lastKey uint64
	// noCursor: there was no usable cursor at open (damaged, or missing
	// beside segments), so what was acknowledged is unknown.
	noCursor   bool
	dirtyState bool // head/acked changed since the state was written
	notes      []string
	avail      chan struct{}
	frame      [frameSize]byte
	lastErr    string // the disk error last logged, and when
	lastErrAt  time.Time
	suppressed int
}

// OpenSpool opens (or creates) the spool in dir, bounded by limit bytes. It
// checks what is on disk (see above) and resumes where the previous run
// stopped; Notes says what damage it found. Only an unusable dir (not a
// directory, or not writable) is an error.
func OpenSpool(dir string, limit int64) (*Spool, error) {
	if limit < MinSpoolBytes {
		return nil, fmt.Errorf("spool limit %d bytes is below the minimum %d", limit, MinSpoolBytes)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	if err := syscall.Access(dir, 2|1); err != nil { // W_OK|X_OK
		return nil, fmt.Errorf("%s is not writable: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	per := min(max(limit/16, 1024), 4<<20)
	s := &Spool{dir: dir, limit: limit, segMax: uint64((per - segHeader) / frameSize), avail: make(chan struct{}, 1),
		log: hclog.NewNullLogger(), memLimit: min(limit, 4<<20)}
	s.memSegMax = uint64(max(s.memLimit/4/frameSize, 2))
	var firsts []uint64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		if first, ok := strings.CutSuffix(name, ".seg"); ok {
			if pos, err := strconv.ParseUint(first, 10, 64); err == nil && len(first) == 20 {
				firsts = append(firsts, pos)
			}
		}
	}
	slices.Sort(firsts)

	st, why, oldDrops := readCursor(filepath.Join(dir, stateFile))
	if st == nil && why == "" && len(firsts) > 0 {
		why = "missing beside spool segments"
	}
	if why == "" && st != nil {
		s.ackInst, s.acked, s.head = st.inst, st.acked, st.head
	}
	for _, first := range firsts {
		if seg := s.openSegment(first); seg != nil {
			s.segs = append(s.segs, seg)
			s.total += seg.size()
		}
	}
	// A cursor must fit the spool: head no further than its end, and the
	// record at head (of its instance) after the acknowledged seq.
	if why == "" && st != nil {
		if n := len(s.segs); n > 0 && s.head > s.segs[n-1].end() {
			why = fmt.Sprintf("head %d is beyond the spool's end %d", s.head, s.segs[n-1].end())
		} else if r, ok := s.firstFrom(s.head); ok && r.Instance == s.ackInst && r.first() <= s.acked {
			why = fmt.Sprintf("acked %d is not below the seq %d of the first unacknowledged record", s.acked, r.first())
		} else if r, ok := s.recordAt(s.head - 1); s.head > 0 && ok && (r.Instance != s.ackInst || r.key() != s.acked) {
			why = fmt.Sprintf("acked %016x/%d is not the last acknowledged record's %016x/%d", s.ackInst, s.acked, r.Instance, r.key())
		}
	}
	if why != "" {
		s.note("cursor %s: %s; it is not trusted: the whole spool is published again", stateFile, why)
		s.noCursor = true
		s.ackInst, s.acked, s.head = 0, 0, 0
		if len(s.segs) > 0 {
			s.head = s.segs[0].first
		}
	}
	s.dirtyState = st == nil || why != ""
	for len(s.segs) > 0 && s.segs[0].end() <= s.head {
		s.removeSegment(0)
	}
	if n := len(s.segs); n > 0 {
		s.end = s.segs[n-1].end()
	}
	s.end = max(s.end, s.head)
	s.keepOldDrops(oldDrops)
	// The positions from head to the first record are free: a loss for
	// the seqs missing there goes at head.
	s.coverGaps()
	if len(s.segs) > 0 && s.head < s.segs[0].first {
		s.head = s.segs[0].first
	}
	s.read = s.head
	if s.noCursor {
		// The new cursor starts just before the first record: all before
		// it is accounted for, so that seqs missing after it are seen as
		// such should the spool be damaged again before an acknowledgement.
		if r, ok := s.firstFrom(s.head); ok {
			s.ackInst, s.acked = r.Instance, r.first()-1
		}
	}
	s.lastInst, s.lastKey = s.ackInst, s.acked
	s.takenInst, s.takenKey = s.ackInst, s.acked
	if n := len(s.segs); n > 0 {
		last := s.segs[n-1]
		if r, err := s.readAt(last, last.end()-1); err == nil {
			s.lastInst, s.lastKey = r.Instance, r.key()
		}
	}
	// A cursor rebuilt here is written at once: the damaged one must not
	// outlive a crash right after the start.
	if s.dirtyState {
		if err := s.writeState(); err != nil {
			s.note("cursor %s: cannot be written now (%v); retried", stateFile, err)
		}
	}
	return s, nil
}

// Notes returns what OpenSpool found damaged, for the log.
func (s *Spool) Notes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.notes)
}

// SetLogger sets where the spool logs disk failures at run time.
func (s *Spool) SetLogger(l hclog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = l
}

func (s *Spool) note(format string, a ...any) { s.notes = append(s.notes, fmt.Sprintf(format, a...)) }

type cursor struct{ inst, acked, head uint64 }

// oldDrop is a pending bridge loss in the state file of the old format
// (without a checksum): the records of Instance with seqs First..Last,
// Count events among them, were dropped, to be published just before the
// record at position At.
type oldDrop struct {
	Instance uint64 `json:"instance_id,string"`
	First    uint64 `json:"first"`
	Last     uint64 `json:"last"`
	Count    uint64 `json:"count"`
	At       uint64 `json:"at"`
}

// readCursor reads the state file: nil and "" when there is none, nil and
// why when it cannot be trusted. A file of the old format is not trusted
// either (no checksum), but its pending bridge losses are returned: a wrong
// one can only add a loss message, a forgotten one would lose seqs silently.
func readCursor(path string) (*cursor, string, []oldDrop) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, "", nil
	case err != nil:
		return nil, "unreadable: " + err.Error(), nil
	case len(b) == 0:
		return nil, "empty", nil
	}
	js, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		var old struct {
			Drops []oldDrop `json:"drops"`
		}
		if json.Unmarshal(b, &old) == nil {
			return nil, "in the old format, without a checksum", old.Drops
		}
		return nil, "not a cursor (no checksum line)", nil
	}
	if string(rest) != fmt.Sprintf("crc32c=%08x\n", crc32c(js)) {
		return nil, "checksum mismatch", nil
	}
	var st cursorState
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, "unparseable: " + err.Error(), nil
	}
	if st.Instance == nil || st.Acked == nil || st.Head == nil {
		return nil, "a field is missing", nil
	}
	inst, err := strconv.ParseUint(*st.Instance, 16, 64)
	if err != nil || len(*st.Instance) != 16 {
		return nil, "bad instance_id", nil
	}
	return &cursor{inst: inst, acked: *st.Acked, head: *st.Head}, "", nil
}

// keepOldDrops writes the pending bridge losses of an old state file into
// the spool, each at the free position just before its At (where the
// last of its dropped records was).
func (s *Spool) keepOldDrops(drops []oldDrop) {
	for _, d := range drops {
		if d.At == 0 || d.Instance == 0 || d.Last < d.First || d.Count == 0 {
			continue
		}
		pos := d.At - 1
		if _, taken := s.recordAt(pos); taken {
			s.note("old pending bridge loss %d..%d: position %d is taken; not kept", d.First, d.Last, pos)
			continue
		}
		r := record{Instance: d.Instance, Lost: &client.Lost{First: d.First, Last: d.Last, Count: d.Count, Reason: "bridge"}}
		s.insertSegment(s.writeLossSegment(pos, r))
		s.head = min(s.head, pos)
		s.end = max(s.end, pos+1)
	}
}

// insertSegment adds seg to the spool in position order.
func (s *Spool) insertSegment(seg *segment) {
	s.total += seg.size()
	i, _ := slices.BinarySearchFunc(s.segs, seg.first, func(a *segment, p uint64) int { return cmpU64(a.first, p) })
	s.segs = slices.Insert(s.segs, i, seg)
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// openSegment opens an existing segment and keeps its records up to the
// first frame that fails its checksum (the rest of the file is cut off). A
// file whose header is garbled, or with no valid record, is removed: nil.
func (s *Spool) openSegment(first uint64) *segment {
	name := segName(first)
	path := filepath.Join(s.dir, name)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		s.note("spool segment %s: %v; its records are counted as missing", name, err)
		return nil
	}
	var h [segHeader]byte
	n, err := io.ReadFull(f, h[:])
	ver := binary.LittleEndian.Uint32(h[4:])
	if err != nil || binary.LittleEndian.Uint32(h[0:]) != segMagic || ver != 1 && ver != segVersion {
		_ = f.Close()
		removeQuiet(path)
		if n > 0 { // an empty file was being created: no record in it
			s.note("spool segment %s: header garbled or short; removed, its records are counted as missing", name)
		}
		return nil
	}
	seg := &segment{first: first, inst: binary.LittleEndian.Uint64(h[8:]), ver: ver, f: f, sealed: ver != segVersion}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		s.note("spool segment %s: %v; its records are counted as missing", name, err)
		return nil
	}
	frames := uint64(max(fi.Size()-segHeader, 0)) / frameSize
	buf := make([]byte, 256*frameSize)
	for seg.n < frames {
		k := min(frames-seg.n, uint64(len(buf)/frameSize))
		m, _ := f.ReadAt(buf[:k*frameSize], segHeader+int64(seg.n)*frameSize)
		bad := false
		for i := 0; i+frameSize <= m; i += frameSize {
			if _, err := decodeFrameVersion(buf[i:i+frameSize], seg.inst, ver); err != nil {
				bad = true
				break
			}
			seg.n++
		}
		if bad || uint64(m) < k*frameSize {
			break
		}
	}
	if seg.n < frames {
		s.note("spool segment %s: frame %d of %d is damaged; the segment is cut there", name, seg.n, frames)
	}
	if seg.n == 0 {
		_ = f.Close()
		removeQuiet(path)
		return nil
	}
	if fi.Size() != seg.size() {
		if err := f.Truncate(seg.size()); err != nil {
			seg.sealed = true // the garbage stays after the records: append nothing more
		}
	}
	return seg
}

// removeQuiet removes path; a file already gone is fine (no double-delete
// failure), and one that cannot be removed is read and cut again next time.
func removeQuiet(path string) { _ = os.Remove(path) }

// firstFrom returns the first record at or after position pos.
func (s *Spool) firstFrom(pos uint64) (record, bool) {
	for _, seg := range s.segs {
		if pos < seg.end() {
			r, err := s.readAt(seg, max(pos, seg.first))
			return r, err == nil
		}
	}
	return record{}, false
}

// recordAt returns the record at position pos, if the spool holds one.
func (s *Spool) recordAt(pos uint64) (record, bool) {
	for _, seg := range s.segs {
		if pos >= seg.first && pos < seg.end() {
			r, err := s.readAt(seg, pos)
			return r, err == nil
		}
	}
	return record{}, false
}

// coverGaps walks the records from head in order and covers every seq
// missing between two records of one instance (or between the cursor and
// the first record) with a bridge loss in the free positions between them.
func (s *Spool) coverGaps() {
	prevInst, prevKey := s.ackInst, s.acked
	prevEnd := s.head
	type gap struct {
		pos  uint64
		loss record
	}
	var gaps []gap
	for _, seg := range s.segs {
		for p := max(seg.first, s.head); p < seg.end(); p++ {
			r, err := s.readAt(seg, p)
			if err != nil {
				break
			}
			if prevInst != 0 && r.Instance == prevInst && r.first() > prevKey+1 {
				l := &client.Lost{First: prevKey + 1, Last: r.first() - 1, Count: r.first() - 1 - prevKey, Reason: "bridge"}
				if p > prevEnd {
					gaps = append(gaps, gap{prevEnd, record{Instance: prevInst, Lost: l}})
				} else {
					s.note("spool: seqs %d..%d are missing with no free position for their loss", l.First, l.Last)
				}
			}
			if r.Instance != prevInst || r.key() > prevKey {
				prevInst, prevKey = r.Instance, r.key()
			}
			prevEnd = p + 1
		}
	}
	for _, g := range gaps {
		s.note("spool: seqs %d..%d of instance %016x are missing; published as a bridge loss", g.loss.Lost.First, g.loss.Lost.Last, g.loss.Instance)
		s.insertSegment(s.writeLossSegment(g.pos, g.loss))
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writeLossSegment writes a sealed segment at pos holding the one record
// r (temp file, fsync, rename, fsync dir); if the disk refuses it, the
// segment is kept in memory.
func (s *Spool) writeLossSegment(pos uint64, r record) *segment {
	var b [segHeader + frameSize]byte
	putHeader(b[:], r.Instance)
	encodeFrame(b[segHeader:], r)
	path := filepath.Join(s.dir, segName(pos))
	err := writeFileAtomic(path, b[:])
	var f *os.File
	if err == nil {
		f, err = os.OpenFile(path, os.O_RDWR, 0)
	}
	if err != nil {
		s.diskError("write spool loss", err)
		return &segment{first: pos, n: 1, inst: r.Instance, mem: []record{r}, sealed: true}
	}
	return &segment{first: pos, n: 1, inst: r.Instance, ver: segVersion, f: f, sealed: true}
}

func putHeader(h []byte, inst uint64) {
	binary.LittleEndian.PutUint32(h[0:], segMagic)
	binary.LittleEndian.PutUint32(h[4:], segVersion)
	binary.LittleEndian.PutUint64(h[8:], inst)
}

func (s *Spool) readAt(seg *segment, pos uint64) (record, error) {
	if seg.f == nil {
		return seg.mem[pos-seg.first], nil
	}
	b := s.frame[:]
	if _, err := seg.f.ReadAt(b, segHeader+int64(pos-seg.first)*frameSize); err != nil {
		return record{}, fmt.Errorf("read spool %s: %w", segName(seg.first), err)
	}
	return decodeFrameVersion(b, seg.inst, seg.ver)
}

// position returns where reading mypolld starts, for client.Stream:
// instance inst at seq from (R+1 of C.3). inst 0 means any instance: from 0
// is the greeting's next_seq (a fresh spool), 1 after an unusable cursor
// (what was acknowledged is unknown: mypolld replays what it retains and
// reports the rest as lost). For a known instance the stream starts at 1
// of another one itself.
func (s *Spool) position() (inst, from uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.lastInst != 0:
		return s.lastInst, s.lastKey + 1
	case !s.noCursor:
		return 0, 0
	default:
		return 0, 1
	}
}

// beyondNextSeq is called when mypolld answered ERANGE to the from= that
// position gave for instance inst (PROTOCOL.md A.8): the spool's knowledge
// of that instance is implausible, so it is forgotten (the cursor is
// damaged, C.4) and position gives 1 from now on.
func (s *Spool) beyondNextSeq(inst uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noCursor = true
	if s.lastInst == inst {
		s.lastInst, s.lastKey = 0, 0
	}
	if s.ackInst == inst {
		s.ackInst, s.acked = 0, 0
		s.dirtyState = true
	}
	return 1
}

// Cursor returns the acknowledged cursor: instance and S.
func (s *Spool) Cursor() (inst, acked uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ackInst, s.acked
}

// add adds r at the end. Records of one instance must come in
// increasing key order; a record at or below the last key of its instance
// is ignored (it was already spooled or dropped) and Append returns false.
// The error is always nil: what the disk refuses is kept in memory.
func (s *Spool) add(r record) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Instance == s.lastInst && r.first() <= s.lastKey {
		return false, nil
	}
	if s.ackInst == 0 {
		// The first record of a spool with no cursor: the cursor starts
		// just before it, at once, so that the spool knows where its
		// records begin should the first ones be damaged or dropped.
		s.ackInst, s.acked = r.Instance, r.first()-1
		if err := s.writeState(); err != nil {
			s.diskError("write cursor", err)
			s.dirtyState = true
		}
	}
	s.appendLocked(r)
	s.lastInst, s.lastKey = r.Instance, r.key()
	s.enforceLimit()
	s.signal()
	return true, nil
}

func (s *Spool) appendLocked(r record) {
	if seg := s.tail(r.Instance); seg != nil {
		if seg.f == nil {
			s.memAppend(seg, r)
			return
		}
		err := s.writeFrame(seg, r)
		if err == nil {
			return
		}
		s.diskError("write spool", err)
		seg.sealed = true
		if isNoSpace(err) {
			s.makeRoom()
		}
	}
	// A new segment, on disk if the disk takes it (after making room when
	// it is full), else in memory.
	for try := 0; try < 2; try++ {
		seg, err := s.newSegment(r.Instance)
		if err == nil {
			if err = s.writeFrame(seg, r); err == nil {
				return
			}
			s.removeSegment(len(s.segs) - 1) // empty
		}
		s.diskError("write spool", err)
		if !isNoSpace(err) || !s.makeRoom() {
			break
		}
	}
	seg := &segment{first: s.end, inst: r.Instance}
	s.segs = append(s.segs, seg)
	s.memAppend(seg, r)
}

// tail returns the segment that takes the next record of inst, or nil.
func (s *Spool) tail(inst uint64) *segment {
	n := len(s.segs)
	if n == 0 {
		return nil
	}
	seg := s.segs[n-1]
	capacity := s.segMax
	if seg.f == nil {
		capacity = s.memSegMax
	}
	if seg.sealed || seg.n >= capacity || seg.inst != inst || seg.end() != s.end {
		return nil
	}
	return seg
}

func (s *Spool) memAppend(seg *segment, r record) {
	seg.mem = append(seg.mem, r)
	seg.n++
	s.end++
	s.total += frameSize
}

// writeFrame appends r to the disk segment seg; on error the segment is
// left as it was (a partial frame is cut off again).
func (s *Spool) writeFrame(seg *segment, r record) error {
	encodeFrame(s.frame[:], r)
	if _, err := seg.f.WriteAt(s.frame[:], seg.size()); err != nil {
		_ = seg.f.Truncate(seg.size())
		return err
	}
	seg.n++
	seg.dirty = true
	s.end++
	s.total += frameSize
	return nil
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// diskError logs a disk failure: the first of a kind at once, repeats at
// most every 10 s with how many were not logged.
func (s *Spool) diskError(what string, err error) {
	msg := what + ": " + err.Error()
	if msg == s.lastErr && time.Since(s.lastErrAt) < 10*time.Second {
		s.suppressed++
		return
	}
	s.log.Warn("spool disk failure; what the disk refuses is kept in memory or dropped as a bridge loss",
		"error", msg, "repeated", s.suppressed)
	s.lastErr, s.lastErrAt, s.suppressed = msg, time.Now(), 0
}

func (s *Spool) signal() {
	select {
	case s.avail <- struct{}{}:
	default:
	}
}

// newSegment creates a segment file at the end for instance inst.
func (s *Spool) newSegment(inst uint64) (*segment, error) {
	for _, seg := range s.segs {
		if seg.dirty {
			if err := seg.f.Sync(); err == nil {
				seg.dirty = false
			}
		}
	}
	path := filepath.Join(s.dir, segName(s.end))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create spool segment: %w", err)
	}
	var h [segHeader]byte
	putHeader(h[:], inst)
	if _, err := f.Write(h[:]); err != nil {
		_ = f.Close()
		removeQuiet(path)
		return nil, fmt.Errorf("create spool segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		s.diskError("sync spool directory", err)
	}
	seg := &segment{first: s.end, inst: inst, ver: segVersion, f: f, dirty: true}
	s.segs = append(s.segs, seg)
	s.total += segHeader
	return seg, nil
}

// removeSegment deletes segment i, file and all.
func (s *Spool) removeSegment(i int) {
	seg := s.segs[i]
	if seg.f != nil {
		_ = seg.f.Close()
		removeQuiet(filepath.Join(s.dir, segName(seg.first)))
	}
	s.total -= seg.size()
	s.segs = slices.Delete(s.segs, i, i+1)
}

// enforceLimit drops the oldest records not yet handed to the publisher
// while the spool is over its limit (C.4). The segment taking appends is
// not dropped; segments are at most a quarter of the limit, so the spool
// exceeds it by at most what the publisher holds in flight.
func (s *Spool) enforceLimit() {
	for s.total > s.limit {
		if i := s.droppable(len(s.segs)-1, nil); i < 0 || !s.dropSegment(i) {
			return
		}
	}
	inMem := func(seg *segment) bool { return seg.f == nil }
	for s.memBytes() > s.memLimit {
		if i := s.droppable(len(s.segs)-1, inMem); i < 0 || !s.dropSegment(i) {
			return
		}
	}
}

// memBytes is the size of the memory segments, counted as frames.
func (s *Spool) memBytes() int64 {
	var n int64
	for _, seg := range s.segs {
		if seg.f == nil {
			n += seg.size()
		}
	}
	return n
}

// makeRoom drops the oldest records on disk not yet handed to the
// publisher, the segment taking appends included (the disk is full: C.4
// counts it as a full spool). It reports whether it freed anything.
func (s *Spool) makeRoom() bool {
	i := s.droppable(len(s.segs), func(seg *segment) bool { return seg.f != nil })
	if i < 0 {
		return false
	}
	s.segs[i].sealed = true
	return s.dropSegment(i)
}

// droppable returns the first of segs[:n] (of those that only, if not
// nil) with two or more records not yet handed to the publisher, or -1.
func (s *Spool) droppable(n int, only func(*segment) bool) int {
	return slices.IndexFunc(s.segs[:max(n, 0)], func(seg *segment) bool {
		from := max(s.head, seg.first)
		return from >= s.read && seg.end() >= from+2 && (only == nil || only(seg))
	})
}

// dropSegment replaces the records of segment i from the first one not
// acknowledged on by one bridge loss covering them: merged into the loss
// just before it when that one is adjacent and not handed out yet, else
// written in place of the first dropped record (then the rest is cut off).
// The loss is on disk before the records go.
func (s *Spool) dropSegment(i int) bool {
	seg := s.segs[i]
	from := max(s.head, seg.first)
	l := client.Lost{Reason: "bridge"}
	for p := from; p < seg.end(); p++ {
		r, err := s.readAt(seg, p)
		if err != nil {
			s.diskError("read spool", err)
			return false
		}
		if p == from {
			l.First = r.first()
		}
		l.Last = r.key()
		if r.Event != nil {
			l.Count++
		} else {
			l.Count += r.Lost.Count
		}
	}
	if i > 0 {
		prev := s.segs[i-1]
		pp := prev.end() - 1
		if pr, err := s.readAt(prev, pp); err == nil && pp >= s.read && pp >= s.head && isBridgeLoss(pr) &&
			pr.Instance == seg.inst && pr.Lost.Last+1 == l.First {
			merged := record{Instance: seg.inst, Lost: &client.Lost{First: pr.Lost.First, Last: l.Last,
				Count: pr.Lost.Count + l.Count, Reason: "bridge"}}
			if err := s.setRecord(prev, pp, merged); err == nil {
				s.removeSegment(i)
				return true
			}
		}
	}
	loss := record{Instance: seg.inst, Lost: &l}
	if err := s.setRecord(seg, from, loss); err != nil {
		s.diskError("write spool loss", err)
		return false
	}
	keep := from - seg.first + 1
	s.total -= int64(seg.n-keep) * frameSize
	seg.n = keep
	seg.sealed = true
	if seg.f == nil {
		seg.mem = seg.mem[:keep]
	} else if err := seg.f.Truncate(seg.size()); err != nil {
		s.diskError("cut spool segment", err)
	}
	return true
}

// setRecord overwrites the record at pos of seg with r, durably.
func (s *Spool) setRecord(seg *segment, pos uint64, r record) error {
	if seg.f == nil {
		seg.mem[pos-seg.first] = r
		return nil
	}
	if seg.ver != segVersion {
		return fmt.Errorf("spool segment %s is of version %d: not rewritten", segName(seg.first), seg.ver)
	}
	var b [frameSize]byte
	encodeFrame(b[:], r)
	if _, err := seg.f.WriteAt(b[:], segHeader+int64(pos-seg.first)*frameSize); err != nil {
		return err
	}
	return seg.f.Sync()
}

// take returns up to n items from the read position on, in publishing
// order, waiting until there is one or done is closed (then it returns nil).
func (s *Spool) take(n int, done <-chan struct{}) ([]item, error) {
	for {
		s.mu.Lock()
		items, err := s.takeLocked(n)
		s.mu.Unlock()
		if err != nil || len(items) > 0 {
			return items, err
		}
		select {
		case <-s.avail:
		case <-done:
			return nil, nil
		}
	}
}

func (s *Spool) takeLocked(n int) ([]item, error) {
	var items []item
	for len(items) < n {
		seg := s.segmentAt(s.read)
		if seg == nil {
			break
		}
		s.read = max(s.read, seg.first) // skipped positions hold nothing
		r, err := s.readAt(seg, s.read)
		if err != nil {
			if !isDamage(err) {
				return items, err
			}
			var ok, skip bool
			if r, skip, ok = s.damaged(s.read); !ok {
				break // the gap's end is not on disk yet
			}
			if skip {
				s.read++
				continue
			}
		}
		items = append(items, item{Pos: s.read, Rec: r, Drop: isBridgeLoss(r)})
		if r.Instance != s.takenInst || r.key() > s.takenKey {
			s.takenInst, s.takenKey = r.Instance, r.key()
		}
		s.read++
	}
	return items, nil
}

// isDamage tells a frame whose bytes changed on disk (a checksum that no
// longer matches, a file cut short) from a failing read.
func isDamage(err error) bool {
	return errors.Is(err, errBadFrame) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// damaged stands in for the frame at pos, damaged on disk after the spool
// was opened (OpenSpool checked every frame then). The seqs it held lie
// between the newest record taken and the next readable record: they
// become one bridge loss in its place, and further damaged frames before
// that record are skipped (no seq is left for them). The loss is kept in
// memory only: should the bridge stop before it is acknowledged, the next
// OpenSpool cuts the segment at the same frame and covers the same seqs.
// ok is false while no readable record follows (the gap's end is unknown
// until one is appended).
func (s *Spool) damaged(pos uint64) (loss record, skip, ok bool) {
	var next record
	found := false
	for _, seg := range s.segs {
		for p := max(pos+1, seg.first); p < seg.end() && !found; p++ {
			if r, err := s.readAt(seg, p); err == nil {
				next, found = r, true
			}
		}
		if found {
			break
		}
	}
	if !found {
		return record{}, false, false
	}
	lo := uint64(1) // another instance: its seqs before next are unknown
	if next.Instance == s.takenInst && s.takenInst != 0 {
		lo = s.takenKey + 1
	}
	if next.first() <= lo {
		s.log.Error("spool frame damaged on disk after open; it held no seq left to report", "position", pos)
		return record{}, true, true
	}
	l := &client.Lost{First: lo, Last: next.first() - 1, Count: next.first() - lo, Reason: "bridge"}
	s.log.Error("spool frame damaged on disk after open; its seqs are published as a bridge loss",
		"position", pos, "first", l.First, "last", l.Last)
	return record{Instance: next.Instance, Lost: l}, false, true
}

// segmentAt returns the segment holding pos or, if there is none, the
// first one after it; nil at the end.
func (s *Spool) segmentAt(pos uint64) *segment {
	for _, seg := range s.segs {
		if pos < seg.end() {
			return seg
		}
	}
	return nil
}

// ack records that the broker acknowledged it (the publisher calls it in
// publishing order, for a contiguous prefix only). Segments wholly
// acknowledged are deleted once the state file says so.
func (s *Spool) ack(it item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it.Pos >= s.head {
		s.head = it.Pos + 1
	}
	s.ackInst, s.acked = it.Rec.Instance, it.Rec.key()
	s.dirtyState = true
}

// rewind makes the publisher start again at the first unacknowledged
// record (after a broken connection: what was in flight is sent again).
func (s *Spool) rewind() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.read = s.head
	s.takenInst, s.takenKey = s.ackInst, s.acked
	s.signal()
}

// Pending returns how many records (bridge losses included) wait for an
// ack.
func (s *Spool) Pending() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for _, seg := range s.segs {
		if seg.end() > s.head {
			n += seg.end() - max(seg.first, s.head)
		}
	}
	return n
}

// syncDisk makes appended records durable (fsync of the segments) and writes
// the state file if the cursor moved, then deletes the acknowledged
// segments. The bridge calls it several times a second (C.4: durable
// within 1 s). A disk failure is logged and returned; the spool goes on.
func (s *Spool) syncDisk() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, seg := range s.segs {
		if seg.dirty {
			if err := seg.f.Sync(); err != nil {
				s.diskError("sync spool", err)
				first = cmpErr(first, err)
				continue
			}
			seg.dirty = false
		}
	}
	if !s.dirtyState {
		return first
	}
	err := s.writeState()
	if err != nil && isNoSpace(err) && len(s.segs) > 1 && s.segs[0].end() <= s.head {
		// The disk is full: the acknowledged segments go first, so that
		// the cursor fits. Should the bridge die before it is written,
		// the old cursor sees their seqs missing and reports them as a
		// bridge loss: a false alarm, never a silent loss.
		for len(s.segs) > 1 && s.segs[0].end() <= s.head {
			s.removeSegment(0)
		}
		err = s.writeState()
	}
	if err != nil {
		s.diskError("write cursor", err)
		return cmpErr(first, err)
	}
	for len(s.segs) > 1 && s.segs[0].end() <= s.head {
		s.removeSegment(0)
	}
	return first
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// writeState replaces the state file atomically; s.mu is held.
func (s *Spool) writeState() error {
	js := fmt.Appendf(nil, `{"instance_id":"%016x","acked":%d,"head":%d}`, s.ackInst, s.acked, s.head)
	b := fmt.Appendf(js, "\ncrc32c=%08x\n", crc32c(js))
	if err := writeFileAtomic(filepath.Join(s.dir, stateFile), b); err != nil {
		return err
	}
	s.dirtyState = false
	return nil
}

// close writes the state and closes the files; it may be called twice.
func (s *Spool) close() error {
	err := s.syncDisk()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seg := range s.segs {
		if seg.f != nil {
			_ = seg.f.Close()
		}
	}
	s.segs = nil
	return err
}

// writeFileAtomic replaces path with b: temp file, fsync, rename, fsync of
// the directory, so a crash leaves the old or the new content, never a mix.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
