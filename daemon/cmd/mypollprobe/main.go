// Command mypollprobe is the guest-side helper of the end-to-end tests
// (tests/) and of the in-guest benchmark: it does what a host test cannot do
// through the QEMU proxy (hold a passed descriptor, switch uid, touch the
// device directly while the daemon is stopped, time the daemon without the
// proxy in the way). Every subcommand prints one JSON object on stdout.
// It is built for the test image only, not installed on products.
//
//	mypollprobe info [--device PATH]
//	mypollprobe trigger [--device PATH] --count N [--payload P]
//	mypollprobe request --socket S [--uid U --gid G --groups G1,G2] REQUEST...
//	mypollprobe opendevice --socket S
//	mypollprobe bench --socket S [--clients 16] [--seconds 3]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mypollprobe info|trigger|request|opendevice|bench [flags]")
		os.Exit(2)
	}
	var (
		out any
		err error
	)
	args := os.Args[2:]
	switch os.Args[1] {
	case "info":
		out, err = info(args)
	case "trigger":
		out, err = trigger(args)
	case "request":
		out, err = request(args)
	case "opendevice":
		out, err = openDevice(args)
	case "bench":
		out, err = bench(args)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mypollprobe %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

type infoOut struct {
	InstanceID string `json:"instance_id"`
	RingSize   uint32 `json:"ring_size"`
	MaxBurst   uint32 `json:"max_burst"`
	NextSeq    uint64 `json:"next_seq"`
	OldestSeq  uint64 `json:"oldest_seq"`
	Generated  uint64 `json:"generated"`
	Readers    uint32 `json:"readers"`
	Active     uint32 `json:"active_timers"`
}

func info(args []string) (any, error) {
	fs := flag.NewFlagSet("info", flag.ExitOnError)
	path := fs.String("device", "/dev/mypoll", "")
	fs.Parse(args)
	f, err := device.Kernel(*path).Open(false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	in, err := f.Info()
	if err != nil {
		return nil, err
	}
	st, err := f.Stats()
	if err != nil {
		return nil, err
	}
	return infoOut{fmt.Sprintf("%016x", in.InstanceID), in.RingSize, in.MaxBurst, st.NextSeq, st.OldestSeq,
		st.Generated, st.Readers - 1, st.ActiveTimers}, nil
}

func trigger(args []string) (any, error) {
	fs := flag.NewFlagSet("trigger", flag.ExitOnError)
	path := fs.String("device", "/dev/mypoll", "")
	count := fs.Uint("count", 1, "")
	payload := fs.Uint64("payload", 0, "")
	fs.Parse(args)
	f, err := device.Kernel(*path).Open(true)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Bursts of at most max_burst.
	in, err := f.Info()
	if err != nil {
		return nil, err
	}
	var first uint64
	for left := uint32(*count); left > 0; {
		n := min(left, in.MaxBurst)
		s, err := f.Trigger(*payload, n)
		if err != nil {
			return nil, err
		}
		if first == 0 {
			first = s
		}
		left -= n
	}
	return map[string]uint64{"first_seq": first, "count": uint64(*count)}, nil
}

// request sends one request and prints its reply; with --uid it runs
// itself as that user first.
func request(args []string) (any, error) {
	fs := flag.NewFlagSet("request", flag.ExitOnError)
	sock := fs.String("socket", client.DefaultSocket, "")
	uid := fs.Int("uid", -1, "")
	gid := fs.Int("gid", -1, "")
	groups := fs.String("groups", "", "")
	fs.Parse(args)
	line := strings.Join(fs.Args(), " ")
	if *uid >= 0 {
		cred := &syscall.Credential{Uid: uint32(*uid), Gid: uint32(*gid)}
		for g := range strings.SplitSeq(*groups, ",") {
			if g == "" {
				continue
			}
			v, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--groups: %w", err)
			}
			cred.Groups = append(cred.Groups, uint32(v))
		}
		self, _ := os.Executable()
		cmd := exec.Command(self, "request", "--socket", *sock, line)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("as uid %d: %w", *uid, err)
		}
		var v any
		return v, json.Unmarshal(out, &v)
	}
	nc, err := net.Dial("unix", *sock)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(nc)
	if _, err := r.ReadString('\n'); err != nil {
		return nil, err
	}
	fmt.Fprintf(nc, "subscribe none\n%s\n", line)
	r.ReadString('\n')
	reply, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	return map[string]any{"reply": strings.TrimSuffix(reply, "\n"), "uid": os.Getuid(), "gid": os.Getgid()}, nil
}

type record struct {
	Seq  uint64 `json:"seq"`
	Type string `json:"type"`
	Arg  uint64 `json:"arg"`
	Aux  uint64 `json:"aux"`
}

