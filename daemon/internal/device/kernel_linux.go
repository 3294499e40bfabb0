package device

import (
	"errors"
	"os"
	"syscall"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// Kernel returns a Device that opens the character device at path
// (normally /dev/mypoll). Nothing is opened until Open.
func Kernel(path string) Device { return kernelDevice{path: path} }

type kernelDevice struct{ path string }

// Open opens the device node O_RDONLY or O_RDWR, O_NONBLOCK|O_CLOEXEC,
// and checks with GET_INFO that it speaks devabi.ABIVersion: a module of
// another version (or a node that is not mypoll at all) gives an *ABIError
// naming what was found and what is needed, so a daemon fails clearly at
// start instead of at its first control call.
func (d kernelDevice) Open(write bool) (File, error) {
	fd, err := sys.OpenDevice(d.path, write)
	if err != nil {
		return nil, err
	}
	f := &kernelFile{fd: fd, nonblock: true}
	info, err := f.Info()
	switch {
	case errors.Is(err, syscall.ENOTTY):
		f.Close()
		return nil, &ABIError{Path: d.path, Want: devabi.ABIVersion, Err: err}
	case err != nil:
		f.Close()
		return nil, err
	case info.ABIVersion != devabi.ABIVersion:
		f.Close()
		return nil, &ABIError{Path: d.path, Found: info.ABIVersion, Want: devabi.ABIVersion}
	}
	return f, nil
}

// kernelFile is one open of the module's device; every method is one
// syscall on fd. Like the fd itself it is safe for concurrent use except
// with Close.
type kernelFile struct {
	fd       int  // -1 after Close
	nonblock bool // opened O_NONBLOCK here: reads may skip the scheduler
}

var errClosed = os.NewSyscallError("ioctl", syscall.EBADF)

func (f *kernelFile) FD() int { return f.fd }

func (f *kernelFile) Read(buf []byte) (int, error) {
	if f.fd < 0 {
		return 0, os.NewSyscallError("read", syscall.EBADF)
	}
	if f.nonblock {
		return sys.ReadNonblock(f.fd, buf)
	}
	return sys.Read(f.fd, buf)
}

func (f *kernelFile) Info() (devabi.Info, error) {
	if f.fd < 0 {
		return devabi.Info{}, errClosed
	}
	return sys.IoctlGetInfo(f.fd)
}

func (f *kernelFile) Stats() (devabi.Stats, error) {
	if f.fd < 0 {
		return devabi.Stats{}, errClosed
	}
	return sys.IoctlGetStats(f.fd)
}

func (f *kernelFile) Reader() (devabi.ReaderInfo, error) {
	if f.fd < 0 {
		return devabi.ReaderInfo{}, errClosed
	}
	return sys.IoctlGetReader(f.fd)
}

func (f *kernelFile) Seek(whence uint32, seq uint64) error {
	return f.SeekArgs(devabi.Seek{Whence: whence, Seq: seq})
}

func (f *kernelFile) SeekArgs(s devabi.Seek) error {
	if f.fd < 0 {
		return errClosed
	}
	return sys.IoctlSeek(f.fd, s)
}

func (f *kernelFile) Trigger(payload uint64, count uint32) (uint64, error) {
	return f.TriggerArgs(devabi.Trigger{Payload: payload, Count: count})
}

func (f *kernelFile) TriggerArgs(tr devabi.Trigger) (uint64, error) {
	if f.fd < 0 {
		return 0, errClosed
	}
	if err := sys.IoctlTrigger(f.fd, &tr); err != nil {
		return 0, err
	}
	return tr.FirstSeq, nil
}

func (f *kernelFile) TimerStart(t devabi.Timer) error {
	if f.fd < 0 {
		return errClosed
	}
	return sys.IoctlTimerStart(f.fd, t)
}

func (f *kernelFile) TimerStop(id uint32) error {
	if f.fd < 0 {
		return errClosed
	}
	return sys.IoctlTimerStop(f.fd, id)
}

func (f *kernelFile) TimerGet(id uint32) (devabi.Timer, error) {
	if f.fd < 0 {
		return devabi.Timer{}, errClosed
	}
	return sys.IoctlTimerGet(f.fd, id)
}

func (f *kernelFile) ResetStats() error {
	if f.fd < 0 {
		return errClosed
	}
	return sys.IoctlResetStats(f.fd)
}

func (f *kernelFile) WriteText(cmd []byte) (int, error) {
	if f.fd < 0 {
		return 0, os.NewSyscallError("write", syscall.EBADF)
	}
	return sys.Write(f.fd, cmd)
}

func (f *kernelFile) Close() error {
	if f.fd < 0 {
		return nil
	}
	fd := f.fd
	f.fd = -1
	return sys.Close(fd)
}
