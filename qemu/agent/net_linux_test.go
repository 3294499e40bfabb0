package main

import (
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestConfigureNet sets an address on lo in a fresh network namespace
// (root only) and checks the kernel reports it, with the interface up.
func TestConfigureNet(t *testing.T) {
	if unix.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	errc := make(chan error, 1)
	var addrs []net.Addr
	var flags net.Flags
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		if err := configureNet("lo,127.0.0.9/8", time.Second); err != nil {
			errc <- err
			return
		}
		ifi, err := net.InterfaceByName("lo")
		if err == nil {
			flags = ifi.Flags
			addrs, err = ifi.Addrs()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range addrs {
		if a.String() == "127.0.0.9/8" {
			found = true
		}
	}
	if !found || flags&net.FlagUp == 0 {
		t.Errorf("lo: flags %v, addrs %v; want up with 127.0.0.9/8", flags, addrs)
	}
	if err := configureNet("lo", time.Second); err == nil {
		t.Errorf("configureNet without an address accepted")
	}
}
