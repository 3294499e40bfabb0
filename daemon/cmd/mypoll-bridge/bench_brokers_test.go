//go:build brokers && bench

package main

// make bench-bridge: throughput and latency through mypoll-bridge into a
// real mosquitto, beside a raw paho publisher sending the same payloads to
// the same broker in the same run; the bridge's RSS and CPU per event; the
// 50-device fleet's aggregate rate.

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mypoll/mypoll/client"

	"github.com/mypoll/mypoll/internal/brokertest"
)

// counter subscribes to a topic filter and counts messages, noting when
// each seq arrived (events), or the count of loss messages' seqs.
type counter struct {
	n, lost atomic.Uint64
	mu      sync.Mutex
	arrival map[uint64]time.Time
	cli     mqtt.Client
}

func newCounter(t *testing.T, url, filter string) *counter {
	t.Helper()
	c := &counter{arrival: map[uint64]time.Time{}}
	c.cli = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("bench-%d", time.Now().UnixNano())).SetOrderMatters(false))
	if tok := c.cli.Connect(); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	tok := c.cli.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		now := time.Now()
		p := string(m.Payload())
		if strings.HasPrefix(p, `{"first":`) { // a loss: count its seqs
			f := strings.Split(strings.NewReplacer(`{"first":`, "", `"last":`, "", `"count":`, "").Replace(p), ",")
			first, _ := strconv.ParseUint(f[0], 10, 64)
			last, _ := strconv.ParseUint(f[1], 10, 64)
			c.n.Add(last - first + 1)
			c.lost.Add(last - first + 1)
			return
		}
		seq, _ := strconv.ParseUint(strings.TrimPrefix(strings.SplitN(p, ",", 2)[0], `{"seq":`), 10, 64)
		c.mu.Lock()
		if _, dup := c.arrival[seq]; !dup {
			c.arrival[seq] = now
			c.n.Add(1)
		}
		c.mu.Unlock()
	})
	if !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { c.cli.Disconnect(0) })
	return c
}

// waitSeq waits for the event seq and returns its arrival time.
func (c *counter) waitSeq(t *testing.T, seq uint64) time.Time {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		c.mu.Lock()
		at, ok := c.arrival[seq]
		c.mu.Unlock()
		if ok {
			return at
		}
		if time.Now().After(deadline) {
			t.Fatalf("seq %d never arrived", seq)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func (c *counter) wait(t *testing.T, n uint64) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for c.n.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d", c.n.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// payloadOf is the bridge's event payload (PROTOCOL.md C.2) for seq.
func payloadOf(seq uint64) []byte {
	return fmt.Appendf(nil, `{"seq":%d,"type":"trigger","source_id":0,"arg":%d,"aux":0,"ts_ns":812736450112,"instance_id":"2d085b32e2656ff1"}`, seq, seq)
}

// rawRate publishes n payloads with a raw paho client (256 in flight, as
// the bridge) and returns events/s until the subscriber has them all.
func rawRate(t *testing.T, url string, qos byte, n int, topic string) float64 {
	c := newCounter(t, url, topic)
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("raw-publisher").SetOrderMatters(false))
	if tok := pub.Connect(); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(0)
	start := time.Now()
	inflight := make(chan mqtt.Token, 256) // the bridge's window
	done := make(chan struct{})
	go func() {
		for tok := range inflight {
			tok.Wait()
		}
		close(done)
	}()
	for seq := uint64(1); seq <= uint64(n); seq++ {
		inflight <- pub.Publish(topic, qos, false, payloadOf(seq))
	}
	close(inflight)
	<-done
	c.wait(t, uint64(n))
	return float64(n) / time.Since(start).Seconds()
}

func cpuAndRSS(pid int) (cpu time.Duration, hwmKB int) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	cpu = time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
	s, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for l := range strings.SplitSeq(string(s), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			hwmKB, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	return cpu, hwmKB
}

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p)]
}

