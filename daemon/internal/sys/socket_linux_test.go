package sys_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// openFDs returns the fd numbers open in this process with their targets.
func openFDs(t *testing.T) map[int]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd: %v", err)
	}
	fds := make(map[int]string, len(ents))
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the directory fd ReadDir used, closed since
		}
		fds[fd] = target
	}
	return fds
}

// checkFDs fails the test if it leaves fds open that were not open when it
// started. Register it first, so that it runs after the other cleanups.
func checkFDs(t *testing.T) {
	t.Helper()
	before := openFDs(t)
	t.Cleanup(func() {
		for fd, target := range openFDs(t) {
			if _, ok := before[fd]; !ok {
				t.Errorf("fd %d (%s) leaked", fd, target)
			}
		}
	})
}

func socketpair(t testing.TB) (int, int) {
	t.Helper()
	a, b, err := sys.Socketpair()
	if err != nil {
		t.Fatalf("Socketpair() = %v", err)
	}
	t.Cleanup(func() {
		sys.Close(a)
		sys.Close(b)
	})
	return a, b
}

// checkFlags fails unless fd is close-on-exec and non-blocking.
func checkFlags(t *testing.T, name string, fd int) {
	t.Helper()
	fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("fcntl(%s, F_GETFD) = %v", name, err)
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatalf("fcntl(%s, F_GETFL) = %v", name, err)
	}
	if fdfl&unix.FD_CLOEXEC == 0 || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("%s: FD_CLOEXEC %v, O_NONBLOCK %v; want both", name, fdfl&unix.FD_CLOEXEC != 0, fl&unix.O_NONBLOCK != 0)
	}
}

func readAll(t *testing.T, fd, want int) []byte {
	t.Helper()
	buf := make([]byte, want+1)
	got := 0
	for got < want {
		n, err := sys.Read(fd, buf[got:])
		if err != nil || n == 0 {
			t.Fatalf("Read() after %d of %d bytes = %d, %v", got, want, n, err)
		}
		got += n
	}
	return buf[:got]
}

func listen(t *testing.T) (string, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s")
	lfd, err := sys.ListenUnix(path, 8)
	if err != nil {
		t.Fatalf("ListenUnix(%q) = %v", path, err)
	}
	t.Cleanup(func() { sys.Close(lfd) })
	return path, lfd
}

func TestListenUnix_AcceptPeerCred(t *testing.T) {
	checkFDs(t)
	path, lfd := listen(t)
	checkFlags(t, "listener", lfd)
	if !sys.IsListeningUnixSocket(lfd) {
		t.Errorf("IsListeningUnixSocket(listener) = false, want true")
	}
	if _, err := sys.Accept(lfd); err != sys.ErrWouldBlock {
		t.Fatalf("Accept(no pending) = %v, want ErrWouldBlock", err)
	}
	if _, err := sys.ListenUnix(path, 8); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("ListenUnix(path in use) = %v, want EADDRINUSE", err)
	}

	cfd, err := sys.ConnectUnix(path)
	if err != nil {
		t.Fatalf("ConnectUnix() = %v", err)
	}
	defer sys.Close(cfd)
	checkFlags(t, "connected", cfd)
	sfd, err := sys.Accept(lfd)
	if err != nil {
		t.Fatalf("Accept() = %v", err)
	}
	defer sys.Close(sfd)
	checkFlags(t, "accepted", sfd)
	if sys.IsListeningUnixSocket(sfd) {
		t.Errorf("IsListeningUnixSocket(accepted) = true, want false")
	}

	peer, err := sys.PeerCred(sfd)
	if err != nil {
		t.Fatalf("PeerCred() = %v", err)
	}
	groups, err := os.Getgroups()
	if err != nil {
		t.Fatalf("Getgroups() = %v", err)
	}
	var want []uint32
	for _, g := range groups {
		want = append(want, uint32(g))
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(peer.Groups))
	if peer.PID != int32(os.Getpid()) || peer.UID != uint32(os.Getuid()) || peer.GID != uint32(os.Getgid()) ||
		!slices.Equal(got, want) {
		t.Errorf("PeerCred() = %+v, want {PID:%d UID:%d GID:%d Groups:%v}", peer, os.Getpid(), os.Getuid(), os.Getgid(), want)
	}
}

