/* SPDX-License-Identifier: MIT */
/*
 * libmypoll: C client library for the mypolld socket protocol, version 1
 * (docs/PROTOCOL.md, section A).
 *
 * One handle (struct mypoll) is one connection to mypolld. The library has no
 * global state and starts no threads: a handle may be used from any thread, but
 * by one thread at a time (as an sd-bus handle: give each thread its own handle,
 * or serialise every call on one with a lock of your own); callbacks run in the
 * thread that called the library. The only exception is mypoll_wakeup(), which
 * any thread, or a signal handler, may call while another uses the handle. All
 * memory of a handle is allocated by mypoll_new(); connecting, requests, replies
 * and events allocate nothing.
 *
 * Two ways to drive a handle:
 *  - blocking calls (mypoll_trigger(), mypoll_stats(), ...) send one request and
 *    wait for its reply, up to the handle's timeout (mypoll_set_timeout());
 *    events and losses arriving meanwhile go to the callbacks as usual;
 *  - the application's own loop: watch mypoll_fd() for mypoll_poll_events(),
 *    call mypoll_process() when it is ready, and send requests with the
 *    *_async() forms, whose replies come to a callback, or are kept for
 *    mypoll_wait() when no callback is given. Requests may be pipelined; replies
 *    come in request order (PROTOCOL A.2) and are matched in that order.
 *
 * Every function returning int returns 0 (or a non-negative value it documents)
 * on success and a negative errno value on failure; mypoll_errmsg() describes the
 * last failure, mypoll_strerror() any result. A server ERR reply is returned as
 * the errno it names (ERR trigger EINVAL ... gives -EINVAL; a name the C
 * library does not know gives -EIO) with the server's message, and its name
 * stays readable with mypoll_server_errname(); with mypoll_set_server_errors()
 * (since 1.1) it is -(MYPOLL_ESERVER | errno) instead, apart from every local
 * failure. A malformed server line
 * fails the connection with -EPROTO: the library never guesses. So does a
 * line out of the order of PROTOCOL A.6 (an EVT whose seq is not above the
 * last seq of an EVT or LOST on the connection, a LOST that starts at or below
 * it) and a descriptor sent with any line but its OK open_device.
 */
#ifndef LIBMYPOLL_H
#define LIBMYPOLL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(MYPOLL_BUILD)
#define MYPOLL_API __attribute__((visibility("default")))
#else
#define MYPOLL_API
#endif

/** Default daemon socket (PROTOCOL A.1). */
#define MYPOLL_DEFAULT_SOCKET "/run/mypoll/mypoll.sock"

/** Longest server line the library accepts, including the newline. */
#define MYPOLL_LINE_MAX 4096
/** Longest request line the server accepts, including the newline (A.2). */
#define MYPOLL_REQUEST_MAX 1024
/** Timer ids are 0..MYPOLL_MAX_TIMERS-1. */
#define MYPOLL_MAX_TIMERS 8

/** Requests sent without a callback (replies kept for mypoll_wait()) that may
 *  be outstanding at once; one more is refused with -ENOBUFS. */
#define MYPOLL_MAX_WAIT_REPLIES 8

/** mypoll_connect() flag: do not wait for the connection or the HELLO line. */
#define MYPOLL_NONBLOCK 0x1

/** A connection handle. Opaque. */
typedef struct mypoll mypoll;

/** Event types (EVT lines, PROTOCOL A.6 and B.2). */
enum mypoll_event_type {
	MYPOLL_TIMER = 1,
	MYPOLL_TRIGGER = 2,
	MYPOLL_TIMER_STOPPED = 4,
};

/** One EVT line. */
struct mypoll_event {
	uint64_t seq;          /**< device sequence number, strictly increasing */
	uint64_t timestamp_ns; /**< CLOCK_MONOTONIC at generation */
	uint64_t arg;          /**< TIMER: tick; TRIGGER: payload; TIMER_STOPPED: final tick */
	uint64_t aux;          /**< TIMER: ticks folded in; TRIGGER: index in burst; TIMER_STOPPED: reason */
	uint32_t source_id;    /**< timer id; 0 for TRIGGER */
	int type;              /**< enum mypoll_event_type */
};

