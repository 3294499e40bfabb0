// Command mypoll-bridge carries the events of one mypolld to an MQTT broker
// or broker cluster, so a fleet of boards lands in one backend with nothing
// lost silently (PROTOCOL.md section C). See `mypoll-bridge --help`.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/client"
	"github.com/mypoll/mypoll/daemon/internal/bridge"
	"github.com/mypoll/mypoll/daemon/internal/cli"
	"github.com/mypoll/mypoll/daemon/internal/logx"
	"github.com/mypoll/mypoll/daemon/internal/version"
)

const usage = `NAME
    mypoll-bridge - carry mypolld's events to an MQTT broker

SYNOPSIS
    mypoll-bridge [OPTIONS] --broker URL [--broker URL]...

DESCRIPTION
    mypoll-bridge is a client of mypolld (the mypoll event daemon) and of an
    MQTT 3.1.1 broker: mosquitto, a NATS cluster with MQTT enabled, EMQX,
    RabbitMQ or a cloud IoT hub. It subscribes to every event of the daemon
    (or to those --subscribe names) and publishes each one, in seq order,
    with QoS 1, so that a fleet of boards lands in one broker. Nothing is
    lost silently: every seq it subscribed to reaches the broker as an event
    or inside a loss report.

    The bridge never slows mypolld. It reads the daemon continuously into a
    crash-safe spool on disk under --state-dir (each event is durable within
    1 s of being read), and publishes from the spool. While the broker is
    unreachable it keeps reading and spooling, and says so in its log; it
    does not exit. A full spool (--spool-bytes) or a full disk drops its
    oldest events and reports them in one "bridge" loss message, published in
    their place.

    The bridge keeps an acknowledged cursor S: every event and loss up to seq
    S was acknowledged by the broker (PUBACK). It persists S, with the
    device's instance_id, under --state-dir. After a crash of the bridge, the
    broker or either connection it republishes only what follows S, so a
    consumer sees each message at least once and deduplicates by (device,
    instance_id, seq). When it reconnects to mypolld it resumes with
    "subscribe SET from=R+1" (SET: --subscribe), R being the highest seq it
    has acknowledged, spooled or reported lost; after a module reload (a new instance_id) it
    starts again at seq 1 of the new instance.

TOPICS (PREFIX/DEVICE = --topic-prefix/--device-id)
    PREFIX/DEVICE/evt/TYPE   one message per event, TYPE timer, trigger or
                             timer_stopped:
                             {"seq":17,"type":"trigger","source_id":0,"arg":42,
                              "aux":0,"ts_ns":812736450112,"instance_id":"2d08..."}
    PREFIX/DEVICE/lost       one message per loss report, reason queue,
                             device, restart (from mypolld) or bridge:
                             {"first":18,"last":40,"count":23,"reason":"queue",
                              "instance_id":"2d08..."}
    PREFIX/DEVICE/status     retained: {"online":true,"instance_id":"...",
                             "next_seq":18,"version":"..."}; the MQTT will
                             and a clean shutdown set {"online":false}
    PREFIX/DEVICE/cmd        remote requests (only with --allow-commands):
                             {"id":"1","request":"trigger 42"}
    PREFIX/DEVICE/reply      their replies: {"id":"1","reply":"OK trigger 17 1"}

OPTIONS
    --socket PATH          mypolld's socket (default /run/mypoll/mypoll.sock)
    --subscribe SET        the events to carry (default all): all, or a
                           comma list of at most 16 items, each timer,
                           trigger, timer:ID (the events of timer ID, 0..7)
                           or trigger:PAYLOAD (the triggers whose payload is
                           PAYLOAD, decimal or 0x hex); see mypollctl --help,
                           SUBSCRIPTION SETS. Checked at start (a bad set is a
                           usage error; none is refused: nothing to carry).
                           Seqs outside SET are neither events nor losses on
                           the broker, so consumers check coverage over the
                           matching events only. Loss counts are mypolld's:
                           exact for queue, every seq of the range for device
                           and restart. The topics and payloads do not change
    --broker URL           an MQTT broker: tcp://HOST:PORT, ssl://HOST:PORT
                           (also tls://, mqtts://) or unix:///PATH. Repeat it
                           for a cluster: the brokers are tried in turn, with
                           exponential backoff (100 ms to 30 s, jittered)
                           (default tcp://localhost:1883)
    --device-id ID         this device's name in topics, [A-Za-z0-9._-]{1,64}
                           (default: the host name)
    --topic-prefix PREFIX  first topic level(s) (default mypoll); no + # or
                           empty level
    --qos 0|1              QoS of events and losses (default 1; 0 gives up
                           the acknowledged cursor: a message is taken as
                           delivered once written to the connection)
    --state-dir DIR        the spool and the cursor (default
                           /var/lib/mypoll-bridge); created if missing
    --spool-bytes N        spool size bound in bytes (default 67108864,
                           minimum 4096)
    --allow-commands LIST  serve remote requests whose verb is in the comma
                           LIST, e.g. trigger,stats,echo (default: none, and
                           the cmd topic is not subscribed). subscribe, quit
                           and open_device cannot be allowed. Malformed
                           messages are dropped and logged; bad requests and
                           other verbs get an ERR reply and are not sent
    --ca-file FILE         PEM CA bundle that signs the broker's certificate
                           (implies TLS for tcp:// URLs)
    --cert-file FILE       PEM client certificate (with --key-file)
    --key-file FILE        PEM private key of the client certificate
    --username NAME        MQTT user name
    --password-file FILE   file holding the MQTT password (first line);
                           without it the password is taken from the
                           environment variable MYPOLL_BRIDGE_PASSWORD, if
                           set. Prefer either to a password inside a --broker
                           URL (tcp://user:password@host:1883, which also
                           works): every local user can read the command
                           line with ps, not the environment or a 0600 file.
                           A password sent over plain tcp:// or mqtt:// (no
                           TLS) is warned about at start
    --flush-timeout DUR    how long SIGTERM waits for the spool to drain
                           (default 5s)
    --keepalive DUR        MQTT keep-alive (default 30s)
    --log-level LEVEL      trace, debug, info, warn or error (default info)
    --log-json             log JSON lines instead of text
    --version              print the version and exit
    --help                 print this help and exit

ENVIRONMENT
    MYPOLL_BRIDGE_PASSWORD   the MQTT password, when --password-file is not
                             given; removed from the environment once read

LOGGING
    Lines go to standard error (without time stamps under systemd). The
    password of every URL in a log line or error message is replaced by
    xxxxx. A warning or error that repeats (a flood of malformed remote
    requests, say) is logged once; its repeats are counted and logged as one
    line with more_like_this=N and in_last=30s at the end of each 30 s
    window in which it repeated.

SIGNALS
    SIGTERM, SIGINT   stop reading mypolld, publish the spool for up to
                      --flush-timeout, publish the retained offline status,
                      disconnect and exit 0. What is still spooled is
                      published by the next run.

FILES
    STATE-DIR/cursor.json    the acknowledged cursor (JSON, then its CRC-32C)
    STATE-DIR/*.seg          spool segments (each frame with a CRC-32C); a
                             damaged segment or cursor is detected and never
                             stops the bridge: what it can no longer publish is
                             fetched again from mypolld or reported lost

EXIT STATUS
    0 clean shutdown, 1 runtime or start-up error, 2 usage error.

EXAMPLES
    mypoll-bridge --broker tcp://broker.example:1883 --device-id board-17
    mypoll-bridge --broker tcp://broker.example:1883 --subscribe trigger,timer:0
    mypoll-bridge --broker ssl://a:8883 --broker ssl://b:8883 \
        --ca-file ca.pem --cert-file board.pem --key-file board.key
    mosquitto_sub -h broker.example -t 'mypoll/+/evt/#' -t 'mypoll/+/lost' -v

SEE ALSO
    mypolld(8), mypollctl(1); PROTOCOL.md section C in the mypoll sources.
`

