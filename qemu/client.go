package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/yamux"
	"github.com/mypoll/mypoll/qemu/internal/wire"
)

// ErrNotConnected is returned by ops before Connect succeeded.
var ErrNotConnected = errors.New("not connected to the agent")

// ErrRemote is wrapped by errors the agent reported (an ERR reply). It is
// deliberately the very sentinel the agent protocol uses, re-exported, so
// that errors.Is matches what the protocol code wraps.
var ErrRemote = wire.ErrRemote

// Connect (re)connects to the agent: it dials the port's socket, runs the
// handshake and starts a yamux client. A previous session is closed first;
// streams of the old session fail. The first Connect is the "boot" phase
// (budget BootTimeout), later ones the "handshake" phase.
func (vm *VM) Connect(ctx context.Context) error {
	vm.mu.Lock()
	old := vm.sess
	vm.sess = nil
	first := vm.connects == 0
	vm.connects++
	vm.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	phase, budget := "handshake", vm.cfg.budget(vm.cfg.BootTimeout, DefaultBootTimeout)
	if first {
		phase = "boot"
	}
	ctx, cancel := vm.phaseCtx(ctx, budget)
	defer cancel()
	var conn io.ReadWriteCloser
	var err error
	if first {
		if err := vm.waitServing(ctx); err != nil {
			return vm.phaseErr(phase, err)
		}
	}
	if vm.target != nil {
		conn, err = vm.dialTarget(ctx)
	} else {
		conn, err = vm.dialPort(ctx)
	}
	if err != nil {
		return vm.phaseErr(phase, err)
	}
	// Give up early when QEMU dies.
	unwatch := make(chan struct{})
	defer close(unwatch)
	hctx, hcancel := context.WithCancelCause(ctx)
	defer hcancel(nil)
	go func() {
		select {
		case <-vm.exited:
			hcancel(errors.New("qemu exited"))
		case <-unwatch:
		}
	}()
	// A board's agent may hold a session of an earlier run: always flush.
	c, ready, discarded, err := wire.HostHandshake(hctx, conn, !first || vm.target != nil)
	if err != nil {
		_ = conn.Close()
		if cause := context.Cause(hctx); cause != nil && hctx.Err() != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w: %w", err, cause)
		}
		return vm.phaseErr(phase, err)
	}
	framed := wire.NewFramed(c, wire.FrameOptions{})
	sess, err := yamux.Client(framed, wire.YamuxConfig(vm.log.StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})))
	if err != nil {
		_ = conn.Close()
		return vm.phaseErr(phase, err)
	}
	vm.mu.Lock()
	vm.sess = sess
	vm.framed = framed
	vm.ready = Ready(ready)
	if first {
		vm.readyAt = time.Since(vm.started)
	}
	vm.mu.Unlock()
	vm.log.Info("agent ready", "phase", phase, "since_start", time.Since(vm.started).Round(time.Millisecond),
		"guest_uptime_ms", ready.UptimeMS, "session", ready.Session, "discarded", discarded, "daemon", ready.Daemon)
	return nil
}