/** Loss reasons (LOST lines, PROTOCOL A.6). */
enum mypoll_lost_reason {
	MYPOLL_LOST_QUEUE = 1,   /**< this client's TX queue was full */
	MYPOLL_LOST_DEVICE = 2,  /**< the daemon fell behind the device ring */
	MYPOLL_LOST_RESTART = 3, /**< not replayable after a restart or reload */
	MYPOLL_LOST_RANGE = 4,   /**< reported by mypoll_resume() itself, never by the
				  *   daemon: its from= was beyond next_seq (ERANGE) */
};

/** One LOST line: within first..last, count subscribed events were not delivered. */
struct mypoll_lost {
	uint64_t first;
	uint64_t last;
	uint64_t count;
	int reason; /**< enum mypoll_lost_reason */
};

/** Request verbs. */
enum mypoll_verb {
	MYPOLL_V_ECHO = 1,
	MYPOLL_V_TRIGGER,
	MYPOLL_V_START_TIMER,
	MYPOLL_V_STOP_TIMER,
	MYPOLL_V_TIMERS,
	MYPOLL_V_SUBSCRIBE,
	MYPOLL_V_STATS,
	MYPOLL_V_OPEN_DEVICE,
	MYPOLL_V_HELP,
	MYPOLL_V_QUIT,
};

/** One running timer (reply to `timers`). */
struct mypoll_timer {
	uint32_t id;
	uint32_t period_ms;
	uint64_t ticks;
	uint64_t count; /**< 0 = forever */
};

/** The keys of `stats` every server sends (A.5); others are in reply.text. */
struct mypoll_stats {
	uint64_t clients, max_clients, events, lost_device, lost_queue;
	uint64_t uptime_ms, next_seq, instance_id;
};

/**
 * A reply. Owned by the caller of mypoll_wait() or by the library during a
 * reply callback (copy what you keep). Fields not of this verb are zero.
 */
struct mypoll_reply {
	uint32_t id;   /**< the request id the *_async() call returned */
	int verb;      /**< enum mypoll_verb */
	int error;     /**< 0, or a negative errno: the server's ERR or a local failure */
	union {
		struct { uint64_t first_seq; uint32_t count; } trigger;
		struct { uint32_t id; } timer; /**< start_timer, stop_timer */
		struct { size_t n; struct mypoll_timer t[MYPOLL_MAX_TIMERS]; } timers;
		struct mypoll_stats stats;
		/** open_device: the received descriptor (O_CLOEXEC), now the caller's
		 *  to close; -1 on error. In a callback, set it to -1 to keep it,
		 *  otherwise the library closes it when the callback returns. */
		struct { int fd; } open_device;
	} u;
	/** echo: the text; help: the verb list; subscribe: the set; stats: every
	 *  key=value; on a server ERR: its message; on a local failure: what
	 *  failed. NUL-terminated, text_len bytes. */
	size_t text_len;
	char text[MYPOLL_LINE_MAX];
};

/** Called for each EVT, in seq order. */
typedef void (*mypoll_event_fn)(void *user, const struct mypoll_event *ev);
/** Called for each LOST line, before the next event. */
typedef void (*mypoll_lost_fn)(void *user, const struct mypoll_lost *lost);
/** Called for each reply of a request sent with a callback. */
typedef void (*mypoll_reply_fn)(void *user, struct mypoll_reply *reply);

/*
 * Since 1.1: the event and loss callbacks with the device instance the seqs
 * belong to (the instance_id of the connection's HELLO). (instance_id, seq)
 * identifies an event across module reloads and daemon restarts; see
 * docs/libmypoll.md, "Resuming after the application restarts".
 * struct mypoll_event and struct mypoll_lost keep their 1.0 layout.
 */
typedef void (*mypoll_event_ex_fn)(void *user, const struct mypoll_event *ev,
				   uint64_t instance_id);
typedef void (*mypoll_lost_ex_fn)(void *user, const struct mypoll_lost *lost,
				  uint64_t instance_id);

