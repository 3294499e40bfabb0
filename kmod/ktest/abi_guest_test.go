//go:build mypoll_guest

package ktest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mirrors of kmod/include/uapi/linux/mypoll.h (must match mypoll.h; the
// sizes are checked in TestABISizes).
const (
	evTimer        = 1
	evTrigger      = 2
	evOverflow     = 3
	evTimerStopped = 4

	eventSize = 48
	maxTimers = 8

	seekLive   = 0
	seekOldest = 1
	seekSeq    = 2

	timerOwned   = 1 << 0
	timerReplace = 1 << 1

	reasonStop   = 0
	reasonCount  = 1
	reasonClosed = 2

	iocGetInfo    = 0x8048bc00
	iocGetStats   = 0x8060bc01
	iocGetReader  = 0x8040bc02
	iocSeek       = 0x4010bc03
	iocTimerStart = 0x4030bc10
	iocTimerStop  = 0x4004bc11
	iocTimerGet   = 0xc030bc12
	iocTrigger    = 0xc018bc13
	iocResetStats = 0x0000bc14

	maxPeriodNS = 3600 * 1000 * 1000 * 1000
)

type event struct {
	Seq, TS     uint64
	Type, Flags uint16
	Src         uint32
	Arg, Aux    uint64
	Reserved    uint64
}

type info struct {
	ABIVersion, EventSize, RingSize, MaxTimers uint32
	MinPeriodNS, MaxPeriodNS                   uint64
	MaxBurst, MaxWrite                         uint32
	InstanceID                                 uint64
	Reserved                                   [3]uint64
}

type stats struct {
	NextSeq, OldestSeq, Generated, TimerEvents, TriggerEvents, Overwritten, TimerOverruns uint64
	Readers, ActiveTimers                                                                 uint32
	Reserved                                                                              [4]uint64
}

type readerInfo struct {
	Cursor, Pending, LostTotal, Overflows uint64
	Reserved                              [4]uint64
}

type seekArg struct {
	Whence, Reserved uint32
	Seq              uint64
}

type timerArg struct {
	ID, Flags                      uint32
	PeriodNS, Count, Cookie, Ticks uint64
	Active, Reserved               uint32
}

type triggerArg struct {
	Payload      uint64
	Count, Flags uint32
	FirstSeq     uint64
}

func (e event) String() string {
	return fmt.Sprintf("{seq %d type %d src %d arg %d aux %d}", e.Seq, e.Type, e.Src, e.Arg, e.Aux)
}

func TestABISizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"event", unsafe.Sizeof(event{}), 48}, {"info", unsafe.Sizeof(info{}), 72},
		{"stats", unsafe.Sizeof(stats{}), 96}, {"reader_info", unsafe.Sizeof(readerInfo{}), 64},
		{"seek", unsafe.Sizeof(seekArg{}), 16}, {"timer", unsafe.Sizeof(timerArg{}), 48},
		{"trigger", unsafe.Sizeof(triggerArg{}), 24},
	} {
		if c.got != c.want {
			t.Errorf("sizeof(struct mypoll_%s) mirror = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// ioctl issues one ioctl with a raw pointer argument.
func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

// ioctlAddr issues one ioctl with an arbitrary (possibly bad) address.
func ioctlAddr(fd int, req, addr uintptr) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, addr)
	if e != 0 {
		return e
	}
	return nil
}

func decode(b []byte) []event {
	ne := binary.NativeEndian
	evs := make([]event, 0, len(b)/eventSize)
	for ; len(b) >= eventSize; b = b[eventSize:] {
		evs = append(evs, event{
			Seq: ne.Uint64(b[0:]), TS: ne.Uint64(b[8:]), Type: ne.Uint16(b[16:]), Flags: ne.Uint16(b[18:]),
			Src: ne.Uint32(b[20:]), Arg: ne.Uint64(b[24:]), Aux: ne.Uint64(b[32:]), Reserved: ne.Uint64(b[40:]),
		})
	}
	return evs
}

const devPath = "/dev/mypoll"

// dev is one open of /dev/mypoll; helpers fail the test on unexpected errors.
type dev struct {
	t  testing.TB
	fd int
}

func openDev(t testing.TB, flags int) *dev {
	t.Helper()
	fd, err := unix.Open(devPath, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", devPath, err)
	}
	d := &dev{t: t, fd: fd}
	t.Cleanup(d.close)
	return d
}

// rw opens the device read-write, non-blocking.
func rw(t testing.TB) *dev { return openDev(t, unix.O_RDWR|unix.O_NONBLOCK) }

func (d *dev) close() {
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
}

func (d *dev) info() info {
	d.t.Helper()
	var v info
	if err := ioctl(d.fd, iocGetInfo, unsafe.Pointer(&v)); err != nil {
		d.t.Fatalf("GET_INFO: %v", err)
	}
	return v
}

func (d *dev) stats() stats {
	d.t.Helper()
	var v stats
	if err := ioctl(d.fd, iocGetStats, unsafe.Pointer(&v)); err != nil {
		d.t.Fatalf("GET_STATS: %v", err)
	}
	return v
}

func (d *dev) reader() readerInfo {
	d.t.Helper()
	var v readerInfo
	if err := ioctl(d.fd, iocGetReader, unsafe.Pointer(&v)); err != nil {
		d.t.Fatalf("GET_READER: %v", err)
	}
	return v
}

func (d *dev) seekErr(whence uint32, seq uint64) error {
	s := seekArg{Whence: whence, Seq: seq}
	return ioctl(d.fd, iocSeek, unsafe.Pointer(&s))
}

func (d *dev) seek(whence uint32, seq uint64) {
	d.t.Helper()
	if err := d.seekErr(whence, seq); err != nil {
		d.t.Fatalf("SEEK(%d, %d): %v", whence, seq, err)
	}
}

func (d *dev) triggerErr(payload uint64, count uint32) (uint64, error) {
	a := triggerArg{Payload: payload, Count: count}
	err := ioctl(d.fd, iocTrigger, unsafe.Pointer(&a))
	return a.FirstSeq, err
}

func (d *dev) trigger(payload uint64, count uint32) uint64 {
	d.t.Helper()
	first, err := d.triggerErr(payload, count)
	if err != nil {
		d.t.Fatalf("TRIGGER(%d, %d): %v", payload, count, err)
	}
	return first
}

func (d *dev) timerStartErr(a timerArg) error { return ioctl(d.fd, iocTimerStart, unsafe.Pointer(&a)) }

func (d *dev) timerStart(id uint32, period time.Duration, count uint64, flags uint32) {
	d.t.Helper()
	if err := d.timerStartErr(timerArg{ID: id, PeriodNS: uint64(period), Count: count, Flags: flags}); err != nil {
		d.t.Fatalf("TIMER_START(%d, %v, %d): %v", id, period, count, err)
	}
}

func (d *dev) timerStopErr(id uint32) error { return ioctl(d.fd, iocTimerStop, unsafe.Pointer(&id)) }

func (d *dev) timerGet(id uint32) timerArg {
	d.t.Helper()
	a := timerArg{ID: id}
	if err := ioctl(d.fd, iocTimerGet, unsafe.Pointer(&a)); err != nil {
		d.t.Fatalf("TIMER_GET(%d): %v", id, err)
	}
	return a
}

// readSome does one read(2) of up to n records.
func (d *dev) readSome(n int) ([]event, error) {
	buf := make([]byte, n*eventSize)
	got, err := unix.Read(d.fd, buf)
	if err != nil {
		return nil, err
	}
	if got%eventSize != 0 {
		d.t.Errorf("read returned %d bytes, not whole records", got)
	}
	return decode(buf[:got]), nil
}

// drain reads a non-blocking fd until EAGAIN.
func (d *dev) drain() []event {
	d.t.Helper()
	var all []event
	for {
		evs, err := d.readSome(256)
		if errors.Is(err, unix.EAGAIN) {
			return all
		}
		if err != nil {
			d.t.Fatalf("read: %v", err)
		}
		all = append(all, evs...)
	}
}

// streamCheck follows one fd's stream: seqs strictly increasing, every hole
// covered exactly by an OVERFLOW record, reserved fields zero.
type streamCheck struct {
	next      uint64 // next expected seq, 0 before the first record
	lost      uint64
	overflows uint64
	records   uint64
}

func (s *streamCheck) add(evs []event) error {
	for _, e := range evs {
		if e.Reserved != 0 || e.Flags != 0 {
			return fmt.Errorf("record %v has flags %d reserved %d", e, e.Flags, e.Reserved)
		}
		if s.next != 0 && e.Seq != s.next {
			return fmt.Errorf("seq %d after %d records, want %d", e.Seq, s.records, s.next)
		}
		switch e.Type {
		case evOverflow:
			if e.Aux == 0 {
				return fmt.Errorf("OVERFLOW %v with count 0", e)
			}
			s.next = e.Seq + e.Aux
			s.lost += e.Aux
			s.overflows++
		case evTimer, evTrigger, evTimerStopped:
			s.next = e.Seq + 1
			s.records++
		default:
			return fmt.Errorf("record %v has unknown type", e)
		}
	}
	return nil
}

// Module handling. The guest image has mypoll.ko at modPath.
const modPath = "/lib/modules/mypoll.ko"

func moduleLoaded() bool {
	_, err := os.Stat("/sys/module/mypoll")
	return err == nil
}

func loadModule(params string) error {
	f, err := os.Open(modPath)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), params, 0); err != nil {
		return fmt.Errorf("finit_module(%q): %w", params, err)
	}
	return ensureNode()
}

