package brokertest

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Event is an event message as the consumer received it (PROTOCOL.md C.2).
type Event struct {
	Type             string
	SourceID, Arg    uint64
	Aux, TimestampNS uint64
	Received         int // times received: a broker may redeliver (C.3)
}

// Loss is a loss message (PROTOCOL.md C.2).
type Loss struct {
	First, Last, Count uint64
	Reason             string
}

// stream is what the consumer saw of one (device, instance_id).
type stream struct {
	events map[uint64]*Event
	losses []Loss
}

// Consumer is a paho subscriber to mypoll/+/{evt/#,lost,status,reply}
// with a persistent session, as a backend would run. It checks each
// message's payload against C.2 (keys exactly those, values in range) and
// keeps, per device and instance_id, the events and loss messages seen.
type Consumer struct {
	t       testing.TB
	cli     mqtt.Client
	mu      sync.Mutex
	streams map[string]*stream // "device/instance_id"
	status  map[string]string  // device -> last retained status
	replies map[string]string  // request id -> reply
	bad     []string
	conns   []string  // connection history, for failure messages
	lastMsg time.Time // when the last message arrived
}

// MaxWait bounds a coverage wait that keeps making progress: a slow broker
// (a nats-server cluster that lost a node, on a loaded machine, takes
// seconds per batch of QoS 1 publishes) gets this long in all, as long as
// messages keep arriving; without any for Timeout, the wait fails.
const MaxWait = 5 * Timeout

// stalled reports whether a wait that started at start should give up:
// nothing arrived for Timeout (or since start), or MaxWait has passed.
func (c *Consumer) stalled(start time.Time) bool {
	c.mu.Lock()
	last := c.lastMsg
	c.mu.Unlock()
	now := time.Now()
	return now.Sub(start) > MaxWait || now.Sub(start) > Timeout && now.Sub(last) > Timeout
}

// NewConsumer connects a consumer to the brokers (tried in turn, with
// reconnects) and returns once its subscription holds.
func NewConsumer(t testing.TB, brokers ...string) *Consumer {
	t.Helper()
	return NewConsumerTLS(t, nil, brokers...)
}

