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
	return nil
}
