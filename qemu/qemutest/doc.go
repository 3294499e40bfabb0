// Package qemutest ties qemu VMs to Go tests: DefaultConfig finds the VM
// from the environment and skips the test without one (unless
// MYPOLL_REQUIRE_VM=1), StartT boots it for the test and checks the guest
// kernel at cleanup. It is the only part of the harness that imports
// testing; the library itself is in package qemu.
//
// It must not know the daemon's protocol or the kernel module's ABI, as
// package qemu must not.
package qemutest
