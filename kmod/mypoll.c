// SPDX-License-Identifier: GPL-2.0
/*
 * mypoll.c - /dev/mypoll: sequenced kernel events with per-reader cursors
 *
 * One device-wide ring of fixed 48-byte records (struct mypoll_event).  Every
 * record gets seq = next_seq++; each open file has its own cursor, so readers
 * never consume for each other.  A reader whose unread records were
 * overwritten first reads one OVERFLOW record naming the exact lost range.
 * Sources: up to MYPOLL_MAX_TIMERS soft hrtimers (missed ticks are folded into
 * one record) and TRIGGER bursts.  The user ABI is include/uapi/linux/mypoll.h.
 *
 * No reader ever waits for a writer (PROTOCOL.md B.3): a seq is readable
 * from the lock hold that assigns it.  A TRIGGER burst reserves its seqs and
 * writes its first MYPOLL_BURST_CHUNK records in one hold (all of the usual
 * small bursts); a larger one stays on the in-flight list (struct
 * mypoll_burst) until its later chunks are stored, and a reader builds a
 * record not yet stored from that descriptor (TRIGGER records are a pure
 * function of it).  So a descheduled or low-priority burster hides nothing.
 *
 * Readiness is lockless: @avail publishes next_seq (release) after each
 * insertion; read()'s wait condition and poll() compare it (acquire) with
 * the reader's cursor and take no lock.  Each open file has its own wait
 * queue and fasync list, woken by the insertion's lock holder with a key
 * exact for that file: EPOLLPRI only if the insertion made an OVERFLOW
 * pending for it (as evdev wakes each client under its event lock).
 *
 * Locking:
 *  - mypoll_dev.lock (spinlock): ring, next_seq, in-flight bursts, counters,
 *    reader list and cursors (written), timer state read by the hrtimer
 *    callbacks, dead, park.  No hard-IRQ context takes it: process context
 *    uses spin_lock_bh(), the soft hrtimer callbacks (softirq) spin_lock().
 *    No hold is long: a burst stores MYPOLL_BURST_CHUNK records per hold.
 *    Readers' wait queues and fasync lists are woken under it (nothing
 *    takes it inside them: readiness is lockless).
 *  - mypoll_dev.ctl (mutex): serialises timer start/stop/release and unplug,
 *    so no timer is re-armed while another context cancels it.  Never held
 *    by the hrtimer callbacks; hrtimer_cancel() is only called under ctl.
 *  - mypoll_reader.rlock (mutex): serialises the copy-out of read() and
 *    SEEK on one file.  Never held while read() waits for records.
 * Order: rlock or ctl, then lock.  Functions named __mypoll_* need lock held.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/ctype.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/wait.h>

#include <uapi/linux/mypoll.h>

#include "mypoll_compat.h"

#define MYPOLL_RING_ORDER_MIN	4
#define MYPOLL_RING_ORDER_MAX	16
#define MYPOLL_MIN_PERIOD_US	100
#define MYPOLL_MAX_PERIOD_NS	(3600ULL * NSEC_PER_SEC)
#define MYPOLL_MAX_BURST	65536
/* records staged per copy_to_iter() in read() */
#define MYPOLL_BOUNCE		16
/* TRIGGER records stored per lock hold */
#define MYPOLL_BURST_CHUNK	128

/* mypoll_dev.park, the debugfs test hook */
enum mypoll_park {
	MYPOLL_PARK_OFF,	/* bursts run through */
	MYPOLL_PARK_ARMED,	/* the next burst of count > 1 parks */
	MYPOLL_PARK_PARKED,	/* a burst is parked until 0 is written */
};

static unsigned int ring_order = 10;
module_param(ring_order, uint, 0444);
MODULE_PARM_DESC(ring_order, "ring size as a power of two, 4..16 (default 10 = 1024 records)");

static unsigned int min_period_us = 1000;
module_param(min_period_us, uint, 0444);
MODULE_PARM_DESC(min_period_us, "shortest timer period in microseconds, >= 100 (default 1000)");

static unsigned int max_burst = 4096;
module_param(max_burst, uint, 0444);
MODULE_PARM_DESC(max_burst, "largest TRIGGER count, 1..65536 (default 4096)");

static bool text_ctl = true;
module_param(text_ctl, bool, 0444);
MODULE_PARM_DESC(text_ctl, "accept text commands through write() (default 1)");

static bool test_hooks;
module_param(test_hooks, bool, 0444);
MODULE_PARM_DESC(test_hooks, "create the debugfs test hooks unplug, check and park (default 0)");

struct mypoll_dev;

struct mypoll_tmr {
	struct hrtimer hrt;
	struct mypoll_dev *dev;
	u32 id;
	/* the fields below are protected by mypoll_dev.lock */
	u32 active;
	u32 flags;
	u64 period_ns;
	u64 count;
	u64 cookie;
	u64 ticks;
	const struct file *owner;	/* compared only, never dereferenced */
};

/*
 * struct mypoll_burst - a TRIGGER burst whose records are not all stored yet.
 * It lives on the stack of the task running the burst and is on
 * mypoll_dev.bursts, under mypoll_dev.lock, from the hold that reserves its
 * seqs to the hold that stores its last record.
 */
struct mypoll_burst {
	struct list_head node;
	u64 first;			/* its seqs are first .. end - 1 */
	u64 end;
	u64 payload;
	u64 now;			/* timestamp of every record */
};

struct mypoll_dev {
	struct miscdevice misc;
	spinlock_t lock;		/* see the locking comment at the top */
	struct mutex ctl;		/* timer control and unplug */
	struct mypoll_event *ring;
	u64 ring_size;
	u64 mask;
	u64 next_seq;
	atomic64_t avail;		/* next_seq, published for lockless readiness */
	u64 instance_id;
	u64 min_period_ns;
	u64 timer_events;
	u64 trigger_events;
	u64 timer_overruns;
	u32 readers;
	u32 dead;			/* set once by unplug or unload */
	u32 park;			/* enum mypoll_park */
	struct list_head bursts;	/* in-flight struct mypoll_burst */
	struct list_head reader_list;
	wait_queue_head_t park_wq;	/* a parked burst */
	struct mypoll_tmr timers[MYPOLL_MAX_TIMERS];
	struct kmem_cache *reader_cache;
	struct dentry *debugfs;
};

