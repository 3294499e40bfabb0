package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestBrokerPassword: --password-file wins; without it the environment
// variable is used; the variable is removed once read either way.
func TestBrokerPassword(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("from-file\r\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file, env string
		setEnv          bool
		want            string
	}{
		{"none", "", "", false, ""},
		{"env", "", "from-env", true, "from-env"},
		{"file", file, "", false, "from-file"},
		{"file wins", file, "from-env", true, "from-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setEnv {
				t.Setenv(passwordEnv, tc.env)
			}
			got, err := brokerPassword(tc.file)
			if err != nil || got != tc.want {
				t.Errorf("brokerPassword(%q) = %q, %v, want %q", tc.file, got, err, tc.want)
			}
			if _, ok := os.LookupEnv(passwordEnv); ok {
				t.Errorf("%s is still in the environment", passwordEnv)
			}
		})
	}
	if _, err := brokerPassword(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("brokerPassword(a missing file) = nil error")
	}
}

// TestWarnPasswords: one warning for a password in a URL, one for a
// password over plain tcp:// or mqtt://, none otherwise.
func TestWarnPasswords(t *testing.T) {
	const inURL, plain = "password in a --broker URL", "password sent to a broker without TLS"
	for _, tc := range []struct {
		name     string
		brokers  []string
		password string
		want     []string
	}{
		{"no password", []string{"tcp://h:1883"}, "", nil},
		{"user only", []string{"tcp://u@h:1883"}, "", nil},
		{"URL, plain", []string{"tcp://u:p@h:1883", "mqtt://u:q@h2:1883"}, "", []string{inURL, plain}},
		{"URL, TLS", []string{"ssl://u:p@h:8883"}, "", []string{inURL}},
		{"URL, odd", []string{"tcp://u:p%zz@h:1883"}, "", []string{inURL, plain}},
		{"file, plain", []string{"tcp://h:1883"}, "pw", []string{plain}},
		{"file, TLS and unix", []string{"ssl://h:8883", "tls://h:8883", "mqtts://h:8883", "unix:///run/m.sock"}, "pw", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			warnPasswords(hclog.New(&hclog.LoggerOptions{Output: &out}), tc.brokers, tc.password)
			got := out.String()
			for _, w := range []string{inURL, plain} {
				if want := strings.Count(strings.Join(tc.want, "\n"), w); strings.Count(got, w) != want {
					t.Errorf("warnPasswords(%q, %q) logged %q, want %d of %q", tc.brokers, tc.password, got, want, w)
				}
			}
		})
	}
}

// TestRun_usageErrorRedacted: a bad --broker URL is named in the usage
// error without its password.
func TestRun_usageErrorRedacted(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"--broker", "ftp://u:s3cret@h", "--device-id", "d"}, &stderr, &stderr)
	if code != 2 || strings.Contains(stderr.String(), "s3cret") || !strings.Contains(stderr.String(), "ftp://u:xxxxx@h") {
		t.Errorf("run = %d, %q; want 2 and the URL redacted", code, stderr.String())
	}
}

// TestRun_subscribeUsage: a bad --subscribe set, or none, is a usage error
// at start; the manual documents the flag.
func TestRun_subscribeUsage(t *testing.T) {
	for set, want := range map[string]string{
		"timer:8": `invalid value "timer:8" for flag -subscribe: bad subscription filter`,
		"bogus":   `invalid value "bogus" for flag -subscribe`,
		"none":    "--subscribe none: the bridge would carry nothing",
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"--subscribe", set, "--device-id", "d", "--state-dir", t.TempDir()}, &stderr, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), want) {
			t.Errorf("run(--subscribe %s) = %d, %q; want 2 and %q", set, code, stderr.String(), want)
		}
	}
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &stdout, &stdout); code != 0 ||
		!strings.Contains(stdout.String(), "--subscribe SET") || !strings.Contains(stdout.String(), "timer:ID") {
		t.Errorf("--help = %d, does not document --subscribe:\n%s", code, stdout.String())
	}
}
