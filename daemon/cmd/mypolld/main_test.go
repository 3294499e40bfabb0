package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/cli"
	"github.com/mypoll/mypoll/daemon/internal/proto"
	"github.com/mypoll/mypoll/internal/linetest"
)

const waitTimeout = 20 * time.Second

// TestMain makes the test binary double as mypolld: with MYPOLLD_TEST_MAIN
// set it runs main's run() with the given arguments (after optional
// process set-up a service manager would do).
func TestMain(m *testing.M) {
	if os.Getenv("MYPOLLD_TEST_MAIN") != "" {
		if n := os.Getenv("MYPOLLD_TEST_NOFILE"); n != "" {
			lim, _ := strconv.ParseUint(n, 10, 64)
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: lim, Max: lim}); err != nil {
				fmt.Fprintln(os.Stderr, "setrlimit:", err)
				os.Exit(99)
			}
		}
		if os.Getenv("MYPOLLD_TEST_LISTEN_SELF") != "" {
			os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
		}
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// proc is a mypolld child process.
type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
	code   int
}

func startProc(t *testing.T, env []string, extra []*os.File, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "MYPOLLD_TEST_MAIN=1"), env...)
	cmd.ExtraFiles = extra
	p := &proc{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.Stdout = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("mypolld output:\n%s", p.stderr)
		}
	})
	return p
}

func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(waitTimeout):
		t.Fatalf("mypolld did not exit within %v", waitTimeout)
		return -1
	}
}

// runProc runs mypolld to completion and returns its exit code and output.
func runProc(t *testing.T, args ...string) (int, string) {
	t.Helper()
	p := startProc(t, nil, nil, args...)
	code := p.wait(t)
	return code, p.stderr.String()
}

// dial connects once the daemon listens, and reads the greeting.
func dial(t *testing.T, path string) *linetest.Conn {
	t.Helper()
	return linetest.Dial(t, path, waitTimeout)
}

func TestMypolld_Usage(t *testing.T) {
	code, out := runProc(t, "--help")
	for _, want := range []string{"SYNOPSIS", "--socket PATH", "--device DEV", "--control-group", "--max-clients-per-uid N", "--sndbuf-bytes N", "SIGTERM", "EXIT STATUS", "EXAMPLES"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if code != 0 {
		t.Errorf("--help exit code %d, want 0", code)
	}
	if code, out := runProc(t, "--version"); code != 0 || !strings.HasPrefix(out, "mypolld ") {
		t.Errorf("--version = %d %q", code, out)
	}
	for _, args := range [][]string{{"--bogus"}, {"--socket-mode", "999"}, {"--log-level", "loud"}, {"--txq-bytes", "100"}, {"stray"}} {
		if code, out := runProc(t, args...); code != 2 || !strings.Contains(out, "mypolld --help") {
			t.Errorf("mypolld %v = exit %d %q, want exit 2 with a usage hint", args, code, out)
		}
	}
}

// TestMypolld_BadValues: a value the server cannot use is a usage error
// naming the flag, found before anything is opened; 0 for a count is
// refused, not read as the server's "default".
func TestMypolld_BadValues(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--max-clients", "0"}, `invalid value "0" for flag -max-clients: want at least 1`},
		{[]string{"--max-clients-per-uid", "-1"}, `invalid value "-1" for flag -max-clients-per-uid: want a whole number, 0 for no limit`},
		{[]string{"--txq-bytes", "0"}, `invalid value "0" for flag -txq-bytes: want at least 1`},
		{[]string{"--txq-bytes", "100"}, "--txq-bytes 100: want at least 4096"},
		{[]string{"--sndbuf-bytes", "4096"}, "--sndbuf-bytes 4096: want at least 8192"},
		{[]string{"--history", "-1"}, "--history -1: want 0 or more"},
		{[]string{"--socket-mode", "01777"}, "--socket-mode 01777: want permission bits such as 0660"},
		{[]string{"--drain-timeout", "-1s"}, "--drain-timeout -1s: want 0 (the default) or more"},
		{[]string{"--evict-after", "-1s"}, "--evict-after -1s: want 0 (never) or more"},
		{[]string{"--busy-poll", "2ms"}, "--busy-poll 2ms: want 0 (never) to 1ms"},
		// Checked when the server starts, after the device is open.
		{[]string{"--device", "emu", "--socket-group", "mypoll-no-such-group"}, `--socket-group "mypoll-no-such-group": `},
	}
	for _, tc := range tests {
		code, out := runProc(t, append(tc.args, "--socket", sock, "--state-dir", "")...)
		if code != 2 || !strings.HasPrefix(out, "mypolld: "+tc.want) || !strings.Contains(out, "mypolld --help") {
			t.Errorf("mypolld %v = exit %d %q, want exit 2, %q and a usage hint", tc.args, code, out, tc.want)
		}
		if _, err := os.Lstat(sock); !os.IsNotExist(err) {
			t.Errorf("mypolld %v left %s behind: %v", tc.args, sock, err)
		}
	}
}

