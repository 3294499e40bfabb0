package main

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mypoll/mypoll/client"
)

// The spool is the bridge's crash-safe FIFO between the reader (mypolld) and
// the publisher (the broker), PROTOCOL.md C.4. Every record gets a position,
// a number that grows by one per record for the life of the spool directory.
// Records live in segment files "<first position>.seg" (20 decimal digits):
// a 16-byte header (magic, version, instance_id) then 48-byte frames. A
// segment holds records of one device instance only.
//
// Three positions move forward: head (the first record the broker has not
// acknowledged; everything before it is gone), read (the next record to
// hand to the publisher; head <= read) and end (the next record appended).
// The state file "cursor.json" holds head, the acknowledged cursor S with
// its instance, and the pending bridge losses; it is replaced atomically
// (write temp, fsync, rename, fsync dir).
//
// When the segments exceed the byte limit, the oldest segment not yet handed
// to the publisher is deleted and its records are reported as one bridge
// loss (merged with the previous one when adjacent), published at the
// position where the records were.

const (
	segMagic   = 0x6d707370 // "mpsp"
	segVersion = 1
	segHeader  = 16
	stateFile  = "cursor.json"

	// MinSpoolBytes is the smallest --spool-bytes (PROTOCOL.md C.4).
	MinSpoolBytes = 4096
)

// drop is a bridge loss not yet acknowledged by the broker: the records of
// instance Instance with keys First..Last, Count events among them, were
// deleted. It is published just before the record at position At.
type drop struct {
	Instance uint64 `json:"instance_id,string"`
	First    uint64 `json:"first"`
	Last     uint64 `json:"last"`
	Count    uint64 `json:"count"`
	At       uint64 `json:"at"`
	sent     bool   // handed to the publisher on this connection
}

func (d drop) record() record {
	return record{Instance: d.Instance, Lost: &client.Lost{First: d.First, Last: d.Last, Count: d.Count, Reason: "bridge"}}
}

// cursorState is the JSON of the state file.
type cursorState struct {
	Instance string `json:"instance_id"` // of Acked; 16 hex digits
	Acked    uint64 `json:"acked"`       // S of C.3
	Head     uint64 `json:"head"`
	Drops    []drop `json:"drops"`
}

type segment struct {
	first uint64 // position of its first record
	n     uint64 // records in it
	inst  uint64
	f     *os.File
}

func (s *segment) end() uint64    { return s.first + s.n }
func (s *segment) size() int64    { return segHeader + int64(s.n)*frameSize }
func segName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

// item is what the publisher gets: a record at a position, or a bridge
// loss (Drop set, Pos = its At).
type item struct {
	Pos  uint64
	Rec  record
	Drop bool
}

// Spool is safe for concurrent use: the reader appends, the publisher takes
// and acknowledges, the syncer flushes. Its methods return errors from the
// file system; a failing disk stops the bridge.
type Spool struct {
	dir    string
	limit  int64
	segMax uint64 // records per segment

	mu      sync.Mutex
	segs    []*segment // oldest first; the last one takes appends
	total   int64
	head    uint64
	read    uint64
	end     uint64
	drops   []drop
	acked   uint64 // S
	ackInst uint64
	// last names the newest record appended or dropped: R of C.3 is
	// lastKey when the daemon's instance is lastInst.
	lastInst, lastKey uint64
	dirtyData         bool // appended since the last fsync
	dirtyState        bool // head/acked changed since the state was written
	avail             chan struct{}
	frame             [frameSize]byte
}

