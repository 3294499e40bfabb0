// Package sys is mypoll's Linux boundary: the only package that imports
// golang.org/x/sys/unix or unsafe. It gives typed wrappers for the syscalls
// the daemon needs (fd I/O, eventfd, epoll, AF_UNIX sockets with credentials
// and SCM_RIGHTS, the /dev/mypoll ioctls).
//
// It must not know protocols, clients or policy. Every fd it creates is
// CLOEXEC and NONBLOCK. EINTR is retried here; EAGAIN is returned as the bare
// ErrWouldBlock (no allocation: it means "back to epoll", not failure); every
// other failure is wrapped once with os.NewSyscallError.
package sys
