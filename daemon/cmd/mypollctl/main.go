// Command mypollctl is the command-line client of mypolld: one subcommand
// per protocol request, listen to stream events, --json for scripts. Run
// "mypollctl --help" for the manual.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/daemon/internal/version"
)

// Exit codes (see the manual).
const (
	exitOK      = 0
	exitErr     = 1
	exitUsage   = 2
	exitConnect = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// opts are the global flags.
type opts struct {
	socket  string
	json    bool
	timeout time.Duration
}

func (o *opts) register(fs *flag.FlagSet) {
	fs.StringVar(&o.socket, "socket", o.socket, "")
	fs.BoolVar(&o.json, "json", o.json, "")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "")
}

// usageError is a bad command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// connectError is a failure to get a session: exit 3.
type connectError struct{ msg string }

func (e *connectError) Error() string { return e.msg }

// cmd is one subcommand.
type cmd struct {
	name     string
	min, max int                             // positional arguments
	flags    func(fs *flag.FlagSet, a *args) // subcommand flags, or nil
	parse    func(a *args) error             // checks positional arguments before connecting, or nil
	raw      bool                            // arguments are text: no flag parsing
	offline  bool                            // needs no connection
	long     bool                            // runs until stopped: bounds its own requests with e.request
	run      func(ctx context.Context, e *env, a *args) error
}

// args are a subcommand's parsed arguments.
type args struct {
	pos     []string
	from    uint64
	hasFrom bool
	set     string

	filter    client.Filter // listen --filter and --set, united
	hasFilter bool
	resume    bool // listen --resume

	oldest bool   // open-device --oldest
	limit  uint64 // open-device --count

	// Filled in by the command's parse.
	payload, count uint64
	id, periodMS   uint64
}

// env is what a subcommand runs with.
type env struct {
	opts
	conn   *client.Conn
	out    *output
	stderr io.Writer
}

var cmds = []cmd{
	{name: "echo", max: -1, raw: true, parse: parseEcho, run: runEcho},
	{name: "trigger", max: 2, parse: parseTrigger, run: runTrigger},
	{name: "start-timer", min: 2, max: 3, parse: parseStartTimer, run: runStartTimer},
	{name: "stop-timer", min: 1, max: 1, parse: parseStopTimer, run: runStopTimer},
	{name: "timers", run: runTimers},
	{name: "stats", run: runStats},
	{name: "subscribe", min: 1, max: 1, flags: fromFlag, run: runSubscribe},
	{name: "listen", flags: listenFlags, parse: parseListen, long: true, run: runListen},
	{name: "open-device", flags: openDeviceFlags, long: true, run: runOpenDevice},
	{name: "help", run: runHelp},
	{name: "version", offline: true, run: runVersion},
}

func fromFlag(fs *flag.FlagSet, a *args) {
	fs.Func("from", "", func(s string) error {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return errors.New("SEQ must be a decimal sequence number")
		}
		a.from, a.hasFrom = v, true
		return nil
	})
}

func listenFlags(fs *flag.FlagSet, a *args) {
	fromFlag(fs, a)
	// --filter and --set are one flag (--set is its older name): each
	// names a set, as subscribe takes it, and listen takes their union.
	addFilter := func(s string) error {
		f, err := client.ParseFilter(s)
		if err != nil {
			return err
		}
		a.filter, a.hasFilter = a.filter.Or(f), true
		return nil
	}
	fs.Func("filter", "", addFilter)
	fs.Func("set", "", addFilter)
	fs.BoolVar(&a.resume, "resume", false, "")
}

// parseListen settles the subscription: the union of the --filter flags,
// all without one.
func parseListen(a *args) error {
	if !a.hasFilter {
		a.filter = client.All
	}
	if n := a.filter.Len(); n > client.MaxFilterItems {
		return usagef("listen: --filter names %d items, at most %d", n, client.MaxFilterItems)
	}
	a.set = a.filter.String()
	return nil
}

