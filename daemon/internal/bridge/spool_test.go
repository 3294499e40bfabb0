package bridge

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/client"
)

func ev(inst, seq uint64) record {
	return record{Instance: inst, Event: &client.Event{Seq: seq, Type: "trigger", Arg: seq * 3, TimestampNS: seq}}
}

func openSpool(t *testing.T, dir string, limit int64) *Spool {
	t.Helper()
	s, err := OpenSpool(dir, limit)
	if err != nil {
		t.Fatalf("OpenSpool: %v", err)
	}
	t.Cleanup(func() { _ = s.close() })
	return s
}

func appendAll(t *testing.T, s *Spool, recs ...record) {
	t.Helper()
	for _, r := range recs {
		if ok, err := s.add(r); err != nil || !ok {
			t.Fatalf("Append(%s) = %v, %v", appendPayload(nil, r), ok, err)
		}
	}
}

func takeAll(t *testing.T, s *Spool) []item {
	t.Helper()
	done := make(chan struct{})
	close(done)
	var all []item
	for {
		items, err := s.take(7, done)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			return all
		}
		all = append(all, items...)
	}
}

func TestSpool_AckResumeReopen(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, 1<<20)
	if got := resumeFrom(s, 9, 50); got != 50 {
		t.Errorf("empty spool: Resume = %d, want the greeting's next_seq 50", got)
	}
	for seq := uint64(50); seq < 80; seq++ {
		appendAll(t, s, ev(9, seq))
	}
	if ok, _ := s.add(ev(9, 60)); ok {
		t.Error("Append of an already spooled seq: accepted")
	}
	items := takeAll(t, s)
	if len(items) != 30 || items[0].Rec.key() != 50 || items[29].Rec.key() != 79 {
		t.Fatalf("Take: %d items", len(items))
	}
	for _, it := range items[:10] {
		s.ack(it)
	}
	if inst, acked := s.Cursor(); inst != 9 || acked != 59 {
		t.Errorf("Cursor = %x, %d; want 9, 59", inst, acked)
	}
	s.rewind()
	if again := takeAll(t, s); len(again) != 20 || again[0].Rec.key() != 60 {
		t.Errorf("after Rewind: %d items from %d, want 20 from 60", len(again), again[0].Rec.key())
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s2 := openSpool(t, dir, 1<<20)
	if inst, acked := s2.Cursor(); inst != 9 || acked != 59 {
		t.Errorf("reopened: Cursor = %x, %d; want 9, 59", inst, acked)
	}
	if got := resumeFrom(s2, 9, 1000); got != 80 {
		t.Errorf("reopened: Resume(same instance) = %d, want R+1 = 80", got)
	}
	if got := resumeFrom(s2, 10, 1000); got != 1 {
		t.Errorf("reopened: Resume(new instance) = %d, want 1", got)
	}
	if items := takeAll(t, s2); len(items) != 20 || items[0].Rec.key() != 60 {
		t.Errorf("reopened: %d items, want the 20 unacknowledged ones", len(items))
	}
}

// A crash mid-write leaves a torn frame: reopening keeps the valid prefix
// and the next append continues after it.
func TestSpool_TornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		appendAll(t, s, ev(3, seq))
	}
	_ = s.syncDisk()
	seg := filepath.Join(dir, segName(0))
	_ = s.close() // state file: nothing acked
	if err := os.Truncate(seg, segHeader+4*frameSize+20); err != nil {
		t.Fatal(err)
	}
	s2 := openSpool(t, dir, 1<<20)
	if got := resumeFrom(s2, 3, 100); got != 5 {
		t.Errorf("Resume after torn frame = %d, want 5 (4 intact records)", got)
	}
	appendAll(t, s2, ev(3, 5), ev(3, 6))
	items := takeAll(t, s2)
	if len(items) != 6 {
		t.Fatalf("%d items, want 6", len(items))
	}
	for i, it := range items {
		if it.Rec.key() != uint64(i+1) {
			t.Errorf("item %d has seq %d", i, it.Rec.key())
		}
	}
}

