// SPDX-License-Identifier: MIT
/*
 * libmypoll: connection, request queue, reply matching and event dispatch.
 * See include/libmypoll.h for the contract and docs/libmypoll.md for usage.
 */
#define _GNU_SOURCE /* MSG_CMSG_CLOEXEC */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define RBUF_SIZE (4 * MYPOLL_LINE_MAX) /* a full line always fits */
#define WBUF_SIZE (64 * 1024)
#define NPARK MYPOLL_MAX_WAIT_REPLIES /* replies kept for mypoll_wait() */
#define MAX_FDS 4     /* descriptors accepted per message */
#define MAX_BATCHES 4 /* messages with descriptors not yet matched to a line */
#define READS_PER_PROCESS 8

enum state { ST_CLOSED, ST_HELLO, ST_READY };

struct pending {
	uint32_t id;
	int verb;
	mypoll_reply_fn cb;
	void *user;
	int park; /* index in park[] + 1, or 0 */
	int64_t deadline_us; /* request timeout, -1: none */
	int expired;         /* completed with -ETIMEDOUT: its reply is dropped */
	int internal;        /* sent by the library (resume), not the application */
};

struct parked {
	uint32_t id;
	int state; /* 0 free, 1 waiting, 2 done, 3 abandoned (reply dropped) */
	char errname[16]; /* the server's ERRNO name of r, "" if none */
	struct mypoll_reply r;
};

/*
 * The descriptors of one received message, and the span of the byte stream
 * the recvmsg() that returned them read: the message is within it (the kernel
 * ends a read after a message with descriptors, unix(7)), or, when the read
 * filled the buffer (open), starts within it and may go on.
 */
struct fdbatch {
	uint64_t start, end;
	int fd[MAX_FDS];
	unsigned n;
	int trunc; /* MSG_CTRUNC: the kernel discarded some; the others are closed */
	int open;
};

struct mypoll {
	int fd;
	int state;
	int timeout_ms;
	int in_cb;  /* dispatching: blocking calls are refused */
	int werr;   /* a write failed: read what remains, then fail with it */
	int wake_fd;    /* eventfd of mypoll_wakeup(): the only field another
			 * thread touches (read-only after mypoll_new) */
	int tag_server; /* mypoll_set_server_errors() */
	char errname[16]; /* mypoll_server_errname(), "" for NULL */
	char drop_name[16]; /* the server ERR that fails the connection, "" if none */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	uint64_t instance_id, next_seq; /* from HELLO */
	uint64_t last_seq;              /* highest seq in an EVT or LOST */
	uint64_t sub_from;              /* resume point when nothing was received */
	/* The subscription, canonical (A.5), what a resume sends again: the
	 * server's last OK subscribe, or the last subscribe sent while
	 * sub_out are outstanding. "" or "none": none. */
	char sub_set[MYPOLL_SET_MAX];
	char sub_ok[MYPOLL_SET_MAX]; /* this connection's server set, "": none */
	unsigned sub_out;            /* subscribe requests outstanding */

	mypoll_event_fn on_event;
	mypoll_lost_fn on_lost;
	mypoll_event_ex_fn on_event_ex;
	mypoll_lost_ex_fn on_lost_ex;
	void *user;
	mypoll_conn_fn on_conn;
	void *conn_user;

	int req_timeout_ms;      /* mypoll_set_request_timeout(), -1: none */
	unsigned rc_min, rc_max; /* reconnection delays (ms); rc_min 0: off */
	int rc_exp;
	unsigned rc_attempt;     /* attempts since the last READY */
	int64_t rc_at_us;        /* next reconnection attempt, -1: none */
	int64_t hello_at_us;     /* an automatic connection's HELLO deadline, -1: none */
	int resuming;            /* automatic connection: resume, then READY */
	int internal;            /* the library sends a request while resuming */
	int had_hello;           /* a HELLO was read on some connection */
	int conn_err;            /* why the last connection was dropped */
	uint64_t resume_from;    /* from= of the resuming subscribe */

	struct pending *pend; /* ring of outstanding requests, in send order */
	unsigned pend_cap, pend_head, pend_n;
	uint32_t next_id;
	struct parked park[NPARK];

	struct fdbatch fdb[MAX_BATCHES]; /* in stream order */
	unsigned nfdb;
	uint64_t rpos;                 /* stream offset of rbuf[0] */
	uint64_t line_start, line_end; /* stream span of the line dispatched */
	uint64_t conn_seq;             /* last seq of an EVT or LOST on this connection */
	int conn_any;                  /* one was received on this connection */

	size_t rlen;
	size_t wlen, woff;
	struct mypoll_reply scratch;  /* reply handed to callbacks */
	struct mypoll_reply scratch2; /* the same for fail_pending, which a
				       * callback may reach (disconnect) */
	struct mypoll_reply scratch3; /* the same for expire */
	char err[256];
	char rbuf[RBUF_SIZE];
	char wbuf[WBUF_SIZE];
};

