// Command guestbench boots the test image and measures, inside the guest,
// trigger-to-client latency and delivered events/s through the real module
// at N = 16 clients, each beside a raw in-guest baseline measured in the
// same run (a socketpair hop; one writer into 16 socketpairs). Numbers come
// back as JSON from mypollprobe and are printed as a table. Latency is not
// measured through the host proxy: yamux over one serial port has
// head-of-line blocking.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
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

	// The C reference daemon beside mypolld, both driven by the same C
	// publisher and 16 C subscribers (publisher send to subscriber read;
	// the C reference broadcasts in the trigger's loop turn, mypolld
	// through the module).
	fmt.Printf("\npublisher-to-subscriber latency, 500 triggers/s for 2 s, 16 C subscribers (mypollbench-lat fan), alternating, 3 runs\n")
	rows := []struct {
		name string
		argv []string
	}{
		{"C reference daemon", []string{"/bin/mypollbench-lat", "fan", "/tmp/cref.sock", "16", "500", "2", "/bin/mypollbench-crefd"}},
		{"mypolld (real module)", []string{"/bin/mypollbench-lat", "fan", client.DefaultSocket, "16", "500", "2"}},
	}
	for rep := range 3 {
		for _, r := range rows {
			res, err := vm.Exec(ctx, r.argv, nil)
			if err != nil {
				return err
			}
			if res.ExitCode != 0 {
				return fmt.Errorf("%s: exit %d: %s", r.name, res.ExitCode, res.Stderr)
			}
			var p50, p99, n float64
			if _, err := fmt.Sscan(string(res.Stdout), &p50, &p99, &n); err != nil {
				return fmt.Errorf("%s: %q: %w", r.name, res.Stdout, err)
			}
			fmt.Printf("    run %d  %-24s p50 %8.1f us  p99 %8.1f us  (%.0f samples)\n", rep+1, r.name, p50/1e3, p99/1e3, n)
		}
	}
	return nil
}
