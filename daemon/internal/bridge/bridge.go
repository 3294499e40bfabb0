package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/client"
)

// Config configures a Bridge.
type Config struct {
	Socket       string   // mypolld's socket
	Brokers      []string // MQTT broker URLs, tried in turn
	DeviceID     string
	Prefix       string
	QoS          byte
	Spool        *Spool
	Allowed      map[string]bool // remote verbs; nil: no cmd subscription
	TLS          *tls.Config     // nil: plain connections (unless the URL says ssl://)
	Username     string
	Password     string
	Version      string
	Log          hclog.Logger
	FlushTimeout time.Duration // how long SIGTERM waits for the spool to drain
	KeepAlive    time.Duration
	AckTimeout   time.Duration // a PUBACK later than this breaks the connection
}

const (
	window        = 256 // publishes in flight (unacknowledged) at most
	brokerMinWait = 100 * time.Millisecond
	brokerMaxWait = 30 * time.Second
	daemonMaxWait = 5 * time.Second
	syncEvery     = 200 * time.Millisecond // C.4: durable within 1 s
)

// Bridge carries one mypolld's events to an MQTT broker (PROTOCOL.md C).
// Three goroutines share the spool: the reader (mypolld into the spool,
// never blocked by the broker), the publisher (spool to broker, in order,
// advancing the acknowledged cursor over the contiguous acked prefix) and
// the syncer (fsync and cursor file). Remote requests have a fourth.
type Bridge struct {
	cfg    Config
	log    hclog.Logger
	topics struct{ base, lost, status, cmd, reply string }

	conn atomic.Pointer[client.Conn] // the current mypolld connection, nil between them
	mqtt atomic.Pointer[mqtt.Client] // the current broker connection, nil between them
	// helloInst and helloNext are the last greeting's, for the status
	// published before any event was acknowledged.
	helloInst, helloNext atomic.Uint64
	cmds                 chan []byte
}

// New checks cfg and returns a Bridge; Run starts it.
func New(cfg Config) *Bridge {
	b := &Bridge{cfg: cfg, log: cfg.Log, cmds: make(chan []byte, 64)}
	base := cfg.Prefix + "/" + cfg.DeviceID
	b.topics.base = base + "/evt/"
	b.topics.lost = base + "/lost"
	b.topics.status = base + "/status"
	b.topics.cmd = base + "/cmd"
	b.topics.reply = base + "/reply"
	if b.cfg.AckTimeout == 0 {
		b.cfg.AckTimeout = 20 * time.Second
	}
	if b.cfg.KeepAlive == 0 {
		b.cfg.KeepAlive = 30 * time.Second
	}
	return b
}

// Run runs the bridge until ctx ends, then shuts down as C.2 says: stop
// reading, publish what is spooled for up to FlushTimeout, publish the
// retained offline status, disconnect. It returns nil after a clean
// shutdown and an error only when the bridge cannot do its job (nothing
// does that today: a failing or full disk is not one, C.4).
func (b *Bridge) Run(ctx context.Context) error {
	fatal := make(chan error, 3)
	readCtx, stopRead := context.WithCancel(context.Background())
	defer stopRead()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := b.readLoop(readCtx); err != nil {
			fatal <- err
		}
	})
	stopSync := make(chan struct{})
	syncDone := make(chan struct{})
	go func() {
		defer close(syncDone)
		t := time.NewTicker(syncEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				// A disk failure is logged by the spool, which goes on
				// (C.4: the bridge never exits for its disk).
				_ = b.cfg.Spool.syncDisk()
			case <-stopSync:
				return
			}
		}
	}()
	stopping := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		b.publishLoop(stopping)
	}()
	if b.cfg.Allowed != nil {
		cmdCtx, stopCmds := context.WithCancel(context.Background())
		defer stopCmds()
		go b.commandLoop(cmdCtx)
	}
	var err error
	select {
	case <-ctx.Done():
		b.log.Info("shutdown requested", "pending", b.cfg.Spool.Pending())
	case err = <-fatal:
		b.log.Error("bridge stopped", "error", err)
	}
	stopRead()
	wg.Wait()
	close(stopping)
	<-pubDone
	close(stopSync)
	<-syncDone
	if cerr := b.cfg.Spool.close(); err == nil {
		err = cerr
	}
	if err == nil {
		b.log.Info("stopped", "unpublished", b.cfg.Spool.Pending())
	}
	return err
}

