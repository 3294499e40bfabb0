// Package devicetest is the conformance suite for event devices with the
// /dev/mypoll user ABI (PROTOCOL.md section B). Run checks any
// device.Device: the user-space emulation in the host tests and the kernel
// module (device.Kernel("/dev/mypoll")) in the QEMU guest, so both are held
// to the same semantics: seqs, bursts, cursors and seeks, exact overflow
// accounting, read sizes, readiness, timers, validation, text control and
// stats.
//
// It is a normal package (not _test) so other test binaries import it. It
// must depend only on the device interface and internal/sys; it must not
// know which implementation it tests, the daemon or the socket protocol,
// and it must not assume a fresh device (next_seq 1) unless told so: each
// subtest bases its expectations on GET_INFO and GET_STATS read at its
// start. Devices must stamp records with the real CLOCK_MONOTONIC (an
// emulation on a ManualClock cannot run it).
package devicetest