func TestMypolld_MissingDevice(t *testing.T) {
	dir := t.TempDir()
	code, out := runProc(t, "--device", filepath.Join(dir, "mypoll"), "--socket", filepath.Join(dir, "s"))
	if code != 1 || !strings.Contains(out, "--device emu") || !strings.Contains(out, "no such file") {
		t.Errorf("missing device: exit %d %q; want exit 1 naming --device emu", code, out)
	}
	if code, out := runProc(t, "--device", dir, "--socket", filepath.Join(dir, "s")); code != 1 || !strings.Contains(out, "not a character device") {
		t.Errorf("directory as device: exit %d %q", code, out)
	}
}

func TestMypolld_StaleAndLiveSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "mypoll.sock")
	os.MkdirAll(filepath.Dir(sock), 0o755)
	// A stale socket: bound, then its listener closed.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	p := startProc(t, nil, nil, "--device", "emu", "--socket", sock, "--state-dir", "")
	if h := dial(t, sock).Hello; !strings.HasPrefix(h, "HELLO mypoll 1 ") {
		t.Fatalf("greeting on replaced stale socket = %q", h)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v, %v; want 0660", fi.Mode().Perm(), err)
	}
	// A second daemon on the live socket refuses to start and leaves it alone.
	code, out := runProc(t, "--device", "emu", "--socket", sock, "--state-dir", "")
	if code != 1 || !strings.Contains(out, "another daemon is accepting") {
		t.Errorf("second daemon: exit %d %q; want exit 1, socket in use", code, out)
	}
	if h := dial(t, sock).Hello; !strings.HasPrefix(h, "HELLO") {
		t.Errorf("first daemon no longer serving after the second failed: %q", h)
	}
	// A regular file at the path is never removed.
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind after clean exit: %v", err)
	}
	os.WriteFile(sock, []byte("precious"), 0o644)
	if code, out := runProc(t, "--device", "emu", "--socket", sock); code != 1 || !strings.Contains(out, "not a socket") {
		t.Errorf("regular file at socket path: exit %d %q", code, out)
	}
	if b, _ := os.ReadFile(sock); string(b) != "precious" {
		t.Errorf("daemon touched a file it did not create")
	}
}

// TestMypolld_SIGTERMDrain: replies queued before SIGTERM are delivered in
// order, then the connection closes and the daemon exits 0.
func TestMypolld_SIGTERMDrain(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "mypoll.sock")
	p := startProc(t, nil, nil, "--device", "emu", "--socket", sock, "--state-dir", filepath.Join(dir, "state"))
	c := dial(t, sock)
	// Pipeline more than the TX queue and socket buffer hold, not reading.
	payload := strings.Repeat("x", 900)
	var b strings.Builder
	b.WriteString("subscribe none\n")
	const n = 600
	for i := range n {
		fmt.Fprintf(&b, "echo %d %s\n", i, payload)
	}
	go c.Net().Write([]byte(b.String()))
	time.Sleep(300 * time.Millisecond) // let the daemon fill its queue (no assertion depends on this)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if l := c.Line(); l != "OK subscribe none" {
		t.Fatalf("first reply %q", l)
	}
	got := 0
	for {
		l, err := c.ReadLine()
		if err != nil {
			break
		}
		if want := fmt.Sprintf("OK echo %d %s", got, payload); l != want {
			t.Fatalf("reply %d = %.30q, want %.30q", got, l, want)
		}
		got++
	}
	if got == 0 {
		t.Fatalf("no replies flushed at shutdown")
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0", code)
	}
	if st, err := os.ReadFile(filepath.Join(dir, "state", "mypolld.state")); err != nil || !strings.HasPrefix(string(st), "instance_id=") {
		t.Errorf("state not persisted at shutdown: %q, %v", st, err)
	}
	t.Logf("%d of %d replies flushed before exit", got, n)
}

