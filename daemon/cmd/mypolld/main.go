// Command mypolld is the mypoll daemon: it serves the mypoll line protocol
// on an AF_UNIX socket and broadcasts the events of /dev/mypoll to every
// subscribed client. See `mypolld --help`.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/daemon/internal/cli"
	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/server"
	"github.com/mypoll/mypoll/daemon/internal/sys"
	"github.com/mypoll/mypoll/daemon/internal/version"
)

const usage = `NAME
    mypolld - the mypoll event daemon

SYNOPSIS
    mypolld [OPTIONS]

DESCRIPTION
    mypolld serves the mypoll line protocol (version 1) on an AF_UNIX stream
    socket. It reads sequenced event records from the event device
    (/dev/mypoll, created by the mypoll kernel module) and broadcasts each one,
    in the device's total order, to every subscribed client. Clients send
    requests (echo, trigger, start_timer, stop_timer, timers, subscribe,
    stats, help, quit); mypollctl(1) is the command-line client.

    Clients must subscribe: a new client is subscribed to nothing and gets
    no EVT or LOST line until it sends "subscribe SET" (SET is all, none, or
    a comma list of timer and trigger).

    Every client has a fixed-size TX queue. Events that do not fit are dropped
    for that client only and reported to it in a LOST line: nothing is lost
    silently, and a slow client never slows the others. The daemon keeps the
    last --history events and persists its position in --state-dir, so a
    restarted daemon replays what the device generated while it was down.

    To resume after a reconnect, a client sends, as its first request,
    "subscribe all from=SEQ" with SEQ = the last seq it has + 1 (or 1 if the
    HELLO line names another instance_id: the module was reloaded). It gets
    the reply, then the retained events from SEQ on (a LOST ... restart line
    for those no longer retained), then live events: strictly increasing,
    never a seq twice. "mypollctl listen --resume" and the Go client's Stream
    do this.

OPTIONS
    --socket PATH         listening socket (default /run/mypoll/mypoll.sock);
                          a stale socket is replaced, a live one is an error
    --socket-mode MODE    socket permissions, octal (default 0660)
    --socket-group NAME   group of the socket file (default: the daemon's)
    --device DEV          event device: a path (default /dev/mypoll), "emu"
                          for the user-space emulation, or "none"
    --max-clients N       clients served at once (default 1024); more are
                          refused with "ERR - EMFILE"
    --txq-bytes N         TX queue per client in bytes (default 65536,
                          minimum 4096)
    --history N           events kept for resume (default 4096; 0 disables)
    --state-dir DIR       where the resume position is kept (default
                          /run/mypoll; "" disables)
    --control-group NAME  allow trigger/start_timer/stop_timer only to uid 0,
                          the daemon's uid and members of NAME (default:
                          everyone who can connect)
    --evict-after DUR     disconnect a client whose queue keeps overflowing
                          for DUR, e.g. 30s (default: never)
    --drain-timeout DUR   how long SIGTERM waits for TX queues to flush
                          (default 2s)
    --log-level LEVEL     trace, debug, info, warn or error (default info)
    --log-json            log JSON lines instead of text
    --version             print the version and exit
    --help                print this help and exit

SIGNALS
    SIGTERM, SIGINT   stop accepting, flush queued replies and events (bounded
                      by --drain-timeout), exit 0
    SIGHUP            re-read the policy (--control-group membership)

SYSTEMD
    With socket activation (LISTEN_PID/LISTEN_FDS) the passed socket is used
    and --socket only names it in logs. With NOTIFY_SOCKET set, READY=1 is sent
    once serving and STOPPING=1 at shutdown (Type=notify).

EXIT STATUS
    0 clean shutdown, 1 runtime or start-up error, 2 usage error.

EXAMPLES
    mypolld --device emu --socket /tmp/mypoll.sock --state-dir ''
    mypolld --control-group mypoll --socket-group mypoll --log-json

SEE ALSO
    mypollctl(1); PROTOCOL.md in the mypoll sources.
`

