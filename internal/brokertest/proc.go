package brokertest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Timeout bounds every wait of this package: a broker that is not ready,
// a consumer that has not seen what it waits for.
const Timeout = 60 * time.Second

// Proc is a child process whose output goes to a log file in the test's
// directory. It is killed (SIGKILL) at the test's cleanup, and the tail of
// its log is printed when the test failed.
type Proc struct {
	Cmd  *exec.Cmd
	Log  string // the log file's path
	done chan struct{}
	err  error
}

// Start starts name with args; it fails t when the process cannot start.
func Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), filepath.Base(name)+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{}), Log: logf.Name()}
	go func() { p.err = cmd.Wait(); _ = logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill(syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(p.Log)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("--- %s %q (tail):\n%s", filepath.Base(name), args, b)
		}
	})
	return p
}

// Kill sends sig and waits for the exit; it returns at once when the
// process has already exited.
func (p *Proc) Kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(sig)
	<-p.done
}

// Err is the exit error (nil for status 0); valid once the process exited.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// WaitLog waits until the process's log contains s.
func (p *Proc) WaitLog(t testing.TB, s string) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		b, _ := os.ReadFile(p.Log)
		if strings.Contains(string(b), s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q after %v", p.Log, s, Timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitTCP waits until something accepts on 127.0.0.1:port.
func WaitTCP(t testing.TB, port int) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on port %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