static int fail(mypoll *m, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(mypoll *m, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	return err;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* remaining returns the poll timeout left until deadline (-1: none). */
static int remaining(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - now_ms();
	return left < 0 ? 0 : (int)left;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

mypoll *mypoll_new(unsigned max_pending)
{
	mypoll *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->pend_cap = max_pending ? max_pending : 256;
	m->pend = calloc(m->pend_cap, sizeof(*m->pend));
	if (!m->pend) {
		free(m);
		return NULL;
	}
	m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->wake_fd < 0) {
		int e = errno;

		free(m->pend);
		free(m);
		errno = e;
		return NULL;
	}
	m->fd = -1;
	m->timeout_ms = 5000;
	m->req_timeout_ms = -1;
	m->rc_at_us = -1;
	m->hello_at_us = -1;
	m->next_id = 1;
	strcpy(m->err, "no error");
	return m;
}

static void close_batch(struct fdbatch *b)
{
	for (unsigned i = 0; i < b->n; i++)
		close(b->fd[i]);
	b->n = 0;
}

static void remove_batch(mypoll *m, unsigned i)
{
	close_batch(&m->fdb[i]);
	memmove(&m->fdb[i], &m->fdb[i + 1], (m->nfdb - i - 1) * sizeof(m->fdb[0]));
	m->nfdb--;
}

static void close_fds(mypoll *m)
{
	while (m->nfdb)
		remove_batch(m, m->nfdb - 1);
}

/* set_errname records the server's ERRNO name of a reply ("" for none). */
static void set_errname(char dst[16], const char *name)
{
	size_t n = strlen(name);

	if (n > 15)
		n = 15;
	memcpy(dst, name, n);
	dst[n] = '\0';
}

/* server_err returns a server ERR's result: errno e (< 0), tagged if asked. */
static int server_err(const mypoll *m, int e)
{
	return m->tag_server ? -(MYPOLL_ESERVER | -e) : e;
}

/*
 * complete hands a finished reply to its request's callback or parking slot;
 * errname is the server's ERRNO name when the reply is its ERR, else "".
 */
static void complete(mypoll *m, const struct pending *p, struct mypoll_reply *r,
		     const char *errname)
{
	r->id = p->id;
	r->verb = p->verb;
	if (p->park) {
		struct parked *pk = &m->park[p->park - 1];

		if (pk->state == 1) {
			pk->r = *r;
			set_errname(pk->errname, errname);
			pk->state = 2;
		} else {
			if (r->verb == MYPOLL_V_OPEN_DEVICE && r->u.open_device.fd >= 0)
				close(r->u.open_device.fd);
			pk->state = 0; /* abandoned by a timed-out wait */
		}
		return;
	}
	if (p->cb) {
		set_errname(m->errname, errname);
		m->in_cb++;
		p->cb(p->user, r);
		m->in_cb--;
	}
	if (r->verb == MYPOLL_V_OPEN_DEVICE && r->u.open_device.fd >= 0)
		close(r->u.open_device.fd);
}

static void reset_reply(struct mypoll_reply *r, int verb)
{
	/* Only the header and union: text is written before it is read. */
	memset(r, 0, offsetof(struct mypoll_reply, text));
	r->text[0] = '\0';
	r->verb = verb;
	if (verb == MYPOLL_V_OPEN_DEVICE)
		r->u.open_device.fd = -1;
}

/* fail_pending completes every outstanding request with err, a server ERR
 * named errname, or a local failure (""). */
static void fail_pending(mypoll *m, int err, const char *errname)
{
	while (m->pend_n) {
		struct pending p = m->pend[m->pend_head];
		struct mypoll_reply *r = &m->scratch2;

		m->pend_head = (m->pend_head + 1) % m->pend_cap;
		m->pend_n--;
		if (p.verb == MYPOLL_V_SUBSCRIBE)
			m->sub_out--; /* carried out or not: sub_set stays the intent */
		reset_reply(r, p.verb);
		r->error = err;
		snprintf(r->text, sizeof(r->text), "%s", m->err);
		r->text_len = strlen(r->text);
		complete(m, &p, r, errname);
	}
}

static void conn_event(mypoll *m, int event, int fd, int err)
{
	if (m->on_conn) {
		m->in_cb++;
		m->on_conn(m->conn_user, event, fd, err);
		m->in_cb--;
	}
}

static void drop_connection(mypoll *m, int err)
{
	if (m->fd >= 0) {
		int fd = m->fd;

		m->fd = -1; /* a callback sees the handle closed */
		m->state = ST_CLOSED;
		conn_event(m, MYPOLL_CONN_CLOSED, fd, err);
		close(fd);
	}
	m->fd = -1;
	m->conn_err = err;
	m->resuming = 0;
	m->hello_at_us = -1;
	m->state = ST_CLOSED;
	m->rlen = m->wlen = m->woff = 0;
	m->rpos = 0;
	m->conn_seq = 0;
	m->conn_any = 0;
	m->werr = 0;
	m->sub_ok[0] = '\0'; /* a new connection starts with none (A.5) */
	close_fds(m);
	char name[sizeof(m->drop_name)];
	memcpy(name, m->drop_name, sizeof(name));
	m->drop_name[0] = '\0';
	fail_pending(m, err, name);
	if (name[0]) /* the server's ERR is the last word */
		memcpy(m->errname, name, sizeof(m->errname));
}

/* schedule_reconnect plans the next automatic attempt, if they are on. */
static void schedule_reconnect(mypoll *m)
{
	if (!m->rc_min)
		return;
	uint64_t d = m->rc_min;
	if (m->rc_exp)
		d = m->rc_attempt < 32 ? d << m->rc_attempt : m->rc_max;
	else
		d *= (uint64_t)m->rc_attempt + 1;
	if (d > m->rc_max)
		d = m->rc_max;
	m->rc_attempt++;
	m->rc_at_us = now_us() + (int64_t)d * 1000;
}

void mypoll_disconnect(mypoll *m)
{
	m->rc_at_us = -1; /* the application's choice: no reconnection */
	if (m->state == ST_CLOSED)
		return;
	fail(m, -ECONNRESET, "disconnected by the application");
	drop_connection(m, -ECONNRESET);
}

void mypoll_free(mypoll *m)
{
	if (!m)
		return;
	m->rc_at_us = -1;
	if (m->state != ST_CLOSED) {
		fail(m, -ECANCELED, "handle freed");
		drop_connection(m, -ECANCELED);
	}
	for (int i = 0; i < NPARK; i++)
		if (m->park[i].state == 2 && m->park[i].r.verb == MYPOLL_V_OPEN_DEVICE &&
		    m->park[i].r.u.open_device.fd >= 0)
			close(m->park[i].r.u.open_device.fd);
	close(m->wake_fd);
	free(m->pend);
	free(m);
}

void mypoll_set_timeout(mypoll *m, int timeout_ms)
{
	m->timeout_ms = timeout_ms;
}

void mypoll_set_callbacks(mypoll *m, mypoll_event_fn on_event, mypoll_lost_fn on_lost,
			  void *user)
{
	m->on_event = on_event;
	m->on_lost = on_lost;
	m->on_event_ex = NULL;
	m->on_lost_ex = NULL;
	m->user = user;
}

void mypoll_set_callbacks_ex(mypoll *m, mypoll_event_ex_fn on_event, mypoll_lost_ex_fn on_lost,
			     void *user)
{
	m->on_event = NULL;
	m->on_lost = NULL;
	m->on_event_ex = on_event;
	m->on_lost_ex = on_lost;
	m->user = user;
}

void mypoll_set_conn_callback(mypoll *m, mypoll_conn_fn fn, void *user)
{
	m->on_conn = fn;
	m->conn_user = user;
}

void mypoll_reconnect_delay_set(mypoll *m, unsigned min_ms, unsigned max_ms, int exponential)
{
	m->rc_min = min_ms;
	m->rc_max = max_ms < min_ms ? min_ms : max_ms;
	m->rc_exp = exponential != 0;
	if (!min_ms)
		m->rc_at_us = -1;
}

void mypoll_set_server_errors(mypoll *m, int tagged)
{
	m->tag_server = tagged != 0;
}

const char *mypoll_server_errname(const mypoll *m)
{
	return m->errname[0] ? m->errname : NULL;
}

int mypoll_wakeup(mypoll *m)
{
	int saved = errno, rc = 0;
	uint64_t one = 1;
	ssize_t n;

	do
		n = write(m->wake_fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	/* EAGAIN: the counter is at its maximum, so it is already set. */
	if (n < 0 && errno != EAGAIN)
		rc = -errno;
	errno = saved;
	return rc;
}

/* take_wakeup consumes a pending mypoll_wakeup(). */
static void take_wakeup(mypoll *m)
{
	uint64_t v;
	ssize_t n;

	do
		n = read(m->wake_fd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
}

void mypoll_set_request_timeout(mypoll *m, int timeout_ms)
{
	m->req_timeout_ms = timeout_ms;
}

/* next_deadline returns the earliest time mypoll_process() must run, or -1. */
static int64_t next_deadline(const mypoll *m)
{
	int64_t d = m->rc_at_us;

	if (m->hello_at_us >= 0 && (d < 0 || m->hello_at_us < d))
		d = m->hello_at_us;
	for (unsigned i = 0; i < m->pend_n; i++) {
		const struct pending *p = &m->pend[(m->pend_head + i) % m->pend_cap];

		if (!p->expired && p->deadline_us >= 0 && (d < 0 || p->deadline_us < d))
			d = p->deadline_us;
	}
	return d;
}

int mypoll_get_timeout(const mypoll *m, uint64_t *usec)
{
	int64_t d = next_deadline(m);

	*usec = d < 0 ? UINT64_MAX : (uint64_t)d;
	return d >= 0;
}

int mypoll_get_timeout_ms(const mypoll *m)
{
	int64_t d = next_deadline(m);

	if (d < 0)
		return -1;
	int64_t left = d - now_us();
	if (left <= 0)
		return 0;
	left = (left + 999) / 1000;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

static void emit_lost(mypoll *m, const struct mypoll_lost *l)
{
	m->in_cb++;
	if (m->on_lost_ex)
		m->on_lost_ex(m->user, l, m->instance_id);
	else if (m->on_lost)
		m->on_lost(m->user, l);
	m->in_cb--;
}

/*
 * range_loss handles ERR subscribe ERANGE to a resume from= beyond the
 * daemon's next_seq N for this instance (PROTOCOL A.8): the position is
 * damaged, and the subscription is still none. Every seq below N is one the
 * position can no longer vouch for: one loss 1..N-1 (count N-1, an upper bound
 * as for "restart"), reported before the events of the subscription from N,
 * which it returns.
 */
static uint64_t range_loss(mypoll *m)
{
	uint64_t next = m->next_seq ? m->next_seq : 1;

	m->last_seq = next - 1;
	m->sub_from = next;
	if (next > 1) {
		struct mypoll_lost l = {1, next - 1, next - 1, MYPOLL_LOST_RANGE};

		emit_lost(m, &l);
	}
	return next;
}

/* resume_point returns the from= to resume at on a connection whose HELLO was
 * just read, old_instance being the instance the position belongs to. */
static uint64_t resume_point(mypoll *m, int had_hello, uint64_t old_instance)
{
	uint64_t from = m->last_seq ? m->last_seq + 1 : m->sub_from;

	if (had_hello && old_instance != m->instance_id) {
		/* A new device instance (module reload): its seqs start over. */
		from = 1;
		m->last_seq = 0;
	}
	return from ? from : m->next_seq;
}

static int resume_subscribe(mypoll *m, uint64_t from);

static void resume_ready(mypoll *m)
{
	m->resuming = 0;
	m->rc_attempt = 0;
	conn_event(m, MYPOLL_CONN_READY, m->fd, 0);
}

/* resume_reply is the reply callback of an automatic resume's subscribe. */
static void resume_reply(void *user, struct mypoll_reply *r)
{
	mypoll *m = user;

	if (m->state == ST_CLOSED)
		return; /* the connection failed: it is being dropped */
	if (r->error == 0) {
		resume_ready(m);
		return;
	}
	if (MYPOLL_ERRNO(r->error) == -ERANGE && m->resume_from > m->next_seq) {
		uint64_t next = range_loss(m);

		if (m->state != ST_CLOSED && resume_subscribe(m, next) > 0)
			return;
	}
	if (m->state != ST_CLOSED) {
		fail(m, r->error, "resume: subscribe %s from=%" PRIu64 ": %s", m->sub_set,
		     m->resume_from, r->text);
		memcpy(m->drop_name, m->errname, sizeof(m->drop_name)); /* this reply's */
		drop_connection(m, r->error);
		schedule_reconnect(m);
	}
}

int mypoll_fd(const mypoll *m)
{
	return m->fd;
}

short mypoll_poll_events(const mypoll *m)
{
	if (m->fd < 0)
		return 0;
	return (short)(POLLIN | (m->wlen > m->woff && !m->werr ? POLLOUT : 0));
}

int mypoll_hello(const mypoll *m, uint64_t *instance_id, uint64_t *next_seq)
{
	if (m->state == ST_CLOSED)
		return -ENOTCONN;
	if (m->state == ST_HELLO)
		return -EAGAIN;
	if (instance_id)
		*instance_id = m->instance_id;
	if (next_seq)
		*next_seq = m->next_seq;
	return 0;
}

uint64_t mypoll_last_seq(const mypoll *m)
{
	return m->last_seq;
}

const char *mypoll_errmsg(const mypoll *m)
{
	return m->err;
}

/* flush writes queued request bytes without blocking. */
static int flush(mypoll *m)
{
	while (m->woff < m->wlen) {
		ssize_t n = send(m->fd, m->wbuf + m->woff, m->wlen - m->woff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return fail(m, -errno, "write to mypolld: %s", strerror(errno));
		}
		m->woff += (size_t)n;
	}
	m->woff = m->wlen = 0;
	return 0;
}

/*
 * take_fd gives the OK open_device line being dispatched the descriptor that
 * came with it (A.9): the one of a message whose bytes include the line.
 * Returns the descriptor, or a negative errno (with m->err set).
 */
static int take_fd(mypoll *m)
{
	for (unsigned i = 0; i < m->nfdb; i++) {
		struct fdbatch *b = &m->fdb[i];

		if (!(b->start < m->line_end && (b->open || b->end > m->line_start)))
			continue;
		int rc;
		if (b->trunc) {
			rc = fail(m, -EMSGSIZE, "open_device: descriptor truncated (MSG_CTRUNC)");
		} else if (b->n != 1) {
			rc = fail(m, -EBADMSG, "open_device: %u descriptors with the OK line", b->n);
		} else {
			rc = b->fd[0];
			b->n = 0;
		}
		remove_batch(m, i);
		return rc;
	}
	return fail(m, -EBADMSG, "open_device: OK without a descriptor");
}

static int on_reply(mypoll *m, const struct line *l)
{
	struct mypoll_reply *r = &m->scratch;
	const char *why = NULL;

	if (m->pend_n == 0)
		return fail(m, -EPROTO, "reply %.*s with no request outstanding",
			    (int)l->verb_len, l->verb);
	struct pending p = m->pend[m->pend_head];
	const char *name = mypoll_verb_name(p.verb);

	/* ERR - ... answers a request the server could not read a verb of. */
	if (!(l->kind == LINE_ERR && l->verb_len == 1 && l->verb[0] == '-') &&
	    (strlen(name) != l->verb_len || memcmp(name, l->verb, l->verb_len) != 0))
		return fail(m, -EPROTO, "reply for %.*s while %s was expected",
			    (int)l->verb_len, l->verb, name);
	m->pend_head = (m->pend_head + 1) % m->pend_cap;
	m->pend_n--;
	if (p.verb == MYPOLL_V_SUBSCRIBE)
		m->sub_out--;
	reset_reply(r, p.verb);
	if (l->kind == LINE_ERR) {
		/* A.5: the subscription stays as it was. A resume's own
		 * subscribe keeps the set it resumes (ERANGE retries it). */
		if (p.verb == MYPOLL_V_SUBSCRIBE && !p.internal && m->sub_out == 0)
			strcpy(m->sub_set, m->sub_ok);
		r->error = server_err(m, l->err);
		snprintf(r->text, sizeof(r->text), "%.*s", (int)l->rest_len, l->rest);
		r->text_len = strlen(r->text);
		fail(m, r->error, "%s: %s %.*s", name, l->errname, (int)l->rest_len, l->rest);
	} else if (mypoll__parse_reply(p.verb, l->rest, l->rest_len, r, &why)) {
		/* The request is answered, but the answer is garbage: fatal. */
		complete(m, &p, (r->error = -EPROTO, r), "");
		return fail(m, -EPROTO, "malformed reply: %s", why);
	} else if (p.verb == MYPOLL_V_SUBSCRIBE) {
		/* parse_reply checked the set is canonical, so it fits. */
		memcpy(m->sub_ok, r->text, r->text_len + 1);
		if (m->sub_out == 0)
			memcpy(m->sub_set, r->text, r->text_len + 1);
	} else if (p.verb == MYPOLL_V_OPEN_DEVICE) {
		int fd = take_fd(m);

		if (fd < 0)
			r->error = fd;
		else
			r->u.open_device.fd = fd;
	}
	if (r->error && l->kind != LINE_ERR) { /* a local failure: say which */
		snprintf(r->text, sizeof(r->text), "%s", m->err);
		r->text_len = strlen(r->text);
	}
	complete(m, &p, r, l->kind == LINE_ERR ? l->errname : "");
	return 0;
}

/* dispatch handles one complete line. Returns 0 or a fatal negative errno. */
static int dispatch(mypoll *m, const char *p, size_t n)
{
	struct line l;
	const char *why = NULL;

	if (n == 0)
		return fail(m, -EPROTO, "malformed line: empty");
	if (mypoll__parse_line(p, n, &l, &why))
		return fail(m, -EPROTO, "malformed line: %s", why);
	if (m->state == ST_HELLO) {
		if (l.kind == LINE_ERR && l.verb_len == 1 && l.verb[0] == '-') {
			set_errname(m->drop_name, l.errname);
			return fail(m, server_err(m, l.err), "server refused the connection: %s %.*s",
				    l.errname, (int)l.rest_len, l.rest);
		}
		if (l.kind != LINE_HELLO)
			return fail(m, -EPROTO, "first line is not HELLO");
		uint64_t old_instance = m->instance_id;
		int had_hello = m->had_hello;
		m->instance_id = l.instance_id;
		m->next_seq = l.next_seq;
		m->had_hello = 1;
		m->state = ST_READY;
		m->hello_at_us = -1;
		if (!m->resuming) {
			conn_event(m, MYPOLL_CONN_READY, m->fd, 0);
			return 0;
		}
		if (m->sub_set[0] == '\0' || !strcmp(m->sub_set, "none")) {
			resume_ready(m);
			return 0;
		}
		int rc = resume_subscribe(m, resume_point(m, had_hello, old_instance));
		return rc < 0 ? rc : 0;
	}
	switch (l.kind) {
	case LINE_EVT:
		/* A.6: strictly increasing over the connection. */
		if (m->conn_any && l.ev.seq <= m->conn_seq)
			return fail(m, -EPROTO, "EVT %" PRIu64 " after seq %" PRIu64 " (A.6 order)",
				    l.ev.seq, m->conn_seq);
		m->conn_seq = l.ev.seq;
		m->conn_any = 1;
		if (l.ev.seq > m->last_seq)
			m->last_seq = l.ev.seq;
		m->in_cb++;
		if (m->on_event_ex)
			m->on_event_ex(m->user, &l.ev, m->instance_id);
		else if (m->on_event)
			m->on_event(m->user, &l.ev);
		m->in_cb--;
		return 0;
	case LINE_LOST:
		if (m->conn_any && l.lost.first <= m->conn_seq)
			return fail(m, -EPROTO, "LOST %" PRIu64 "-%" PRIu64 " after seq %" PRIu64
				    " (A.6 order)", l.lost.first, l.lost.last, m->conn_seq);
		m->conn_seq = l.lost.last;
		m->conn_any = 1;
		if (l.lost.last > m->last_seq)
			m->last_seq = l.lost.last;
		emit_lost(m, &l.lost);
		return 0;
	case LINE_OK:
	case LINE_ERR:
		return on_reply(m, &l);
	default:
		return fail(m, -EPROTO, "second HELLO");
	}
}

/* receive reads once. Returns bytes read, 0 for EAGAIN, or a negative errno. */
static int receive(mypoll *m)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
	} cm;
	size_t space = sizeof(m->rbuf) - m->rlen;
	uint64_t start = m->rpos + m->rlen;
	struct iovec iov = {m->rbuf + m->rlen, space};
	int got[MAX_FDS];
	unsigned ngot = 0;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf)};
	ssize_t n;

	do
		n = recvmsg(m->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return fail(m, -errno, "read from mypolld: %s", strerror(errno));
	}
	int trunc = (msg.msg_flags & MSG_CTRUNC) != 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			/* Some descriptors were discarded by the kernel: the
			 * whole message's are closed and its open_device fails. */
			if (trunc || ngot == MAX_FDS)
				close(fd);
			else
				got[ngot++] = fd;
		}
	}
	if (n > 0 && m->nfdb && m->fdb[m->nfdb - 1].open) {
		/* The last message with descriptors may go on in this read. */
		m->fdb[m->nfdb - 1].end = start + (size_t)n;
		m->fdb[m->nfdb - 1].open = (size_t)n == space;
	}
	if (ngot || trunc) {
		if (m->nfdb == MAX_BATCHES) {
			while (ngot)
				close(got[--ngot]);
			return fail(m, -EPROTO, "descriptors with no OK open_device line");
		}
		struct fdbatch *b = &m->fdb[m->nfdb++];
		b->start = start;
		b->end = start + (size_t)(n > 0 ? n : 0);
		b->open = n > 0 && (size_t)n == space;
		b->trunc = trunc;
		b->n = ngot;
		memcpy(b->fd, got, ngot * sizeof(int));
	}
	if (n == 0)
		return fail(m, -ECONNRESET, "mypolld closed the connection");
	m->rlen += (size_t)n;
	return (int)n;
}