type brokerList []string

func (l *brokerList) String() string     { return strings.Join(*l, ",") }
func (l *brokerList) Set(s string) error { *l = append(*l, s); return nil }

// options are the parsed command line.
type options struct {
	socket, deviceID, prefix, stateDir, allow string
	brokers                                   brokerList
	subscribe                                 client.Filter
	qos                                       int
	spoolBytes                                int64
	caFile, certFile, keyFile                 string
	username, passwordFile                    string
	flushTimeout, keepAlive                   time.Duration
}

var deviceIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func parseFlags(cmd *cli.Command, args []string) (*options, int) {
	o := &options{}
	fs := cmd.Flags
	fs.StringVar(&o.socket, "socket", client.DefaultSocket, "")
	fs.Var(&o.brokers, "broker", "")
	fs.TextVar(&o.subscribe, "subscribe", client.All, "")
	fs.StringVar(&o.deviceID, "device-id", "", "")
	fs.StringVar(&o.prefix, "topic-prefix", "mypoll", "")
	fs.IntVar(&o.qos, "qos", 1, "")
	fs.StringVar(&o.stateDir, "state-dir", "/var/lib/mypoll-bridge", "")
	fs.Int64Var(&o.spoolBytes, "spool-bytes", 64<<20, "")
	fs.StringVar(&o.allow, "allow-commands", "", "")
	fs.StringVar(&o.caFile, "ca-file", "", "")
	fs.StringVar(&o.certFile, "cert-file", "", "")
	fs.StringVar(&o.keyFile, "key-file", "", "")
	fs.StringVar(&o.username, "username", "", "")
	fs.StringVar(&o.passwordFile, "password-file", "", "")
	fs.DurationVar(&o.flushTimeout, "flush-timeout", 5*time.Second, "")
	fs.DurationVar(&o.keepAlive, "keepalive", 30*time.Second, "")
	if code, ok := cmd.Parse(args); !ok {
		return nil, code
	}
	return o, -1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := cli.New("mypoll-bridge", usage, stdout, stderr)
	o, code := parseFlags(cmd, args)
	if o == nil {
		return code
	}
	usageErr := cmd.UsageError
	if o.deviceID == "" {
		h, err := os.Hostname()
		if err != nil {
			return usageErr("no --device-id and no host name: %v", err)
		}
		o.deviceID = h
	}
	if !deviceIDRE.MatchString(o.deviceID) {
		return usageErr("--device-id %q: want 1-64 of A-Z a-z 0-9 . _ -", o.deviceID)
	}
	if !bridge.ValidTopicPrefix(o.prefix) {
		return usageErr("--topic-prefix %q: want printable levels without + or # and no empty level", o.prefix)
	}
	if o.subscribe.IsNone() {
		return usageErr("--subscribe none: the bridge would carry nothing")
	}
	if o.qos != 0 && o.qos != 1 {
		return usageErr("--qos %d: want 0 or 1", o.qos)
	}
	if o.spoolBytes < bridge.MinSpoolBytes {
		return usageErr("--spool-bytes %d: the minimum is %d", o.spoolBytes, bridge.MinSpoolBytes)
	}
	if o.stateDir == "" {
		return usageErr("--state-dir must not be empty: the spool and the cursor live there")
	}
	if o.flushTimeout < 0 || o.keepAlive < time.Second {
		return usageErr("--flush-timeout must be >= 0 and --keepalive >= 1s")
	}
	allowed, err := bridge.ParseAllowed(o.allow)
	if err != nil {
		return usageErr("%v", err)
	}
	if len(o.brokers) == 0 {
		o.brokers = brokerList{"tcp://localhost:1883"}
	}
	for _, u := range o.brokers {
		scheme, _, ok := strings.Cut(u, "://")
		switch {
		case !ok:
			return usageErr("--broker %q: want SCHEME://ADDRESS", u)
		case scheme == "tcp" || scheme == "mqtt" || scheme == "ssl" || scheme == "tls" || scheme == "mqtts" || scheme == "unix":
		default:
			return usageErr("--broker %q: scheme %q not supported (tcp, mqtt, ssl, tls, mqtts, unix)", u, scheme)
		}
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return usageErr("--cert-file and --key-file go together")
	}
	// No URL password in any line; a repeated warning costs one line and
	// one count per window.
	log := logx.Redact(logx.Limit(cmd.Logger(), logx.DefaultEvery, logx.RealClock{}))
	tlsCfg, err := tlsConfig(o)
	if err != nil {
		log.Error("tls configuration", "error", err)
		return 1
	}
	if tlsCfg != nil {
		for i, u := range o.brokers {
			if rest, ok := strings.CutPrefix(u, "tcp://"); ok {
				o.brokers[i] = "ssl://" + rest
			} else if rest, ok := strings.CutPrefix(u, "mqtt://"); ok {
				o.brokers[i] = "ssl://" + rest
			}
		}
	}
	password, err := brokerPassword(o.passwordFile)
	if err != nil {
		log.Error("read password file", "error", err)
		return 1
	}
	warnPasswords(log, o.brokers, password)
	spool, err := bridge.OpenSpool(o.stateDir, o.spoolBytes)
	if err != nil {
		log.Error("open spool", "state_dir", o.stateDir, "error", err)
		return 1
	}
	spool.SetLogger(log)
	for _, n := range spool.Notes() {
		log.Warn("spool damaged", "state_dir", o.stateDir, "found", n)
	}
	inst, acked := spool.Cursor()
	log.Info("starting", "version", version.Version, "device_id", o.deviceID, "brokers", o.brokers.String(), "subscribe", o.subscribe.String(),
		"instance_id", fmt.Sprintf("%016x", inst), "acked", acked, "spooled", spool.Pending())
	b := bridge.New(bridge.Config{
		Socket: o.socket, Subscribe: o.subscribe, Brokers: o.brokers, DeviceID: o.deviceID, Prefix: o.prefix, QoS: byte(o.qos),
		Spool: spool, Allowed: allowed, TLS: tlsCfg, Username: o.username, Password: password,
		Version: version.Version, Log: log, FlushTimeout: o.flushTimeout, KeepAlive: o.keepAlive,
	})
	if err := b.Run(ctx); err != nil {
		return 1
	}
	return 0
}