struct mypoll_reader {
	struct mypoll_dev *dev;
	struct mutex rlock;		/* read() and SEEK on this file */
	struct list_head node;		/* in reader_list, under dev->lock */
	/*
	 * cursor: written under rlock and dev->lock, read locklessly by the
	 * readiness checks (atomic64_t: no torn reads on 32-bit).
	 */
	atomic64_t cursor;
	/* lost_total, overflows: written under rlock and dev->lock */
	u64 lost_total;
	u64 overflows;
	wait_queue_head_t wq;		/* this file's readers and pollers */
	struct fasync_struct *fasync;	/* this file's SIGIO owner */
	struct mypoll_event bounce[MYPOLL_BOUNCE];	/* under rlock */
};

static struct mypoll_dev mypoll;

/* mypoll_oldest_of - the oldest seq in the ring when next_seq is @next */
static u64 mypoll_oldest_of(const struct mypoll_dev *dev, u64 next)
{
	return next > dev->ring_size ? next - dev->ring_size : 1;
}

static u64 __mypoll_oldest(const struct mypoll_dev *dev)
{
	lockdep_assert_held(&dev->lock);
	return mypoll_oldest_of(dev, dev->next_seq);
}

/*
 * mypoll_ready - would read() on @r return now (records, an OVERFLOW, or
 * ENODEV)?  Lockless: every seq below @avail is readable (B.3), so records
 * are waiting exactly while the cursor is behind it.  (A cursor read after
 * another thread of the same file moved it can be ahead of the @avail read
 * just before: that is "nothing for this caller", hence < and not !=.)
 */
static bool mypoll_ready(struct mypoll_dev *dev, struct mypoll_reader *r)
{
	u64 avail;

	if (READ_ONCE(dev->dead))
		return true;
	avail = atomic64_read_acquire(&dev->avail);
	return atomic64_read(&r->cursor) < avail;
}

static u32 __mypoll_active_mask(const struct mypoll_dev *dev)
{
	u32 mask = 0;
	int i;

	lockdep_assert_held(&dev->lock);
	for (i = 0; i < MYPOLL_MAX_TIMERS; i++)
		if (dev->timers[i].active)
			mask |= 1U << i;
	return mask;
}

/* mypoll_fill - build record @seq in @ev (reserved fields zero) */
static void mypoll_fill(struct mypoll_event *ev, u64 seq, u16 type,
			u32 source_id, u64 arg, u64 aux, u64 now)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = seq;
	ev->timestamp_ns = now;
	ev->type = type;
	ev->source_id = source_id;
	ev->arg = arg;
	ev->aux = aux;
}

/* __mypoll_put - store record @seq in its ring slot */
static void __mypoll_put(struct mypoll_dev *dev, u64 seq, u16 type,
			 u32 source_id, u64 arg, u64 aux, u64 now)
{
	lockdep_assert_held(&dev->lock);
	mypoll_fill(&dev->ring[seq & dev->mask], seq, type, source_id, arg, aux, now);
}

/* __mypoll_publish - make every assigned seq visible to lockless readiness */
static void __mypoll_publish(struct mypoll_dev *dev)
{
	lockdep_assert_held(&dev->lock);
	atomic64_set_release(&dev->avail, dev->next_seq);
}

/*
 * __mypoll_emit - append one record, evicting the oldest when the ring is
 * full, and publish it; returns its seq.  Never sleeps, never allocates.
 */
static u64 __mypoll_emit(struct mypoll_dev *dev, u16 type, u32 source_id,
			 u64 arg, u64 aux, u64 now)
{
	u64 seq;

	lockdep_assert_held(&dev->lock);
	seq = dev->next_seq++;
	__mypoll_put(dev, seq, type, source_id, arg, aux, now);
	__mypoll_publish(dev);
	return seq;
}

/*
 * __mypoll_notify - tell every open file about the records just inserted,
 * which moved the oldest seq from @old to the current one.  Every file gets
 * EPOLLIN|EPOLLRDNORM and SIGIO with POLL_IN (edge-triggered epoll relies on
 * a wake per insertion); a file whose unread records were overwritten, its
 * cursor in [@old, oldest), now has an OVERFLOW pending and gets EPOLLPRI
 * and a SIGIO with POLL_PRI as well (B.3: EPOLLPRI while an OVERFLOW is
 * pending); a file already behind @old had that when it fell behind.
 * O(open files), in the lock hold of the insertion.
 */
static void __mypoll_notify(struct mypoll_dev *dev, u64 old)
{
	u64 oldest = __mypoll_oldest(dev), cur;
	struct mypoll_reader *r;
	__poll_t key;

	lockdep_assert_held(&dev->lock);
	list_for_each_entry(r, &dev->reader_list, node) {
		cur = atomic64_read(&r->cursor);
		key = EPOLLIN | EPOLLRDNORM;
		if (cur >= old && cur < oldest)
			key |= EPOLLPRI;
		if (wq_has_sleeper(&r->wq))
			wake_up_interruptible_poll(&r->wq, key);
		kill_fasync(&r->fasync, SIGIO, POLL_IN);
		if (key & EPOLLPRI)
			kill_fasync(&r->fasync, SIGIO, POLL_PRI);
	}
}

static enum hrtimer_restart mypoll_timer_fn(struct hrtimer *hrt)
{
	struct mypoll_tmr *t = container_of(hrt, struct mypoll_tmr, hrt);
	struct mypoll_dev *dev = t->dev;
	enum hrtimer_restart ret = HRTIMER_RESTART;
	u64 n, now, old;

	spin_lock(&dev->lock);
	if (!t->active || dev->dead) {
		/* stopped after this expiry was queued: emit nothing */
		spin_unlock(&dev->lock);
		return HRTIMER_NORESTART;
	}
	n = hrtimer_forward_now(hrt, ns_to_ktime(t->period_ns));
	if (n == 0)
		n = 1;
	if (t->count && n > t->count - t->ticks)
		n = t->count - t->ticks;
	t->ticks += n;
	now = ktime_get_ns();
	old = __mypoll_oldest(dev);
	__mypoll_emit(dev, MYPOLL_EV_TIMER, t->id, t->ticks, n - 1, now);
	dev->timer_events++;
	dev->timer_overruns += n - 1;
	if (t->count && t->ticks >= t->count) {
		t->active = 0;
		t->owner = NULL;	/* no longer bound to the file that started it */
		__mypoll_emit(dev, MYPOLL_EV_TIMER_STOPPED, t->id, t->ticks,
			      MYPOLL_STOP_REASON_COUNT, now);
		dev->timer_events++;
		ret = HRTIMER_NORESTART;
	}
	__mypoll_notify(dev, old);
	spin_unlock(&dev->lock);
	return ret;
}