/* drain dispatches every complete line in rbuf. Returns lines or -errno. */
static int drain(mypoll *m)
{
	size_t off = 0;
	int lines = 0;

	while (m->state != ST_CLOSED) {
		char *nl = memchr(m->rbuf + off, '\n', m->rlen - off);

		if (!nl)
			break;
		size_t n = (size_t)(nl - (m->rbuf + off));
		if (n + 1 > MYPOLL_LINE_MAX)
			return fail(m, -EPROTO, "malformed line: longer than %d bytes", MYPOLL_LINE_MAX);
		m->line_start = m->rpos + off;
		m->line_end = m->line_start + n + 1;
		int rc = dispatch(m, m->rbuf + off, n);
		if (rc < 0)
			return rc;
		off += n + 1;
		lines++;
		/* A descriptor whose message is now all dispatched came with no
		 * OK open_device line (A.9): refuse it. */
		for (unsigned i = 0; i < m->nfdb && m->state != ST_CLOSED; i++)
			if (!m->fdb[i].open && m->fdb[i].end <= m->line_end)
				return fail(m, -EPROTO, "descriptor with a line other than "
					    "OK open_device");
	}
	if (m->state == ST_CLOSED) /* a callback disconnected */
		return lines;
	memmove(m->rbuf, m->rbuf + off, m->rlen - off);
	m->rlen -= off;
	m->rpos += off;
	if (m->rlen >= MYPOLL_LINE_MAX)
		return fail(m, -EPROTO, "malformed line: longer than %d bytes", MYPOLL_LINE_MAX);
	return lines;
}

