package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

const usage = `usage: mypoll-testagent [--service] [--port SPEC] [--log-level LEVEL]
       mypoll-testagent tool NAME [ARGS...]

Guest agent of the mypoll QEMU test harness. It serves (--port SPEC):
  mypoll.test                   the virtio-serial port of that name (default;
                                found through /sys/class/virtio-ports/*/name)
  /dev/ttyAMA0[@BAUD][,rtscts]  a tty used as given: O_NOCTTY, raw 8N1, BAUD
                                (default 115200), RTS/CTS flow control if asked
  tcp:[HOST]:PORT               a TCP listener (a new connection replaces the
                                current session)
Each connection starts with a line handshake with a nonce, then CRC-checked
frames carry a yamux session whose streams run the ops DIAL, EXEC, FILE, PUT,
SIGNAL, KMSG, DAEMON, INSMOD, RMMOD, PING and POWEROFF for the host (package github.com/mypoll/mypoll/qemu). Host reconnects are handled by a
new handshake.

Init mode (PID 1 of the test initramfs, the default when the process is PID 1):
  mounts proc, sysfs, devtmpfs, tmpfs on /run and /tmp, debugfs; loads the
  modules in /etc/mypoll/modules.order, then /lib/modules/mypoll.ko; starts
  /bin/mypolld; serves an echo socket at /run/mypoll-agent/echo.sock; reaps
  orphans and never exits on a signal. Kernel command line parameters:
    mypolltest.ko=0              do not load mypoll.ko at boot
    mypolltest.ko_params=a=1,b=2 module parameters for mypoll.ko
    mypolltest.daemon=off        do not start mypolld at boot
    mypolltest.daemon=--x,--y=1  mypolld flags (default: --device /dev/mypoll
                                 when it exists, else --device none)
    mypolltest.log=debug         agent log level
    mypolltest.port=SPEC         what to serve, as --port
    mypolltest.net=IFACE,A.B.C.D/N  bring up lo and IFACE with that address
                                 (for tcp:...; the image needs its driver)

Service mode (--service, or whenever the agent is not PID 1; the
mypoll-testagent package of Buildroot and Yocto images): no mounts, no module
loading, no reaping, mypolld is not started at boot (the init system does).
Exits 0 quietly when no port named "mypoll.test" exists.

tool NAME runs a small helper used by the harness tests:
  cat           copy stdin to stdout
  exit N        write "exit N" to stderr and exit with status N
  sleep D       name the process "agent-sleep" and sleep for duration D
  kmsg TEXT     write TEXT to /dev/kmsg
  orphan        start "tool sleep 200ms" and exit at once, printing its PID
                (the child is re-parented to PID 1, which must reap it)
  kill PID SIG  send signal SIG (a number) to PID
  stat PATH     print "<type> <mode, octal> <uid> <gid>" of PATH (type: file,
                dir, char, block, other)
  chmod MODE PATH       chmod (MODE octal)
  chown UID:GID PATH    chown (numeric ids)

Flags:
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "tool" {
		os.Exit(runTool(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	fs := flag.NewFlagSet("mypoll-testagent", flag.ContinueOnError)
	service := fs.Bool("service", false, "run as an ordinary service (implied when not PID 1)")
	level := fs.String("log-level", "", "log level: trace, debug, info, warn, error (default info)")
	port := fs.String("port", wirePortName, "what to serve: a virtio-serial port name, /dev/TTY[@BAUD][,rtscts] or tcp:[HOST]:PORT")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	initMode := os.Getpid() == 1 && !*service

	if !initMode {
		log := newLogger(*level)
		os.Exit(runService(log, *port))
	}
	runInit(*level, *port)
}

func newLogger(level string) hclog.Logger {
	if level == "" {
		level = "info"
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:        "agent",
		Level:       hclog.LevelFromString(level),
		Output:      os.Stderr,
		DisableTime: true,
	})
}

// runService serves the port until a fatal error; it returns the exit status.
func runService(log hclog.Logger, port string) int {
	spec, err := parsePortSpec(port)
	if err != nil {
		log.Error("bad --port", "error", err)
		return 2
	}
	l, where, err := openLink(spec, 0)
	if err != nil {
		if spec.kind == "virtio" {
			log.Debug("no test port, exiting", "error", err)
			return 0
		}
		log.Error("open port", "port", spec.String(), "error", err)
		return 1
	}
	defer l.close()
	log.Info("serving", "port", where)
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT)
	defer stop()
	a := newAgent(log, "service", nil)
	a.daemon.bootDone()
	if err := a.serve(ctx, l); err != nil && ctx.Err() == nil {
		log.Error("serve port", "error", err)
		return 1
	}
	return 0
}

// runInit is PID 1: it never returns.
func runInit(level, port string) {
	boot := map[string]int64{}
	t0 := time.Now()
	log := newLogger(level)
	ignoreSignals(log)
	if err := mountAll(); err != nil {
		log.Error("mount", "error", err)
	}
	boot["mounts_ms"] = time.Since(t0).Milliseconds()
	cl := readCmdline()
	if l := cl["mypolltest.log"]; l != "" && level == "" {
		log.SetLevel(hclog.LevelFromString(l))
	}
	r := newReaper(log)
	go r.run()

	// mypoll.ko and mypolld first: the daemon's start (a few hundred ms
	// under TCG) then overlaps the virtio modules and the port's probe.
	if cl["mypolltest.ko"] != "0" {
		t2 := time.Now()
		loadKMod(log, strings.ReplaceAll(cl["mypolltest.ko_params"], ",", " "))
		boot["kmod_ms"] = time.Since(t2).Milliseconds()
	}
	a := newAgent(log, "init", r)
	a.timings = boot
	if dflt := cl["mypolltest.daemon"]; dflt != "off" {
		go a.daemon.bootStart(dflt)
	} else {
		a.daemon.setState("off")
		a.daemon.bootDone()
	}
	go a.echoServer(echoSocket)

	t1 := time.Now()
	loadBootModules(log)
	boot["modules_ms"] = time.Since(t1).Milliseconds()

	if p := cl["mypolltest.port"]; p != "" {
		port = p
	}
	if n := cl["mypolltest.net"]; n != "" {
		t3 := time.Now()
		if err := configureNet(n, 10*time.Second); err != nil {
			log.Error("network", "error", err)
		}
		boot["net_ms"] = time.Since(t3).Milliseconds()
	}
	spec, err := parsePortSpec(port)
	if err != nil {
		log.Error("bad port; powering off", "error", err)
		poweroff(log)
	}
	var l link
	for l == nil {
		var where string
		if l, where, err = openLink(spec, 10*time.Second); err != nil {
			if spec.kind == "virtio" {
				log.Error("no test port; powering off", "error", err)
				poweroff(log)
			}
			// A tty's driver or a network may come later: keep trying.
			log.Error("open port; retrying", "port", spec.String(), "error", err)
			time.Sleep(time.Second)
			continue
		}
		log.Info("serving", "port", where)
	}
	boot["port_uptime_ms"] = uptimeMS()
	for {
		if err := a.serve(context.Background(), l); err != nil {
			log.Error("serve port", "error", err)
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// ignoreSignals keeps PID 1 alive: the Go runtime would exit on SIGTERM,
// SIGINT or SIGHUP, and the kernel panics when init exits.
func ignoreSignals(log hclog.Logger) {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	signal.Ignore(unix.SIGPIPE)
	go func() {
		for s := range ch {
			log.Warn("signal ignored by init", "signal", s.String())
		}
	}()
}

func runTool(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "tool: name required (cat, exit, sleep, kmsg, orphan, kill, stat, chmod, chown)")
		return 2
	}
	switch args[0] {
	case "cat":
		if _, err := io.Copy(stdout, stdin); err != nil {
			fmt.Fprintln(stderr, "cat:", err)
			return 1
		}
		return 0
	case "exit":
		var n int
		if len(args) != 2 {
			fmt.Fprintln(stderr, "exit: status required")
			return 2
		}
		if _, err := fmt.Sscan(args[1], &n); err != nil {
			fmt.Fprintln(stderr, "exit:", err)
			return 2
		}
		fmt.Fprintf(stderr, "exit %d\n", n)
		return n
	case "sleep":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "sleep: duration required")
			return 2
		}
		d, err := time.ParseDuration(args[1])
		if err != nil {
			fmt.Fprintln(stderr, "sleep:", err)
			return 2
		}
		// /proc/self/comm names the thread-group leader, so SIGNAL can
		// find this process by name whatever thread writes it.
		_ = os.WriteFile("/proc/self/comm", []byte("agent-sleep"), 0)
		time.Sleep(d)
		return 0
	case "orphan":
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(stderr, "orphan:", err)
			return 1
		}
		cmd := exec.Command(self, "tool", "sleep", "200ms")
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(stderr, "orphan:", err)
			return 1
		}
		fmt.Fprintln(stdout, cmd.Process.Pid)
		return 0 // without Wait: the child outlives us
	case "kill":
		var pid, sig int
		if len(args) != 3 {
			fmt.Fprintln(stderr, "kill: PID and signal number required")
			return 2
		}
		if _, err := fmt.Sscan(args[1], &pid); err != nil {
			fmt.Fprintln(stderr, "kill:", err)
			return 2
		}
		if _, err := fmt.Sscan(args[2], &sig); err != nil {
			fmt.Fprintln(stderr, "kill:", err)
			return 2
		}
		if err := unix.Kill(pid, unix.Signal(sig)); err != nil {
			fmt.Fprintln(stderr, "kill:", err)
			return 1
		}
		return 0
	case "stat", "chmod", "chown":
		return fileTool(args, stdout, stderr)
	case "kmsg":
		if err := os.WriteFile("/dev/kmsg", []byte(strings.Join(args[1:], " ")+"\n"), 0); err != nil {
			fmt.Fprintln(stderr, "kmsg:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "tool: unknown %q\n", args[0])
	return 2
}

// fileTool runs the stat, chmod and chown tools (the harness image has no
// coreutils; the tests change /dev/mypoll's owner and mode with them).
func fileTool(args []string, stdout, stderr io.Writer) int {
	want := map[string]int{"stat": 2, "chmod": 3, "chown": 3}[args[0]]
	if len(args) != want {
		fmt.Fprintf(stderr, "%s: wrong number of arguments\n", args[0])
		return 2
	}
	path := args[len(args)-1]
	var err error
	switch args[0] {
	case "stat":
		var st unix.Stat_t
		if err = unix.Stat(path, &st); err == nil {
			kind := map[uint32]string{unix.S_IFREG: "file", unix.S_IFDIR: "dir", unix.S_IFCHR: "char", unix.S_IFBLK: "block"}[st.Mode&unix.S_IFMT]
			if kind == "" {
				kind = "other"
			}
			fmt.Fprintf(stdout, "%s %04o %d %d\n", kind, st.Mode&0o7777, st.Uid, st.Gid)
		}
	case "chmod":
		var mode uint64
		if mode, err = strconv.ParseUint(args[1], 8, 32); err == nil {
			err = unix.Chmod(path, uint32(mode))
		}
	case "chown":
		u, g, ok := strings.Cut(args[1], ":")
		uid, err1 := strconv.Atoi(u)
		gid, err2 := strconv.Atoi(g)
		if !ok || err1 != nil || err2 != nil {
			fmt.Fprintf(stderr, "chown: want UID:GID, got %q\n", args[1])
			return 2
		}
		err = unix.Chown(path, uid, gid)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n", args[0], path, err)
		return 1
	}
	return 0
}