/*
 * mypoll_timer_stop - stop timer @t if running, emitting TIMER_STOPPED with
 * @reason (unless @quiet).  Caller holds dev->ctl.  Returns -ENOENT if idle.
 */
static int mypoll_timer_stop(struct mypoll_dev *dev, struct mypoll_tmr *t,
			     u64 reason, bool quiet)
{
	u64 old;

	lockdep_assert_held(&dev->ctl);
	spin_lock_bh(&dev->lock);
	if (!t->active) {
		spin_unlock_bh(&dev->lock);
		return -ENOENT;
	}
	t->active = 0;
	t->owner = NULL;
	if (!quiet && !dev->dead) {
		old = __mypoll_oldest(dev);
		__mypoll_emit(dev, MYPOLL_EV_TIMER_STOPPED, t->id, t->ticks,
			      reason, ktime_get_ns());
		dev->timer_events++;
		__mypoll_notify(dev, old);
	}
	spin_unlock_bh(&dev->lock);
	/* the callback sees !active and emits nothing after the record above */
	hrtimer_cancel(&t->hrt);
	return 0;
}

/*
 * mypoll_kill - mark the device dead, then cancel every timer whether or not
 * it looks active: one that ended by its count may still be in its callback.
 * Caller holds dev->ctl.  After this no callback runs and none is queued.
 */
static void mypoll_kill(struct mypoll_dev *dev)
{
	int i;

	lockdep_assert_held(&dev->ctl);
	spin_lock_bh(&dev->lock);
	WRITE_ONCE(dev->dead, 1);
	for (i = 0; i < MYPOLL_MAX_TIMERS; i++) {
		dev->timers[i].active = 0;
		dev->timers[i].owner = NULL;
	}
	spin_unlock_bh(&dev->lock);
	for (i = 0; i < MYPOLL_MAX_TIMERS; i++)
		hrtimer_cancel(&dev->timers[i].hrt);
}

static int mypoll_check_period(const struct mypoll_dev *dev, u64 period_ns)
{
	if (period_ns < dev->min_period_ns || period_ns > MYPOLL_MAX_PERIOD_NS)
		return -EINVAL;
	return 0;
}

/* mypoll_timer_start - validate @req and start its timer; @file may own it */
static int mypoll_timer_start(struct mypoll_dev *dev,
			      const struct mypoll_timer *req,
			      const struct file *file)
{
	struct mypoll_tmr *t;
	int ret;

	if (req->id >= MYPOLL_MAX_TIMERS || req->flags & ~MYPOLL_TIMER_F_ALL ||
	    req->ticks || req->active || req->reserved)
		return -EINVAL;
	ret = mypoll_check_period(dev, req->period_ns);
	if (ret)
		return ret;
	t = &dev->timers[array_index_nospec(req->id, MYPOLL_MAX_TIMERS)];

	mutex_lock(&dev->ctl);
	if (READ_ONCE(dev->dead)) {
		ret = -ENODEV;
		goto out_unlock;
	}
	spin_lock_bh(&dev->lock);
	ret = t->active && !(req->flags & MYPOLL_TIMER_F_REPLACE) ? -EBUSY : 0;
	spin_unlock_bh(&dev->lock);
	if (ret)
		goto out_unlock;
	/* REPLACE restarts a running timer silently, ticks from 0 */
	mypoll_timer_stop(dev, t, 0, true);

	spin_lock_bh(&dev->lock);
	t->flags = req->flags;
	t->period_ns = req->period_ns;
	t->count = req->count;
	t->cookie = req->cookie;
	t->ticks = 0;
	t->owner = req->flags & MYPOLL_TIMER_F_OWNED ? file : NULL;
	t->active = 1;
	spin_unlock_bh(&dev->lock);
	hrtimer_start(&t->hrt, ns_to_ktime(req->period_ns), HRTIMER_MODE_REL_SOFT);
out_unlock:
	mutex_unlock(&dev->ctl);
	return ret;
}

static int mypoll_timer_stop_id(struct mypoll_dev *dev, u32 id)
{
	int ret;

	if (id >= MYPOLL_MAX_TIMERS)
		return -EINVAL;
	id = array_index_nospec(id, MYPOLL_MAX_TIMERS);
	mutex_lock(&dev->ctl);
	if (READ_ONCE(dev->dead))
		ret = -ENODEV;
	else
		ret = mypoll_timer_stop(dev, &dev->timers[id],
					MYPOLL_STOP_REASON_STOP, false);
	mutex_unlock(&dev->ctl);
	return ret;
}

/*
 * __mypoll_burst_of - the in-flight burst that holds seq @seq, or NULL.
 * Walks the bursts running now: one per task inside TRIGGER at most.
 */
static const struct mypoll_burst *__mypoll_burst_of(struct mypoll_dev *dev, u64 seq)
{
	const struct mypoll_burst *b;

	lockdep_assert_held(&dev->lock);
	list_for_each_entry(b, &dev->bursts, node)
		if (seq >= b->first && seq < b->end)
			return b;
	return NULL;
}

/*
 * __mypoll_fetch - copy record @seq (oldest <= seq < next_seq) into @ev:
 * from its slot, or, if its burst has not stored it yet, built from the
 * burst's descriptor.  Every assigned seq is one or the other.
 */
static bool __mypoll_fetch(struct mypoll_dev *dev, u64 seq, struct mypoll_event *ev)
{
	const struct mypoll_event *slot = &dev->ring[seq & dev->mask];
	const struct mypoll_burst *b;

	lockdep_assert_held(&dev->lock);
	if (slot->seq == seq) {
		*ev = *slot;
		return true;
	}
	b = __mypoll_burst_of(dev, seq);
	if (WARN_ON_ONCE(!b))
		return false;
	mypoll_fill(ev, seq, MYPOLL_EV_TRIGGER, 0, b->payload, seq - b->first, b->now);
	return true;
}

