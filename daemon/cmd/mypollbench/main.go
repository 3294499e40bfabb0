// Command mypollbench measures mypolld against raw AF_UNIX baselines taken
// in the same run, and prints one table (make bench):
//
//	(a) broadcast fan-out to N subscriber processes: delivered events/s and
//	    daemon CPU per delivery, beside one process writing the same lines
//	    into N socketpairs, 32 lines per write;
//	(b) echo round trip p50/p99, driven by one C client (cref/lat.c) that
//	    blocks in read(2)/write(2), beside a raw socketpair ping-pong of two
//	    C processes and a C reference daemon (cref/crefd.c: one epoll loop,
//	    the same line protocol);
//	(c) one stalled client among 16: the healthy clients' rate and the
//	    daemon's RSS over time;
//	(d) the daemon's RSS with 1,000 idle clients;
//	(e) paced event latency at 100 and 1,000 events/s to N = 1, 16 and
//	    64 subscriber processes: p50/p99/p99.9 through the C reference
//	    daemon and each mypolld, alternating, with their ratios;
//	(f) an idle daemon's CPU over 10 s.
//
// The C programs are compiled at run time with $CC (default cc). -base runs
// a second mypolld build (e.g. main's) alternately with the first, for
// before/after numbers from one run. The daemon runs as its own process
// with --device emu. The machine may be shared and noisy: read the ratios
// within one run, not the absolute numbers.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "sub":
			os.Exit(subscriber(os.Args[2:]))
		case "raw-writer":
			os.Exit(rawWriter(os.Args[2:]))
		}
	}
	os.Exit(driver())
}

// eventLine is a 64-byte EVT line like the daemon sends for a trigger with
// payload 2^64-1 (what the fan-out measures).
func eventLine(seq uint64) []byte {
	l := fmt.Appendf(nil, "EVT %d trigger 0 18446744073709551615 %d %d\n", seq, seq%4096, 1_000_000_000_000+seq)
	return l
}

// subscriber counts event lines from a daemon socket or an inherited fd 3
// until SIGTERM, then prints "<events> <lost>". Mode "stall" never reads.
func subscriber(args []string) int {
	fs := flag.NewFlagSet("sub", flag.ExitOnError)
	sock := fs.String("socket", "", "daemon socket; empty reads fd 3")
	stall := fs.Bool("stall", false, "connect, then never read")
	fs.Parse(args)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	var r io.Reader
	if *sock != "" {
		nc, err := net.Dial("unix", *sock)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		br := bufio.NewReader(nc)
		br.ReadString('\n') // HELLO
		// Clients start subscribed to nothing (PROTOCOL.md A.5).
		fmt.Fprintf(nc, "subscribe all\n")
		if l, err := br.ReadString('\n'); err != nil || l != "OK subscribe all\n" {
			fmt.Fprintf(os.Stderr, "subscribe all: %q %v\n", l, err)
			return 1
		}
		fmt.Println("ready")
		if *stall {
			<-term
			fmt.Println("0 0")
			return 0
		}
		r = br
	} else {
		r = os.NewFile(3, "raw")
		fmt.Println("ready")
	}
	var events, lost uint64
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 1<<16)
		var partial []byte
		for {
			n, err := r.Read(buf)
			b := buf[:n]
			for {
				i := bytes.IndexByte(b, '\n')
				if i < 0 {
					partial = append(partial[:0], b...)
					break
				}
				line := b[:i]
				if len(partial) > 0 {
					line = append(partial, line...)
					partial = partial[:0]
				}
				switch {
				case bytes.HasPrefix(line, []byte("EVT ")):
					events++
				case bytes.HasPrefix(line, []byte("LOST ")):
					f := bytes.Fields(line)
					c, _ := strconv.ParseUint(string(f[3]), 10, 64)
					lost += c
				}
				b = b[i+1:]
			}
			if err != nil {
				close(done)
				return
			}
		}
	}()
	select {
	case <-term:
	case <-done:
	}
	fmt.Printf("%d %d\n", events, lost)
	return 0
}

