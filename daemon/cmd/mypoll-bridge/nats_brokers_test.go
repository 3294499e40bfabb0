//go:build brokers

package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/internal/brokertest"
)

// A three-node cluster: the bridge is given all three nodes and connects to
// the first; that node is killed during a flood; the bridge moves on to
// another node and the consumer (on the third) sees full coverage.
func TestBridge_NATSClusterNodeLoss(t *testing.T) {
	cl := brokertest.StartNATSCluster(t)
	c := brokertest.NewConsumer(t, cl.URL(2), cl.URL(1))
	d := startDaemon(t)
	b := startBridge(t, d, "dev-nats", []string{cl.URL(0), cl.URL(1), cl.URL(2)})
	c.WaitStatus("dev-nats", `"online":true`)
	b.p.WaitLog(t, "broker connected: broker="+cl.URL(0))
	done := make(chan uint64)
	go func() { done <- d.triggerPaced(6000, 100, 5*time.Millisecond) }()
	time.Sleep(200 * time.Millisecond)
	cl.Nodes[0].Kill(syscall.SIGKILL)
	last := <-done
	inst, lost := c.WaitCovered("dev-nats", 1, last)
	checkNoBridgeLoss(t, c, "dev-nats", inst, lost, last)
	b.stop()
	c.CheckWellFormed()
}
