package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMain lets the tests run this binary as the agent itself.
func TestMain(m *testing.M) {
	if os.Getenv("MYPOLL_AGENT_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runAgent(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MYPOLL_AGENT_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run agent: %v", err)
	}
	return string(out), code
}

func TestHelpDocumentsBothModes(t *testing.T) {
	out, code := runAgent(t, "--help")
	if code != 0 {
		t.Errorf("--help exit = %d, want 0", code)
	}
	for _, want := range []string{"Init mode", "Service mode", "--service", "mypolltest.ko_params", "mypoll.test"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help output lacks %q:\n%s", want, out)
		}
	}
}

func TestServiceWithoutPortExitsQuietly(t *testing.T) {
	if _, err := findPort(wirePortName, 0); err == nil {
		t.Fatalf("this machine has a %s port; the test needs one without", wirePortName)
	}
	out, code := runAgent(t, "--service")
	if code != 0 || out != "" {
		t.Errorf("--service without a port = exit %d, output %q; want 0 and nothing", code, out)
	}
}

func TestTools(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runTool([]string{"cat"}, strings.NewReader("abc"), &out, &errb); code != 0 || out.String() != "abc" {
		t.Errorf("tool cat = %d, %q; want 0, abc", code, out.String())
	}
	errb.Reset()
	if code := runTool([]string{"exit", "5"}, nil, &out, &errb); code != 5 || errb.String() != "exit 5\n" {
		t.Errorf("tool exit 5 = %d, %q", code, errb.String())
	}
	for _, args := range [][]string{nil, {"nope"}, {"exit"}, {"sleep", "forever"}} {
		if code := runTool(args, nil, &out, &errb); code != 2 {
			t.Errorf("tool %q = %d, want usage error 2", args, code)
		}
	}
}

func TestParseCmdline(t *testing.T) {
	got := parseCmdline(`console=ttyAMA0 panic=-1 quiet mypolltest.ko_params=ring_order=6,test_hooks=1 mypolltest.daemon="--a b" x=`)
	want := map[string]string{
		"console": "ttyAMA0", "panic": "-1", "quiet": "",
		"mypolltest.ko_params": "ring_order=6,test_hooks=1", "mypolltest.daemon": "--a b", "x": "",
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("parseCmdline[%q] = %q (present %v), want %q", k, g, ok, v)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{"15": unix.SIGTERM, "TERM": unix.SIGTERM, "SIGKILL": unix.SIGKILL, "hup": unix.SIGHUP} {
		if got, err := parseSignal(in); err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "FOO", "99"} {
		if _, err := parseSignal(bad); err == nil {
			t.Errorf("parseSignal(%q) succeeded, want an error", bad)
		}
	}
}

func TestProcStat(t *testing.T) {
	state, ppid, ok := procStat(os.Getpid())
	if !ok || ppid != os.Getppid() || !strings.ContainsRune("RS", rune(state)) {
		t.Errorf("procStat(self) = %c, %d, %v; want R or S, %d", state, ppid, ok, os.Getppid())
	}
}

func TestDaemonArgs(t *testing.T) {
	tests := []struct {
		args []string
		sock string
		dev  bool
	}{
		{[]string{"--socket", "/x.sock"}, "/x.sock", false},
		{[]string{"--device=emu", "--socket=/y.sock"}, "/y.sock", true},
		{[]string{"--device", "none"}, "", true},
	}
	for _, tt := range tests {
		if got := socketArg(tt.args); got != tt.sock {
			t.Errorf("socketArg(%q) = %q, want %q", tt.args, got, tt.sock)
		}
		if got := hasDevice(tt.args); got != tt.dev {
			t.Errorf("hasDevice(%q) = %v, want %v", tt.args, got, tt.dev)
		}
	}
	if d := defaultArgs(); !slices.Equal(d[:1], []string{"--device"}) {
		t.Errorf("defaultArgs() = %q, want --device first", d)
	}
}

func TestUnescapeKmsg(t *testing.T) {
	if got := unescapeKmsg(`a\x0ab\x5c`); got != "a\nb\\" {
		t.Errorf("unescapeKmsg = %q", got)
	}
}

func TestDaemonDirs(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--socket", "/run/mypoll/mypoll.sock"}, []string{"/run/mypoll", "/run/mypoll"}},
		{[]string{"--socket=/tmp/x.sock", "--state-dir", "/var/lib/m"}, []string{"/tmp", "/var/lib/m"}},
		{[]string{"--socket", "/a/b.sock", "--state-dir="}, []string{"/a"}},
	} {
		if got := daemonDirs(tt.args); !slices.Equal(got, tt.want) {
			t.Errorf("daemonDirs(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestFileTool(t *testing.T) {
	f := filepath.Join(t.TempDir(), "node")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		var out, errb strings.Builder
		code := runTool(args, nil, &out, &errb)
		return out.String() + errb.String(), code
	}
	own := fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	for _, c := range [][]string{{"chmod", "0640", f}, {"chown", own, f}} {
		if out, code := run(c...); code != 0 {
			t.Fatalf("tool %v: %d %s", c, code, out)
		}
	}
	if out, _ := run("stat", f); out != fmt.Sprintf("file 0640 %d %d\n", os.Getuid(), os.Getgid()) {
		t.Errorf("tool stat = %q", out)
	}
	if _, code := run("chown", "x", f); code != 2 {
		t.Errorf("tool chown x: exit %d, want 2", code)
	}
	if _, code := run("chmod", "0600", f+".missing"); code != 1 {
		t.Errorf("tool chmod on a missing file: exit %d, want 1", code)
	}
}