// tlsConfig builds the TLS settings of the flags; nil when none is given
// (an ssl:// URL then uses the system's roots).
func tlsConfig(o *options) (*tls.Config, error) {
	if o.caFile == "" && o.certFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", o.caFile)
		}
	}
	if o.certFile != "" {
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// passwordEnv names the environment variable that may hold the MQTT
// password.
const passwordEnv = "MYPOLL_BRIDGE_PASSWORD"

// brokerPassword returns the MQTT password: the first line of file when
// it is set, else the value of $MYPOLL_BRIDGE_PASSWORD, else "". The
// variable is removed from the environment once read, so that nothing the
// bridge might start inherits it.
func brokerPassword(file string) (string, error) {
	env, inEnv := os.LookupEnv(passwordEnv)
	if inEnv {
		os.Unsetenv(passwordEnv)
	}
	if file == "" {
		return env, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	password, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSuffix(password, "\r"), nil
}

// warnPasswords warns, once each, when a --broker URL holds a password
// (ps shows the command line to every local user), and when a password,
// from a URL or from password (--password-file or the environment), goes
// to a broker without TLS (tcp:// or mqtt://; unix:// stays on the host).
// brokers are the URLs after the TLS flags upgraded them.
func warnPasswords(log hclog.Logger, brokers []string, password string) {
	var inURL bool
	var plain []string
	for _, b := range brokers {
		urlPassword := logx.RedactURLs(b) != b // a URL net/url refuses
		if u, err := url.Parse(b); err == nil {
			_, urlPassword = u.User.Password() // a nil User has none
		}
		inURL = inURL || urlPassword
		scheme, _, _ := strings.Cut(b, "://")
		if (urlPassword || password != "") && (scheme == "tcp" || scheme == "mqtt") {
			plain = append(plain, b)
		}
	}
	if inURL {
		log.Warn("password in a --broker URL: every local user can read it with ps; use --password-file or " + passwordEnv)
	}
	if len(plain) > 0 {
		log.Warn("password sent to a broker without TLS: anyone on the path can read it; use ssl:// or --ca-file", "brokers", plain)
	}
}
