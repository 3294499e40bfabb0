//go:build mypoll_guest

package ktest

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// §4.1 test 1, scaled from 10^5 to 20000 single triggers under TCG.
func TestSeq_SingleReader(t *testing.T) {
	setup(t, "ring_order=16")
	d := rw(t)
	const n = 20000
	for i := uint64(1); i <= n; i++ {
		if first := d.trigger(i*7, 1); first != i {
			t.Fatalf("trigger %d got first_seq %d", i, first)
		}
	}
	evs := d.drain()
	if len(evs) != n {
		t.Fatalf("read %d records, want %d", len(evs), n)
	}
	var prevTS uint64
	for i, e := range evs {
		want := uint64(i + 1)
		if e.Seq != want || e.Type != evTrigger || e.Arg != want*7 || e.Aux != 0 || e.Src != 0 || e.TS < prevTS {
			t.Fatalf("record %d = %v, want seq %d trigger arg %d", i, e, want, want*7)
		}
		prevTS = e.TS
	}
	s := d.stats()
	if s.NextSeq != n+1 || s.Generated != n || s.TriggerEvents != n || s.Overwritten != 0 || s.OldestSeq != 1 || s.Readers != 1 {
		t.Errorf("stats = %+v", s)
	}
	if g := sysfsAttr(t, "generated"); g != n {
		t.Errorf("sysfs generated = %d, want %d", g, n)
	}
}

