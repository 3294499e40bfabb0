// Package device is the daemon's view of an event device with the
// /dev/mypoll user ABI (PROTOCOL.md section B): File is one open with its own
// cursor and a pollable fd, Device opens Files. Kernel opens the real
// character device through internal/sys; the emu subpackage implements the
// same semantics in user space, and devicetest is the conformance suite both
// must pass.
//
// It must not know the socket protocol, clients, the event loop or policy:
// it moves records and control calls, nothing more. Errors are
// syscall.Errno values (wrapped with os.NewSyscallError), so callers branch
// with errors.Is(err, syscall.EINVAL) and friends; "no data" is the bare
// sys.ErrWouldBlock.
package device
