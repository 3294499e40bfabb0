package loop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// batchSize is how many ready fds one epoll_wait returns at most; the rest
// come on the next turn (level-triggered, nothing is lost).
const batchSize = 256

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
	epfd   int
	wakefd int
	now    func() time.Duration // monotonic time since New; replaceable in tests

	// Owned by the loop goroutine.
	sources   []source // indexed by fd
	gen       uint32   // last generation handed out
	events    []sys.EpollEvent
	timers    timerHeap
	timerSeq  uint64
	onTurnEnd func()
	running   bool
	closed    bool
	spare     []func() // the previous post queue, kept for reuse

	mu          sync.Mutex
	posted      []func() // guarded by mu
	wakePending bool     // guarded by mu: the eventfd was signaled and not yet drained
	wakeClosed  bool     // guarded by mu: wakefd is closed (its number may be reused)

	stopping atomic.Bool

	// The eventfd's 8-byte counter buffers (eventfd(2)), kept here rather
	// than on the stack: under -race, x/sys's read and write annotate their
	// buffer, which would move a stack array to the heap on every wakeup.
	one   [8]byte // the value 1, written once by New; read by any goroutine
	drain [8]byte // owned by the loop goroutine
}

// New returns a loop with its own epoll fd and wakeup eventfd, which Close
// releases. The logger gets per-event Trace lines only when IsTrace; nil
// means no logging.
func New(log hclog.Logger) (*Loop, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	epfd, err := sys.EpollCreate()
	if err != nil {
		return nil, fmt.Errorf("create loop: %w", err)
	}
	wakefd, err := sys.Eventfd()
	if err != nil {
		_ = sys.Close(epfd)
		return nil, fmt.Errorf("create loop: %w", err)
	}
	if err := sys.EpollAdd(epfd, wakefd, sys.EventIn, uint64(makeID(wakefd, wakeGen))); err != nil {
		_ = sys.Close(wakefd)
		_ = sys.Close(epfd)
		return nil, fmt.Errorf("create loop: %w", err)
	}
	start := time.Now()
	l := &Loop{
		log:    log,
		epfd:   epfd,
		wakefd: wakefd,
		now:    func() time.Duration { return time.Since(start) },
		events: make([]sys.EpollEvent, batchSize),
	}
	binary.NativeEndian.PutUint64(l.one[:], 1)
	return l, nil
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
	// EAGAIN means the counter is saturated: already readable.
	if _, err := sys.Write(l.wakefd, l.one[:]); err != nil && err != sys.ErrWouldBlock {
		l.log.Debug("wake loop", "error", err)
	}
}

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
	n, err := sys.EpollWait(l.epfd, l.events, l.timeout())
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
		if _, err := sys.Read(l.wakefd, l.drain[:]); err != nil && err != sys.ErrWouldBlock {
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
	return nil
}

// timeout returns the epoll_wait timeout in milliseconds until the first
// deadline, rounded up so that the loop does not wake early and spin, or -1
// when there is no timer.
func (l *Loop) timeout() int {
	if len(l.timers) == 0 {
		return -1
	}
	d := l.timers[0].when - l.now()
	if d <= 0 {
		return 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return int(min(ms, 1<<30))
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
	err := sys.Close(l.epfd)
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