// run is main without the process: it parses args, runs one command and
// returns the exit code. stdin is not read by any command yet.
func run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	_ = stdin
	o := opts{socket: client.DefaultSocket, timeout: 5 * time.Second}
	if s := os.Getenv("MYPOLL_SOCKET"); s != "" {
		o.socket = s
	}
	out := &output{w: bufio.NewWriter(stdout)}
	defer out.w.Flush()
	e := &env{out: out, stderr: stderr}

	fs := newFlagSet("mypollctl")
	o.register(fs)
	err := fs.Parse(argv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, manual)
		return exitOK
	}
	if err != nil {
		err = usagef("%v", err)
	}
	e.opts = o
	if err == nil && fs.NArg() == 0 {
		err = usagef("no command given")
	}
	var c *cmd
	var a args
	if err == nil {
		c, a, err = parseCommand(fs.Args(), &e.opts)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, manual)
			return exitOK
		}
	}
	if err != nil {
		return e.fail(err, "")
	}
	if !c.offline {
		dctx, cancel := e.withTimeout(ctx)
		conn, err := client.Dial(dctx, e.socket)
		cancel()
		if err != nil {
			return e.fail(&connectError{dialMessage(e.socket, e.timeout, err)}, "")
		}
		defer conn.Close()
		e.conn = conn
	}
	run := func(ctx context.Context) error { return c.run(ctx, e, &a) }
	if c.long {
		err = run(ctx)
	} else {
		err = e.request(ctx, run)
	}
	if err != nil {
		return e.fail(err, c.name)
	}
	return exitOK
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseCommand finds the subcommand of argv[0] and parses the rest, with
// flags allowed between its positional arguments.
func parseCommand(argv []string, o *opts) (*cmd, args, error) {
	var c *cmd
	for i := range cmds {
		if cmds[i].name == argv[0] {
			c = &cmds[i]
		}
	}
	if c == nil {
		return nil, args{}, usagef("unknown command %q", argv[0])
	}
	var a args
	if c.raw {
		a.pos = argv[1:]
		return c, a, c.parse(&a)
	}
	fs := newFlagSet(c.name)
	o.register(fs)
	if c.flags != nil {
		c.flags(fs, &a)
	}
	rest := argv[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, args{}, err
			}
			return nil, args{}, usagef("%s: %v", c.name, err)
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		// fs.Parse stops at the first positional argument, or after "--".
		if n := len(argv) - len(rest); n > 0 && argv[n-1] == "--" {
			a.pos = append(a.pos, rest...)
			break
		}
		a.pos = append(a.pos, rest[0])
		rest = rest[1:]
	}
	if len(a.pos) < c.min || c.max >= 0 && len(a.pos) > c.max {
		return nil, args{}, usagef("%s: wrong number of arguments (see mypollctl --help)", c.name)
	}
	if c.parse != nil {
		if err := c.parse(&a); err != nil {
			return nil, args{}, err
		}
	}
	return c, a, nil
}

func (e *env) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, e.timeout)
}

// dialMessage explains a failed connect in words a person can act on.
func dialMessage(path string, timeout time.Duration, err error) string {
	var reply *client.Error
	var reason string
	switch {
	case errors.As(err, &reply):
		reason = "mypolld refused the connection: " + reply.Msg
	case errors.Is(err, fs.ErrNotExist):
		reason = "no such file (is mypolld running? --socket sets the path)"
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "connection refused (is mypolld running? the socket file may be stale)"
	case errors.Is(err, fs.ErrPermission):
		reason = "permission denied (is your user in the socket's group?)"
	case errors.Is(err, context.DeadlineExceeded):
		reason = fmt.Sprintf("no greeting within %v (--timeout)", timeout)
	case errors.Is(err, client.ErrProtocol):
		reason = "this is not a mypolld socket: " + err.Error()
	default:
		reason = err.Error()
	}
	return fmt.Sprintf("cannot connect to %s: %s", path, reason)
}

// fail reports err on stderr and returns its exit code.
func (e *env) fail(err error, verb string) int {
	code := exitErr
	var ue *usageError
	var ce *connectError
	var reply *client.Error
	rec := errorRecord{Error: err.Error()}
	msg := err.Error()
	switch {
	case errors.As(err, &ue):
		code = exitUsage
		msg += "\nRun 'mypollctl --help' for usage."
	case errors.As(err, &ce):
		code = exitConnect
	case errors.As(err, &reply):
		rec = errorRecord{Error: reply.Msg, Errno: reply.Errno, Verb: reply.Verb}
		msg = fmt.Sprintf("%s: %s (%s)", verb, reply.Msg, reply.Errno)
	case errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("%s: no reply within %v (--timeout)", verb, e.timeout)
		rec.Error = msg
	case errors.Is(err, io.EOF):
		msg = verb + ": mypolld closed the connection"
		rec.Error = msg
	case verb != "":
		msg = verb + ": " + msg
		rec.Error = msg
	}
	rec.Exit = code
	if e.json {
		b, _ := json.Marshal(rec)
		fmt.Fprintf(e.stderr, "%s\n", b)
	} else {
		fmt.Fprintf(e.stderr, "mypollctl: %s\n", msg)
	}
	return code
}

