package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/server"
)

// TestListener_NeverWiderThanMode: with umask 000 and SocketMode 0600, a
// process of another uid connecting in a tight loop across many daemon
// starts never gets a connection, so never a HELLO (PROTOCOL.md A.1: the
// socket is never connectable with a wider mode, not even for an instant
// during start-up). Binding and then chmod-ing the path let such a
// process in about one start in five (issue 19, item 8).
func TestListener_NeverWiderThanMode(t *testing.T) {
	const starts = 400
	bin, sock := otherUIDFixture(t)
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	loop := startChild(t, bin, sock, "connect-loop", "", &syscall.Credential{Uid: 65534, Gid: 65534})
	if l := loop.line(); l != "ready" {
		t.Fatalf("child says %q, want ready", l)
	}
	for range starts {
		d := startDaemon(t, func(c *server.Config) {
			c.Socket = sock
			c.SocketMode = 0o600
			c.StateDir = ""
		})
		d.stop()
	}
	loop.stdin.Close()
	var attempts, connects, hellos int
	if _, err := fmt.Sscan(loop.line(), &attempts, &connects, &hellos); err != nil {
		t.Fatal(err)
	}
	loop.stdin = nil
	if err := loop.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("uid 65534: %d connect attempts during %d starts", attempts, starts)
	if connects != 0 {
		t.Errorf("uid 65534 connected %d times (%d got HELLO) to a 0600 socket of uid 0 in %d starts under umask 000", connects, hellos, starts)
	}
	if attempts < starts {
		t.Errorf("the child tried only %d times in %d starts; the test proves nothing", attempts, starts)
	}
}

// TestListener_SocketFile: the socket file has exactly the configured mode
// and group whatever the umask, and no temporary file is left beside it.
func TestListener_SocketFile(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	for _, mode := range []os.FileMode{0o600, 0o660, 0o666} {
		t.Run(mode.String(), func(t *testing.T) {
			d := startDaemon(t, func(c *server.Config) {
				c.SocketMode = mode
				c.StateDir = ""
				c.SocketGroup = "4242"
				c.LookupGroup = func(string) (uint32, error) { return 4242, nil }
			})
			fi, err := os.Lstat(d.path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != mode {
				t.Errorf("socket file mode %v, want a socket with %v", fi.Mode(), mode)
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && (!ok || st.Gid != 4242) {
				t.Errorf("socket file gid %v, want 4242", fi.Sys())
			}
			ents, err := os.ReadDir(filepath.Dir(d.path))
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != 1 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("socket directory holds %q, want only %s", names, filepath.Base(d.path))
			}
			d.dial(t) // and it serves
		})
	}
}