// rawWriter writes 32 event lines per write into each of the fds 3..3+n-1
// for the given duration, then exits.
func rawWriter(args []string) int {
	n, _ := strconv.Atoi(args[0])
	d, _ := time.ParseDuration(args[1])
	var chunk []byte
	for i := range 32 {
		chunk = append(chunk, eventLine(uint64(1000000+i))...)
	}
	files := make([]*os.File, n)
	for i := range files {
		files[i] = os.NewFile(uintptr(3+i), "pair")
	}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for _, f := range files {
			if _, err := f.Write(chunk); err != nil {
				return 1
			}
		}
	}
	return 0
}

// daemon is the mypolld process under test.
type daemon struct {
	cmd  *exec.Cmd
	sock string
}

func startDaemon(bin, dir string, args ...string) (*daemon, error) {
	sock := filepath.Join(dir, "mypoll.sock")
	os.Remove(sock)
	return startServer(exec.Command(bin, append([]string{"--device", "emu", "--socket", sock, "--state-dir", "", "--log-level", "error"}, args...)...), sock)
}

// startServer starts cmd, a daemon that listens on sock (mypolld or the C
// reference), and waits until it accepts a connection.
func startServer(cmd *exec.Cmd, sock string) (*daemon, error) {
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for range 500 {
		if nc, err := net.Dial("unix", sock); err == nil {
			nc.Close()
			return &daemon{cmd: cmd, sock: sock}, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("%s did not start", filepath.Base(cmd.Path))
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()
}

// socketpairs returns n connected AF_UNIX stream pairs, the reading ends
// for subscribers and the writing ends for a raw baseline writer.
func socketpairs(n int) (readers, writers []*os.File, err error) {
	for range n {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			for _, f := range append(readers, writers...) {
				f.Close()
			}
			return nil, nil, err
		}
		readers = append(readers, os.NewFile(uintptr(fds[0]), "r"))
		writers = append(writers, os.NewFile(uintptr(fds[1]), "w"))
	}
	return readers, writers, nil
}

// procStat returns a process's CPU time and resident set size.
func procStat(pid int) (cpu time.Duration, rss uint64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if i := bytes.LastIndexByte(b, ')'); i > 0 {
		f := strings.Fields(string(b[i+2:]))
		ut, _ := strconv.Atoi(f[11])
		st, _ := strconv.Atoi(f[12])
		pages, _ := strconv.ParseUint(f[21], 10, 64)
		cpu = time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
		rss = pages * uint64(os.Getpagesize())
	}
	return cpu, rss
}

// subs is a set of subscriber processes.
type subs struct {
	cmds []*exec.Cmd
	outs []*bufio.Reader
}

func startSubs(self string, n int, extraArgs []string, files []*os.File) (*subs, error) {
	s := &subs{}
	for i := range n {
		cmd := exec.Command(self, append([]string{"sub"}, extraArgs...)...)
		if files != nil {
			cmd.ExtraFiles = []*os.File{files[i]}
		}
		r, err := startReady(cmd)
		if err != nil {
			return nil, err
		}
		s.cmds = append(s.cmds, cmd)
		s.outs = append(s.outs, r)
	}
	return s, nil
}

// startReady starts cmd, a subscriber (mypollbench sub or lat sub), and
// waits for its "ready" line; the reader has the rest of its output.
func startReady(cmd *exec.Cmd) (*bufio.Reader, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := bufio.NewReader(out)
	if l, err := r.ReadString('\n'); err != nil || l != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%s did not start: %q %v", strings.Join(cmd.Args[1:], " "), l, err)
	}
	return r, nil
}

// stop ends the subscribers and returns each one's delivered and lost counts.
func (s *subs) stop() (events, lost []uint64) {
	for _, c := range s.cmds {
		c.Process.Signal(syscall.SIGTERM)
	}
	for i, c := range s.cmds {
		var e, l uint64
		fmt.Fscan(s.outs[i], &e, &l)
		c.Wait()
		events, lost = append(events, e), append(lost, l)
	}
	return events, lost
}

