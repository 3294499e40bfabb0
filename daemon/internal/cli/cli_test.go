package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/cli"
	"github.com/mypoll/mypoll/daemon/internal/version"
)

func TestCommand_Parse(t *testing.T) {
	for _, tt := range []struct {
		args       []string
		code       int
		ok         bool
		stdout     string // exact
		stderrHas  string
		wantSocket string
	}{
		{args: nil, ok: true, wantSocket: "/default"},
		{args: []string{"--socket", "/x", "--log-level", "debug", "--log-json"}, ok: true, wantSocket: "/x"},
		{args: []string{"--help"}, code: 0, stderrHas: "NAME\n    tool - a test"},
		{args: []string{"-h"}, code: 0, stderrHas: "NAME\n    tool - a test"},
		{args: []string{"--version"}, code: 0, stdout: "tool " + version.Version + "\n"},
		{args: []string{"--bogus"}, code: 2, stderrHas: "tool: flag provided but not defined: -bogus\nRun 'tool --help' for usage.\n"},
		{args: []string{"stray"}, code: 2, stderrHas: "tool: unexpected argument \"stray\"\nRun 'tool --help' for usage.\n"},
		{args: []string{"--log-level", "loud"}, code: 2, stderrHas: "tool: --log-level \"loud\": want trace, debug, info, warn or error\n"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			c := cli.New("tool", "NAME\n    tool - a test\n", &stdout, &stderr)
			socket := c.Flags.String("socket", "/default", "")
			code, ok := c.Parse(tt.args)
			if ok != tt.ok || (!ok && code != tt.code) {
				t.Fatalf("Parse(%q) = %d, %v, want %d, %v (stderr %q)", tt.args, code, ok, tt.code, tt.ok, stderr.String())
			}
			if stdout.String() != tt.stdout {
				t.Errorf("Parse(%q) stdout %q, want %q", tt.args, stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) || (tt.stderrHas == "" && stderr.Len() > 0) {
				t.Errorf("Parse(%q) stderr %q, want it to hold %q", tt.args, stderr.String(), tt.stderrHas)
			}
			if ok && *socket != tt.wantSocket {
				t.Errorf("Parse(%q): --socket %q, want %q", tt.args, *socket, tt.wantSocket)
			}
		})
	}
}

func TestCommand_UsageError(t *testing.T) {
	var stderr bytes.Buffer
	c := cli.New("tool", "", &stderr, &stderr)
	if code := c.UsageError("--qos %d: want 0 or 1", 2); code != cli.ExitUsage {
		t.Errorf("UsageError = %d, want %d", code, cli.ExitUsage)
	}
	if want := "tool: --qos 2: want 0 or 1\nRun 'tool --help' for usage.\n"; stderr.String() != want {
		t.Errorf("UsageError wrote %q, want %q", stderr.String(), want)
	}
}

func TestCommand_StartError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	c := cli.New("tool", "", &stdout, &stderr)
	if code := c.StartError(errors.New("event device /dev/x: no such file")); code != 1 {
		t.Errorf("StartError = %d, want 1", code)
	}
	if want := "tool: event device /dev/x: no such file\n"; stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("StartError wrote %q to stderr and %q to stdout, want %q on stderr only", stderr.String(), stdout.String(), want)
	}
}

// The logger follows --log-level and --log-json and is named for the
// command.
func TestCommand_Logger(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	t.Setenv("INVOCATION_ID", "")
	var stderr bytes.Buffer
	c := cli.New("tool", "", &stderr, &stderr)
	if _, ok := c.Parse([]string{"--log-level", "warn", "--log-json"}); !ok {
		t.Fatalf("Parse: %s", stderr.String())
	}
	log := c.Logger()
	log.Info("hidden")
	log.Warn("shown", "key", 1)
	var rec map[string]any
	if err := json.Unmarshal(stderr.Bytes(), &rec); err != nil {
		t.Fatalf("log output %q is not one JSON record: %v", stderr.String(), err)
	}
	if rec["@message"] != "shown" || rec["@module"] != "tool" || rec["@level"] != "warn" || rec["@timestamp"] == nil {
		t.Errorf("log record %v, want the warn record of module tool with a time stamp", rec)
	}

	// Under systemd the journal stamps lines: no time stamp of our own.
	t.Setenv("INVOCATION_ID", "1")
	stderr.Reset()
	c.Logger().Warn("shown")
	rec = nil
	if err := json.Unmarshal(stderr.Bytes(), &rec); err != nil || rec["@timestamp"] != nil {
		t.Errorf("under systemd: %q (%v), want a record without @timestamp", stderr.String(), err)
	}
}

// TestCommand_errorsRedactURLs: a password in a URL never reaches a usage
// or start error (issue 19, item 12: --broker tcp://user:pass@host).
func TestCommand_errorsRedactURLs(t *testing.T) {
	var stderr bytes.Buffer
	c := cli.New("tool", "", &stderr, &stderr)
	c.UsageError("--broker %q: scheme %q not supported", "ftp://u:s3cret@h", "ftp")
	c.StartError(errors.New("dial tcp://u:s3cret@h:1883: refused"))
	c.Flags.Int("qos", 1, "")
	c.Parse([]string{"--qos", "tcp://u:s3cret@h"})
	if strings.Contains(stderr.String(), "s3cret") || strings.Count(stderr.String(), "u:xxxxx@h") != 3 {
		t.Errorf("errors %q: want each URL with its password redacted", stderr.String())
	}
}