/** Connection events (since 1.1), see mypoll_set_conn_callback(). */
enum mypoll_conn_event {
	MYPOLL_CONN_OPENED = 1, /**< a new socket: fd is mypoll_fd() from now on */
	MYPOLL_CONN_READY = 2,  /**< HELLO read; after an automatic reconnection,
				 *   the subscription is resumed too */
	MYPOLL_CONN_CLOSED = 3, /**< fd is closed when the callback returns; error
				 *   says why (-ECONNRESET: the server closed it) */
};
/** Called on each connection event; fd is the connection's socket. */
typedef void (*mypoll_conn_fn)(void *user, int event, int fd, int error);

/**
 * mypoll_new() allocates a handle with room for `max_pending` outstanding
 * requests (0: 256), and its eventfd for mypoll_wakeup() (since 1.1). Returns
 * NULL when out of memory or descriptors (errno says which). The handle is not
 * connected; pass it to mypoll_connect().
 */
MYPOLL_API mypoll *mypoll_new(unsigned max_pending);

/**
 * mypoll_free() closes the connection (if any), fails outstanding requests
 * with -ECANCELED (calling their callbacks), closes every descriptor the
 * library still holds and frees the handle. NULL is a no-op.
 * Must not be called from a callback.
 */
MYPOLL_API void mypoll_free(mypoll *m);

/**
 * mypoll_connect() connects to the daemon at `path` (NULL: the default).
 * Without MYPOLL_NONBLOCK it waits up to the timeout for the HELLO line and
 * returns 0, or -EMFILE when the server refuses a client (A.3), -ETIMEDOUT, or
 * the connect(2) error. With MYPOLL_NONBLOCK it returns 0 once the socket is
 * connected (or -EAGAIN when the server's backlog is full: retry later) and the
 * HELLO is read by mypoll_process(); requests may be sent at once. A connected
 * handle is first closed (as mypoll_disconnect()). The path is kept for
 * mypoll_resume(). Events are not sent before the first subscribe (A.5).
 */
MYPOLL_API int mypoll_connect(mypoll *m, const char *path, int flags);

/**
 * mypoll_disconnect() closes the connection and fails outstanding requests
 * with -ECONNRESET. The handle keeps its callbacks, subscription and last seq.
 */
MYPOLL_API void mypoll_disconnect(mypoll *m);

/**
 * mypoll_resume() reconnects to the same path (blocking, up to the timeout)
 * and, if the handle had subscribed, sends `subscribe <set> from=<last seq+1>`
 * as its first request and waits for the reply, so the daemon replays what it
 * retained and reports the rest as LOST (A.8). Events then continue with no
 * seq delivered twice. If the new HELLO names another instance_id (module
 * reloaded), seqs started over: it resumes from=1 and the last seq restarts.
 * If the daemon answers ERANGE (the position is beyond its next_seq N for the
 * same instance: a damaged position, A.8), it subscribes from N instead and
 * first reports seqs 1..N-1 to the loss callback with reason
 * MYPOLL_LOST_RANGE and count N-1 (none when N is 1); the last seq becomes N-1.
 * Returns 0 or a negative errno.
 */
MYPOLL_API int mypoll_resume(mypoll *m);

/** mypoll_set_timeout() sets the timeout of blocking calls (default 5000 ms; <0: none). */
MYPOLL_API void mypoll_set_timeout(mypoll *m, int timeout_ms);

/** mypoll_set_callbacks() sets the event and loss callbacks (NULL: ignore),
 *  replacing those of mypoll_set_callbacks_ex(). */
MYPOLL_API void mypoll_set_callbacks(mypoll *m, mypoll_event_fn on_event,
				     mypoll_lost_fn on_lost, void *user);

/**
 * mypoll_set_callbacks_ex() (since 1.1) sets event and loss callbacks that
 * also receive the instance_id; they replace those of mypoll_set_callbacks()
 * (and a later mypoll_set_callbacks() replaces them).
 */
