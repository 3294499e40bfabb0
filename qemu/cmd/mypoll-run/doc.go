// Command mypoll-run boots the aarch64 test image with mypolld and
// mypoll.ko, forwards the guest daemon's socket to a host socket (default
// out/mypoll.sock), streams the serial console to stderr and powers the
// guest off on Ctrl-C. It uses the same configuration as the tests
// (qemu.ConfigFromEnv: out/kernel/kernel.env, out/image/current, MYPOLL_*).
//
// It must not know the daemon's protocol: it forwards bytes.
package main
