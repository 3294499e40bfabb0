package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/logx"
	"github.com/mypoll/mypoll/daemon/internal/version"
)

// ExitUsage is the exit status of a usage error.
const ExitUsage = 2

// Command is one program's command line: its flag set, man-page usage and
// the flags every daemon command has. Its methods are for the goroutine
// that runs the command; none blocks.
type Command struct {
	Name  string
	Usage string // printed by --help
	Flags *flag.FlagSet

	LogLevel string
	LogJSON  bool
	Version  bool

	stdout, stderr io.Writer
}

// New returns the command name with an empty flag set (its own flags are
// added to Flags) and --log-level, --log-json and --version registered.
// Help, usage errors and the log go to stderr, --version to stdout.
func New(name, usage string, stdout, stderr io.Writer) *Command {
	c := &Command{Name: name, Usage: usage, Flags: flag.NewFlagSet(name, flag.ContinueOnError), stdout: stdout, stderr: stderr}
	c.Flags.SetOutput(io.Discard)
	c.Flags.StringVar(&c.LogLevel, "log-level", "info", "")
	c.Flags.BoolVar(&c.LogJSON, "log-json", false, "")
	c.Flags.BoolVar(&c.Version, "version", false, "")
	return c
}

// Parse parses args. When ok is false the command is done and returns
// code: 0 after --help or --version (printed), ExitUsage after a flag
// error, an argument that is not a flag, or a bad --log-level.
func (c *Command) Parse(args []string) (code int, ok bool) {
	if err := c.Flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.stderr, c.Usage)
			return 0, false
		}
		return c.UsageError("%v", err), false
	}
	if c.Flags.NArg() > 0 {
		return c.UsageError("unexpected argument %q", c.Flags.Arg(0)), false
	}
	if c.Version {
		fmt.Fprintln(c.stdout, c.Name, version.Version)
		return 0, false
	}
	if hclog.LevelFromString(c.LogLevel) == hclog.NoLevel {
		return c.UsageError("--log-level %q: want trace, debug, info, warn or error", c.LogLevel), false
	}
	return 0, true
}

// UsageError prints "NAME: message" and a hint to run --help, and returns
// ExitUsage. The password of a URL in the message is redacted
// (logx.RedactURLs).
func (c *Command) UsageError(format string, a ...any) int {
	fmt.Fprintf(c.stderr, "%s: %s\nRun '%s --help' for usage.\n", c.Name, logx.RedactURLs(fmt.Sprintf(format, a...)), c.Name)
	return ExitUsage
}

// StartError prints "NAME: err" and returns 1, the exit status of a
// start-up or runtime error (not the command line's fault). The password
// of a URL in err is redacted.
func (c *Command) StartError(err error) int {
	fmt.Fprintf(c.stderr, "%s: %s\n", c.Name, logx.RedactURLs(err.Error()))
	return 1
}

// Logger returns the root logger (named for the command) of --log-level
// and --log-json, writing to stderr; without time stamps under systemd,
// whose journal stamps each line. Call it after a successful Parse.
func (c *Command) Logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:        c.Name,
		Level:       hclog.LevelFromString(c.LogLevel),
		JSONFormat:  c.LogJSON,
		Output:      c.stderr,
		DisableTime: os.Getenv("JOURNAL_STREAM") != "" || os.Getenv("INVOCATION_ID") != "",
	})
}