// options are the parsed command line.
type options struct {
	socket, socketMode, socketGroup string
	device                          string
	maxClients, txqBytes, history   int
	stateDir, controlGroup          string
	evictAfter, drainTimeout        time.Duration
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func parseFlags(cmd *cli.Command, args []string) (*options, int) {
	o := &options{}
	fs := cmd.Flags
	fs.StringVar(&o.socket, "socket", client.DefaultSocket, "")
	fs.StringVar(&o.socketMode, "socket-mode", "0660", "")
	fs.StringVar(&o.socketGroup, "socket-group", "", "")
	fs.StringVar(&o.device, "device", "/dev/mypoll", "")
	fs.IntVar(&o.maxClients, "max-clients", server.DefaultMaxClients, "")
	fs.IntVar(&o.txqBytes, "txq-bytes", server.DefaultTXQBytes, "")
	fs.IntVar(&o.history, "history", server.DefaultHistory, "")
	fs.StringVar(&o.stateDir, "state-dir", server.DefaultStateDir, "")
	fs.StringVar(&o.controlGroup, "control-group", "", "")
	fs.DurationVar(&o.evictAfter, "evict-after", 0, "")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", server.DefaultDrain, "")
	if code, ok := cmd.Parse(args); !ok {
		return nil, code
	}
	return o, -1
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := cli.New("mypolld", usage, stdout, stderr)
	o, code := parseFlags(cmd, args)
	if o == nil {
		return code
	}
	usageErr := cmd.UsageError
	mode, err := strconv.ParseUint(o.socketMode, 8, 32)
	if err != nil || mode > 0o777 {
		return usageErr("--socket-mode %q: want octal permissions such as 0660", o.socketMode)
	}
	if o.history < 0 {
		return usageErr("--history %d: want 0 or more", o.history)
	}
	if o.txqBytes < server.MinTXQBytes {
		return usageErr("--txq-bytes %d: want at least %d", o.txqBytes, server.MinTXQBytes)
	}
	if o.maxClients < 1 {
		return usageErr("--max-clients %d: want at least 1", o.maxClients)
	}
	log := cmd.Logger()

	cfg := server.Config{
		Socket:       o.socket,
		SocketMode:   os.FileMode(mode),
		SocketGID:    -1,
		ListenFD:     -1,
		MaxClients:   o.maxClients,
		TXQBytes:     o.txqBytes,
		History:      o.history,
		StateDir:     o.stateDir,
		ControlGroup: o.controlGroup,
		EvictAfter:   o.evictAfter,
		DrainTimeout: o.drainTimeout,
		Log:          log.Named("server"),
	}
	if cfg.History == 0 {
		cfg.History = -1
	}
	if o.socketGroup != "" {
		gid, err := server.LookupGroup(o.socketGroup)
		if err != nil {
			return usageErr("--socket-group %q: %v", o.socketGroup, err)
		}
		cfg.SocketGID = int(gid)
	}
	if cfg.Device, err = openDevice(o.device); err != nil {
		fmt.Fprintf(stderr, "mypolld: %v\n", err)
		return 1
	}
	if o.device != "emu" && o.device != "none" {
		cfg.DevicePath = o.device // open_device passes this node to clients
	}
	fds, err := sys.ListenFDs(true)
	if err != nil {
		fmt.Fprintf(stderr, "mypolld: socket activation: %v\n", err)
		return 1
	}
	if len(fds) > 0 {
		if len(fds) != 1 || !sys.IsListeningUnixSocket(fds[0]) {
			fmt.Fprintf(stderr, "mypolld: socket activation passed %d fds; want exactly one listening AF_UNIX stream socket\n", len(fds))
			return 1
		}
		cfg.ListenFD = fds[0]
	}

	srv, err := server.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "mypolld: %v\n", err)
		return 1
	}
	defer srv.Close()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGHUP {
				log.Info("reload requested", "signal", sig.String())
				_ = notify("RELOADING=1")
				srv.Reload()
				_ = notify("READY=1")
				continue
			}
			log.Info("shutdown requested", "signal", sig.String())
			_ = notify("STOPPING=1")
			srv.Shutdown()
		}
	}()

	log.Info("ready", "version", version.Version, "device", o.device, "pid", os.Getpid())
	if err := notify("READY=1"); err != nil {
		log.Warn("sd_notify failed", "error", err)
	}
	if err := srv.Run(); err != nil {
		log.Error("event loop failed", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// openDevice resolves --device.
func openDevice(spec string) (device.Device, error) {
	switch spec {
	case "none":
		return nil, nil
	case "emu":
		return emu.New(emu.Config{}), nil
	}
	fi, err := os.Stat(spec)
	if err != nil {
		hint := ""
		if os.IsNotExist(err) {
			hint = " (is the mypoll module loaded? try 'modprobe mypoll'; or run with --device emu for the user-space emulation, or --device none)"
		}
		return nil, fmt.Errorf("event device %s: %w%s", spec, errors.Unwrap(err), hint)
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		return nil, fmt.Errorf("event device %s is not a character device (use a path such as /dev/mypoll, emu or none)", spec)
	}
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("empty --device")
	}
	return device.Kernel(spec), nil
}