type errorRecord struct {
	Error string `json:"error"`
	Errno string `json:"errno,omitempty"`
	Verb  string `json:"verb,omitempty"`
	Exit  int    `json:"exit"`
}

// output writes results: text lines, or one JSON object per line.
type output struct {
	w *bufio.Writer
}

func (e *env) print(text string, obj any) {
	if e.json {
		b, err := json.Marshal(obj)
		if err != nil { // only plain structs and maps are printed
			panic(err)
		}
		e.out.w.Write(b)
		e.out.w.WriteByte('\n')
		return
	}
	e.out.w.WriteString(text)
	e.out.w.WriteByte('\n')
}

// request runs fn with the --timeout applied: run calls it for every
// command but the long ones, which call it for each request they make.
func (e *env) request(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	return fn(ctx)
}

func parseEcho(a *args) error {
	if strings.ContainsAny(strings.Join(a.pos, " "), "\r\n") {
		return usagef("echo: TEXT must be one line")
	}
	return nil
}

func runEcho(ctx context.Context, e *env, a *args) error {
	text := strings.Join(a.pos, " ")
	got, err := e.conn.Echo(ctx, text)
	if err == nil {
		e.print(got, struct {
			Text string `json:"text"`
		}{got})
	}
	return err
}

// parsePayload parses decimal or 0x hex (not octal: "010" is ten).
func parsePayload(s string) (uint64, error) {
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		return strconv.ParseUint(h, 16, 64)
	}
	return strconv.ParseUint(s, 10, 64)
}

func parseTrigger(a *args) error {
	var err error
	a.count = 1
	if len(a.pos) > 0 {
		if a.payload, err = parsePayload(a.pos[0]); err != nil {
			return usagef("trigger: PAYLOAD must be a u64, decimal or 0x hex, got %q", a.pos[0])
		}
	}
	if len(a.pos) > 1 {
		if a.count, err = strconv.ParseUint(a.pos[1], 10, 32); err != nil || a.count == 0 {
			return usagef("trigger: COUNT must be 1..4294967295, got %q", a.pos[1])
		}
	}
	return nil
}

func runTrigger(ctx context.Context, e *env, a *args) error {
	first, n, err := e.conn.Trigger(ctx, a.payload, uint32(a.count))
	if err != nil {
		return err
	}
	text := fmt.Sprintf("triggered %d event(s): seq %d..%d", n, first, first+uint64(n)-1)
	e.print(text, struct {
		FirstSeq uint64 `json:"first_seq"`
		Count    uint32 `json:"count"`
	}{first, n})
	return nil
}

func parseID(cmd, s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, usagef("%s: ID must be a timer number 0..7, got %q", cmd, s)
	}
	return id, nil
}

func parseStartTimer(a *args) error {
	var err error
	if a.id, err = parseID("start-timer", a.pos[0]); err != nil {
		return err
	}
	if a.periodMS, err = strconv.ParseUint(a.pos[1], 10, 32); err != nil {
		return usagef("start-timer: PERIOD_MS must be a number of milliseconds, got %q", a.pos[1])
	}
	if len(a.pos) > 2 {
		if a.count, err = strconv.ParseUint(a.pos[2], 10, 64); err != nil {
			return usagef("start-timer: COUNT must be a number of ticks (0 = forever), got %q", a.pos[2])
		}
	}
	return nil
}

func runStartTimer(ctx context.Context, e *env, a *args) error {
	// The daemon judges the ranges, so its message is the one shown.
	if err := e.conn.StartTimerMS(ctx, uint32(a.id), a.periodMS, a.count); err != nil {
		return err
	}
	forever := "until stopped"
	if a.count > 0 {
		forever = fmt.Sprintf("for %d ticks", a.count)
	}
	e.print(fmt.Sprintf("timer %d started: every %d ms, %s", a.id, a.periodMS, forever), struct {
		ID       uint64 `json:"id"`
		PeriodMS uint64 `json:"period_ms"`
		Count    uint64 `json:"count"`
	}{a.id, a.periodMS, a.count})
	return nil
}

func parseStopTimer(a *args) error {
	var err error
	a.id, err = parseID("stop-timer", a.pos[0])
	return err
}

func runStopTimer(ctx context.Context, e *env, a *args) error {
	if err := e.conn.StopTimer(ctx, uint32(a.id)); err != nil {
		return err
	}
	e.print(fmt.Sprintf("timer %d stopped", a.id), struct {
		ID      uint64 `json:"id"`
		Stopped bool   `json:"stopped"`
	}{a.id, true})
	return nil
}

type timerRecord struct {
	ID       uint32 `json:"id"`
	PeriodMS int64  `json:"period_ms"`
	Ticks    uint64 `json:"ticks"`
	Count    uint64 `json:"count"`
}

