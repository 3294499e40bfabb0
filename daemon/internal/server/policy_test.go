package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/server"
)

// TestMain lets the test binary act as a client process of another uid:
// with MYPOLL_TEST_CHILD_SOCK set it connects, sends one request, prints
// the reply and exits; MYPOLL_TEST_CHILD_MODE chooses another role
// (childConnectLoop, childHold).
func TestMain(m *testing.M) {
	if sock := os.Getenv("MYPOLL_TEST_CHILD_SOCK"); sock != "" {
		switch os.Getenv("MYPOLL_TEST_CHILD_MODE") {
		case "connect-loop":
			os.Exit(childConnectLoop(sock))
		case "hold":
			os.Exit(childHold(sock, os.Getenv("MYPOLL_TEST_CHILD_REQ")))
		}
		os.Exit(childRequest(sock, os.Getenv("MYPOLL_TEST_CHILD_REQ")))
	}
	os.Exit(m.Run())
}

func childRequest(sock, req string) int {
	nc, err := net.Dial("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	if _, err := r.ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(nc, "subscribe none\n%s\n", req)
	r.ReadString('\n')
	l, err := r.ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print(l)
	return 0
}

// asUser runs one request from a process with the given credentials.
func asUser(t *testing.T, bin, sock, req string, cred *syscall.Credential) string {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "MYPOLL_TEST_CHILD_SOCK="+sock, "MYPOLL_TEST_CHILD_REQ="+req)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child uid %d gid %d: %v", cred.Uid, cred.Gid, err)
	}
	return strings.TrimSpace(string(out))
}

// TestServer_ControlGroup checks A.7 with real peers of other uids: control
// requests need uid 0, the daemon's uid or membership (primary or
// supplementary) of --control-group; other requests are open to all.
func TestServer_ControlGroup(t *testing.T) {
	const group, gid, nobody = "mypoll-test", 4242, 65534
	bin, sock := otherUIDFixture(t)
	startDaemon(t, func(c *server.Config) {
		c.Socket = sock
		c.SocketMode = 0o666
		c.ControlGroup = group
		c.LookupGroup = func(name string) (uint32, error) {
			if name != group {
				return 0, fmt.Errorf("no group %q", name)
			}
			return gid, nil
		}
	})
	tests := []struct {
		name string
		cred syscall.Credential
		req  string
		want string // reply prefix
	}{
		{"stranger trigger", syscall.Credential{Uid: nobody, Gid: nobody}, "trigger", "ERR trigger EPERM "},
		{"stranger start_timer", syscall.Credential{Uid: nobody, Gid: nobody}, "start_timer 1 100", "ERR start_timer EPERM "},
		{"stranger stop_timer", syscall.Credential{Uid: nobody, Gid: nobody}, "stop_timer 1", "ERR stop_timer EPERM "},
		{"stranger open_device", syscall.Credential{Uid: nobody, Gid: nobody}, "open_device", "ERR open_device EPERM "},
		{"stranger echo", syscall.Credential{Uid: nobody, Gid: nobody}, "echo hi", "OK echo hi"},
		{"stranger stats", syscall.Credential{Uid: nobody, Gid: nobody}, "stats", "OK stats "},
		{"primary member", syscall.Credential{Uid: nobody, Gid: gid}, "trigger", "OK trigger "},
		{"supplementary member", syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{100, gid}}, "trigger", "OK trigger "},
		{"root", syscall.Credential{Uid: 0, Gid: 0}, "trigger", "OK trigger "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := asUser(t, bin, sock, tt.req, &tt.cred); !strings.HasPrefix(got, tt.want) {
				t.Errorf("%s from uid %d gid %d groups %v = %q, want %q...", tt.req, tt.cred.Uid, tt.cred.Gid, tt.cred.Groups, got, tt.want)
			}
		})
	}
}

// otherUIDFixture prepares clients of other uids: it needs root, and
// returns a copy of the test binary the unprivileged children can execute
// and a socket path in a world-accessible directory.
func otherUIDFixture(t *testing.T) (bin, sock string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test must run as root in CI (it switches uids)")
		}
		t.Skip("needs root to run clients as other uids")
	}
	dir, err := os.MkdirTemp("", "mypoll-policy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "child")
	copyFile(t, bin)
	return bin, filepath.Join(dir, "mypoll.sock")
}

func copyFile(t *testing.T, dst string) {
	t.Helper()
	src, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestServer_ReloadPolicy: Reload (SIGHUP) re-resolves the control group,
// so membership changes apply without a restart.
func TestServer_ReloadPolicy(t *testing.T) {
	bin, sock := otherUIDFixture(t)
	var gid atomic.Uint32
	gid.Store(4242)
	d := startDaemon(t, func(c *server.Config) {
		c.Socket = sock
		c.SocketMode = 0o666
		c.ControlGroup = "ops"
		c.LookupGroup = func(string) (uint32, error) { return gid.Load(), nil }
	})
	member := &syscall.Credential{Uid: 65534, Gid: 4343}
	if got := asUser(t, bin, sock, "trigger", member); !strings.HasPrefix(got, "ERR trigger EPERM ") {
		t.Fatalf("before reload: %q, want EPERM", got)
	}
	gid.Store(4343) // the group now has gid 4343
	d.srv.Reload()
	waitFor(t, func() bool {
		return strings.HasPrefix(asUser(t, bin, sock, "trigger", member), "OK trigger ")
	})
}