func TestConnectUnix_Refused(t *testing.T) {
	checkFDs(t)
	path := filepath.Join(t.TempDir(), "nobody")
	if _, err := sys.ConnectUnix(path); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("ConnectUnix(missing) = %v, want ENOENT", err)
	}
	// A socket file whose listener is gone refuses.
	lfd, err := sys.ListenUnix(path, 1)
	if err != nil {
		t.Fatalf("ListenUnix() = %v", err)
	}
	sys.Close(lfd)
	if _, err := sys.ConnectUnix(path); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("ConnectUnix(stale socket) = %v, want ECONNREFUSED", err)
	}
}

func TestIsListeningUnixSocket(t *testing.T) {
	checkFDs(t)
	a, _ := socketpair(t)
	efd, err := sys.Eventfd()
	if err != nil {
		t.Fatalf("Eventfd() = %v", err)
	}
	defer sys.Close(efd)
	tcp, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket(AF_INET) = %v", err)
	}
	defer unix.Close(tcp)
	if err := unix.Bind(tcp, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind() = %v", err)
	}
	if err := unix.Listen(tcp, 1); err != nil {
		t.Fatalf("listen() = %v", err)
	}
	for _, tc := range []struct {
		name string
		fd   int
	}{{"socketpair", a}, {"eventfd", efd}, {"tcp listener", tcp}, {"bad fd", 1 << 20}} {
		if sys.IsListeningUnixSocket(tc.fd) {
			t.Errorf("IsListeningUnixSocket(%s) = true, want false", tc.name)
		}
	}
}

func TestSendv(t *testing.T) {
	checkFDs(t)
	a, b := socketpair(t)
	checkFlags(t, "socketpair", a)
	bufs := [][]byte{[]byte("hello "), nil, []byte("world"), {}, []byte("\n")}
	n, err := sys.Sendv(a, bufs)
	if n != 12 || err != nil {
		t.Fatalf("Sendv(%q) = %d, %v; want 12, nil", bufs, n, err)
	}
	if got := readAll(t, b, 12); string(got) != "hello world\n" {
		t.Errorf("read %q, want %q", got, "hello world\n")
	}
	if n, err := sys.Sendv(a, nil); n != 0 || err != nil {
		t.Errorf("Sendv(nil) = %d, %v; want 0, nil", n, err)
	}

	// More buffers than one call takes: a short write of the first 16.
	many := make([][]byte, 20)
	for i := range many {
		many[i] = []byte{byte('a' + i)}
	}
	if n, err := sys.Sendv(a, many); n != 16 || err != nil {
		t.Errorf("Sendv(20 buffers) = %d, %v; want 16, nil", n, err)
	}
	readAll(t, b, 16)

	// Fill the socket: the call then reports ErrWouldBlock, not an error.
	if err := sys.SetSendBuffer(a, 4096); err != nil {
		t.Fatalf("SetSendBuffer() = %v", err)
	}
	chunk := [][]byte{make([]byte, 65536)}
	total := 0
	for {
		n, err := sys.Sendv(a, chunk)
		if err == sys.ErrWouldBlock {
			break
		}
		if err != nil {
			t.Fatalf("Sendv(filling) after %d bytes = %v", total, err)
		}
		total += n
		if total > 64<<20 {
			t.Fatalf("Sendv never blocked after %d bytes", total)
		}
	}

	// Peer gone: EPIPE, not SIGPIPE, with one buffer (sendto) or more
	// (sendmsg).
	sys.Close(b)
	for _, bufs := range [][][]byte{bufs, {nil, []byte("x")}} {
		if _, err := sys.Sendv(a, bufs); !errors.Is(err, syscall.EPIPE) {
			t.Errorf("Sendv(%q, peer closed) = %v, want EPIPE", bufs, err)
		}
	}
}