// A full spool drops its oldest records; the bridge loss covers exactly
// them, comes first, and survives a reopen; together with what is left the
// coverage is complete.
func TestSpool_Overflow(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, MinSpoolBytes)
	const n = 1000
	appendAll(t, s, record{Instance: 4, Lost: &client.Lost{First: 1, Last: 9, Count: 9, Reason: "restart"}})
	for seq := uint64(10); seq < 10+n; seq++ {
		appendAll(t, s, ev(4, seq))
	}
	if s.total > MinSpoolBytes {
		t.Errorf("spool holds %d bytes, limit %d", s.total, MinSpoolBytes)
	}
	check := func(items []item) {
		t.Helper()
		if len(items) < 2 || !items[0].Drop {
			t.Fatalf("first item is not the bridge loss: %+v", items[:1])
		}
		l := items[0].Rec.Lost
		if l.Reason != "bridge" || l.First != 1 {
			t.Fatalf("bridge loss = %+v, want reason bridge from 1", l)
		}
		if want := 9 + (l.Last - 9); l.Count != want {
			t.Errorf("bridge loss count %d, want %d (9 restart + %d events)", l.Count, want, l.Last-9)
		}
		next := l.Last + 1
		for _, it := range items[1:] {
			if it.Drop || it.Rec.Event == nil || it.Rec.key() != next {
				t.Fatalf("after the loss: %s, want event %d", appendPayload(nil, it.Rec), next)
			}
			next++
		}
		if next != 10+n {
			t.Errorf("records end at %d, want %d", next, 10+n)
		}
	}
	check(takeAll(t, s))
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s2 := openSpool(t, dir, MinSpoolBytes)
	items := takeAll(t, s2)
	check(items)
	if got := resumeFrom(s2, 4, 1); got != 10+n {
		t.Errorf("Resume = %d, want %d", got, 10+n)
	}
	// Acknowledging the loss removes it for good.
	s2.ack(items[0])
	s2.rewind()
	if again := takeAll(t, s2); len(again) != len(items)-1 || again[0].Drop {
		t.Errorf("after acking the loss: %d items (first drop=%v), want %d records", len(again), again[0].Drop, len(items)-1)
	}
}

// Records of a new instance go to a new segment and keep their instance.
func TestSpool_NewInstance(t *testing.T) {
	s := openSpool(t, t.TempDir(), 1<<20)
	appendAll(t, s, ev(1, 500), ev(1, 501), ev(2, 1), ev(2, 2))
	items := takeAll(t, s)
	if len(items) != 4 || items[1].Rec.Instance != 1 || items[2].Rec.Instance != 2 || items[2].Rec.key() != 1 {
		t.Fatalf("items across an instance change: %+v", items)
	}
	if got := resumeFrom(s, 2, 77); got != 3 {
		t.Errorf("Resume(new instance, spooled) = %d, want 3", got)
	}
}

func TestOpenSpool_BadLimit(t *testing.T) {
	if _, err := OpenSpool(t.TempDir(), MinSpoolBytes-1); err == nil {
		t.Error("OpenSpool below the minimum: no error")
	}
}

