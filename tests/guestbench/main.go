// Command guestbench boots the test image and measures, inside the guest,
// through the real module:
//
//   - trigger-to-client latency and delivered events/s at N = 16 clients,
//     each beside a raw in-guest baseline measured in the same run (a
//     socketpair hop; one writer into 16 socketpairs), from mypollprobe's
//     JSON;
//   - the paced table of mypollbench section (e): publisher-to-subscriber
//     p50/p99/p99.9 at 100 and 1,000 events/s for N = 1, 16 and 64, the C
//     reference daemon beside mypolld, with their ratios. Under TCG the
//     guest's 2 vCPUs are busy at every turn with 64 subscriber processes
//     even at 100 events/s (both daemons' p50 exceeds the 10 ms gap between
//     events): those rows measure a loaded loop, not a wake-up from idle
//     (docs/latency.md). The table takes about 9 minutes.
//
// Latency is not measured through the host proxy: yamux over one serial
// port has head-of-line blocking.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/qemu"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "guestbench:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := qemu.ConfigFromEnv()
	if err != nil {
		return err
	}
	cfg.SMP = 2
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	vm, err := qemu.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer vm.Kill()
	if err := vm.Connect(ctx); err != nil {
		return err
	}
	defer vm.Poweroff(ctx)
	// The agent answers before the boot's mypolld accepts (READY does not
	// wait for it); status returns once that start has finished.
	if st, err := vm.Daemon(ctx, "status"); err != nil || st.State != "running" {
		return fmt.Errorf("mypolld in the guest: %+v, %v", st, err)
	}
	res, err := vm.Exec(ctx, []string{"/bin/mypollprobe", "bench", "--clients", "16", "--seconds", "3"}, nil)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("mypollprobe bench: exit %d: %s", res.ExitCode, res.Stderr)
	}
	var m map[string]float64
	if err := json.Unmarshal(res.Stdout, &m); err != nil {
		return fmt.Errorf("%w in %q", err, res.Stdout)
	}
	fmt.Printf("in-guest benchmark (aarch64 under TCG, 2 vCPUs, real /dev/mypoll, %v clients)\n\n", m["clients"])
	fmt.Printf("%-34s %12s %12s %8s\n", "", "mypolld", "raw", "ratio")
	fmt.Printf("%-34s %12.1f %12.1f %8.2f\n", "trigger-to-client latency p50 us", m["latency_p50_us"], m["raw_p50_us"], m["latency_p50_us"]/m["raw_p50_us"])
	fmt.Printf("%-34s %12.1f %12.1f %8.2f\n", "trigger-to-client latency p99 us", m["latency_p99_us"], m["raw_p99_us"], m["latency_p99_us"]/m["raw_p99_us"])
	fmt.Printf("%-34s %12.0f %12.0f %8.2f\n", "delivered events/s (16 clients)", m["events_per_sec"], m["raw_events_per_sec"], m["events_per_sec"]/m["raw_events_per_sec"])
	fmt.Printf("\nevents reported lost during the flood: %.0f (LOST lines: clients slower than the flood)\n", m["lost"])
	fmt.Println("raw baselines: latency = one writer stamps a line into 16 socketpairs, 16 reader goroutines time it; throughput = one writer, the same 64-byte lines into 16 socketpairs, 32 per write")

	return paced(ctx, vm)
}

// pacedRuns are the cells of the paced table: the rates and subscriber
// counts of mypollbench section (e), with the C reference daemon beside
// mypolld, both driven by the same C publisher and N C subscribers
// (mypollbench-lat fan: publisher send to subscriber read). The C
// reference broadcasts in the trigger's loop turn, mypolld through the
// module.
var pacedRuns = []struct{ rate, secs int }{{100, 4}, {1000, 2}}

const pacedReps = 3

func paced(ctx context.Context, vm *qemu.VM) error {
	fmt.Printf("\npaced publisher-to-subscriber latency, us, medians of %d runs of p50/p99/p99.9 (mypollbench-lat fan); daemons alternate, order rotating\n", pacedReps)
	fmt.Printf("%5s %3s  %-22s %9s %9s %9s   %s\n", "ev/s", "N", "daemon", "p50", "p99", "p99.9", "ratio to C reference p50/p99/p99.9")
	type daemon struct {
		name string
		argv func(n, rate, secs int) []string
	}
	daemons := []daemon{
		{"C reference", func(n, rate, secs int) []string {
			return []string{"/bin/mypollbench-lat", "fan", "/tmp/cref.sock", strconv.Itoa(n), strconv.Itoa(rate), strconv.Itoa(secs), "/bin/mypollbench-crefd"}
		}},
		{"mypolld (real module)", func(n, rate, secs int) []string {
			return []string{"/bin/mypollbench-lat", "fan", client.DefaultSocket, strconv.Itoa(n), strconv.Itoa(rate), strconv.Itoa(secs)}
		}},
	}
	t0 := time.Now()
	for _, pr := range pacedRuns {
		for _, n := range []int{1, 16, 64} {
			var runs [2][3][]float64 // daemon, percentile, runs
			for rep := range pacedReps {
				for k := range daemons {
					i := (k + rep) % len(daemons)
					d := daemons[i]
					res, err := vm.Exec(ctx, d.argv(n, pr.rate, pr.secs), nil)
					if err != nil {
						return err
					}
					if res.ExitCode != 0 {
						return fmt.Errorf("%s: exit %d: %s", d.name, res.ExitCode, res.Stderr)
					}
					var p [3]float64
					var samples int
					if _, err := fmt.Sscan(string(res.Stdout), &p[0], &p[1], &p[2], &samples); err != nil {
						return fmt.Errorf("%s: %q: %w", d.name, res.Stdout, err)
					}
					if want := n * pr.rate * pr.secs; samples < want*9/10 {
						return fmt.Errorf("%s at %d ev/s, N=%d: only %d of %d events timed", d.name, pr.rate, n, samples, want)
					}
					for j := range p {
						runs[i][j] = append(runs[i][j], p[j]/1e3)
					}
				}
			}
			var c [3]float64
			for i, d := range daemons {
				var m [3]float64
				for j := range m {
					m[j] = median(runs[i][j])
				}
				fmt.Printf("%5d %3d  %-22s %9.1f %9.1f %9.1f", pr.rate, n, d.name, m[0], m[1], m[2])
				if i == 0 {
					c = m
				} else {
					fmt.Printf("   %.2fx %.2fx %.2fx", m[0]/c[0], m[1]/c[1], m[2]/c[2])
				}
				fmt.Println()
			}
		}
	}
	fmt.Printf("runs: %s; N subscriber processes; the table took %.0f s\n", pacedDesc(), time.Since(t0).Seconds())
	return nil
}

func pacedDesc() string {
	var d []string
	for _, pr := range pacedRuns {
		d = append(d, fmt.Sprintf("%d ev/s for %d s", pr.rate, pr.secs))
	}
	return strings.Join(d, ", ")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
