package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/yamux"
)

// Ops: each yamux stream starts with one header line "<OP>[ <args>]\n" from
// the host, and the guest answers with one reply line "OK[ <text>]\n" or
// "ERR <message>\n" before any op-specific payload.
const (
	// OpDial "DIAL <unix path>": after OK the stream is a byte proxy to a
	// new connection to the guest socket; a FIN on either side becomes a
	// half-close (shutdown(SHUT_WR)) on the other.
	OpDial = "DIAL"
	// OpExec "EXEC <ExecRequest JSON>", then stdin bytes until the host's
	// FIN; reply "OK <ExecReply JSON>" and the output bytes.
	OpExec = "EXEC"
	// OpFile "FILE <path>": reply "OK <size>", then size bytes.
	OpFile = "FILE"
	// OpPut "PUT <path>", then the content until the host's FIN, written
	// with a single write(2) (one record for /dev/kmsg); reply "OK <size>".
	OpPut = "PUT"
	// OpSignal "SIGNAL <pid|comm> <signal>": signal a PID or every process
	// whose comm equals the name (never PID 1 or the agent); reply "OK <pids>".
	OpSignal = "SIGNAL"
	// OpPoweroff "POWEROFF": reply OK, sync and power off.
	OpPoweroff = "POWEROFF"
	// OpKmsg "KMSG [<seq>]": reply "OK <next seq> <size>", then size bytes:
	// the kernel log records with sequence number >= seq as "[secs] text" lines.
	OpKmsg = "KMSG"
	// OpDaemon "DAEMON start|stop|restart [<args JSON array>]": manage
	// /bin/mypolld; reply "OK <DaemonStatus JSON>" once its socket accepts
	// (start, restart) or once it exited (stop).
	OpDaemon = "DAEMON"
	// OpInsmod "INSMOD <path> [<params>]": finit_module; reply OK.
	OpInsmod = "INSMOD"
	// OpRmmod "RMMOD <name>": delete_module; reply OK.
	OpRmmod = "RMMOD"
	// OpPing "PING": reply "OK <Ready JSON>" (current guest state).
	OpPing = "PING"
)

// MaxHeader caps a header or reply line.
const MaxHeader = 1 << 20

// ErrRemote wraps an ERR reply from the agent.
var ErrRemote = errors.New("agent")

// ExecRequest is the EXEC header payload.
type ExecRequest struct {
	Argv []string `json:"argv"`
	// Env is added to the agent's environment (KEY=value).
	Env []string `json:"env,omitempty"`
	Dir string   `json:"dir,omitempty"`
	// TimeoutMS kills the process after this long (0: no limit).
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// Combined sends stdout and stderr to one buffer (Output).
	Combined bool `json:"combined,omitempty"`
}

// ExecReply is the EXEC reply payload; the reply line is followed by
// StdoutLen bytes of stdout, then StderrLen bytes of stderr (with Combined,
// stdout holds both streams interleaved and StderrLen is 0).
type ExecReply struct {
	// ExitCode is the exit status, or -1 when killed by a signal.
	ExitCode int `json:"exit_code"`
	// Signal names the signal that killed the process, if any.
	Signal     string `json:"signal,omitempty"`
	TimedOut   bool   `json:"timed_out,omitempty"`
	StdoutLen  int64  `json:"stdout_len"`
	StderrLen  int64  `json:"stderr_len"`
	DurationMS int64  `json:"duration_ms"`
}

// DaemonStatus is the DAEMON reply payload.
type DaemonStatus struct {
	PID    int      `json:"pid,omitempty"`
	Socket string   `json:"socket,omitempty"`
	Args   []string `json:"args,omitempty"`
	// ReadyMS is how long the socket took to accept after the start.
	ReadyMS int64 `json:"ready_ms,omitempty"`
	// ReadyUptimeMS is the guest's CLOCK_BOOTTIME when the socket accepted.
	ReadyUptimeMS int64 `json:"ready_uptime_ms,omitempty"`
	// State is "running" or "stopped".
	State string `json:"state"`
}

// YamuxConfig is the session configuration of both ends: keepalive off (the
// host learns of guest death from QEMU's exit, the guest of host death from
// EOF; a stalled TCG guest must not kill sessions), generous write timeout,
// and a half-closed stream kept for an hour, not yamux's 5 minutes: an EXEC
// closes its write side after the request and then waits for the reply,
// which a long torture or fuzz run in a loaded TCG guest can take longer
// than 5 minutes to send (the command's own timeout bounds it).
func YamuxConfig(logOutput io.Writer) *yamux.Config {
	c := yamux.DefaultConfig()
	c.EnableKeepAlive = false
	c.MaxStreamWindowSize = 256 << 10
	c.ConnectionWriteTimeout = 60 * time.Second
	c.StreamOpenTimeout = 60 * time.Second
	c.StreamCloseTimeout = time.Hour
	c.LogOutput = logOutput
	if logOutput == nil {
		c.LogOutput = io.Discard
	}
	return c
}

// ReadLine reads one '\n'-terminated line of at most MaxHeader bytes and
// returns it without the newline.
func ReadLine(r *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		frag, err := r.ReadSlice('\n')
		sb.Write(frag)
		if sb.Len() > MaxHeader {
			return "", fmt.Errorf("line longer than %d bytes", MaxHeader)
		}
		if err == nil {
			return strings.TrimSuffix(sb.String(), "\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && sb.Len() > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}

// SplitOp splits a header line into op and argument text.
func SplitOp(line string) (op, arg string) {
	op, arg, _ = strings.Cut(line, " ")
	return op, arg
}

// ParseReply splits a reply line: it returns the text after "OK", or an
// error wrapping ErrRemote for "ERR <message>".
func ParseReply(line string) (string, error) {
	switch {
	case line == "OK":
		return "", nil
	case strings.HasPrefix(line, "OK "):
		return line[3:], nil
	case strings.HasPrefix(line, "ERR "):
		return "", fmt.Errorf("%w: %s", ErrRemote, line[4:])
	}
	return "", fmt.Errorf("bad reply line %q", line)
}

// WriteOK writes an OK reply line with optional text.
func WriteOK(w io.Writer, text string) error {
	if text == "" {
		_, err := io.WriteString(w, "OK\n")
		return err
	}
	_, err := io.WriteString(w, "OK "+text+"\n")
	return err
}

// WriteErr writes an ERR reply line; newlines in err are flattened.
func WriteErr(w io.Writer, err error) error {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	_, werr := io.WriteString(w, "ERR "+msg+"\n")
	return werr
}
