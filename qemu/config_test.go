package qemu_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/qemu"
)

// fakeOut writes an out/ tree with a kernel.env and a current image.
func fakeOut(t *testing.T) (out, kernel, initrd string) {
	t.Helper()
	out = t.TempDir()
	kernel = filepath.Join(out, "kernel", "vmlinuz")
	initrd = filepath.Join(out, "image", "abc.cpio")
	for _, f := range []string{kernel, initrd} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := "KREL=6.1.0-1-arm64\nKIMAGE=" + kernel + "\n"
	if err := os.WriteFile(filepath.Join(out, "kernel", "kernel.env"), []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "image", "current"), []byte("abc.cpio\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return out, kernel, initrd
}

func clearEnv(t *testing.T) {
	for _, k := range []string{"MYPOLL_KERNEL", "MYPOLL_INITRD", "MYPOLL_DISK", "MYPOLL_APPEND", "MYPOLL_SMP", "MYPOLL_TIMEOUT_MULT", "MYPOLL_KLOG_WANT", "MYPOLL_ARCH"} {
		t.Setenv(k, "")
	}
	t.Setenv("MYPOLL_QEMU", "/bin/true") // found or not, no PATH lookup
}

func TestConfigFromEnv(t *testing.T) {
	clearEnv(t)
	out, kernel, initrd := fakeOut(t)
	t.Setenv("MYPOLL_OUT", out)
	t.Setenv("MYPOLL_SMP", "2")
	t.Setenv("MYPOLL_TIMEOUT_MULT", "2.5")
	t.Setenv("MYPOLL_KLOG_WANT", "KernelAddressSanitizer initialized|Lock dependency validator")
	cfg, err := qemu.ConfigFromEnv()
	if err != nil {
		t.Fatalf("ConfigFromEnv: %v", err)
	}
	if cfg.Kernel != kernel || cfg.Initrd != initrd || cfg.SMP != 2 || cfg.TimeoutMult != 2.5 {
		t.Errorf("ConfigFromEnv = %+v, want kernel %s initrd %s smp 2 mult 2.5", cfg, kernel, initrd)
	}
	if want := []string{"KernelAddressSanitizer initialized", "Lock dependency validator"}; !slices.Equal(cfg.KernelLogWant, want) {
		t.Errorf("ConfigFromEnv KernelLogWant = %q, want %q", cfg.KernelLogWant, want)
	}

	// An explicit initrd or disk wins over the build output.
	own := filepath.Join(t.TempDir(), "rootfs.ext4")
	if err := os.WriteFile(own, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MYPOLL_DISK", own)
	t.Setenv("MYPOLL_OUT", t.TempDir()) // no image there
	t.Setenv("MYPOLL_KERNEL", kernel)
	cfg, err = qemu.ConfigFromEnv()
	if err != nil || cfg.Disk != own || cfg.Initrd != "" {
		t.Errorf("ConfigFromEnv with MYPOLL_DISK = %+v, %v; want disk %s and no initrd", cfg, err, own)
	}
}

func TestConfigFromEnv_NoVM(t *testing.T) {
	tests := []struct {
		name string
		prep func(out string)
	}{
		{"no kernel.env", func(out string) { os.Remove(filepath.Join(out, "kernel", "kernel.env")) }},
		{"no image", func(out string) { os.Remove(filepath.Join(out, "image", "current")) }},
		{"image gone", func(out string) { os.Remove(filepath.Join(out, "image", "abc.cpio")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			out, _, _ := fakeOut(t)
			tt.prep(out)
			t.Setenv("MYPOLL_OUT", out)
			if _, err := qemu.ConfigFromEnv(); !errors.Is(err, qemu.ErrNoVM) {
				t.Errorf("ConfigFromEnv = %v, want ErrNoVM", err)
			}
		})
	}
	t.Run("bad multiplier", func(t *testing.T) {
		clearEnv(t)
		out, _, _ := fakeOut(t)
		t.Setenv("MYPOLL_OUT", out)
		t.Setenv("MYPOLL_TIMEOUT_MULT", "-1")
		if _, err := qemu.ConfigFromEnv(); err == nil || errors.Is(err, qemu.ErrNoVM) {
			t.Errorf("ConfigFromEnv with a bad multiplier = %v, want a config error (not a skip)", err)
		}
	})
}

func TestQemuArgs(t *testing.T) {
	args := qemu.QemuArgs(qemu.Config{
		QEMU: "qemu-system-aarch64", Kernel: "/k", Initrd: "/i", SMP: 2,
		Disk: "/root.qcow2", Append: qemu.RootArgs,
	}, "/tmp/mpq1")
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"-M virt -cpu cortex-a57", "-smp 2", "-no-reboot", "-kernel /k", "-initrd /i",
		"-append " + qemu.BaseAppend + " " + qemu.RootArgs,
		"file=/root.qcow2,format=qcow2,if=none,id=hd0,snapshot=on",
		"socket,id=port0,path=/tmp/mpq1/port.sock,server=on,wait=off",
		"virtserialport,chardev=port0,name=mypoll.test",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("qemu args %q lack %q", joined, want)
		}
	}
	if !slices.Contains(args, "-append") || !strings.HasPrefix(qemu.BaseAppend, "console=ttyAMA0 panic=-1") {
		t.Errorf("kernel command line must start with console=ttyAMA0 panic=-1: %q", qemu.BaseAppend)
	}
}

func TestShellQuote(t *testing.T) {
	tests := map[string]string{
		"plain/path-1.2": "plain/path-1.2",
		"two words":      "'two words'",
		"it's":           `'it'\''s'`,
		"":               "''",
	}
	for in, want := range tests {
		if got := qemu.ShellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckKernelLog(t *testing.T) {
	clean := "[    1.0] virtio-pci 0000:00:01.0: enabling device\n[    1.2] mypoll: loading out-of-tree module taints kernel.\n"
	if err := qemu.CheckKernelLog(clean); err != nil {
		t.Errorf("CheckKernelLog(clean) = %v, want nil", err)
	}
	for _, bad := range []string{
		"[ 2.0] WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x10/0x20",
		"[ 2.0] BUG: KASAN: slab-out-of-bounds in mypoll_read",
		"[ 2.0] Internal error: Oops: 96000004 [#1] SMP",
		"[ 2.0] Kernel panic - not syncing: Attempted to kill init!",
		"[ 2.0] Unable to handle kernel NULL pointer dereference at virtual address 0",
		"[ 2.0] list_add corruption. prev->next should be next",
		"[ 2.0] kmemleak: 1 new suspected memory leaks",
		"[ 2.0] INFO: task mypolld:88 blocked for more than 120 seconds.",
		// The debug kernels' reports (lockdep, KASAN, KCSAN, atomic
		// sleep), as kernel/locking/lockdep.c, mm/kasan/report.c,
		// kernel/kcsan/report.c and kernel/sched/core.c print them.
		"[ 2.0] WARNING: possible circular locking dependency detected",
		"[ 2.0] WARNING: inconsistent lock state",
		"[ 2.0] BUG: KCSAN: data-race in mypoll_read / mypoll_trigger",
		"[ 2.0] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580",
		// A lockdep that switched itself off checks nothing from then on.
		"[ 2.0] turning off the locking correctness validator.",
		"[ 2.0] Disabling lock debugging due to kernel taint",
		"[ 2.0] INFO: lockdep is turned off.",
		// BUG() and UBSAN say it without "BUG:".
		"[ 2.0] kernel BUG at mm/slub.c:435!",
		"[ 2.0] UBSAN: array-index-out-of-bounds in kmod/mypoll.c:120:9",
	} {
		err := qemu.CheckKernelLog(clean + bad + "\n")
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("CheckKernelLog(%q) = %v, want it reported", bad, err)
		}
	}
}

// A debug kernel's tier must not pass on a kernel without the checkers:
// the banners it names must be in the log.
func TestCheckKernelLogWant(t *testing.T) {
	log := "[    0.0] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar\n" +
		"[    0.0] KernelAddressSanitizer initialized (generic)\n"
	if err := qemu.CheckKernelLogWant(log, []string{"KernelAddressSanitizer initialized", "Lock dependency validator"}); err != nil {
		t.Errorf("CheckKernelLogWant with both banners = %v, want nil", err)
	}
	if err := qemu.CheckKernelLogWant(log, nil); err != nil {
		t.Errorf("CheckKernelLogWant with nothing wanted = %v, want nil", err)
	}
	err := qemu.CheckKernelLogWant(log, []string{"Lock dependency validator", "kcsan: enabled early"})
	if err == nil || !strings.Contains(err.Error(), "kcsan: enabled early") || strings.Contains(err.Error(), "Lock dependency") {
		t.Errorf("CheckKernelLogWant without the KCSAN banner = %v, want it (and only it) named", err)
	}
}
