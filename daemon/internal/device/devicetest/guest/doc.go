// Package guest runs the device conformance suite (devicetest) against
// the real /dev/mypoll inside the QEMU guest. Its test is built only with
// the mypoll_guest tag, as a static test binary for the guest image:
//
//	CGO_ENABLED=0 GOARCH=arm64 go test -c -tags mypoll_guest \
//	    -o out/guest/mypoll-devicetest.test ./daemon/internal/device/devicetest/guest
//
// and run as root in the guest after mypoll.ko is loaded (test_hooks=1 to
// include the unplug subtest, which kills the instance: reload the module
// afterwards). Environment: MYPOLL_DEVICE (default /dev/mypoll),
// MYPOLL_DEVICE_UNPLUG (the debugfs unplug hook; unset skips nothing but
// leaves the unplug subtest out), MYPOLL_DEVICE_FRESH=1 (the module was
// just loaded and nothing else opened it), MYPOLL_TIMEOUT_MULT (waits).
//
// It lives under daemon/ because devicetest, device and sys are internal
// to daemon/ and cannot be imported from kmod/. It must not load modules
// or know the daemon.
package guest