// backoff returns the wait before retry number attempt (0-based): doubling
// from lo to hi, drawn at random from its upper half (jitter, so a fleet
// does not reconnect in lockstep).
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo << min(attempt, 20)
	if d > hi || d <= 0 {
		d = hi
	}
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// readLoop connects to mypolld, resumes from R+1 (C.3) and spools every
// event and loss until ctx ends. The client's Conn reads the socket in its
// own goroutine into an unbounded queue, so mypolld is never blocked by
// the bridge; this loop moves the queue to disk.
func (b *Bridge) readLoop(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		c, err := client.Dial(ctx, b.cfg.Socket)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			lvl := hclog.Debug
			if attempt == 0 {
				lvl = hclog.Warn
			}
			b.log.Log(lvl, "mypolld unreachable, retrying", "socket", b.cfg.Socket, "error", err)
			if !sleepCtx(ctx, backoff(attempt, brokerMinWait, daemonMaxWait)) {
				return nil
			}
			continue
		}
		err = b.pump(ctx, c)
		b.conn.Store(nil)
		_ = c.Close()
		if ctx.Err() != nil {
			return nil
		}
		b.log.Warn("mypolld connection lost, reconnecting", "error", err)
		attempt = -1
		if !sleepCtx(ctx, brokerMinWait) {
			return nil
		}
	}
}

func (b *Bridge) pump(ctx context.Context, c *client.Conn) error {
	h := c.Hello()
	from := b.cfg.Spool.resume(h.InstanceID, h.NextSeq)
	ackInst, _ := b.cfg.Spool.Cursor()
	if ackInst != 0 && ackInst != h.InstanceID {
		b.log.Info("new device instance, cursor reset", "instance_id", fmt.Sprintf("%016x", h.InstanceID), "previous", fmt.Sprintf("%016x", ackInst))
	}
	b.helloInst.Store(h.InstanceID)
	b.helloNext.Store(from)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := c.Subscribe(sctx, "all", from)
	if perr := (*client.Error)(nil); errors.As(err, &perr) && perr.Errno == "ERANGE" {
		// The cursor names a seq this instance has not reached: damaged
		// (C.4). It is forgotten; mypolld replays what it retains from 1
		// and reports the rest as lost.
		b.log.Warn("cursor beyond mypolld's next_seq: damaged, not trusted", "instance_id", fmt.Sprintf("%016x", h.InstanceID),
			"from", from, "next_seq", h.NextSeq)
		from = b.cfg.Spool.beyondNextSeq(h.InstanceID)
		b.helloNext.Store(from)
		err = c.Subscribe(sctx, "all", from)
		if p := b.mqtt.Load(); p != nil && err == nil { // the status said the damaged cursor
			inst, acked := b.cfg.Spool.Cursor()
			next := acked + 1
			if inst == 0 {
				inst, next = h.InstanceID, from
			}
			(*p).Publish(b.topics.status, 1, true, appendStatus(nil, inst, next, b.cfg.Version))
		}
	}
	if err != nil {
		return fmt.Errorf("subscribe from=%d: %w", from, err)
	}
	b.log.Info("mypolld connected", "instance_id", fmt.Sprintf("%016x", h.InstanceID), "from", from)
	b.conn.Store(c)
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return err
		}
		r := record{Instance: h.InstanceID, Event: m.Event, Lost: m.Lost}
		if _, err := b.cfg.Spool.add(r); err != nil {
			b.log.Error("spool append", "error", err) // not reached: the spool keeps what the disk refuses
		}
	}
}

