package tests_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/qemu"
	"github.com/mypoll/mypoll/qemu/qemutest"
)

// sock is where mypolld listens in the guest: where the agent starts it, or
// where the image's init system does (make test-image SOCKET=...).
var sock = cmp.Or(os.Getenv("MYPOLL_GUEST_SOCKET"), "/run/mypoll/mypoll.sock")

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
// what a client on the board sees, minus descriptor passing.
type conn struct {
	t     *testing.T
	nc    net.Conn
	r     *bufio.Reader
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
	t.Cleanup(func() { nc.Close() })
	c := &conn{t: t, nc: nc, r: bufio.NewReaderSize(nc, 1<<16), wait: g.wait}
	h := c.line()
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

func (c *conn) send(lines ...string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(c.wait))
	if _, err := c.nc.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *conn) line() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(c.wait))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (partial %q)", err, l)
	}
	return strings.TrimSuffix(l, "\n")
}

// do sends a request and returns its reply, skipping EVT and LOST lines.
func (c *conn) do(req string) string {
	c.t.Helper()
	c.send(req)
	for {
		l := c.line()
		if strings.HasPrefix(l, "OK ") || strings.HasPrefix(l, "ERR ") {
			return l
		}
	}
}

// evt is a parsed EVT or LOST line.
type evt struct {
	lost               bool
	seq, src, arg, aux uint64
	typ                string
	first, last, count uint64
	reason             string
}

func parse(t *testing.T, l string) evt {
	t.Helper()
	f := strings.Fields(l)
	u := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("bad number in %q", l)
		}
		return v
	}
	switch {
	case len(f) == 7 && f[0] == "EVT":
		u(f[6])
		return evt{seq: u(f[1]), typ: f[2], src: u(f[3]), arg: u(f[4]), aux: u(f[5])}
	case len(f) == 5 && f[0] == "LOST":
		return evt{lost: true, first: u(f[1]), last: u(f[2]), count: u(f[3]), reason: f[4]}
	}
	t.Fatalf("not an EVT or LOST line: %q", l)
	return evt{}
}

// next reads the next EVT or LOST line.
func (c *conn) next() evt {
	c.t.Helper()
	return parse(c.t, c.line())
}

// events reads lines until n events are accounted for (delivered or in
// LOST counts).
func (c *conn) events(n uint64) []evt {
	c.t.Helper()
	var out []evt
	var got uint64
	for got < n {
		e := c.next()
		out = append(out, e)
		if e.lost {
			got += e.count
		} else {
			got++
		}
	}
	return out
}

// expect reads lines and compares them with want: seq numbers for events,
// full lines for LOST.
func (c *conn) expect(want ...string) {
	c.t.Helper()
	for _, w := range want {
		l := c.line()
		if strings.HasPrefix(w, "LOST ") {
			if l != w {
				c.t.Fatalf("got %q, want %q", l, w)
			}
			continue
		}
		if e := parse(c.t, l); e.lost || fmt.Sprint(e.seq) != w {
			c.t.Fatalf("got %q, want EVT seq %s", l, w)
		}
	}
}

func seqs(from, to uint64) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, fmt.Sprint(i))
	}
	return s
}

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