func sum(v []uint64) (t uint64) {
	for _, x := range v {
		t += x
	}
	return t
}

// generate pipelines trigger requests for d, keeping two outstanding; with
// rate > 0 it paces bursts to rate events per second.
func generate(sock string, d time.Duration, rate int) (uint64, error) {
	nc, err := net.Dial("unix", sock)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	r.ReadString('\n')
	fmt.Fprintf(nc, "subscribe none\n")
	r.ReadString('\n')
	burst := 256
	if rate > 0 {
		burst = max(1, rate/200) // 200 bursts per second
	}
	req := []byte(fmt.Sprintf("trigger 0xffffffffffffffff %d\n", burst))
	var sent uint64
	start := time.Now()
	end := start.Add(d)
	outstanding := 0
	for time.Now().Before(end) || outstanding > 0 {
		if time.Now().Before(end) && outstanding < 2 {
			if rate > 0 {
				due := start.Add(time.Duration(float64(sent+uint64(outstanding*burst)) / float64(rate) * float64(time.Second)))
				time.Sleep(time.Until(due))
			}
			nc.Write(req)
			outstanding++
			continue
		}
		l, err := r.ReadString('\n')
		if err != nil {
			return sent, err
		}
		if !strings.HasPrefix(l, "OK trigger") {
			return sent, fmt.Errorf("trigger: %q", l)
		}
		outstanding--
		sent += uint64(burst)
	}
	return sent, nil
}

type fanout struct {
	n              int
	rate           float64 // delivered lines/s
	cpuUS          float64 // CPU µs per delivered line
	lost           uint64
	healthyRate    float64 // per-client rate, for the staller comparison
	rssMin, rssMax uint64
}

const window = 2 * time.Second

func measureFanout(self, bin, dir string, n int, stall bool, rate int) (fanout, error) {
	f := fanout{n: n}
	d, err := startDaemon(bin, dir)
	if err != nil {
		return f, err
	}
	defer d.stop()
	healthy := n
	if stall {
		healthy--
	}
	s, err := startSubs(self, healthy, []string{"--socket", d.sock}, nil)
	if err != nil {
		return f, err
	}
	var staller *subs
	if stall {
		if staller, err = startSubs(self, 1, []string{"--socket", d.sock, "--stall"}, nil); err != nil {
			return f, err
		}
	}
	pid := d.cmd.Process.Pid
	cpu0, rss := procStat(pid)
	f.rssMin, f.rssMax = rss, rss
	t0 := time.Now()
	rssDone := make(chan struct{})
	go func() {
		for {
			select {
			case <-rssDone:
				return
			case <-time.After(100 * time.Millisecond):
				_, r := procStat(pid)
				f.rssMin, f.rssMax = min(f.rssMin, r), max(f.rssMax, r)
			}
		}
	}()
	if _, err := generate(d.sock, window, rate); err != nil {
		return f, err
	}
	time.Sleep(200 * time.Millisecond) // let queues drain to the readers
	cpu1, _ := procStat(pid)
	elapsed := time.Since(t0)
	close(rssDone)
	events, lost := s.stop()
	if staller != nil {
		staller.stop()
	}
	total := sum(events)
	f.lost = sum(lost)
	f.rate = float64(total) / elapsed.Seconds()
	f.healthyRate = f.rate / float64(healthy)
	if total > 0 {
		f.cpuUS = float64((cpu1 - cpu0).Microseconds()) / float64(total)
	}
	return f, nil
}