// TestSendv_one: a single non-empty buffer among empty ones (sent with
// sendto) arrives whole. TestSendv fills the socket with one buffer.
func TestSendv_one(t *testing.T) {
	a, b := socketpair(t)
	bufs := [][]byte{{}, []byte("one line\n"), nil}
	if n, err := sys.Sendv(a, bufs); n != 9 || err != nil {
		t.Fatalf("Sendv(%q) = %d, %v; want 9, nil", bufs, n, err)
	}
	if got := readAll(t, b, 9); string(got) != "one line\n" {
		t.Errorf("read %q, want %q", got, "one line\n")
	}
}

// BenchmarkSendv: one 64-byte line into a socketpair (drained every 256
// lines), as one buffer (sendto) and split in two (sendmsg, as when the TX
// ring wraps).
func BenchmarkSendv(b *testing.B) {
	line := make([]byte, 64)
	buf := make([]byte, 64*256)
	for _, tc := range []struct {
		name string
		bufs [][]byte
	}{{"one", [][]byte{line}}, {"two", [][]byte{line[:32], line[32:]}}} {
		b.Run(tc.name, func(b *testing.B) {
			x, y := socketpair(b)
			for i := 0; b.Loop(); i++ {
				if _, err := sys.Sendv(x, tc.bufs); err != nil {
					b.Fatal(err)
				}
				if i%256 == 255 {
					for {
						if n, err := sys.Read(y, buf); n <= 0 || err != nil {
							break
						}
					}
				}
			}
		})
	}
}

func TestSendv_Allocs(t *testing.T) {
	a, b := socketpair(t)
	buf := make([]byte, 64)
	// Two buffers go out with sendmsg, one with sendto.
	for _, bufs := range [][][]byte{{[]byte("abc"), []byte("defg")}, {[]byte("abcdefg")}} {
		allocs := testing.AllocsPerRun(100, func() {
			if n, err := sys.Sendv(a, bufs); n != 7 || err != nil {
				t.Fatalf("Sendv() = %d, %v", n, err)
			}
			if n, err := sys.Read(b, buf); n != 7 || err != nil {
				t.Fatalf("Read() = %d, %v", n, err)
			}
		})
		if allocs != 0 {
			t.Errorf("Sendv(%d buffers)+Read allocate %v times, want 0", len(bufs), allocs)
		}
	}
}

func TestSendFD_RecvFD(t *testing.T) {
	checkFDs(t)
	a, b := socketpair(t)
	x, y := socketpair(t)

	if n, err := sys.SendFD(a, []byte("take"), x); n != 4 || err != nil {
		t.Fatalf("SendFD() = %d, %v; want 4, nil", n, err)
	}
	buf := make([]byte, 16)
	n, got, err := sys.RecvFD(b, buf)
	if n != 4 || err != nil || got < 0 || string(buf[:n]) != "take" {
		t.Fatalf("RecvFD() = %d, %d, %v; want 4, an fd, nil", n, got, err)
	}
	defer sys.Close(got)
	if got == x {
		t.Fatalf("RecvFD() returned fd %d, the sender's own number", got)
	}
	checkFlags(t, "received", got)
	// The received fd is the same socket as x: what y writes, got reads.
	if _, err := sys.Write(y, []byte("ping")); err != nil {
		t.Fatalf("Write() = %v", err)
	}
	if r := readAll(t, got, 4); string(r) != "ping" {
		t.Errorf("read %q through the passed fd, want %q", r, "ping")
	}

	// Plain bytes: no fd.
	if _, err := sys.Write(a, []byte("plain")); err != nil {
		t.Fatalf("Write() = %v", err)
	}
	if n, fd, err := sys.RecvFD(b, buf); n != 5 || fd != -1 || err != nil {
		t.Errorf("RecvFD(plain) = %d, %d, %v; want 5, -1, nil", n, fd, err)
	}
	if _, _, err := sys.RecvFD(b, buf); err != sys.ErrWouldBlock {
		t.Errorf("RecvFD(empty) error = %v, want ErrWouldBlock", err)
	}
	// An empty payload still carries the fd, with one zero byte.
	if n, err := sys.SendFD(a, nil, x); n != 0 || err != nil {
		t.Fatalf("SendFD(empty) = %d, %v; want 0, nil", n, err)
	}
	n, fd, err := sys.RecvFD(b, buf)
	if n != 1 || buf[0] != 0 || fd < 0 || err != nil {
		t.Fatalf("RecvFD(after empty SendFD) = %d, %d, %v; want 1 zero byte and an fd", n, fd, err)
	}
	sys.Close(fd)

	sys.Close(a)
	if n, fd, err := sys.RecvFD(b, buf); n != 0 || fd != -1 || err != nil {
		t.Errorf("RecvFD(eof) = %d, %d, %v; want 0, -1, nil", n, fd, err)
	}
}

