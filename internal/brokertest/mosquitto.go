package brokertest

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"syscall"
	"testing"
)

// Mosquitto is one mosquitto broker on a loopback port, with a persistence
// file so that a graceful restart (Stop, then Start) keeps a consumer's
// persistent session and the messages queued for it.
type Mosquitto struct {
	Port int
	Proc *Proc // the running broker (the last one started)
	t    testing.TB
	conf string
}

// StartMosquitto starts mosquitto with extra appended to its
// configuration (e.g. TLS settings) and waits until it accepts.
func StartMosquitto(t testing.TB, extra string) *Mosquitto {
	t.Helper()
	dir := t.TempDir()
	m := &Mosquitto{t: t, Port: FreePort(t), conf: filepath.Join(dir, "mosquitto.conf")}
	// Run as ourselves: as root, mosquitto would switch to its own user and
	// could not write its persistence file in the test's directory.
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("user %s\nlistener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n"+
		"max_queued_messages 0\nmax_inflight_messages 0\nlog_dest stderr\n%s", u.Username, m.Port, dir, extra)
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Start()
	return m
}

// Start (re)starts the broker on its port and waits until it accepts.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.Proc = Start(m.t, "mosquitto", "-c", m.conf)
	WaitTCP(m.t, m.Port)
}

// Stop stops the broker gracefully (SIGTERM: it saves its sessions).
func (m *Mosquitto) Stop() { m.Proc.Kill(syscall.SIGTERM) }

// URL is the broker's plain MQTT URL.
func (m *Mosquitto) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.Port) }