/*
 * __mypoll_store_chunk - store up to MYPOLL_BURST_CHUNK records of burst @b
 * from @seq on; returns the next seq to store.
 */
static u64 __mypoll_store_chunk(struct mypoll_dev *dev, const struct mypoll_burst *b,
				u64 seq)
{
	u64 stop = min(seq + MYPOLL_BURST_CHUNK, b->end);

	lockdep_assert_held(&dev->lock);
	for (; seq < stop; seq++)
		__mypoll_put(dev, seq, MYPOLL_EV_TRIGGER, 0, b->payload,
			     seq - b->first, b->now);
	return seq;
}

/*
 * mypoll_park - the park test hook: wait here, with the burst's seqs
 * reserved and published but maybe not stored, until 0 is written to it (or
 * a fatal signal: the burst then finishes as usual).
 */
static void mypoll_park(struct mypoll_dev *dev)
{
	wait_event_killable(dev->park_wq, READ_ONCE(dev->park) != MYPOLL_PARK_PARKED);
	spin_lock_bh(&dev->lock);
	if (dev->park == MYPOLL_PARK_PARKED)
		dev->park = MYPOLL_PARK_OFF;
	spin_unlock_bh(&dev->lock);
}

/*
 * mypoll_trigger - emit @count TRIGGER records with consecutive seqs.  One
 * lock hold reserves the seqs, stores the first MYPOLL_BURST_CHUNK of those
 * that can survive (only the last min(count, ring_size) can) and publishes
 * them all: from then on every one is readable, stored or not, because the
 * burst's descriptor is on the in-flight list until the rest are stored,
 * MYPOLL_BURST_CHUNK per hold.  A slot that newer records took meanwhile is
 * left alone.
 */
static int mypoll_trigger(struct mypoll_dev *dev, u64 payload, u32 count,
			  u64 *first_seq)
{
	struct mypoll_burst b = { .payload = payload };
	bool parked = false, done;
	u64 old, seq;

	if (count < 1 || count > max_burst)
		return -EINVAL;
	spin_lock_bh(&dev->lock);
	if (dev->dead) {
		spin_unlock_bh(&dev->lock);
		return -ENODEV;
	}
	b.now = ktime_get_ns();
	b.first = dev->next_seq;
	b.end = b.first + count;
	old = __mypoll_oldest(dev);
	dev->next_seq = b.end;
	dev->trigger_events += count;
	seq = __mypoll_store_chunk(dev, &b, max(b.first, __mypoll_oldest(dev)));
	done = seq >= b.end;
	if (!done)
		list_add_tail(&b.node, &dev->bursts);
	__mypoll_publish(dev);
	/* every record of the burst is readable from here on */
	__mypoll_notify(dev, old);
	if (count > 1 && dev->park == MYPOLL_PARK_ARMED) {
		dev->park = MYPOLL_PARK_PARKED;
		parked = true;
	}
	spin_unlock_bh(&dev->lock);
	if (parked)
		mypoll_park(dev);
	while (!done) {
		cond_resched();
		spin_lock_bh(&dev->lock);
		/* newer records may have evicted some of ours meanwhile */
		seq = __mypoll_store_chunk(dev, &b, max(seq, __mypoll_oldest(dev)));
		done = seq >= b.end;
		if (done)
			list_del(&b.node);
		spin_unlock_bh(&dev->lock);
	}
	*first_seq = b.first;
	return 0;
}