// openDevice gets the device fd from the daemon, triggers three events
// through the daemon, reads them from the fd with its own cursor, and
// tries control ioctls on the fd.
func openDevice(args []string) (any, error) {
	fs := flag.NewFlagSet("opendevice", flag.ExitOnError)
	sock := fs.String("socket", client.DefaultSocket, "")
	fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, *sock)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Subscribe(ctx, "none", 0); err != nil {
		return nil, err
	}
	f, err := c.OpenDevice(ctx)
	if err != nil {
		return nil, err
	}
	fd, err := sys.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return nil, err
	}
	dev := device.FileFromFD(fd)
	defer dev.Close()
	before, err := dev.Reader()
	if err != nil {
		return nil, err
	}
	first, _, err := c.Trigger(ctx, 77, 3)
	if err != nil {
		return nil, err
	}
	var recs []record
	buf := make([]byte, 16*devabi.EventSize)
	for len(recs) < 3 && ctx.Err() == nil {
		n, err := dev.Read(buf) // the passed fd is blocking
		if err != nil {
			return nil, err
		}
		for off := 0; off+devabi.EventSize <= n; off += devabi.EventSize {
			ev, _ := devabi.DecodeEvent(buf[off:])
			recs = append(recs, record{ev.Seq, ev.Type.String(), ev.Arg, ev.Aux})
		}
	}
	after, err := dev.Reader()
	if err != nil {
		return nil, err
	}
	errName := func(err error) string {
		var en syscall.Errno
		if errors.As(err, &en) {
			return unixName(en)
		}
		if err == nil {
			return "ok"
		}
		return err.Error()
	}
	_, terr := dev.Trigger(1, 1)
	serr := dev.TimerStart(devabi.Timer{ID: 7, PeriodNS: 1e9})
	_, werr := dev.WriteText([]byte("trigger 1"))
	flags, _ := fcntlFlags(fd)
	return map[string]any{
		"first_seq": first, "records": recs,
		"cursor_before": before.Cursor, "cursor_after": after.Cursor,
		"trigger_errno": errName(terr), "timer_start_errno": errName(serr), "write_errno": errName(werr),
		"read_only": flags&syscall.O_ACCMODE == syscall.O_RDONLY,
	}, nil
}

func fcntlFlags(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func unixName(en syscall.Errno) string {
	switch en {
	case syscall.EBADF:
		return "EBADF"
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.EPERM:
		return "EPERM"
	case syscall.ENOTTY:
		return "ENOTTY"
	}
	return en.Error()
}

type benchOut struct {
	Clients int `json:"clients"`
	// Trigger-to-client latency: CLOCK_MONOTONIC at the client minus the
	// record's generation timestamp, for paced single triggers.
	LatencyP50US float64 `json:"latency_p50_us"`
	LatencyP99US float64 `json:"latency_p99_us"`
	// Raw baseline: one writer stamps a line into N socketpairs, N reader
	// goroutines time it (the daemon path's shape without the daemon).
	RawP50US float64 `json:"raw_p50_us"`
	RawP99US float64 `json:"raw_p99_us"`
	// Delivered events per second summed over the clients, under a flood.
	EventsPerSec    float64 `json:"events_per_sec"`
	Lost            uint64  `json:"lost"`
	RawEventsPerSec float64 `json:"raw_events_per_sec"`
}

// bench measures, inside the guest, trigger-to-client latency and fan-out
// throughput through the real module, beside raw socketpair baselines
// measured in the same run.
func bench(args []string) (any, error) {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	sock := fs.String("socket", client.DefaultSocket, "")
	nclients := fs.Int("clients", 16, "")
	seconds := fs.Float64("seconds", 3, "")
	samples := fs.Int("samples", 300, "")
	fs.Parse(args)
	window := time.Duration(*seconds * float64(time.Second))
	out := benchOut{Clients: *nclients}
	ctx, cancel := context.WithTimeout(context.Background(), 10*window+time.Minute)
	defer cancel()

	ctl, err := client.Dial(ctx, *sock)
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	if err := ctl.Subscribe(ctx, "none", 0); err != nil {
		return nil, err
	}
	conns := make([]net.Conn, *nclients)
	readers := make([]*bufio.Reader, *nclients)
	for i := range conns {
		nc, err := net.Dial("unix", *sock)
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		conns[i], readers[i] = nc, bufio.NewReaderSize(nc, 1<<16)
		readers[i].ReadString('\n')
		// Clients start subscribed to nothing (PROTOCOL.md A.5).
		fmt.Fprintf(nc, "subscribe all\n")
		if l, err := readers[i].ReadString('\n'); err != nil || l != "OK subscribe all\n" {
			return nil, fmt.Errorf("subscribe all: %q %v", l, err)
		}
	}

	// Latency: one trigger at a time, every client times its arrival.
	var lat latencies
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			lat.collect(readers[i], *samples, func(l string) (uint64, bool) {
				f := strings.Fields(l)
				if len(f) != 7 || f[0] != "EVT" {
					return 0, false
				}
				ts, err := strconv.ParseUint(f[6], 10, 64)
				return ts, err == nil
			})
		})
	}
	for range *samples {
		if _, _, err := ctl.Trigger(ctx, 1, 1); err != nil {
			return nil, err
		}
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	if len(lat.d) == 0 {
		return nil, errors.New("no latency samples")
	}
	out.LatencyP50US, out.LatencyP99US = pct(lat.d)

	// Raw baseline, same shape and pacing: one writer stamps a line and
	// writes it into N socketpairs; N reader goroutines time its arrival.
	raw, err := rawLatency(*nclients, *samples)
	if err != nil {
		return nil, err
	}
	out.RawP50US, out.RawP99US = pct(raw)

	// Throughput: flood triggers for the window, count what arrives.
	var delivered, lost atomic.Uint64
	stop := make(chan struct{})
	for i := range conns {
		wg.Go(func() {
			buf := make([]byte, 1<<16)
			for {
				conns[i].SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				n, err := readers[i].Read(buf)
				delivered.Add(uint64(countLines(buf[:n], &lost)))
				if err != nil {
					select {
					case <-stop:
						return
					default:
					}
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						continue
					}
					return
				}
			}
		})
	}
	start := time.Now()
	for time.Since(start) < window {
		if _, _, err := ctl.Trigger(ctx, 1, 256); err != nil {
			return nil, err
		}
	}
	time.Sleep(300 * time.Millisecond)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	out.EventsPerSec = float64(delivered.Load()) / elapsed.Seconds()
	out.Lost = lost.Load()

	// Raw throughput: one writer, the same 64-byte lines into N socketpairs,
	// 32 per write, N reader goroutines.
	out.RawEventsPerSec, err = rawFanout(*nclients, window)
	return out, err
}