// publishLoop connects to the brokers in turn with exponential backoff and
// publishes the spool, until stopping is closed and the spool is drained or
// FlushTimeout has passed.
func (b *Bridge) publishLoop(stopping <-chan struct{}) {
	// stop closes FlushTimeout after stopping: the end of the flush.
	stop := make(chan struct{})
	exit := make(chan struct{})
	defer close(exit)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stopping:
		case <-exit:
			return
		}
		t := time.NewTimer(b.cfg.FlushTimeout)
		defer t.Stop()
		select {
		case <-t.C:
		case <-exit:
		}
		close(stop)
		cancel()
	}()
	for attempt, i := 0, 0; ; i++ {
		url := b.cfg.Brokers[i%len(b.cfg.Brokers)]
		cli, err := b.connect(url)
		if err != nil {
			lvl := hclog.Debug
			if attempt == 0 {
				lvl = hclog.Warn
			}
			b.log.Log(lvl, "broker unreachable, spooling", "broker", url, "error", err, "spooled", b.cfg.Spool.Pending())
			if !sleepCtx(ctx, backoff(attempt, brokerMinWait, brokerMaxWait)) {
				return
			}
			select {
			case <-stopping:
				if b.cfg.Spool.Pending() == 0 {
					return
				}
			default:
			}
			attempt++
			continue
		}
		attempt = 0
		b.log.Info("broker connected", "broker", url, "spooled", b.cfg.Spool.Pending())
		done := b.session(cli, stopping, stop)
		b.mqtt.Store(nil)
		b.cfg.Spool.rewind()
		if done {
			if tok := cli.Publish(b.topics.status, 1, true, offlineStatus); !tok.WaitTimeout(2*time.Second) || tok.Error() != nil {
				b.log.Warn("offline status not acknowledged", "error", tok.Error())
			}
			cli.Disconnect(250)
			return
		}
		cli.Disconnect(0)
		select {
		case <-stop:
			return
		default:
		}
		b.log.Warn("broker connection lost, spooling", "broker", url)
	}
}

func (b *Bridge) connect(url string) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID("mypoll-bridge-"+b.cfg.DeviceID).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(b.cfg.KeepAlive).
		SetPingTimeout(5*time.Second).
		SetConnectTimeout(5*time.Second).
		SetWriteTimeout(10*time.Second).
		SetOrderMatters(false).
		SetBinaryWill(b.topics.status, []byte(offlineStatus), 1, true)
	if b.cfg.TLS != nil {
		opts.SetTLSConfig(b.cfg.TLS)
	}
	if b.cfg.Username != "" {
		opts.SetUsername(b.cfg.Username)
	}
	if b.cfg.Password != "" {
		opts.SetPassword(b.cfg.Password)
	}
	cli := mqtt.NewClient(opts)
	tok := cli.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		cli.Disconnect(0)
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return cli, nil
}

type inflight struct {
	it  item
	tok mqtt.Token
}

