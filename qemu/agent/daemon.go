package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/mypoll/mypoll/qemu/internal/wire"
	"golang.org/x/sys/unix"
)

const (
	daemonBin     = "/bin/mypolld"
	daemonSocket  = "/run/mypoll/mypoll.sock" // PROTOCOL.md A: default path
	daemonLog     = agentRunDir + "/mypolld.log"
	daemonDevice  = "/dev/mypoll"
	daemonReadyIn = 20 * time.Second
	daemonStopIn  = 5 * time.Second
	daemonReapIn  = 2 * time.Second // a start waits this long for a killed daemon's exit
)

// daemonManager runs /bin/mypolld, as user mypoll when the image has it
// (users.go). All fields are guarded by mu; start and
// stop serialize on it, so a DAEMON op waits for another in flight.
type daemonManager struct {
	log    hclog.Logger
	reaper *reaper

	// booted is closed when the boot-time start finished (or was skipped);
	// status waits for it so a caller sees the outcome, not "stopped".
	booted   chan struct{}
	bootOnce sync.Once

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{} // closed when cmd exited
	args  []string
	sock  string
	state string
	// readyMS and readyUptimeMS describe the last successful start.
	readyMS, readyUptimeMS int64
}

func newDaemonManager(log hclog.Logger, r *reaper) *daemonManager {
	return &daemonManager{log: log, reaper: r, state: "stopped", booted: make(chan struct{})}
}

func (d *daemonManager) setState(s string) {
	d.mu.Lock()
	d.state = s
	d.mu.Unlock()
}

// stateString does not wait for a start or stop in progress (which holds
// mu until mypolld's socket accepts: seconds on a slow board), so READY is
// not held up by it.
func (d *daemonManager) stateString() string {
	if !d.mu.TryLock() {
		return "starting"
	}
	defer d.mu.Unlock()
	return d.state
}

func (d *daemonManager) lastArgs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.args)
}

// defaultArgs are mypolld's boot flags: the real device when the module
// made it, else none.
func defaultArgs() []string {
	dev := "none"
	if _, err := os.Stat(daemonDevice); err == nil {
		dev = daemonDevice
	}
	return []string{"--device", dev}
}

// bootStart starts the daemon at boot; spec is the kernel command line's
// mypolltest.daemon value ("" or "auto" for the defaults, else
// comma-separated flags).
func (d *daemonManager) bootStart(spec string) {
	defer d.bootDone()
	if _, err := os.Stat(daemonBin); err != nil {
		d.setState("absent")
		return
	}
	var args []string
	if spec != "" && spec != "auto" {
		args = strings.Split(spec, ",")
	}
	if st, err := d.start(args); err != nil {
		d.log.Error("mypolld did not start", "error", err)
	} else {
		d.log.Info("mypolld ready", "pid", st.PID, "socket", st.Socket, "ready_ms", st.ReadyMS)
	}
}

// socketArg returns the --socket value in args, or "".
func socketArg(args []string) string {
	for i, a := range args {
		if a == "--socket" && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--socket="); ok {
			return v
		}
	}
	return ""
}

func hasDevice(args []string) bool {
	for _, a := range args {
		if a == "--device" || strings.HasPrefix(a, "--device=") {
			return true
		}
	}
	return false
}

// bootDone marks the boot-time start as finished (idempotent).
func (d *daemonManager) bootDone() { d.bootOnce.Do(func() { close(d.booted) }) }

