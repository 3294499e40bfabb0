package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/yamux"
	"github.com/mypoll/mypoll/qemu/internal/wire"
	"golang.org/x/sys/unix"
)

// maxPayload caps EXEC stdin, PUT content and FILE reads.
const maxPayload = 256 << 20

// agent serves the port. Its fields are set before serve and read-only
// afterwards, except sessions (serve's goroutine only).
type agent struct {
	log      hclog.Logger
	mode     string
	reaper   *reaper // nil in service mode
	timings  map[string]int64
	daemon   *daemonManager
	self     string
	sessions int
}

func newAgent(log hclog.Logger, mode string, r *reaper) *agent {
	self, _ := os.Executable()
	return &agent{
		log:    log,
		mode:   mode,
		reaper: r,
		daemon: newDaemonManager(log.Named("daemon"), r),
		self:   self,
	}
}

func (a *agent) ready() wire.Ready {
	return wire.Ready{
		UptimeMS: uptimeMS(),
		Session:  a.sessions,
		Mode:     a.mode,
		Timings:  a.timings,
		Agent:    a.self,
		Daemon:   a.daemon.stateString(),
	}
}

// serve handshakes and serves one yamux session after another on l until
// ctx ends (host disconnects and reconnects start a new handshake; a
// virtio port is reopened for each).
func (a *agent) serve(ctx context.Context, l link) error {
	for ctx.Err() == nil {
		f, err := l.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		stop := context.AfterFunc(ctx, func() { _ = f.Close() })
		a.sessions++
		conn, ready, err := wire.GuestHandshake(ctx, f, wire.GuestOptions{Ready: a.ready})
		if err != nil {
			stop()
			_ = f.Close()
			if ctx.Err() != nil {
				return nil
			}
			a.log.Warn("handshake", "error", err)
			continue
		}
		a.log.Debug("host connected", "session", a.sessions, "discarded", ready.Discarded, "eof_reads", ready.EOFReads)
		framed := wire.NewFramed(conn, wire.FrameOptions{})
		sess, err := yamux.Server(framed, wire.YamuxConfig(a.log.StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})))
		if err != nil {
			stop()
			_ = f.Close()
			return fmt.Errorf("yamux server: %w", err)
		}
		if ch := l.replaced(); ch != nil {
			go func() {
				select {
				case <-ch:
					a.log.Info("a new host connection replaces the session")
					_ = sess.Close()
				case <-sess.CloseChan():
				}
			}()
		}
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				if ferr := framed.Err(); ferr != nil {
					a.log.Error("session ended: link error", "error", ferr)
				} else {
					a.log.Debug("session ended", "error", err)
				}
				break
			}
			go a.handle(st)
		}
		_ = sess.Close()
		stop()
		_ = f.Close()
	}
	return nil
}

func (a *agent) handle(st *yamux.Stream) {
	defer st.Close()
	br := bufio.NewReader(st)
	line, err := wire.ReadLine(br)
	if err != nil {
		a.log.Debug("read op", "error", err)
		return
	}
	op, arg := wire.SplitOp(line)
	a.log.Debug("op", "op", op, "arg", hclog.Quote(arg))
	var opErr error
	switch op {
	case wire.OpDial:
		opErr = a.opDial(st, br, arg)
	case wire.OpExec:
		opErr = a.opExec(st, br, arg)
	case wire.OpFile:
		opErr = opFile(st, arg)
	case wire.OpPut:
		opErr = opPut(st, br, arg)
	case wire.OpSignal:
		opErr = opSignal(st, arg)
	case wire.OpKmsg:
		opErr = opKmsg(st, arg)
	case wire.OpDaemon:
		opErr = a.opDaemon(st, arg)
	case wire.OpInsmod:
		path, params, _ := strings.Cut(arg, " ")
		opErr = insmod(path, params)
		if opErr == nil {
			// A new /dev/mypoll, root:root as the kernel makes it: what
			// udev would do on a board.
			applyDeviceRule(a.log)
			opErr = wire.WriteOK(st, "")
		}
	case wire.OpRmmod:
		opErr = unix.DeleteModule(arg, unix.O_NONBLOCK)
		if opErr == nil {
			opErr = wire.WriteOK(st, "")
		} else {
			opErr = os.NewSyscallError("delete_module "+arg, opErr)
		}
	case wire.OpPing:
		js, _ := json.Marshal(a.ready())
		opErr = wire.WriteOK(st, string(js))
	case wire.OpPoweroff:
		a.log.Info("power off requested")
		_ = wire.WriteOK(st, "")
		a.daemon.stopQuiet()
		if a.mode == "init" {
			poweroff(a.log)
		}
		unix.Sync()
		if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
			a.log.Error("power off", "error", err)
		}
		return
	default:
		opErr = fmt.Errorf("unknown op %q", op)
	}
	if opErr != nil {
		a.log.Debug("op failed", "op", op, "error", opErr)
		_ = wire.WriteErr(st, opErr)
	}
}

