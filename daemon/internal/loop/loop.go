package loop

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// batchSize is how many ready fds one epoll_wait returns at most; the rest
// come on the next turn (level-triggered, nothing is lost).
const batchSize = 256

// hotSpan is how long after a turn with work the loop keeps waiting in
// epoll_wait(2) on its own thread before it parks in the runtime poller;
// see Loop.wait.
const hotSpan = 50 * time.Millisecond

// schedQuantum is the longest the loop goroutine goes without passing
// through the Go scheduler while it has work, kept under sysmon's 10 ms
// (runtime.forcePreemptNS); see Loop.wait.
const schedQuantum = 5 * time.Millisecond

// ID names one registration: the fd in the low 32 bits, a generation in
// the high 32 bits. It is what the kernel holds in epoll_data. The zero ID
// is never valid.
type ID uint64

func makeID(fd int, gen uint32) ID { return ID(uint64(gen)<<32 | uint64(uint32(fd))) }

// FD returns the fd of the registration.
func (id ID) FD() int { return int(uint32(id)) }

func (id ID) gen() uint32 { return uint32(id >> 32) }

// Handler receives the readiness of one registered fd. HandleEvent runs on
// the loop goroutine with the ready mask (sys.Event* bits; EventErr and
// EventHup may come unasked). It must not block. A non-nil error is fatal:
// Run stops and returns it.
type Handler interface {
	HandleEvent(fd int, events uint32) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(fd int, events uint32) error

// HandleEvent calls f(fd, events).
func (f HandlerFunc) HandleEvent(fd int, events uint32) error { return f(fd, events) }

// Errors of Add, Modify and Remove.
var (
	// ErrClosed means the loop was closed.
	ErrClosed = errors.New("loop closed")
	// ErrUnknownID means the ID is not registered (never was, or was
	// removed).
	ErrUnknownID = errors.New("unknown loop id")
)

// wakeGen is the generation of the eventfd's own registration; handlers
// never get it.
const wakeGen = 0

type source struct {
	gen uint32 // 0 when the slot is free
	h   Handler
}

// Loop is a single-goroutine epoll dispatcher. Run, Add, Modify, Remove,
// AfterFunc and OnTurnEnd belong to the goroutine that calls Run (or to
// whoever set the loop up before Run). Post and Stop may be called from any
// goroutine.
type Loop struct {
	log    hclog.Logger
	epfd   int             // the loop's epoll: every registration
	parkfd int             // holds epfd while the loop waits cold
	park   *os.File        // owns parkfd; the runtime poller parks Run on it
	rawEp  syscall.RawConn // park's
	wakefd int
	now    func() time.Duration // monotonic time since New; replaceable in tests

	// Owned by the loop goroutine.
	sources   []source // indexed by fd
	gen       uint32   // last generation handed out
	events    []sys.EpollEvent
	timers    timerHeap
	timerSeq  uint64
	onTurnEnd func()
	nready    int           // events fetched by tryWait
	waitErr   error         // epoll_wait's error in tryWait
	deadline  time.Duration // the poller's read deadline (loop time), or noDeadline
	tryWaitFn func(uintptr) bool
	busyPoll  time.Duration // spin this long polling before parking
	polls     int           // tryWait calls in this turn's wait
	idle      bool          // this turn's wait found nothing ready at first
	hotUntil  time.Duration // wait in epoll_wait until then, then park (loop time)
	hotOK     bool          // GOMAXPROCS > 1: a hot wait leaves the runtime a P
	parked    bool          // epfd is in parkfd (the loop waits cold)
	scheduled time.Duration // when the goroutine last went through the scheduler
	running   bool
	closed    bool
	spare     []func() // the previous post queue, kept for reuse

	mu          sync.Mutex
	posted      []func() // guarded by mu
	wakePending bool     // guarded by mu: the eventfd was signaled and not yet drained
	wakeClosed  bool     // guarded by mu: wakefd is closed (its number may be reused)

	stopping atomic.Bool
}

// New returns a loop with its own epoll fd and wakeup eventfd, which Close
// releases. The logger gets per-event Trace lines only when IsTrace; nil
// means no logging.
func New(log hclog.Logger) (*Loop, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	l := &Loop{
		log:      log,
		events:   make([]sys.EpollEvent, batchSize),
		deadline: noDeadline,
	}
	if err := l.open(); err != nil {
		return nil, fmt.Errorf("create loop: %w", err)
	}
	start := time.Now()
	l.now = func() time.Duration { return time.Since(start) }
	l.tryWaitFn = l.tryWait
	l.hotOK = runtime.GOMAXPROCS(0) > 1
	return l, nil
}

// open creates the two epoll fds, hands the park one to the runtime poller
// and registers the wakeup eventfd; on failure nothing stays open.
func (l *Loop) open() (err error) {
	if l.epfd, err = sys.EpollCreate(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = sys.Close(l.epfd)
		}
	}()
	if l.parkfd, err = sys.EpollCreate(); err != nil {
		return err
	}
	if l.park, err = sys.EpollFile(l.parkfd); err != nil {
		_ = sys.Close(l.parkfd)
		return err
	}
	defer func() {
		if err != nil {
			_ = l.park.Close()
		}
	}()
	// A deadline can be set only on a file the runtime poller watches.
	if err = l.park.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	if l.rawEp, err = l.park.SyscallConn(); err != nil {
		return err
	}
	if l.wakefd, err = sys.Eventfd(); err != nil {
		return err
	}
	if err = sys.EpollAdd(l.epfd, l.wakefd, sys.EventIn, uint64(makeID(l.wakefd, wakeGen))); err != nil {
		_ = sys.Close(l.wakefd)
		return err
	}
	return nil
}