// §4.1 test 2: two fds opened before generation read identical streams.
func TestSeq_TwoReadersIdentical(t *testing.T) {
	setup(t, "ring_order=12")
	a, b := rw(t), rw(t)
	for i := range 50 {
		a.trigger(uint64(i), uint32(i%7+1))
	}
	read := func(d *dev) []byte {
		buf := make([]byte, 1<<20)
		n, err := unix.Read(d.fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		return buf[:n]
	}
	ba, bb := read(a), read(b)
	if len(ba) == 0 || !bytes.Equal(ba, bb) {
		t.Fatalf("streams differ: %d and %d bytes", len(ba), len(bb))
	}
}

// §4.1 test 3: late opener starts live; SEEK_OLDEST; SEEK_SEQ 1 after overflow.
func TestSeq_LateOpenerAndSeek(t *testing.T) {
	setup(t, "ring_order=6") // 64 records
	w := rw(t)
	w.trigger(1, 100)
	late := rw(t)
	if evs := late.drain(); len(evs) != 0 {
		t.Fatalf("late opener read %d old records", len(evs))
	}
	w.trigger(2, 3)
	evs := late.drain()
	if len(evs) != 3 || evs[0].Seq != 101 {
		t.Fatalf("late opener read %v, want seqs 101..103", evs)
	}
	st := late.stats()
	if st.OldestSeq != 104-64 || st.Overwritten != 103-64 {
		t.Errorf("stats oldest %d overwritten %d, want %d %d", st.OldestSeq, st.Overwritten, 104-64, 103-64)
	}
	late.seek(seekOldest, 0)
	evs = late.drain()
	if len(evs) != 64 || evs[0].Seq != st.OldestSeq || evs[63].Seq != 103 {
		t.Fatalf("after SEEK_OLDEST read %d records from %v", len(evs), evs[0])
	}
	late.seek(seekSeq, 1)
	if ri := late.reader(); ri.Cursor != 1 || ri.Pending != 103 {
		t.Errorf("reader after SEEK_SEQ 1 = %+v", ri)
	}
	pfd := []unix.PollFd{{Fd: int32(late.fd), Events: unix.POLLIN | unix.POLLPRI}}
	if _, err := unix.Poll(pfd, 0); err != nil || pfd[0].Revents != unix.POLLIN|unix.POLLPRI {
		t.Errorf("poll with an OVERFLOW pending = %#x, %v; want IN|PRI", pfd[0].Revents, err)
	}
	evs = late.drain()
	if len(evs) != 65 || evs[0].Type != evOverflow || evs[0].Seq != 1 || evs[0].Aux != st.OldestSeq-1 || evs[1].Seq != st.OldestSeq {
		t.Fatalf("after SEEK_SEQ 1: %d records, first %v", len(evs), evs[0])
	}
	if ri := late.reader(); ri.LostTotal != st.OldestSeq-1 || ri.Overflows != 1 || ri.Pending != 0 {
		t.Errorf("reader info = %+v", ri)
	}
	for _, bad := range []uint64{0, 105, ^uint64(0)} {
		if err := late.seekErr(seekSeq, bad); !errors.Is(err, unix.EINVAL) {
			t.Errorf("SEEK_SEQ %d: %v, want EINVAL", bad, err)
		}
	}
	if err := late.seekErr(seekSeq, 104); err != nil {
		t.Errorf("SEEK_SEQ next_seq: %v", err)
	}
	if err := late.seekErr(3, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("SEEK whence 3: %v, want EINVAL", err)
	}
}

// §4.1 test 4: boundary overflows with the reader idle.
func TestSeq_BoundaryOverflow(t *testing.T) {
	setup(t, "ring_order=6")
	const ring = 64
	w := rw(t)
	r := rw(t)
	var lost, overflows uint64
	for _, burst := range []uint32{ring - 1, ring, ring + 1, 3 * ring, 1, 2*ring + 5} {
		r.seek(seekLive, 0)
		first := w.trigger(uint64(burst), burst)
		evs := r.drain()
		wantLost := uint64(0)
		if burst > ring {
			wantLost = uint64(burst - ring)
		}
		var sc streamCheck
		if err := sc.add(evs); err != nil {
			t.Fatalf("burst %d: %v", burst, err)
		}
		if wantLost == 0 {
			if len(evs) != int(burst) || evs[0].Seq != first {
				t.Fatalf("burst %d: read %d records from %v", burst, len(evs), evs[0])
			}
		} else {
			o := evs[0]
			if o.Type != evOverflow || o.Seq != first || o.Aux != wantLost || len(evs) != ring+1 || evs[1].Seq != o.Seq+o.Aux {
				t.Fatalf("burst %d: first %v, %d records; want OVERFLOW seq %d count %d then %d records", burst, o, len(evs), first, wantLost, ring)
			}
			overflows++
		}
		lost += wantLost
		if ri := r.reader(); ri.LostTotal != lost || ri.Overflows != overflows {
			t.Fatalf("burst %d: reader %+v, want lost %d overflows %d", burst, ri, lost, overflows)
		}
		s := w.stats()
		if want := max(int64(s.Generated)-ring, 0); s.Overwritten != uint64(want) || s.Generated != s.NextSeq-1 {
			t.Fatalf("stats %+v violate overwritten == max(0, generated-ring)", s)
		}
	}
}

// §4.1 test 7: daemon-restart replay with SEEK_SEQ.
func TestSeq_RestartReplay(t *testing.T) {
	setup(t, "ring_order=6")
	w := rw(t)
	r := rw(t)
	w.trigger(0, 10)
	evs := r.drain()
	last := evs[len(evs)-1].Seq
	r.close()
	w.trigger(1, 40) // M < ring
	r2 := rw(t)
	r2.seek(seekSeq, last+1)
	evs = r2.drain()
	if len(evs) != 40 || evs[0].Seq != last+1 || evs[0].Type != evTrigger {
		t.Fatalf("replay of 40: %d records from %v", len(evs), evs[0])
	}
	last = evs[len(evs)-1].Seq
	r2.close()
	w.trigger(2, 100) // M > ring
	r3 := rw(t)
	r3.seek(seekSeq, last+1)
	evs = r3.drain()
	if len(evs) != 65 || evs[0].Type != evOverflow || evs[0].Seq != last+1 || evs[0].Aux != 100-64 {
		t.Fatalf("replay of 100: %d records, first %v, want OVERFLOW count 36", len(evs), evs[0])
	}
}

// §4.1 test 8: a reload changes instance_id and restarts seq at 1.
func TestSeq_ReloadInstance(t *testing.T) {
	setup(t, "")
	d := rw(t)
	i1 := d.info()
	d.trigger(0, 5)
	d.close()
	setup(t, "")
	t.Logf("module load (finit_module, default params) took %v", lastLoad)
	d = rw(t)
	i2 := d.info()
	if i1.InstanceID == 0 || i2.InstanceID == 0 || i1.InstanceID == i2.InstanceID {
		t.Errorf("instance ids %#x then %#x, want non-zero and different", i1.InstanceID, i2.InstanceID)
	}
	if s := d.stats(); s.NextSeq != 1 || s.Generated != 0 {
		t.Errorf("after reload stats %+v, want next_seq 1", s)
	}
	if first := d.trigger(0, 1); first != 1 {
		t.Errorf("first trigger after reload got seq %d", first)
	}
	want := info{ABIVersion: 2, EventSize: 48, RingSize: 1024, MaxTimers: 8, MinPeriodNS: 1e6,
		MaxPeriodNS: maxPeriodNS, MaxBurst: 4096, MaxWrite: 64, InstanceID: i2.InstanceID}
	if i2 != want {
		t.Errorf("GET_INFO with default params = %+v, want %+v", i2, want)
	}
}
