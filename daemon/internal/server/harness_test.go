package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/server"
	"github.com/mypoll/mypoll/internal/linetest"
)

// waitTimeout bounds every wait for a line; generous for -race on a loaded
// machine, never reached when the daemon works.
const waitTimeout = 20 * time.Second

// daemon is a server running on its own goroutine with the emu device.
type daemon struct {
	t    testing.TB
	srv  *server.Server
	dev  *emu.Device
	path string
	done chan error
}

// startDaemon runs a server on a socket in a temp dir. opts adjust the config.
func startDaemon(t testing.TB, opts ...func(*server.Config)) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{t: t, dev: emu.New(emu.Config{}), path: filepath.Join(dir, "mypoll.sock")}
	cfg := server.Config{
		Socket:   d.path,
		Device:   d.dev,
		History:  server.DefaultHistory, // as mypolld's default
		StateDir: filepath.Join(dir, "state"),
		Log:      testLogger(t),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Device == nil {
		d.dev = nil
	} else if e, ok := cfg.Device.(*emu.Device); ok {
		d.dev = e
	}
	d.path = cfg.Socket
	return d.run(cfg)
}

func (d *daemon) run(cfg server.Config) *daemon {
	t := d.t
	t.Helper()
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New() = %v", err)
	}
	d.srv = srv
	d.done = make(chan error, 1)
	go func() { d.done <- srv.Run() }()
	t.Cleanup(func() { d.stop() })
	return d
}

// stop shuts the server down and waits for Run to return.
func (d *daemon) stop() {
	if d.done == nil {
		return
	}
	d.srv.Shutdown()
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Errorf("Run() = %v", err)
		}
	case <-time.After(waitTimeout):
		d.t.Errorf("server did not stop within %v", waitTimeout)
	}
	d.srv.Close()
	d.done = nil
}

func testLogger(t testing.TB) hclog.Logger {
	if os.Getenv("MYPOLL_TEST_LOG") == "" {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: "mypolld", Level: hclog.Trace, Output: os.Stderr})
}

func withDevice(dev device.Device) func(*server.Config) {
	return func(c *server.Config) { c.Device = dev }
}

// conn is the shared raw line client; evt a parsed EVT or LOST line.
type (
	conn = linetest.Conn
	evt  = linetest.Evt
)

// dial connects and reads the greeting.
func (d *daemon) dial(t testing.TB) *conn {
	t.Helper()
	return linetest.Dial(t, d.path, waitTimeout)
}

// dialSub connects and subscribes to set (clients start subscribed to
// nothing, PROTOCOL.md A.5).
func (d *daemon) dialSub(t testing.TB, set string) *conn {
	t.Helper()
	c := d.dial(t)
	if r := c.Do("subscribe " + set); r != "OK subscribe "+set {
		t.Fatalf("subscribe %s = %q", set, r)
	}
	return c
}

// dialRaw connects and reads nothing.
func (d *daemon) dialRaw(t testing.TB) *conn {
	t.Helper()
	return linetest.DialRaw(t, d.path, waitTimeout)
}

// fields splits a line on spaces.
func fields(s string) []string { return strings.Fields(s) }