// spoolOf writes n events of instance inst (seqs from 1) into a spool of
// 64 KiB (segments of 85 records), acknowledges the first acked of them
// and closes it; it returns the segment files, oldest first.
func spoolOf(t *testing.T, dir string, inst uint64, n, acked int) []string {
	t.Helper()
	s, err := OpenSpool(dir, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= uint64(n); seq++ {
		appendAll(t, s, ev(inst, seq))
	}
	for i, it := range takeAll(t, s) {
		if i < acked {
			s.ack(it)
		}
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	return segs
}

// checkCoverage fails unless items cover seqs from..to of inst in order:
// each seq an event or inside a loss, and each bridge loss counting
// exactly the seqs of its range that no event delivers. It returns the
// seqs only losses cover.
func checkCoverage(t *testing.T, items []item, inst, from, to uint64) (lost uint64) {
	t.Helper()
	next := from
	for _, it := range items {
		r := it.Rec
		if r.Instance != inst {
			t.Fatalf("item of instance %x, want %x", r.Instance, inst)
		}
		if r.first() < next && r.key() < next {
			continue // a duplicate: allowed (C.3)
		}
		if r.first() != next {
			t.Fatalf("seqs %d..%d missing before %s", next, r.first()-1, appendPayload(nil, r))
		}
		if r.Lost != nil {
			if r.Lost.Reason == "bridge" && r.Lost.Count != r.Lost.Last-r.Lost.First+1 {
				t.Errorf("bridge loss %+v: count is not the seqs of its range", *r.Lost)
			}
			lost += r.Lost.Last - r.Lost.First + 1
		}
		next = r.key() + 1
	}
	if next != to+1 {
		t.Fatalf("items end before seq %d, want %d", next, to+1)
	}
	return lost
}

// Every way a segment in the middle of the spool can be damaged: the spool
// opens, and the seqs it can no longer publish are one exact bridge loss
// in their place, also after another reopen (the loss is on disk).
func TestSpool_SegmentDamage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string) error
		want   uint64 // seqs lost: the damaged segment's 85, or from the flipped frame on
	}{
		{"byte flipped", func(p string) error {
			b, err := os.ReadFile(p)
			if err == nil {
				b[segHeader+10*frameSize+7] ^= 1
				err = os.WriteFile(p, b, 0o640)
			}
			return err
		}, 75},
		{"instance in header changed", func(p string) error {
			b, err := os.ReadFile(p)
			if err == nil {
				b[8] ^= 1
				err = os.WriteFile(p, b, 0o640)
			}
			return err
		}, 85},
		{"truncated", func(p string) error { return os.Truncate(p, segHeader+30*frameSize+5) }, 55},
		{"zero-filled", func(p string) error {
			fi, err := os.Stat(p)
			if err == nil {
				err = os.WriteFile(p, make([]byte, fi.Size()), 0o640)
			}
			return err
		}, 85},
		{"deleted", os.Remove, 85},
		{"header garbled", func(p string) error {
			b, err := os.ReadFile(p)
			if err == nil {
				copy(b, "garbage!")
				err = os.WriteFile(p, b, 0o640)
			}
			return err
		}, 85},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			dir := t.TempDir()
			segs := spoolOf(t, dir, 7, 500, 100)
			if len(segs) < 5 {
				t.Fatalf("%d segments", len(segs))
			}
			if err := tc.damage(segs[3]); err != nil { // seqs 256..340
				t.Fatal(err)
			}
			for round := range 2 {
				s, err := OpenSpool(dir, 64<<10)
				if err != nil {
					t.Fatalf("round %d: OpenSpool: %v", round, err)
				}
				if got := resumeFrom(s, 7, 501); got != 501 {
					t.Errorf("round %d: Resume = %d, want 501", round, got)
				}
				if lost := checkCoverage(t, takeAll(t, s), 7, 101, 500); lost != tc.want {
					t.Errorf("round %d: %d seqs in losses, want %d", round, lost, tc.want)
				}
				_ = s.close()
			}
		})
	}
}

// A damaged cursor is not trusted: the spool opens and publishes all it
// holds again (duplicates are allowed, losses are not).
func TestSpool_CursorDamage(t *testing.T) {
	withCRC := func(js string) []byte { return fmt.Appendf([]byte(js), "\ncrc32c=%08x\n", crc32c([]byte(js))) }
	for _, tc := range []struct {
		name   string
		cursor func(old []byte) []byte
	}{
		{"empty", func([]byte) []byte { return nil }},
		{"garbage", func([]byte) []byte { return []byte("\x00garbage{") }},
		{"checksum mismatch", func(b []byte) []byte { return bytes.Replace(b, []byte(`"head":`), []byte(`"head":3`), 1) }},
		{"old format", func([]byte) []byte {
			return []byte(`{"instance_id":"0000000000000007","acked":400,"head":400,"drops":[]}`)
		}},
		{"missing field", func([]byte) []byte { return withCRC(`{"instance_id":"0000000000000007","acked":100}`) }},
		{"head beyond the end", func([]byte) []byte { return withCRC(`{"instance_id":"0000000000000007","acked":100,"head":5000}`) }},
		{"acked beyond the records", func([]byte) []byte {
			return withCRC(`{"instance_id":"0000000000000007","acked":1000000000000,"head":100}`)
		}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			dir := t.TempDir()
			spoolOf(t, dir, 7, 500, 100)
			path := filepath.Join(dir, stateFile)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.cursor(b), 0o640); err != nil {
				t.Fatal(err)
			}
			s, err := OpenSpool(dir, 64<<10)
			if err != nil {
				t.Fatalf("OpenSpool: %v", err)
			}
			defer s.close()
			items := takeAll(t, s)
			if len(items) == 0 || items[0].Rec.key() > 101 {
				t.Fatalf("first item %v, want the spool published again from its first record", items[:min(len(items), 1)])
			}
			if lost := checkCoverage(t, items, 7, items[0].Rec.first(), 500); lost != 0 {
				t.Errorf("%d seqs in losses, want none", lost)
			}
			if got := resumeFrom(s, 7, 501); got != 501 {
				t.Errorf("Resume = %d, want 501", got)
			}
		})
	}
}

