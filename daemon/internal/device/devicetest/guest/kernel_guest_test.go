//go:build mypoll_guest

package guest_test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/device/devicetest"
)

const debugfs = "/sys/kernel/debug"

func TestKernelConformance(t *testing.T) {
	path := os.Getenv("MYPOLL_DEVICE")
	if path == "" {
		path = "/dev/mypoll"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no event device (load mypoll.ko first): %v", err)
	}
	opt := devicetest.Options{Fresh: os.Getenv("MYPOLL_DEVICE_FRESH") == "1"}
	if s := os.Getenv("MYPOLL_TIMEOUT_MULT"); s != "" {
		m, err := strconv.ParseFloat(s, 64)
		if err != nil || m <= 0 {
			t.Fatalf("MYPOLL_TIMEOUT_MULT=%q: want a positive number", s)
		}
		opt.TimeScale = m
	}
	if hook := os.Getenv("MYPOLL_DEVICE_UNPLUG"); hook != "" {
		if _, err := os.Stat(hook); err != nil && strings.HasPrefix(hook, debugfs+"/") {
			// The guest may boot without debugfs mounted.
			if err := syscall.Mount("debugfs", debugfs, "debugfs", 0, ""); err != nil {
				t.Fatalf("mount debugfs for %s: %v", hook, err)
			}
		}
		if _, err := os.Stat(hook); err != nil {
			t.Fatalf("unplug hook (load mypoll.ko with test_hooks=1): %v", err)
		}
		opt.CanUnplug = true
		opt.Unplug = func(t *testing.T) {
			if err := os.WriteFile(hook, []byte("1\n"), 0); err != nil {
				t.Fatalf("unplug through %s: %v", hook, err)
			}
		}
	}
	dev := device.Kernel(path)
	devicetest.Run(t, func(*testing.T) device.Device { return dev }, opt)
}