// TestRecvFD_Rejects checks that RecvFD closes every fd of a message with
// more than one fd, whether they fit (ErrTooManyFDs) or not (MSG_CTRUNC):
// checkFDs fails the test on any fd left open.
func TestRecvFD_Rejects(t *testing.T) {
	for _, tc := range []struct {
		count int
		want  error
	}{{2, sys.ErrTooManyFDs}, {4, sys.ErrTooManyFDs}, {20, sys.ErrControlTrunc}} {
		t.Run(strconv.Itoa(tc.count), func(t *testing.T) {
			checkFDs(t)
			a, b := socketpair(t)
			x, _ := socketpair(t)
			fds := make([]int, tc.count)
			for i := range fds {
				fds[i] = x
			}
			if err := unix.Sendmsg(a, []byte("zz"), unix.UnixRights(fds...), nil, unix.MSG_NOSIGNAL); err != nil {
				t.Fatalf("sendmsg(%d fds) = %v", tc.count, err)
			}
			buf := make([]byte, 8)
			n, fd, err := sys.RecvFD(b, buf)
			if n != 2 || fd != -1 || !errors.Is(err, tc.want) {
				t.Errorf("RecvFD(%d fds) = %d, %d, %v; want 2, -1, %v", tc.count, n, fd, err, tc.want)
			}
		})
	}
}

// TestAccept_EMFILE exhausts the fd table under a lowered RLIMIT_NOFILE:
// accept4 must fail with EMFILE and leave the connection queued, so it
// succeeds once an fd is free.
func TestAccept_EMFILE(t *testing.T) {
	checkFDs(t)
	path, lfd := listen(t)
	cfd, err := sys.ConnectUnix(path)
	if err != nil {
		t.Fatalf("ConnectUnix() = %v", err)
	}
	defer sys.Close(cfd)

	cur, _, err := sys.NoFileLimit()
	if err != nil {
		t.Fatalf("NoFileLimit() = %v", err)
	}
	highest := 0
	for fd := range openFDs(t) {
		highest = max(highest, fd)
	}
	limit := uint64(highest + 8)
	if err := sys.SetNoFileLimit(limit); err != nil {
		t.Fatalf("SetNoFileLimit(%d) = %v", limit, err)
	}
	var fillers []int
	defer func() {
		for _, fd := range fillers {
			sys.Close(fd)
		}
	}()
	defer func() {
		if err := sys.SetNoFileLimit(cur); err != nil {
			t.Errorf("SetNoFileLimit(%d) = %v", cur, err)
		}
	}()
	if got, _, err := sys.NoFileLimit(); got != limit || err != nil {
		t.Fatalf("NoFileLimit() = %d, %v; want %d", got, err, limit)
	}
	for {
		fd, err := sys.Eventfd()
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			t.Fatalf("Eventfd() while filling = %v", err)
		}
		fillers = append(fillers, fd)
		if len(fillers) > int(limit) {
			t.Fatalf("opened %d fds under RLIMIT_NOFILE %d", len(fillers), limit)
		}
	}
	if _, err := sys.Accept(lfd); !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("Accept(fd table full) = %v, want EMFILE", err)
	}
	sys.Close(fillers[len(fillers)-1])
	fillers = fillers[:len(fillers)-1]
	sfd, err := sys.Accept(lfd)
	if err != nil {
		t.Fatalf("Accept(one fd free) = %v, want the queued connection", err)
	}
	sys.Close(sfd)
}