// A spool written by the previous version: segments of version 1 and a
// state file without a checksum, whose pending bridge loss covers a
// dropped segment. The state file is not trusted (everything is published
// again) but its loss is kept, in place; new records go to version 2
// segments, and all of it survives a reopen.
func TestSpool_OldFormat(t *testing.T) {
	dir := t.TempDir()
	const inst = 7
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, segMagic)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint64(b, inst)
	for seq := uint64(86); seq <= 170; seq++ { // positions 85..169; 0..84 were dropped
		var f [frameSize]byte
		encodeFrame(f[:], ev(inst, seq))
		binary.LittleEndian.PutUint32(f[44:], frameCRC(f[:], inst, 1))
		b = append(b, f[:]...)
	}
	if err := os.WriteFile(filepath.Join(dir, segName(85)), b, 0o640); err != nil {
		t.Fatal(err)
	}
	old := `{"instance_id":"0000000000000007","acked":0,"head":0,"drops":[{"instance_id":"7","first":1,"last":85,"count":85,"at":85}]}`
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(old), 0o640); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		s, err := OpenSpool(dir, 64<<10)
		if err != nil {
			t.Fatalf("round %d: OpenSpool: %v", round, err)
		}
		if round == 0 {
			appendAll(t, s, ev(inst, 171))
		}
		items := takeAll(t, s)
		if len(items) == 0 || !items[0].Drop || *items[0].Rec.Lost != (client.Lost{First: 1, Last: 85, Count: 85, Reason: "bridge"}) {
			t.Fatalf("round %d: first item %+v, want the old pending loss 1..85", round, items[:min(1, len(items))])
		}
		if lost := checkCoverage(t, items, inst, 1, 171); lost != 85 {
			t.Errorf("round %d: %d seqs in losses, want 85", round, lost)
		}
		if got := resumeFrom(s, inst, 500); got != 172 {
			t.Errorf("round %d: Resume = %d, want 172", round, got)
		}
		_ = s.close()
	}
}

// TestSpool_RandomDamage: rounds of appends (events and daemon losses),
// publishing with acknowledgements of a prefix, a crash or a clean close,
// random damage to a segment or the cursor, and a reopen that resumes from
// a model daemon keeping every seq (the refetch of C.4). Whatever happened,
// the acknowledged stream covers every seq the daemon produced (C.3).
// MYPOLL_SPOOL_SEEDS sets how many random runs (default 4), from seed
// MYPOLL_SPOOL_SEED (default 0).
func TestSpool_RandomDamage(t *testing.T) {
	seeds, first := uint64(4), uint64(0)
	if n, err := strconv.ParseUint(os.Getenv("MYPOLL_SPOOL_SEEDS"), 10, 64); err == nil {
		seeds = n
	}
	if n, err := strconv.ParseUint(os.Getenv("MYPOLL_SPOOL_SEED"), 10, 64); err == nil {
		first = n
	}
	for seed := first; seed < first+seeds; seed++ {
		rng := rand.New(rand.NewPCG(seed, 19))
		dir := t.TempDir()
		const inst = 3
		var produced uint64 // the model daemon's last seq
		covered := map[uint64]bool{}
		var s *Spool
		open := func() {
			var err error
			if s, err = OpenSpool(dir, 8192); err != nil {
				t.Fatalf("seed %d: OpenSpool: %v", seed, err)
			}
			// The daemon replays from Resume's seq (it retains everything).
			for seq := resumeFrom(s, inst, produced+1); seq <= produced; seq++ {
				s.add(ev(inst, seq))
			}
		}
		publish := func(all bool) {
			done := make(chan struct{})
			close(done)
			for {
				items, err := s.take(1+rng.IntN(20), done)
				if err != nil {
					t.Fatalf("seed %d: Take: %v", seed, err)
				}
				if len(items) == 0 {
					return
				}
				n := len(items)
				if !all {
					n = rng.IntN(len(items) + 1)
				}
				for _, it := range items[:n] {
					for q := it.Rec.first(); q <= it.Rec.key(); q++ {
						covered[q] = true
					}
					s.ack(it)
				}
				if n < len(items) {
					s.rewind()
					return
				}
			}
		}
		open()
		for range 12 {
			for range rng.IntN(300) {
				if rng.IntN(20) == 0 {
					k := 1 + uint64(rng.IntN(5))
					s.add(record{Instance: inst, Lost: &client.Lost{First: produced + 1, Last: produced + k, Count: k, Reason: "queue"}})
					produced += k
				} else {
					produced++
					s.add(ev(inst, produced))
				}
				if rng.IntN(50) == 0 {
					publish(false)
				}
			}
			if rng.IntN(2) == 0 {
				_ = s.syncDisk()
			}
			if rng.IntN(3) == 0 {
				_ = s.close()
			} else { // a crash: the files stay as they are
				s.mu.Lock()
				for _, seg := range s.segs {
					if seg.f != nil {
						_ = seg.f.Close()
					}
				}
				s.mu.Unlock()
			}
			segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
			switch k := rng.IntN(6); {
			case k == 0 && len(segs) > 0: // a byte flipped
				p := segs[rng.IntN(len(segs))]
				if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
					b[rng.IntN(len(b))] ^= 0x10
					_ = os.WriteFile(p, b, 0o640)
				}
			case k == 1 && len(segs) > 0: // truncated
				p := segs[rng.IntN(len(segs))]
				if fi, err := os.Stat(p); err == nil {
					_ = os.Truncate(p, rng.Int64N(fi.Size()+1))
				}
			case k == 2 && len(segs) > 0: // deleted
				_ = os.Remove(segs[rng.IntN(len(segs))])
			case k == 3: // cursor garbled
				_ = os.WriteFile(filepath.Join(dir, stateFile), []byte("{}"), 0o640)
			}
			open()
		}
		publish(true)
		for seq := uint64(1); seq <= produced; seq++ {
			if !covered[seq] {
				t.Fatalf("seed %d: seq %d of 1..%d neither delivered nor in a loss", seed, seq, produced)
			}
		}
		_ = s.close()
	}
}

