package qemu

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
)

// Forward listens on the host unix socket hostSock and proxies each
// accepted connection to a new connection to guestSock in the guest (one
// DIAL stream each); EOF on either side becomes a half-close on the other.
// A stale socket file at hostSock is replaced. It returns when ctx ends
// (nil) or the listener fails, after removing hostSock.
func (vm *VM) Forward(ctx context.Context, hostSock, guestSock string) error {
	if c, err := net.Dial("unix", hostSock); err == nil {
		c.Close()
		return vm.phaseErr("forward", fmt.Errorf("%s is in use", hostSock))
	}
	_ = os.Remove(hostSock)
	l, err := net.Listen("unix", hostSock)
	if err != nil {
		return vm.phaseErr("forward", err)
	}
	defer os.Remove(hostSock)
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return vm.phaseErr("forward", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			g, err := vm.Dial(ctx, guestSock)
			if err != nil {
				vm.log.Warn("forward: dial guest socket", "socket", guestSock, "error", err)
				return
			}
			defer g.Close()
			unblock := context.AfterFunc(ctx, func() { _ = c.Close(); _ = g.Close() })
			defer unblock()
			proxy(c.(*net.UnixConn), g.(*dialConn))
		}()
	}
}

type halfCloser interface {
	io.ReadWriter
	CloseWrite() error
}

// proxy copies both ways; each direction's EOF half-closes the other side.
func proxy(a, b halfCloser) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src halfCloser) {
		defer wg.Done()
		_, _ = io.Copy(dst, src) // an error ends the direction like EOF
		_ = dst.CloseWrite()
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
}