// TestMypolld_NotifyAndActivation: socket activation uses the passed fd;
// READY=1 and STOPPING=1 reach NOTIFY_SOCKET.
func TestMypolld_NotifyAndActivation(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "activated.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	lf, _ := l.(*net.UnixListener).File()
	l.Close()
	notifyPath := filepath.Join(dir, "notify")
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	p := startProc(t, []string{"LISTEN_FDS=1", "MYPOLLD_TEST_LISTEN_SELF=1", "NOTIFY_SOCKET=" + notifyPath},
		[]*os.File{lf}, "--device", "emu", "--socket", filepath.Join(dir, "unused.sock"), "--state-dir", "")
	lf.Close()
	nl.SetDeadline(time.Now().Add(waitTimeout))
	buf := make([]byte, 256)
	n, err := nl.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("notify = %q, %v; want READY=1", buf[:n], err)
	}
	if h := dial(t, sock).Hello; !strings.HasPrefix(h, "HELLO") {
		t.Fatalf("greeting on activated socket = %q", h)
	}
	if _, err := os.Stat(filepath.Join(dir, "unused.sock")); !os.IsNotExist(err) {
		t.Errorf("daemon bound --socket despite activation")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	n, err = nl.Read(buf)
	if err != nil || string(buf[:n]) != "STOPPING=1" {
		t.Errorf("notify = %q, %v; want STOPPING=1", buf[:n], err)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// cpuTime is the process's user+system time.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// TestMypolld_FDExhaustion: past the fd limit, connections are refused
// with ERR - EMFILE instead of left pending, the daemon does not spin, and
// the clients already served keep working.
func TestMypolld_FDExhaustion(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "mypoll.sock")
	p := startProc(t, []string{"MYPOLLD_TEST_NOFILE=24"}, nil, "--device", "emu", "--socket", sock, "--state-dir", "")
	first := dial(t, sock)
	var served, refused int
	for range 40 {
		l, err := linetest.DialRaw(t, sock, waitTimeout).ReadLine()
		switch {
		case strings.HasPrefix(l, "HELLO "):
			served++
		case l == "ERR - EMFILE daemon is out of file descriptors":
			refused++
		default:
			t.Fatalf("client got %q, %v", l, err)
		}
	}
	if refused == 0 || served == 0 {
		t.Fatalf("served %d, refused %d: the fd limit was not reached", served, refused)
	}
	before := cpuTime(t, p.cmd.Process.Pid)
	time.Sleep(500 * time.Millisecond)
	if used := cpuTime(t, p.cmd.Process.Pid) - before; used > 100*time.Millisecond {
		t.Errorf("daemon used %v CPU in 500ms while idle at its fd limit: spinning", used)
	}
	first.Send("echo alive")
	for {
		l := first.Line()
		if l == "OK echo alive" {
			break
		}
		if !strings.HasPrefix(l, "EVT") {
			t.Fatalf("first client got %q", l)
		}
	}
	t.Logf("served %d, refused %d", served, refused)
}

// TestParseFlags_MaxClientsPerUID: the flag's default is the server's, and
// 0 on the command line means no limit, not the server's default.
func TestParseFlags_MaxClientsPerUID(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 256},
		{[]string{"--max-clients-per-uid", "3"}, 3},
		{[]string{"--max-clients-per-uid", "0"}, -1}, // server.NoLimit
	} {
		var out bytes.Buffer
		cmd := cli.New("mypolld", usage, &out, &out)
		o, _ := parseFlags(cmd, tc.args)
		if o == nil {
			t.Fatalf("parseFlags(%q): %s", tc.args, out.String())
		}
		cfg, _, err := o.config(cmd)
		if err != nil || cfg.MaxClientsPerUID != tc.want {
			t.Errorf("parseFlags(%q): MaxClientsPerUID %d (%v), want %d", tc.args, cfg.MaxClientsPerUID, err, tc.want)
		}
	}
}

// TestMypolld_StateDirFloodBounded: a state dir that becomes unwritable
// while events flow is reported once, not every 200 ms: the save backs off
// and repeated errors are counted, not repeated (issue 19, item 13; the
// daemon logged ERROR 5 times a second forever).
func TestMypolld_StateDirFloodBounded(t *testing.T) {
	dir := t.TempDir()
	sock, state := filepath.Join(dir, "mypoll.sock"), filepath.Join(dir, "state")
	p := startProc(t, nil, nil, "--device", "emu", "--socket", sock, "--state-dir", state)
	c := dial(t, sock)
	if r := c.Do("start_timer 0 10"); r != "OK start_timer 0" {
		t.Fatalf("start_timer = %q", r)
	}
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, nil, 0o644); err != nil { // now every save fails with ENOTDIR
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // 15 save ticks at 200 ms
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if n := strings.Count(p.stderr.String(), "persist resume state"); n < 1 || n > 2 {
		t.Errorf("%d lines about the failing state save in 3 s, want 1 or 2:\n%s", n, p.stderr)
	}
}

// TestUsage_verbsAndFilters: the manual names every verb of the protocol
// table and every kind of subscribe item.
func TestUsage_verbsAndFilters(t *testing.T) {
	for _, v := range proto.Verbs() {
		if !strings.Contains(usage, v.String()) {
			t.Errorf("the manual does not name the %s request", v)
		}
	}
	for _, item := range []string{"timer:ID", "trigger:PAYLOAD", "ERR subscribe EINVAL"} {
		if !strings.Contains(usage, item) {
			t.Errorf("the manual does not describe %q", item)
		}
	}
}