// Add registers fd for the events mask (level-triggered) and returns its
// ID. h gets its readiness on the loop goroutine. The loop does not own fd:
// the caller must Remove it before closing it. Adding an fd already
// registered fails with an error matching syscall.EEXIST.
func (l *Loop) Add(fd int, events uint32, h Handler) (ID, error) {
	if l.closed {
		return 0, ErrClosed
	}
	if fd < 0 {
		return 0, fmt.Errorf("add fd %d to loop: negative fd", fd)
	}
	l.gen++
	if l.gen == wakeGen {
		l.gen++
	}
	id := makeID(fd, l.gen)
	if err := sys.EpollAdd(l.epfd, fd, events, uint64(id)); err != nil {
		return 0, fmt.Errorf("add fd %d to loop: %w", fd, err)
	}
	if fd >= len(l.sources) {
		l.sources = append(l.sources, make([]source, fd+1-len(l.sources))...)
	}
	// A slot still in use means its fd was closed without Remove (closing
	// removes it from epoll); the new registration replaces it.
	l.sources[fd] = source{gen: l.gen, h: h}
	return id, nil
}

func (l *Loop) lookup(id ID) *source {
	fd := id.FD()
	if fd >= len(l.sources) || id.gen() == wakeGen || l.sources[fd].gen != id.gen() {
		return nil
	}
	return &l.sources[fd]
}

// Modify replaces the event mask of registration id. A mask of 0 pauses
// the fd; errors and hang-ups are still reported.
func (l *Loop) Modify(id ID, events uint32) error {
	if l.closed {
		return ErrClosed
	}
	if l.lookup(id) == nil {
		return ErrUnknownID
	}
	if err := sys.EpollMod(l.epfd, id.FD(), events, uint64(id)); err != nil {
		return fmt.Errorf("modify fd %d in loop: %w", id.FD(), err)
	}
	return nil
}

// Remove unregisters id. Events already fetched for it in the current
// batch are dropped. The caller closes the fd afterwards. The registration
// is gone even when EPOLL_CTL_DEL fails (for instance with EBADF because
// the fd was closed first); the error is still returned.
func (l *Loop) Remove(id ID) error {
	if l.closed {
		return ErrClosed
	}
	s := l.lookup(id)
	if s == nil {
		return ErrUnknownID
	}
	*s = source{}
	if err := sys.EpollDel(l.epfd, id.FD()); err != nil {
		return fmt.Errorf("remove fd %d from loop: %w", id.FD(), err)
	}
	return nil
}

// Post queues f to run on the loop goroutine after the current batch of
// events; posted functions run in the order posted. It may be called from
// any goroutine, including the loop's, and never blocks. Functions posted
// after Run returned never run.
func (l *Loop) Post(f func()) {
	l.mu.Lock()
	l.posted = append(l.posted, f)
	if !l.wakePending {
		l.wakePending = true
		l.wakeLocked()
	}
	l.mu.Unlock()
}

// wakeLocked makes epoll_wait return; l.mu is held, so that Close cannot
// close the eventfd (and its number be reused) under the write.
func (l *Loop) wakeLocked() {
	if l.wakeClosed {
		return
	}
	if err := sys.EventfdSignal(l.wakefd); err != nil {
		l.log.Debug("wake loop", "error", err)
	}
}

// StartedIdle reports whether the current turn began idle: its wait found
// nothing ready at first and slept (or spun) until something was. A turn
// that found work waiting means the loop is busy; a handler or the
// turn-end hook can then leave work for the next turn to batch.
func (l *Loop) StartedIdle() bool { return l.idle }