// NewConsumerTLS is NewConsumer over TLS with tlsCfg.
func NewConsumerTLS(t testing.TB, tlsCfg *tls.Config, brokers ...string) *Consumer {
	t.Helper()
	c := &Consumer{t: t, streams: map[string]*stream{}, status: map[string]string{}, replies: map[string]string{}}
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
	note := func(s string) {
		c.mu.Lock()
		c.conns = append(c.conns, time.Now().Format("15:04:05.000")+" "+s)
		c.mu.Unlock()
	}
	opts.SetOnConnectHandler(func(cl mqtt.Client) {
		r := cl.OptionsReader()
		note(fmt.Sprintf("connected to %v", r.Servers()))
		cl.SubscribeMultiple(topics, c.handle)
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) { note(fmt.Sprintf("connection lost: %v", err)) })
	c.cli = mqtt.NewClient(opts)
	if tok := c.cli.Connect(); !tok.WaitTimeout(Timeout) || tok.Error() != nil {
		t.Fatalf("consumer connect: %v", tok.Error())
	}
	// The subscription is made in the connect handler; wait until it holds.
	deadline := time.Now().Add(Timeout)
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

// Client is the consumer's MQTT connection (to publish remote requests).
func (c *Consumer) Client() mqtt.Client { return c.cli }

var (
	eventKeys = []string{"aux", "arg", "instance_id", "seq", "source_id", "ts_ns", "type"}
	lossKeys  = []string{"count", "first", "instance_id", "last", "reason"}
	instRE    = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

func (c *Consumer) handle(_ mqtt.Client, m mqtt.Message) {
	parts := strings.Split(m.Topic(), "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastMsg = time.Now()
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
	keys := func(want []string) bool {
		got := slices.Sorted(maps.Keys(obj))
		if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			bad(fmt.Sprintf("keys %v, want %v", got, want))
			return false
		}
		if !instRE.MatchString(str("instance_id")) {
			bad("instance_id")
			return false
		}
		return true
	}
	get := func() *stream {
		k := device + "/" + str("instance_id")
		s := c.streams[k]
		if s == nil {
			s = &stream{events: map[uint64]*Event{}}
			c.streams[k] = s
		}
		return s
	}
	switch parts[2] {
	case "evt":
		if !keys(eventKeys) {
			return
		}
		if len(parts) != 4 || parts[3] != str("type") {
			bad("type does not match topic")
		}
		s := get()
		seq := num("seq")
		if e := s.events[seq]; e != nil {
			e.Received++
			return
		}
		s.events[seq] = &Event{Type: str("type"), SourceID: num("source_id"), Arg: num("arg"), Aux: num("aux"),
			TimestampNS: num("ts_ns"), Received: 1}
	case "lost":
		if !keys(lossKeys) {
			return
		}
		l := Loss{First: num("first"), Last: num("last"), Count: num("count"), Reason: str("reason")}
		switch {
		case l.First == 0 || l.Last < l.First || l.Count == 0 || l.Count > l.Last-l.First+1:
			bad("range or count")
		case l.Reason != "queue" && l.Reason != "device" && l.Reason != "restart" && l.Reason != "bridge":
			bad("reason")
		}
		s := get()
		if slices.Contains(s.losses, l) {
			return // a redelivery
		}
		s.losses = append(s.losses, l)
	case "status":
		c.status[device] = string(m.Payload())
	case "reply":
		c.replies[str("id")] = str("reply")
	}
}

// Covered reports whether every seq of first..last of the device's
// instance is delivered or inside a loss message (C.3), how many seqs only
// loss messages cover, and the first seq that is neither.
func (c *Consumer) Covered(device, inst string, first, last uint64) (ok bool, lost, missing uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[device+"/"+inst]
	if s == nil {
		return false, 0, first
	}
	for seq := first; seq <= last; seq++ {
		if s.events[seq] != nil {
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

// Instances returns the instance_ids seen for a device, sorted.
func (c *Consumer) Instances(device string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for k := range c.streams {
		if d, id, _ := strings.Cut(k, "/"); d == device {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// WaitCovered waits until first..last of the device's single instance is
// covered and returns the instance_id and how many seqs only losses cover.
// It fails the test when messages stop arriving (see MaxWait).
func (c *Consumer) WaitCovered(device string, first, last uint64) (string, uint64) {
	c.t.Helper()
	start := time.Now()
	for {
		var miss uint64
		if ids := c.Instances(device); len(ids) == 1 {
			ok, lost, m := c.Covered(device, ids[0], first, last)
			if ok {
				return ids[0], lost
			}
			miss = m
		}
		if c.stalled(start) {
			c.fail("device %s: seqs %d..%d not covered after %v (first missing %d; instances %v)",
				device, first, last, time.Since(start).Round(time.Millisecond), miss, c.Instances(device))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitCoveredInstance waits until first..last of the given instance is
// covered and returns how many seqs only losses cover. It fails the test
// when messages stop arriving (see MaxWait).
func (c *Consumer) WaitCoveredInstance(device, inst string, first, last uint64) uint64 {
	c.t.Helper()
	start := time.Now()
	for {
		ok, lost, miss := c.Covered(device, inst, first, last)
		if ok {
			return lost
		}
		if c.stalled(start) {
			c.fail("device %s instance %s: seqs %d..%d not covered after %v (first missing %d)",
				device, inst, first, last, time.Since(start).Round(time.Millisecond), miss)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Losses returns the loss messages of the device's instance, in arrival
// order, redeliveries left out.
func (c *Consumer) Losses(device, inst string) []Loss {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.streams[device+"/"+inst]; s != nil {
		return slices.Clone(s.losses)
	}
	return nil
}

// Event returns the event seq of the device's instance, if received.
func (c *Consumer) Event(device, inst string, seq uint64) (Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.streams[device+"/"+inst]; s != nil && s.events[seq] != nil {
		return *s.events[seq], true
	}
	return Event{}, false
}

// Replies returns the remote-request replies received, by request id.
func (c *Consumer) Replies() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.replies)
}

// Status returns the device's last status message ("" before any).
func (c *Consumer) Status(device string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status[device]
}

// CheckWellFormed fails the test for every message that did not match C.2.
func (c *Consumer) CheckWellFormed() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bad {
		c.t.Errorf("malformed message: %s", b)
	}
}

// fail ends the test with msg, the malformed messages and the consumer's
// connection history.
func (c *Consumer) fail(format string, a ...any) {
	c.t.Helper()
	c.CheckWellFormed()
	c.mu.Lock()
	conns := strings.Join(c.conns, "; ")
	c.mu.Unlock()
	c.t.Fatalf(format+" (consumer: %s)", append(a, conns)...)
}

// WaitStatus waits until the device's last status contains substr.
func (c *Consumer) WaitStatus(device, substr string) string {
	c.t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		s := c.Status(device)
		if strings.Contains(s, substr) {
			return s
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("device %s: status %q, want one with %q", device, s, substr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
