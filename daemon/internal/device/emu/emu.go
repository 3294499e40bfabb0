package emu

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// Limits of the module parameters (PROTOCOL.md B.3), applied to Config.
const (
	minRingOrder     = 4
	maxRingOrder     = 16
	defaultRingOrder = 10
	minMinPeriod     = 100 * time.Microsecond
	defaultMinPeriod = time.Millisecond
	maxMaxBurst      = 65536
	defaultMaxBurst  = 4096
)

// Config are the emulated module's parameters. The zero value gives the
// module's defaults.
type Config struct {
	// RingOrder is log2 of the ring size in records, 4..16 (ring_order);
	// 0 means 10 (1024 records).
	RingOrder int
	// MinPeriod is the shortest timer period, at least 100us
	// (min_period_us); 0 means 1ms.
	MinPeriod time.Duration
	// MaxBurst is the largest trigger count, 1..65536 (max_burst); 0 means
	// 4096.
	MaxBurst uint32
	// NoTextCtl disables text control writes like text_ctl=0: every
	// WriteText gives EINVAL.
	NoTextCtl bool
	// Clock is the time source; nil means CLOCK_MONOTONIC and Go timers.
	Clock Clock
}

// Validate reports whether c is in the ranges the module accepts for its
// parameters; New panics on a Config that fails it, so check user input here.
func (c Config) Validate() error {
	if c.RingOrder != 0 && (c.RingOrder < minRingOrder || c.RingOrder > maxRingOrder) {
		return fmt.Errorf("emu: ring order %d out of range %d..%d", c.RingOrder, minRingOrder, maxRingOrder)
	}
	if c.MinPeriod != 0 && (c.MinPeriod < minMinPeriod || c.MinPeriod > devabi.MaxPeriodNS) {
		return fmt.Errorf("emu: min period %v out of range %v..%v", c.MinPeriod, minMinPeriod, time.Duration(devabi.MaxPeriodNS))
	}
	if c.MaxBurst > maxMaxBurst {
		return fmt.Errorf("emu: max burst %d above %d", c.MaxBurst, maxMaxBurst)
	}
	return nil
}

// Device is one emulated module instance: a ring shared by all its Files,
// eight timers and the device-wide counters. It is safe for concurrent
// use; all state is guarded by mu, and timer callbacks take mu too.
type Device struct {
	ringSize   uint64
	minPeriod  time.Duration
	maxBurst   uint32
	textCtl    bool
	clock      Clock
	instanceID uint64

	mu            sync.Mutex
	ring          []devabi.Event // guarded by mu: record seq lives at seq % ringSize
	nextSeq       uint64         // guarded by mu
	timerEvents   uint64         // guarded by mu
	triggerEvents uint64         // guarded by mu
	timerOverruns uint64         // guarded by mu
	files         map[*File]struct{}
	timers        [devabi.MaxTimers]timer // guarded by mu
	dead          bool                    // guarded by mu: Unplug was called
}

// timer is one of the eight timers; guarded by Device.mu.
type timer struct {
	active  bool
	flags   uint32
	period  time.Duration
	count   uint64 // 0 = forever
	cookie  uint64
	ticks   uint64
	owner   *File         // OWNED timers: the File whose Close stops it
	expires time.Duration // Clock time of the next tick
	gen     uint64        // bumped on every stop/restart; stale callbacks compare it
	cancel  func() bool
}