/*
 * read_all reads and dispatches up to READS_PER_PROCESS times. After a write
 * error (m->werr) the server has gone: what it sent before is still in the
 * socket and is dispatched, and the connection fails only at its end (EOF,
 * or nothing more to read). Returns lines dispatched, or the negative errno
 * that failed the connection (not yet dropped).
 */
static int read_all(mypoll *m, int *lines)
{
	for (int i = 0; i < READS_PER_PROCESS && m->state != ST_CLOSED; i++) {
		int rc = receive(m);

		if (rc < 0) {
			/* Lines before the EOF are dispatched first. */
			int d = drain(m);
			if (d < 0)
				return d;
			*lines += d;
			return rc;
		}
		if (rc == 0)
			return m->werr; /* a dead peer has nothing more to send */
		if ((rc = drain(m)) < 0)
			return rc;
		*lines += rc;
	}
	return 0;
}

/*
 * expire completes the requests whose deadline passed with -ETIMEDOUT (their
 * entries stay, in order, to match and drop the late replies), and fails an
 * automatic connection that sent no HELLO in time.
 */
static void expire(mypoll *m)
{
	int64_t now = now_us();

	if (m->hello_at_us >= 0 && now >= m->hello_at_us && m->state == ST_HELLO) {
		fail(m, -ETIMEDOUT, "no HELLO from mypolld within the timeout");
		drop_connection(m, -ETIMEDOUT);
		schedule_reconnect(m);
		return;
	}
	/* A callback may queue requests (appended: the indexes below stay) or
	 * disconnect (pend_n becomes 0). */
	for (unsigned i = 0; i < m->pend_n; i++) {
		struct pending *p = &m->pend[(m->pend_head + i) % m->pend_cap];

		if (p->expired || p->deadline_us < 0 || now < p->deadline_us)
			continue;
		struct pending done = *p;
		struct mypoll_reply *r = &m->scratch3;

		p->expired = 1;
		p->cb = NULL;
		p->park = 0;
		reset_reply(r, done.verb);
		r->error = fail(m, -ETIMEDOUT, "%s: no reply within the request timeout (the server "
				"may have carried it out)", mypoll_verb_name(done.verb));
		snprintf(r->text, sizeof(r->text), "%s", m->err);
		r->text_len = strlen(r->text);
		complete(m, &done, r, "");
	}
}

