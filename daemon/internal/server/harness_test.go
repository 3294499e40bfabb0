package server_test

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/server"
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
		Socket:    d.path,
		SocketGID: -1,
		ListenFD:  -1,
		Device:    d.dev,
		StateDir:  filepath.Join(dir, "state"),
		Log:       testLogger(t),
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

// conn is a raw protocol client.
type conn struct {
	t     testing.TB
	c     net.Conn
	r     *bufio.Reader
	hello string
}

// dial connects and reads the greeting.
func (d *daemon) dial(t testing.TB) *conn {
	t.Helper()
	c := d.dialRaw(t)
	c.hello = c.line()
	if !strings.HasPrefix(c.hello, "HELLO ") {
		t.Fatalf("greeting = %q, want HELLO ...", c.hello)
	}
	return c
}

// dialSub connects and subscribes to set (clients start subscribed to
// nothing, PROTOCOL.md A.5).
func (d *daemon) dialSub(t testing.TB, set string) *conn {
	t.Helper()
	c := d.dial(t)
	if r := c.do("subscribe " + set); r != "OK subscribe "+set {
		t.Fatalf("subscribe %s = %q", set, r)
	}
	return c
}

func (d *daemon) dialRaw(t testing.TB) *conn {
	t.Helper()
	nc, err := net.Dial("unix", d.path)
	if err != nil {
		t.Fatalf("dial %s: %v", d.path, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &conn{t: t, c: nc, r: bufio.NewReaderSize(nc, 1<<16)}
}

func (c *conn) send(lines ...string) {
	c.t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	c.sendRaw(b.String())
}

func (c *conn) sendRaw(s string) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// line reads one line (without '\n').
func (c *conn) line() string {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(waitTimeout))
	s, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read line: %v (partial %q)", err, s)
	}
	return strings.TrimSuffix(s, "\n")
}

// reply reads lines until an OK or ERR line and returns it; EVT and LOST
// lines before it are returned in skipped.
func (c *conn) reply() (reply string, skipped []string) {
	c.t.Helper()
	for {
		l := c.line()
		if strings.HasPrefix(l, "OK ") || strings.HasPrefix(l, "ERR ") {
			return l, skipped
		}
		skipped = append(skipped, l)
	}
}

// do sends one request and returns its reply.
func (c *conn) do(req string) string {
	c.t.Helper()
	c.send(req)
	r, _ := c.reply()
	return r
}

// expectEOF checks that the server closed the connection.
func (c *conn) expectEOF() {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(waitTimeout))
	if s, err := c.r.ReadString('\n'); err == nil || s != "" {
		c.t.Fatalf("read after close = %q, %v; want EOF", s, err)
	}
}

// fields splits a line on spaces.
func fields(s string) []string { return strings.Fields(s) }