static int mypoll_open(struct inode *inode, struct file *file)
{
	struct mypoll_dev *dev = &mypoll;
	struct mypoll_reader *r;
	int ret;

	ret = stream_open(inode, file);
	if (ret)
		return ret;
	/* read_iter honours IOCB_NOWAIT: io_uring need not punt reads */
	file->f_mode |= FMODE_NOWAIT;
	r = kmem_cache_zalloc(dev->reader_cache, GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->dev = dev;
	mutex_init(&r->rlock);
	init_waitqueue_head(&r->wq);
	spin_lock_bh(&dev->lock);
	if (dev->dead) {
		spin_unlock_bh(&dev->lock);
		kmem_cache_free(dev->reader_cache, r);
		return -ENODEV;
	}
	atomic64_set(&r->cursor, dev->next_seq);
	list_add_tail(&r->node, &dev->reader_list);
	dev->readers++;
	spin_unlock_bh(&dev->lock);
	file->private_data = r;
	return 0;
}

static int mypoll_release(struct inode *inode, struct file *file)
{
	struct mypoll_reader *r = file->private_data;
	struct mypoll_dev *dev = r->dev;
	bool owned;
	int i;

	mutex_lock(&dev->ctl);
	for (i = 0; i < MYPOLL_MAX_TIMERS; i++) {
		struct mypoll_tmr *t = &dev->timers[i];

		spin_lock_bh(&dev->lock);
		owned = t->active && t->owner == file;
		spin_unlock_bh(&dev->lock);
		if (owned)
			mypoll_timer_stop(dev, t, MYPOLL_STOP_REASON_CLOSED, false);
	}
	mutex_unlock(&dev->ctl);

	spin_lock_bh(&dev->lock);
	list_del(&r->node);
	dev->readers--;
	spin_unlock_bh(&dev->lock);
	mutex_destroy(&r->rlock);
	kmem_cache_free(dev->reader_cache, r);
	return 0;
}

/*
 * __mypoll_stage - copy up to @want records at the reader's cursor into its
 * bounce buffer, an OVERFLOW record first if records were lost.  Returns the
 * number staged; the cursor is not moved.
 */
static size_t __mypoll_stage(struct mypoll_dev *dev, struct mypoll_reader *r,
			     size_t want)
{
	u64 cur = atomic64_read(&r->cursor), oldest = __mypoll_oldest(dev);
	size_t n = 0;

	lockdep_assert_held(&dev->lock);
	if (want > MYPOLL_BOUNCE)
		want = MYPOLL_BOUNCE;
	if (cur < oldest) {
		mypoll_fill(&r->bounce[n++], cur, MYPOLL_EV_OVERFLOW, 0, 0,
			    oldest - cur, ktime_get_ns());
		cur = oldest;
	}
	while (n < want && cur < dev->next_seq &&
	       __mypoll_fetch(dev, cur, &r->bounce[n])) {
		n++;
		cur++;
	}
	return n;
}

/* __mypoll_commit - move the cursor past the first @k staged records */
static void __mypoll_commit(struct mypoll_dev *dev, struct mypoll_reader *r, size_t k)
{
	const struct mypoll_event *last = &r->bounce[k - 1];

	lockdep_assert_held(&dev->lock);
	if (r->bounce[0].type == MYPOLL_EV_OVERFLOW) {
		r->lost_total += r->bounce[0].aux;
		r->overflows++;
	}
	if (last->type == MYPOLL_EV_OVERFLOW)
		atomic64_set(&r->cursor, last->seq + last->aux);
	else
		atomic64_set(&r->cursor, last->seq + 1);
}

/*
 * mypoll_read_iter - copy whole records from the cursor (read, readv,
 * io_uring).  rlock is held only while staging, copying and committing (so
 * two threads reading one file neither lose nor duplicate records); waiting
 * for records happens without it, so a blocked reader never holds up SEEK,
 * GET_READER or a non-blocking read on the same file.  O_NONBLOCK is looked
 * at on every call, as it may change; IOCB_NOWAIT (io_uring, RWF_NOWAIT)
 * never sleeps, not even on rlock.  Once something was copied, a pending
 * signal ends the copy at a record boundary.
 */
static ssize_t mypoll_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct file *file = iocb->ki_filp;
	struct mypoll_reader *r = file->private_data;
	struct mypoll_dev *dev = r->dev;
	const size_t esz = sizeof(struct mypoll_event);
	bool nowait = iocb->ki_flags & IOCB_NOWAIT;
	size_t count = iov_iter_count(to);
	size_t want = count / esz, done = 0;
	ssize_t ret = 0;

	if (count == 0)
		return 0;
	if (count < esz)
		return -EINVAL;
	for (;;) {
		if (nowait) {
			if (!mutex_trylock(&r->rlock))
				return -EAGAIN;
		} else if (mutex_lock_interruptible(&r->rlock)) {
			return -ERESTARTSYS;
		}
		while (done < want) {
			size_t n, k;

			spin_lock_bh(&dev->lock);
			n = __mypoll_stage(dev, r, want - done);
			spin_unlock_bh(&dev->lock);
			if (n == 0)
				break;
			k = copy_to_iter(r->bounce, n * esz, to) / esz;
			if (k == 0) {
				if (!done)
					ret = -EFAULT;
				break;
			}
			spin_lock_bh(&dev->lock);
			__mypoll_commit(dev, r, k);
			spin_unlock_bh(&dev->lock);
			done += k;
			if (k < n || signal_pending(current))
				break;
			/* a large read of a busy ring: bound the time on the CPU */
			cond_resched();
		}
		mutex_unlock(&r->rlock);
		if (done || ret)
			break;
		/* dead: nothing more can come once the cursor is at next_seq */
		if (READ_ONCE(dev->dead)) {
			ret = -ENODEV;
			break;
		}
		if (nowait || (READ_ONCE(file->f_flags) & O_NONBLOCK)) {
			ret = -EAGAIN;
			break;
		}
		ret = wait_event_interruptible(r->wq, mypoll_ready(dev, r));
		if (ret)
			break;
	}
	return done ? done * esz : ret;
}

static __poll_t mypoll_poll(struct file *file, struct poll_table_struct *wait)
{
	struct mypoll_reader *r = file->private_data;
	struct mypoll_dev *dev = r->dev;
	__poll_t mask = 0;
	u64 avail, cur;

	poll_wait(file, &r->wq, wait);
	avail = atomic64_read_acquire(&dev->avail);
	cur = atomic64_read(&r->cursor);
	if (cur < avail)
		mask |= EPOLLIN | EPOLLRDNORM;
	if (cur < mypoll_oldest_of(dev, avail))
		mask |= EPOLLPRI;
	if (READ_ONCE(dev->dead))
		mask |= EPOLLHUP | EPOLLERR;
	else if (file->f_mode & FMODE_WRITE)
		mask |= EPOLLOUT | EPOLLWRNORM;
	return mask;
}

static int mypoll_fasync(int fd, struct file *file, int on)
{
	struct mypoll_reader *r = file->private_data;

	return fasync_helper(fd, file, on, &r->fasync);
}

/* mypoll_parse_u64 - decimal or 0x hex, digits only (no sign, no octal) */
static int mypoll_parse_u64(const char *s, u64 *v)
{
	unsigned int base = 10;
	const char *p;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && s[2]) {
		s += 2;
		base = 16;
	}
	for (p = s; *p; p++)
		if (base == 16 ? !isxdigit(*p) : !isdigit(*p))
			return -EINVAL;
	return kstrtou64(s, base, v);
}

/* mypoll_write_cmd - run one text command: @argv[0..argc-1] */
static int mypoll_write_cmd(struct mypoll_dev *dev, char **argv, int argc,
			    const struct file *file)
{
	u64 a[3] = { 0, 0, 0 };
	u64 seq;
	int i, ret;

	for (i = 1; i < argc; i++) {
		ret = mypoll_parse_u64(argv[i], &a[i - 1]);
		if (ret)
			return -EINVAL;
	}
	if (!strcmp(argv[0], "trigger") && argc <= 2)
		return mypoll_trigger(dev, a[0], 1, &seq);
	if (!strcmp(argv[0], "start") && (argc == 3 || argc == 4)) {
		struct mypoll_timer req = { .count = a[2] };

		if (a[0] >= MYPOLL_MAX_TIMERS ||
		    a[1] > MYPOLL_MAX_PERIOD_NS / NSEC_PER_MSEC)
			return -EINVAL;
		req.id = a[0];
		req.period_ns = a[1] * NSEC_PER_MSEC;
		return mypoll_timer_start(dev, &req, file);
	}
	if (!strcmp(argv[0], "stop") && argc == 2) {
		if (a[0] >= MYPOLL_MAX_TIMERS)
			return -EINVAL;
		return mypoll_timer_stop_id(dev, a[0]);
	}
	return -EINVAL;
}