// OpenSpool opens (or creates) the spool in dir, bounded by limit bytes. It
// truncates a torn last frame, deletes segments before the saved head and
// resumes where the previous run stopped.
func OpenSpool(dir string, limit int64) (*Spool, error) {
	if limit < MinSpoolBytes {
		return nil, fmt.Errorf("spool limit %d bytes is below the minimum %d", limit, MinSpoolBytes)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	per := min(max(limit/16, 1024), 4<<20)
	s := &Spool{dir: dir, limit: limit, segMax: uint64((per - segHeader) / frameSize), avail: make(chan struct{}, 1)}
	var st cursorState
	switch b, err := os.ReadFile(filepath.Join(dir, stateFile)); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, stateFile), err)
		}
		if st.Instance != "" {
			if s.ackInst, err = strconv.ParseUint(st.Instance, 16, 64); err != nil {
				return nil, fmt.Errorf("read %s: bad instance_id: %w", filepath.Join(dir, stateFile), err)
			}
		}
		s.acked, s.head, s.drops = st.Acked, st.Head, st.Drops
	}
	s.lastInst, s.lastKey = s.ackInst, s.acked
	for _, d := range s.drops {
		s.lastInst, s.lastKey = d.Instance, d.Last
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		first, ok := strings.CutSuffix(name, ".seg")
		if !ok {
			continue
		}
		pos, err := strconv.ParseUint(first, 10, 64)
		if err != nil {
			continue
		}
		seg, err := s.openSegment(pos)
		if err != nil {
			return nil, err
		}
		if seg == nil || seg.end() <= s.head {
			if seg != nil {
				_ = seg.f.Close()
			}
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
			continue
		}
		s.segs = append(s.segs, seg)
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return cmp.Compare(a.first, b.first) })
	for _, seg := range s.segs {
		s.total += seg.size()
		s.end = seg.end()
	}
	s.end = max(s.end, s.head)
	if s.head < s.firstPos() {
		s.head = s.firstPos()
	}
	s.read = s.head
	if n := len(s.segs); n > 0 && s.segs[n-1].n > 0 {
		last := s.segs[n-1]
		r, err := s.readAt(last, last.end()-1)
		if err != nil {
			return nil, err
		}
		if len(s.drops) == 0 || s.drops[len(s.drops)-1].At <= last.end()-1 {
			s.lastInst, s.lastKey = r.Instance, r.key()
		}
	}
	return s, nil
}

func (s *Spool) firstPos() uint64 {
	if len(s.segs) == 0 {
		return s.end
	}
	return s.segs[0].first
}

// openSegment opens an existing segment and truncates a torn tail. A file
// too short or foreign to hold a header is deleted (nil, nil): it was being
// created when the bridge died, so it holds no record.
func (s *Spool) openSegment(first uint64) (*segment, error) {
	path := filepath.Join(s.dir, segName(first))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	var h [segHeader]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || binary.LittleEndian.Uint32(h[0:]) != segMagic ||
		binary.LittleEndian.Uint32(h[4:]) != segVersion {
		_ = f.Close()
		return nil, os.Remove(path)
	}
	seg := &segment{first: first, inst: binary.LittleEndian.Uint64(h[8:]), f: f}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	seg.n = uint64(fi.Size()-segHeader) / frameSize
	// Keep the valid prefix: a kill -9 or power loss may leave a torn frame.
	var b [frameSize]byte
	for i := uint64(0); i < seg.n; i++ {
		if _, err := f.ReadAt(b[:], segHeader+int64(i)*frameSize); err != nil {
			seg.n = i
			break
		}
		if _, err := decodeFrame(b[:], seg.inst); err != nil {
			seg.n = i
			break
		}
	}
	if err := f.Truncate(seg.size()); err != nil {
		_ = f.Close()
		return nil, err
	}
	if _, err := f.Seek(seg.size(), io.SeekStart); err != nil {
		_ = f.Close()
		return nil, err
	}
	return seg, nil
}

func (s *Spool) readAt(seg *segment, pos uint64) (record, error) {
	b := s.frame[:]
	if _, err := seg.f.ReadAt(b, segHeader+int64(pos-seg.first)*frameSize); err != nil {
		return record{}, fmt.Errorf("read spool %s: %w", segName(seg.first), err)
	}
	return decodeFrame(b, seg.inst)
}

// Resume returns the seq to ask mypolld for (from= of C.3) given its
// greeting: R+1 for the instance the spool knows, 1 for another instance,
// or next (the greeting's next_seq) when the spool knows none.
func (s *Spool) Resume(inst, next uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.lastInst == 0:
		return next
	case s.lastInst == inst:
		return s.lastKey + 1
	default:
		return 1
	}
}