/* open_socket connects a non-blocking socket to path. Returns it or -errno. */
static int open_socket(mypoll *m, const char *path, int nb, int64_t deadline)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return fail(m, -errno, "socket: %s", strerror(errno));
	strcpy(sa.sun_path, path);
	/* A non-blocking AF_UNIX connect completes at once or fails with
	 * EAGAIN when the listener's backlog is full; it cannot be polled for
	 * (unix(7)), so the blocking form retries until the timeout. */
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		int e = errno;
		if (e == EINTR)
			continue;
		if (e == EAGAIN && !nb && remaining(deadline) != 0) {
			struct timespec ts = {0, 10 * 1000 * 1000};

			nanosleep(&ts, NULL);
			continue;
		}
		close(fd);
		if (e == EAGAIN && !nb)
			return fail(m, -ETIMEDOUT, "connect %s: backlog full until the timeout", path);
		return fail(m, -e, "connect %s: %s", path, strerror(e));
	}
}

static void opened(mypoll *m, int fd)
{
	m->fd = fd;
	m->state = ST_HELLO;
	conn_event(m, MYPOLL_CONN_OPENED, fd, 0);
}

/* reconnect makes an automatic attempt, if one is due. */
static void reconnect(mypoll *m)
{
	if (m->rc_at_us < 0 || now_us() < m->rc_at_us)
		return;
	m->rc_at_us = -1;
	int fd = open_socket(m, m->path, 1, -1);
	if (fd < 0) {
		schedule_reconnect(m);
		return;
	}
	m->resuming = 1;
	m->hello_at_us = m->timeout_ms < 0 ? -1 : now_us() + (int64_t)m->timeout_ms * 1000;
	opened(m, fd);
}