static ssize_t mypoll_write(struct file *file, const char __user *ubuf,
			    size_t count, loff_t *ppos)
{
	struct mypoll_reader *r = file->private_data;
	char buf[MYPOLL_MAX_WRITE + 1];
	char *argv[4], *p = buf, *tok;
	int argc = 0, ret;
	size_t i, len = count;

	if (count == 0)
		return 0;
	if (!text_ctl || count > MYPOLL_MAX_WRITE)
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	if (buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	for (i = 0; i < len; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && (buf[i] < 0x21 || buf[i] > 0x7e))
			return -EINVAL;
	while ((tok = strsep(&p, " \t"))) {
		if (!*tok)
			continue;
		if (argc == ARRAY_SIZE(argv))
			return -EINVAL;
		argv[argc++] = tok;
	}
	if (argc == 0)
		return -EINVAL;
	ret = mypoll_write_cmd(r->dev, argv, argc, file);
	return ret ? ret : count;
}

static long mypoll_ioc_seek(struct mypoll_reader *r, void __user *uarg)
{
	struct mypoll_dev *dev = r->dev;
	struct mypoll_seek s;
	__poll_t key = EPOLLIN | EPOLLRDNORM;
	long ret = 0;

	if (copy_from_user(&s, uarg, sizeof(s)))
		return -EFAULT;
	if (s.reserved || s.whence > MYPOLL_SEEK_SEQ)
		return -EINVAL;
	/* seq 0 was never generated: reporting it lost would be a lie */
	if (s.whence == MYPOLL_SEEK_SEQ && s.seq == 0)
		return -EINVAL;
	if (mutex_lock_interruptible(&r->rlock))
		return -ERESTARTSYS;
	spin_lock_bh(&dev->lock);
	switch (s.whence) {
	case MYPOLL_SEEK_LIVE:
		atomic64_set(&r->cursor, dev->next_seq);
		break;
	case MYPOLL_SEEK_OLDEST:
		atomic64_set(&r->cursor, __mypoll_oldest(dev));
		break;
	default:
		if (s.seq > dev->next_seq)
			ret = -EINVAL;
		else
			atomic64_set(&r->cursor, s.seq);
		break;
	}
	/* to an overwritten position: an OVERFLOW is pending now */
	if (atomic64_read(&r->cursor) < __mypoll_oldest(dev))
		key |= EPOLLPRI;
	spin_unlock_bh(&dev->lock);
	mutex_unlock(&r->rlock);
	/* the cursor moved: a poller or reader of this file may now proceed */
	if (!ret)
		wake_up_interruptible_poll(&r->wq, key);
	return ret;
}

static long mypoll_ioc_timer_get(struct mypoll_dev *dev, void __user *uarg)
{
	struct mypoll_timer req, out;
	struct mypoll_tmr *t;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.id >= MYPOLL_MAX_TIMERS || req.reserved)
		return -EINVAL;
	t = &dev->timers[array_index_nospec(req.id, MYPOLL_MAX_TIMERS)];
	memset(&out, 0, sizeof(out));
	out.id = req.id;
	spin_lock_bh(&dev->lock);
	/* an idle timer reports its last settings and ticks */
	out.flags = t->flags;
	out.period_ns = t->period_ns;
	out.count = t->count;
	out.cookie = t->cookie;
	out.ticks = t->ticks;
	out.active = t->active;
	spin_unlock_bh(&dev->lock);
	return copy_to_user(uarg, &out, sizeof(out)) ? -EFAULT : 0;
}

static long mypoll_ioc_trigger(struct mypoll_dev *dev, void __user *uarg)
{
	struct mypoll_trigger req;
	int ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.flags || req.first_seq)
		return -EINVAL;
	/* probe the write-back first: a fault must not leave records behind */
	if (copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	ret = mypoll_trigger(dev, req.payload, req.count, &req.first_seq);
	if (ret)
		return ret;
	return copy_to_user(uarg, &req, sizeof(req)) ? -EFAULT : 0;
}

static void mypoll_fill_stats(struct mypoll_dev *dev, struct mypoll_stats *s)
{
	memset(s, 0, sizeof(*s));
	spin_lock_bh(&dev->lock);
	s->next_seq = dev->next_seq;
	s->oldest_seq = __mypoll_oldest(dev);
	s->generated = dev->next_seq - 1;
	s->timer_events = dev->timer_events;
	s->trigger_events = dev->trigger_events;
	s->overwritten = s->oldest_seq - 1;
	s->timer_overruns = dev->timer_overruns;
	s->readers = dev->readers;
	s->active_timers = __mypoll_active_mask(dev);
	spin_unlock_bh(&dev->lock);
}

static long mypoll_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct mypoll_reader *r = file->private_data;
	struct mypoll_dev *dev = r->dev;
	void __user *uarg = (void __user *)arg;
	bool writable = !!(file->f_mode & FMODE_WRITE);

	switch (cmd) {
	case MYPOLL_IOC_GET_INFO: {
		struct mypoll_info info;

		memset(&info, 0, sizeof(info));
		info.abi_version = MYPOLL_ABI_VERSION;
		info.event_size = sizeof(struct mypoll_event);
		info.ring_size = dev->ring_size;
		info.max_timers = MYPOLL_MAX_TIMERS;
		info.min_period_ns = dev->min_period_ns;
		info.max_period_ns = MYPOLL_MAX_PERIOD_NS;
		info.max_burst = max_burst;
		info.max_write = MYPOLL_MAX_WRITE;
		info.instance_id = dev->instance_id;
		return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
	}
	case MYPOLL_IOC_GET_STATS: {
		struct mypoll_stats s;

		mypoll_fill_stats(dev, &s);
		return copy_to_user(uarg, &s, sizeof(s)) ? -EFAULT : 0;
	}
	case MYPOLL_IOC_GET_READER: {
		struct mypoll_reader_info ri;

		memset(&ri, 0, sizeof(ri));
		spin_lock_bh(&dev->lock);
		ri.cursor = atomic64_read(&r->cursor);
		ri.pending = dev->next_seq - ri.cursor;
		ri.lost_total = r->lost_total;
		ri.overflows = r->overflows;
		spin_unlock_bh(&dev->lock);
		return copy_to_user(uarg, &ri, sizeof(ri)) ? -EFAULT : 0;
	}
	case MYPOLL_IOC_SEEK:
		return mypoll_ioc_seek(r, uarg);
	case MYPOLL_IOC_TIMER_GET:
		return mypoll_ioc_timer_get(dev, uarg);
	case MYPOLL_IOC_TIMER_START: {
		struct mypoll_timer req;

		if (!writable)
			return -EBADF;
		if (copy_from_user(&req, uarg, sizeof(req)))
			return -EFAULT;
		return mypoll_timer_start(dev, &req, file);
	}
	case MYPOLL_IOC_TIMER_STOP: {
		u32 id;

		if (!writable)
			return -EBADF;
		if (get_user(id, (u32 __user *)uarg))
			return -EFAULT;
		return mypoll_timer_stop_id(dev, id);
	}
	case MYPOLL_IOC_TRIGGER:
		if (!writable)
			return -EBADF;
		return mypoll_ioc_trigger(dev, uarg);
	case MYPOLL_IOC_RESET_STATS:
		if (!writable)
			return -EBADF;
		spin_lock_bh(&dev->lock);
		dev->timer_events = 0;
		dev->trigger_events = 0;
		dev->timer_overruns = 0;
		spin_unlock_bh(&dev->lock);
		return 0;
	}
	return -ENOTTY;
}