// dialPort connects to QEMU's chardev socket, retrying while QEMU creates it.
func (vm *VM) dialPort(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "unix", vm.sock)
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dial %s: %w", vm.sock, err)
		case <-vm.exited:
			return nil, fmt.Errorf("qemu exited before its port socket accepted: %v", vm.exitErr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Disconnect closes the session (the guest agent waits for a reconnect).
func (vm *VM) Disconnect() {
	vm.mu.Lock()
	s := vm.sess
	vm.sess = nil
	vm.mu.Unlock()
	if s != nil {
		_ = s.Close()
	}
}

// stream is an op stream: reads go through the bufio.Reader that read the
// reply line, so no payload byte is lost.
type stream struct {
	*yamux.Stream
	r *bufio.Reader
	// unbind stops the ctx from setting the stream's deadline.
	unbind func() bool
}

func (s *stream) Read(p []byte) (int, error) { return s.r.Read(p) }

// CloseWrite half-closes the stream (a yamux FIN): the peer reads EOF.
func (s *stream) CloseWrite() error { return s.Stream.Close() }

// open starts an op: it opens a stream, sends the header and, unless body
// is nil, the body followed by a half-close, then reads the reply line.
// The stream's deadline follows ctx.
func (vm *VM) open(ctx context.Context, header string, body []byte) (*stream, string, error) {
	vm.mu.Lock()
	sess := vm.sess
	vm.mu.Unlock()
	if sess == nil {
		return nil, "", ErrNotConnected
	}
	st, err := sess.OpenStream()
	if err != nil {
		return nil, "", fmt.Errorf("open stream: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = st.SetDeadline(time.Unix(1, 0)) })
	s := &stream{Stream: st, r: bufio.NewReader(st), unbind: stop}
	fail := func(err error) (*stream, string, error) {
		stop()
		_ = st.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return nil, "", err
	}
	if _, err := io.WriteString(st, header+"\n"); err != nil {
		return fail(fmt.Errorf("send op: %w", err))
	}
	if body != nil {
		for len(body) > 0 { // 32 KiB frames limit head-of-line blocking
			n := min(len(body), 32<<10)
			if _, err := st.Write(body[:n]); err != nil {
				return fail(fmt.Errorf("send op body: %w", err))
			}
			body = body[n:]
		}
		if err := st.Close(); err != nil {
			return fail(fmt.Errorf("send op body: %w", err))
		}
	}
	line, err := wire.ReadLine(s.r)
	if err != nil {
		return fail(fmt.Errorf("read reply: %w", err))
	}
	text, err := wire.ParseReply(line)
	if err != nil {
		return fail(err)
	}
	// Deadline handling stays in place for payload reads; callers close.
	return s, text, nil
}

// simple runs an op whose whole answer is the reply line.
func (vm *VM) simple(ctx context.Context, phase, header string, body []byte) (string, error) {
	ctx, cancel := vm.phaseCtx(ctx, vm.cfg.budget(vm.cfg.OpTimeout, DefaultOpTimeout))
	defer cancel()
	s, text, err := vm.open(ctx, header, body)
	if err != nil {
		return "", vm.phaseErr(phase, err)
	}
	_ = s.Close()
	return text, nil
}

// sized runs an op whose reply text starts with a payload size, and reads
// the payload. It returns the reply text fields and the payload.
func (vm *VM) sized(ctx context.Context, phase, header string, sizeField int) ([]string, []byte, error) {
	ctx, cancel := vm.phaseCtx(ctx, vm.cfg.budget(vm.cfg.OpTimeout, DefaultOpTimeout))
	defer cancel()
	s, text, err := vm.open(ctx, header, nil)
	if err != nil {
		return nil, nil, vm.phaseErr(phase, err)
	}
	defer s.Close()
	f := strings.Fields(text)
	if len(f) <= sizeField {
		return nil, nil, vm.phaseErr(phase, fmt.Errorf("bad reply %q", text))
	}
	n, err := strconv.ParseInt(f[sizeField], 10, 64)
	if err != nil || n < 0 {
		return nil, nil, vm.phaseErr(phase, fmt.Errorf("bad size in reply %q", text))
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(s, data); err != nil {
		return nil, nil, vm.phaseErr(phase, fmt.Errorf("read payload: %w", err))
	}
	return f, data, nil
}

// Dial returns a connection to the guest unix socket at path, proxied by
// the agent. CloseWrite half-closes (the guest peer reads EOF); Close also
// half-closes, and the stream goes away once the guest side closes too.
func (vm *VM) Dial(ctx context.Context, path string) (net.Conn, error) {
	ctx, cancel := vm.phaseCtx(ctx, vm.cfg.budget(vm.cfg.OpTimeout, DefaultOpTimeout))
	defer cancel()
	s, _, err := vm.open(ctx, wire.OpDial+" "+path, nil)
	if err != nil {
		return nil, vm.phaseErr("dial", err)
	}
	s.unbind()
	_ = s.SetDeadline(time.Time{})
	return &dialConn{s}, nil
}

// dialConn is the net.Conn Dial returns.
type dialConn struct{ *stream }

// Read reads proxied bytes (including any the reply line read ahead).
func (c *dialConn) Read(p []byte) (int, error) { return c.stream.Read(p) }

// ExecResult is the outcome of Exec.
type ExecResult struct {
	// ExitCode is the exit status, or -1 when a signal killed the process.
	ExitCode int
	// Signal names the signal that killed it (e.g. "SIGTERM"), if any.
	Signal string
	// TimedOut says the agent killed it at the request's timeout.
	TimedOut bool
	Stdout   []byte
	Stderr   []byte
	// Output holds stdout and stderr interleaved (ExecRequest.Combined).
	Output   []byte
	Duration time.Duration
}

// ExecRequest is a full Exec request.
type ExecRequest struct {
	Argv  []string
	Env   []string
	Dir   string
	Stdin []byte
	// Timeout kills the process in the guest; zero means the ctx deadline.
	Timeout time.Duration
	// Combined puts stdout and stderr into Output, interleaved.
	Combined bool
}

// Exec runs argv in the guest with stdin and waits for it. A non-zero exit
// is not an error; check ExitCode.
func (vm *VM) Exec(ctx context.Context, argv []string, stdin []byte) (ExecResult, error) {
	return vm.ExecWith(ctx, ExecRequest{Argv: argv, Stdin: stdin})
}

// ExecWith runs a full ExecRequest. The process gets the time left before
// the ctx or config deadline (minus a second to report back) unless
// req.Timeout is shorter.
func (vm *VM) ExecWith(ctx context.Context, req ExecRequest) (ExecResult, error) {
	ctx, cancel := vm.phaseCtx(ctx, 0)
	defer cancel()
	timeout := req.Timeout
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl) - time.Second
		if left <= 0 {
			left = time.Until(dl)
		}
		if timeout <= 0 || left < timeout {
			timeout = left
		}
	}
	wreq := wire.ExecRequest{Argv: req.Argv, Env: req.Env, Dir: req.Dir, Combined: req.Combined}
	if timeout > 0 {
		wreq.TimeoutMS = max(timeout.Milliseconds(), 1)
	}
	js, err := json.Marshal(wreq)
	if err != nil {
		return ExecResult{}, vm.phaseErr("exec", err)
	}
	stdin := req.Stdin
	if stdin == nil {
		stdin = []byte{}
	}
	s, text, err := vm.open(ctx, wire.OpExec+" "+string(js), stdin)
	if err != nil {
		return ExecResult{}, vm.phaseErr("exec "+strings.Join(req.Argv, " "), err)
	}
	defer s.Close()
	var rep wire.ExecReply
	if err := json.Unmarshal([]byte(text), &rep); err != nil {
		return ExecResult{}, vm.phaseErr("exec", fmt.Errorf("bad reply %q: %w", text, err))
	}
	res := ExecResult{ExitCode: rep.ExitCode, Signal: rep.Signal, TimedOut: rep.TimedOut,
		Duration: time.Duration(rep.DurationMS) * time.Millisecond}
	out := make([]byte, rep.StdoutLen+rep.StderrLen)
	if _, err := io.ReadFull(s, out); err != nil {
		return res, vm.phaseErr("exec", fmt.Errorf("read output: %w", err))
	}
	if req.Combined {
		res.Output = out
	} else {
		res.Stdout, res.Stderr = out[:rep.StdoutLen], out[rep.StdoutLen:]
	}
	return res, nil
}

// Fetch returns the content of a guest file.
func (vm *VM) Fetch(ctx context.Context, path string) ([]byte, error) {
	_, data, err := vm.sized(ctx, "fetch "+path, wire.OpFile+" "+path, 0)
	return data, err
}

// Put writes data to a guest file with a single write(2) (so a short Put
// to /dev/kmsg is one kernel log record; end it with a newline, or the
// kernel keeps the record open for continuation and readers of the log do
// not see it until the next record).
func (vm *VM) Put(ctx context.Context, path string, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	_, err := vm.simple(ctx, "put "+path, wire.OpPut+" "+path, data)
	return err
}

// Signal sends sig ("TERM", "SIGKILL", "9") to the guest process with PID
// target, or to every process whose comm is target. It returns the PIDs
// signalled; no match is an error wrapping ErrRemote.
func (vm *VM) Signal(ctx context.Context, target, sig string) ([]int, error) {
	text, err := vm.simple(ctx, "signal", wire.OpSignal+" "+target+" "+sig, nil)
	if err != nil {
		return nil, err
	}
	var pids []int
	for f := range strings.FieldsSeq(text) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// DaemonStatus is the agent's view of mypolld.
type DaemonStatus struct {
	PID    int
	Socket string
	Args   []string
	// ReadyMS is how long the socket took to accept after the start.
	ReadyMS int64
	// ReadyUptimeMS is the guest's CLOCK_BOOTTIME when the socket accepted.
	ReadyUptimeMS int64
	// State is "running" or "stopped".
	State string
}

// Daemon starts, stops or restarts /bin/mypolld in the guest ("status"
// reports). start and restart return once the daemon's socket accepts;
// args replace the default flags (--device /dev/mypoll or none, --socket
// /run/mypoll/mypoll.sock are added when missing); restart without args
// reuses the last ones.
func (vm *VM) Daemon(ctx context.Context, action string, args ...string) (DaemonStatus, error) {
	header := wire.OpDaemon + " " + action
	if len(args) > 0 {
		js, _ := json.Marshal(args)
		header += " " + string(js)
	}
	text, err := vm.simple(ctx, "daemon "+action, header, nil)
	if err != nil {
		return DaemonStatus{}, err
	}
	var st wire.DaemonStatus
	if err := json.Unmarshal([]byte(text), &st); err != nil {
		return DaemonStatus{}, vm.phaseErr("daemon "+action, fmt.Errorf("bad reply %q: %w", text, err))
	}
	return DaemonStatus(st), nil
}

// Insmod loads a kernel module from a guest path with parameters.
func (vm *VM) Insmod(ctx context.Context, path, params string) error {
	_, err := vm.simple(ctx, "insmod", strings.TrimSpace(wire.OpInsmod+" "+path+" "+params), nil)
	return err
}

// Rmmod unloads a kernel module by name.
func (vm *VM) Rmmod(ctx context.Context, name string) error {
	_, err := vm.simple(ctx, "rmmod", wire.OpRmmod+" "+name, nil)
	return err
}

// Ping asks the agent for its current state.
func (vm *VM) Ping(ctx context.Context) (Ready, error) {
	text, err := vm.simple(ctx, "ping", wire.OpPing, nil)
	if err != nil {
		return Ready{}, err
	}
	var r wire.Ready
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		return Ready{}, vm.phaseErr("ping", fmt.Errorf("bad reply %q: %w", text, err))
	}
	return Ready(r), nil
}

// KernelLog returns the whole kernel log since boot, one "[secs] text"
// line per record.
func (vm *VM) KernelLog(ctx context.Context) (string, error) {
	text, _, err := vm.KernelLogSince(ctx, 0)
	return text, err
}

// KernelLogSince returns the kernel log records with sequence number >=
// cursor and the cursor for the next call.
func (vm *VM) KernelLogSince(ctx context.Context, cursor uint64) (string, uint64, error) {
	f, data, err := vm.sized(ctx, "kernel log", fmt.Sprintf("%s %d", wire.OpKmsg, cursor), 1)
	if err != nil {
		return "", 0, err
	}
	next, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return "", 0, vm.phaseErr("kernel log", fmt.Errorf("bad cursor %q", f[0]))
	}
	return string(data), next, nil
}

// Poweroff asks the agent to power off and waits for QEMU to exit; after
// PoweroffTimeout it kills QEMU and returns an error. It first runs
// Config.BeforePoweroff (qemutest.StartT checks the kernel log there: a
// complaint fails the test, not the power-off).
func (vm *VM) Poweroff(ctx context.Context) error {
	select {
	case <-vm.exited:
		return nil
	default:
	}
	if vm.cfg.BeforePoweroff != nil && vm.sessionUp() {
		octx, ocancel := vm.phaseCtx(ctx, vm.cfg.budget(vm.cfg.OpTimeout, DefaultOpTimeout))
		vm.cfg.BeforePoweroff(octx, vm)
		ocancel()
	}
	if vm.target != nil { // a board keeps running: detach
		vm.detach()
		return nil
	}
	ctx, cancel := vm.phaseCtx(ctx, vm.cfg.budget(vm.cfg.PoweroffTimeout, DefaultPoweroffTimeout))
	defer cancel()
	// The reply may be lost when the guest goes down first: only QEMU's
	// exit counts.
	go func() {
		s, _, err := vm.open(ctx, wire.OpPoweroff, nil)
		if err == nil {
			_ = s.Close()
		}
	}()
	select {
	case <-vm.exited:
		vm.Disconnect()
		return nil
	case <-ctx.Done():
		err := vm.phaseErr("poweroff", fmt.Errorf("qemu still running: %w", ctx.Err()))
		vm.Kill()
		return err
	}
}

// complaint patterns: kernel trouble on the console or in the kernel log.
// Lockdep, KASAN, KCSAN and atomic-sleep reports start with "WARNING:" or
// "BUG:" (the debug-kernel tier); the lockdep lines below mean it switched
// itself off and checks nothing from then on.
var complaints = []string{
	"Oops", "BUG:", "WARNING:", "Kernel panic", "Unable to handle",
	"list_add corruption", "list_del corruption", "Slab corruption", "slab error",
	"kmemleak:", "unreferenced object", "Call trace:", "INFO: task", "detected stall",
	"kernel BUG at", "UBSAN:", "KASAN:", "KCSAN:",
	"turning off the locking correctness validator", "Disabling lock debugging",
	"lockdep is turned off",
}

func isTrouble(line string) bool {
	for _, c := range complaints {
		if strings.Contains(line, c) {
			return true
		}
	}
	return false
}

// CheckKernelLog returns an error listing every line of log that shows
// kernel trouble (Oops, BUG:, WARNING:, panic, list or slab corruption,
// kmemleak reports, hung tasks, RCU stalls, lockdep, KASAN, KCSAN and UBSAN
// reports, lockdep switching itself off), or nil.
func CheckKernelLog(log string) error {
	return checkLines(strings.Split(log, "\n"), nil)
}

// CheckKernelLogWant returns an error naming each text of want that log
// does not contain, or nil.
func CheckKernelLogWant(log string, want []string) error {
	var missing []string
	for _, w := range want {
		if !strings.Contains(log, w) {
			missing = append(missing, strconv.Quote(w))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("kernel log lacks %s", strings.Join(missing, ", "))
}

func checkLines(lines, ignore []string) error {
	var bad []string
	for _, l := range lines {
		if !isTrouble(l) {
			continue
		}
		excused := false
		for _, ig := range ignore {
			if strings.Contains(l, ig) {
				excused = true
			}
		}
		if !excused {
			bad = append(bad, l)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	const maxShown = 20
	more := ""
	if len(bad) > maxShown {
		more = fmt.Sprintf("\n... and %d more", len(bad)-maxShown)
		bad = bad[:maxShown]
	}
	return fmt.Errorf("kernel trouble:\n%s%s", strings.Join(bad, "\n"), more)
}

// IgnoreTrouble excuses complaint lines containing substr in later checks
// (a test that plants a warning on purpose).
func (vm *VM) IgnoreTrouble(substr string) {
	vm.mu.Lock()
	vm.ignore = append(vm.ignore, substr)
	vm.mu.Unlock()
}

// CheckConsole returns an error listing the complaint lines seen on the
// serial console so far (minus ignored ones), or nil.
func (vm *VM) CheckConsole() error {
	vm.mu.Lock()
	lines := append([]string(nil), vm.trouble...)
	ignore := append([]string(nil), vm.ignore...)
	vm.mu.Unlock()
	return checkLines(lines, ignore)
}

// CheckKernel fetches the kernel log and returns an error listing its
// complaint lines (minus ignored ones) and the texts of
// Config.KernelLogWant it lacks, or nil.
func (vm *VM) CheckKernel(ctx context.Context) error {
	log, err := vm.KernelLog(ctx)
	if err != nil {
		return err
	}
	vm.mu.Lock()
	ignore := append([]string(nil), vm.ignore...)
	vm.mu.Unlock()
	return errors.Join(checkLines(strings.Split(log, "\n"), ignore), CheckKernelLogWant(log, vm.cfg.KernelLogWant))
}
