// Package image builds the guest initramfs for the QEMU target: it resolves
// kernel modules and their dependencies from the .modinfo ELF section of the
// .ko files (checking vermagic against the kernel release), and writes a newc
// cpio archive (u-root's pkg/cpio) whose name is the hash of its inputs.
//
// It must not know QEMU, the agent's protocol or the daemon: it only places
// files. It runs on the host and never boots anything.
package image