MYPOLL_API void mypoll_set_callbacks_ex(mypoll *m, mypoll_event_ex_fn on_event,
					mypoll_lost_ex_fn on_lost, void *user);

/**
 * mypoll_set_conn_callback() (since 1.1) sets a callback for every
 * connection's MYPOLL_CONN_OPENED, MYPOLL_CONN_READY and MYPOLL_CONN_CLOSED
 * (NULL: none), whoever opened or closed it: the application or an automatic
 * reconnection. An epoll loop adds fd on OPENED (EPOLL_CTL_ADD) and removes it
 * on CLOSED (EPOLL_CTL_DEL; fd is still open then): the descriptor number of a
 * new connection may be the old one's.
 */
MYPOLL_API void mypoll_set_conn_callback(mypoll *m, mypoll_conn_fn fn, void *user);

/**
 * mypoll_reconnect_delay_set() (since 1.1) turns on automatic, non-blocking
 * reconnection (as libmosquitto's mosquitto_reconnect_delay_set()): when the
 * connection fails in mypoll_process() (server closed, read or write error,
 * malformed line, ERR at HELLO), the handle reconnects to the same path from
 * mypoll_process() after a delay, then resumes as mypoll_resume() does (first
 * request `subscribe <set> from=<last seq + 1>`, same rules for a new
 * instance and for ERANGE) and calls MYPOLL_CONN_READY. Attempt n (0, 1, ...)
 * waits min_ms * 2^n with exponential, min_ms * (n + 1) without, at most
 * max_ms; a READY connection starts again at n = 0. A connection that sends
 * no HELLO within the handle's timeout (mypoll_set_timeout()) counts as
 * failed. Meanwhile mypoll_fd() is -1 or the new socket, requests fail with
 * -ENOTCONN until READY, and mypoll_process() reports the failure to the
 * connection callback instead of returning it. mypoll_get_timeout() says
 * when to call mypoll_process(). min_ms 0 turns it off (the default).
 * mypoll_disconnect() and mypoll_connect() cancel a pending reconnection.
 */
MYPOLL_API void mypoll_reconnect_delay_set(mypoll *m, unsigned min_ms, unsigned max_ms,
					   int exponential);

/**
 * mypoll_set_request_timeout() (since 1.1) gives each request queued from
 * now on a deadline timeout_ms later (<0: none, the default): if its reply
 * has not come by then, it completes with error -ETIMEDOUT (callback, or kept
 * for mypoll_wait()), and the reply, if it comes later, is discarded. The
 * request may still have been carried out by the server.
 */
MYPOLL_API void mypoll_set_request_timeout(mypoll *m, int timeout_ms);

/**
 * mypoll_get_timeout() (since 1.1; as sd_bus_get_timeout()) stores in *usec
 * the CLOCK_MONOTONIC time, in microseconds, at which mypoll_process() must be
 * called even if the socket is not ready: the earliest request deadline, HELLO
 * deadline of a reconnection or reconnection attempt. Returns 1, or 0 with
 * *usec = UINT64_MAX when there is none. mypoll_get_timeout_ms() returns the
 * same as a poll(2) timeout: milliseconds from now (rounded up), 0 if past,
 * -1 if none.
 */
MYPOLL_API int mypoll_get_timeout(const mypoll *m, uint64_t *usec);
MYPOLL_API int mypoll_get_timeout_ms(const mypoll *m);

/** mypoll_fd() returns the socket for the application's loop, or -1. The library owns it. */
MYPOLL_API int mypoll_fd(const mypoll *m);

/** mypoll_poll_events() returns the poll(2) events to wait for: POLLIN, plus POLLOUT while requests wait to be written. */
MYPOLL_API short mypoll_poll_events(const mypoll *m);