func measureRaw(self string, n int) (rate, cpuUS float64, err error) {
	readers, writers, err := socketpairs(n)
	if err != nil {
		return 0, 0, err
	}
	s, err := startSubs(self, n, nil, readers)
	if err != nil {
		return 0, 0, err
	}
	for _, r := range readers {
		r.Close()
	}
	w := exec.Command(self, "raw-writer", strconv.Itoa(n), window.String())
	w.ExtraFiles = writers
	t0 := time.Now()
	if err := w.Run(); err != nil {
		return 0, 0, fmt.Errorf("raw writer: %w", err)
	}
	for _, f := range writers {
		f.Close()
	}
	elapsed := time.Since(t0)
	events, _ := s.stop()
	total := sum(events)
	cpu := w.ProcessState.UserTime() + w.ProcessState.SystemTime()
	return float64(total) / elapsed.Seconds(), float64(cpu.Microseconds()) / float64(total), nil
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(d)
	return d[len(d)/2], d[len(d)*99/100]
}

const rttRounds = 20000

// pingPong times rttRounds round trips of req (after 1,000 warm-up ones)
// with one request outstanding.
func pingPong(w io.Writer, r *bufio.Reader, req []byte) (p50, p99 time.Duration, err error) {
	rtt := make([]time.Duration, 0, rttRounds)
	for i := range rttRounds + 1000 {
		t := time.Now()
		if _, err := w.Write(req); err != nil {
			return 0, 0, err
		}
		if _, err := r.ReadSlice('\n'); err != nil {
			return 0, 0, err
		}
		if i >= 1000 {
			rtt = append(rtt, time.Since(t))
		}
	}
	p50, p99 = percentiles(rtt)
	return p50, p99, nil
}

func measureIdle(bin, dir string, n int) (base, loaded uint64, err error) {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = max(lim.Cur, min(lim.Max, uint64(n+256)))
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	d, err := startDaemon(bin, dir, "--max-clients", strconv.Itoa(n+16))
	if err != nil {
		return 0, 0, err
	}
	defer d.stop()
	time.Sleep(200 * time.Millisecond)
	_, base = procStat(d.cmd.Process.Pid)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		nc, err := net.Dial("unix", d.sock)
		if err != nil {
			return 0, 0, err
		}
		conns = append(conns, nc)
		buf := make([]byte, 64)
		if _, err := nc.Read(buf); err != nil {
			return 0, 0, err
		}
	}
	time.Sleep(300 * time.Millisecond)
	_, loaded = procStat(d.cmd.Process.Pid)
	return base, loaded, nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// party is one daemon build under test.
type party struct{ name, bin string }