// SetBusyPoll makes the loop poll for d (at most until the next timer)
// before it blocks when nothing is ready: a peer that answers within d is
// seen without a wake-up, at the cost of up to d of CPU per turn. 0 (the
// default) never spins.
func (l *Loop) SetBusyPoll(d time.Duration) { l.busyPoll = max(d, 0) }

// OnTurnEnd sets f to be called on the loop goroutine after each turn:
// after the batch of ready fds, the due timers and the posted functions. A
// second call replaces the first f.
func (l *Loop) OnTurnEnd(f func()) { l.onTurnEnd = f }

// Stop makes Run return nil after the handler, timer or posted function
// that is running, if any. It may be called from any goroutine and never
// blocks. A stopped loop stays stopped: a later Run returns at once.
func (l *Loop) Stop() {
	l.stopping.Store(true)
	l.mu.Lock()
	l.wakeLocked()
	l.mu.Unlock()
}

// Run dispatches events, timers and posted functions on the calling
// goroutine until Stop, then returns nil. When a handler returns an error,
// Run returns it at once, unwrapped; an epoll failure is returned wrapped.
func (l *Loop) Run() error {
	if l.closed {
		return ErrClosed
	}
	if l.running {
		panic("loop: Run called twice")
	}
	l.running = true
	defer func() { l.running = false }()
	for !l.stopping.Load() {
		if err := l.turn(); err != nil {
			return err
		}
	}
	return nil
}

// turn waits for and handles one batch of events, then the due timers and
// the posted functions, then calls the turn-end hook.
func (l *Loop) turn() error {
	start := traceNow()
	n, err := l.wait()
	woke := traceNow()
	if err != nil {
		return fmt.Errorf("wait for events: %w", err)
	}
	woken := false
	for i := range n {
		ev := l.events[i]
		id := ID(ev.Data)
		if id.gen() == wakeGen {
			woken = true
			continue
		}
		s := l.lookup(id)
		if s == nil {
			if l.log.IsTrace() {
				l.log.Trace("drop stale event", "fd", id.FD(), "events", ev.Events)
			}
			continue
		}
		if err := s.h.HandleEvent(id.FD(), ev.Events); err != nil {
			return err
		}
		if l.stopping.Load() {
			return nil
		}
	}
	if woken {
		if _, err := sys.EventfdDrain(l.wakefd); err != nil {
			return fmt.Errorf("drain loop wakeup: %w", err)
		}
	}
	l.runTimers()
	if l.stopping.Load() {
		return nil
	}
	if woken {
		l.runPosted()
	}
	if l.onTurnEnd != nil && !l.stopping.Load() {
		l.onTurnEnd()
	}
	l.traceTurn(start, woke, n)
	return nil
}

// noDeadline is Loop.deadline when the poller has no read deadline.
const noDeadline = time.Duration(-1 << 63)

// wait fetches the next batch of ready fds into l.events, or returns 0
// when the first timer is due. How it waits when none is ready depends on
// how recently the loop had work:
//
//   - Hot, within hotSpan of a turn that had work: it blocks in
//     epoll_wait(2) on epfd on its own thread, through the scheduler (a
//     syscall whose P the runtime can take when another goroutine needs
//     it), as a C daemon does. An event wakes that thread directly. One
//     such wait lasts at most schedQuantum; after an empty one the loop
//     yields to the scheduler and waits hot again. hotSpan (50 ms) is
//     longer than the gap between events at 100 events/s: a loop that
//     parked after 5 ms parked between every two such events, and after
//     each cold wake-up its first hot wait woke the runtime's sysmon from
//     its idle sleep (every P had been idle), which then polls every 20 us
//     for a millisecond, during the event's delivery (about 45 wake-ups per
//     event, 5x the daemon's CPU of a hot wait; docs/latency.md).
//   - Cold, after that: epfd goes into parkfd, which the Go runtime's
//     poller watches, and the goroutine parks there (RawConn.Read with a
//     read deadline at the first timer), so that an idle loop holds no
//     thread and the runtime sleeps entirely: no wake-ups, no CPU. The
//     wake-up then crosses one more epoll and the scheduler, about 10 us
//     here. While hot, epfd is out of parkfd, so that no runtime thread
//     parked in the poller is woken by the loop's events too.
//
// Blocking in epoll_wait needs care in Go. A goroutine that spends its life
// in blocking syscalls never passes through the scheduler; after 10 ms on
// one scheduling tick, the runtime's sysmon treats it as long-running and
// takes its P in every syscall it sees (runtime.retake), so each wake-up
// hands the loop to another thread: futex calls and a thread hand-off per
// event, about half of mypolld's light-load event latency when the loop
// always blocked. So the loop yields to the scheduler at least every
// schedQuantum (a parked cold wait counts), which keeps sysmon away for a
// few futex calls per quantum. And with GOMAXPROCS 1 there is no idle P,
// so sysmon takes the only one from any syscall within 20 us: such a loop
// never waits hot.
func (l *Loop) wait() (int, error) {
	l.polls = 0
	n, err := l.waitReady()
	for err == errStillHot {
		n, err = l.waitReady() // yields to the scheduler first when due
	}
	l.idle = l.polls > 1 || err == nil && n == 0
	if n > 0 {
		l.hotUntil = l.now() + hotSpan
	}
	return n, err
}

