package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// childConnectLoop connects to sock in a tight loop until its stdin
// closes, reading the first line of every connection it gets. It prints
// "ready" after its first attempt and, at the end, "attempts connects
// hellos".
func childConnectLoop(sock string) int {
	var stop atomic.Bool
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	sa := &syscall.SockaddrUnix{Name: sock}
	buf := make([]byte, 256)
	var attempts, connects, hellos int
	for !stop.Load() {
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		err = syscall.Connect(fd, sa)
		if err == nil {
			connects++
			_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 1})
			if n, _ := syscall.Read(fd, buf); n > 0 && strings.HasPrefix(string(buf[:n]), "HELLO ") {
				hellos++
			}
		}
		syscall.Close(fd)
		if attempts == 0 {
			fmt.Println("ready")
		}
		attempts++
	}
	fmt.Println(attempts, connects, hellos)
	return 0
}

// childHold opens n (the decimal in req) connections to sock one after
// another and prints, for each, its first line and "+EOF" when the server
// closed it right after. It keeps the connections until its stdin closes.
func childHold(sock, req string) int {
	n, err := strconv.Atoi(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	conns := make([]net.Conn, 0, n)
	for range n {
		nc, err := net.Dial("unix", sock)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		conns = append(conns, nc)
		_ = nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(nc)
		l, err := r.ReadString('\n')
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		l = strings.TrimSuffix(l, "\n")
		if strings.HasPrefix(l, "ERR ") {
			if _, err := r.ReadByte(); err == io.EOF {
				l += "+EOF"
			}
		}
		fmt.Println(l)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, nc := range conns {
		nc.Close()
	}
	return 0
}

// child is a running test binary in one of the child roles, as another uid.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// startChild runs bin in mode with cred; its stdout is read by line.
func startChild(t *testing.T, bin, sock, mode, req string, cred *syscall.Credential) *child {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "MYPOLL_TEST_CHILD_SOCK="+sock, "MYPOLL_TEST_CHILD_MODE="+mode, "MYPOLL_TEST_CHILD_REQ="+req)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() { c.stop() })
	return c
}

// line returns the child's next output line.
func (c *child) line() string {
	c.t.Helper()
	if !c.out.Scan() {
		c.t.Fatalf("child %v: no more output (%v)", c.cmd.Args, c.out.Err())
	}
	return c.out.Text()
}

// stop closes the child's stdin and waits for it to exit.
func (c *child) stop() {
	if c.stdin == nil {
		return
	}
	c.stdin.Close()
	c.stdin = nil
	if err := c.cmd.Wait(); err != nil {
		c.t.Errorf("child %v: %v", c.cmd.Args, err)
	}
}