// A frame damaged on disk while the bridge runs (after OpenSpool checked
// it): the publisher is not stuck on it. Its seq, and the seqs of the
// damaged frames after it, become one exact bridge loss in its place, the
// records after them follow, and a reopen covers the same seqs again.
func TestSpool_DamagedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, 1<<20)
	resumeFrom(s, 7, 1)
	for seq := uint64(1); seq <= 40; seq++ {
		appendAll(t, s, ev(7, seq))
	}
	if err := s.syncDisk(); err != nil {
		t.Fatal(err)
	}
	first := takeAll(t, s)
	for _, it := range first[:10] { // seqs 1..10 published and acknowledged
		s.ack(it)
	}
	s.rewind() // the connection broke: 11.. are sent again
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v, want 1", segs)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{14, 15, 16} { // the frames of seqs 15..17
		b[segHeader+i*frameSize+9] ^= 0x40
	}
	if err := os.WriteFile(segs[0], b, 0o640); err != nil {
		t.Fatal(err)
	}
	items := takeAll(t, s)
	checkCoverage(t, items, 7, 11, 40)
	var losses []client.Lost
	for _, it := range items {
		if it.Rec.Lost != nil {
			losses = append(losses, *it.Rec.Lost)
		}
	}
	if want := []client.Lost{{First: 15, Last: 17, Count: 3, Reason: "bridge"}}; !slices.Equal(losses, want) {
		t.Errorf("losses %+v, want %+v", losses, want)
	}
	// The bridge stops before anything more is acknowledged: the next
	// open cuts the segment at the first damaged frame, and the seqs from
	// there on are asked of mypolld again (it replays what it retains).
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s2 := openSpool(t, dir, 1<<20)
	checkCoverage(t, takeAll(t, s2), 7, 11, 14)
	if from := resumeFrom(s2, 7, 41); from != 15 {
		t.Errorf("after reopen Resume = from=%d, want 15", from)
	}
}

// resumeFrom is the from= that a client.Stream started at s.position()
// sends for the greeting (inst, next) (PROTOCOL.md C.3): R+1 for the
// instance the spool knows, 1 for another instance, next on a fresh spool
// and 1 after an unusable cursor.
func resumeFrom(s *Spool, inst, next uint64) uint64 {
	known, from := s.position()
	switch {
	case known != 0 && known != inst:
		return 1 // the stream's NewInstance
	case from == 0:
		return next
	}
	return from
}
