//go:build brokers

package main

import (
	"fmt"
	"sync"
	"testing"

	"github.com/mypoll/mypoll/internal/brokertest"
)

// fleetSize is the number of devices (mypolld --device emu + a bridge each)
// publishing into one mosquitto: at least 50 (issue 13), bounded so the
// tier stays within its CI budget.
const fleetSize = 50

// A fleet on one machine: every device's events reach the one broker, the
// consumer checks coverage for each device separately.
func TestBridge_Fleet(t *testing.T) {
	m := brokertest.StartMosquitto(t, "")
	c := brokertest.NewConsumer(t, m.URL())
	const perDevice = 300
	daemons := make([]*daemon, fleetSize)
	for i := range daemons {
		daemons[i] = startDaemon(t)
		startBridge(t, daemons[i], fmt.Sprintf("board-%03d", i), []string{m.URL()}, "--log-level", "info")
	}
	for i := range daemons {
		c.WaitStatus(fmt.Sprintf("board-%03d", i), `"online":true`)
	}
	lasts := make([]uint64, fleetSize)
	var wg sync.WaitGroup
	for i, d := range daemons {
		wg.Go(func() { lasts[i] = d.triggerPaced(perDevice, 50, 0) })
	}
	wg.Wait()
	for i := range daemons {
		dev := fmt.Sprintf("board-%03d", i)
		inst, lost := c.WaitCovered(dev, 1, lasts[i])
		if lasts[i] != perDevice {
			t.Errorf("%s: last seq %d, want %d", dev, lasts[i], perDevice)
		}
		checkNoBridgeLoss(t, c, dev, inst, lost, lasts[i])
	}
	c.CheckWellFormed()
}
