// Package lava holds no code: its tests check the LAVA job definitions,
// the test definition and the device configurations of this directory with
// LAVA's own schemas and dispatcher (Debian's lava-common and
// lava-dispatcher), and run the qemu job with lava-run (make
// test-lava-run).
//
// It must not know how the daemon or the module work: only what the
// on-target runner (overlay/bin/mypoll-lava-tests) reports as LAVA test
// cases, and the artifact names make lava-image writes.
package lava