func driver() int {
	bin := flag.String("mypolld", "", "mypolld binary (default: build it)")
	base := flag.String("base", "", "a second mypolld binary (e.g. main's) measured beside the first, alternating")
	only := flag.String("only", "abcdef", "sections to run, e.g. b for the echo round trip only")
	reps := flag.Int("reps", 5, "repetitions of sections a, b and e (medians are printed)")
	flag.Parse()
	run := func(sec string) bool { return strings.Contains(*only, sec) }
	self, _ := os.Executable()
	dir, err := os.MkdirTemp("", "mypollbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin == "" {
		*bin = filepath.Join(dir, "mypolld")
		build := exec.Command("go", "build", "-trimpath", "-o", *bin, "./daemon/cmd/mypolld")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "mypollbench: build mypolld:", err)
			return 1
		}
	}
	parties := []party{{"mypolld", *bin}}
	if *base != "" {
		parties = append(parties, party{"base", *base})
	}
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "mypollbench: %s: %v\n", what, err)
		return 1
	}
	ct, err := buildC(dir)
	if err != nil {
		return fail("build the C baselines", err)
	}

	fmt.Printf("mypollbench: daemon %s (--device emu), window %v per fan-out point, %d CPUs, %d repetitions (medians)\n", *bin, window, numCPU(), *reps)
	if *base != "" {
		fmt.Printf("    base: %s, measured alternately with it\n", *base)
	}
	fmt.Printf("    load average at start: %s\n", loadAvg())
	if run("a") {
		if code := benchFanout(self, parties, dir, *reps, fail); code != 0 {
			return code
		}
	}
	if run("b") {
		if code := benchEcho(self, parties, ct, dir, *reps, fail); code != 0 {
			return code
		}
	}
	if run("e") {
		if code := benchEventLat(parties, ct, dir, *reps, fail); code != 0 {
			return code
		}
	}
	if run("c") {
		if code := benchStall(self, *bin, dir, fail); code != 0 {
			return code
		}
	}
	if run("d") {
		fmt.Println("\n(d) idle clients")
		base, loaded, err := measureIdle(*bin, dir, 1000)
		if err != nil {
			return fail("idle clients", err)
		}
		fmt.Printf("    daemon RSS: %.1f MiB with no clients, %.1f MiB with 1000 idle clients (target < 16 MiB)\n", mib(base), mib(loaded))
	}
	if run("f") {
		fmt.Println("\n(f) idle daemon CPU over 10 s, one subscribed client connected (all threads, schedstat)")
		for _, p := range parties {
			for _, state := range []string{"", filepath.Join(dir, "state")} {
				cpu, err := measureIdleCPU(p.bin, dir, 10*time.Second, state)
				if err != nil {
					return fail("idle CPU", err)
				}
				what := "--state-dir \"\" (no timers)"
				if state != "" {
					what = "with a state dir (resume state saved within 200 ms of a change)"
				}
				fmt.Printf("    %-8s %8.3f ms CPU in 10 s (%.4f %% of one CPU), %s\n", p.name, float64(cpu)/1e6, float64(cpu)/float64(10*time.Second)*100, what)
			}
		}
	}
	fmt.Printf("\n    load average at end: %s\n", loadAvg())
	return 0
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// benchFanout is section (a): every party and the raw writer at N = 1, 16
// and 64, alternating within each repetition.
func benchFanout(self string, parties []party, dir string, reps int, fail func(string, error) int) int {
	fmt.Println("\n(a) broadcast fan-out, 64-byte events, N subscriber processes (medians)")
	fmt.Printf("%4s %-8s %14s %14s %7s  %12s %12s %7s  %10s\n", "N", "daemon", "daemon ev/s", "raw ev/s", "ratio", "daemon us/ev", "raw us/ev", "ratio", "lost")
	for _, n := range []int{1, 16, 64} {
		rate := make([][]time.Duration, len(parties)+1) // scaled: 1 unit = 1 ev/s or 1 ps/ev
		cpu := make([][]time.Duration, len(parties)+1)
		lost := make([]uint64, len(parties))
		for range reps {
			for i, p := range parties {
				f, err := measureFanout(self, p.bin, dir, n, false, 0)
				if err != nil {
					return fail("fan-out", err)
				}
				rate[i] = append(rate[i], time.Duration(f.rate))
				cpu[i] = append(cpu[i], time.Duration(f.cpuUS*1e6))
				lost[i] += f.lost
			}
			rr, rc, err := measureRaw(self, n)
			if err != nil {
				return fail("raw fan-out", err)
			}
			rate[len(parties)] = append(rate[len(parties)], time.Duration(rr))
			cpu[len(parties)] = append(cpu[len(parties)], time.Duration(rc*1e6))
		}
		rr, rc := float64(median(rate[len(parties)])), float64(median(cpu[len(parties)]))/1e6
		for i, p := range parties {
			r, c := float64(median(rate[i])), float64(median(cpu[i]))/1e6
			fmt.Printf("%4d %-8s %14.0f %14.0f %7.2f  %12.3f %12.3f %7.2f  %10d\n", n, p.name, r, rr, r/rr, c, rc, c/rc, lost[i])
		}
	}
	fmt.Println("    target: mypolld CPU per delivery at N=64 <= 0.15 us (raw coalesced writes: ~0.07 us)")
	return 0
}

