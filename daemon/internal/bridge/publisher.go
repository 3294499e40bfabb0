package bridge

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/hashicorp/go-hclog"
)

// publisher is the broker side of the bridge: it connects to the brokers in
// turn with exponential backoff, publishes the spool in order with up to
// window publishes in flight, advances the spool's acknowledged cursor as
// PUBACKs come, and rides out outages (the spool keeps filling meanwhile).
// It knows nothing of mypolld but hello, the session's last instance and
// resume seq, for the status published before any event was acknowledged.
type publisher struct {
	cfg    *Config
	spool  *Spool
	log    hclog.Logger
	hello  func() (inst, next uint64)
	topics struct{ base, lost, status, cmd, reply string }
	// onCommand, when set, receives each message on the cmd topic (C.5),
	// which is subscribed only then.
	onCommand func(payload []byte)

	mqtt atomic.Pointer[mqtt.Client] // the current broker connection, nil between them
	// statusMu orders the status publications of a connection: each is
	// computed and handed to the client under it, so one computed after
	// the cursor changed is never overtaken by one computed before.
	statusMu sync.Mutex
}

func newPublisher(cfg *Config, hello func() (inst, next uint64)) *publisher {
	p := &publisher{cfg: cfg, spool: cfg.Spool, log: cfg.Log, hello: hello}
	base := cfg.Prefix + "/" + cfg.DeviceID
	p.topics.base = base + "/evt/"
	p.topics.lost = base + "/lost"
	p.topics.status = base + "/status"
	p.topics.cmd = base + "/cmd"
	p.topics.reply = base + "/reply"
	return p
}

// status returns the online status with the cursor (C.2): the acknowledged
// one, or the session's resume point before any acknowledgement.
func (p *publisher) status() []byte {
	inst, acked := p.spool.Cursor()
	next := acked + 1
	if inst == 0 {
		inst, next = p.hello()
		next = max(next, 1)
	}
	return appendStatus(nil, inst, next, p.cfg.Version)
}

// republishStatus publishes the status again, without waiting, when a
// broker is connected (the cursor changed outside the publisher).
func (p *publisher) republishStatus() {
	p.statusMu.Lock()
	defer p.statusMu.Unlock()
	if c := p.mqtt.Load(); c != nil {
		(*c).Publish(p.topics.status, 1, true, p.status())
	}
}

// publishReply publishes a remote request's reply (C.5); false when no
// broker is connected or it was not acknowledged in time.
func (p *publisher) publishReply(payload []byte) error {
	c := p.mqtt.Load()
	if c == nil {
		return errors.New("no broker connected")
	}
	tok := (*c).Publish(p.topics.reply, 1, false, payload)
	if !tok.WaitTimeout(p.cfg.AckTimeout) {
		return errors.New("not acknowledged in time")
	}
	return tok.Error()
}

