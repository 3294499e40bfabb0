package sys

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
)

// OpenDevice opens the event device at path (normally /dev/mypoll),
// read-only or read-write, always O_NONBLOCK|O_CLOEXEC. The caller owns the
// returned fd and closes it with Close.
func OpenDevice(path string, write bool) (int, error) {
	flags := unix.O_RDONLY
	if write {
		flags = unix.O_RDWR
	}
	return openFile(path, flags|unix.O_NONBLOCK|unix.O_CLOEXEC)
}

// ioctl issues ioctl(fd, req, arg) where arg points at a struct of the
// size encoded in req (or is 0 for _IO requests). It retries EINTR.
func ioctl(fd int, req uint, arg unsafe.Pointer) error {
	return retryErr("ioctl", func() error {
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg)); e != 0 {
			return e
		}
		return nil
	})
}

// IoctlGetInfo performs MYPOLL_IOC_GET_INFO on fd.
func IoctlGetInfo(fd int) (devabi.Info, error) {
	var v devabi.Info
	err := ioctl(fd, devabi.IocGetInfo, unsafe.Pointer(&v))
	return v, err
}

// IoctlGetStats performs MYPOLL_IOC_GET_STATS on fd.
func IoctlGetStats(fd int) (devabi.Stats, error) {
	var v devabi.Stats
	err := ioctl(fd, devabi.IocGetStats, unsafe.Pointer(&v))
	return v, err
}

// IoctlGetReader performs MYPOLL_IOC_GET_READER on fd (this open file's cursor).
func IoctlGetReader(fd int) (devabi.ReaderInfo, error) {
	var v devabi.ReaderInfo
	err := ioctl(fd, devabi.IocGetReader, unsafe.Pointer(&v))
	return v, err
}

// IoctlSeek performs MYPOLL_IOC_SEEK on fd with s passed unchanged.
func IoctlSeek(fd int, s devabi.Seek) error {
	return ioctl(fd, devabi.IocSeek, unsafe.Pointer(&s))
}

// IoctlTimerStart performs MYPOLL_IOC_TIMER_START on fd with t passed unchanged.
func IoctlTimerStart(fd int, t devabi.Timer) error {
	return ioctl(fd, devabi.IocTimerStart, unsafe.Pointer(&t))
}

// IoctlTimerStop performs MYPOLL_IOC_TIMER_STOP (argument: a __u32 id) on fd.
func IoctlTimerStop(fd int, id uint32) error {
	return ioctl(fd, devabi.IocTimerStop, unsafe.Pointer(&id))
}

// IoctlTimerGet performs MYPOLL_IOC_TIMER_GET on fd for timer id.
func IoctlTimerGet(fd int, id uint32) (devabi.Timer, error) {
	v := devabi.Timer{ID: id}
	err := ioctl(fd, devabi.IocTimerGet, unsafe.Pointer(&v))
	return v, err
}

// IoctlTrigger performs MYPOLL_IOC_TRIGGER on fd. tr is passed in as given
// (first_seq must be 0) and on success holds the kernel's output, first_seq.
func IoctlTrigger(fd int, tr *devabi.Trigger) error {
	return ioctl(fd, devabi.IocTrigger, unsafe.Pointer(tr))
}

// IoctlResetStats performs MYPOLL_IOC_RESET_STATS on fd.
func IoctlResetStats(fd int) error {
	return ioctl(fd, devabi.IocResetStats, nil)
}

// PollIn reports whether a read of fd would not block within timeout:
// poll(2) reports POLLIN, or POLLHUP/POLLERR (a dead device: the read
// returns its error). A timeout of 0 only samples the current state. It blocks the calling goroutine (a
// plain poll(2), for tests and tools, not for the daemon's loop) and
// retries EINTR with the remaining time.
func PollIn(fd int, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := retry("poll", func() (int, error) {
		// After EINTR the wait resumes with what is left of timeout.
		ms := int(time.Until(deadline).Milliseconds())
		if ms < 0 || timeout == 0 {
			ms = 0
		}
		return unix.Poll(fds, ms)
	})
	if err != nil {
		return false, err
	}
	return n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) != 0, nil
}

// Monotonic returns CLOCK_MONOTONIC, the clock of the device's record
// timestamps (PROTOCOL.md B.2), as a duration since boot. It is the Go
// runtime's own clock (the vDSO's clock_gettime(CLOCK_MONOTONIC) on Linux),
// so it costs no syscall: the emulated device stamps every trigger with it.
func Monotonic() time.Duration { return time.Duration(nanotime()) }

// nanotime is CLOCK_MONOTONIC in nanoseconds; the runtime keeps this
// linkname working for the many packages that use it.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64
