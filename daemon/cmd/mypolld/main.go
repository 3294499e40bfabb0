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

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/daemon/internal/cli"
	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/device/emu"
	"github.com/mypoll/mypoll/daemon/internal/logx"
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
    stats, open_device, help, quit); mypollctl(1) is the command-line client.

    Clients must subscribe: a new client is subscribed to nothing and gets
    no EVT or LOST line until it sends "subscribe SET". SET is all, none, or
    a comma list of at most 16 items:
        timer            every timer's timer and timer_stopped events
        trigger          every trigger
        timer:ID         timer ID's events only (ID 0..7)
        trigger:PAYLOAD  triggers with that payload (decimal or 0x hex)
    e.g. "subscribe timer:3,trigger:0x10". The reply names the set in
    canonical form ("OK subscribe timer:3,trigger:16"); a bad item gets
    "ERR subscribe EINVAL" and the subscription stays as it was. LOST ...
    queue counts exactly the subscribed events a slow client missed; LOST
    ... device (and restart, for seqs no longer retained) reach every
    subscriber and count every seq of the range, since the daemon never
    saw those records.

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
    --max-clients-per-uid N
                          of those, how many one local user (the peer's uid,
                          SO_PEERCRED) may hold at once (default 256, as the
                          D-Bus system bus; 0: no limit). uid 0 is exempt.
                          More are refused with "ERR - EMFILE too many
                          clients for uid U (max N)", so one user cannot
                          take every slot from root and the bridge
    --txq-bytes N         TX queue per client in bytes (default 65536,
                          minimum 4096)
    --sndbuf-bytes N      socket send buffer per client in bytes, as the
                          kernel counts them with its bookkeeping (SO_SNDBUF;
                          default 65536, minimum 8192, capped by
                          net.core.wmem_max). With --txq-bytes it bounds what
                          a client that never reads costs: about
                          txq-bytes + sndbuf-bytes
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
    --busy-poll DUR       after handling events, keep polling for up to DUR
                          (at most 1ms, e.g. 50us) before sleeping: lower
                          latency for request/reply traffic, at up to DUR
                          of CPU per wake-up (default 0: never spin)
    --log-level LEVEL     trace, debug, info, warn or error (default info)
    --log-json            log JSON lines instead of text
    --version             print the version and exit
    --help                print this help and exit

LOGGING
    Lines go to standard error (without time stamps under systemd, whose
    journal stamps them). A warning or error that repeats is logged once;
    its repeats are counted and logged as one line with more_like_this=N
    and in_last=30s at the end of each 30 s window in which it repeated.

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
	maxClients, txqBytes            count
	maxClientsPerUID                perUIDLimit
	sndbufBytes                     count
	history                         int
	stateDir, controlGroup          string
	evictAfter, drainTimeout        time.Duration
	busyPoll                        time.Duration
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func parseFlags(cmd *cli.Command, args []string) (*options, int) {
	o := &options{maxClients: server.DefaultMaxClients, txqBytes: server.DefaultTXQBytes, maxClientsPerUID: server.DefaultMaxClientsPerUID, sndbufBytes: server.DefaultSendBuffer}
	fs := cmd.Flags
	fs.StringVar(&o.socket, "socket", client.DefaultSocket, "")
	fs.StringVar(&o.socketMode, "socket-mode", "0660", "")
	fs.StringVar(&o.socketGroup, "socket-group", "", "")
	fs.StringVar(&o.device, "device", "/dev/mypoll", "")
	fs.Var(&o.maxClients, "max-clients", "")
	fs.Var(&o.maxClientsPerUID, "max-clients-per-uid", "")
	fs.Var(&o.txqBytes, "txq-bytes", "")
	fs.Var(&o.sndbufBytes, "sndbuf-bytes", "")
	fs.IntVar(&o.history, "history", server.DefaultHistory, "")
	fs.StringVar(&o.stateDir, "state-dir", server.DefaultStateDir, "")
	fs.StringVar(&o.controlGroup, "control-group", "", "")
	fs.DurationVar(&o.evictAfter, "evict-after", 0, "")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", server.DefaultDrain, "")
	fs.DurationVar(&o.busyPoll, "busy-poll", 0, "")
	if code, ok := cmd.Parse(args); !ok {
		return nil, code
	}
	return o, -1
}

// count is a flag that takes a whole number of at least 1. server.Config
// reads 0 as "the default"; on the command line 0 is a mistake, refused
// here rather than silently replaced.
type count int

func (c *count) String() string { return strconv.Itoa(int(*c)) }

func (c *count) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil {
		return errors.New("want a whole number")
	}
	if n < 1 {
		return errors.New("want at least 1")
	}
	*c = count(n)
	return nil
}

// perUIDLimit is --max-clients-per-uid: a whole number, 0 for no limit.
type perUIDLimit int

func (l *perUIDLimit) String() string { return strconv.Itoa(int(*l)) }