// benchEcho is section (b): the same C client (lat) against a raw
// socketpair peer, the C reference daemon and each mypolld; plus mypolld
// through a Go net.Conn client, for the client side's share.
func benchEcho(self string, parties []party, ct ctools, dir string, reps int, fail func(string, error) int) int {
	fmt.Printf("\n(b) echo round trip, one request outstanding, %d rounds, medians of %d runs of p50/p99 (us)\n", rttRounds, reps)
	type row struct {
		name     string
		p50, p99 []time.Duration
	}
	rows := []*row{{name: "raw socketpair ping-pong (C, both blocking in read/write)"}, {name: "C reference daemon (epoll, C client)"}}
	for _, p := range parties {
		rows = append(rows, &row{name: p.name + " (C client)"})
	}
	for _, p := range parties {
		rows = append(rows, &row{name: p.name + " (Go net.Conn client)"})
	}
	add := func(r *row, p50, p99 time.Duration) { r.p50, r.p99 = append(r.p50, p50), append(r.p99, p99) }
	rounds := strconv.Itoa(rttRounds)
	for range reps {
		p50, p99, err := latRTT(ct.lat, "pingpong", rounds)
		if err != nil {
			return fail("raw ping-pong", err)
		}
		add(rows[0], p50, p99)
		cd, err := startCref(ct, dir)
		if err != nil {
			return fail("C reference", err)
		}
		p50, p99, err = latRTT(ct.lat, "echo", cd.sock, rounds)
		cd.stop()
		if err != nil {
			return fail("C reference echo", err)
		}
		add(rows[1], p50, p99)
		for i, p := range parties {
			d, err := startDaemon(p.bin, dir)
			if err != nil {
				return fail("echo", err)
			}
			p50, p99, err = latRTT(ct.lat, "echo", d.sock, rounds)
			if err == nil {
				add(rows[2+i], p50, p99)
				p50, p99, err = goEcho(d.sock)
				add(rows[2+len(parties)+i], p50, p99)
			}
			d.stop()
			if err != nil {
				return fail("echo", err)
			}
		}
	}
	for _, r := range rows {
		fmt.Printf("    %-58s p50 %7.1f  p99 %7.1f\n", r.name, us(median(r.p50)), us(median(r.p99)))
	}
	raw50, raw99, c50, c99 := median(rows[0].p50), median(rows[0].p99), median(rows[1].p50), median(rows[1].p99)
	for i, p := range parties {
		m50, m99 := median(rows[2+i].p50), median(rows[2+i].p99)
		fmt.Printf("    %s: p50 %.2fx C reference (target <= 1.5), %.2fx raw (target <= 2); p99 %.2fx C reference, %.2fx raw (target <= 3)\n",
			p.name, float64(m50)/float64(c50), float64(m50)/float64(raw50), float64(m99)/float64(c99), float64(m99)/float64(raw99))
	}
	return 0
}

// goEcho is the old client of this section: Go's net.Conn, whose reads go
// through the runtime's netpoller.
func goEcho(sock string) (p50, p99 time.Duration, err error) {
	nc, err := net.Dial("unix", sock)
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	r.ReadString('\n')
	return pingPong(nc, r, []byte("echo ping\n"))
}

