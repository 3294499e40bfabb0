package qemu_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/qemu"
	"github.com/mypoll/mypoll/qemu/internal/serial"
	"github.com/mypoll/mypoll/qemu/qemutest"
)

func TestQemuArgs_Raspi3b(t *testing.T) {
	args := qemu.QemuArgs(qemu.Config{
		QEMU: "qemu-system-aarch64", Kernel: "/u-boot.bin", Machine: qemu.MachineRaspi3b,
		DTB: "/rpi.dtb", SDCard: "/sd.img", Append: "ignored",
	}, "/tmp/mpq1")
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"-M raspi3b", "-kernel /u-boot.bin", "-dtb /rpi.dtb", "if=sd,format=raw,snapshot=on,file=/sd.img",
		// serial0 (PL011) is the agent's line, serial1 (mini UART) the console.
		"-chardev socket,id=port0,path=/tmp/mpq1/port.sock,server=on,wait=off -serial chardev:port0 -serial stdio",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("raspi3b args %q lack %q", joined, want)
		}
	}
	for _, bad := range []string{"-append", "-smp", "-m ", "virtserialport", "cortex-a57"} {
		if strings.Contains(joined, bad) {
			t.Errorf("raspi3b args %q contain %q", joined, bad)
		}
	}
}

func TestConfigFromEnv_Target(t *testing.T) {
	t.Setenv("MYPOLL_OUT", t.TempDir()) // no kernel, no image: a board needs none
	t.Setenv("MYPOLL_TARGET", "tcp:127.0.0.1:7000")
	t.Setenv("MYPOLL_POWER_CMD", "true")
	c, err := qemu.ConfigFromEnv()
	if err != nil || c.Target != "tcp:127.0.0.1:7000" || c.PowerCmd != "true" {
		t.Fatalf("ConfigFromEnv = %+v, %v", c, err)
	}
	for _, bad := range []string{"serial:ttyUSB0", "serial:/dev/ttyUSB0@12345", "tcp:7000", "usb:0"} {
		t.Setenv("MYPOLL_TARGET", bad)
		if _, err := qemu.ConfigFromEnv(); err == nil || errors.Is(err, qemu.ErrNoVM) {
			t.Errorf("MYPOLL_TARGET=%s: %v, want a config error", bad, err)
		}
	}
}

// TestTarget_NoBoard: attaching to a target nobody serves fails in the
// boot phase within its budget, naming the target.
func TestTarget_NoBoard(t *testing.T) {
	vm, err := qemu.Start(context.Background(), qemu.Config{Target: "tcp:127.0.0.1:1", BootTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if !vm.IsTarget() || vm.CanPowerCycle() {
		t.Errorf("IsTarget %v CanPowerCycle %v; want true, false", vm.IsTarget(), vm.CanPowerCycle())
	}
	err = vm.Connect(context.Background())
	var pe *qemu.PhaseError
	if !errors.As(err, &pe) || pe.Phase != "boot" || !strings.Contains(err.Error(), "tcp:127.0.0.1:1") {
		t.Errorf("Connect = %v, want a boot PhaseError naming the target", err)
	}
	if err := vm.PowerCycle(context.Background()); err == nil || !strings.Contains(err.Error(), "POWER_CMD") {
		t.Errorf("PowerCycle without PowerCmd = %v", err)
	}
	if err := vm.Shutdown(); err != nil {
		t.Errorf("Shutdown of a board = %v, want a plain detach", err)
	}
}

// TestLinkThroughput measures the agent's line (virtio, or the raspi3b
// PL011 with MYPOLL_MACHINE=raspi3b, or a board with MYPOLL_TARGET): guest
// to host with Fetch, host to guest with Put, and the reconnect (with its
// preamble). Numbers go to the test log.
func TestLinkThroughput(t *testing.T) {
	cfg := qemutest.DefaultConfig(t)
	vm := qemutest.StartT(t, cfg)
	ctx := t.Context()
	data := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	start := time.Now()
	if err := vm.Put(ctx, "/tmp/link.bin", data); err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	start = time.Now()
	got, err := vm.Fetch(ctx, "/tmp/link.bin")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fetch back: %v (equal %v)", err, bytes.Equal(got, data))
	}
	down := time.Since(start)
	kib := float64(len(data)) / 1024
	t.Logf("link %s: host->guest %.0f KiB/s, guest->host %.0f KiB/s (256 KiB each)",
		cfg.Machine+cfg.Target, kib/up.Seconds(), kib/down.Seconds())
	var recon []time.Duration
	for range 3 {
		vm.Disconnect()
		start = time.Now()
		if err := vm.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := vm.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		recon = append(recon, time.Since(start))
	}
	t.Logf("reconnect with the preamble, to the first op: %v", recon)
}

// TestTarget_Console: a board's console line (a pty here) is captured to
// the console log and scanned for kernel trouble, as QEMU's console is.
func TestTarget_Console(t *testing.T) {
	m, slave, err := serial.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	logPath := filepath.Join(t.TempDir(), "console.log")
	vm, err := qemu.Start(context.Background(), qemu.Config{
		Target: "tcp:127.0.0.1:1", TargetConsole: slave + "@921600", ConsoleLog: logPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if _, err := io.WriteString(m, "[  1.0] booted\n[  2.0] Oops: something\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(vm.ConsoleTail(), "Oops") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := vm.Shutdown(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "booted") || !strings.Contains(string(b), "# attach tcp:127.0.0.1:1") {
		t.Errorf("console log:\n%s", b)
	}
	if err := vm.CheckConsole(); err == nil || !strings.Contains(err.Error(), "Oops") {
		t.Errorf("CheckConsole = %v, want the Oops", err)
	}
}
