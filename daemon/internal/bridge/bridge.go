package bridge

import (
	"context"
	"crypto/tls"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/client"
)

// Config configures a Bridge.
type Config struct {
	Socket       string        // mypolld's socket
	Subscribe    client.Filter // what to carry (PROTOCOL.md A.5); None means All
	Brokers      []string      // MQTT broker URLs, tried in turn
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
	daemonMinWait = 100 * time.Millisecond
	daemonMaxWait = 5 * time.Second
	syncEvery     = 200 * time.Millisecond // C.4: durable within 1 s
)

// Bridge carries one mypolld's events to an MQTT broker (PROTOCOL.md C).
// Its session reads mypolld into the spool (never blocked by the broker),
// its publisher takes the spool to the broker (in order, advancing the
// acknowledged cursor over the contiguous acked prefix), a syncer makes
// the spool durable, and remote requests (C.5) go from the publisher's
// cmd topic through the session's connection and back.
type Bridge struct {
	cfg  Config
	log  hclog.Logger
	sess *session
	pub  *publisher
	cmds chan []byte
}

// New checks cfg and returns a Bridge; Run starts it.
func New(cfg Config) *Bridge {
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = 20 * time.Second
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 30 * time.Second
	}
	if cfg.Subscribe.IsNone() {
		cfg.Subscribe = client.All
	}
	b := &Bridge{cfg: cfg, log: cfg.Log, cmds: make(chan []byte, 64)}
	b.sess = newSession(cfg.Socket, cfg.Subscribe, cfg.Spool, cfg.Log)
	b.pub = newPublisher(&b.cfg, b.sess.hello)
	b.sess.onRange = b.pub.republishStatus
	if cfg.Allowed != nil {
		b.pub.onCommand = func(payload []byte) {
			select {
			case b.cmds <- payload:
			default:
				b.log.Warn("remote request dropped, too many pending")
			}
		}
	}
	return b
}

// Run runs the bridge until ctx ends, then shuts down as C.2 says: stop
// reading, publish what is spooled for up to FlushTimeout, publish the
// retained offline status, disconnect. It returns nil after a clean
// shutdown and an error only when the bridge cannot do its job (mypolld
// refuses the subscription; a failing or full disk is not one, C.4).
func (b *Bridge) Run(ctx context.Context) error {
	fatal := make(chan error, 3)
	readCtx, stopRead := context.WithCancel(context.Background())
	defer stopRead()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := b.sess.run(readCtx); err != nil {
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
		b.pub.run(stopping)
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
