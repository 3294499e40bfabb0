//go:build brokers

package main

// The broker tier (make test-bridge): real mypolld processes with the
// emulated device, real mypoll-bridge processes and real brokers from
// Debian's packages (mosquitto, nats-server), all on 127.0.0.1 ports picked
// at run time, never a mock broker. A paho consumer checks PROTOCOL.md
// C.3's coverage invariant per device and instance_id, deduplicating as a
// backend would.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mypoll/mypoll/client"
)

var binDir string // mypolld and mypoll-bridge, built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mypoll-bridge-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, c := range []string{"mypolld", "mypoll-bridge"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, c), "../"+c)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", c, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const waitTimeout = 60 * time.Second

// proc is a child process whose output goes to a log file in the test's
// directory, killed at cleanup.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), filepath.Base(name)+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: logf.Name()}
	go func() { p.err = cmd.Wait(); _ = logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("--- %s %q (tail):\n%s", filepath.Base(name), args, b)
		}
	})
	return p
}

// kill sends sig and waits for the exit.
func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	<-p.done
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitTCP(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on port %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mosquitto is one broker on a loopback port, with a persistence file so a
// graceful restart keeps the consumer's session and queued messages.
type mosquitto struct {
	t    *testing.T
	dir  string
	port int
	conf string
	p    *proc
}

func startMosquitto(t *testing.T, extra string) *mosquitto {
	t.Helper()
	m := &mosquitto{t: t, dir: t.TempDir(), port: freePort(t)}
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	// Run as ourselves: as root, mosquitto would switch to its own user and
	// could not write its persistence file in the test's directory.
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("user %s\nlistener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n"+
		"max_queued_messages 0\nmax_inflight_messages 0\nlog_dest stderr\n%s", u.Username, m.port, m.dir, extra)
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start()
	return m
}

func (m *mosquitto) start() {
	m.p = startProc(m.t, "mosquitto", "-c", m.conf)
	waitTCP(m.t, m.port)
}

func (m *mosquitto) url() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.port) }

// daemon is a mypolld with the emulated device.
type daemon struct {
	t     *testing.T
	sock  string
	state string
	p     *proc
}

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{t: t, sock: filepath.Join(dir, "mypoll.sock"), state: filepath.Join(dir, "state")}
	d.start()
	return d
}

func (d *daemon) start() {
	d.p = startProc(d.t, filepath.Join(binDir, "mypolld"), "--device", "emu", "--socket", d.sock, "--state-dir", d.state, "--log-level", "warn")
	deadline := time.Now().Add(waitTimeout)
	for {
		c, err := client.Dial(d.t.Context(), d.sock)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("mypolld does not answer: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// trigger generates n events in bursts and returns the last seq.
func (d *daemon) trigger(n int) uint64 { return d.triggerPaced(n, 100, time.Millisecond) }

// triggerPaced generates n events in bursts of burst, pausing between
// bursts (a flood the daemon keeps up with), and returns the last seq.
func (d *daemon) triggerPaced(n, burst int, pause time.Duration) uint64 {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.t.Context(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, d.sock)
	if err != nil {
		d.t.Fatal(err)
	}
	defer c.Close()
	var last uint64
	for n > 0 {
		k := min(n, burst)
		first, got, err := c.Trigger(ctx, uint64(n), uint32(k))
		if err != nil {
			d.t.Fatalf("trigger: %v", err)
		}
		last = first + uint64(got) - 1
		n -= k
		if pause > 0 {
			time.Sleep(pause)
		}
	}
	return last
}

// bridge is a mypoll-bridge process with its own state dir.
type bridge struct {
	t     *testing.T
	args  []string
	state string
	p     *proc
}

func startBridge(t *testing.T, d *daemon, device string, brokers []string, extra ...string) *bridge {
	t.Helper()
	b := &bridge{t: t, state: filepath.Join(t.TempDir(), "state")}
	b.args = []string{"--socket", d.sock, "--device-id", device, "--state-dir", b.state,
		"--keepalive", "2s", "--log-level", "debug"}
	for _, u := range brokers {
		b.args = append(b.args, "--broker", u)
	}
	b.args = append(b.args, extra...)
	b.start()
	return b
}

func (b *bridge) start() { b.p = startProc(b.t, filepath.Join(binDir, "mypoll-bridge"), b.args...) }

// stop sends SIGTERM and checks the exit status 0 (C.2).
func (b *bridge) stop() {
	b.t.Helper()
	b.p.kill(syscall.SIGTERM)
	if b.p.err != nil {
		b.t.Errorf("bridge after SIGTERM: %v, want exit 0", b.p.err)
	}
}

type lossMsg struct {
	First, Last, Count uint64
	Reason             string
}

// stream is what the consumer saw of one (device, instance_id).
type stream struct {
	events map[uint64]int // seq -> times received (a broker may redeliver)
	losses []lossMsg
}

// consumer is a paho subscriber with a persistent session, as a backend.
type consumer struct {
	t       *testing.T
	mu      sync.Mutex
	streams map[string]*stream // "device/instance_id"
	status  map[string]string  // device -> last retained status
	replies map[string]string  // id -> reply
	bad     []string
	cli     mqtt.Client
}

func newConsumer(t *testing.T, brokers ...string) *consumer {
	t.Helper()
	return newConsumerTLS(t, nil, brokers...)
}

func newConsumerTLS(t *testing.T, tlsCfg *tls.Config, brokers ...string) *consumer {
	t.Helper()
	c := &consumer{t: t, streams: map[string]*stream{}, status: map[string]string{}, replies: map[string]string{}}
	opts := mqtt.NewClientOptions().SetClientID(fmt.Sprintf("consumer-%d", time.Now().UnixNano())).
		SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).
		SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).SetOrderMatters(true)
	for _, b := range brokers {
		opts.AddBroker(b)
	}
	if tlsCfg != nil {
		opts.SetTLSConfig(tlsCfg)
	}
	topics := map[string]byte{"mypoll/+/evt/#": 1, "mypoll/+/lost": 1, "mypoll/+/status": 1, "mypoll/+/reply": 1}
	opts.SetOnConnectHandler(func(cl mqtt.Client) { cl.SubscribeMultiple(topics, c.handle) })
	c.cli = mqtt.NewClient(opts)
	if tok := c.cli.Connect(); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatalf("consumer connect: %v", tok.Error())
	}
	// The subscription is made in the connect handler; wait until it holds.
	deadline := time.Now().Add(waitTimeout)
	for {
		tok := c.cli.SubscribeMultiple(topics, c.handle)
		if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer subscribe: %v", tok.Error())
		}
	}
	t.Cleanup(func() { c.cli.Disconnect(100) })
	return c
}