// errStillHot is waitReady's answer when a hot wait of one schedQuantum
// ended with nothing ready before hotSpan is over: wait again.
var errStillHot = errors.New("still hot")

// waitReady is wait's body; l.polls counts its polls and waits.
func (l *Loop) waitReady() (int, error) {
	now := l.now()
	if now-l.scheduled >= schedQuantum {
		runtime.Gosched()
		l.scheduled = now
		l.hotOK = runtime.GOMAXPROCS(0) > 1
	}
	want := noDeadline
	if len(l.timers) > 0 {
		want = l.timers[0].when
		if want <= now {
			return sys.EpollWait(l.epfd, l.events, 0) // a timer is due: no wait
		}
	}
	if l.busyPoll > 0 {
		until := now + min(l.busyPoll, want-now)
		for {
			if l.tryWait(0) {
				return l.nready, l.waitErr
			}
			if now = l.now(); now >= until {
				break
			}
		}
	}
	if now < l.hotUntil && l.hotOK {
		if l.parked {
			// Out of the runtime's sight: a thread of its own parked in
			// the poller would be woken by every event too.
			if err := sys.EpollDel(l.parkfd, l.epfd); err != nil {
				return 0, err
			}
			l.parked = false
		}
		if l.tryWait(0) {
			return l.nready, l.waitErr
		}
		// Whole milliseconds only (epoll_wait's unit, rounded down so that
		// no timer fires late): a wait under 1 ms goes to the poller,
		// whose deadline is exact.
		d := min(l.hotUntil-now, schedQuantum)
		if want != noDeadline {
			d = min(d, want-now)
		}
		if ms := int(d / time.Millisecond); ms > 0 {
			l.polls++
			n, err := sys.EpollWait(l.epfd, l.events, ms)
			if n > 0 || err != nil {
				return n, err
			}
			now = l.now()
			if want != noDeadline && want <= now {
				return 0, nil
			}
			if now < l.hotUntil {
				return 0, errStillHot
			}
		}
	}
	if !l.parked {
		if err := sys.EpollAdd(l.parkfd, l.epfd, sys.EventIn, 0); err != nil {
			return 0, err
		}
		l.parked = true
	}
	if want != l.deadline {
		var t time.Time
		if want != noDeadline {
			t = time.Now().Add(want - l.now())
		}
		if err := l.park.SetReadDeadline(t); err != nil {
			return 0, err
		}
		l.deadline = want
	}
	// Read tries tryWait first and parks only when it reports nothing.
	polls := l.polls
	err := l.rawEp.Read(l.tryWaitFn)
	if l.polls-polls > 1 || errors.Is(err, os.ErrDeadlineExceeded) {
		l.scheduled = l.now() // it parked, and the scheduler ran it again
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return l.nready, l.waitErr
}

// tryWait is the poller's read attempt: a non-blocking epoll_wait. It
// reports false (park and retry when epfd is readable) only when nothing
// is ready and there was no error.
func (l *Loop) tryWait(uintptr) bool {
	l.polls++
	l.nready, l.waitErr = sys.EpollWait(l.epfd, l.events, 0)
	return l.nready > 0 || l.waitErr != nil
}

// runPosted runs the functions posted so far. Functions they post run on
// the next turn; the eventfd was signaled again for them.
func (l *Loop) runPosted() {
	l.mu.Lock()
	fs := l.posted
	l.posted = l.spare[:0]
	l.wakePending = false
	l.mu.Unlock()
	for i, f := range fs {
		fs[i] = nil
		f()
		if l.stopping.Load() {
			// Keep the rest in order for nobody: a stopped loop never runs
			// again, and dropping them releases their captures.
			clear(fs[i:])
			break
		}
	}
	l.spare = fs[:0]
}

// Close releases the epoll fd and the eventfd. It is idempotent. Call it
// after Run has returned; registered fds stay open (their owners close
// them).
func (l *Loop) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	traceDump()
	err := l.park.Close()
	if err2 := sys.Close(l.epfd); err == nil {
		err = err2
	}
	l.mu.Lock()
	l.wakeClosed = true
	err2 := sys.Close(l.wakefd)
	l.mu.Unlock()
	if err == nil {
		err = err2
	}
	if err != nil {
		return fmt.Errorf("close loop: %w", err)
	}
	return nil
}