func runTimers(ctx context.Context, e *env, _ *args) error {
	timers, err := e.conn.Timers(ctx)
	if err != nil {
		return err
	}
	recs := make([]timerRecord, 0, len(timers))
	var text strings.Builder
	if len(timers) == 0 {
		text.WriteString("no timers running")
	} else {
		fmt.Fprintf(&text, "%-3s %10s %12s %12s", "ID", "PERIOD_MS", "TICKS", "COUNT")
	}
	for _, t := range timers {
		r := timerRecord{t.ID, t.Period.Milliseconds(), t.Ticks, t.Count}
		recs = append(recs, r)
		count := strconv.FormatUint(t.Count, 10)
		if t.Count == 0 {
			count = "forever"
		}
		fmt.Fprintf(&text, "\n%-3d %10d %12d %12s", r.ID, r.PeriodMS, r.Ticks, count)
	}
	e.print(text.String(), struct {
		Timers []timerRecord `json:"timers"`
	}{recs})
	return nil
}

func runStats(ctx context.Context, e *env, _ *args) error {
	stats, err := e.conn.Stats(ctx)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(stats))
	obj := make(map[string]any, len(stats))
	for k, v := range stats {
		keys = append(keys, k)
		// Canonical decimals become JSON numbers; the rest (hex ids)
		// stay strings.
		if n, err := strconv.ParseUint(v, 10, 64); err == nil && strconv.FormatUint(n, 10) == v {
			obj[k] = n
		} else {
			obj[k] = v
		}
	}
	slices.Sort(keys)
	var text strings.Builder
	for i, k := range keys {
		if i > 0 {
			text.WriteByte('\n')
		}
		text.WriteString(k + "=" + stats[k])
	}
	e.print(text.String(), obj)
	return nil
}

func runSubscribe(ctx context.Context, e *env, a *args) error {
	return e.subscribe(ctx, a.pos[0], a, true)
}

// subscribe sends subscribe, with from= when --from was given (even 0:
// the daemon judges it), and prints the reply when show is set.
func (e *env) subscribe(ctx context.Context, set string, a *args, show bool) error {
	s := client.Subscription{Set: set}
	if a.hasFrom {
		s.From = &a.from
	}
	got, err := e.conn.SubscribeTo(ctx, s)
	if err != nil {
		return err
	}
	if show {
		e.print("OK subscribe "+got, struct {
			Subscribed string `json:"subscribed"`
		}{got})
	}
	return nil
}

func runListen(ctx context.Context, e *env, a *args) error {
	if a.resume {
		return e.listenResume(ctx, a)
	}
	err := e.request(ctx, func(ctx context.Context) error {
		return e.subscribe(ctx, a.set, a, false)
	})
	if err != nil {
		return err
	}
	e.out.w.Flush()
	for {
		m, err := e.conn.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // SIGINT or SIGTERM: a normal end
			}
			return err
		}
		e.printMessage(client.StreamMessage{Event: m.Event, Lost: m.Lost})
		if e.conn.Queued() == 0 {
			if err := e.out.w.Flush(); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
		}
	}
}

// listenResume is listen --resume: a client.Stream that reconnects after a
// daemon restart and resumes where it stopped, printing each reconnect.
func (e *env) listenResume(ctx context.Context, a *args) error {
	first := e.conn
	from := uint64(0) // no --from: the greeting's next_seq
	if a.hasFrom {
		from = max(a.from, 1)
	}
	st := client.NewStream(client.StreamConfig{
		Set:  a.set,
		From: from,
		Dial: func(ctx context.Context) (*client.Conn, error) {
			if first != nil { // the connection run made: no request sent yet
				c := first
				first = nil
				return c, nil
			}
			ctx, cancel := e.withTimeout(ctx)
			defer cancel()
			return client.Dial(ctx, e.socket)
		},
	})
	defer st.Close()
	e.conn = nil // the stream owns it now
	for {
		m, err := st.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // SIGINT or SIGTERM: a normal end
			}
			return err
		}
		e.printMessage(m)
		if err := e.out.w.Flush(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
}

