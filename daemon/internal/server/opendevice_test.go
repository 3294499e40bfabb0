package server_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/daemon/internal/server"
)

// recvLine reads one line with recvmsg and returns it with the fds that
// arrived in the same read (SCM_RIGHTS).
type fdReader struct {
	t    *testing.T
	c    *net.UnixConn
	buf  []byte
	fds  []int
	oob  []byte
	data []byte
}

func (r *fdReader) line() (string, []int) {
	r.t.Helper()
	for {
		if i := bytes.IndexByte(r.data, '\n'); i >= 0 {
			l := string(r.data[:i])
			r.data = r.data[i+1:]
			var fds []int
			if strings.HasPrefix(l, "OK open_device") {
				fds, r.fds = r.fds, nil
			}
			return l, fds
		}
		r.c.SetReadDeadline(time.Now().Add(waitTimeout))
		n, oobn, _, _, err := r.c.ReadMsgUnix(r.buf, r.oob)
		if err != nil {
			r.t.Fatalf("recvmsg: %v", err)
		}
		r.data = append(r.data, r.buf[:n]...)
		if oobn > 0 {
			msgs, err := syscall.ParseSocketControlMessage(r.oob[:oobn])
			if err != nil {
				r.t.Fatal(err)
			}
			for _, m := range msgs {
				fds, err := syscall.ParseUnixRights(&m)
				if err != nil {
					r.t.Fatal(err)
				}
				r.fds = append(r.fds, fds...)
			}
		}
	}
}

// TestServer_OpenDevice: the fd of the device node arrives with the
// "OK open_device" line, read-only, in order with pipelined replies and
// events (A.9).
func TestServer_OpenDevice(t *testing.T) {
	node := filepath.Join(t.TempDir(), "node")
	os.WriteFile(node, []byte("device node stand-in"), 0o600)
	d := startDaemon(t, func(c *server.Config) { c.DevicePath = node })
	nc, err := net.Dial("unix", d.path)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := &fdReader{t: t, c: nc.(*net.UnixConn), buf: make([]byte, 4096), oob: make([]byte, 256)}
	r.line() // HELLO
	// Events before, between and after, and several requests in flight.
	nc.Write([]byte("trigger 1 200\necho a\nopen_device\ntrigger 2 200\necho b\nopen_device\necho c\n"))
	var replies []string
	var got [][]int
	for len(replies) < 7 {
		l, fds := r.line()
		if strings.HasPrefix(l, "EVT ") {
			if len(fds) > 0 {
				t.Fatalf("fd arrived with an event line")
			}
			continue
		}
		replies = append(replies, l)
		if l == "OK open_device" {
			got = append(got, fds)
		}
	}
	want := []string{"OK trigger 1 200", "OK echo a", "OK open_device", "OK trigger 201 200", "OK echo b", "OK open_device", "OK echo c"}
	if strings.Join(replies, "|") != strings.Join(want, "|") {
		t.Fatalf("replies = %q, want %q", replies, want)
	}
	var st syscall.Stat_t
	syscall.Stat(node, &st)
	for i, fds := range got {
		if len(fds) != 1 {
			t.Fatalf("open_device reply %d came with %d fds, want 1", i, len(fds))
		}
		f := os.NewFile(uintptr(fds[0]), "passed")
		var fst syscall.Stat_t
		syscall.Fstat(fds[0], &fst)
		if fst.Ino != st.Ino || fst.Dev != st.Dev {
			t.Errorf("passed fd is not the device node")
		}
		if _, err := f.Write([]byte("x")); err == nil {
			t.Errorf("passed fd is writable; want read-only")
		}
		f.Close()
	}
}

func TestServer_OpenDeviceEmu(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	if r := c.Do("open_device"); !strings.HasPrefix(r, "ERR open_device ENODEV ") {
		t.Errorf("open_device with emu = %q, want ENODEV", r)
	}
}

// TestClient_OpenDevice: the public client library returns the passed fd,
// and fails clearly when the daemon refuses.
func TestClient_OpenDevice(t *testing.T) {
	node := filepath.Join(t.TempDir(), "node")
	os.WriteFile(node, []byte("stand-in"), 0o600)
	d := startDaemon(t, func(c *server.Config) { c.DevicePath = node })
	c, err := client.Dial(t.Context(), d.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.Trigger(t.Context(), 1, 50); err != nil {
		t.Fatal(err)
	}
	f, err := c.OpenDevice(t.Context())
	if err != nil {
		t.Fatalf("OpenDevice() = %v", err)
	}
	b := make([]byte, 64)
	n, _ := f.Read(b)
	f.Close()
	if string(b[:n]) != "stand-in" {
		t.Errorf("read from the passed fd = %q, want the node's content", b[:n])
	}
	if got, err := c.Echo(t.Context(), "after"); err != nil || got != "after" {
		t.Errorf("echo after open_device = %q, %v", got, err)
	}

	e := startDaemon(t) // emu: no node to pass
	c2, err := client.Dial(t.Context(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	var perr *client.Error
	if _, err := c2.OpenDevice(t.Context()); !errors.As(err, &perr) || perr.Errno != "ENODEV" {
		t.Errorf("OpenDevice on emu = %v, want ENODEV", err)
	}
}