// opDial proxies the stream to a new connection to a guest unix socket;
// EOF on one side becomes a half-close on the other.
func (a *agent) opDial(st *yamux.Stream, br *bufio.Reader, path string) error {
	c, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		return err
	}
	uc := c.(*net.UnixConn)
	defer uc.Close()
	if err := wire.WriteOK(st, ""); err != nil {
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := io.Copy(uc, br); err != nil {
			_ = uc.Close() // the session died: unblock the other direction
			return
		}
		_ = uc.CloseWrite()
	}()
	if _, err := io.Copy(st, uc); err != nil {
		_ = st.Close()
		_ = uc.Close()
	}
	_ = st.Close() // FIN: half-close towards the host
	wg.Wait()
	return nil
}

func (a *agent) opExec(st *yamux.Stream, br *bufio.Reader, arg string) error {
	var req wire.ExecRequest
	if err := json.Unmarshal([]byte(arg), &req); err != nil {
		return fmt.Errorf("exec request: %w", err)
	}
	if len(req.Argv) == 0 {
		return errors.New("exec request: empty argv")
	}
	stdin, err := io.ReadAll(io.LimitReader(br, maxPayload+1))
	if err != nil {
		return fmt.Errorf("exec stdin: %w", err)
	}
	if len(stdin) > maxPayload {
		return fmt.Errorf("exec stdin over %d bytes", maxPayload)
	}
	cmd := exec.Command(req.Argv[0], req.Argv[1:]...)
	cmd.Env = append(os.Environ(), "PATH=/bin:/sbin:/usr/bin:/usr/sbin")
	cmd.Env = append(cmd.Env, req.Env...)
	cmd.Dir = req.Dir
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if req.Combined {
		cmd.Stderr = &stdout
	}
	start := time.Now()
	if err := a.reaper.start(cmd); err != nil {
		return fmt.Errorf("exec %s: start: %w", req.Argv[0], err)
	}
	// The timeout runs from the start: fork and exec of a Go binary take
	// a good part of a short timeout under TCG.
	var timedOut atomic.Bool
	if req.TimeoutMS > 0 {
		timer := time.AfterFunc(time.Duration(req.TimeoutMS)*time.Millisecond, func() {
			timedOut.Store(true)
			_ = cmd.Process.Kill()
		})
		defer timer.Stop()
	}
	waitErr := cmd.Wait()
	a.reaper.done(cmd.Process.Pid)
	rep := wire.ExecReply{DurationMS: time.Since(start).Milliseconds()}
	if ps := cmd.ProcessState; ps != nil {
		rep.ExitCode = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			rep.Signal = unix.SignalName(ws.Signal())
		}
	} else {
		return fmt.Errorf("exec %s: wait: %w", req.Argv[0], waitErr)
	}
	rep.TimedOut = timedOut.Load()
	rep.StdoutLen = int64(stdout.Len())
	rep.StderrLen = int64(stderr.Len())
	if req.Combined {
		rep.StderrLen = 0
	}
	js, _ := json.Marshal(rep)
	if err := wire.WriteOK(st, string(js)); err != nil {
		return nil
	}
	_, _ = st.Write(stdout.Bytes())
	if !req.Combined {
		_, _ = st.Write(stderr.Bytes())
	}
	return nil
}

func opFile(st io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPayload+1))
	if err != nil {
		return err
	}
	if len(data) > maxPayload {
		return fmt.Errorf("%s is over %d bytes", path, maxPayload)
	}
	if err := wire.WriteOK(st, strconv.Itoa(len(data))); err != nil {
		return nil
	}
	_, _ = st.Write(data)
	return nil
}