func TestRlimit(t *testing.T) {
	cur, max, err := sys.NoFileLimit()
	if err != nil || cur == 0 || cur > max {
		t.Fatalf("NoFileLimit() = %d, %d, %v", cur, max, err)
	}
	if err := sys.SetNoFileLimit(max + 1); !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.EPERM) {
		t.Errorf("SetNoFileLimit(above hard limit) = %v, want EINVAL or EPERM", err)
	}
	rss, err := sys.ProcessRSS()
	if err != nil || rss < 1<<20 || rss > 1<<34 {
		t.Errorf("ProcessRSS() = %d, %v; want a plausible size", rss, err)
	}
}

// listenFDsChildEnv makes the test binary act as the activated child of
// TestListenFDs.
const listenFDsChildEnv = "MYPOLL_TEST_LISTENFDS_CHILD"

// TestListenFDs starts this test binary as a socket-activated child, the
// way systemd does: a listening socket at fd 3 (ExtraFiles), LISTEN_FDS=1,
// and LISTEN_PID set by the child itself (systemd sets it between fork and
// exec, which os/exec cannot do).
func TestListenFDs(t *testing.T) {
	if os.Getenv(listenFDsChildEnv) != "" {
		return // the child's own run of this test
	}
	path, lfd := listen(t)
	dup, err := unix.FcntlInt(uintptr(lfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("dup() = %v", err)
	}
	f := os.NewFile(uintptr(dup), "listener")
	defer f.Close()

	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestListenFDsChild$", "-test.v")
	cmd.Env = append(os.Environ(), listenFDsChildEnv+"=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=ctl")
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("child: fds [3] listening true cloexec true nonblock true env cleared true")) {
		t.Fatalf("child output lacks the expected line:\n%s", out)
	}
	// The child's exit closed only its copy: our listener still takes
	// connections.
	cfd, err := sys.ConnectUnix(path)
	if err != nil {
		t.Fatalf("ConnectUnix() = %v", err)
	}
	sys.Close(cfd)
}

// TestListenFDsChild is the activated process of TestListenFDs; it does
// nothing in a normal run.
func TestListenFDsChild(t *testing.T) {
	if os.Getenv(listenFDsChildEnv) == "" {
		return
	}
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	fds, err := sys.ListenFDs(true)
	if err != nil {
		t.Fatalf("ListenFDs() = %v", err)
	}
	if len(fds) != 1 {
		t.Fatalf("ListenFDs() = %v, want [3]", fds)
	}
	fdfl, _ := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0)
	fl, _ := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFL, 0)
	cleared := os.Getenv("LISTEN_PID") == "" && os.Getenv("LISTEN_FDS") == "" && os.Getenv("LISTEN_FDNAMES") == ""
	fmt.Printf("child: fds %v listening %v cloexec %v nonblock %v env cleared %v\n", fds,
		sys.IsListeningUnixSocket(fds[0]), fdfl&unix.FD_CLOEXEC != 0, fl&unix.O_NONBLOCK != 0, cleared)
}