// session publishes the spool on one broker connection. It returns true
// when the bridge is done (stopping and drained, or the flush deadline
// passed while connected), false when the connection broke.
func (b *Bridge) session(cli mqtt.Client, stopping, stop <-chan struct{}) bool {
	quit := make(chan struct{})
	var quitOnce sync.Once
	var finished atomic.Bool
	end := func(done bool) {
		quitOnce.Do(func() {
			finished.Store(done)
			close(quit)
		})
	}
	drained := func() bool {
		select {
		case <-stopping:
			return b.cfg.Spool.Pending() == 0
		default:
			return false
		}
	}
	// The watcher ends the session when the connection drops, when the
	// flush deadline passes, or when stopping finds the spool drained.
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for cli.IsConnectionOpen() {
			select {
			case <-quit:
				return
			case <-stop:
				end(true)
				return
			case <-tick.C:
				if drained() {
					end(true)
					return
				}
			}
		}
		end(false)
	}()
	// The status first: online, with the cursor (C.2).
	inst, acked := b.cfg.Spool.Cursor()
	next := acked + 1
	if inst == 0 {
		inst, next = b.helloInst.Load(), max(b.helloNext.Load(), 1)
	}
	if !b.publishWait(cli, b.topics.status, appendStatus(nil, inst, next, b.cfg.Version), true) {
		end(false)
		return false
	}
	if b.cfg.Allowed != nil {
		tok := cli.Subscribe(b.topics.cmd, 1, func(_ mqtt.Client, m mqtt.Message) {
			select {
			case b.cmds <- m.Payload():
			default:
				b.log.Warn("remote request dropped, too many pending")
			}
		})
		if !tok.WaitTimeout(b.cfg.AckTimeout) || tok.Error() != nil {
			b.log.Warn("subscribe to remote requests failed", "topic", b.topics.cmd, "error", tok.Error())
			end(false)
			return false
		}
	}
	b.mqtt.Store(&cli)
	pending := make(chan inflight, window)
	ackDone := make(chan struct{})
	go func() {
		defer close(ackDone)
		broken := false
		for p := range pending {
			if broken {
				continue
			}
			if !p.tok.WaitTimeout(b.cfg.AckTimeout) {
				b.log.Warn("no PUBACK in time, reconnecting", "timeout", b.cfg.AckTimeout)
				broken = true
			} else if err := p.tok.Error(); err != nil {
				b.log.Debug("publish not acknowledged", "error", err)
				broken = true
			}
			if broken {
				end(false)
				continue
			}
			b.cfg.Spool.ack(p.it)
			if drained() {
				end(true)
			}
		}
	}()
	if drained() {
		end(true)
	}
	curInst := inst
	var buf []byte
	for {
		items, err := b.cfg.Spool.take(window/4, quit)
		if err != nil {
			b.log.Error("read spool", "error", err)
			end(false)
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			r := it.Rec
			if r.Instance != curInst {
				curInst = r.Instance
				cli.Publish(b.topics.status, 1, true, appendStatus(nil, curInst, r.first(), b.cfg.Version))
			}
			topic := b.topics.lost
			if r.Event != nil {
				topic = b.topics.base + r.Event.Type
			}
			buf = appendPayload(buf[:0], r)
			payload := append([]byte(nil), buf...)
			select {
			case pending <- inflight{it, cli.Publish(topic, b.cfg.QoS, false, payload)}:
			case <-quit:
			}
		}
	}
	close(pending)
	<-ackDone
	return finished.Load()
}

func (b *Bridge) publishWait(cli mqtt.Client, topic string, payload []byte, retained bool) bool {
	tok := cli.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(b.cfg.AckTimeout) || tok.Error() != nil {
		b.log.Warn("publish failed", "topic", topic, "error", tok.Error())
		return false
	}
	return true
}

// commandLoop serves remote requests (C.5) one at a time, in arrival order.
func (b *Bridge) commandLoop(ctx context.Context) {
	for {
		var msg []byte
		select {
		case msg = <-b.cmds:
		case <-ctx.Done():
			return
		}
		cmd, err := parseCommand(msg, b.cfg.Allowed)
		if err != nil {
			b.log.Warn("remote request dropped", "error", err)
			continue
		}
		reply := cmd.Reply
		if reply == "" {
			reply = b.forward(ctx, cmd)
		} else {
			b.log.Warn("remote request refused", "id", hclog.Quote(cmd.ID), "reply", hclog.Quote(reply))
		}
		if p := b.mqtt.Load(); p != nil {
			tok := (*p).Publish(b.topics.reply, 1, false, appendReply(nil, cmd.ID, reply))
			if !tok.WaitTimeout(b.cfg.AckTimeout) || tok.Error() != nil {
				b.log.Warn("reply not published", "id", hclog.Quote(cmd.ID), "error", tok.Error())
			}
		}
	}
}

// forward sends an allowed request to mypolld and returns its reply line.
func (b *Bridge) forward(ctx context.Context, cmd command) string {
	c := b.conn.Load()
	if c == nil {
		return "ERR " + truncate(cmd.Verb, 32) + " EIO mypolld not connected"
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rep, err := c.Do(rctx, cmd.Request)
	var perr *client.Error
	switch {
	case errors.As(err, &perr):
		return "ERR " + perr.Verb + " " + perr.Errno + " " + perr.Msg
	case err != nil:
		return "ERR " + truncate(cmd.Verb, 32) + " EIO " + err.Error()
	case rep.File != nil:
		_ = rep.File.Close()
	}
	line := "OK " + rep.Verb
	if rep.Detail != "" {
		line += " " + rep.Detail
	}
	return line
}
