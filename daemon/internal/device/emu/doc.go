// Package emu is a user-space event device with the semantics of the
// /dev/mypoll module (PROTOCOL.md section B): one shared ring, per-File
// cursors with exact OVERFLOW records, trigger bursts, eight coalescing
// timers, stats, reader info, text control writes and an unplug hook. It
// implements device.Device for hosts without the module (tests, the
// daemon's --device emu) and passes the same conformance suite
// (devicetest) as the kernel module.
//
// Readiness is a per-File eventfd kept in step with the cursor under the
// device's one mutex, so level-triggered epoll on File.FD never misses a
// wakeup. Time comes from a Clock: the real CLOCK_MONOTONIC by default, or
// a ManualClock that makes timer coalescing deterministic in tests.
//
// It must not know the socket protocol, clients or the daemon's loop; it
// must not use unsafe or golang.org/x/sys/unix (eventfds come from
// internal/sys).
package emu
