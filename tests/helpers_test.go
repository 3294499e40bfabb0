package tests_test

import (
	"cmp"
	"context"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/internal/linetest"
	"github.com/mypoll/mypoll/qemu"
	"github.com/mypoll/mypoll/qemu/qemutest"
)

// sock is where mypolld listens in the guest: where the agent starts it, or
// where the image's init system does (make test-image SOCKET=...).
var sock = cmp.Or(os.Getenv("MYPOLL_GUEST_SOCKET"), client.DefaultSocket)

// defaultDaemonArgs are the agent's default mypolld flags when the module
// is loaded.
var defaultDaemonArgs = []string{"--device", "/dev/mypoll", "--socket", sock}

// guest is one booted VM with the module and the daemon.
type guest struct {
	vm     *qemu.VM
	cursor uint64 // kernel log position already checked
	wait   time.Duration
}

func boot(t *testing.T, smp int) *guest {
	t.Helper()
	cfg := qemutest.DefaultConfig(t)
	cfg.SMP = smp
	vm := qemutest.StartT(t, cfg)
	mult := cfg.TimeoutMult
	if mult <= 0 {
		mult = 1
	}
	g := &guest{vm: vm, wait: time.Duration(float64(30*time.Second) * mult)}
	if imageMode {
		g.imageReady(t)
	} else if st, err := vm.Daemon(t.Context(), "status"); err != nil || st.State != "running" {
		t.Fatalf("mypolld in the guest: %+v, %v", st, err)
	}
	return g
}

// checkKernel fails t on kernel complaints logged since the last check.
func (g *guest) checkKernel(t *testing.T) {
	t.Helper()
	text, next, err := g.vm.KernelLogSince(t.Context(), g.cursor)
	if err != nil {
		t.Fatalf("kernel log: %v", err)
	}
	g.cursor = next
	if err := qemu.CheckKernelLog(text); err != nil {
		t.Errorf("kernel log: %v", err)
	}
}

// probe runs mypollprobe in the guest and decodes its JSON output into v.
func (g *guest) probe(t *testing.T, v any, args ...string) {
	t.Helper()
	res, err := g.vm.Exec(t.Context(), append([]string{"/bin/mypollprobe"}, args...), nil)
	if err != nil {
		t.Fatalf("mypollprobe %v: %v", args, err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("mypollprobe %v: exit %d: %s", args, res.ExitCode, res.Stderr)
	}
	if err := json.Unmarshal(res.Stdout, v); err != nil {
		t.Fatalf("mypollprobe %v: %v in %q", args, err, res.Stdout)
	}
}

type devInfo struct {
	InstanceID string `json:"instance_id"`
	RingSize   uint64 `json:"ring_size"`
	NextSeq    uint64 `json:"next_seq"`
}

func (g *guest) info(t *testing.T) devInfo {
	t.Helper()
	var in devInfo
	g.probe(t, &in, "info")
	return in
}

// triggerDirect makes the device emit count triggers without the daemon.
func (g *guest) triggerDirect(t *testing.T, count int) uint64 {
	t.Helper()
	var out struct {
		FirstSeq uint64 `json:"first_seq"`
	}
	g.probe(t, &out, "trigger", "--count", strconv.Itoa(count), "--payload", "5")
	return out.FirstSeq
}

func (g *guest) daemon(t *testing.T, action string, args ...string) qemu.DaemonStatus {
	t.Helper()
	if imageMode {
		switch action {
		case "start":
			g.imageStartDaemon(t)
		case "restart":
			g.imageRestartDaemon(t, args)
		default:
			t.Fatalf("daemon %s: the image's init system owns mypolld (imageSkip this test)", action)
		}
		return qemu.DaemonStatus{State: "running"}
	}
	st, err := g.vm.Daemon(t.Context(), action, args...)
	if err != nil {
		t.Fatalf("daemon %s %v: %v", action, args, err)
	}
	return st
}

func (g *guest) signal(t *testing.T, sig string) {
	t.Helper()
	if _, err := g.vm.Signal(t.Context(), "mypolld", sig); err != nil {
		t.Fatalf("signal mypolld %s: %v", sig, err)
	}
}

// conn is a protocol client over the harness's proxied connection: exactly
// what a client on the board sees, minus descriptor passing. It is the
// shared line client (internal/linetest) with the greeting split into
// fields.
type conn struct {
	*linetest.Conn
	t     *testing.T
	nc    net.Conn
	hello []string
	wait  time.Duration
}

func (g *guest) dial(t *testing.T) *conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), g.wait)
	defer cancel()
	nc, err := g.vm.Dial(ctx, sock)
	if err != nil {
		t.Fatalf("dial %s in the guest: %v", sock, err)
	}
	c := &conn{Conn: linetest.New(t, nc, g.wait), t: t, nc: nc, wait: g.wait}
	h := c.Greet()
	c.hello = strings.Fields(h)
	if len(c.hello) != 5 || c.hello[0] != "HELLO" || c.hello[1] != "mypoll" || c.hello[2] != "1" {
		t.Fatalf("greeting = %q", h)
	}
	return c
}

// dialSub connects and subscribes to set: clients start subscribed to
// nothing (PROTOCOL.md A.5).
func (g *guest) dialSub(t *testing.T, set string) *conn {
	t.Helper()
	c := g.dial(t)
	if r := c.do("subscribe " + set); r != "OK subscribe "+set {
		t.Fatalf("subscribe %s -> %q", set, r)
	}
	return c
}

// evt is a parsed EVT or LOST line: linetest.Evt under the field names
// these tests (and any new ones) use.
type evt struct {
	lost               bool
	seq, src, arg, aux uint64
	typ                string
	first, last, count uint64
	reason             string
}

func fromLinetest(e linetest.Evt) evt {
	return evt{lost: e.Lost, seq: e.Seq, src: e.Src, arg: e.Arg, aux: e.Aux, typ: e.Type,
		first: e.First, last: e.Last, count: e.Count, reason: e.Reason}
}

func parse(t *testing.T, l string) evt { t.Helper(); return fromLinetest(linetest.ParseEvt(t, l)) }

// send, line, do, next, events and expect are linetest's Send, Line, Do,
// Next, Events and Expect under the names these tests use.
func (c *conn) send(lines ...string)  { c.t.Helper(); c.Send(lines...) }
func (c *conn) line() string          { c.t.Helper(); return c.Line() }
func (c *conn) do(req string) string  { c.t.Helper(); return c.Do(req) }
func (c *conn) next() evt             { c.t.Helper(); return fromLinetest(c.Next()) }
func (c *conn) expect(want ...string) { c.t.Helper(); c.Expect(want...) }

func (c *conn) events(n uint64) []evt {
	c.t.Helper()
	var out []evt
	for _, e := range c.Events(n) {
		out = append(out, fromLinetest(e))
	}
	return out
}

func seqs(from, to uint64) []string { return linetest.Seqs(from, to) }

func u64(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return v
}

// stat returns one key of a stats reply.
func (c *conn) stat(key string) string {
	c.t.Helper()
	r := c.do("stats")
	for _, f := range strings.Fields(r)[2:] {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v
		}
	}
	c.t.Fatalf("stats has no %s: %q", key, r)
	return ""
}