/**
 * mypoll_process() writes what it can of the queued requests, reads what is
 * available without blocking and dispatches every complete line: events and
 * losses to their callbacks, replies to theirs (or keeps them for
 * mypoll_wait()). Returns the number of lines dispatched (0 if none), or a
 * negative errno when the connection failed (-ECONNRESET when the server
 * closed it, -EPROTO for a malformed line); the handle is then disconnected
 * and outstanding requests fail with that error. Every line received before
 * the failure is dispatched first, also when a write fails (EPIPE) after the
 * server answered and closed. With automatic reconnection
 * (mypoll_reconnect_delay_set()) the failure goes to the connection callback
 * instead, and mypoll_process() also makes the reconnection attempts (0 when
 * there is no connection). Request deadlines (mypoll_set_request_timeout())
 * expire here too. Not from a callback (-EDEADLK).
 */
MYPOLL_API int mypoll_process(mypoll *m);

/**
 * mypoll_hello() returns 0 and the HELLO fields once the greeting was read,
 * -EAGAIN before, -ENOTCONN without a connection.
 */
MYPOLL_API int mypoll_hello(const mypoll *m, uint64_t *instance_id, uint64_t *next_seq);

/** mypoll_last_seq() returns the highest seq received in an EVT or LOST line (0: none). */
MYPOLL_API uint64_t mypoll_last_seq(const mypoll *m);

/** mypoll_errmsg() describes the handle's last failure (never NULL). */
MYPOLL_API const char *mypoll_errmsg(const mypoll *m);

/*
 * Errors (since 1.1).
 *
 * With mypoll_set_server_errors(m, 1), a server ERR is returned (by a blocking
 * call, and in reply.error) as -(MYPOLL_ESERVER | errno): ERR trigger
 * ETIMEDOUT gives -(MYPOLL_ESERVER | ETIMEDOUT), never -ETIMEDOUT, which is
 * then always a local timeout after which the request may or may not have
 * been carried out. A name the C library does not know gives
 * -(MYPOLL_ESERVER | EIO). Every other result, and a server ERR without the
 * flag (the 1.0 default), is a plain negative errno above -MYPOLL_ESERVER.
 */
#define MYPOLL_ESERVER 0x10000
/** Whether a result is a server's ERR under mypoll_set_server_errors(). */
#define MYPOLL_IS_SERVER_ERROR(rc) ((rc) < 0 && (-(rc) & MYPOLL_ESERVER) != 0)
/** The plain result: -errno for any error (the server's or local), rc otherwise. */
#define MYPOLL_ERRNO(rc) ((rc) < 0 ? -(-(rc) & ~MYPOLL_ESERVER) : (rc))

/** mypoll_set_server_errors() (since 1.1): 1 tags a server ERR with
 *  MYPOLL_ESERVER from now on (replies already received keep their value),
 *  0 returns to plain errnos (the default). */
MYPOLL_API void mypoll_set_server_errors(mypoll *m, int tagged);

/**
 * mypoll_strerror() (since 1.1) describes any result of this library: a
 * negative errno ("Connection timed out (ETIMEDOUT)"), a tagged server error
 * ("mypolld error ETIMEDOUT: Connection timed out"), 0 or a non-negative value.
 * A constant string (never NULL), safe from any thread; an unknown code gives
 * "unknown error". mypoll_errmsg() says more about the handle's last failure.
 */
MYPOLL_API const char *mypoll_strerror(int rc);

/**
 * mypoll_server_errname() (since 1.1) returns the ERRNO name, as the server
 * sent it ("EINVAL", or a name this library does not know), of the reply last
 * handed to the application when it is a server ERR, NULL when it is not (a
 * success or a local failure). That reply is the one of the running reply
 * callback; after mypoll_wait() or a blocking call, the one it returned; after
 * a connection the server refused (ERR - EMFILE at HELLO), that ERR. Valid
 * until the next call on the handle.
 */
MYPOLL_API const char *mypoll_server_errname(const mypoll *m);

/**
 * mypoll_wakeup() (since 1.1) wakes the thread blocked in mypoll_wait() or a
 * blocking call on this handle, which then returns -EINTR: mypoll_wait()
 * leaves the request outstanding (wait for it again); a blocking request gives
 * its request up (its reply, if it comes, is dropped; the server may have
 * carried it out); a blocking mypoll_connect() or mypoll_resume() closes the
 * connection. A wakeup while no thread waits is kept for the next wait (several
 * count as one), so none is lost. Callable from any thread and from a signal
 * handler (it writes to an eventfd; errno is preserved), but not after or during
 * mypoll_free(). Returns 0 or a negative errno. mypoll_process() ignores it.
 */
