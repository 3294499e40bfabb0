package main

import (
	"bufio"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The C programs of the honest baselines (issue 11): crefd, a one-loop
// epoll daemon speaking the same echo/subscribe/trigger lines, and lat, the
// timing client that drives every measured party the same way, blocking in
// read(2)/write(2) with no language runtime in between.
var (
	//go:embed cref/crefd.c
	crefdSrc []byte
	//go:embed cref/lat.c
	latSrc []byte
)

// ctools are the compiled C programs.
type ctools struct{ crefd, lat string }

// buildC compiles the C programs into dir with $CC (default cc).
func buildC(dir string) (ctools, error) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	t := ctools{crefd: filepath.Join(dir, "crefd"), lat: filepath.Join(dir, "lat")}
	for _, p := range []struct {
		out string
		src []byte
	}{{t.crefd, crefdSrc}, {t.lat, latSrc}} {
		src := p.out + ".c"
		if err := os.WriteFile(src, p.src, 0o644); err != nil {
			return t, err
		}
		cmd := exec.Command(cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", p.out, src)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return t, fmt.Errorf("%s %s: %w", cc, filepath.Base(src), err)
		}
	}
	return t, nil
}

// startCref runs the C reference daemon on dir/cref.sock.
func startCref(t ctools, dir string) (*daemon, error) {
	sock := filepath.Join(dir, "cref.sock")
	return startServer(exec.Command(t.crefd, sock), sock)
}

// latRTT runs one lat round-trip mode and parses "<p50_ns> <p99_ns>".
func latRTT(args ...string) (p50, p99 time.Duration, err error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", strings.Join(args[1:], " "), err)
	}
	var a, b int64
	if _, err := fmt.Sscan(string(out), &a, &b); err != nil {
		return 0, 0, fmt.Errorf("%s: %q: %w", strings.Join(args[1:], " "), out, err)
	}
	return time.Duration(a), time.Duration(b), nil
}

// latSubs starts n lat subscribers (on sock, or on the given fds) and
// waits until each is ready.
func latSubs(t ctools, n int, sock string, files []*os.File) ([]*exec.Cmd, []*bufio.Reader, error) {
	var cmds []*exec.Cmd
	var outs []*bufio.Reader
	for i := range n {
		arg := sock
		if files != nil {
			arg = "-"
		}
		cmd := exec.Command(t.lat, "sub", arg)
		if files != nil {
			cmd.ExtraFiles = []*os.File{files[i]}
		}
		r, err := startReady(cmd)
		if err != nil {
			return cmds, outs, err
		}
		cmds, outs = append(cmds, cmd), append(outs, r)
	}
	return cmds, outs, nil
}

// stopLatSubs ends the subscribers and pools their latencies.
func stopLatSubs(cmds []*exec.Cmd, outs []*bufio.Reader) []time.Duration {
	for _, c := range cmds {
		c.Process.Signal(syscall.SIGTERM)
	}
	var all []time.Duration
	for i, c := range cmds {
		for {
			l, err := outs[i].ReadString('\n')
			if v, perr := strconv.ParseInt(strings.TrimSpace(l), 10, 64); perr == nil {
				all = append(all, time.Duration(v))
			}
			if err != nil {
				break
			}
		}
		c.Wait()
	}
	return all
}

// pacedRun is one paced point of section (e): rate events/s for secs
// seconds, one event per trigger, each carrying its send time
// (CLOCK_MONOTONIC) as payload.
type pacedRun struct{ rate, secs int }

// pacedRuns are the rates of section (e). The percentiles pool every
// run's samples: at N=1 and 5 repetitions that is 3,000 samples at 100
// events/s (the p99.9 has 3 samples above it) and 10,000 at 1,000.
var pacedRuns = []pacedRun{{100, 6}, {1000, 2}}

// measureEventLat times events from a lat publisher through a daemon
// (mypolld or crefd) on sock to n lat subscribers and returns every
// subscriber's samples, pooled.
func measureEventLat(t ctools, sock string, n int, pr pacedRun) ([]time.Duration, error) {
	cmds, outs, err := latSubs(t, n, sock, nil)
	if err != nil {
		stopLatSubs(cmds, outs)
		return nil, err
	}
	pub := exec.Command(t.lat, "pub", sock, strconv.Itoa(pr.rate), strconv.Itoa(pr.secs))
	pub.Stderr = os.Stderr
	perr := pub.Run()
	time.Sleep(50 * time.Millisecond)
	lat := stopLatSubs(cmds, outs)
	if perr != nil {
		return nil, fmt.Errorf("lat pub: %w", perr)
	}
	if want := n * pr.rate * pr.secs; len(lat) < want*9/10 {
		return nil, fmt.Errorf("only %d of %d events timed", len(lat), want)
	}
	return lat, nil
}

// tail is the p50, p99 and p99.9 of one run's samples.
type tail [3]time.Duration

func tailOf(d []time.Duration) tail {
	slices.Sort(d)
	at := func(permille int) time.Duration { return d[min(len(d)-1, len(d)*permille/1000)] }
	return tail{at(500), at(990), at(999)}
}

// idleCPU returns the CPU time all of pid's threads used over d
// (/proc/<pid>/task/*/schedstat, nanoseconds).
func idleCPU(pid int, d time.Duration) time.Duration {
	sum := func() (t time.Duration) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		for _, p := range tasks {
			b, _ := os.ReadFile(p)
			if f := strings.Fields(string(b)); len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				t += time.Duration(v)
			}
		}
		return t
	}
	a := sum()
	time.Sleep(d)
	return sum() - a
}

// median returns the median of v (v is sorted in place).
func median(v []time.Duration) time.Duration {
	slices.Sort(v)
	return v[len(v)/2]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