func unloadModule() error {
	if err := unix.DeleteModule("mypoll", unix.O_NONBLOCK); err != nil {
		return fmt.Errorf("delete_module: %w", err)
	}
	return nil
}

// ensureNode creates /dev/mypoll from sysfs when devtmpfs did not.
func ensureNode() error {
	if _, err := os.Stat(devPath); err == nil {
		return nil
	}
	b, err := os.ReadFile("/sys/class/misc/mypoll/dev")
	if err != nil {
		return err
	}
	maj, min, _ := strings.Cut(strings.TrimSpace(string(b)), ":")
	ma, _ := strconv.Atoi(maj)
	mi, _ := strconv.Atoi(min)
	return unix.Mknod(devPath, unix.S_IFCHR|0o660, int(unix.Mkdev(uint32(ma), uint32(mi))))
}

// sysfsAttr reads one sysfs attribute of the device.
func sysfsAttr(t testing.TB, name string) uint64 {
	t.Helper()
	b, err := os.ReadFile("/sys/class/misc/mypoll/" + name)
	if err != nil {
		t.Fatalf("sysfs %s: %v", name, err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("sysfs %s = %q: %v", name, b, err)
	}
	return v
}

func ioctlPtrTimer(fd int, a *timerArg) error { return ioctl(fd, iocTimerStart, unsafe.Pointer(a)) }

func ioctlReader(fd int, ri *readerInfo) error { return ioctl(fd, iocGetReader, unsafe.Pointer(ri)) }

func unsafePtr[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }

// kernelAddr is an address outside user space: the arm64 kernel's linear
// map, or for a 32-bit (compat) task the page above TASK_SIZE_32.
var kernelAddr = func() uintptr {
	if unsafe.Sizeof(uintptr(0)) == 8 {
		v := uint64(0xffff800008000000)
		return uintptr(v)
	}
	return 0xfffff000
}()
