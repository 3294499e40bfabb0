package emu_test

import (
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/device/devicetest"
	"github.com/mypoll/mypoll/daemon/internal/device/emu"
)

func TestConformance(t *testing.T) {
	for _, cfg := range []struct {
		name string
		cfg  emu.Config
	}{
		{"default", emu.Config{}},
		{"ring16_burst100", emu.Config{RingOrder: 4, MaxBurst: 100, MinPeriod: 2_000_000}},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			devicetest.Run(t, func(t *testing.T) device.Device {
				d := emu.New(cfg.cfg)
				t.Cleanup(d.Unplug) // stops timers a failing subtest left running
				return d
			}, devicetest.Options{Fresh: true, CanUnplug: true})
		})
	}
	// Like the kernel module in a guest: one instance for every subtest,
	// so the suite must not rely on a fresh device.
	t.Run("shared", func(t *testing.T) {
		d := emu.New(emu.Config{RingOrder: 5})
		t.Cleanup(d.Unplug)
		devicetest.Run(t, func(*testing.T) device.Device { return d }, devicetest.Options{})
	})
}