int mypoll_process(mypoll *m)
{
	int lines = 0, rc = 0;

	if (m->in_cb)
		return fail(m, -EDEADLK, "mypoll_process called from a callback");
	if (m->state == ST_CLOSED) {
		if (m->rc_at_us < 0)
			return fail(m, -ENOTCONN, "not connected");
		reconnect(m);
		return 0;
	}
	if (!m->werr && (rc = flush(m)) < 0)
		m->werr = rc;
	if ((rc = read_all(m, &lines)) < 0)
		goto broken;
	if (m->state != ST_CLOSED && !m->werr && (rc = flush(m)) < 0) {
		m->werr = rc;
		if ((rc = read_all(m, &lines)) < 0)
			goto broken;
	}
	if (m->state != ST_CLOSED)
		expire(m);
	return lines;
broken:
	if (m->state == ST_CLOSED) /* a callback disconnected */
		return rc;
	drop_connection(m, rc);
	if (m->rc_min) {
		schedule_reconnect(m);
		return lines; /* reported to the connection callback */
	}
	return rc;
}

static int wait_hello(mypoll *m, int64_t deadline)
{
	while (m->state == ST_HELLO) {
		struct pollfd pfd[2] = {{m->fd, POLLIN, 0}, {m->wake_fd, POLLIN, 0}};
		int rc = poll(pfd, 2, remaining(deadline));

		if (rc < 0 && errno != EINTR)
			return fail(m, -errno, "poll: %s", strerror(errno));
		if (rc == 0) {
			fail(m, -ETIMEDOUT, "no HELLO from mypolld within the timeout");
			drop_connection(m, -ETIMEDOUT);
			return -ETIMEDOUT;
		}
		int woken = rc > 0 && (pfd[1].revents & POLLIN);
		if (rc > 0 && pfd[0].revents && (rc = mypoll_process(m)) < 0)
			return rc;
		if (woken && m->state == ST_HELLO) {
			take_wakeup(m);
			fail(m, -EINTR, "connect: woken by mypoll_wakeup()");
			drop_connection(m, -EINTR);
			return -EINTR;
		}
	}
	if (m->state == ST_CLOSED) { /* failed, and reported to a callback */
		m->rc_at_us = -1;    /* a blocking connect reports it instead */
		return m->conn_err;
	}
	return 0;
}

int mypoll_connect(mypoll *m, const char *path, int flags)
{
	int nb = flags & MYPOLL_NONBLOCK;

	if (m->in_cb)
		return fail(m, -EDEADLK, "mypoll_connect called from a callback");
	if (flags & ~MYPOLL_NONBLOCK)
		return fail(m, -EINVAL, "unknown flags 0x%x", (unsigned)flags);
	if (!path)
		path = MYPOLL_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(m->path))
		return fail(m, -ENAMETOOLONG, "socket path too long");
	mypoll_disconnect(m);
	m->rc_attempt = 0;
	if (path != m->path)
		snprintf(m->path, sizeof(m->path), "%s", path);
	int64_t deadline = deadline_of(m->timeout_ms);
	int fd = open_socket(m, m->path, nb, deadline);
	if (fd < 0)
		return fd;
	opened(m, fd);
	if (nb)
		return 0;
	return wait_hello(m, deadline);
}

/* enqueue appends a request line and its pending entry. */
static int enqueue(mypoll *m, int verb, const char *line, size_t n, mypoll_reply_fn cb,
		   void *user)
{
	int park = 0;

	if (m->state == ST_CLOSED)
		return fail(m, -ENOTCONN, "not connected");
	if (m->resuming && !m->internal)
		return fail(m, -ENOTCONN, "not connected: reconnecting");
	if (n > MYPOLL_REQUEST_MAX)
		return fail(m, -E2BIG, "request longer than %d bytes", MYPOLL_REQUEST_MAX);
	if (m->pend_n == m->pend_cap)
		return fail(m, -ENOBUFS, "%u requests outstanding", m->pend_cap);
	if (m->wlen + n > sizeof(m->wbuf)) {
		if (m->woff) { /* compact what was written */
			memmove(m->wbuf, m->wbuf + m->woff, m->wlen - m->woff);
			m->wlen -= m->woff;
			m->woff = 0;
		}
		if (m->wlen + n > sizeof(m->wbuf))
			return fail(m, -ENOBUFS, "write buffer full");
	}
	if (!cb) {
		for (int i = 0; i < NPARK && !park; i++)
			if (m->park[i].state == 0)
				park = i + 1;
		if (!park)
			return fail(m, -ENOBUFS, "%d replies already kept for mypoll_wait", NPARK);
	}
	uint32_t id = m->next_id++;
	if (m->next_id > INT32_MAX)
		m->next_id = 1;
	if (park) {
		m->park[park - 1].id = id;
		m->park[park - 1].state = 1;
	}
	struct pending *p = &m->pend[(m->pend_head + m->pend_n) % m->pend_cap];
	p->id = id;
	p->verb = verb;
	p->cb = cb;
	p->user = user;
	p->park = park;
	p->expired = 0;
	p->internal = m->internal;
	if (verb == MYPOLL_V_SUBSCRIBE)
		m->sub_out++;
	p->deadline_us = m->req_timeout_ms < 0 ? -1 : now_us() + (int64_t)m->req_timeout_ms * 1000;
	m->pend_n++;
	memcpy(m->wbuf + m->wlen, line, n);
	m->wlen += n;
	if (!m->werr) {
		int rc = flush(m);
		if (rc < 0)
			m->werr = rc; /* the connection fails in mypoll_process() */
	}
	return (int)id;
}

