// Command mkimage writes the QEMU guest initramfs: the agent as /init, the
// virtio modules it needs (resolved from .modinfo, vermagic checked),
// optionally mypolld, mypoll.ko and guest test binaries. The image is named by
// the hash of its inputs, so a rerun with the same inputs reuses it; the
// directory's "current" file names the newest one.
//
// Usage:
//
//	mkimage -kernel-env out/kernel/kernel.env -agent AGENT -o out/image \
//	    [-daemon MYPOLLD] [-kmod MYPOLL.KO] [-bins "A B ..."] [-modules virtio_pci,virtio_console]
//
// It must not know how the image is booted: it only resolves and places files.
package main