func opPut(st io.Writer, br io.Reader, path string) error {
	data, err := io.ReadAll(io.LimitReader(br, maxPayload+1))
	if err != nil {
		return err
	}
	if len(data) > maxPayload {
		return fmt.Errorf("content over %d bytes", maxPayload)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	// One write: /dev/kmsg takes one record per write(2).
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return wire.WriteOK(st, strconv.Itoa(len(data)))
}

// parseSignal accepts 15, TERM or SIGTERM.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func opSignal(st io.Writer, arg string) error {
	target, sigName, ok := strings.Cut(arg, " ")
	if !ok {
		return errors.New("usage: SIGNAL <pid|name> <signal>")
	}
	sig, err := parseSignal(sigName)
	if err != nil {
		return err
	}
	self := os.Getpid()
	var pids []int
	if pid, err := strconv.Atoi(target); err == nil {
		pids = append(pids, pid)
	} else {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if pid, err := strconv.Atoi(e.Name()); err == nil && procComm(pid) == target {
				pids = append(pids, pid)
			}
		}
	}
	var sent []string
	for _, pid := range pids {
		if pid == 1 || pid == self {
			continue
		}
		if err := unix.Kill(pid, sig); err != nil {
			return fmt.Errorf("kill %d: %w", pid, err)
		}
		sent = append(sent, strconv.Itoa(pid))
	}
	if len(sent) == 0 {
		return fmt.Errorf("no process %q to signal", target)
	}
	return wire.WriteOK(st, strings.Join(sent, " "))
}

// opKmsg reads /dev/kmsg without blocking (raw fds: the runtime poller
// would park on EAGAIN) and returns records with seq >= the given cursor.
func opKmsg(st io.Writer, arg string) error {
	var from uint64
	if arg != "" {
		n, err := strconv.ParseUint(arg, 10, 64)
		if err != nil {
			return fmt.Errorf("bad cursor %q", arg)
		}
		from = n
	}
	text, next, err := readKmsg(from)
	if err != nil {
		return err
	}
	if err := wire.WriteOK(st, fmt.Sprintf("%d %d", next, len(text))); err != nil {
		return nil
	}
	_, _ = st.Write(text)
	return nil
}

func readKmsg(from uint64) ([]byte, uint64, error) {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, os.NewSyscallError("open /dev/kmsg", err)
	}
	defer unix.Close(fd)
	var out bytes.Buffer
	next := from
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EPIPE) {
			continue // EPIPE: records were overwritten; the next read goes on
		}
		if errors.Is(err, unix.EAGAIN) || n == 0 {
			break
		}
		if err != nil {
			return nil, 0, os.NewSyscallError("read /dev/kmsg", err)
		}
		// "prio,seq,usec,flags[,...];text\n" then " KEY=value" lines.
		rec := string(buf[:n])
		head, text, ok := strings.Cut(rec, ";")
		if !ok {
			continue
		}
		f := strings.Split(head, ",")
		if len(f) < 3 {
			continue
		}
		seq, err1 := strconv.ParseUint(f[1], 10, 64)
		usec, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil || seq < from {
			continue
		}
		text, _, _ = strings.Cut(text, "\n")
		fmt.Fprintf(&out, "[%5d.%06d] %s\n", usec/1e6, usec%1e6, unescapeKmsg(text))
		next = seq + 1
	}
	return out.Bytes(), next, nil
}

// unescapeKmsg undoes /dev/kmsg's \xNN escaping of non-printable bytes.
func unescapeKmsg(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (a *agent) opDaemon(st io.Writer, arg string) error {
	action, rest, _ := strings.Cut(arg, " ")
	var args []string
	if rest != "" {
		if err := json.Unmarshal([]byte(rest), &args); err != nil {
			return fmt.Errorf("daemon args: %w", err)
		}
	}
	var (
		status wire.DaemonStatus
		err    error
	)
	switch action {
	case "start":
		status, err = a.daemon.start(args)
	case "stop":
		status, err = a.daemon.stop()
	case "restart":
		if _, err = a.daemon.stop(); err == nil {
			if args == nil {
				args = a.daemon.lastArgs()
			}
			status, err = a.daemon.start(args)
		}
	case "status":
		status = a.daemon.status()
	default:
		err = fmt.Errorf("unknown daemon action %q (start, stop, restart, status)", action)
	}
	if err != nil {
		return err
	}
	js, _ := json.Marshal(status)
	return wire.WriteOK(st, string(js))
}

// echoServer echoes every connection on a unix socket (harness self-test).
func (a *agent) echoServer(path string) {
	_ = os.MkdirAll(agentRunDir, 0o755)
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		a.log.Error("echo socket", "error", err)
		return
	}
	for {
		c, err := l.Accept()
		if err != nil {
			a.log.Error("echo accept", "error", err)
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
			_ = c.(*net.UnixConn).CloseWrite()
		}()
	}
}
