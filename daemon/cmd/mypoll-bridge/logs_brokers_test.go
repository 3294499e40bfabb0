//go:build brokers

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/internal/brokertest"
)

// startMosquittoAuth starts mosquitto that admits only user with password.
func startMosquittoAuth(t *testing.T, user, password string) *brokertest.Mosquitto {
	t.Helper()
	pwfile := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-b", "-c", pwfile, user, password).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	return brokertest.StartMosquitto(t, fmt.Sprintf("allow_anonymous false\npassword_file %s\n", pwfile))
}

func readLog(t *testing.T, p *brokertest.Proc) string {
	t.Helper()
	b, err := os.ReadFile(p.Log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBridge_PasswordNeverLogged: a password in a --broker URL works but
// appears in no log line, and the bridge warns once that ps shows it and
// once that it travels without TLS; a password from MYPOLL_BRIDGE_PASSWORD
// works too, and is not warned about as visible (issue 19, item 12).
func TestBridge_PasswordNeverLogged(t *testing.T) {
	const user, password = "board", "s3cret-Pa55"
	m := startMosquittoAuth(t, user, password)
	c := brokertest.NewConsumer(t, fmt.Sprintf("tcp://%s:%s@127.0.0.1:%d", user, password, m.Port))
	d := startDaemon(t)
	withPw := fmt.Sprintf("tcp://%s:%s@127.0.0.1:%d", user, password, m.Port)
	wrongPw := fmt.Sprintf("tcp://%s:wrong-%s@127.0.0.1:%d", user, password, m.Port)
	// The wrong password first: a failed connect logs the URL.
	b := startBridge(t, d, "dev-url", []string{wrongPw, withPw})
	c.WaitStatus("dev-url", `"online":true`)
	d.trigger(5)
	c.WaitCovered("dev-url", 1, 5)
	b.stop()
	log := readLog(t, b.p)
	if strings.Contains(log, password) {
		t.Errorf("the password is in the bridge's log:\n%s", log)
	}
	for _, want := range []string{
		fmt.Sprintf("tcp://%s:xxxxx@127.0.0.1:%d", user, m.Port),
		"broker unreachable, spooling",
		"password in a --broker URL: every local user can read it with ps",
		"password sent to a broker without TLS",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the bridge's log lacks %q:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "password sent to a broker without TLS"); n != 1 {
		t.Errorf("%d warnings about the plain password, want 1", n)
	}

	t.Setenv(passwordEnv, password)
	b = startBridge(t, d, "dev-env", []string{m.URL()}, "--username", user)
	c.WaitStatus("dev-env", `"online":true`)
	b.stop()
	log = readLog(t, b.p)
	if strings.Contains(log, "password in a --broker URL") || !strings.Contains(log, "password sent to a broker without TLS") {
		t.Errorf("with the password in the environment, want only the warning about plain tcp://:\n%s", log)
	}
}

// TestBridge_GarbageFloodLogged: 20,000 malformed remote requests cost a
// line or two in the bridge's log, not 20,000 (issue 19, item 13).
func TestBridge_GarbageFloodLogged(t *testing.T) {
	m := brokertest.StartMosquitto(t, "")
	c := brokertest.NewConsumer(t, m.URL())
	d := startDaemon(t)
	b := startBridge(t, d, "dev-flood", []string{m.URL()}, "--allow-commands", "echo")
	c.WaitStatus("dev-flood", `"online":true`)
	const n = 20000
	for i := range n {
		c.Client().Publish("mypoll/dev-flood/cmd", 0, false, fmt.Sprintf(`{"id":"g%d"`, i))
	}
	// A valid request after the flood: its reply means the bridge has
	// read what came before (it may drop requests while too many wait).
	deadline := time.Now().Add(waitTimeout)
	for c.Replies()["fence"] == "" {
		if time.Now().After(deadline) {
			t.Fatal("no reply to the request after the flood")
		}
		c.Client().Publish("mypoll/dev-flood/cmd", 1, false, `{"id":"fence","request":"echo done"}`).WaitTimeout(waitTimeout)
		time.Sleep(100 * time.Millisecond)
	}
	b.stop()
	log := readLog(t, b.p)
	if k := strings.Count(log, "remote request dropped"); k < 1 || k > 2 {
		t.Errorf("%d lines about %d dropped requests, want 1 or 2 (one per message)", k, n)
	}
}