// benchEventLat is section (e): paced event latency, publisher send to
// subscriber read, through the C reference daemon and each mypolld, at
// 100 and 1,000 events/s and N = 1, 16, 64. The order of the daemons
// rotates with each repetition, so that no one always runs first (or
// right after another's teardown).
func benchEventLat(parties []party, ct ctools, dir string, reps int, fail func(string, error) int) int {
	t0 := time.Now()
	fmt.Printf("\n(e) paced event latency: one trigger per event from a C publisher (lat pub), N C subscribers (lat sub),\n")
	fmt.Printf("    send-to-read us, percentiles of all %d runs' samples pooled (every subscriber's); daemons alternate within each repetition\n", reps)
	fmt.Printf("    load average at start of (e): %s\n", loadAvg())
	fmt.Printf("    %5s %3s  %-18s %7s %8s %8s %8s   %s\n", "ev/s", "N", "daemon", "samples", "p50", "p99", "p99.9", "ratio to C reference p50/p99/p99.9")
	type runner struct {
		name  string
		start func() (*daemon, error)
	}
	runners := []runner{{"C reference", func() (*daemon, error) { return startCref(ct, dir) }}}
	for _, p := range parties {
		runners = append(runners, runner{p.name, func() (*daemon, error) { return startDaemon(p.bin, dir) }})
	}
	for _, pr := range pacedRuns {
		for _, n := range []int{1, 16, 64} {
			pooled := make([][]time.Duration, len(runners))
			for r := range reps {
				for k := range runners {
					i := (k + r) % len(runners)
					d, err := runners[i].start()
					if err != nil {
						return fail(runners[i].name, err)
					}
					lat, err := measureEventLat(ct, d.sock, n, pr)
					d.stop()
					if err != nil {
						return fail(runners[i].name+" event latency", err)
					}
					pooled[i] = append(pooled[i], lat...)
				}
			}
			var c tail
			for i, rn := range runners {
				m := tailOf(pooled[i])
				if i == 0 {
					c = m
				}
				fmt.Printf("    %5d %3d  %-18s %7d %8.1f %8.1f %8.1f", pr.rate, n, rn.name, len(pooled[i]), us(m[0]), us(m[1]), us(m[2]))
				if i > 0 {
					fmt.Printf("   %.2fx %.2fx %.2fx", float64(m[0])/float64(c[0]), float64(m[1])/float64(c[1]), float64(m[2])/float64(c[2]))
				}
				fmt.Println()
			}
		}
	}
	fmt.Printf("    target: mypolld p99 and p99.9 <= 1.2x the C reference in every row; runs: %s; section took %.0f s\n", pacedDesc(), time.Since(t0).Seconds())
	fmt.Printf("    load average at end of (e): %s\n", loadAvg())
	return 0
}

func pacedDesc() string {
	var d []string
	for _, pr := range pacedRuns {
		d = append(d, fmt.Sprintf("%d ev/s for %d s", pr.rate, pr.secs))
	}
	return strings.Join(d, ", ")
}

// measureIdleCPU starts a daemon with one subscribed, idle client and
// returns the daemon's CPU time over d.
func measureIdleCPU(bin, dir string, d time.Duration, stateDir string) (time.Duration, error) {
	dm, err := startDaemon(bin, dir, "--state-dir", stateDir)
	if err != nil {
		return 0, err
	}
	defer dm.stop()
	nc, err := net.Dial("unix", dm.sock)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	r.ReadString('\n')
	fmt.Fprintf(nc, "subscribe all\n")
	if l, err := r.ReadString('\n'); err != nil || l != "OK subscribe all\n" {
		return 0, fmt.Errorf("subscribe all: %q %v", l, err)
	}
	time.Sleep(500 * time.Millisecond)
	return idleCPU(dm.cmd.Process.Pid, d), nil
}

func benchStall(self, bin, dir string, fail func(string, error) int) int {
	const paced = 50000
	fmt.Printf("\n(c) one stalled client among 16, publisher paced at %d events/s\n", paced)
	fan16, err := measureFanout(self, bin, dir, 16, false, paced)
	if err != nil {
		return fail("paced fan-out", err)
	}
	st, err := measureFanout(self, bin, dir, 16, true, paced)
	if err != nil {
		return fail("stalled fan-out", err)
	}
	fmt.Printf("    healthy per-client rate %.0f ev/s vs %.0f without the staller: ratio %.2f (target >= 0.90); healthy clients lost %d (without staller %d)\n",
		st.healthyRate, fan16.healthyRate, st.healthyRate/fan16.healthyRate, st.lost, fan16.lost)
	fmt.Printf("    daemon RSS during the run: min %.1f MiB, max %.1f MiB (without staller: %.1f..%.1f MiB)\n",
		mib(st.rssMin), mib(st.rssMax), mib(fan16.rssMin), mib(fan16.rssMax))
	return 0
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return bytes.Count(b, []byte("processor\t:"))
}
