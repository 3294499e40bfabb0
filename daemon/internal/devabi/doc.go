// Package devabi is the Go mirror of the /dev/mypoll user ABI
// (kmod/include/uapi/linux/mypoll.h, PROTOCOL.md section B): record and
// control struct layouts, ioctl numbers, constants and the record decoder.
//
// It must not know how the structs reach the kernel: it does no I/O and
// imports neither golang.org/x/sys/unix nor unsafe (internal/sys performs the
// ioctls). Every struct here must match mypoll.h byte for byte; the layout
// test checks sizes and offsets, and kmod's ABI test checks them against the
// C header.
package devabi
