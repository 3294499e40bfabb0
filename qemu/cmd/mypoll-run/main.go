package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/mypoll/mypoll/qemu"
	"golang.org/x/sys/unix"
)

func main() {
	log := hclog.New(&hclog.LoggerOptions{Name: "mypoll-run", Output: os.Stderr, DisableTime: true})
	if err := run(log); err != nil {
		log.Error("run failed", "error", err)
		os.Exit(1)
	}
}

func run(log hclog.Logger) error {
	out, _ := qemu.OutDir()
	var (
		hostSock  = flag.String("socket", filepath.Join(out, "mypoll.sock"), "host socket to forward to the guest daemon")
		guestSock = flag.String("guest-socket", "/run/mypoll/mypoll.sock", "guest daemon socket")
		smp       = flag.Int("smp", 1, "guest CPUs")
		appendArg = flag.String("append", "", "extra kernel command line (e.g. mypolltest.daemon=--device,emu)")
		quiet     = flag.Bool("quiet", false, "do not stream the console")
	)
	flag.Parse()
	cfg, err := qemu.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("%w (run 'make image' first)", err)
	}
	cfg.SMP = *smp
	cfg.Append = strings.TrimSpace(cfg.Append + " " + *appendArg)
	cfg.Logger = log.Named("qemu")
	cfg.ConsoleLog = filepath.Join(out, "qemu", "logs", "mypoll-run.console.log")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	vmCtx, vmCancel := context.WithCancel(context.Background())
	defer vmCancel()
	vm, err := qemu.Start(vmCtx, cfg)
	if err != nil {
		return err
	}
	defer vm.Kill()
	if !*quiet {
		go streamConsole(ctx, vm.ConsolePath(), os.Stderr)
	}
	if err := vm.Connect(ctx); err != nil {
		return err
	}
	st, err := vm.Daemon(ctx, "status")
	if err != nil {
		return err
	}
	if st.State != "running" {
		return fmt.Errorf("mypolld is not running in the guest (%s); see %s", st.State, vm.ConsolePath())
	}
	fwdErr := make(chan error, 1)
	go func() { fwdErr <- vm.Forward(ctx, *hostSock, *guestSock) }()
	ctl := "go run ./daemon/cmd/mypollctl"
	if p := filepath.Join(filepath.Dir(*hostSock), "bin", runtime.GOARCH, "mypollctl"); fileExists(p) {
		ctl = relative(p) // make run builds it
	}
	sockArg := relative(*hostSock)
	fmt.Fprintf(os.Stderr, `
mypolld is running in the aarch64 guest (booted in %v, pid %d, args %q).
Its socket is forwarded to %s. In another terminal:
    %s --socket %s listen            # stream events until Ctrl-C
    %s --socket %s trigger 42 3      # three trigger events
    %s --socket %s start-timer 1 200 5
    %s --socket %s stats
    %s --help                        # every command
Console log: %s
Press Ctrl-C here to power the guest off.

`, vm.BootTime().Round(time.Millisecond), st.PID, st.Args, *hostSock,
		ctl, sockArg, ctl, sockArg, ctl, sockArg, ctl, sockArg, ctl, vm.ConsolePath())

	select {
	case <-ctx.Done():
	case err := <-fwdErr:
		if err != nil {
			return err
		}
	case <-vm.Exited():
		return errors.New("the guest stopped on its own; see the console log")
	}
	stop()
	log.Info("powering off")
	pctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return vm.Poweroff(pctx)
}

// streamConsole follows the console log file (QEMU writes it through the
// harness) until ctx ends.
func streamConsole(ctx context.Context, path string, w io.Writer) {
	var f *os.File
	for f == nil {
		var err error
		if f, err = os.Open(path); err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	defer f.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n])
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// relative shortens p to a path relative to the working directory when it
// lies below it, so the hints can be pasted as they are.
func relative(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