// New returns a fresh emulated device: next_seq 1, a random non-zero
// instance_id, no timers running. It panics if cfg.Validate fails.
func New(cfg Config) *Device {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	order := orDefault(cfg.RingOrder, defaultRingOrder)
	d := &Device{
		ringSize:   1 << order,
		minPeriod:  orDefault(cfg.MinPeriod, defaultMinPeriod),
		maxBurst:   orDefault(cfg.MaxBurst, defaultMaxBurst),
		textCtl:    !cfg.NoTextCtl,
		clock:      cfg.Clock,
		instanceID: randomID(),
		nextSeq:    1,
		files:      make(map[*File]struct{}),
	}
	if d.clock == nil {
		d.clock = realClock{}
	}
	d.ring = make([]devabi.Event, d.ringSize)
	return d
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func randomID() uint64 {
	var b [8]byte
	for {
		// crypto/rand.Read never fails on Linux (it panics rather than
		// return a short read).
		_, _ = rand.Read(b[:])
		if id := binary.NativeEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// Open opens a File with its cursor live. It returns ENODEV after Unplug
// and the eventfd error if one cannot be created.
func (d *Device) Open(write bool) (device.File, error) {
	return d.OpenFile(write)
}

// OpenFile is Open returning the concrete type.
func (d *Device) OpenFile(write bool) (*File, error) {
	efd, err := sys.Eventfd()
	if err != nil {
		return nil, fmt.Errorf("emu: readiness eventfd: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		_ = sys.Close(efd)
		return nil, os.NewSyscallError("open", syscall.ENODEV)
	}
	f := &File{d: d, write: write, efd: efd, cursor: d.nextSeq}
	d.files[f] = struct{}{}
	return f, nil
}

// Unplug emulates the module's debugfs unplug hook: timers stop without
// records, every File becomes readable, readers drain what is left and then
// get ENODEV, control calls and new Opens get ENODEV.
func (d *Device) Unplug() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return
	}
	d.dead = true
	for i := range d.timers {
		tm := &d.timers[i]
		if tm.active {
			tm.active = false
			tm.gen++
			tm.cancel()
		}
	}
	d.wake()
}

// oldest returns the oldest seq still in the ring. Caller holds mu.
func (d *Device) oldest() uint64 {
	if d.nextSeq-1 > d.ringSize {
		return d.nextSeq - d.ringSize
	}
	return 1
}

// emit appends one record. Caller holds mu and calls wake after the batch.
func (d *Device) emit(typ devabi.EventType, src uint32, arg, aux uint64, now time.Duration) uint64 {
	seq := d.nextSeq
	d.nextSeq++
	d.ring[seq%d.ringSize] = devabi.Event{
		Seq: seq, TimestampNS: uint64(now), Type: typ, SourceID: src, Arg: arg, Aux: aux,
	}
	switch typ {
	case devabi.EvTrigger:
		d.triggerEvents++
	case devabi.EvTimer, devabi.EvTimerStopped:
		d.timerEvents++
	}
	return seq
}

// wake makes every File with pending records (or every File, once dead)
// readable. Caller holds mu: the eventfd state changes with the cursor
// under one lock, so no wakeup is lost.
func (d *Device) wake() {
	for f := range d.files {
		f.syncReady()
	}
}

// start is TIMER_START after the EBADF/ENODEV checks. Caller holds mu.
func (d *Device) start(f *File, t devabi.Timer) syscall.Errno {
	if t.ID >= devabi.MaxTimers || t.Flags&^devabi.TimerFlagsAll != 0 ||
		t.PeriodNS < uint64(d.minPeriod) || t.PeriodNS > devabi.MaxPeriodNS ||
		t.Ticks != 0 || t.Active != 0 || t.Reserved != 0 {
		return syscall.EINVAL
	}
	tm := &d.timers[t.ID]
	if tm.active {
		if t.Flags&devabi.TimerReplace == 0 {
			return syscall.EBUSY
		}
		tm.cancel()
	}
	now := d.clock.Now()
	*tm = timer{
		active:  true,
		flags:   t.Flags,
		period:  time.Duration(t.PeriodNS),
		count:   t.Count,
		cookie:  t.Cookie,
		expires: now + time.Duration(t.PeriodNS),
		gen:     tm.gen + 1,
	}
	if t.Flags&devabi.TimerOwned != 0 {
		tm.owner = f
	}
	d.schedule(t.ID, now)
	return 0
}

// schedule arms the Clock for timer id's next expiry. Caller holds mu.
func (d *Device) schedule(id uint32, now time.Duration) {
	tm := &d.timers[id]
	gen := tm.gen
	tm.cancel = d.clock.AfterFunc(tm.expires-now, func() { d.fire(id, gen) })
}

// fire runs on the Clock's goroutine when timer id (generation gen) is
// due. Ticks missed since the expiry are folded into one record, like
// hrtimer_forward_now: aux = extra ticks, arg = the last tick's number.
func (d *Device) fire(id uint32, gen uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	tm := &d.timers[id]
	if !tm.active || tm.gen != gen || d.dead {
		return // stopped, restarted or unplugged since this call was armed
	}
	now := d.clock.Now()
	if now < tm.expires {
		d.schedule(id, now)
		return
	}
	n := uint64((now-tm.expires)/tm.period) + 1
	if tm.count != 0 && tm.ticks+n > tm.count {
		n = tm.count - tm.ticks
	}
	tm.ticks += n
	d.emit(devabi.EvTimer, id, tm.ticks, n-1, now)
	d.timerOverruns += n - 1
	if tm.count != 0 && tm.ticks >= tm.count {
		tm.active = false
		tm.gen++
		d.emit(devabi.EvTimerStopped, id, tm.ticks, devabi.StopReasonCount, now)
	} else {
		tm.expires += time.Duration(n) * tm.period
		d.schedule(id, now)
	}
	d.wake()
}

// stop ends running timer id and emits its TIMER_STOPPED record with
// reason. Caller holds mu and calls wake.
func (d *Device) stop(id uint32, reason uint64) {
	tm := &d.timers[id]
	tm.active = false
	tm.gen++
	tm.cancel()
	d.emit(devabi.EvTimerStopped, id, tm.ticks, reason, d.clock.Now())
}

// trigger is TRIGGER after the EBADF/ENODEV checks. Caller holds mu.
func (d *Device) trigger(tr devabi.Trigger) (uint64, syscall.Errno) {
	if tr.Count == 0 || tr.Count > d.maxBurst || tr.Flags != 0 || tr.FirstSeq != 0 {
		return 0, syscall.EINVAL
	}
	now := d.clock.Now()
	first := d.nextSeq
	for i := range uint64(tr.Count) {
		d.emit(devabi.EvTrigger, 0, tr.Payload, i, now)
	}
	d.wake()
	return first, 0
}

// stats fills GET_STATS. Caller holds mu.
func (d *Device) stats() devabi.Stats {
	gen := d.nextSeq - 1
	s := devabi.Stats{
		NextSeq:       d.nextSeq,
		OldestSeq:     d.oldest(),
		Generated:     gen,
		TimerEvents:   d.timerEvents,
		TriggerEvents: d.triggerEvents,
		TimerOverruns: d.timerOverruns,
		Readers:       uint32(len(d.files)),
	}
	if gen > d.ringSize {
		s.Overwritten = gen - d.ringSize
	}
	for i, tm := range d.timers {
		if tm.active {
			s.ActiveTimers |= 1 << i
		}
	}
	return s
}

// File is one open of an emulated device. Unlike the kernel client it is
// safe for concurrent use (every method takes the device mutex), though
// concurrent Reads on one File interleave records arbitrarily.
type File struct {
	d     *Device
	write bool
	efd   int // readiness eventfd, owned; closed by Close

	// guarded by d.mu
	cursor    uint64
	lostTotal uint64
	overflows uint64
	ready     bool // efd is signalled
	closed    bool
}

var _ device.File = (*File)(nil)

// syncReady signals or drains the eventfd so that it is readable exactly
// while Read would return something. Caller holds d.mu.
func (f *File) syncReady() {
	want := f.cursor < f.d.nextSeq || f.d.dead
	if want == f.ready {
		return
	}
	// Neither call can fail on a valid eventfd (a saturated counter is
	// already readable); the fd is owned by f and open while f is.
	if want {
		_ = sys.EventfdSignal(f.efd)
	} else {
		_, _ = sys.EventfdDrain(f.efd)
	}
	f.ready = want
}

func errno(op string, e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return os.NewSyscallError(op, e)
}

// FD returns the readiness eventfd: readable while Read has records (or,
// after Unplug, ENODEV) to return.
func (f *File) FD() int { return f.efd }

// Read copies whole records from the cursor into buf. A cursor overtaken
// by the ring first yields one OVERFLOW record {seq: cursor, aux: lost}.
func (f *File) Read(buf []byte) (int, error) {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.closed {
		return 0, errno("read", syscall.EBADF)
	}
	if len(buf) == 0 {
		return 0, nil
	}
	if len(buf) < devabi.EventSize {
		return 0, errno("read", syscall.EINVAL)
	}
	k := len(buf) / devabi.EventSize
	n := 0
	if oldest := d.oldest(); f.cursor < oldest {
		lost := oldest - f.cursor
		devabi.AppendEvent(buf[:0], devabi.Event{
			Seq: f.cursor, TimestampNS: uint64(d.clock.Now()), Type: devabi.EvOverflow, Aux: lost,
		})
		f.lostTotal += lost
		f.overflows++
		f.cursor = oldest
		n++
	}
	for ; n < k && f.cursor < d.nextSeq; n++ {
		off := n * devabi.EventSize
		devabi.AppendEvent(buf[off:off], d.ring[f.cursor%d.ringSize])
		f.cursor++
	}
	f.syncReady()
	if n == 0 {
		if d.dead {
			return 0, errno("read", syscall.ENODEV)
		}
		return 0, sys.ErrWouldBlock
	}
	return n * devabi.EventSize, nil
}

// Info returns the device's GET_INFO.
func (f *File) Info() (devabi.Info, error) {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.closed {
		return devabi.Info{}, errno("ioctl", syscall.EBADF)
	}
	return devabi.Info{
		ABIVersion:  devabi.ABIVersion,
		EventSize:   devabi.EventSize,
		RingSize:    uint32(d.ringSize),
		MaxTimers:   devabi.MaxTimers,
		MinPeriodNS: uint64(d.minPeriod),
		MaxPeriodNS: devabi.MaxPeriodNS,
		MaxBurst:    d.maxBurst,
		MaxWrite:    devabi.MaxWrite,
		InstanceID:  d.instanceID,
	}, nil
}

// Stats returns the device's GET_STATS.
func (f *File) Stats() (devabi.Stats, error) {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.closed {
		return devabi.Stats{}, errno("ioctl", syscall.EBADF)
	}
	return d.stats(), nil
}

// Reader returns this File's GET_READER.
func (f *File) Reader() (devabi.ReaderInfo, error) {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.closed {
		return devabi.ReaderInfo{}, errno("ioctl", syscall.EBADF)
	}
	return devabi.ReaderInfo{
		Cursor:    f.cursor,
		Pending:   d.nextSeq - f.cursor,
		LostTotal: f.lostTotal,
		Overflows: f.overflows,
	}, nil
}

// Seek moves the cursor: LIVE (next_seq), OLDEST (oldest_seq) or SEQ
// (1..next_seq; a seq already overwritten gives an OVERFLOW on the next
// Read). It works on read-only Files.
func (f *File) Seek(whence uint32, seq uint64) error {
	return f.SeekArgs(devabi.Seek{Whence: whence, Seq: seq})
}

// SeekArgs is Seek with the whole ioctl struct; reserved must be 0.
func (f *File) SeekArgs(s devabi.Seek) error {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.closed {
		return errno("ioctl", syscall.EBADF)
	}
	if s.Reserved != 0 {
		return errno("ioctl", syscall.EINVAL)
	}
	switch s.Whence {
	case devabi.SeekLive:
		f.cursor = d.nextSeq
	case devabi.SeekOldest:
		f.cursor = d.oldest()
	case devabi.SeekSeq:
		// Seq 0 was never generated: reporting it lost would be a lie.
		if s.Seq == 0 || s.Seq > d.nextSeq {
			return errno("ioctl", syscall.EINVAL)
		}
		f.cursor = s.Seq
	default:
		return errno("ioctl", syscall.EINVAL)
	}
	f.syncReady()
	return nil
}

// control checks what every control call needs: an open, writable File
// on a live device. Caller holds d.mu.
func (f *File) control() syscall.Errno {
	switch {
	case f.closed || !f.write:
		return syscall.EBADF
	case f.d.dead:
		return syscall.ENODEV
	}
	return 0
}

// Trigger emits count TRIGGER records (payload, aux = index in burst) with
// consecutive seqs and returns the first.
func (f *File) Trigger(payload uint64, count uint32) (uint64, error) {
	return f.TriggerArgs(devabi.Trigger{Payload: payload, Count: count})
}

// TriggerArgs is Trigger with the whole ioctl struct (flags and first_seq 0).
func (f *File) TriggerArgs(tr devabi.Trigger) (uint64, error) {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := f.control(); e != 0 {
		return 0, errno("ioctl", e)
	}
	first, e := d.trigger(tr)
	return first, errno("ioctl", e)
}

// TimerStart starts timer t.ID; EBUSY if it runs and t.Flags lacks
// REPLACE. A replaced timer restarts silently with ticks at 0.
func (f *File) TimerStart(t devabi.Timer) error {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := f.control(); e != 0 {
		return errno("ioctl", e)
	}
	return errno("ioctl", d.start(f, t))
}

// TimerStop stops timer id with a TIMER_STOPPED record (reason 0); ENOENT
// if it is idle.
func (f *File) TimerStop(id uint32) error {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := f.control(); e != 0 {
		return errno("ioctl", e)
	}
	return errno("ioctl", f.stopID(id))
}

// stopID is TIMER_STOP after the control checks. Caller holds d.mu.
func (f *File) stopID(id uint32) syscall.Errno {
	d := f.d
	if id >= devabi.MaxTimers {
		return syscall.EINVAL
	}
	if !d.timers[id].active {
		return syscall.ENOENT
	}
	d.stop(id, devabi.StopReasonStop)
	d.wake()
	return 0
}

// TimerGet returns timer id's settings and progress; an idle timer keeps
// its last settings and ticks with Active 0.
func (f *File) TimerGet(id uint32) (devabi.Timer, error) {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.closed {
		return devabi.Timer{}, errno("ioctl", syscall.EBADF)
	}
	if id >= devabi.MaxTimers {
		return devabi.Timer{}, errno("ioctl", syscall.EINVAL)
	}
	tm := d.timers[id]
	t := devabi.Timer{
		ID: id, Flags: tm.flags, PeriodNS: uint64(tm.period), Count: tm.count,
		Cookie: tm.cookie, Ticks: tm.ticks,
	}
	if tm.active {
		t.Active = 1
	}
	return t, nil
}

// ResetStats zeroes timer_events, trigger_events and timer_overruns; seqs,
// cursors and the derived counters are untouched.
func (f *File) ResetStats() error {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := f.control(); e != 0 {
		return errno("ioctl", e)
	}
	d.timerEvents, d.triggerEvents, d.timerOverruns = 0, 0, 0
	return nil
}

// WriteText runs one text control command (see ParseCommand) with the
// ioctls' validation and returns len(cmd).
func (f *File) WriteText(cmd []byte) (int, error) {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := f.control(); e != 0 {
		return 0, errno("write", e)
	}
	if len(cmd) == 0 {
		return 0, nil
	}
	c, ok := ParseCommand(cmd)
	if !ok || !d.textCtl {
		return 0, errno("write", syscall.EINVAL)
	}
	var e syscall.Errno
	switch c.Verb {
	case VerbTrigger:
		_, e = d.trigger(devabi.Trigger{Payload: c.Payload, Count: 1})
	case VerbStart:
		e = syscall.EINVAL
		if c.PeriodMS <= devabi.MaxPeriodNS/uint64(time.Millisecond) {
			e = d.start(f, devabi.Timer{ID: c.ID, PeriodNS: c.PeriodMS * uint64(time.Millisecond), Count: c.Count})
		}
	case VerbStop:
		e = f.stopID(c.ID)
	}
	if e != 0 {
		return 0, errno("write", e)
	}
	return len(cmd), nil
}

// Close releases the File: OWNED timers it started stop with reason 2,
// readers drops by one, the eventfd is closed. Later calls return nil.
func (f *File) Close() error {
	d := f.d
	d.mu.Lock()
	if f.closed {
		d.mu.Unlock()
		return nil
	}
	f.closed = true
	delete(d.files, f)
	stopped := false
	for i := range d.timers {
		if tm := &d.timers[i]; tm.active && tm.owner == f {
			d.stop(uint32(i), devabi.StopReasonClosed)
			stopped = true
		}
	}
	if stopped {
		d.wake()
	}
	d.mu.Unlock()
	return sys.Close(f.efd)
}