func (d *daemonManager) status() wire.DaemonStatus {
	select {
	case <-d.booted:
	case <-time.After(daemonReadyIn):
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := wire.DaemonStatus{State: d.state, Socket: d.sock, Args: slices.Clone(d.args)}
	if d.cmd != nil && d.state == "running" {
		st.PID = d.cmd.Process.Pid
		st.ReadyMS, st.ReadyUptimeMS = d.readyMS, d.readyUptimeMS
	}
	return st
}

// start runs mypolld with args (plus --device and --socket defaults when
// missing) and returns once its socket accepts a connection.
func (d *daemonManager) start(args []string) (wire.DaemonStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil && d.state == "running" {
		// A daemon killed just before (a test's SIGKILL) is gone but may not
		// be reaped yet: its exit is worth a short wait, not an error.
		select {
		case <-d.done:
		case <-time.After(daemonReapIn):
			return wire.DaemonStatus{}, fmt.Errorf("mypolld already running as pid %d", d.cmd.Process.Pid)
		}
	}
	if _, err := os.Stat(daemonBin); err != nil {
		d.state = "absent"
		return wire.DaemonStatus{}, fmt.Errorf("%s is not in the image", daemonBin)
	}
	args = slices.Clone(args)
	if !hasDevice(args) {
		args = append(args, defaultArgs()...)
	}
	sock := socketArg(args)
	if sock == "" {
		sock = daemonSocket
		args = append(args, "--socket", sock)
	}
	// The shipped defaults (init/default/mypolld) unless the caller says.
	for _, f := range [][2]string{{"--socket-group", deviceGroup}, {"--control-group", controlGroup}} {
		if _, ok := flagValue(args, f[0]); !ok && groupExists(f[1]) {
			args = append(args, f[0], f[1])
		}
	}
	id, err := lookupIdentity(daemonUser)
	if err != nil {
		d.log.Warn("mypolld runs as root: no user "+daemonUser+" in the image", "error", err)
	} else if err := prepareDirs(args, id); err != nil {
		return wire.DaemonStatus{}, fmt.Errorf("directories for mypolld: %w", err)
	}
	_ = os.MkdirAll(agentRunDir, 0o755)
	logf, err := os.OpenFile(daemonLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return wire.DaemonStatus{}, fmt.Errorf("daemon log: %w", err)
	}
	cmd := exec.Command(daemonBin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), "PATH=/bin:/sbin:/usr/bin:/usr/sbin")
	if id != nil {
		cmd.SysProcAttr = id.credential()
	}
	start := time.Now()
	if err := d.reaper.start(cmd); err != nil {
		logf.Close()
		d.state = "failed: " + err.Error()
		return wire.DaemonStatus{}, fmt.Errorf("start mypolld: %w", err)
	}
	logf.Close()
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		d.reaper.done(cmd.Process.Pid)
		d.log.Info("mypolld exited", "pid", cmd.Process.Pid, "status", fmt.Sprint(err))
		close(done) // before taking mu: stop waits for done holding mu
		d.mu.Lock()
		if d.cmd == cmd && d.state == "running" {
			d.state = "exited: " + fmt.Sprint(err)
		}
		d.mu.Unlock()
	}()
	d.cmd, d.done, d.args, d.sock, d.state = cmd, done, args, sock, "starting"

	deadline := time.Now().Add(daemonReadyIn)
	for {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			d.state = "failed: exited before ready"
			return wire.DaemonStatus{}, fmt.Errorf("mypolld exited before its socket accepted (%s); log: %s",
				cmd.ProcessState, tailFile(daemonLog, 5))
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.state = "failed: not ready"
			return wire.DaemonStatus{}, fmt.Errorf("mypolld socket %s did not accept within %v; log: %s",
				sock, daemonReadyIn, tailFile(daemonLog, 5))
		}
	}
	d.state = "running"
	d.readyMS, d.readyUptimeMS = time.Since(start).Milliseconds(), uptimeMS()
	return wire.DaemonStatus{PID: cmd.Process.Pid, Socket: sock, Args: args,
		ReadyMS: d.readyMS, ReadyUptimeMS: d.readyUptimeMS, State: "running"}, nil
}

// stop sends SIGTERM, then SIGKILL after daemonStopIn, and waits for exit.
func (d *daemonManager) stop() (wire.DaemonStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return wire.DaemonStatus{State: d.state}, nil
	}
	select {
	case <-d.done:
	default:
		if err := d.cmd.Process.Signal(unix.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return wire.DaemonStatus{}, fmt.Errorf("signal mypolld: %w", err)
		}
		select {
		case <-d.done:
		case <-time.After(daemonStopIn):
			d.log.Warn("mypolld ignored SIGTERM, killing", "pid", d.cmd.Process.Pid)
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	st := wire.DaemonStatus{State: "stopped", Args: d.args, Socket: d.sock}
	if ps := d.cmd.ProcessState; ps != nil {
		st.State = "stopped: " + ps.String()
	}
	d.state = "stopped"
	d.cmd = nil
	return st, nil
}

// stopQuiet stops the daemon before power-off so it can flush state.
func (d *daemonManager) stopQuiet() {
	if _, err := d.stop(); err != nil {
		d.log.Warn("stop mypolld", "error", err)
	}
}
