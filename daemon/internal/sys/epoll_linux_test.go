package sys_test

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/sys"
)

func newEpoll(t *testing.T) int {
	t.Helper()
	epfd, err := sys.EpollCreate()
	if err != nil {
		t.Fatalf("EpollCreate() = %v", err)
	}
	t.Cleanup(func() { sys.Close(epfd) })
	return epfd
}

func TestEpoll_DataRoundTrip(t *testing.T) {
	checkFDs(t)
	epfd := newEpoll(t)
	a, b := socketpair(t)
	// All 64 bits of epoll_data must survive, high half included: the loop
	// keeps a generation there.
	const data = 0xfedcba98_76543210
	if err := sys.EpollAdd(epfd, a, sys.EventIn|sys.EventRdHup, data); err != nil {
		t.Fatalf("EpollAdd() = %v", err)
	}
	evs := make([]sys.EpollEvent, 8)
	if n, err := sys.EpollWait(epfd, evs, 0); n != 0 || err != nil {
		t.Fatalf("EpollWait(idle) = %d, %v; want 0, nil", n, err)
	}
	if _, err := sys.Write(b, []byte("x")); err != nil {
		t.Fatalf("Write() = %v", err)
	}
	n, err := sys.EpollWait(epfd, evs, 1000)
	if n != 1 || err != nil {
		t.Fatalf("EpollWait() = %d, %v; want 1, nil", n, err)
	}
	if got := evs[0]; got.Data != data || got.Events != sys.EventIn {
		t.Fatalf("EpollWait() event = {%#x, %#x}, want {%#x, %#x}", got.Events, got.Data, sys.EventIn, uint64(data))
	}

	// Modify: ask for writability too, with new data.
	if err := sys.EpollMod(epfd, a, sys.EventIn|sys.EventOut, 7); err != nil {
		t.Fatalf("EpollMod() = %v", err)
	}
	n, err = sys.EpollWait(epfd, evs, 1000)
	if n != 1 || err != nil || evs[0].Data != 7 || evs[0].Events != sys.EventIn|sys.EventOut {
		t.Fatalf("EpollWait(after mod) = %d, %v, %+v; want 1 event {In|Out, 7}", n, err, evs[0])
	}

	// Peer closes: hang-up of the read side is reported.
	sys.Close(b)
	n, err = sys.EpollWait(epfd, evs, 1000)
	if n != 1 || err != nil || evs[0].Events&sys.EventHup == 0 {
		t.Fatalf("EpollWait(after peer close) = %d, %v, %+v; want EventHup", n, err, evs[0])
	}

	if err := sys.EpollDel(epfd, a); err != nil {
		t.Fatalf("EpollDel() = %v", err)
	}
	if n, err := sys.EpollWait(epfd, evs, 0); n != 0 || err != nil {
		t.Fatalf("EpollWait(after del) = %d, %v; want 0, nil", n, err)
	}
}

func TestEpoll_Errors(t *testing.T) {
	checkFDs(t)
	epfd := newEpoll(t)
	a, _ := socketpair(t)
	if err := sys.EpollAdd(epfd, a, sys.EventIn, 1); err != nil {
		t.Fatalf("EpollAdd() = %v", err)
	}
	if err := sys.EpollAdd(epfd, a, sys.EventIn, 1); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("EpollAdd(twice) = %v, want EEXIST", err)
	}
	if err := sys.EpollDel(epfd, 1<<20); !errors.Is(err, syscall.EBADF) {
		t.Errorf("EpollDel(bad fd) = %v, want EBADF", err)
	}
	if err := sys.EpollMod(epfd, epfd, sys.EventIn, 1); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("EpollMod(epfd on itself) = %v, want EINVAL", err)
	}
	if n, err := sys.EpollWait(epfd, nil, 0); n != 0 || err != nil {
		t.Errorf("EpollWait(no room) = %d, %v; want 0, nil", n, err)
	}
}

func TestEpollWait_Batch(t *testing.T) {
	checkFDs(t)
	epfd := newEpoll(t)
	// 300 ready fds: one wait returns at most 256, the rest come next.
	const ready = 300
	for i := range ready / 2 {
		a, b := socketpair(t)
		for j, fd := range []int{a, b} {
			if err := sys.EpollAdd(epfd, fd, sys.EventOut, uint64(2*i+j)); err != nil {
				t.Fatalf("EpollAdd() = %v", err)
			}
		}
	}
	evs := make([]sys.EpollEvent, 512)
	n, err := sys.EpollWait(epfd, evs, 1000)
	if n != 256 || err != nil {
		t.Fatalf("EpollWait(512 slots, %d ready) = %d, %v; want 256, nil", ready, n, err)
	}
	n, err = sys.EpollWait(epfd, evs[:10], 1000)
	if n != 10 || err != nil {
		t.Fatalf("EpollWait(10 slots) = %d, %v; want 10, nil", n, err)
	}
}

func TestEpollWait_Allocs(t *testing.T) {
	epfd := newEpoll(t)
	a, _ := socketpair(t)
	if err := sys.EpollAdd(epfd, a, sys.EventOut, 1); err != nil {
		t.Fatalf("EpollAdd() = %v", err)
	}
	evs := make([]sys.EpollEvent, 256)
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := sys.EpollWait(epfd, evs, 0); n != 1 || err != nil {
			t.Fatalf("EpollWait() = %d, %v; want 1, nil", n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("EpollWait allocates %v times per call, want 0", allocs)
	}
}

func TestEpollWait_Poll(t *testing.T) {
	checkFDs(t)
	epfd := newEpoll(t)
	a, b := socketpair(t)
	if err := sys.EpollAdd(epfd, a, sys.EventIn, 7); err != nil {
		t.Fatalf("EpollAdd() = %v", err)
	}
	evs := make([]sys.EpollEvent, 4)
	if n, err := sys.EpollWait(epfd, evs, 0); n != 0 || err != nil {
		t.Fatalf("EpollWait(0) with nothing ready = %d, %v; want 0, nil at once", n, err)
	}
	if _, err := sys.Write(b, []byte("x")); err != nil {
		t.Fatal(err)
	}
	n, err := sys.EpollWait(epfd, evs, 0)
	if n != 1 || err != nil || evs[0].Data != 7 || evs[0].Events&sys.EventIn == 0 {
		t.Fatalf("EpollWait(0) = %d, %v, %+v; want one EventIn with data 7", n, err, evs[0])
	}
	if n, err := sys.EpollWait(-1, evs, 0); n != 0 || !errors.Is(err, syscall.EBADF) {
		t.Fatalf("EpollWait(-1, 0) = %d, %v; want EBADF", n, err)
	}
}

func TestEpollFile(t *testing.T) {
	checkFDs(t)
	epfd, err := sys.EpollCreate()
	if err != nil {
		t.Fatal(err)
	}
	f, err := sys.EpollFile(epfd)
	if err != nil {
		t.Fatalf("EpollFile() = %v", err)
	}
	// Deadlines work only on a file the runtime poller watches.
	if err := f.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		t.Fatalf("SetReadDeadline() = %v; want the epoll file in the runtime poller", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	tries := 0
	err = rc.Read(func(uintptr) bool { tries++; return false })
	if !errors.Is(err, os.ErrDeadlineExceeded) || tries == 0 {
		t.Fatalf("Read on an idle epoll file = %v after %d tries; want a deadline error", err, tries)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
}