// printMessage prints one event, loss report or reconnect notice.
func (e *env) printMessage(m client.StreamMessage) {
	switch {
	case m.Event != nil:
		ev := m.Event
		aux := fmt.Sprintf("aux=%d", ev.Aux)
		if r := ev.StopReason(); r != "" {
			aux = "reason=" + r // PROTOCOL.md B.2: aux is the reason
		}
		e.print(fmt.Sprintf("EVT %d %s source=%d arg=%d %s ts=%dns",
			ev.Seq, ev.Type, ev.SourceID, ev.Arg, aux, ev.TimestampNS), eventRecord{
			Kind: "event", Seq: ev.Seq, Type: ev.Type, SourceID: ev.SourceID,
			Arg: ev.Arg, Aux: ev.Aux, TimestampNS: ev.TimestampNS,
		})
	case m.Lost != nil:
		l := m.Lost
		e.print(lostText(l), lostRecord{Kind: "lost", First: l.First, Last: l.Last, Count: l.Count, Reason: l.Reason})
	case m.Reconnect != nil:
		e.print(reconnectText(m.Reconnect), reconnectRecord{
			Kind: "reconnect", InstanceID: fmt.Sprintf("%016x", m.Reconnect.InstanceID),
			NextSeq: m.Reconnect.NextSeq, From: m.Reconnect.From, Attempts: m.Reconnect.Attempts,
			Cause: errText(m.Reconnect.Cause), NewInstance: m.Reconnect.NewInstance,
			OldInstanceID: fmt.Sprintf("%016x", m.Reconnect.OldInstanceID), OldNext: m.Reconnect.OldNext,
		})
	}
}

type reconnectRecord struct {
	Kind          string `json:"kind"`
	InstanceID    string `json:"instance_id"`
	NextSeq       uint64 `json:"next_seq"`
	From          uint64 `json:"from"`
	Attempts      int    `json:"attempts"`
	Cause         string `json:"cause,omitempty"`
	NewInstance   bool   `json:"new_instance"`
	OldInstanceID string `json:"old_instance_id,omitempty"`
	OldNext       uint64 `json:"old_next,omitempty"`
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// reconnectText is the human form of a reconnect:
// "RECONNECT instance 2d085b32e2656ff1 next_seq 6906: resumed from seq 6801 after 3 attempts (connection closed by mypolld: EOF)".
func reconnectText(r *client.Reconnect) string {
	attempts := "1 attempt"
	if r.Attempts != 1 {
		attempts = fmt.Sprintf("%d attempts", r.Attempts)
	}
	s := fmt.Sprintf("RECONNECT instance %016x next_seq %d: resumed from seq %d after %s", r.InstanceID, r.NextSeq, r.From, attempts)
	if r.Cause != nil {
		s += " (" + r.Cause.Error() + ")"
	}
	if r.NewInstance {
		s += fmt.Sprintf("; NEW device instance (module reloaded): seqs restarted, events of instance %016x from seq %d on are lost", r.OldInstanceID, r.OldNext)
	}
	return s
}

type eventRecord struct {
	Kind        string `json:"kind"`
	Seq         uint64 `json:"seq"`
	Type        string `json:"type"`
	SourceID    uint32 `json:"source_id"`
	Arg         uint64 `json:"arg"`
	Aux         uint64 `json:"aux"`
	TimestampNS uint64 `json:"timestamp_ns"`
}

type lostRecord struct {
	Kind   string `json:"kind"`
	First  uint64 `json:"first"`
	Last   uint64 `json:"last"`
	Count  uint64 `json:"count"`
	Reason string `json:"reason"`
}

var lostReasons = map[string]string{
	"queue":   "this client was too slow",
	"device":  "the daemon fell behind the device",
	"restart": "not retained across a daemon restart or module reload",
	"range":   "the resume position was beyond the daemon's next seq (a damaged cursor)",
}

// lostText is the human form of a LOST line:
// "LOST 120..130: 11 events not delivered (queue: this client was too slow)".
func lostText(l *client.Lost) string {
	span := strconv.FormatUint(l.First, 10)
	if l.Last != l.First {
		span += ".." + strconv.FormatUint(l.Last, 10)
	}
	events := "events"
	if l.Count == 1 {
		events = "event"
	}
	why := l.Reason
	if s, ok := lostReasons[l.Reason]; ok {
		why += ": " + s
	}
	return fmt.Sprintf("LOST %s: %d %s not delivered (%s)", span, l.Count, events, why)
}

func runHelp(ctx context.Context, e *env, _ *args) error {
	verbs, err := e.conn.Help(ctx)
	if err != nil {
		return err
	}
	e.print(strings.Join(verbs, " "), struct {
		Verbs []string `json:"verbs"`
	}{verbs})
	return nil
}

func runVersion(_ context.Context, e *env, _ *args) error {
	e.print(fmt.Sprintf("mypollctl %s (protocol 1)", version.Version), struct {
		Version  string `json:"version"`
		Protocol int    `json:"protocol"`
	}{version.Version, 1})
	return nil
}