static const struct file_operations mypoll_fops = {
	.owner		= THIS_MODULE,
	.open		= mypoll_open,
	.release	= mypoll_release,
	.read_iter	= mypoll_read_iter,
	.write		= mypoll_write,
	.poll		= mypoll_poll,
	.fasync		= mypoll_fasync,
	.unlocked_ioctl	= mypoll_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

/* sysfs: one value per file on the misc device */
static struct mypoll_dev *mypoll_from_device(struct device *d)
{
	struct miscdevice *misc = dev_get_drvdata(d);

	return container_of(misc, struct mypoll_dev, misc);
}

#define MYPOLL_STAT_ATTR(name, expr)					\
static ssize_t name##_show(struct device *d, struct device_attribute *a,	\
			   char *buf)						\
{										\
	struct mypoll_stats s;							\
										\
	mypoll_fill_stats(mypoll_from_device(d), &s);				\
	return sysfs_emit(buf, "%llu\n", (unsigned long long)(expr));		\
}										\
static DEVICE_ATTR_RO(name)

MYPOLL_STAT_ATTR(next_seq, s.next_seq);
MYPOLL_STAT_ATTR(oldest_seq, s.oldest_seq);
MYPOLL_STAT_ATTR(generated, s.generated);
MYPOLL_STAT_ATTR(overwritten, s.overwritten);
MYPOLL_STAT_ATTR(readers, s.readers);
MYPOLL_STAT_ATTR(active_timers, s.active_timers);

static struct attribute *mypoll_attrs[] = {
	&dev_attr_next_seq.attr,
	&dev_attr_oldest_seq.attr,
	&dev_attr_generated.attr,
	&dev_attr_overwritten.attr,
	&dev_attr_readers.attr,
	&dev_attr_active_timers.attr,
	NULL,
};
ATTRIBUTE_GROUPS(mypoll);

/* debugfs test hooks (test_hooks=1 only) */
static ssize_t mypoll_unplug_write(struct file *file, const char __user *ubuf,
				   size_t count, loff_t *ppos)
{
	struct mypoll_dev *dev = file->private_data;
	struct mypoll_reader *r;

	mutex_lock(&dev->ctl);
	mypoll_kill(dev);
	mutex_unlock(&dev->ctl);
	spin_lock_bh(&dev->lock);
	list_for_each_entry(r, &dev->reader_list, node) {
		wake_up_interruptible_poll(&r->wq, EPOLLIN | EPOLLHUP | EPOLLERR);
		kill_fasync(&r->fasync, SIGIO, POLL_HUP);
	}
	spin_unlock_bh(&dev->lock);
	dev_info(dev->misc.this_device, "unplugged by the test hook\n");
	return count;
}

/* mypoll_check - the invariants of the ring, counters and readers */
static int mypoll_check(struct mypoll_dev *dev, char *msg, size_t len)
{
	struct mypoll_reader *r;
	u64 seq, oldest, prev_ts = 0;
	u32 n = 0;
	int ret = 0;

	spin_lock_bh(&dev->lock);
	oldest = __mypoll_oldest(dev);
	for (seq = oldest; seq < dev->next_seq && !ret; seq++) {
		const struct mypoll_event *ev = &dev->ring[seq & dev->mask];

		/* a burst not stored yet: readers build its records */
		if (ev->seq != seq && __mypoll_burst_of(dev, seq))
			continue;
		if (ev->seq != seq || ev->reserved || ev->flags ||
		    ev->timestamp_ns < prev_ts) {
			snprintf(msg, len, "bad record at seq %llu\n", seq);
			ret = -EIO;
		}
		prev_ts = ev->timestamp_ns;
	}
	list_for_each_entry(r, &dev->reader_list, node) {
		n++;
		if (!ret && atomic64_read(&r->cursor) > dev->next_seq) {
			snprintf(msg, len, "cursor %llu beyond next_seq\n",
				 (u64)atomic64_read(&r->cursor));
			ret = -EIO;
		}
	}
	if (!ret && n != dev->readers) {
		snprintf(msg, len, "readers %u, list has %u\n", dev->readers, n);
		ret = -EIO;
	}
	if (!ret && atomic64_read(&dev->avail) != dev->next_seq) {
		snprintf(msg, len, "avail %llu, next_seq %llu\n",
			 (u64)atomic64_read(&dev->avail), dev->next_seq);
		ret = -EIO;
	}
	spin_unlock_bh(&dev->lock);
	if (!ret)
		snprintf(msg, len, "ok\n");
	return ret;
}

static ssize_t mypoll_check_read(struct file *file, char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	char msg[80];

	mypoll_check(file->private_data, msg, sizeof(msg));
	return simple_read_from_buffer(ubuf, count, ppos, msg, strlen(msg));
}

/*
 * park: write 1 to park the next TRIGGER with count > 1 right after the hold
 * that reserved its seqs, 0 to let it (or an armed park) go; reads 1 while a
 * burst is parked there.
 */
