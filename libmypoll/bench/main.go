// Command bench measures the events per second that 16 subscriber processes
// receive from mypolld (--device emu) through libmypoll, beside 16 using the
// Go client package, in the same run (make bench-libmypoll).
//
//	go run ./libmypoll/bench -mypolld PATH -csub PATH
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mypoll/mypoll/client"
)

const (
	subscribers = 16
	window      = 2 * time.Second
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "sub" {
		os.Exit(goSubscriber(os.Args[2]))
	}
	os.Exit(driver())
}

// goSubscriber counts events with the Go client until SIGTERM, then prints
// "<events> <lost>" like bench_sub.c.
func goSubscriber(sock string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	c, err := client.Dial(ctx, sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	if err := c.Subscribe(ctx, "all", 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	var events, lost uint64
	for {
		m, err := c.Next(ctx)
		if err != nil {
			break
		}
		if m.Event != nil {
			events++
		} else {
			lost += m.Lost.Count
		}
	}
	fmt.Printf("%d %d\n", events, lost)
	return 0
}

type sub struct {
	cmd *exec.Cmd
	out *bufio.Reader
}

func startSubs(argv []string) ([]sub, error) {
	var subs []sub
	for range subscribers {
		cmd := exec.Command(argv[0], argv[1:]...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return subs, err
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return subs, err
		}
		s := sub{cmd, bufio.NewReader(out)}
		subs = append(subs, s)
		if l, err := s.out.ReadString('\n'); err != nil || l != "ready\n" {
			return subs, fmt.Errorf("subscriber %v did not start: %q %v", argv, l, err)
		}
	}
	return subs, nil
}

func stopSubs(subs []sub) (events, lost uint64) {
	for _, s := range subs {
		s.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, s := range subs {
		var e, l uint64
		fmt.Fscan(s.out, &e, &l)
		s.cmd.Wait()
		events, lost = events+e, lost+l
	}
	return events, lost
}

// generate pipelines trigger requests for d, two outstanding (as
// daemon/cmd/mypollbench does).
func generate(sock string, d time.Duration) error {
	nc, err := net.Dial("unix", sock)
	if err != nil {
		return err
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	r.ReadString('\n')
	fmt.Fprintf(nc, "subscribe none\n")
	r.ReadString('\n')
	req := []byte("trigger 0xffffffffffffffff 256\n")
	end := time.Now().Add(d)
	outstanding := 0
	for time.Now().Before(end) || outstanding > 0 {
		if time.Now().Before(end) && outstanding < 2 {
			nc.Write(req)
			outstanding++
			continue
		}
		l, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(l, "OK trigger") {
			return fmt.Errorf("trigger: %q", l)
		}
		outstanding--
	}
	return nil
}

// measure runs one daemon, the subscribers argv(sock) and the generator, and
// returns delivered events per second over all subscribers, and the lost.
func measure(bin, dir string, argv func(sock string) []string) (rate float64, lost uint64, err error) {
	sock := filepath.Join(dir, "mypoll.sock")
	os.Remove(sock)
	d := exec.Command(bin, "--device", "emu", "--socket", sock, "--state-dir", "", "--log-level", "error")
	d.Stderr = os.Stderr
	if err := d.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { d.Process.Signal(syscall.SIGTERM); d.Wait() }()
	up := false
	for range 500 {
		if nc, err := net.Dial("unix", sock); err == nil {
			nc.Close()
			up = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !up {
		return 0, 0, errors.New("mypolld did not start")
	}
	subs, err := startSubs(argv(sock))
	if err != nil {
		stopSubs(subs)
		return 0, 0, err
	}
	t0 := time.Now()
	if err := generate(sock, window); err != nil {
		stopSubs(subs)
		return 0, 0, err
	}
	time.Sleep(200 * time.Millisecond) // let the queues drain to the readers
	elapsed := time.Since(t0)
	events, lost := stopSubs(subs)
	return float64(events) / elapsed.Seconds(), lost, nil
}

func driver() int {
	bin := flag.String("mypolld", "", "mypolld binary")
	csub := flag.String("csub", "", "libmypoll subscriber (libmypoll/tests/bench_sub.c)")
	flag.Parse()
	self, err := os.Executable()
	if err != nil || *bin == "" || *csub == "" {
		fmt.Fprintln(os.Stderr, "usage: bench -mypolld PATH -csub PATH")
		return 2
	}
	dir, err := os.MkdirTemp("", "libmypoll-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cRate, cLost, err := measure(*bin, dir, func(s string) []string { return []string{*csub, s} })
	if err != nil {
		fmt.Fprintln(os.Stderr, "libmypoll bench: C subscribers:", err)
		return 1
	}
	goRate, goLost, err := measure(*bin, dir, func(s string) []string { return []string{self, "sub", s} })
	if err != nil {
		fmt.Fprintln(os.Stderr, "libmypoll bench: Go subscribers:", err)
		return 1
	}
	fmt.Printf("\nlibmypoll: %d subscriber processes, 64-byte events, window %v, mypolld --device emu\n", subscribers, window)
	fmt.Printf("%4s  %16s %16s %12s  %10s %10s\n", "N", "libmypoll ev/s", "Go client ev/s", "ratio C/Go", "lost C", "lost Go")
	fmt.Printf("%4d  %16.0f %16.0f %12.2f  %10d %10d\n", subscribers, cRate, goRate, cRate/goRate, cLost, goLost)
	return 0
}