func TestListenFDs_NotActivated(t *testing.T) {
	for _, tc := range []struct {
		name, pid, fds string
		wantErr        bool
	}{
		{"unset", "", "", false},
		{"other pid", strconv.Itoa(os.Getpid() + 1), "1", false},
		{"zero fds", strconv.Itoa(os.Getpid()), "0", false},
		{"bad count", strconv.Itoa(os.Getpid()), "x", true},
		{"negative count", strconv.Itoa(os.Getpid()), "-1", true},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			t.Setenv("LISTEN_PID", tc.pid)
			t.Setenv("LISTEN_FDS", tc.fds)
			fds, err := sys.ListenFDs(false)
			if fds != nil || (err != nil) != tc.wantErr {
				t.Errorf("ListenFDs() = %v, %v; want nil, error %v", fds, err, tc.wantErr)
			}
			if os.Getenv("LISTEN_FDS") != tc.fds {
				t.Errorf("ListenFDs(false) changed LISTEN_FDS")
			}
		})
	}
}

func TestRecv(t *testing.T) {
	checkFDs(t)
	a, b := socketpair(t)
	buf := make([]byte, 16)
	if n, err := sys.Recv(a, buf); n != 0 || err != sys.ErrWouldBlock {
		t.Fatalf("Recv(empty) = %d, %v; want 0, ErrWouldBlock (bare)", n, err)
	}
	if _, err := sys.Write(b, []byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if n, err := sys.Recv(a, buf); n != 5 || err != nil || string(buf[:n]) != "ping\n" {
		t.Fatalf("Recv() = %d %q, %v; want 5 %q, nil", n, buf[:n], err, "ping\n")
	}
	sys.Close(b)
	if n, err := sys.Recv(a, buf); n != 0 || err != nil {
		t.Fatalf("Recv(peer closed) = %d, %v; want 0, nil (end of stream)", n, err)
	}
	if _, err := sys.Recv(1<<20, buf); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Recv(bad fd) = %v; want EBADF", err)
	}
}

func TestReadWriteNonblock(t *testing.T) {
	checkFDs(t)
	a, b := socketpair(t)
	if n, err := sys.WriteNonblock(a, []byte("abc")); n != 3 || err != nil {
		t.Fatalf("WriteNonblock() = %d, %v; want 3, nil", n, err)
	}
	buf := make([]byte, 8)
	if n, err := sys.ReadNonblock(b, buf); n != 3 || err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("ReadNonblock() = %d %q, %v; want 3 %q, nil", n, buf[:n], err, "abc")
	}
	if n, err := sys.ReadNonblock(b, buf); n != 0 || err != sys.ErrWouldBlock {
		t.Fatalf("ReadNonblock(empty) = %d, %v; want 0, ErrWouldBlock", n, err)
	}
	var pe *os.SyscallError
	if _, err := sys.ReadNonblock(1<<20, buf); !errors.As(err, &pe) || pe.Syscall != "read" || !errors.Is(err, syscall.EBADF) {
		t.Fatalf("ReadNonblock(bad fd) = %v; want an os.SyscallError naming read, EBADF", err)
	}
}

// TestSetSendBuffer: the bound reads back as set, and a peer that never
// reads holds at most that many bytes unread, however much is written.
func TestSetSendBuffer(t *testing.T) {
	checkFDs(t)
	a, b := socketpair(t)
	const n = 32768
	if err := sys.SetSendBuffer(a, n); err != nil {
		t.Fatalf("SetSendBuffer(%d) = %v", n, err)
	}
	if got, err := sys.SendBuffer(a); err != nil || got != n {
		t.Errorf("SendBuffer() = %d, %v, want %d", got, err, n)
	}
	if got, err := sys.Unread(b); err != nil || got != 0 {
		t.Errorf("Unread() of an empty socket = %d, %v, want 0", got, err)
	}
	line := bytes.Repeat([]byte("x"), 99)
	written := 0
	for {
		k, err := sys.Sendv(a, [][]byte{line})
		if errors.Is(err, sys.ErrWouldBlock) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		written += k
		if written > 1<<20 {
			t.Fatalf("wrote %d bytes without blocking", written)
		}
	}
	got, err := sys.Unread(b)
	if err != nil || got != written || got > n || got == 0 {
		t.Errorf("Unread() after %d bytes sent = %d, %v; want all of them, at most %d", written, got, err, n)
	}
}