static ssize_t mypoll_park_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct mypoll_dev *dev = file->private_data;
	bool on;
	int ret;

	ret = kstrtobool_from_user(ubuf, count, &on);
	if (ret)
		return ret;
	spin_lock_bh(&dev->lock);
	if (!on)
		dev->park = MYPOLL_PARK_OFF;
	else if (dev->park == MYPOLL_PARK_OFF)
		dev->park = MYPOLL_PARK_ARMED;
	spin_unlock_bh(&dev->lock);
	if (!on)
		wake_up(&dev->park_wq);
	return count;
}

static ssize_t mypoll_park_read(struct file *file, char __user *ubuf,
				size_t count, loff_t *ppos)
{
	struct mypoll_dev *dev = file->private_data;
	char msg[3] = "0\n";

	if (READ_ONCE(dev->park) == MYPOLL_PARK_PARKED)
		msg[0] = '1';
	return simple_read_from_buffer(ubuf, count, ppos, msg, 2);
}

static const struct file_operations mypoll_park_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= mypoll_park_read,
	.write	= mypoll_park_write,
	.llseek	= default_llseek,
};

static const struct file_operations mypoll_unplug_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= mypoll_unplug_write,
};

static const struct file_operations mypoll_check_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= mypoll_check_read,
	.llseek	= default_llseek,
};

static int mypoll_check_params(void)
{
	if (ring_order < MYPOLL_RING_ORDER_MIN || ring_order > MYPOLL_RING_ORDER_MAX) {
		pr_err("ring_order %u out of range %d..%d\n", ring_order,
		       MYPOLL_RING_ORDER_MIN, MYPOLL_RING_ORDER_MAX);
		return -EINVAL;
	}
	if (min_period_us < MYPOLL_MIN_PERIOD_US ||
	    (u64)min_period_us * NSEC_PER_USEC > MYPOLL_MAX_PERIOD_NS) {
		pr_err("min_period_us %u out of range\n", min_period_us);
		return -EINVAL;
	}
	if (max_burst < 1 || max_burst > MYPOLL_MAX_BURST) {
		pr_err("max_burst %u out of range 1..%d\n", max_burst, MYPOLL_MAX_BURST);
		return -EINVAL;
	}
	return 0;
}

static int __init mypoll_init(void)
{
	struct mypoll_dev *dev = &mypoll;
	int i, ret;

	BUILD_BUG_ON(sizeof(struct mypoll_event) != 48);
	BUILD_BUG_ON(sizeof(struct mypoll_info) != 72);
	BUILD_BUG_ON(sizeof(struct mypoll_stats) != 96);
	BUILD_BUG_ON(sizeof(struct mypoll_reader_info) != 64);
	BUILD_BUG_ON(sizeof(struct mypoll_seek) != 16);
	BUILD_BUG_ON(sizeof(struct mypoll_timer) != 48);
	BUILD_BUG_ON(sizeof(struct mypoll_trigger) != 24);

	ret = mypoll_check_params();
	if (ret)
		return ret;

	spin_lock_init(&dev->lock);
	mutex_init(&dev->ctl);
	init_waitqueue_head(&dev->park_wq);
	INIT_LIST_HEAD(&dev->reader_list);
	INIT_LIST_HEAD(&dev->bursts);
	dev->ring_size = 1ULL << ring_order;
	dev->mask = dev->ring_size - 1;
	dev->next_seq = 1;
	atomic64_set(&dev->avail, 1);
	dev->min_period_ns = (u64)min_period_us * NSEC_PER_USEC;
	do {
		dev->instance_id = get_random_u64();
	} while (!dev->instance_id);
	for (i = 0; i < MYPOLL_MAX_TIMERS; i++) {
		struct mypoll_tmr *t = &dev->timers[i];

		mypoll_hrtimer_setup(&t->hrt, mypoll_timer_fn, CLOCK_MONOTONIC,
				     HRTIMER_MODE_REL_SOFT);
		t->dev = dev;
		t->id = i;
	}

	dev->ring = kvcalloc(dev->ring_size, sizeof(*dev->ring), GFP_KERNEL);
	if (!dev->ring)
		return -ENOMEM;
	dev->reader_cache = KMEM_CACHE_USERCOPY(mypoll_reader, SLAB_ACCOUNT, bounce);
	if (!dev->reader_cache) {
		ret = -ENOMEM;
		goto err_free_ring;
	}

	dev->misc.minor = MISC_DYNAMIC_MINOR;
	dev->misc.name = "mypoll";
	dev->misc.fops = &mypoll_fops;
	dev->misc.groups = mypoll_groups;
	dev->misc.mode = 0660;
	ret = misc_register(&dev->misc);
	if (ret)
		goto err_destroy_cache;

	if (test_hooks) {
		dev->debugfs = debugfs_create_dir("mypoll", NULL);
		debugfs_create_file("unplug", 0200, dev->debugfs, dev, &mypoll_unplug_fops);
		debugfs_create_file("check", 0400, dev->debugfs, dev, &mypoll_check_fops);
		debugfs_create_file("park", 0600, dev->debugfs, dev, &mypoll_park_fops);
	}
	pr_info("ABI version %d, ring %llu records, instance %016llx%s\n",
		MYPOLL_ABI_VERSION, dev->ring_size, dev->instance_id,
		test_hooks ? ", test hooks on" : "");
	return 0;

err_destroy_cache:
	kmem_cache_destroy(dev->reader_cache);
err_free_ring:
	kvfree(dev->ring);
	return ret;
}

static void __exit mypoll_exit(void)
{
	struct mypoll_dev *dev = &mypoll;

	debugfs_remove_recursive(dev->debugfs);
	misc_deregister(&dev->misc);
	mutex_lock(&dev->ctl);
	mypoll_kill(dev);
	mutex_unlock(&dev->ctl);
	kmem_cache_destroy(dev->reader_cache);
	kvfree(dev->ring);
}

module_init(mypoll_init);
module_exit(mypoll_exit);

MODULE_DESCRIPTION("Sequenced timer and trigger events with per-reader cursors");
MODULE_AUTHOR("mypoll developers");
MODULE_LICENSE("GPL");
