package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// configureNet brings up lo and gives an interface a static IPv4 address:
// spec "IFACE,ADDR/PREFIX" (mypolltest.net=), for an agent that serves TCP.
// It waits up to wait for the interface (its driver may still be probing).
func configureNet(spec string, wait time.Duration) error {
	ifname, cidr, ok := strings.Cut(spec, ",")
	if !ok {
		return fmt.Errorf("net %q: want IFACE,ADDR/PREFIX", spec)
	}
	ip, ipnet, err := net.ParseCIDR(cidr)
	if err != nil || ip.To4() == nil {
		return fmt.Errorf("net %q: want an IPv4 ADDR/PREFIX", spec)
	}
	deadline := time.Now().Add(wait)
	for {
		if _, err := os.Stat("/sys/class/net/" + ifname); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no interface %s after %v", ifname, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := ifUp(fd, "lo"); err != nil {
		return err
	}
	ifr, err := unix.NewIfreq(ifname)
	if err != nil {
		return err
	}
	if err := ifr.SetInet4Addr(ip.To4()); err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFADDR, ifr); err != nil {
		return fmt.Errorf("%s: set address: %w", ifname, err)
	}
	if err := ifr.SetInet4Addr(net.IP(ipnet.Mask).To4()); err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFNETMASK, ifr); err != nil {
		return fmt.Errorf("%s: set netmask: %w", ifname, err)
	}
	return ifUp(fd, ifname)
}

func ifUp(fd int, name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("%s: get flags: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("%s: up: %w", name, err)
	}
	return nil
}