MYPOLL_API int mypoll_wakeup(mypoll *m);

/*
 * Subscription filters (since 1.2; PROTOCOL A.5). A set is "all", "none", or
 * a comma list of at most MYPOLL_FILTER_MAX_ITEMS items: "timer" (every
 * timer's timer and timer_stopped events), "trigger", "timer:<id>" (timer id
 * 0..7 only) and "trigger:<payload>" (triggers whose payload equals it,
 * decimal or 0x hex). Its canonical form, which the server's
 * `OK subscribe <set>` names, has no duplicates and no item its class
 * covers: classes first, then timer: ids ascending, then trigger: payloads
 * ascending in decimal; "timer,trigger" is "all", an empty filter "none".
 * The longest canonical set, 16 items "trigger:<20 digits>" and 15 commas,
 * fits in MYPOLL_SET_MAX bytes with its NUL.
 */
#define MYPOLL_FILTER_MAX_ITEMS 16
#define MYPOLL_SET_MAX 464
#define MYPOLL_FILTER_TIMER 0x1u   /**< the item "timer" */
#define MYPOLL_FILTER_TRIGGER 0x2u /**< the item "trigger" */

/** A subscription filter: the items of a set, as values (since 1.2). */
struct mypoll_filter {
	uint32_t classes;    /**< MYPOLL_FILTER_TIMER | MYPOLL_FILTER_TRIGGER */
	uint32_t timers;     /**< bit i: "timer:<i>", i < MYPOLL_MAX_TIMERS */
	uint32_t n_payloads; /**< "trigger:<payloads[i]>" for i < n_payloads */
	uint32_t reserved;   /**< 0 */
	uint64_t payloads[MYPOLL_FILTER_MAX_ITEMS];
};

/**
 * mypoll_filter_parse() (since 1.2) parses a set into *f. Returns 0, or
 * -EINVAL (*f zeroed) for a set the server would refuse with
 * ERR subscribe EINVAL: an unknown item, a timer id above 7, a payload that
 * is not a u64, an empty item, more than 16 items, "all" or "none" in a list.
 */
MYPOLL_API int mypoll_filter_parse(struct mypoll_filter *f, const char *set);

/**
 * mypoll_filter_format() (since 1.2) writes the canonical set of *f to buf
 * (NUL-terminated; MYPOLL_SET_MAX bytes always suffice) and returns its
 * length, -EINVAL for a filter no set names (unknown bits in classes or
 * timers, reserved not 0, n_payloads or the canonical items above
 * MYPOLL_FILTER_MAX_ITEMS), or -ENOSPC when size is too small.
 */
MYPOLL_API int mypoll_filter_format(const struct mypoll_filter *f, char *buf, size_t size);

/**
 * mypoll_subscription() (since 1.2) copies into buf (NUL-terminated) the
 * canonical set the handle is subscribed to, the one mypoll_resume() and an
 * automatic reconnection send again: the set of the server's last
 * `OK subscribe`, or, while subscribe requests are outstanding, the set of
 * the last one sent (in canonical form), which the server may have carried
 * out; after `ERR subscribe` to the last one, the server's set, as it was.
 * "none" before any subscribe. Returns its length, or -ENOSPC when size is
 * too small (MYPOLL_SET_MAX bytes always suffice).
 */
MYPOLL_API int mypoll_subscription(const mypoll *m, char *buf, size_t size);

/** mypoll_verb_name() returns the protocol name of an enum mypoll_verb ("trigger"), or "?". */
MYPOLL_API const char *mypoll_verb_name(int verb);

/*
 * Asynchronous requests. Each queues one request line and returns its id (> 0)
 * or a negative errno: -EINVAL for a bad argument (nothing is sent), -ENOTCONN,
 * -ENOBUFS when max_pending requests are outstanding or the write buffer is
 * full (call mypoll_process() and retry). With cb == NULL the reply is kept for
 * mypoll_wait() (at most MYPOLL_MAX_WAIT_REPLIES such requests outstanding:
 * -ENOBUFS beyond).
 */
