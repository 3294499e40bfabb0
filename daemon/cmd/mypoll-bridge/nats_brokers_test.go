//go:build brokers

package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// natsCluster is three nats-server processes on loopback, clustered, with
// JetStream and the MQTT listener on (Debian bookworm's nats-server 2.9.10:
// MQTT 3.1.1 with QoS 0/1 and retained messages, backed by JetStream; no
// QoS 2, no MQTT 5).
type natsCluster struct {
	nodes []*proc
	mqtt  []int
	confs []string
}

func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	const n = 3
	cl := &natsCluster{}
	var client, route, mon []int
	for range n {
		mon = append(mon, freePort(t))
		client = append(client, freePort(t))
		route = append(route, freePort(t))
		cl.mqtt = append(cl.mqtt, freePort(t))
	}
	dir := t.TempDir()
	for i := range n {
		var routes []string
		for j := range n {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", route[j]))
			}
		}
		conf := fmt.Sprintf(`server_name: n%d
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream { store_dir: %q, max_memory_store: 64MB, max_file_store: 512MB }
cluster { name: mypoll, listen: 127.0.0.1:%d, routes: [%s] }
mqtt { listen: 127.0.0.1:%d, stream_replicas: 3, consumer_replicas: 3 }
`, i+1, client[i], mon[i], filepath.Join(dir, fmt.Sprintf("js%d", i+1)), route[i], strings.Join(routes, ", "), cl.mqtt[i])
		p := filepath.Join(dir, fmt.Sprintf("n%d.conf", i+1))
		if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cl.confs = append(cl.confs, p)
	}
	for i := range n {
		cl.nodes = append(cl.nodes, startProc(t, "nats-server", "-c", cl.confs[i]))
	}
	for i := range n {
		waitTCP(t, cl.mqtt[i])
	}
	// MQTT's streams are replicated on all three nodes only once JetStream's
	// cluster has formed: wait until every node says it is healthy.
	deadline := time.Now().Add(waitTimeout)
	for i := range n {
		for {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", mon[i]))
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("nats node %d not healthy: %v", i+1, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return cl
}

func (cl *natsCluster) url(i int) string { return fmt.Sprintf("tcp://127.0.0.1:%d", cl.mqtt[i]) }

// A three-node cluster: the bridge is given all three nodes and connects to
// the first; that node is killed during a flood; the bridge moves on to
// another node and the consumer (on the third) sees full coverage.
func TestBridge_NATSClusterNodeLoss(t *testing.T) {
	cl := startNATSCluster(t)
	c := newConsumer(t, cl.url(2), cl.url(1))
	d := startDaemon(t)
	b := startBridge(t, d, "dev-nats", []string{cl.url(0), cl.url(1), cl.url(2)})
	c.waitStatus("dev-nats", `"online":true`)
	waitLog(t, b.p.log, "broker connected: broker="+cl.url(0))
	done := make(chan uint64)
	go func() { done <- d.triggerPaced(6000, 100, 5*time.Millisecond) }()
	time.Sleep(200 * time.Millisecond)
	cl.nodes[0].kill(syscall.SIGKILL)
	last := <-done
	inst, lost := c.waitCovered("dev-nats", 1, last)
	checkNoBridgeLoss(t, c, "dev-nats", inst, lost, last)
	b.stop()
	c.checkWellFormed()
}
