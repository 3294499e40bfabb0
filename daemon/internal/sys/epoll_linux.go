package sys

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Event masks for EpollAdd, EpollMod and EpollEvent.Events (epoll_ctl(2)).
// The loop registers level-triggered interest; EventErr and EventHup are
// always reported whether or not they are requested.
const (
	EventIn    uint32 = unix.EPOLLIN
	EventOut   uint32 = unix.EPOLLOUT
	EventErr   uint32 = unix.EPOLLERR
	EventHup   uint32 = unix.EPOLLHUP
	EventRdHup uint32 = unix.EPOLLRDHUP
	EventPri   uint32 = unix.EPOLLPRI
)

// maxWaitEvents caps one EpollWait batch. EpollWait converts from a scratch
// array of this size on its own stack, so a batch never allocates.
const maxWaitEvents = 256

// EpollEvent is one ready fd as epoll_wait(2) reports it: Events is the
// ready mask, Data the 64-bit epoll_data given to EpollAdd or EpollMod.
//
// It is not unix.EpollEvent, whose layout differs by arch (amd64
// {Events, Fd, Pad}, arm64 {Events, PadFd, Fd, Pad}); the conversion goes
// by field name, where Fd and Pad together are the kernel's epoll_data.
type EpollEvent struct {
	Events uint32
	Data   uint64
}

func toUnix(events uint32, data uint64) unix.EpollEvent {
	return unix.EpollEvent{Events: events, Fd: int32(uint32(data)), Pad: int32(uint32(data >> 32))}
}

func fromUnix(ev *unix.EpollEvent) EpollEvent {
	return EpollEvent{Events: ev.Events, Data: uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32}
}

// EpollCreate returns a new close-on-exec epoll fd. The caller owns it and
// closes it with Close.
func EpollCreate() (int, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return -1, wrap("epoll_create1", err)
	}
	return fd, nil
}

// EpollFile makes epfd non-blocking and hands it to the Go runtime's
// poller as an *os.File, which owns it from then on (close the file, not
// the fd). A goroutine can then park until epfd has ready events
// (RawConn.Read with an EpollWait of timeout 0) instead of blocking its
// thread in epoll_wait; see package loop for why that matters.
func EpollFile(epfd int) (*os.File, error) {
	if err := unix.SetNonblock(epfd, true); err != nil {
		return nil, wrap("fcntl(O_NONBLOCK)", err)
	}
	return os.NewFile(uintptr(epfd), "epoll"), nil
}

// EpollAdd registers fd with epoll instance epfd for events, tagged with
// data (which must not hold a Go pointer). The epoll instance does not own
// fd; remove it with EpollDel before closing it.
func EpollAdd(epfd, fd int, events uint32, data uint64) error {
	return epollCtl(epfd, unix.EPOLL_CTL_ADD, fd, events, data)
}

// EpollMod replaces the event mask and data of fd, already in epfd.
func EpollMod(epfd, fd int, events uint32, data uint64) error {
	return epollCtl(epfd, unix.EPOLL_CTL_MOD, fd, events, data)
}

// EpollDel removes fd from epfd. It fails with EBADF when fd was already
// closed (closing the last reference removes it from epoll by itself).
func EpollDel(epfd, fd int) error {
	return epollCtl(epfd, unix.EPOLL_CTL_DEL, fd, 0, 0)
}

func epollCtl(epfd, op, fd int, events uint32, data uint64) error {
	ev := toUnix(events, data)
	return retryErr("epoll_ctl", func() error { return unix.EpollCtl(epfd, op, fd, &ev) })
}

// EpollWait waits up to msec milliseconds (-1: forever, 0: poll) for events
// on epfd and stores at most min(len(evs), 256) of them in evs, returning
// their count. A wait blocks the calling goroutine's thread. A poll never
// blocks, so it is issued as a raw syscall, without telling the Go
// scheduler: a goroutine that wakes from the runtime poller and enters a
// scheduler-visible syscall first wakes the runtime's sysmon thread (a
// futex call and a context switch on the event path). An interrupted wait
// (EINTR) returns (0, nil): the caller recomputes its timeout and waits
// again. It does not allocate.
func EpollWait(epfd int, evs []EpollEvent, msec int) (int, error) {
	var raw [maxWaitEvents]unix.EpollEvent
	m := min(len(evs), maxWaitEvents)
	if m == 0 {
		return 0, nil
	}
	var r uintptr
	var errno unix.Errno
	if msec == 0 {
		r, _, errno = unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&raw[0])), uintptr(m), 0, 0, 0)
	} else {
		r, _, errno = unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&raw[0])), uintptr(m), uintptr(msec), 0, 0)
	}
	switch errno {
	case 0:
	case unix.EINTR:
		return 0, nil
	default:
		return 0, wrap("epoll_pwait", errno)
	}
	n := int(r)
	for i := range n {
		evs[i] = fromUnix(&raw[i])
	}
	return n, nil
}
