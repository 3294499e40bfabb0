package brokertest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NATSCluster is three nats-server processes on loopback, clustered, with
// JetStream and the MQTT listener on (Debian bookworm's nats-server 2.9.10:
// MQTT 3.1.1 with QoS 0/1 and retained messages, backed by JetStream; no
// QoS 2, no MQTT 5).
type NATSCluster struct {
	Nodes []*Proc
	mqtt  []int
}

// StartNATSCluster starts the three nodes and waits until every one
// reports itself healthy (JetStream's cluster has formed, so MQTT's streams
// can be replicated on all three).
func StartNATSCluster(t testing.TB) *NATSCluster {
	t.Helper()
	const n = 3
	cl := &NATSCluster{}
	var client, route, mon []int
	for range n {
		mon = append(mon, FreePort(t))
		client = append(client, FreePort(t))
		route = append(route, FreePort(t))
		cl.mqtt = append(cl.mqtt, FreePort(t))
	}
	dir := t.TempDir()
	var confs []string
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
		confs = append(confs, p)
	}
	for i := range n {
		cl.Nodes = append(cl.Nodes, Start(t, "nats-server", "-c", confs[i]))
	}
	for i := range n {
		WaitTCP(t, cl.mqtt[i])
	}
	deadline := time.Now().Add(Timeout)
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

// URL is node i's MQTT URL.
func (cl *NATSCluster) URL(i int) string { return fmt.Sprintf("tcp://127.0.0.1:%d", cl.mqtt[i]) }
