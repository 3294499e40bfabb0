// Package qemu is the host side of the aarch64 test target: it boots
// qemu-system-aarch64 with a kernel and an initramfs (or rootfs disk), keeps
// and scans the serial console for kernel trouble, runs the nonce handshake
// and a yamux client over the virtio-serial port "mypoll.test", and gives
// tests the agent's ops: Dial (a net.Conn to a guest unix socket), Exec,
// Fetch, Put, Signal, Daemon, KernelLog, Insmod, Rmmod and Poweroff, plus
// Forward to expose a guest socket on the host.
//
// It does not import testing: package qemutest ties a VM to a test
// (timeouts from the test deadline times MYPOLL_TIMEOUT_MULT, the console
// log kept, a cleanup that powers off and fails the test on kernel
// complaints, a skip without a configured VM unless MYPOLL_REQUIRE_VM=1).
// Exported signatures use only this package's own types: the agent
// protocol (qemu/internal/wire) stays internal.
//
// It must not know the daemon's protocol or the kernel module's ABI: it
// moves bytes between the test and the guest.
package qemu