// Cursor returns the acknowledged cursor: instance and S.
func (s *Spool) Cursor() (inst, acked uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ackInst, s.acked
}

// Append adds r at the end. Records of one instance must come in
// increasing key order; a record at or below the last key of its instance
// is ignored (it was already spooled or dropped) and Append returns false.
func (s *Spool) Append(r record) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Instance == s.lastInst && r.first() <= s.lastKey {
		return false, nil
	}
	n := len(s.segs)
	if n == 0 || s.segs[n-1].n >= s.segMax || s.segs[n-1].inst != r.Instance || s.segs[n-1].end() != s.end {
		if err := s.newSegment(r.Instance); err != nil {
			return false, err
		}
	}
	seg := s.segs[len(s.segs)-1]
	encodeFrame(s.frame[:], r)
	if _, err := seg.f.Write(s.frame[:]); err != nil {
		return false, fmt.Errorf("write spool: %w", err)
	}
	seg.n++
	s.end++
	s.total += frameSize
	s.lastInst, s.lastKey = r.Instance, r.key()
	s.dirtyData = true
	if err := s.enforceLimit(); err != nil {
		return false, err
	}
	s.signal()
	return true, nil
}

func (s *Spool) signal() {
	select {
	case s.avail <- struct{}{}:
	default:
	}
}

func (s *Spool) newSegment(inst uint64) error {
	if n := len(s.segs); n > 0 && s.dirtyData {
		if err := s.segs[n-1].f.Sync(); err != nil {
			return fmt.Errorf("sync spool: %w", err)
		}
	}
	path := filepath.Join(s.dir, segName(s.end))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("create spool segment: %w", err)
	}
	var h [segHeader]byte
	binary.LittleEndian.PutUint32(h[0:], segMagic)
	binary.LittleEndian.PutUint32(h[4:], segVersion)
	binary.LittleEndian.PutUint64(h[8:], inst)
	if _, err := f.Write(h[:]); err != nil {
		_ = f.Close()
		return fmt.Errorf("write spool: %w", err)
	}
	s.segs = append(s.segs, &segment{first: s.end, inst: inst, f: f})
	s.total += segHeader
	s.dirtyData = true
	return syncDir(s.dir)
}

// enforceLimit drops the oldest segments that the publisher has not been
// handed while the spool is over its limit (C.4). The active segment is
// never dropped; segments are at most a quarter of the limit, so the spool
// exceeds it by at most what the publisher holds in flight.
func (s *Spool) enforceLimit() error {
	for s.total > s.limit {
		i := slices.IndexFunc(s.segs[:len(s.segs)-1], func(seg *segment) bool {
			return max(s.head, seg.first) >= s.read
		})
		if i < 0 {
			return nil
		}
		seg := s.segs[i]
		from := max(s.head, seg.first)
		d := drop{Instance: seg.inst, At: seg.end()}
		for p := from; p < seg.end(); p++ {
			r, err := s.readAt(seg, p)
			if err != nil {
				return err
			}
			if p == from {
				d.First = r.first()
			}
			d.Last = r.key()
			if r.Event != nil {
				d.Count++
			} else {
				d.Count += r.Lost.Count
			}
		}
		if from < seg.end() {
			k := slices.IndexFunc(s.drops, func(o drop) bool { return o.At > d.At })
			if k < 0 {
				k = len(s.drops)
			}
			if k > 0 && !s.drops[k-1].sent && s.drops[k-1].Instance == d.Instance && s.drops[k-1].At == from {
				p := &s.drops[k-1]
				p.Last, p.Count, p.At = d.Last, p.Count+d.Count, d.At
			} else {
				s.drops = slices.Insert(s.drops, k, d)
			}
		}
		if s.head >= seg.first {
			s.head = seg.end()
			s.read = max(s.read, s.head)
		}
		// The loss must be durable before the records disappear.
		if err := s.writeState(); err != nil {
			return err
		}
		_ = seg.f.Close()
		if err := os.Remove(filepath.Join(s.dir, segName(seg.first))); err != nil {
			return fmt.Errorf("drop spool segment: %w", err)
		}
		s.total -= seg.size()
		s.segs = slices.Delete(s.segs, i, i+1)
	}
	return nil
}

