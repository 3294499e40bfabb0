//go:build brokers

package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/server"
	"github.com/mypoll/mypoll/internal/brokertest"
)

// sameDevice is mypolld's server run in this test process on an emulated
// device that outlives it, so a restarted server finds the same device
// instance, as mypolld does with the kernel module (the mypolld binary's
// --device emu lives and dies with the process: a new instance each run).
type sameDevice struct {
	t           *testing.T
	dev         *emu.Device
	sock, state string
	srv         *server.Server
	done        chan error
}

func startSameDevice(t *testing.T) *sameDevice {
	t.Helper()
	dir := t.TempDir()
	d := &sameDevice{t: t, dev: emu.New(emu.Config{}), sock: filepath.Join(dir, "mypoll.sock"), state: filepath.Join(dir, "state")}
	d.start()
	t.Cleanup(d.stop)
	return d
}

func (d *sameDevice) start() {
	d.t.Helper()
	srv, err := server.New(server.Config{Socket: d.sock, History: server.DefaultHistory, Device: d.dev,
		StateDir: d.state, Log: hclog.NewNullLogger()})
	if err != nil {
		d.t.Fatalf("server.New: %v", err)
	}
	d.srv, d.done = srv, make(chan error, 1)
	go func() { d.done <- srv.Run() }()
}

// stop shuts the server down as SIGTERM does: it flushes every client's
// queue (bounded by its drain timeout), persists its position and closes.
func (d *sameDevice) stop() {
	if d.done == nil {
		return
	}
	d.srv.Shutdown()
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Errorf("server Run: %v", err)
		}
	case <-time.After(waitTimeout):
		d.t.Errorf("server did not stop within %v", waitTimeout)
	}
	_ = d.srv.Close()
	d.done = nil
}

// mypolld restarted on the same device instance (its --state-dir names the
// instance and the last seq it broadcast): the bridge reconnects, sees the
// same instance_id and resumes with from=S+1; the events the device
// emitted while mypolld was down come from the device ring. The consumer
// sees every seq exactly once (no bridge, broker or broker connection
// crashed, so C.3 allows no redelivery), and no loss at all.
func TestBridge_DaemonRestartSameInstance(t *testing.T) {
	m := brokertest.StartMosquitto(t, "")
	c := brokertest.NewConsumer(t, m.URL())
	sd := startSameDevice(t)
	d := &daemon{t: t, sock: sd.sock} // the trigger helpers
	const dev = "dev-same"
	b := startBridge(t, d, dev, []string{m.URL()})
	c.WaitStatus(dev, `"online":true`)
	hc, err := client.Dial(t.Context(), sd.sock)
	if err != nil {
		t.Fatal(err)
	}
	inst := fmt.Sprintf("%016x", hc.Hello().InstanceID)
	_ = hc.Close()
	b.p.WaitLog(t, "mypolld connected: instance_id="+inst+" from=1")
	last1 := d.triggerPaced(3000, 100, 0)

	sd.stop() // the bridge has read up to last1: the drain flushed it
	f, err := sd.dev.OpenFile(true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Trigger(9, 500); err != nil { // while mypolld is down
		t.Fatal(err)
	}
	_ = f.Close()
	sd.start()
	b.p.WaitLog(t, fmt.Sprintf("mypolld connected: instance_id=%s from=%d", inst, last1+1))
	last := d.triggerPaced(2000, 100, 0)
	if last != last1+500+2000 {
		t.Fatalf("last seq %d, want %d", last, last1+2500)
	}

	got, lost := c.WaitCovered(dev, 1, last)
	if got != inst || lost != 0 {
		t.Errorf("instance %s with %d seqs only in losses %+v, want %s and no loss", got, lost, c.Losses(dev, got), inst)
	}
	for seq := uint64(1); seq <= last; seq++ {
		if e, _ := c.Event(dev, inst, seq); e.Received != 1 {
			t.Errorf("seq %d received %d times, want once", seq, e.Received)
			break
		}
	}
	if e, _ := c.Event(dev, inst, last1+1); e.Arg != 9 || e.Aux != 0 {
		t.Errorf("seq %d: %+v, want the first trigger made while mypolld was down (payload 9)", last1+1, e)
	}
	c.CheckWellFormed()
}
