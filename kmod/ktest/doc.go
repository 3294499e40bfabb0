// Package ktest holds the tests of the mypoll kernel module that need a
// kernel to load it into: the torture suite, built with the mypoll_guest
// tag as a static arm64 test binary that runs as root inside the QEMU
// guest (out/guest/mypoll-kmod.test, installed as /bin/mypoll-kmod.test),
// and vm_test.go, the host test that boots the guest and runs, in order,
// the device conformance suite (daemon/internal/device/devicetest/guest) on
// a fresh instance, this suite, and its ABI subset built for 32-bit ARM
// (out/guest/mypoll-kmod-arm.test, through the compat layer).
//
// The guest tests load and unload mypoll.ko themselves, so they must not
// share the guest with anything that keeps /dev/mypoll open (mypolld). They
// mirror the uapi structs of kmod/include/uapi/linux/mypoll.h locally:
// daemon/internal/devabi is internal to daemon/ and cannot be imported
// from here. The package must not know the daemon or its socket protocol.
package ktest