MYPOLL_API int mypoll_echo_async(mypoll *m, const char *text, mypoll_reply_fn cb, void *user);
MYPOLL_API int mypoll_trigger_async(mypoll *m, uint64_t payload, uint32_t count,
				    mypoll_reply_fn cb, void *user);
MYPOLL_API int mypoll_start_timer_async(mypoll *m, uint32_t id, uint32_t period_ms,
					uint64_t count, mypoll_reply_fn cb, void *user);
MYPOLL_API int mypoll_stop_timer_async(mypoll *m, uint32_t id, mypoll_reply_fn cb, void *user);
MYPOLL_API int mypoll_timers_async(mypoll *m, mypoll_reply_fn cb, void *user);
/**
 * set: "all", "none", or a comma list of items (see mypoll_filter_parse());
 * a set the server would refuse gives -EINVAL and nothing is sent. The
 * request carries the set in canonical form (mypoll_filter_format()). from:
 * 0 for none. The reply's text is the server's canonical set, which the
 * handle keeps for resuming (mypoll_subscription()).
 */
MYPOLL_API int mypoll_subscribe_async(mypoll *m, const char *set, uint64_t from,
				      mypoll_reply_fn cb, void *user);
MYPOLL_API int mypoll_stats_async(mypoll *m, mypoll_reply_fn cb, void *user);
MYPOLL_API int mypoll_open_device_async(mypoll *m, mypoll_reply_fn cb, void *user);
MYPOLL_API int mypoll_help_async(mypoll *m, mypoll_reply_fn cb, void *user);
MYPOLL_API int mypoll_quit_async(mypoll *m, mypoll_reply_fn cb, void *user);

/**
 * mypoll_wait() waits up to timeout_ms (0: just check, <0: forever) for the
 * reply of request `id` sent without a callback, dispatching everything else
 * meanwhile, and copies it to *out. Returns 0 (the request's own result is
 * out->error), -EAGAIN/-ETIMEDOUT when it has not arrived, -ENOENT for an
 * unknown id, -EINTR after mypoll_wakeup() (the request is still outstanding),
 * or the connection's error. Not from a callback (-EDEADLK).
 */
MYPOLL_API int mypoll_wait(mypoll *m, int id, struct mypoll_reply *out, int timeout_ms);

/*
 * Blocking requests: send, wait up to the handle's timeout, return 0 or the
 * negative errno (server ERR or local). Not from a callback (-EDEADLK).
 */
/** Copies the echoed text into buf (NUL-terminated, truncated to size). */
MYPOLL_API int mypoll_echo(mypoll *m, const char *text, char *buf, size_t size);
MYPOLL_API int mypoll_trigger(mypoll *m, uint64_t payload, uint32_t count,
			      uint64_t *first_seq, uint32_t *n);
MYPOLL_API int mypoll_start_timer(mypoll *m, uint32_t id, uint32_t period_ms, uint64_t count);
MYPOLL_API int mypoll_stop_timer(mypoll *m, uint32_t id);
/** Fills t[0..*n) with the running timers, ascending id. */
MYPOLL_API int mypoll_timers(mypoll *m, struct mypoll_timer t[MYPOLL_MAX_TIMERS], size_t *n);
MYPOLL_API int mypoll_subscribe(mypoll *m, const char *set, uint64_t from);
MYPOLL_API int mypoll_stats(mypoll *m, struct mypoll_stats *st);
/** Returns the device descriptor (>= 0, O_CLOEXEC, the caller's to close) or a negative errno. */
MYPOLL_API int mypoll_open_device(mypoll *m);
/** Copies the space-separated verb list into buf (NUL-terminated, truncated to size). */
MYPOLL_API int mypoll_help(mypoll *m, char *buf, size_t size);
MYPOLL_API int mypoll_quit(mypoll *m);

#ifdef __cplusplus
}
#endif
#endif /* LIBMYPOLL_H */