// Take returns up to n items from the read position on, in publishing
// order, waiting until there is one or done is closed (then it returns nil).
func (s *Spool) Take(n int, done <-chan struct{}) ([]item, error) {
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
		// s.drops is sorted by At: a loss goes just before the record at its position.
		if i := slices.IndexFunc(s.drops, func(d drop) bool { return !d.sent && d.At <= s.read }); i >= 0 {
			s.drops[i].sent = true
			items = append(items, item{Pos: s.drops[i].At, Rec: s.drops[i].record(), Drop: true})
			continue
		}
		seg := s.segmentAt(s.read)
		if seg == nil {
			break
		}
		if s.read < seg.first {
			s.read = seg.first
			continue // a dropped range: its loss goes first
		}
		r, err := s.readAt(seg, s.read)
		if err != nil {
			return items, err
		}
		items = append(items, item{Pos: s.read, Rec: r})
		s.read++
	}
	return items, nil
}

// segmentAt returns the segment holding pos or, if pos fell in a dropped
// range, the first one after it; nil at the end.
func (s *Spool) segmentAt(pos uint64) *segment {
	for _, seg := range s.segs {
		if pos < seg.end() {
			return seg
		}
	}
	return nil
}

// Ack records that the broker acknowledged it (the publisher calls it in
// publishing order, for a contiguous prefix only). Segments wholly
// acknowledged are deleted once the state file says so.
func (s *Spool) Ack(it item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it.Drop {
		i := slices.IndexFunc(s.drops, func(d drop) bool { return d.sent && d.At == it.Pos && d.Last == it.Rec.key() })
		if i >= 0 {
			s.drops = slices.Delete(s.drops, i, i+1)
		}
	} else if it.Pos >= s.head {
		s.head = it.Pos + 1
	}
	s.ackInst, s.acked = it.Rec.Instance, it.Rec.key()
	s.dirtyState = true
}

// Rewind makes the publisher start again at the first unacknowledged
// record (after a broken connection: what was in flight is sent again).
func (s *Spool) Rewind() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.read = s.head
	for i := range s.drops {
		s.drops[i].sent = false
	}
	s.signal()
}

// Pending returns how many records and bridge losses wait for an ack.
func (s *Spool) Pending() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := uint64(len(s.drops))
	for _, seg := range s.segs {
		if seg.end() > s.head {
			n += seg.end() - max(seg.first, s.head)
		}
	}
	return n
}

// Sync makes appended records durable (fsync of the segment) and writes
// the state file if the cursor moved, then deletes the acknowledged
// segments. The bridge calls it several times a second (C.4: durable
// within 1 s).
func (s *Spool) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirtyData && len(s.segs) > 0 {
		if err := s.segs[len(s.segs)-1].f.Sync(); err != nil {
			return fmt.Errorf("sync spool: %w", err)
		}
		s.dirtyData = false
	}
	if !s.dirtyState {
		return nil
	}
	if err := s.writeState(); err != nil {
		return err
	}
	for len(s.segs) > 1 && s.segs[0].end() <= s.head {
		seg := s.segs[0]
		_ = seg.f.Close()
		if err := os.Remove(filepath.Join(s.dir, segName(seg.first))); err != nil {
			return fmt.Errorf("trim spool: %w", err)
		}
		s.total -= seg.size()
		s.segs = s.segs[1:]
	}
	return nil
}

// writeState replaces the state file atomically; s.mu is held.
func (s *Spool) writeState() error {
	st := cursorState{Acked: s.acked, Head: s.head, Drops: s.drops}
	if s.ackInst != 0 {
		st.Instance = string(appendInstance(nil, s.ackInst))
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(s.dir, stateFile), b); err != nil {
		return err
	}
	s.dirtyState = false
	return nil
}

// Close writes the state and closes the files; it may be called twice.
func (s *Spool) Close() error {
	err := s.Sync()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seg := range s.segs {
		_ = seg.f.Close()
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
		return fmt.Errorf("write state: %w", err)
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
		return fmt.Errorf("write state: %w", err)
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