func TestBenchBridge(t *testing.T) {
	const n = 20000
	m := brokertest.StartMosquitto(t, "")
	fmt.Printf("\nmypoll-bridge into mosquitto (%d events of ~120 bytes, 1 subscriber, same run)\n", n)
	fmt.Printf("%-34s %12s %12s %8s\n", "", "bridge ev/s", "raw paho ev/s", "raw/bridge")
	for _, qos := range []byte{1, 0} {
		raw := rawRate(t, m.URL(), qos, n, fmt.Sprintf("raw/q%d/evt/trigger", qos))
		dev := fmt.Sprintf("bench-q%d", qos)
		c := newCounter(t, m.URL(), "mypoll/"+dev+"/#")
		d := startDaemon(t)
		b := startBridge(t, d, dev, []string{m.URL()}, "--qos", strconv.Itoa(int(qos)), "--log-level", "warn")
		b.p.WaitLog(t, "") // started
		time.Sleep(300 * time.Millisecond)
		cpu0, _ := cpuAndRSS(b.p.Cmd.Process.Pid)
		start := time.Now()
		d.triggerPaced(n, 200, 0)
		c.wait(t, n+0) // events plus seqs in loss messages
		// Only delivered events count: seqs inside mypolld's loss reports
		// (its device ring or TX queue overrun by the flood) do not.
		rate := float64(n-c.lost.Load()) / time.Since(start).Seconds()
		cpu1, hwm := cpuAndRSS(b.p.Cmd.Process.Pid)
		fmt.Printf("%-34s %12.0f %12.0f %8.2fx  (%d of the %d seqs reported lost by mypolld, not the bridge)\n",
			fmt.Sprintf("throughput, QoS %d", qos), rate, raw, raw/rate, c.lost.Load(), n)
		fmt.Printf("%-34s %12.2f us/event, peak RSS %d KiB\n", fmt.Sprintf("bridge CPU, QoS %d", qos), float64((cpu1-cpu0).Microseconds())/n, hwm)
		b.stop()
	}
	// Latency: one trigger at a time, trigger call to the subscriber's
	// receipt; the raw baseline is publish to receipt.
	const k = 500
	dev := "bench-lat"
	c := newCounter(t, m.URL(), "mypoll/"+dev+"/evt/#")
	d := startDaemon(t)
	startBridge(t, d, dev, []string{m.URL()}, "--log-level", "warn")
	time.Sleep(300 * time.Millisecond)
	ctl, err := client.Dial(t.Context(), d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	var lat []time.Duration
	for range k {
		t0 := time.Now()
		seq, _, err := ctl.Trigger(t.Context(), 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		lat = append(lat, c.waitSeq(t, seq).Sub(t0))
	}
	rc := newCounter(t, m.URL(), "raw/lat")
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.URL()).SetClientID("raw-lat"))
	if tok := pub.Connect(); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(0)
	var rawLat []time.Duration
	for seq := uint64(1); seq <= k; seq++ {
		t0 := time.Now()
		pub.Publish("raw/lat", 1, false, payloadOf(seq))
		rawLat = append(rawLat, rc.waitSeq(t, seq).Sub(t0))
	}
	fmt.Printf("%-34s %12s %12s %8s\n", "latency trigger->subscriber", "bridge", "raw paho", "ratio")
	for _, p := range []float64{0.5, 0.99} {
		bl, rl := percentile(lat, p), percentile(rawLat, p)
		fmt.Printf("%-34s %12v %12v %8.2fx\n", fmt.Sprintf("  p%.0f, QoS 1", p*100), bl.Round(time.Microsecond), rl.Round(time.Microsecond), float64(bl)/float64(rl))
	}
	// The fleet: 50 devices, each with its bridge, into the one broker.
	const per = 1000
	var ds []*daemon
	for i := range fleetSize {
		d := startDaemon(t)
		b := startBridge(t, d, fmt.Sprintf("fleet-%03d", i), []string{m.URL()}, "--log-level", "warn")
		b.p.WaitLog(t, "")
		ds = append(ds, d)
	}
	time.Sleep(time.Second)
	var fleetN atomic.Uint64
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.URL()).SetClientID("fleet-count"))
	if tok := sub.Connect(); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(0)
	sub.Subscribe("mypoll/+/evt/#", 1, func(mqtt.Client, mqtt.Message) { fleetN.Add(1) }).Wait()
	start := time.Now()
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Go(func() { d.triggerPaced(per, 250, 0) })
	}
	wg.Wait()
	deadline := time.Now().Add(waitTimeout)
	for fleetN.Load() < fleetSize*per && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	fmt.Printf("%-34s %12.0f ev/s aggregate (%d of %d events in %v)\n\n", fmt.Sprintf("fleet, %d devices x %d", fleetSize, per),
		float64(fleetN.Load())/el.Seconds(), fleetN.Load(), fleetSize*per, el.Round(time.Millisecond))
}
