package qemu

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Guest architectures (Config.Arch). Both boot on QEMU's virt machine, whose
// PL011 is the console (ttyAMA0, BaseAppend) and whose PCIe bus carries the
// virtio-serial port.
const (
	// ArchARM64 is a 64-bit ARM kernel on qemu-system-aarch64 (cortex-a57).
	ArchARM64 = "arm64"
	// ArchARM is a 32-bit ARM kernel (Debian armhf: armmp, armmp-lpae) on
	// qemu-system-arm (cortex-a15, which has LPAE).
	ArchARM = "arm"
)

// archSpec is what the QEMU command line takes from the architecture.
type archSpec struct {
	qemu    string // the QEMU binary looked up in PATH
	machine string
	cpu     string
}

var archSpecs = map[string]archSpec{
	ArchARM64: {qemu: "qemu-system-aarch64", machine: "virt", cpu: "cortex-a57"},
	ArchARM:   {qemu: "qemu-system-arm", machine: "virt", cpu: "cortex-a15"},
}

// archOf returns the architecture's QEMU choices; an empty Arch is ArchARM64.
func archOf(arch string) (archSpec, error) {
	if arch == "" {
		arch = ArchARM64
	}
	s, ok := archSpecs[arch]
	if !ok {
		return archSpec{}, fmt.Errorf("unknown architecture %q (want %s or %s)", arch, ArchARM64, ArchARM)
	}
	return s, nil
}

// machineArgs is the -M and -cpu part of the command line.
func (s archSpec) machineArgs() []string {
	return []string{"-M", s.machine, "-cpu", s.cpu}
}

// Kernel image magic numbers (Documentation/arch/arm64/booting.rst and
// Documentation/arch/arm/booting.rst) and PE machine types (EFI stub).
const (
	arm64ImageMagic = 0x644d5241 // "ARM\x64" at offset 0x38
	armZImageMagic  = 0x016f2818 // at offset 0x24
	peMachineARM64  = 0xaa64
	peMachineARM    = 0x01c0
	peMachineARMNT  = 0x01c2 // Thumb-2: a 32-bit EFI-stub zImage
)

// KernelArch reads a kernel image's header and returns its architecture:
// ArchARM64 for an arm64 Image (plain, gzip-compressed, or an EFI zboot
// image), ArchARM for a 32-bit ARM zImage.
func KernelArch(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		return "", fmt.Errorf("kernel %s: %w", path, err)
	}
	head = head[:n]
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(head))
		if err != nil {
			return "", fmt.Errorf("kernel %s: %w", path, err)
		}
		inner := make([]byte, 4096)
		m, _ := io.ReadFull(zr, inner)
		head = inner[:m]
	}
	if a := headerArch(head); a != "" {
		return a, nil
	}
	return "", fmt.Errorf("kernel %s: not an arm64 Image or an ARM zImage", path)
}

func headerArch(h []byte) string {
	le32 := func(off int) uint32 {
		if off+4 > len(h) {
			return 0
		}
		return binary.LittleEndian.Uint32(h[off:])
	}
	switch {
	case le32(0x38) == arm64ImageMagic:
		return ArchARM64
	case le32(0x24) == armZImageMagic:
		return ArchARM
	}
	// An EFI stub image without either magic (arm64 zboot): the PE header's
	// machine type.
	if len(h) >= 0x40 && h[0] == 'M' && h[1] == 'Z' {
		pe := int(le32(0x3c))
		if pe > 0 && pe+6 <= len(h) && bytes.Equal(h[pe:pe+4], []byte("PE\x00\x00")) {
			switch binary.LittleEndian.Uint16(h[pe+4:]) {
			case peMachineARM64:
				return ArchARM64
			case peMachineARM, peMachineARMNT:
				return ArchARM
			}
		}
	}
	return ""
}

// archFromEnv is MYPOLL_ARCH, else the kernel image's architecture, else
// ArchARM64 (a kernel whose header says nothing known).
func archFromEnv(kernel string) (string, error) {
	if a := os.Getenv("MYPOLL_ARCH"); a != "" {
		if _, err := archOf(a); err != nil {
			return "", fmt.Errorf("MYPOLL_ARCH: %w", err)
		}
		return a, nil
	}
	if kernel == "" {
		return ArchARM64, nil
	}
	if a, err := KernelArch(kernel); err == nil {
		return a, nil
	}
	return ArchARM64, nil
}