func rawLatency(n, samples int) ([]time.Duration, error) {
	writers := make([]*os.File, n)
	var raw latencies
	var wg sync.WaitGroup
	for i := range n {
		a, b, err := sys.Socketpair()
		if err != nil {
			return nil, err
		}
		writers[i] = os.NewFile(uintptr(a), "w")
		rf := os.NewFile(uintptr(b), "r")
		wg.Go(func() {
			defer rf.Close()
			raw.collect(bufio.NewReader(rf), samples, func(l string) (uint64, bool) {
				ts, err := strconv.ParseUint(strings.TrimSpace(l), 10, 64)
				return ts, err == nil
			})
		})
	}
	for range samples {
		line := fmt.Appendf(nil, "%d\n", sys.Monotonic())
		for _, w := range writers {
			if _, err := w.Write(line); err != nil {
				return nil, err
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	for _, w := range writers {
		w.Close()
	}
	return raw.d, nil
}

// latencies gathers arrival delays from several reader goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// collect reads n lines from r; stamp extracts the CLOCK_MONOTONIC send
// time from a line (false skips it); the delay is arrival minus that.
func (l *latencies) collect(r *bufio.Reader, n int, stamp func(string) (uint64, bool)) {
	for range n {
		line, err := r.ReadString('\n')
		now := sys.Monotonic()
		if err != nil {
			return
		}
		if ts, ok := stamp(line); ok {
			l.mu.Lock()
			l.d = append(l.d, now-time.Duration(ts))
			l.mu.Unlock()
		}
	}
}

func countLines(b []byte, lost *atomic.Uint64) int {
	n := 0
	for len(b) > 0 {
		i := slices.Index(b, '\n')
		if i < 0 {
			break
		}
		if b[0] == 'E' {
			n++
		} else if b[0] == 'L' {
			f := strings.Fields(string(b[:i]))
			if len(f) == 5 {
				c, _ := strconv.ParseUint(f[3], 10, 64)
				lost.Add(c)
			}
		}
		b = b[i+1:]
	}
	return n
}

func rawFanout(n int, window time.Duration) (float64, error) {
	var chunk []byte
	for i := range 32 {
		chunk = fmt.Appendf(chunk, "EVT %d trigger 0 1 %d %d\n", 1000000+i, i, 1_000_000_000_000+uint64(i))
	}
	writers := make([]*os.File, n)
	var delivered atomic.Uint64
	var wg sync.WaitGroup
	for i := range n {
		a, b, err := sys.Socketpair()
		if err != nil {
			return 0, err
		}
		writers[i] = os.NewFile(uintptr(a), "w")
		rf := os.NewFile(uintptr(b), "r")
		wg.Go(func() {
			defer rf.Close()
			buf := make([]byte, 1<<16)
			var lost atomic.Uint64
			for {
				k, err := rf.Read(buf)
				delivered.Add(uint64(countLines(buf[:k], &lost)))
				if err != nil {
					return
				}
			}
		})
	}
	start := time.Now()
	for time.Since(start) < window {
		for _, w := range writers {
			if _, err := w.Write(chunk); err != nil {
				return 0, err
			}
		}
	}
	for _, w := range writers {
		w.Close()
	}
	wg.Wait()
	return float64(delivered.Load()) / time.Since(start).Seconds(), nil
}

func pct(d []time.Duration) (p50, p99 float64) {
	slices.Sort(d)
	us := func(x time.Duration) float64 { return float64(x) / 1e3 }
	return us(d[len(d)/2]), us(d[len(d)*99/100])
}
