package sys_test

import (
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/sys"
)

func TestEventfd(t *testing.T) {
	fd, err := sys.Eventfd()
	if err != nil {
		t.Fatalf("Eventfd() = %v", err)
	}
	defer sys.Close(fd)
	if n, err := sys.EventfdDrain(fd); n != 0 || err != nil {
		t.Fatalf("EventfdDrain(empty) = %d, %v; want 0, nil", n, err)
	}
	for range 3 {
		if err := sys.EventfdSignal(fd); err != nil {
			t.Fatalf("EventfdSignal() = %v", err)
		}
	}
	if n, err := sys.EventfdDrain(fd); n != 3 || err != nil {
		t.Fatalf("EventfdDrain() = %d, %v; want 3, nil", n, err)
	}
	var b [8]byte
	if _, err := sys.Read(fd, b[:]); err != sys.ErrWouldBlock {
		t.Fatalf("Read(drained eventfd) error = %v, want ErrWouldBlock", err)
	}
}