func (c *consumer) handle(_ mqtt.Client, m mqtt.Message) {
	parts := strings.Split(m.Topic(), "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	bad := func(why string) { c.bad = append(c.bad, fmt.Sprintf("%s %s: %s", m.Topic(), m.Payload(), why)) }
	if len(parts) < 3 {
		bad("topic")
		return
	}
	device := parts[1]
	dec := json.NewDecoder(bytes.NewReader(m.Payload()))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		bad(err.Error())
		return
	}
	num := func(k string) uint64 {
		n, _ := obj[k].(json.Number)
		v, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil {
			bad("key " + k)
		}
		return v
	}
	str := func(k string) string { s, _ := obj[k].(string); return s }
	get := func() *stream {
		k := device + "/" + str("instance_id")
		s := c.streams[k]
		if s == nil {
			s = &stream{events: map[uint64]int{}}
			c.streams[k] = s
		}
		return s
	}
	switch parts[2] {
	case "evt":
		if len(parts) != 4 || parts[3] != str("type") {
			bad("type does not match topic")
		}
		get().events[num("seq")]++
	case "lost":
		l := lossMsg{First: num("first"), Last: num("last"), Count: num("count"), Reason: str("reason")}
		s := get()
		for _, o := range s.losses {
			if o == l {
				return // a redelivery
			}
		}
		s.losses = append(s.losses, l)
	case "status":
		c.status[device] = string(m.Payload())
	case "reply":
		c.replies[str("id")] = str("reply")
	}
}

// covered reports whether every seq of first..last of the device's
// instance is delivered or inside a loss message (C.3), and how many seqs
// were covered by losses only.
func (c *consumer) covered(device, inst string, first, last uint64) (ok bool, lost uint64, missing uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[device+"/"+inst]
	if s == nil {
		return false, 0, first
	}
	for seq := first; seq <= last; seq++ {
		if s.events[seq] > 0 {
			continue
		}
		inLoss := false
		for _, l := range s.losses {
			if seq >= l.First && seq <= l.Last {
				inLoss = true
				break
			}
		}
		if !inLoss {
			return false, lost, seq
		}
		lost++
	}
	return true, lost, 0
}

// instances returns the instance_ids seen for a device, in no order.
func (c *consumer) instances(device string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for k := range c.streams {
		if d, id, _ := strings.Cut(k, "/"); d == device {
			ids = append(ids, id)
		}
	}
	return ids
}

// waitCovered waits until first..last of the device's single instance is
// covered and returns the instance_id and how many seqs only losses cover.
func (c *consumer) waitCovered(device string, first, last uint64) (string, uint64) {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var miss uint64
		if ids := c.instances(device); len(ids) == 1 {
			ok, lost, m := c.covered(device, ids[0], first, last)
			if ok {
				return ids[0], lost
			}
			miss = m
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("device %s: seqs %d..%d not covered after %v (first missing %d; instances %v)",
				device, first, last, waitTimeout, miss, c.instances(device))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *consumer) losses(device, inst string) []lossMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.streams[device+"/"+inst]; s != nil {
		return append([]lossMsg(nil), s.losses...)
	}
	return nil
}

func (c *consumer) checkWellFormed() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bad {
		c.t.Errorf("malformed message: %s", b)
	}
}

func (c *consumer) waitStatus(device, substr string) string {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		c.mu.Lock()
		s := c.status[device]
		c.mu.Unlock()
		if strings.Contains(s, substr) {
			return s
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("device %s: status %q, want one with %q", device, s, substr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog waits until the process log contains s.
func waitLog(t *testing.T, path, s string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q after %v", path, s, waitTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