static int request(mypoll *m, int verb, mypoll_reply_fn cb, void *user, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int request(mypoll *m, int verb, mypoll_reply_fn cb, void *user, const char *fmt, ...)
{
	char line[MYPOLL_REQUEST_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return fail(m, -E2BIG, "request longer than %d bytes", MYPOLL_REQUEST_MAX);
	return enqueue(m, verb, line, (size_t)n, cb, user);
}

static int printable(const char *s)
{
	for (; *s; s++)
		if ((*s < 0x20 && *s != '\t') || *s > 0x7e)
			return 0;
	return 1;
}

int mypoll_echo_async(mypoll *m, const char *text, mypoll_reply_fn cb, void *user)
{
	if (!text)
		text = "";
	if (!printable(text))
		return fail(m, -EINVAL, "echo text is not printable ASCII");
	if (*text == '\0')
		return request(m, MYPOLL_V_ECHO, cb, user, "echo\n");
	return request(m, MYPOLL_V_ECHO, cb, user, "echo %s\n", text);
}

int mypoll_trigger_async(mypoll *m, uint64_t payload, uint32_t count, mypoll_reply_fn cb,
			 void *user)
{
	if (count == 0)
		return fail(m, -EINVAL, "trigger count must be at least 1");
	return request(m, MYPOLL_V_TRIGGER, cb, user, "trigger %" PRIu64 " %" PRIu32 "\n",
		       payload, count);
}

int mypoll_start_timer_async(mypoll *m, uint32_t id, uint32_t period_ms, uint64_t count,
			     mypoll_reply_fn cb, void *user)
{
	if (id >= MYPOLL_MAX_TIMERS)
		return fail(m, -EINVAL, "timer id must be 0..%d", MYPOLL_MAX_TIMERS - 1);
	return request(m, MYPOLL_V_START_TIMER, cb, user,
		       "start_timer %" PRIu32 " %" PRIu32 " %" PRIu64 "\n", id, period_ms, count);
}

int mypoll_stop_timer_async(mypoll *m, uint32_t id, mypoll_reply_fn cb, void *user)
{
	if (id >= MYPOLL_MAX_TIMERS)
		return fail(m, -EINVAL, "timer id must be 0..%d", MYPOLL_MAX_TIMERS - 1);
	return request(m, MYPOLL_V_STOP_TIMER, cb, user, "stop_timer %" PRIu32 "\n", id);
}

int mypoll_timers_async(mypoll *m, mypoll_reply_fn cb, void *user)
{
	return request(m, MYPOLL_V_TIMERS, cb, user, "timers\n");
}

int mypoll_subscribe_async(mypoll *m, const char *set, uint64_t from, mypoll_reply_fn cb,
			   void *user)
{
	struct mypoll_filter f;
	char canon[MYPOLL_SET_MAX];
	int id;

	/* Checked here, as the server would (A.5), and sent canonical: the
	 * request always fits, whatever zeros or duplicates set has. */
	if (!set || mypoll__filter_parse(set, strlen(set), &f) ||
	    mypoll_filter_format(&f, canon, sizeof(canon)) < 0)
		return fail(m, -EINVAL, "subscribe set must be all, none or a comma list of at "
			    "most %d items timer, trigger, timer:<0..%d>, trigger:<u64>",
			    MYPOLL_FILTER_MAX_ITEMS, MYPOLL_MAX_TIMERS - 1);
	if (from)
		id = request(m, MYPOLL_V_SUBSCRIBE, cb, user, "subscribe %s from=%" PRIu64 "\n",
			     canon, from);
	else
		id = request(m, MYPOLL_V_SUBSCRIBE, cb, user, "subscribe %s\n", canon);
	if (id < 0)
		return id;
	strcpy(m->sub_set, canon);
	/* Resuming before any event arrives starts where this subscription did. */
	if (from)
		m->sub_from = from;
	else if (m->state == ST_READY && !m->sub_from)
		m->sub_from = m->next_seq;
	return id;
}

int mypoll_subscription(const mypoll *m, char *buf, size_t size)
{
	const char *s = m->sub_set[0] ? m->sub_set : "none";
	size_t n = strlen(s);

	if (n >= size)
		return -ENOSPC;
	memcpy(buf, s, n + 1);
	return (int)n;
}

/* resume_subscribe sends an automatic resume's subscribe. */
static int resume_subscribe(mypoll *m, uint64_t from)
{
	char set[sizeof(m->sub_set)];

	strcpy(set, m->sub_set);
	m->resume_from = from;
	m->internal = 1;
	int rc = mypoll_subscribe_async(m, set, from, resume_reply, m);
	m->internal = 0;
	return rc;
}

int mypoll_stats_async(mypoll *m, mypoll_reply_fn cb, void *user)
{
	return request(m, MYPOLL_V_STATS, cb, user, "stats\n");
}

int mypoll_open_device_async(mypoll *m, mypoll_reply_fn cb, void *user)
{
	return request(m, MYPOLL_V_OPEN_DEVICE, cb, user, "open_device\n");
}

int mypoll_help_async(mypoll *m, mypoll_reply_fn cb, void *user)
{
	return request(m, MYPOLL_V_HELP, cb, user, "help\n");
}

int mypoll_quit_async(mypoll *m, mypoll_reply_fn cb, void *user)
{
	return request(m, MYPOLL_V_QUIT, cb, user, "quit\n");
}

static struct parked *find_park(mypoll *m, int id)
{
	for (int i = 0; i < NPARK; i++)
		if (m->park[i].state && m->park[i].state != 3 && (int)m->park[i].id == id)
			return &m->park[i];
	return NULL;
}

int mypoll_wait(mypoll *m, int id, struct mypoll_reply *out, int timeout_ms)
{
	struct parked *pk = find_park(m, id);
	int64_t deadline = deadline_of(timeout_ms);

	if (m->in_cb)
		return fail(m, -EDEADLK, "mypoll_wait called from a callback");
	if (!pk)
		return fail(m, -ENOENT, "no request %d waits for mypoll_wait", id);
	m->errname[0] = '\0';
	while (pk->state == 1) {
		if (m->state == ST_CLOSED)
			break; /* fail_pending completed it */
		int left = remaining(deadline), lib = mypoll_get_timeout_ms(m);
		struct pollfd pfd[2] = {{m->fd, mypoll_poll_events(m), 0}, {m->wake_fd, POLLIN, 0}};
		int rc = poll(pfd, 2, lib >= 0 && (left < 0 || lib < left) ? lib : left);

		if (rc < 0 && errno != EINTR)
			return fail(m, -errno, "poll: %s", strerror(errno));
		int woken = rc > 0 && (pfd[1].revents & POLLIN);
		if (((rc > 0 && pfd[0].revents) || mypoll_get_timeout_ms(m) == 0) &&
		    (rc = mypoll_process(m)) < 0 && pk->state == 1) {
			m->errname[0] = '\0';
			return rc;
		}
		/* A wakeup is taken only when it ends the wait: if the reply
		 * came with it, the next wait returns -EINTR instead. */
		if (woken && pk->state == 1) {
			take_wakeup(m);
			m->errname[0] = '\0';
			return fail(m, -EINTR, "woken by mypoll_wakeup() before reply %d", id);
		}
		if (pk->state == 1 && remaining(deadline) == 0) {
			m->errname[0] = '\0';
			if (timeout_ms == 0)
				return fail(m, -EAGAIN, "reply %d not yet received", id);
			pk->state = 3; /* the reply will be dropped */
			return fail(m, -ETIMEDOUT, "no reply to %d within %d ms", id, timeout_ms);
		}
	}
	*out = pk->r;
	memcpy(m->errname, pk->errname, sizeof(m->errname));
	pk->state = 0;
	return 0;
}

/* call waits for the reply to a request just sent without a callback. */
static int call(mypoll *m, int id, struct mypoll_reply *r)
{
	if (id < 0) {
		m->errname[0] = '\0';
		return id;
	}
	int rc = mypoll_wait(m, id, r, m->timeout_ms);
	if (rc == -EINTR) { /* woken: give the request up, as on a timeout */
		struct parked *pk = find_park(m, id);

		if (pk)
			pk->state = 3;
	}
	return rc < 0 ? rc : r->error;
}

#define BLOCKING(m) \
	do { \
		if ((m)->in_cb) \
			return fail(m, -EDEADLK, "blocking call from a callback"); \
	} while (0)

int mypoll_echo(mypoll *m, const char *text, char *buf, size_t size)
{
	struct mypoll_reply r;

	BLOCKING(m);
	int rc = call(m, mypoll_echo_async(m, text, NULL, NULL), &r);
	if (rc == 0 && buf && size)
		snprintf(buf, size, "%s", r.text);
	return rc;
}

int mypoll_trigger(mypoll *m, uint64_t payload, uint32_t count, uint64_t *first_seq,
		   uint32_t *n)
{
	struct mypoll_reply r;

	BLOCKING(m);
	int rc = call(m, mypoll_trigger_async(m, payload, count, NULL, NULL), &r);
	if (rc == 0) {
		if (first_seq)
			*first_seq = r.u.trigger.first_seq;
		if (n)
			*n = r.u.trigger.count;
	}
	return rc;
}

int mypoll_start_timer(mypoll *m, uint32_t id, uint32_t period_ms, uint64_t count)
{
	struct mypoll_reply r;

	BLOCKING(m);
	return call(m, mypoll_start_timer_async(m, id, period_ms, count, NULL, NULL), &r);
}

int mypoll_stop_timer(mypoll *m, uint32_t id)
{
	struct mypoll_reply r;

	BLOCKING(m);
	return call(m, mypoll_stop_timer_async(m, id, NULL, NULL), &r);
}

int mypoll_timers(mypoll *m, struct mypoll_timer t[MYPOLL_MAX_TIMERS], size_t *n)
{
	struct mypoll_reply r;

	BLOCKING(m);
	int rc = call(m, mypoll_timers_async(m, NULL, NULL), &r);
	if (rc == 0) {
		memcpy(t, r.u.timers.t, r.u.timers.n * sizeof(*t));
		*n = r.u.timers.n;
	}
	return rc;
}

int mypoll_subscribe(mypoll *m, const char *set, uint64_t from)
{
	struct mypoll_reply r;

	BLOCKING(m);
	return call(m, mypoll_subscribe_async(m, set, from, NULL, NULL), &r);
}

int mypoll_stats(mypoll *m, struct mypoll_stats *st)
{
	struct mypoll_reply r;

	BLOCKING(m);
	int rc = call(m, mypoll_stats_async(m, NULL, NULL), &r);
	if (rc == 0 && st)
		*st = r.u.stats;
	return rc;
}

int mypoll_open_device(mypoll *m)
{
	struct mypoll_reply r;

	BLOCKING(m);
	int rc = call(m, mypoll_open_device_async(m, NULL, NULL), &r);
	return rc < 0 ? rc : r.u.open_device.fd;
}

int mypoll_help(mypoll *m, char *buf, size_t size)
{
	struct mypoll_reply r;

	BLOCKING(m);
	int rc = call(m, mypoll_help_async(m, NULL, NULL), &r);
	if (rc == 0 && buf && size)
		snprintf(buf, size, "%s", r.text);
	return rc;
}

int mypoll_quit(mypoll *m)
{
	struct mypoll_reply r;

	BLOCKING(m);
	return call(m, mypoll_quit_async(m, NULL, NULL), &r);
}

/* resume_call sends a blocking resume's subscribe, as the library's own
 * (an ERR to it keeps the set it resumes), and waits for its reply. */
static int resume_call(mypoll *m, const char *set, uint64_t from)
{
	struct mypoll_reply r;

	m->internal = 1;
	int id = mypoll_subscribe_async(m, set, from, NULL, NULL);
	m->internal = 0;
	return call(m, id, &r);
}

int mypoll_resume(mypoll *m)
{
	uint64_t old_instance = m->instance_id;
	int had_hello = m->had_hello;
	int rc;

	BLOCKING(m);
	if (m->path[0] == '\0')
		return fail(m, -ENOTCONN, "never connected: nothing to resume");
	if ((rc = mypoll_connect(m, m->path, 0)) < 0)
		return rc;
	if (m->sub_set[0] == '\0' || !strcmp(m->sub_set, "none"))
		return 0;
	uint64_t from = resume_point(m, had_hello, old_instance);
	char set[sizeof(m->sub_set)];
	strcpy(set, m->sub_set);
	rc = resume_call(m, set, from);
	if (rc == -EINTR) { /* woken: no half-resumed connection */
		mypoll_disconnect(m);
		return fail(m, -EINTR, "resume: woken by mypoll_wakeup()");
	}
	if (MYPOLL_ERRNO(rc) != -ERANGE || m->state != ST_READY || from <= m->next_seq)
		return rc;
	uint64_t next = range_loss(m);
	return resume_call(m, set, next); /* -ENOTCONN if the callback disconnected */
}
