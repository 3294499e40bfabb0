package qemu_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/qemu"
)

// kernelHeader is the start of a kernel image of the given kind, as the
// boot protocols lay it out.
func kernelHeader(t *testing.T, kind string) []byte {
	t.Helper()
	h := make([]byte, 4096)
	pe := func(machine uint16) {
		copy(h, "MZ")
		binary.LittleEndian.PutUint32(h[0x3c:], 0x40)
		copy(h[0x40:], "PE\x00\x00")
		binary.LittleEndian.PutUint16(h[0x44:], machine)
	}
	switch kind {
	case "arm64-image": // Debian's arm64 vmlinuz: EFI stub + Image magic
		pe(0xaa64)
		binary.LittleEndian.PutUint32(h[0x38:], 0x644d5241)
	case "arm64-gzip":
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(kernelHeader(t, "arm64-image"))
		zw.Close()
		return b.Bytes()
	case "arm64-zboot": // EFI zboot: only the PE machine says arm64
		pe(0xaa64)
		copy(h[4:], "zimg")
	case "arm-zimage": // Debian's armhf vmlinuz (EFI stub, Thumb-2 PE)
		pe(0x01c2)
		binary.LittleEndian.PutUint32(h[0x24:], 0x016f2818)
	case "arm-plain-zimage":
		binary.LittleEndian.PutUint32(h[0x24:], 0x016f2818)
	case "junk":
		copy(h, "this is not a kernel")
	}
	return h
}

func writeKernel(t *testing.T, kind string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vmlinuz-"+kind)
	if err := os.WriteFile(p, kernelHeader(t, kind), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKernelArch(t *testing.T) {
	for kind, want := range map[string]string{
		"arm64-image": qemu.ArchARM64, "arm64-gzip": qemu.ArchARM64, "arm64-zboot": qemu.ArchARM64,
		"arm-zimage": qemu.ArchARM, "arm-plain-zimage": qemu.ArchARM,
	} {
		got, err := qemu.KernelArch(writeKernel(t, kind))
		if err != nil || got != want {
			t.Errorf("KernelArch(%s) = %q, %v; want %q", kind, got, err, want)
		}
	}
	if got, err := qemu.KernelArch(writeKernel(t, "junk")); err == nil {
		t.Errorf("KernelArch(junk) = %q, want an error", got)
	}
}

func TestQemuArgs_Arch(t *testing.T) {
	for arch, want := range map[string]string{
		"": "-M virt -cpu cortex-a57", qemu.ArchARM64: "-M virt -cpu cortex-a57", qemu.ArchARM: "-M virt -cpu cortex-a15",
	} {
		args := strings.Join(qemu.QemuArgs(qemu.Config{Arch: arch, Kernel: "/k", Initrd: "/i"}, "/tmp/mpq1"), " ")
		if !strings.HasPrefix(args, want+" ") {
			t.Errorf("Arch %q: qemu args %q, want them to start with %q", arch, args, want)
		}
		// The same console, port and bus on both: virt has a PL011 and PCIe.
		for _, same := range []string{"-append " + qemu.BaseAppend, "virtio-serial-pci", "virtserialport,chardev=port0"} {
			if !strings.Contains(args, same) {
				t.Errorf("Arch %q: qemu args %q lack %q", arch, args, same)
			}
		}
	}
}

// A fake QEMU in PATH: ConfigFromEnv must pick the binary of the kernel's
// architecture, and MYPOLL_ARCH must win over the kernel's header.
func TestConfigFromEnv_Arch(t *testing.T) {
	clearEnv(t)
	bin := t.TempDir()
	for _, q := range []string{"qemu-system-aarch64", "qemu-system-arm"} {
		if err := os.WriteFile(filepath.Join(bin, q), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	t.Setenv("MYPOLL_QEMU", "")
	_, _, initrd := fakeOut(t)
	t.Setenv("MYPOLL_INITRD", initrd)
	for _, c := range []struct{ kind, env, arch, qemu string }{
		{"arm-zimage", "", qemu.ArchARM, "qemu-system-arm"},
		{"arm64-image", "", qemu.ArchARM64, "qemu-system-aarch64"},
		{"junk", "", qemu.ArchARM64, "qemu-system-aarch64"},
		{"arm64-image", qemu.ArchARM, qemu.ArchARM, "qemu-system-arm"},
	} {
		t.Setenv("MYPOLL_KERNEL", writeKernel(t, c.kind))
		t.Setenv("MYPOLL_ARCH", c.env)
		cfg, err := qemu.ConfigFromEnv()
		if err != nil || cfg.Arch != c.arch || cfg.QEMU != filepath.Join(bin, c.qemu) {
			t.Errorf("kernel %s, MYPOLL_ARCH=%q: ConfigFromEnv = arch %q qemu %q, %v; want %q %q",
				c.kind, c.env, cfg.Arch, cfg.QEMU, err, c.arch, c.qemu)
		}
	}
	t.Setenv("MYPOLL_ARCH", "x86_64")
	if _, err := qemu.ConfigFromEnv(); err == nil {
		t.Error("ConfigFromEnv with MYPOLL_ARCH=x86_64 succeeded, want an error")
	}
}

func TestStart_UnknownArch(t *testing.T) {
	vm, err := qemu.Start(context.Background(), qemu.Config{Arch: "mips", QEMU: "/bin/false", Kernel: "/k"})
	if err == nil {
		vm.Kill()
		t.Fatal("Start with Arch mips succeeded, want an error")
	}
}