// run connects to the brokers in turn with exponential backoff and
// publishes the spool, until stopping is closed and the spool is drained or
// FlushTimeout has passed.
func (p *publisher) run(stopping <-chan struct{}) {
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
		t := time.NewTimer(p.cfg.FlushTimeout)
		defer t.Stop()
		select {
		case <-t.C:
		case <-exit:
		}
		close(stop)
		cancel()
	}()
	for attempt, i := 0, 0; ; i++ {
		url := p.cfg.Brokers[i%len(p.cfg.Brokers)]
		cli, err := p.connect(url)
		if err != nil {
			lvl := hclog.Debug
			if attempt == 0 {
				lvl = hclog.Warn
			}
			p.log.Log(lvl, "broker unreachable, spooling", "broker", url, "error", err, "spooled", p.spool.Pending())
			if !sleepCtx(ctx, backoff(attempt, brokerMinWait, brokerMaxWait)) {
				return
			}
			select {
			case <-stopping:
				if p.spool.Pending() == 0 {
					return
				}
			default:
			}
			attempt++
			continue
		}
		attempt = 0
		p.log.Info("broker connected", "broker", url, "spooled", p.spool.Pending())
		done := p.publishConn(cli, stopping, stop)
		p.mqtt.Store(nil)
		p.spool.rewind()
		if done {
			if tok := cli.Publish(p.topics.status, 1, true, offlineStatus); !tok.WaitTimeout(2*time.Second) || tok.Error() != nil {
				p.log.Warn("offline status not acknowledged", "error", tok.Error())
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
		p.log.Warn("broker connection lost, spooling", "broker", url)
	}
}

func (p *publisher) connect(url string) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID("mypoll-bridge-"+p.cfg.DeviceID).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(p.cfg.KeepAlive).
		SetPingTimeout(5*time.Second).
		SetConnectTimeout(5*time.Second).
		SetWriteTimeout(10*time.Second).
		SetOrderMatters(false).
		SetBinaryWill(p.topics.status, []byte(offlineStatus), 1, true)
	if p.cfg.TLS != nil {
		opts.SetTLSConfig(p.cfg.TLS)
	}
	if p.cfg.Username != "" {
		opts.SetUsername(p.cfg.Username)
	}
	if p.cfg.Password != "" {
		opts.SetPassword(p.cfg.Password)
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

// publishConn publishes the spool on one broker connection. It returns true
// when the bridge is done (stopping and drained, or the flush deadline
// passed while connected), false when the connection broke.
func (p *publisher) publishConn(cli mqtt.Client, stopping, stop <-chan struct{}) bool {
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
			return p.spool.Pending() == 0
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
	// The status first: online, with the cursor (C.2). The connection is
	// made current under statusMu, so a cursor change from now on publishes
	// its status after this one.
	p.statusMu.Lock()
	p.mqtt.Store(&cli)
	inst, _ := p.spool.Cursor()
	if inst == 0 {
		inst, _ = p.hello()
	}
	tok := cli.Publish(p.topics.status, 1, true, p.status())
	p.statusMu.Unlock()
	if !tok.WaitTimeout(p.cfg.AckTimeout) || tok.Error() != nil {
		p.log.Warn("publish failed", "topic", p.topics.status, "error", tok.Error())
		end(false)
		return false
	}
	if p.onCommand != nil {
		tok := cli.Subscribe(p.topics.cmd, 1, func(_ mqtt.Client, m mqtt.Message) { p.onCommand(m.Payload()) })
		if !tok.WaitTimeout(p.cfg.AckTimeout) || tok.Error() != nil {
			p.log.Warn("subscribe to remote requests failed", "topic", p.topics.cmd, "error", tok.Error())
			end(false)
			return false
		}
	}
	pending := make(chan inflight, window)
	ackDone := make(chan struct{})
	go func() {
		defer close(ackDone)
		broken := false
		for f := range pending {
			if broken {
				continue
			}
			if !f.tok.WaitTimeout(p.cfg.AckTimeout) {
				p.log.Warn("no PUBACK in time, reconnecting", "timeout", p.cfg.AckTimeout)
				broken = true
			} else if err := f.tok.Error(); err != nil {
				p.log.Debug("publish not acknowledged", "error", err)
				broken = true
			}
			if broken {
				end(false)
				continue
			}
			p.spool.ack(f.it)
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
		items, err := p.spool.take(window/4, quit)
		if err != nil {
			p.log.Error("read spool", "error", err)
			end(false)
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			r := it.Rec
			if r.Instance != curInst {
				curInst = r.Instance
				cli.Publish(p.topics.status, 1, true, appendStatus(nil, curInst, r.first(), p.cfg.Version))
			}
			topic := p.topics.lost
			if r.Event != nil {
				topic = p.topics.base + r.Event.Type
			}
			buf = appendPayload(buf[:0], r)
			payload := append([]byte(nil), buf...)
			select {
			case pending <- inflight{it, cli.Publish(topic, p.cfg.QoS, false, payload)}:
			case <-quit:
			}
		}
	}
	close(pending)
	<-ackDone
	return finished.Load()
}
