package device

import (
	"fmt"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
)

// File is one open of an event device with its own cursor (PROTOCOL.md
// B.1). Methods are not safe for concurrent use on one File unless the
// implementation documents otherwise; different Files may be used from
// different goroutines. Every method but Close returns EBADF after Close.
type File interface {
	// FD returns a pollable fd owned by the File: EPOLLIN while Read would
	// return records. After the device is gone and drained, Read returns
	// ENODEV and FD reports EPOLLHUP|EPOLLERR (module) or EPOLLIN (emu):
	// treat any of the three as "call Read". The daemon polls it
	// level-triggered and must not close it.
	FD() int
	// Read reads whole 48-byte records into buf and returns the byte count.
	// It never blocks: sys.ErrWouldBlock when nothing is pending. len(buf)
	// == 0 gives 0; 0 < len(buf) < 48 gives EINVAL and consumes nothing.
	Read(buf []byte) (int, error)
	// Info returns MYPOLL_IOC_GET_INFO.
	Info() (devabi.Info, error)
	// Stats returns MYPOLL_IOC_GET_STATS.
	Stats() (devabi.Stats, error)
	// Reader returns MYPOLL_IOC_GET_READER for this File.
	Reader() (devabi.ReaderInfo, error)
	// Seek moves the cursor (MYPOLL_IOC_SEEK with reserved 0).
	Seek(whence uint32, seq uint64) error
	// SeekArgs is Seek with every field of the ioctl struct given, for
	// validation tests (non-zero reserved must give EINVAL).
	SeekArgs(s devabi.Seek) error
	// Trigger emits count TRIGGER records with consecutive seqs carrying
	// payload and returns the first seq (MYPOLL_IOC_TRIGGER).
	Trigger(payload uint64, count uint32) (firstSeq uint64, err error)
	// TriggerArgs is Trigger with every field of the ioctl struct given
	// (flags and first_seq must be 0 on input).
	TriggerArgs(tr devabi.Trigger) (firstSeq uint64, err error)
	// TimerStart starts timer t.ID (MYPOLL_IOC_TIMER_START).
	TimerStart(t devabi.Timer) error
	// TimerStop stops timer id (MYPOLL_IOC_TIMER_STOP): ENOENT when idle.
	TimerStop(id uint32) error
	// TimerGet returns the state of timer id (MYPOLL_IOC_TIMER_GET).
	TimerGet(id uint32) (devabi.Timer, error)
	// ResetStats zeroes the per-source counters (MYPOLL_IOC_RESET_STATS).
	ResetStats() error
	// WriteText performs one text control write(2) ("trigger [payload]",
	// "start <id> <period_ms> [count]", "stop <id>") and returns len(cmd).
	WriteText(cmd []byte) (int, error)
	// Close releases the File and its fd. It may be called more than once;
	// later calls return nil.
	Close() error
}

// Device opens Files on one event device instance: the kernel module
// (Kernel) or an emulation (package emu).
type Device interface {
	// Open opens a new File, read-only or read-write, non-blocking and
	// close-on-exec, with its cursor live (at next_seq). A device of
	// another ABI version gives an *ABIError.
	Open(write bool) (File, error)
}

// ABIError is returned by Open when the device does not speak the ABI
// version this program was built for (devabi.ABIVersion): its GET_INFO
// gives ENOTTY (a module of another version answers only its own ioctl
// numbers; version 1 used magic 0xB8, version 2 uses 0xBC) or reports
// another abi_version.
type ABIError struct {
	Path  string // the device node
	Found uint32 // abi_version the device reported; 0 if GET_INFO failed
	Want  uint32 // devabi.ABIVersion
	Err   error  // the GET_INFO error (ENOTTY), or nil
}

func (e *ABIError) Error() string {
	if e.Found == 0 {
		return fmt.Sprintf("%s does not answer GET_INFO of mypoll ABI %d (%v): "+
			"the loaded mypoll.ko speaks another ABI version (version 1 used ioctl magic 0xB8); "+
			"load the module built with this program", e.Path, e.Want, e.Err)
	}
	return fmt.Sprintf("%s speaks mypoll ABI %d, this program needs ABI %d: "+
		"load the module built with this program", e.Path, e.Found, e.Want)
}

func (e *ABIError) Unwrap() error { return e.Err }