func (l *perUIDLimit) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil || n < 0 {
		return errors.New("want a whole number, 0 for no limit")
	}
	*l = perUIDLimit(n)
	return nil
}

// config is the server.Config value: NoLimit for 0.
func (l perUIDLimit) config() int {
	if l == 0 {
		return server.NoLimit
	}
	return int(l)
}

// usageError is a command line that names something mypolld cannot use
// (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// run is mypolld: flags to configuration, the device and the activated
// socket, the server, signals, then serving until shutdown.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := cli.New("mypolld", usage, stdout, stderr)
	o, code := parseFlags(cmd, args)
	if o == nil {
		return code
	}
	cfg, log, err := o.config(cmd)
	if err != nil {
		return reportStartError(cmd, err)
	}
	if err := openInputs(&cfg, o.device); err != nil {
		return reportStartError(cmd, err)
	}
	srv, err := server.New(cfg)
	if err != nil {
		return reportStartError(cmd, err)
	}
	defer srv.Close()
	stopSignals := handleSignals(srv, log)
	defer stopSignals()
	return serve(srv, log, o.device)
}

// config turns the options into a validated server configuration and the
// root logger (the command's --log-level and --log-json).
func (o *options) config(cmd *cli.Command) (server.Config, hclog.Logger, error) {
	mode, err := strconv.ParseUint(o.socketMode, 8, 32)
	if err != nil {
		return server.Config{}, nil, &usageError{fmt.Sprintf("--socket-mode %q: want octal permissions such as 0660", o.socketMode)}
	}
	// A repeated warning or error costs one line and one count per window.
	log := logx.Limit(cmd.Logger(), logx.DefaultEvery, logx.RealClock{})
	cfg := server.Config{
		Socket:           o.socket,
		SocketMode:       os.FileMode(mode),
		SocketGroup:      o.socketGroup,
		MaxClients:       int(o.maxClients),
		MaxClientsPerUID: o.maxClientsPerUID.config(),
		TXQBytes:         int(o.txqBytes),
		SendBuffer:       int(o.sndbufBytes),
		History:          o.history,
		StateDir:         o.stateDir,
		ControlGroup:     o.controlGroup,
		EvictAfter:       o.evictAfter,
		DrainTimeout:     o.drainTimeout,
		BusyPoll:         o.busyPoll,
		Log:              log.Named("server"),
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, err
	}
	return cfg, log, nil
}

// openInputs opens the event device named by --device and adopts the
// socket systemd passed, if any.
func openInputs(cfg *server.Config, dev string) error {
	var err error
	if cfg.Device, err = openDevice(dev); err != nil {
		return err
	}
	if dev != "emu" && dev != "none" {
		cfg.DevicePath = dev // open_device passes this node to clients
	}
	fds, err := sys.ListenFDs(true)
	if err != nil {
		return fmt.Errorf("socket activation: %w", err)
	}
	if len(fds) > 0 {
		if len(fds) != 1 || !sys.IsListeningUnixSocket(fds[0]) {
			return fmt.Errorf("socket activation passed %d fds; want exactly one listening AF_UNIX stream socket", len(fds))
		}
		cfg.ListenFD = fds[0]
	}
	return nil
}

// reportStartError prints why mypolld could not start and returns the exit
// status: 2 for a value on the command line, 1 for anything else.
func reportStartError(cmd *cli.Command, err error) int {
	if ce, ok := errors.AsType[*server.ConfigError](err); ok {
		why := "want " + ce.Want
		if ce.Err != nil {
			why = ce.Err.Error()
		}
		return cmd.UsageError("--%s %s: %s", flagName(ce.Field), ce.Value, why)
	}
	if ue, ok := errors.AsType[*usageError](err); ok {
		return cmd.UsageError("%s", ue.msg)
	}
	return cmd.StartError(err)
}

// flagName is the flag that sets a server.Config field.
func flagName(field string) string {
	switch field {
	case "SocketMode":
		return "socket-mode"
	case "SocketGroup":
		return "socket-group"
	case "MaxClients":
		return "max-clients"
	case "MaxClientsPerUID":
		return "max-clients-per-uid"
	case "TXQBytes":
		return "txq-bytes"
	case "SendBuffer":
		return "sndbuf-bytes"
	case "History":
		return "history"
	case "EvictAfter":
		return "evict-after"
	case "DrainTimeout":
		return "drain-timeout"
	case "BusyPoll":
		return "busy-poll"
	}
	return field // not set from a flag
}

// handleSignals turns SIGTERM and SIGINT into a shutdown and SIGHUP into a
// reload, with the matching sd_notify states. The returned function stops
// the handling.
func handleSignals(srv *server.Server, log hclog.Logger) (stop func()) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
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
	return func() { signal.Stop(sigs) }
}

// serve tells systemd the daemon is ready and runs the server until a
// shutdown has drained it; it returns the exit status.
func serve(srv *server.Server, log hclog.Logger, dev string) int {
	log.Info("ready", "version", version.Version, "device", dev, "pid", os.Getpid())
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
