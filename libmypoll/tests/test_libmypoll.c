// SPDX-License-Identifier: MIT
/*
 * test_libmypoll: libmypoll against a real mypolld (--device emu) and against
 * a fake server socket for what a correct daemon never sends.
 *
 *   test_libmypoll MYPOLLD_BINARY [TEST_NAME_SUBSTRING]
 *
 * Prints one line per test and a closing "N passed, N failed"; exits 1 on any
 * failure. Built and run by `make test-libmypoll`, under ASan and UBSan.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmypoll.h>

static int failed;
static char dir[48], sock[96], fake_sock[96];
static const char *mypolld_bin;
static pid_t daemon_pid = -1;

#define CHECK(c) \
	do { \
		if (!(c)) { \
			fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
			failed = 1; \
			return; \
		} \
	} while (0)
#define CHECK_RC(expr, want) \
	do { \
		long long got_ = (long long)(expr), want_ = (long long)(want); \
		if (got_ != want_) { \
			fprintf(stderr, "    %s:%d: %s = %lld, want %lld (%s)\n", __FILE__, __LINE__, \
				#expr, got_, want_, errmsg_of_current()); \
			failed = 1; \
			return; \
		} \
	} while (0)

static mypoll *current; /* for messages */
static int subscription_is(const mypoll *m, const char *want);
static const char *errmsg_of_current(void)
{
	return current ? mypoll_errmsg(current) : "";
}

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/*
 * Allocation counting: the test binary is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so every allocation the
 * library's code makes goes through these.
 */
static long allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n)
{
	allocs++;
	return __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
	allocs++;
	return __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
	allocs++;
	return __real_realloc(p, n);
}

/* ---- the real daemon ---- */

static int can_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static int start_daemon(void)
{
	char state[128];

	snprintf(state, sizeof(state), "%s/state", dir);
	daemon_pid = fork();
	if (daemon_pid == 0) {
		execl(mypolld_bin, mypolld_bin, "--device", "emu", "--socket", sock, "--state-dir",
		      state, "--log-level", "error", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (can_connect(sock))
			return 0;
		msleep(10);
	}
	return -1;
}

static void stop_daemon(void)
{
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
	}
	daemon_pid = -1;
}

/* ---- event recording ---- */

#define MAXREC 50000
struct rec {
	uint64_t n, lost_events, lost_lines, last, bad_order;
	uint64_t seq[MAXREC], arg[MAXREC], aux[MAXREC];
	int type[MAXREC];
	struct mypoll_lost lost[64];
	uint64_t n_at_lost[64]; /* events received before each loss */
};

static void rec_event(void *user, const struct mypoll_event *ev)
{
	struct rec *r = user;

	if (ev->seq <= r->last)
		r->bad_order++;
	r->last = ev->seq;
	if (r->n < MAXREC) {
		r->seq[r->n] = ev->seq;
		r->arg[r->n] = ev->arg;
		r->aux[r->n] = ev->aux;
		r->type[r->n] = ev->type;
	}
	r->n++;
}

static void rec_lost(void *user, const struct mypoll_lost *l)
{
	struct rec *r = user;

	if (l->first <= r->last)
		r->bad_order++;
	r->last = l->last;
	if (r->lost_lines < 64) {
		r->lost[r->lost_lines] = *l;
		r->n_at_lost[r->lost_lines] = r->n;
	}
	r->lost_lines++;
	r->lost_events += l->count;
}

static struct rec *rec_new(void)
{
	return calloc(1, sizeof(struct rec));
}

/* pump processes m until *n >= want or timeout; returns the last rc. */
static int pump_until(mypoll *m, const uint64_t *n, uint64_t want, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	int rc = 0;

	while (*n < want && now_ms() < end) {
		struct pollfd pfd = {mypoll_fd(m), mypoll_poll_events(m), 0};

		if (pfd.fd < 0)
			return -ENOTCONN;
		poll(&pfd, 1, 50);
		if ((rc = mypoll_process(m)) < 0)
			return rc;
	}
	return rc;
}

static mypoll *dial(struct rec *r)
{
	mypoll *m = mypoll_new(0);

	if (!m)
		return NULL;
	if (r)
		mypoll_set_callbacks(m, rec_event, rec_lost, r);
	if (mypoll_connect(m, sock, 0) < 0) {
		fprintf(stderr, "    connect: %s\n", mypoll_errmsg(m));
		mypoll_free(m);
		return NULL;
	}
	return m;
}

/* ---- tests against mypolld ---- */

/* broadcast_past waits until the daemon has broadcast seq (stats next_seq). */
static int broadcast_past(mypoll *m, uint64_t seq)
{
	struct mypoll_stats st;
	int64_t end = now_ms() + 5000;

	while (now_ms() < end) {
		int rc = mypoll_stats(m, &st);
		if (rc < 0)
			return rc;
		if (st.next_seq > seq)
			return 0;
		msleep(1);
	}
	return -ETIMEDOUT;
}

static void test_hello_echo(void)
{
	char buf[2048], big[1100];
	uint64_t inst = 0, next = 0;
	mypoll *m = dial(NULL);

	CHECK(m);
	current = m;
	CHECK_RC(mypoll_hello(m, &inst, &next), 0);
	CHECK(inst != 0 && next >= 1);
	CHECK_RC(mypoll_echo(m, " a\tb  c ", buf, sizeof(buf)), 0);
	CHECK(strcmp(buf, " a\tb  c ") == 0);
	CHECK_RC(mypoll_echo(m, "", buf, sizeof(buf)), 0);
	CHECK(strcmp(buf, "") == 0);
	/* The longest request the server accepts: "echo " + 1018 bytes + "\n". */
	memset(big, 'x', 1018);
	big[1018] = '\0';
	CHECK_RC(mypoll_echo(m, big, buf, sizeof(buf)), 0);
	CHECK(strcmp(buf, big) == 0);
	big[1018] = 'x';
	big[1019] = '\0';
	CHECK_RC(mypoll_echo(m, big, buf, sizeof(buf)), -E2BIG);
	CHECK_RC(mypoll_echo(m, "tab\tok\x01", buf, sizeof(buf)), -EINVAL);
	CHECK_RC(mypoll_echo(m, "still fine", buf, sizeof(buf)), 0);
	mypoll_free(m);
	current = NULL;
}

static void test_trigger_events(void)
{
	struct rec *r = rec_new();
	mypoll *m = dial(r);
	uint64_t first = 0;
	uint32_t n = 0;

	CHECK(m);
	current = m;
	CHECK_RC(mypoll_last_seq(m), 0);
	CHECK_RC(mypoll_subscribe(m, "trigger", 0), 0);
	CHECK_RC(mypoll_trigger(m, 42, 5, &first, &n), 0);
	CHECK(n == 5 && first >= 1);
	CHECK_RC(pump_until(m, &r->n, 5, 5000) >= 0, 1);
	CHECK_RC(r->n, 5);
	for (uint64_t i = 0; i < 5; i++) {
		CHECK_RC(r->seq[i], first + i);
		CHECK_RC(r->type[i], MYPOLL_TRIGGER);
		CHECK_RC(r->arg[i], 42);
		CHECK_RC(r->aux[i], i);
	}
	CHECK_RC(mypoll_last_seq(m), first + 4);
	/* Payload range: u64 max. */
	CHECK_RC(mypoll_trigger(m, UINT64_MAX, 1, &first, &n), 0);
	CHECK_RC(pump_until(m, &r->n, 6, 5000) >= 0, 1);
	CHECK(r->arg[5] == UINT64_MAX && r->seq[5] == first);
	/* A narrower set: nothing arrives for triggers. */
	CHECK_RC(mypoll_subscribe(m, "timer", 0), 0);
	CHECK_RC(mypoll_trigger(m, 7, 3, &first, &n), 0);
	CHECK_RC(broadcast_past(m, first + 2), 0);
	CHECK_RC(mypoll_subscribe(m, "trigger,timer", 0), 0);
	CHECK(subscription_is(m, "all")); /* the daemon's canonical set (A.5) */
	CHECK_RC(mypoll_trigger(m, 8, 1, &first, &n), 0);
	CHECK_RC(pump_until(m, &r->n, 7, 5000) >= 0, 1);
	CHECK_RC(r->n, 7);
	CHECK(r->seq[6] == first && r->arg[6] == 8);
	/* Source filters (A.5): only the trigger whose payload is 0x10 arrives,
	 * and the daemon names the set canonically (payloads in decimal). */
	CHECK_RC(mypoll_subscribe(m, "trigger:0x10,timer:3", 0), 0);
	CHECK(subscription_is(m, "timer:3,trigger:16"));
	CHECK_RC(mypoll_trigger(m, 15, 2, NULL, NULL), 0);
	CHECK_RC(mypoll_trigger(m, 16, 1, &first, &n), 0);
	CHECK_RC(mypoll_trigger(m, 17, 1, NULL, NULL), 0);
	uint64_t first16 = first;
	/* One total order: once a later matching event arrives, the daemon
	 * has passed over 17 (and 15) for this client. */
	CHECK_RC(mypoll_subscribe(m, "timer:3,trigger:16,trigger:18", 0), 0);
	CHECK_RC(mypoll_trigger(m, 18, 1, &first, &n), 0);
	CHECK_RC(pump_until(m, &r->n, 9, 5000) >= 0, 1);
	CHECK_RC(r->n, 9);
	CHECK(r->seq[7] == first16 && r->arg[7] == 16 && r->type[7] == MYPOLL_TRIGGER);
	CHECK(r->seq[8] == first && r->arg[8] == 18);
	CHECK(r->bad_order == 0);
	mypoll_free(m);
	free(r);
	current = NULL;
}

static void test_server_errors(void)
{
	mypoll *m = dial(NULL);

	CHECK(m);
	current = m;
	CHECK_RC(mypoll_stop_timer(m, 5), -ENOENT);
	CHECK(strstr(mypoll_errmsg(m), "stop_timer") && strstr(mypoll_errmsg(m), "ENOENT"));
	CHECK_RC(mypoll_start_timer(m, 2, 1000, 0), 0);
	CHECK_RC(mypoll_start_timer(m, 2, 1000, 0), -EBUSY);
	CHECK_RC(mypoll_start_timer(m, 3, 0, 0), -EINVAL);
	CHECK_RC(mypoll_start_timer(m, 3, 3600001, 0), -EINVAL);
	CHECK_RC(mypoll_trigger(m, 0, 1000000, NULL, NULL), -EINVAL);
	CHECK_RC(mypoll_open_device(m), -ENODEV); /* the emulated device has no node */
	CHECK_RC(mypoll_stop_timer(m, 2), 0);
	/* The connection survives every ERR. */
	char buf[16];
	CHECK_RC(mypoll_echo(m, "ok", buf, sizeof(buf)), 0);
	mypoll_free(m);
	current = NULL;
}

static void test_local_errors(void)
{
	mypoll *m = mypoll_new(4);

	CHECK(m);
	current = m;
	CHECK_RC(mypoll_echo(m, "x", NULL, 0), -ENOTCONN);
	CHECK_RC(mypoll_process(m), -ENOTCONN);
	CHECK_RC(mypoll_hello(m, NULL, NULL), -ENOTCONN);
	CHECK_RC(mypoll_resume(m), -ENOTCONN);
	CHECK_RC(mypoll_connect(m, sock, 0x80), -EINVAL);
	CHECK_RC(mypoll_fd(m), -1);
	char path[200];
	snprintf(path, sizeof(path), "%s/nobody.sock", dir);
	CHECK_RC(mypoll_connect(m, path, 0), -ENOENT);
	CHECK(strstr(mypoll_errmsg(m), "nobody.sock"));
	CHECK_RC(mypoll_connect(m, sock, 0), 0);
	CHECK_RC(mypoll_subscribe(m, "bogus", 0), -EINVAL);
	CHECK_RC(mypoll_subscribe(m, "timer,", 0), -EINVAL);
	CHECK_RC(mypoll_subscribe(m, "all from=1", 0), -EINVAL);
	CHECK_RC(mypoll_subscribe(m, "timer:8", 0), -EINVAL);
	CHECK_RC(mypoll_subscribe(m, "all,trigger:1", 0), -EINVAL);
	CHECK_RC(mypoll_start_timer(m, 8, 10, 0), -EINVAL);
	CHECK_RC(mypoll_stop_timer(m, 99), -EINVAL);
	CHECK_RC(mypoll_trigger(m, 0, 0, NULL, NULL), -EINVAL);
	CHECK_RC(mypoll_wait(m, 12345, NULL, 0), -ENOENT);
	/* max_pending = 4: the fifth outstanding request is refused. */
	for (int i = 0; i < 4; i++)
		CHECK(mypoll_echo_async(m, "p", NULL, NULL) > 0 || i >= 8);
	CHECK_RC(mypoll_echo_async(m, "p", NULL, NULL), -ENOBUFS);
	mypoll_free(m); /* frees with requests outstanding */
	current = NULL;
}

static void test_timers_stats_help(void)
{
	struct mypoll_timer t[MYPOLL_MAX_TIMERS];
	struct mypoll_stats st;
	size_t n = 99;
	uint64_t inst;
	char help[256];
	mypoll *m = dial(NULL);

	CHECK(m);
	current = m;
	CHECK_RC(mypoll_start_timer(m, 4, 500, 0), 0);
	CHECK_RC(mypoll_start_timer(m, 1, 250, 7), 0);
	CHECK_RC(mypoll_timers(m, t, &n), 0);
	CHECK_RC(n, 2);
	CHECK(t[0].id == 1 && t[0].period_ms == 250 && t[0].count == 7);
	CHECK(t[1].id == 4 && t[1].period_ms == 500 && t[1].count == 0);
	CHECK_RC(mypoll_stop_timer(m, 1), 0);
	CHECK_RC(mypoll_stop_timer(m, 4), 0);
	CHECK_RC(mypoll_stop_timer(m, 4), -ENOENT);
	CHECK_RC(mypoll_timers(m, t, &n), 0);
	CHECK_RC(n, 0);
	CHECK_RC(mypoll_stats(m, &st), 0);
	CHECK_RC(mypoll_hello(m, &inst, NULL), 0);
	CHECK(st.clients >= 1 && st.max_clients == 1024 && st.next_seq >= 1);
	CHECK_RC(st.instance_id, inst);
	CHECK_RC(mypoll_help(m, help, sizeof(help)), 0);
	for (int v = MYPOLL_V_ECHO; v <= MYPOLL_V_QUIT; v++)
		CHECK(strstr(help, mypoll_verb_name(v)));
	mypoll_free(m);
	current = NULL;
}

struct pipe_state {
	int done, bad;
	uint32_t last_id;
	uint64_t last_first;
};

static void pipe_reply(void *user, struct mypoll_reply *r)
{
	struct pipe_state *s = user;

	if (r->id <= s->last_id || r->error)
		s->bad++;
	s->last_id = r->id;
	if (r->verb == MYPOLL_V_TRIGGER) {
		if (s->last_first && r->u.trigger.first_seq != s->last_first + 1)
			s->bad++;
		s->last_first = r->u.trigger.first_seq;
	} else if (r->verb == MYPOLL_V_ECHO) {
		char want[32];

		snprintf(want, sizeof(want), "n%u", r->id);
		(void)want; /* the text is the request's: checked below by id parity */
		if (r->text_len < 2 || r->text[0] != 'n')
			s->bad++;
	}
	s->done++;
}

static void test_pipelining(void)
{
	struct pipe_state s = {0, 0, 0, 0};
	struct mypoll_reply r;
	mypoll *m = dial(NULL);
	uint64_t done;

	CHECK(m);
	current = m;
	/* 200 requests in flight without waiting, two verbs interleaved. */
	for (int i = 0; i < 100; i++) {
		char text[16];

		CHECK(mypoll_trigger_async(m, (uint64_t)i, 1, pipe_reply, &s) > 0);
		snprintf(text, sizeof(text), "n%d", i);
		CHECK(mypoll_echo_async(m, text, pipe_reply, &s) > 0);
	}
	int64_t end = now_ms() + 5000;
	while (s.done < 200 && now_ms() < end) {
		struct pollfd pfd = {mypoll_fd(m), mypoll_poll_events(m), 0};
		poll(&pfd, 1, 50);
		CHECK(mypoll_process(m) >= 0);
	}
	CHECK_RC(s.done, 200);
	CHECK_RC(s.bad, 0);
	/* Replies kept for mypoll_wait, collected out of order. */
	int a = mypoll_echo_async(m, "first", NULL, NULL);
	int b = mypoll_stats_async(m, NULL, NULL);
	int c = mypoll_echo_async(m, "third", NULL, NULL);
	CHECK(a > 0 && b > a && c > b);
	CHECK_RC(mypoll_wait(m, c, &r, 5000), 0);
	CHECK(r.verb == MYPOLL_V_ECHO && strcmp(r.text, "third") == 0 && r.id == (uint32_t)c);
	CHECK_RC(mypoll_wait(m, a, &r, 0), 0); /* arrived before c */
	CHECK(strcmp(r.text, "first") == 0);
	CHECK_RC(mypoll_wait(m, b, &r, 0), 0);
	CHECK(r.verb == MYPOLL_V_STATS && r.u.stats.max_clients == 1024);
	CHECK_RC(mypoll_wait(m, b, &r, 0), -ENOENT); /* collected once */
	done = 0;
	(void)done;
	mypoll_free(m);
	current = NULL;
}

static void test_several_clients(void)
{
	enum { N = 4, EVENTS = 3000 };
	struct rec *r[N];
	mypoll *sub[N], *ctl = dial(NULL);
	uint64_t first = 0, f;
	uint32_t n;

	CHECK(ctl);
	current = ctl;
	for (int i = 0; i < N; i++) {
		r[i] = rec_new();
		sub[i] = dial(r[i]);
		CHECK(sub[i]);
		CHECK_RC(mypoll_subscribe(sub[i], "all", 0), 0);
	}
	for (int k = 0; k < EVENTS / 300; k++) { /* bursts that fit the device ring */
		CHECK_RC(mypoll_trigger(ctl, 9, 300, &f, &n), 0);
		if (!first)
			first = f;
	}
	for (int i = 0; i < N; i++) {
		current = sub[i];
		CHECK(pump_until(sub[i], &r[i]->n, EVENTS, 10000) >= 0);
		CHECK_RC(r[i]->n, EVENTS);
		CHECK_RC(r[i]->lost_lines, 0);
		CHECK_RC(r[i]->bad_order, 0);
		for (uint64_t j = 0; j < EVENTS; j++)
			CHECK_RC(r[i]->seq[j], first + j);
		mypoll_free(sub[i]);
		free(r[i]);
	}
	mypoll_free(ctl);
	current = NULL;
}

static void test_lost_queue(void)
{
	struct rec *r = rec_new();
	mypoll *stalled = dial(r), *ctl = dial(NULL);
	uint64_t first = 0, f, total = 0;
	uint32_t n;

	CHECK(stalled && ctl);
	current = stalled;
	CHECK_RC(mypoll_subscribe(stalled, "trigger", 0), 0);
	/* ~2.6 MB of events while the subscriber reads nothing: far beyond its
	 * 64 KiB TX queue and the socket buffer. */
	for (int k = 0; k < 80; k++) {
		CHECK_RC(mypoll_trigger(ctl, 1, 512, &f, &n), 0);
		if (!first)
			first = f;
		total += n;
	}
	msleep(300); /* let the daemon broadcast (and drop) them */
	/* A loss is reported before the next event: make one. */
	CHECK_RC(mypoll_trigger(ctl, 2, 1, &f, &n), 0);
	total++;
	uint64_t accounted = 0;
	int64_t end = now_ms() + 10000;
	while (accounted < total && now_ms() < end) {
		struct pollfd pfd = {mypoll_fd(stalled), POLLIN, 0};
		poll(&pfd, 1, 50);
		CHECK(mypoll_process(stalled) >= 0);
		accounted = r->n + r->lost_events;
	}
	CHECK_RC(accounted, total);
	int queue = 0;
	for (uint64_t i = 0; i < r->lost_lines && i < 64; i++) {
		queue += r->lost[i].reason == MYPOLL_LOST_QUEUE;
	}
	CHECK(queue >= 1);
	CHECK(r->n >= 1 && r->n < total);
	CHECK_RC(r->bad_order, 0);
	/* The first line covers the first seq, the last is the last event. */
	CHECK_RC(r->lost[0].first < r->seq[0] ? r->lost[0].first : r->seq[0], first);
	CHECK_RC(r->last, f); /* the last event is delivered */
	CHECK_RC(mypoll_last_seq(stalled), f);
	mypoll_free(stalled);
	mypoll_free(ctl);
	free(r);
	current = NULL;
}

static void count_reply(void *user, struct mypoll_reply *r)
{
	if (r->error == 0)
		++*(int *)user;
}

/* Events, losses, replies and requests allocate nothing once connected. */
static void test_no_alloc_hot_path(void)
{
	struct rec *r = rec_new();
	mypoll *m = dial(r), *ctl = dial(NULL);
	int replies = 0;
	uint64_t f;
	uint32_t n;

	CHECK(m && ctl);
	current = m;
	long before = allocs;
	CHECK_RC(mypoll_subscribe(m, "all", 0), 0);
	for (int k = 0; k < 5; k++)
		CHECK_RC(mypoll_trigger(ctl, 3, 300, &f, &n), 0);
	for (int k = 0; k < 50; k++) {
		CHECK(mypoll_echo_async(m, "hot", count_reply, &replies) > 0);
		CHECK(mypoll_stats_async(m, count_reply, &replies) > 0);
	}
	CHECK(pump_until(m, &r->n, 1500, 10000) >= 0);
	while (replies < 100) {
		struct pollfd pfd = {mypoll_fd(m), mypoll_poll_events(m), 0};
		poll(&pfd, 1, 50);
		CHECK(mypoll_process(m) >= 0);
	}
	CHECK_RC(r->n + r->lost_events, 1500);
	CHECK_RC(allocs - before, 0);
	mypoll_free(m);
	mypoll_free(ctl);
	free(r);
	current = NULL;
}

static void test_resume_reconnect(void)
{
	struct rec *r = rec_new();
	mypoll *a = dial(r), *ctl = dial(NULL);
	uint64_t f1, f2, f3;
	uint32_t n;

	CHECK(a && ctl);
	current = a;
	CHECK_RC(mypoll_subscribe(a, "all", 0), 0);
	CHECK_RC(mypoll_trigger(ctl, 1, 3, &f1, &n), 0);
	CHECK(pump_until(a, &r->n, 3, 5000) >= 0);
	CHECK_RC(r->n, 3);
	/* The connection drops; events go on without this client. */
	mypoll_disconnect(a);
	CHECK_RC(mypoll_fd(a), -1);
	CHECK_RC(mypoll_trigger(ctl, 2, 4, &f2, &n), 0);
	CHECK_RC(f2, f1 + 3);
	CHECK_RC(mypoll_resume(a), 0);
	CHECK(pump_until(a, &r->n, 7, 5000) >= 0);
	CHECK_RC(r->n, 7);
	CHECK_RC(mypoll_trigger(ctl, 3, 1, &f3, &n), 0);
	CHECK(pump_until(a, &r->n, 8, 5000) >= 0);
	CHECK_RC(r->n, 8);
	for (uint64_t i = 0; i < 8; i++)
		CHECK_RC(r->seq[i], f1 + i);
	CHECK_RC(r->bad_order, 0);
	CHECK_RC(r->lost_lines, 0);
	mypoll_free(a);
	mypoll_free(ctl);
	free(r);
	current = NULL;
}

static void test_resume_daemon_restart(void)
{
	struct rec *r = rec_new();
	mypoll *a = dial(r), *ctl;
	uint64_t f, inst0, inst1;
	uint32_t n;

	CHECK(a);
	current = a;
	CHECK_RC(mypoll_subscribe(a, "all", 0), 0);
	CHECK_RC(mypoll_hello(a, &inst0, NULL), 0);
	CHECK_RC(mypoll_trigger(a, 1, 2, &f, &n), 0);
	CHECK(pump_until(a, &r->n, 2, 5000) >= 0);
	stop_daemon();
	CHECK_RC(start_daemon(), 0);
	/* The old connection is gone: process reports it. */
	int rc = 0;
	int64_t end = now_ms() + 5000;
	while (rc >= 0 && now_ms() < end) {
		struct pollfd pfd = {mypoll_fd(a), POLLIN, 0};
		poll(&pfd, 1, 50);
		rc = mypoll_process(a);
	}
	CHECK_RC(rc, -ECONNRESET);
	/* Events happen on the new daemon before the client is back. */
	ctl = dial(NULL);
	CHECK(ctl);
	CHECK_RC(mypoll_trigger(ctl, 5, 3, &f, &n), 0);
	CHECK_RC(mypoll_resume(a), 0);
	CHECK_RC(mypoll_hello(a, &inst1, NULL), 0);
	/* --device emu is a new device instance per start (a module reload):
	 * the library resumes the new instance from its first seq. */
	if (inst1 != inst0)
		CHECK_RC(f, 1);
	CHECK(pump_until(a, &r->n, 5, 5000) >= 0);
	CHECK_RC(r->n, 5);
	CHECK(r->seq[2] == f && r->seq[4] == f + 2 && r->arg[2] == 5);
	mypoll_free(a);
	mypoll_free(ctl);
	free(r);
	current = NULL;
}

static void test_nonblocking_connect(void)
{
	char buf[32];
	mypoll *m = mypoll_new(0);
	struct mypoll_reply r;

	CHECK(m);
	current = m;
	CHECK_RC(mypoll_connect(m, sock, MYPOLL_NONBLOCK), 0);
	CHECK(mypoll_fd(m) >= 0);
	CHECK(fcntl(mypoll_fd(m), F_GETFD) & FD_CLOEXEC);
	int id = mypoll_echo_async(m, "early", NULL, NULL); /* before HELLO is read */
	CHECK(id > 0);
	CHECK_RC(mypoll_wait(m, id, &r, 5000), 0);
	CHECK(strcmp(r.text, "early") == 0);
	CHECK_RC(mypoll_hello(m, NULL, NULL), 0);
	CHECK_RC(mypoll_echo(m, "x", buf, sizeof(buf)), 0);
	/* quit: OK, then the server closes. */
	CHECK_RC(mypoll_quit(m), 0);
	uint64_t never = 0;
	if (mypoll_fd(m) >= 0) /* unless the close came with the reply */
		CHECK_RC(pump_until(m, &never, 1, 5000), -ECONNRESET);
	CHECK_RC(mypoll_fd(m), -1);
	mypoll_free(m);
	current = NULL;
}

/* ---- a fake server ---- */

static int fake_listen(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	unlink(fake_sock);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fake_sock);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0)
		return -1;
	return fd;
}

static void fake_send(int fd, const char *s)
{
	size_t n = strlen(s), off = 0;

	while (off < n) {
		ssize_t w = write(fd, s + off, n - off);
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

/* fake_recv reads what the client sent within 2 s (NUL-terminated). */
static ssize_t fake_recv(int c, char *buf, size_t size)
{
	struct pollfd pfd = {c, POLLIN, 0};
	ssize_t n = 0;

	buf[0] = '\0';
	if (poll(&pfd, 1, 2000) == 1)
		n = read(c, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/*
 * fake_resumer forks a fake daemon that accepts one connection on lfd,
 * greets it (instance 0xab, next_seq next), expects the request line want,
 * answers reply, and keeps the connection open for linger_ms. Its exit
 * status is 0 when the request was want; fake_resumer_ok waits for it.
 */
static pid_t fake_resumer(int lfd, uint64_t next, const char *want, const char *reply, int linger_ms)
{
	pid_t pid = fork();

	if (pid == 0) {
		char buf[1024];

		alarm(10); /* never outlive a failed test */
		int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		snprintf(buf, sizeof(buf), "HELLO mypoll 1 00000000000000ab %llu\n", (unsigned long long)next);
		fake_send(s, buf);
		if (fake_recv(s, buf, sizeof(buf)) <= 0 || strcmp(buf, want) != 0)
			_exit(1);
		fake_send(s, reply);
		msleep(linger_ms);
		_exit(0);
	}
	return pid;
}

static int fake_resumer_ok(pid_t pid)
{
	int status = -1;

	waitpid(pid, &status, 0);
	return status == 0;
}

/* fake_pair connects m to a new fake server connection and sends HELLO. */
static int fake_pair(int lfd, mypoll *m, const char *hello)
{
	if (mypoll_connect(m, fake_sock, MYPOLL_NONBLOCK) < 0)
		return -1;
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c >= 0 && hello)
		fake_send(c, hello);
	return c;
}

static int process_until_error(mypoll *m)
{
	int rc = 0;

	for (int i = 0; i < 100 && rc >= 0; i++) {
		struct pollfd pfd = {mypoll_fd(m), POLLIN, 0};
		poll(&pfd, 1, 20);
		rc = mypoll_process(m);
	}
	return rc;
}

static void note_reply(void *user, struct mypoll_reply *r)
{
	*(int *)user = r->error ? r->error : 1;
}

#define HELLO "HELLO mypoll 1 00000000000000ab 1\n"

static void test_fake_err_mapping(void)
{
	static const struct {
		const char *name;
		int err;
	} map[] = {
		{"EINVAL", -EINVAL}, {"E2BIG", -E2BIG}, {"EILSEQ", -EILSEQ}, {"ENOSYS", -ENOSYS},
		{"EPERM", -EPERM}, {"ENODEV", -ENODEV}, {"EBUSY", -EBUSY}, {"ENOENT", -ENOENT},
		{"EMFILE", -EMFILE}, {"EIO", -EIO}, {"EFUTURE", -EIO},
	};
	int lfd = fake_listen();
	mypoll *m = mypoll_new(0);

	CHECK(lfd >= 0 && m);
	current = m;
	int c = fake_pair(lfd, m, HELLO);
	CHECK(c >= 0);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		char line[128];
		int got = 0;

		CHECK(mypoll_echo_async(m, "x", note_reply, &got) > 0);
		snprintf(line, sizeof(line), "ERR echo %s some text\n", map[i].name);
		fake_send(c, line);
		for (int k = 0; k < 100 && !got; k++) {
			struct pollfd pfd = {mypoll_fd(m), POLLIN, 0};
			poll(&pfd, 1, 20);
			CHECK(mypoll_process(m) >= 0);
		}
		CHECK_RC(got, map[i].err);
	}
	/* ERR - ... (the server could not read a verb) answers the request too. */
	int got = 0;
	CHECK(mypoll_trigger_async(m, 1, 1, note_reply, &got) > 0);
	fake_send(c, "ERR - EILSEQ request is not printable ASCII\n");
	for (int k = 0; k < 100 && !got; k++) {
		struct pollfd pfd = {mypoll_fd(m), POLLIN, 0};
		poll(&pfd, 1, 20);
		CHECK(mypoll_process(m) >= 0);
	}
	CHECK_RC(got, -EILSEQ);
	/* A refused client: ERR - EMFILE instead of HELLO. */
	close(c);
	c = fake_pair(lfd, m, "ERR - EMFILE too many clients (max 1)\n");
	CHECK(c >= 0);
	CHECK_RC(process_until_error(m), -EMFILE);
	CHECK(strstr(mypoll_errmsg(m), "too many clients"));
	close(c);
	close(lfd);
	mypoll_free(m);
	current = NULL;
}

static void test_fake_malformed(void)
{
	static const char *const bad[] = {
		"EVT 1 trigger\n",
		"EVT x trigger 0 0 0 0\n",
		"EVT 18446744073709551616 trigger 0 0 0 0\n",
		"EVT 1 bogus 0 0 0 0\n",
		"EVT 1 trigger 4294967296 0 0 0\n",
		"EVT 1 trigger 0 0 0 0 extra\n",
		"EVT -1 trigger 0 0 0 0\n",
		"EVT 1 trigger 0 0 0 0\r\n",
		"LOST 5 4 1 queue\n",
		"LOST 1 2 3 queue\n",
		"LOST 1 2 0 queue\n",
		"LOST 1 2 1 why\n",
		"OK trigger 1\n",
		"OK trigger 1 0\n",
		"OK trigger x 1\n",
		"OK echo x\n",        /* verb mismatch: trigger is outstanding */
		"OK stats clients=1\n",
		"OK\n",
		"OK \n",
		"ERR trigger einval lower case\n",
		"ERR trigger\n",
		"\x80\x81\n",
		"EVT 1 trigger 0 0 0 \x01\n",
		"BOGUS line\n",
		"\n",
		"HELLO mypoll 1 00000000000000ab 1\n",
	};
	int lfd = fake_listen();
	int fds0 = count_fds();

	CHECK(lfd >= 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mypoll *m = mypoll_new(0);
		int got = 0;

		CHECK(m);
		current = m;
		int c = fake_pair(lfd, m, HELLO);
		CHECK(c >= 0);
		CHECK(mypoll_trigger_async(m, 1, 1, note_reply, &got) > 0);
		fake_send(c, bad[i]);
		int rc = process_until_error(m);
		if (rc != -EPROTO)
			fprintf(stderr, "    line %zu %s: rc %d\n", i, bad[i], rc);
		CHECK_RC(rc, -EPROTO);
		CHECK_RC(got, -EPROTO); /* the outstanding request failed, not lost */
		CHECK_RC(mypoll_fd(m), -1);
		close(c);
		mypoll_free(m);
	}
	/* First line not HELLO; wrong version; a line longer than the limit. */
	static const char *const bad_start[] = {"OK echo\n", "HELLO mypoll 2 00000000000000ab 1\n",
						"HELLO mypoll 1 00000000000000AB 1\n"};
	for (size_t i = 0; i < 3; i++) {
		mypoll *m = mypoll_new(0);

		current = m;
		int c = fake_pair(lfd, m, bad_start[i]);
		CHECK_RC(process_until_error(m), -EPROTO);
		close(c);
		mypoll_free(m);
	}
	mypoll *m = mypoll_new(0);
	current = m;
	int c = fake_pair(lfd, m, HELLO);
	char *big = malloc(3 * MYPOLL_LINE_MAX);
	memset(big, 'A', 3 * MYPOLL_LINE_MAX - 1);
	big[3 * MYPOLL_LINE_MAX - 1] = '\0';
	fake_send(c, big);
	free(big);
	CHECK_RC(process_until_error(m), -EPROTO);
	CHECK(strstr(mypoll_errmsg(m), "longer"));
	close(c);
	mypoll_free(m);
	/* A reply with nothing outstanding. */
	m = mypoll_new(0);
	current = m;
	c = fake_pair(lfd, m, HELLO "OK echo hi\n");
	CHECK_RC(process_until_error(m), -EPROTO);
	close(c);
	mypoll_free(m);
	close(lfd);
	CHECK_RC(count_fds(), fds0 - 1);
	current = NULL;
}

static int send_fds(int sock_fd, const char *line, const int *fds, int n)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(16 * sizeof(int))];
	} cm;
	struct iovec iov = {(void *)line, strlen(line)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	if (n) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
		struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
		memcpy(CMSG_DATA(h), fds, (size_t)n * sizeof(int));
	}
	return sendmsg(sock_fd, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

struct dev_reply {
	int done, error, fd;
};

static void keep_fd(void *user, struct mypoll_reply *r)
{
	struct dev_reply *d = user;

	d->done = 1;
	d->error = r->error;
	d->fd = r->u.open_device.fd;
	r->u.open_device.fd = -1; /* ours now */
}

static void wait_done(mypoll *m, const int *done)
{
	for (int k = 0; k < 100 && !*done; k++) {
		struct pollfd pfd = {mypoll_fd(m), POLLIN, 0};
		poll(&pfd, 1, 20);
		if (mypoll_process(m) < 0)
			return;
	}
}

static void test_fake_open_device(void)
{
	int lfd = fake_listen(), p[2], many[10];
	struct stat want, got;
	mypoll *m = mypoll_new(0);

	CHECK(lfd >= 0 && m && pipe(p) == 0);
	current = m;
	int fds0 = count_fds();
	int c = fake_pair(lfd, m, HELLO);
	CHECK(c >= 0);
	/* One descriptor on the OK line: the caller gets it. */
	struct dev_reply d = {0, 0, -1};
	CHECK(mypoll_open_device_async(m, keep_fd, &d) > 0);
	CHECK_RC(send_fds(c, "OK open_device\n", &p[0], 1), 0);
	wait_done(m, &d.done);
	CHECK_RC(d.error, 0);
	CHECK(d.fd >= 0 && fstat(d.fd, &got) == 0 && fstat(p[0], &want) == 0);
	CHECK(got.st_ino == want.st_ino);
	CHECK(fcntl(d.fd, F_GETFD) & FD_CLOEXEC);
	close(d.fd);
	/* Ten descriptors: more than the control buffer holds (MSG_CTRUNC).
	 * The request fails and every descriptor received is closed. */
	for (int i = 0; i < 10; i++)
		many[i] = p[1];
	d = (struct dev_reply){0, 0, -1};
	CHECK(mypoll_open_device_async(m, keep_fd, &d) > 0);
	CHECK_RC(send_fds(c, "OK open_device\n", many, 10), 0);
	wait_done(m, &d.done);
	CHECK_RC(d.error, -EMSGSIZE);
	CHECK_RC(d.fd, -1);
	/* OK without a descriptor. */
	d = (struct dev_reply){0, 0, -1};
	CHECK(mypoll_open_device_async(m, keep_fd, &d) > 0);
	fake_send(c, "OK open_device\n");
	wait_done(m, &d.done);
	CHECK_RC(d.error, -EBADMSG);
	/* A callback that does not take its fd has it closed (counted below). */
	int taken = 0;
	CHECK(mypoll_open_device_async(m, note_reply, &taken) > 0);
	CHECK_RC(send_fds(c, "OK open_device\n", &p[0], 1), 0);
	wait_done(m, &taken);
	CHECK_RC(taken, 1);
	/* mypoll_wait() hands it over. */
	int id = mypoll_open_device_async(m, NULL, NULL);
	CHECK(id > 0);
	CHECK_RC(send_fds(c, "OK open_device\n", &p[0], 1), 0);
	struct mypoll_reply r;
	CHECK_RC(mypoll_wait(m, id, &r, 2000), 0);
	CHECK(r.error == 0 && r.u.open_device.fd >= 0);
	close(r.u.open_device.fd);
	/* The blocking form returns the descriptor. */
	CHECK_RC(send_fds(c, "OK open_device\n", &p[0], 1), 0);
	int fd = mypoll_open_device(m);
	CHECK(fd >= 0);
	close(fd);
	/* A descriptor whose line is not complete yet is held, then closed
	 * with the handle. */
	CHECK(mypoll_open_device_async(m, NULL, NULL) > 0);
	CHECK_RC(send_fds(c, "OK open_dev", &p[0], 1), 0);
	msleep(20);
	CHECK_RC(mypoll_process(m), 0);
	current = NULL;
	mypoll_free(m); /* closes the one still held, and its eventfd (1.1) */
	close(c);
	CHECK_RC(count_fds(), fds0 - 1);
	close(p[0]);
	close(p[1]);
	close(lfd);
	current = NULL;
}

/* The resume request on the wire, against a server with the same instance. */
static void test_fake_resume_wire(void)
{
	int lfd = fake_listen();
	struct rec *r = rec_new();
	mypoll *m = mypoll_new(0);

	CHECK(lfd >= 0 && m);
	current = m;
	mypoll_set_callbacks(m, rec_event, rec_lost, r);
	int c = fake_pair(lfd, m, "HELLO mypoll 1 00000000000000ab 10\n");
	int id = mypoll_subscribe_async(m, "timer", 0, NULL, NULL);
	CHECK(c >= 0 && id > 0);
	fake_send(c, "OK subscribe timer\nEVT 10 timer 1 5 0 99\nEVT 11 timer 1 6 0 100\n"
		     "LOST 12 14 2 queue\n");
	struct mypoll_reply rep;
	CHECK_RC(mypoll_wait(m, id, &rep, 2000), 0);
	CHECK(pump_until(m, &r->lost_lines, 1, 2000) >= 0);
	CHECK_RC(mypoll_last_seq(m), 14);
	close(c);
	CHECK_RC(process_until_error(m), -ECONNRESET);
	pid_t pid = fake_resumer(lfd, 16, "subscribe timer from=15\n", "OK subscribe timer\nEVT 15 timer 1 7 0 101\n", 200);
	CHECK_RC(mypoll_resume(m), 0);
	CHECK(pump_until(m, &r->n, 3, 2000) >= 0);
	CHECK(fake_resumer_ok(pid));
	CHECK_RC(r->n, 3);
	CHECK_RC(r->seq[2], 15);
	CHECK_RC(r->bad_order, 0);
	mypoll_free(m);
	free(r);
	close(lfd);
	current = NULL;
}

/* Resuming from a position beyond the daemon's next_seq for the same
 * instance (a damaged cursor): the daemon answers ERANGE (PROTOCOL A.8); the
 * library subscribes again from HELLO's next_seq N and reports 1..N-1 as one
 * loss (MYPOLL_LOST_RANGE, count N-1) before the events that follow. */
static void test_fake_resume_erange(void)
{
	int lfd = fake_listen();
	struct rec *r = rec_new();
	mypoll *m = mypoll_new(0);

	CHECK(lfd >= 0 && m);
	current = m;
	mypoll_set_callbacks(m, rec_event, rec_lost, r);
	int c = fake_pair(lfd, m, "HELLO mypoll 1 00000000000000ab 10\n");
	int id = mypoll_subscribe_async(m, "timer", 0, NULL, NULL);
	CHECK(c >= 0 && id > 0);
	fake_send(c, "OK subscribe timer\nEVT 10 timer 1 5 0 99\nEVT 11 timer 1 6 0 100\n");
	struct mypoll_reply rep;
	CHECK_RC(mypoll_wait(m, id, &rep, 2000), 0);
	CHECK(pump_until(m, &r->n, 2, 2000) >= 0);
	CHECK_RC(mypoll_last_seq(m), 11);
	close(c);
	CHECK_RC(process_until_error(m), -ECONNRESET);
	pid_t pid = fork();
	if (pid == 0) {
		char buf[256] = {0};
		alarm(10); /* never outlive a failed test */
		int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		fake_send(s, "HELLO mypoll 1 00000000000000ab 5\n");
		ssize_t n = read(s, buf, sizeof(buf) - 1);
		if (n <= 0 || strcmp(buf, "subscribe timer from=12\n") != 0)
			_exit(1);
		fake_send(s, "ERR subscribe ERANGE from=12 is beyond next_seq 5\n");
		memset(buf, 0, sizeof(buf));
		n = read(s, buf, sizeof(buf) - 1);
		if (n <= 0 || strcmp(buf, "subscribe timer from=5\n") != 0)
			_exit(2);
		fake_send(s, "OK subscribe timer\nEVT 5 timer 1 7 0 101\n");
		msleep(200);
		_exit(0);
	}
	r->last = 0; /* the position goes back by design: not an order error */
	CHECK_RC(mypoll_resume(m), 0);
	CHECK(pump_until(m, &r->n, 3, 2000) >= 0);
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK_RC(status, 0);
	CHECK_RC(r->n, 3);
	CHECK_RC(r->seq[2], 5);
	CHECK_RC(r->lost_lines, 1);
	CHECK(r->lost[0].first == 1 && r->lost[0].last == 4 && r->lost[0].count == 4 &&
	      r->lost[0].reason == MYPOLL_LOST_RANGE);
	CHECK_RC(r->n_at_lost[0], 2); /* before event 5 */
	CHECK_RC(r->bad_order, 0);
	CHECK_RC(mypoll_last_seq(m), 5);
	mypoll_free(m);
	free(r);
	close(lfd);
	current = NULL;
}

struct reentry {
	mypoll *m;
	int calls, process_rc, async_rc;
};

/* A reply callback that tries what callbacks may and may not do. */
static void reenter(void *user, struct mypoll_reply *r)
{
	struct reentry *e = user;

	e->calls++;
	if (e->calls == 1) {
		e->process_rc = mypoll_process(e->m);      /* refused */
		e->async_rc = mypoll_echo_async(e->m, "from cb", reenter, e); /* allowed */
		mypoll_disconnect(e->m);                   /* allowed: fails the rest */
	}
	(void)r;
}

static void test_fake_callback_reentry(void)
{
	int lfd = fake_listen();
	struct reentry e = {NULL, 0, 0, 0};
	mypoll *m = mypoll_new(0);
	int got = 0;

	CHECK(lfd >= 0 && m);
	current = m;
	e.m = m;
	int c = fake_pair(lfd, m, HELLO);
	CHECK(c >= 0);
	CHECK(mypoll_echo_async(m, "a", reenter, &e) > 0);
	CHECK(mypoll_echo_async(m, "b", note_reply, &got) > 0);
	fake_send(c, "OK echo a\nOK echo b\n");
	for (int k = 0; k < 100 && mypoll_fd(m) >= 0; k++) {
		struct pollfd pfd = {mypoll_fd(m), POLLIN, 0};
		poll(&pfd, 1, 20);
		CHECK(mypoll_process(m) >= 0);
	}
	CHECK_RC(e.process_rc, -EDEADLK);
	CHECK(e.async_rc > 0);
	CHECK_RC(e.calls, 2); /* its own reply, then the queued one failed */
	CHECK_RC(got, -ECONNRESET); /* b was not dispatched after the disconnect */
	CHECK_RC(mypoll_fd(m), -1);
	close(c);
	close(lfd);
	current = NULL;
	mypoll_free(m);
}

/* A listener whose backlog is full: non-blocking connect says -EAGAIN, the
 * blocking one retries until its timeout. */
static void test_fake_backlog_full(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), filler[8], nfill = 0;
	mypoll *m = mypoll_new(0);

	CHECK(lfd >= 0 && m);
	current = m;
	unlink(fake_sock);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fake_sock);
	CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 0) == 0);
	for (; nfill < 8; nfill++) {
		filler[nfill] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (connect(filler[nfill], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(filler[nfill]);
			break;
		}
	}
	CHECK(nfill < 8);
	CHECK_RC(mypoll_connect(m, fake_sock, MYPOLL_NONBLOCK), -EAGAIN);
	mypoll_set_timeout(m, 100);
	int64_t t0 = now_ms();
	CHECK_RC(mypoll_connect(m, fake_sock, 0), -ETIMEDOUT);
	CHECK(now_ms() - t0 >= 100);
	CHECK_RC(mypoll_fd(m), -1);
	for (int i = 0; i < nfill; i++)
		close(filler[i]);
	close(lfd);
	current = NULL;
	mypoll_free(m);
}

/* ---- issue 24 ---- */

/* Item 1: the server answers, then closes; the application writes again and
 * the write fails (EPIPE). Everything read before the close is delivered
 * first: the answered requests succeed, the event arrives, and only the
 * request that was never answered fails. */
static void test_fake_reply_before_epipe(void)
{
	int lfd = fake_listen();
	struct rec *r = rec_new();
	mypoll *m = mypoll_new(0);
	int sub = 0, trig = 0, late = 0;
	char buf[256];
	size_t got = 0;

	CHECK(lfd >= 0 && m && r);
	current = m;
	mypoll_set_callbacks(m, rec_event, rec_lost, r);
	int c = fake_pair(lfd, m, HELLO);
	CHECK(c >= 0);
	CHECK(mypoll_subscribe_async(m, "all", 0, note_reply, &sub) > 0);
	CHECK(mypoll_trigger_async(m, 7, 1, note_reply, &trig) > 0);
	/* The server reads both requests, answers and closes. */
	while (got < 2) {
		ssize_t n = read(c, buf, sizeof(buf));
		CHECK(n > 0);
		for (ssize_t i = 0; i < n; i++)
			got += buf[i] == '\n';
	}
	fake_send(c, "OK subscribe all\nOK trigger 5 1\nEVT 5 trigger 0 7 0 99\n");
	close(c);
	/* The application has not read yet and sends another request. */
	CHECK(mypoll_echo_async(m, "after", note_reply, &late) > 0);
	CHECK_RC(process_until_error(m), -ECONNRESET);
	CHECK_RC(sub, 1);
	CHECK_RC(trig, 1);
	CHECK_RC(r->n, 1);
	CHECK_RC(r->seq[0], 5);
	CHECK_RC(late, -ECONNRESET);
	CHECK_RC(mypoll_fd(m), -1);
	mypoll_free(m);
	free(r);
	close(lfd);
	current = NULL;
}

/* Item 1 with the real daemon: quit is answered, then the daemon closes; a
 * request written after the close must not turn the OK quit into a failure. */
static void test_quit_then_write(void)
{
	mypoll *m = dial(NULL);
	int q = 0, late = 0;

	CHECK(m);
	current = m;
	CHECK(mypoll_quit_async(m, note_reply, &q) > 0);
	msleep(200); /* the daemon answers and closes meanwhile */
	CHECK(mypoll_echo_async(m, "late", note_reply, &late) > 0);
	CHECK_RC(process_until_error(m), -ECONNRESET);
	CHECK_RC(q, 1);
	CHECK(late < 0);
	mypoll_free(m);
	current = NULL;
}

/* Item 3: A.6's order is enforced: an EVT whose seq does not go up, or a
 * LOST that starts at or below the last seq, fails the connection (-EPROTO)
 * and never reaches a callback. */
static void test_fake_order(void)
{
	static const struct {
		const char *lines;
		uint64_t delivered; /* events and losses before the bad line */
	} cases[] = {
		{"EVT 5 trigger 0 1 0 9\nEVT 5 trigger 0 1 0 9\n", 1},
		{"EVT 6 trigger 0 1 0 9\nEVT 5 trigger 0 1 0 9\n", 1},
		{"EVT 6 trigger 0 1 0 9\nLOST 3 4 1 queue\n", 1},
		{"EVT 6 trigger 0 1 0 9\nLOST 6 8 1 queue\n", 1},
		{"LOST 3 6 2 queue\nEVT 6 trigger 0 1 0 9\n", 1},
		{"LOST 3 6 2 queue\nLOST 5 7 1 device\n", 1},
		{"EVT 2 trigger 0 1 0 9\nEVT 3 trigger 0 1 0 9\nEVT 1 timer 1 1 0 9\n", 2},
	};
	int lfd = fake_listen();

	CHECK(lfd >= 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rec *r = rec_new();
		mypoll *m = mypoll_new(0);
		int got = 0;

		CHECK(m && r);
		current = m;
		mypoll_set_callbacks(m, rec_event, rec_lost, r);
		int c = fake_pair(lfd, m, HELLO);
		CHECK(c >= 0);
		CHECK(mypoll_echo_async(m, "x", note_reply, &got) > 0);
		fake_send(c, cases[i].lines);
		int rc = process_until_error(m);
		if (rc != -EPROTO)
			fprintf(stderr, "    case %zu: rc %d\n", i, rc);
		CHECK_RC(rc, -EPROTO);
		CHECK_RC(r->n + r->lost_lines, cases[i].delivered);
		CHECK_RC(r->bad_order, 0);
		CHECK_RC(got, -EPROTO);
		close(c);
		mypoll_free(m);
		free(r);
	}
	/* A new connection starts a new order (a reloaded module restarts seqs). */
	struct rec *r = rec_new();
	mypoll *m = mypoll_new(0);
	CHECK(m && r);
	current = m;
	mypoll_set_callbacks(m, rec_event, rec_lost, r);
	int c = fake_pair(lfd, m, HELLO);
	fake_send(c, "EVT 9 trigger 0 1 0 9\n");
	CHECK(pump_until(m, &r->n, 1, 2000) >= 0);
	close(c);
	CHECK_RC(process_until_error(m), -ECONNRESET);
	r->last = 0;
	c = fake_pair(lfd, m, "HELLO mypoll 1 00000000000000cd 1\n");
	fake_send(c, "EVT 1 trigger 0 1 0 9\n");
	CHECK(pump_until(m, &r->n, 2, 2000) >= 0);
	CHECK_RC(r->n, 2);
	close(c);
	mypoll_free(m);
	free(r);
	close(lfd);
	current = NULL;
}

/* Item 3: a descriptor is accepted only with the OK open_device line it came
 * with. One sent with another line fails the connection (-EPROTO), is closed,
 * and is never handed to a later open_device. */
static void test_fake_fd_on_wrong_line(void)
{
	int lfd = fake_listen(), p[2];

	CHECK(lfd >= 0 && pipe(p) == 0);
	int fds0 = count_fds();
	mypoll *m = mypoll_new(0);
	int sub = 0;
	struct dev_reply d = {0, 0, -1};

	CHECK(m);
	current = m;
	int c = fake_pair(lfd, m, HELLO);
	CHECK(c >= 0);
	CHECK(mypoll_subscribe_async(m, "all", 0, note_reply, &sub) > 0);
	CHECK(mypoll_open_device_async(m, keep_fd, &d) > 0);
	CHECK_RC(send_fds(c, "OK subscribe all\n", &p[0], 1), 0);
	msleep(20);
	fake_send(c, "OK open_device\n");
	CHECK_RC(process_until_error(m), -EPROTO);
	CHECK_RC(sub, 1);
	CHECK_RC(d.done, 1);
	CHECK_RC(d.fd, -1);
	CHECK_RC(d.error, -EPROTO);
	close(c);
	mypoll_free(m);
	CHECK_RC(count_fds(), fds0);
	/* The descriptor comes with OK open_device and the lines after it in the
	 * same message (as mypolld sends it), after lines of earlier messages. */
	m = mypoll_new(0);
	current = m;
	struct rec *r = rec_new();
	mypoll_set_callbacks(m, rec_event, rec_lost, r);
	c = fake_pair(lfd, m, HELLO);
	d = (struct dev_reply){0, 0, -1};
	int e = 0;
	CHECK(mypoll_echo_async(m, "x", note_reply, &e) > 0);
	CHECK(mypoll_open_device_async(m, keep_fd, &d) > 0);
	fake_send(c, "OK echo x\nEVT 3 trigger 0 1 0 9\n");
	CHECK_RC(send_fds(c, "OK open_device\nEVT 4 trigger 0 1 0 9\n", &p[0], 1), 0);
	wait_done(m, &d.done);
	CHECK_RC(e, 1);
	CHECK_RC(d.error, 0);
	CHECK(d.fd >= 0);
	close(d.fd);
	CHECK(pump_until(m, &r->n, 2, 2000) >= 0);
	CHECK_RC(r->n, 2);
	close(c);
	mypoll_free(m);
	free(r);
	CHECK_RC(count_fds(), fds0);
	close(p[0]);
	close(p[1]);
	close(lfd);
	current = NULL;
}

/* Item 4: MYPOLL_MAX_WAIT_REPLIES requests without a callback may be
 * outstanding, as the header says; one more is refused with -ENOBUFS. */
static void test_wait_reply_limit(void)
{
	mypoll *m = dial(NULL);
	int ids[MYPOLL_MAX_WAIT_REPLIES];
	struct mypoll_reply rep;

	CHECK(m);
	current = m;
	for (int i = 0; i < MYPOLL_MAX_WAIT_REPLIES; i++)
		CHECK((ids[i] = mypoll_echo_async(m, "w", NULL, NULL)) > 0);
	CHECK_RC(mypoll_echo_async(m, "w", NULL, NULL), -ENOBUFS);
	for (int i = 0; i < MYPOLL_MAX_WAIT_REPLIES; i++)
		CHECK_RC(mypoll_wait(m, ids[i], &rep, 5000), 0);
	mypoll_free(m);
	current = NULL;
}

struct seen {
	int calls, error;
	char text[64];
};

static void seen_reply(void *user, struct mypoll_reply *r)
{
	struct seen *s = user;

	s->calls++;
	s->error = r->error;
	snprintf(s->text, sizeof(s->text), "%.63s", r->text);
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Item 5: a request timeout completes an unanswered request with
 * -ETIMEDOUT at its deadline, which mypoll_get_timeout() announces; the late
 * reply is discarded and the next request still gets its own. */
static void test_fake_request_timeout(void)
{
	int lfd = fake_listen();
	mypoll *m = mypoll_new(0);
	struct seen trig = {0, 0, ""}, next = {0, 0, ""};
	struct mypoll_reply rep;
	uint64_t us;

	CHECK(lfd >= 0 && m);
	current = m;
	int c = fake_pair(lfd, m, HELLO);
	CHECK(c >= 0);
	CHECK_RC(mypoll_get_timeout(m, &us), 0);
	CHECK(us == UINT64_MAX);
	CHECK_RC(mypoll_get_timeout_ms(m), -1);
	mypoll_set_request_timeout(m, 150);
	int64_t t0 = now_ms(), u0 = mono_us();
	CHECK(mypoll_trigger_async(m, 1, 1, seen_reply, &trig) > 0);
	int id = mypoll_echo_async(m, "kept", NULL, NULL);
	CHECK(id > 0);
	CHECK_RC(mypoll_get_timeout(m, &us), 1);
	CHECK((int64_t)us >= u0 + 150000 && (int64_t)us <= mono_us() + 150000);
	int ms = mypoll_get_timeout_ms(m);
	CHECK(ms > 50 && ms <= 150);
	/* The application's loop: poll until the announced deadline. */
	while (!trig.calls && now_ms() - t0 < 3000) {
		struct pollfd pfd = {mypoll_fd(m), mypoll_poll_events(m), 0};
		poll(&pfd, 1, mypoll_get_timeout_ms(m));
		CHECK(mypoll_process(m) >= 0);
	}
	int64_t took = now_ms() - t0;
	CHECK_RC(trig.calls, 1);
	CHECK_RC(trig.error, -ETIMEDOUT);
	CHECK(took >= 150 && took < 1500);
	CHECK_RC(mypoll_wait(m, id, &rep, 1000), 0);
	CHECK_RC(rep.error, -ETIMEDOUT);
	CHECK_RC(mypoll_get_timeout_ms(m), -1);
	/* The late replies are dropped; the next request gets its own. */
	mypoll_set_request_timeout(m, -1);
	CHECK(mypoll_echo_async(m, "next", seen_reply, &next) > 0);
	fake_send(c, "OK trigger 5 1\nOK echo kept\nOK echo next\n");
	wait_done(m, &next.calls);
	CHECK_RC(next.calls, 1);
	CHECK_RC(next.error, 0);
	CHECK(strcmp(next.text, "next") == 0);
	CHECK_RC(trig.calls, 1);
	CHECK(mypoll_fd(m) >= 0);
	/* A blocking call's wait fires other requests' deadlines too. */
	mypoll_set_request_timeout(m, 100);
	trig = (struct seen){0, 0, ""};
	CHECK(mypoll_trigger_async(m, 1, 1, seen_reply, &trig) > 0);
	mypoll_set_request_timeout(m, -1);
	mypoll_set_timeout(m, 400);
	t0 = now_ms();
	CHECK_RC(mypoll_echo(m, "never", NULL, 0), -ETIMEDOUT);
	CHECK_RC(trig.calls, 1);
	CHECK_RC(trig.error, -ETIMEDOUT);
	close(c);
	mypoll_free(m);
	close(lfd);
	current = NULL;
}

struct conn_log {
	int ep, opened, ready, closed, last_err, bad;
	int fd;
};

/* The connection callback of an epoll application. */
static void conn_cb(void *user, int event, int fd, int error)
{
	struct conn_log *l = user;
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	switch (event) {
	case MYPOLL_CONN_OPENED:
		l->opened++;
		l->fd = fd;
		if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			l->bad++;
		break;
	case MYPOLL_CONN_READY:
		l->ready++;
		if (fd != l->fd)
			l->bad++;
		break;
	case MYPOLL_CONN_CLOSED:
		l->closed++;
		l->last_err = error;
		if (fd != l->fd || epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL) < 0)
			l->bad++;
		l->fd = -1;
		break;
	default:
		l->bad++;
	}
}

/* epoll_pump runs an epoll loop until *n >= want; every mypoll_process()
 * must return at once (non-blocking). Returns the longest call in ms. */
static int epoll_pump(int ep, mypoll *m, const int *n, int want, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	int longest = 0;

	while (*n < want && now_ms() < end) {
		struct epoll_event ev;
		int t = mypoll_get_timeout_ms(m);

		epoll_wait(ep, &ev, 1, t < 0 || t > 50 ? 50 : t);
		int64_t t0 = now_ms();
		int rc = mypoll_process(m);
		if (now_ms() - t0 > longest)
			longest = (int)(now_ms() - t0);
		if (rc < 0 && rc != -ENOTCONN)
			return rc;
	}
	return longest;
}

static void count_event(void *user, const struct mypoll_event *ev)
{
	rec_event(user, ev);
}

/* Item 6: automatic non-blocking reconnection with backoff; the epoll loop
 * follows the descriptor through the connection callback; the subscription
 * resumes from the last seq + 1. */
static void test_fake_auto_reconnect(void)
{
	int lfd = fake_listen();
	struct rec *r = rec_new();
	mypoll *m = mypoll_new(0);
	struct conn_log log = {epoll_create1(EPOLL_CLOEXEC), 0, 0, 0, 0, 0, -1};
	int sub = 0;
	int nev = 0;

	CHECK(lfd >= 0 && m && log.ep >= 0);
	current = m;
	mypoll_set_callbacks(m, count_event, rec_lost, r);
	mypoll_set_conn_callback(m, conn_cb, &log);
	mypoll_reconnect_delay_set(m, 40, 160, 1);
	int c = fake_pair(lfd, m, HELLO);
	CHECK(c >= 0);
	CHECK_RC(log.opened, 1);
	CHECK(mypoll_subscribe_async(m, "timer", 0, note_reply, &sub) > 0);
	fake_send(c, "OK subscribe timer\nEVT 10 timer 1 5 0 99\nEVT 11 timer 1 6 0 100\n");
	nev = 0;
	while (r->n < 2 && nev++ < 100)
		CHECK(epoll_pump(log.ep, m, &log.ready, 99, 20) >= 0);
	CHECK_RC(r->n, 2);
	CHECK_RC(log.ready, 1);
	/* The server goes away. */
	close(c);
	close(lfd);
	unlink(fake_sock);
	CHECK(epoll_pump(log.ep, m, &log.closed, 1, 2000) >= 0);
	CHECK_RC(log.closed, 1);
	CHECK_RC(log.last_err, -ECONNRESET);
	CHECK_RC(mypoll_fd(m), -1);
	CHECK_RC(mypoll_echo_async(m, "x", NULL, NULL), -ENOTCONN);
	/* Backoff: 40, 80, 160, 160 ms between attempts (no socket there). */
	static const int want[] = {40, 80, 160, 160};
	for (int i = 0; i < 4; i++) {
		int t = mypoll_get_timeout_ms(m);
		/* Slack for a loaded machine, less than the steps between
		 * exponential (40, 80, 160) and linear (40, 80, 120) delays. */
		if (t > want[i] || t < want[i] - 35)
			fprintf(stderr, "    attempt %d in %d ms, want %d\n", i, t, want[i]);
		CHECK(t <= want[i] && t >= want[i] - 35);
		msleep(t);
		int64_t t0 = now_ms();
		CHECK_RC(mypoll_process(m), 0);
		CHECK(now_ms() - t0 < 100); /* a blocking attempt would wait 5 s */
		CHECK_RC(log.opened, 1);
	}
	/* The server is back: the next attempt connects and resumes. */
	lfd = fake_listen();
	CHECK(lfd >= 0);
	pid_t pid = fork();
	if (pid == 0) {
		char buf[256] = {0};
		alarm(10); /* never outlive a failed test */
		int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		fake_send(s, "HELLO mypoll 1 00000000000000ab 13\n");
		ssize_t n = read(s, buf, sizeof(buf) - 1);
		if (n <= 0 || strcmp(buf, "subscribe timer from=12\n") != 0)
			_exit(1);
		fake_send(s, "OK subscribe timer\nEVT 12 timer 1 7 0 101\n");
		n = read(s, buf, sizeof(buf) - 1); /* until the client closes */
		_exit(0);
	}
	int longest = epoll_pump(log.ep, m, &log.ready, 2, 3000);
	CHECK(longest >= 0 && longest < 100);
	CHECK_RC(log.opened, 2);
	CHECK_RC(log.ready, 2);
	nev = 0;
	while (r->n < 3 && nev++ < 100)
		CHECK(epoll_pump(log.ep, m, &log.ready, 99, 20) >= 0);
	CHECK_RC(r->n, 3);
	CHECK_RC(r->seq[2], 12);
	CHECK_RC(r->bad_order, 0);
	CHECK(mypoll_echo_async(m, "x", NULL, NULL) > 0);
	mypoll_free(m);
	CHECK_RC(log.closed, 2);
	CHECK_RC(log.bad, 0);
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK_RC(status, 0);
	close(log.ep);
	close(lfd);
	free(r);
	current = NULL;
}

/* Item 6: an automatic reconnection whose server sends no HELLO in time
 * counts as failed; the next one resumes, with ERANGE handled as
 * mypoll_resume() does (one MYPOLL_LOST_RANGE loss, then from next_seq). No
 * allocation on the way. */
static void test_fake_auto_reconnect_erange(void)
{
	int lfd = fake_listen();
	struct rec *r = rec_new();
	mypoll *m = mypoll_new(0);
	struct conn_log log = {epoll_create1(EPOLL_CLOEXEC), 0, 0, 0, 0, 0, -1};
	int sub = 0, nev = 0;

	CHECK(lfd >= 0 && m && log.ep >= 0);
	current = m;
	long before = allocs;
	mypoll_set_callbacks(m, rec_event, rec_lost, r);
	mypoll_set_conn_callback(m, conn_cb, &log);
	mypoll_reconnect_delay_set(m, 10, 10, 0);
	mypoll_set_timeout(m, 150);
	int c = fake_pair(lfd, m, HELLO);
	CHECK(c >= 0);
	CHECK(mypoll_subscribe_async(m, "timer", 0, note_reply, &sub) > 0);
	fake_send(c, "OK subscribe timer\nEVT 10 timer 1 5 0 99\nEVT 11 timer 1 6 0 100\n");
	while (r->n < 2 && nev++ < 100)
		CHECK(epoll_pump(log.ep, m, &log.ready, 99, 20) >= 0);
	CHECK_RC(r->n, 2);
	close(c);
	pid_t pid = fork();
	if (pid == 0) {
		char buf[256] = {0};
		alarm(10);
		int mute = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* no HELLO */
		int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		fake_send(s, "HELLO mypoll 1 00000000000000ab 5\n");
		ssize_t n = read(s, buf, sizeof(buf) - 1);
		if (n <= 0 || strcmp(buf, "subscribe timer from=12\n") != 0)
			_exit(1);
		fake_send(s, "ERR subscribe ERANGE from=12 is beyond next_seq 5\n");
		memset(buf, 0, sizeof(buf));
		n = read(s, buf, sizeof(buf) - 1);
		if (n <= 0 || strcmp(buf, "subscribe timer from=5\n") != 0)
			_exit(2);
		fake_send(s, "OK subscribe timer\nEVT 5 timer 1 7 0 101\n");
		n = read(s, buf, sizeof(buf) - 1);
		close(mute);
		_exit(0);
	}
	CHECK(epoll_pump(log.ep, m, &log.closed, 2, 3000) >= 0);
	CHECK_RC(log.closed, 2);
	CHECK_RC(log.last_err, -ETIMEDOUT); /* the mute server */
	CHECK(epoll_pump(log.ep, m, &log.ready, 2, 3000) >= 0);
	CHECK_RC(log.opened, 3);
	CHECK_RC(log.ready, 2);
	r->last = 0; /* the position goes back by design */
	nev = 0;
	while (r->n < 3 && nev++ < 100)
		CHECK(epoll_pump(log.ep, m, &log.ready, 99, 20) >= 0);
	CHECK_RC(r->n, 3);
	CHECK_RC(r->seq[2], 5);
	CHECK_RC(r->lost_lines, 1);
	CHECK(r->lost[0].first == 1 && r->lost[0].last == 4 && r->lost[0].count == 4 &&
	      r->lost[0].reason == MYPOLL_LOST_RANGE);
	CHECK_RC(r->n_at_lost[0], 2);
	CHECK_RC(mypoll_last_seq(m), 5);
	CHECK_RC(allocs - before, 0);
	mypoll_free(m);
	CHECK_RC(log.bad, 0);
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK_RC(status, 0);
	close(log.ep);
	close(lfd);
	free(r);
	current = NULL;
}

/* Item 6 against mypolld: the daemon restarts (a new emu instance); the
 * handle reconnects by itself and resumes the new instance from seq 1. */
static void test_auto_reconnect_daemon_restart(void)
{
	struct rec *r = rec_new();
	struct conn_log log = {epoll_create1(EPOLL_CLOEXEC), 0, 0, 0, 0, 0, -1};
	mypoll *a = mypoll_new(0), *ctl = NULL;
	uint64_t f;
	uint32_t n;

	CHECK(a && log.ep >= 0);
	current = a;
	mypoll_set_callbacks(a, rec_event, rec_lost, r);
	mypoll_set_conn_callback(a, conn_cb, &log);
	mypoll_reconnect_delay_set(a, 20, 200, 1);
	CHECK_RC(mypoll_connect(a, sock, 0), 0);
	CHECK_RC(log.opened, 1);
	CHECK_RC(log.ready, 1);
	CHECK_RC(mypoll_subscribe(a, "all", 0), 0);
	CHECK_RC(mypoll_trigger(a, 1, 2, &f, &n), 0);
	CHECK(pump_until(a, &r->n, 2, 5000) >= 0);
	stop_daemon();
	CHECK(epoll_pump(log.ep, a, &log.closed, 1, 5000) >= 0);
	CHECK_RC(log.closed, 1);
	CHECK_RC(start_daemon(), 0);
	ctl = dial(NULL);
	CHECK(ctl);
	CHECK_RC(mypoll_trigger(ctl, 5, 3, &f, &n), 0);
	CHECK(epoll_pump(log.ep, a, &log.ready, 2, 5000) >= 0);
	CHECK_RC(log.ready, 2);
	r->last = 0; /* a new instance: seqs start over */
	int nev = 0;
	while (r->n < 5 && nev++ < 250)
		CHECK(epoll_pump(log.ep, a, &log.ready, 99, 20) >= 0);
	CHECK_RC(r->n, 5);
	CHECK(r->seq[2] == f && r->seq[4] == f + 2 && r->arg[2] == 5);
	CHECK_RC(log.bad, 0);
	mypoll_free(a);
	mypoll_free(ctl);
	close(log.ep);
	free(r);
	current = NULL;
}

struct inst_rec {
	int n, lost;
	uint64_t seq[8], inst[8], lost_inst;
};

static void inst_event(void *user, const struct mypoll_event *ev, uint64_t instance_id)
{
	struct inst_rec *r = user;

	if (r->n < 8) {
		r->seq[r->n] = ev->seq;
		r->inst[r->n] = instance_id;
	}
	r->n++;
}

static void inst_lost(void *user, const struct mypoll_lost *l, uint64_t instance_id)
{
	struct inst_rec *r = user;

	(void)l;
	r->lost++;
	r->lost_inst = instance_id;
}

/* Item 7: events and losses come with the instance they belong to. */
static void test_fake_event_instance(void)
{
	int lfd = fake_listen();
	struct inst_rec r;
	mypoll *m = mypoll_new(0);

	memset(&r, 0, sizeof(r));
	CHECK(lfd >= 0 && m);
	current = m;
	mypoll_set_callbacks_ex(m, inst_event, inst_lost, &r);
	int c = fake_pair(lfd, m, "HELLO mypoll 1 00000000000000ab 7\n");
	fake_send(c, "EVT 7 trigger 0 1 0 9\nLOST 8 9 2 queue\n");
	wait_done(m, &r.lost);
	close(c);
	/* The module was reloaded: same seq, another instance. */
	c = fake_pair(lfd, m, "HELLO mypoll 1 00000000000000cd 7\n");
	fake_send(c, "EVT 7 trigger 0 1 0 9\n");
	for (int k = 0; k < 100 && r.n < 2; k++) {
		struct pollfd pfd = {mypoll_fd(m), POLLIN, 0};
		poll(&pfd, 1, 20);
		CHECK(mypoll_process(m) >= 0);
	}
	CHECK_RC(r.n, 2);
	CHECK(r.seq[0] == 7 && r.inst[0] == 0xab);
	CHECK(r.seq[1] == 7 && r.inst[1] == 0xcd);
	CHECK_RC(r.lost, 1);
	CHECK_RC(r.lost_inst, 0xab);
	close(c);
	mypoll_free(m);
	close(lfd);
	current = NULL;
}

/* Item 7, as docs/libmypoll.md tells an application to do: keep
 * (instance_id, last seq) from the callbacks; after a restart (a new handle),
 * subscribe from=last+1 when the instance is the same, from=1 otherwise. */
static void test_app_restart_resume(void)
{
	struct inst_rec r1, r2;
	mypoll *app = mypoll_new(0), *ctl = dial(NULL);
	uint64_t f, inst;
	uint32_t n;

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	CHECK(app && ctl);
	current = app;
	mypoll_set_callbacks_ex(app, inst_event, inst_lost, &r1);
	CHECK_RC(mypoll_connect(app, sock, 0), 0);
	CHECK_RC(mypoll_subscribe(app, "trigger", 0), 0);
	CHECK_RC(mypoll_trigger(ctl, 1, 3, &f, &n), 0);
	for (int k = 0; k < 250 && r1.n < 3; k++) {
		struct pollfd pfd = {mypoll_fd(app), POLLIN, 0};
		poll(&pfd, 1, 20);
		CHECK(mypoll_process(app) >= 0);
	}
	CHECK_RC(r1.n, 3);
	CHECK_RC(mypoll_hello(app, &inst, NULL), 0);
	CHECK_RC(r1.inst[2], inst);
	uint64_t saved_inst = r1.inst[2], saved_last = r1.seq[2];
	mypoll_free(app); /* the application stops */
	CHECK_RC(mypoll_trigger(ctl, 2, 4, &f, &n), 0);
	CHECK_RC(f, saved_last + 1);
	/* ... and starts again. */
	app = mypoll_new(0);
	current = app;
	mypoll_set_callbacks_ex(app, inst_event, inst_lost, &r2);
	CHECK_RC(mypoll_connect(app, sock, 0), 0);
	CHECK_RC(mypoll_hello(app, &inst, NULL), 0);
	CHECK_RC(inst, saved_inst);
	CHECK_RC(mypoll_subscribe(app, "trigger", inst == saved_inst ? saved_last + 1 : 1), 0);
	for (int k = 0; k < 250 && r2.n < 4; k++) {
		struct pollfd pfd = {mypoll_fd(app), POLLIN, 0};
		poll(&pfd, 1, 20);
		CHECK(mypoll_process(app) >= 0);
	}
	CHECK_RC(r2.n, 4);
	CHECK_RC(r2.lost, 0);
	for (int i = 0; i < 4; i++)
		CHECK(r2.seq[i] == saved_last + 1 + (uint64_t)i && r2.inst[i] == saved_inst);
	mypoll_free(app);
	mypoll_free(ctl);
	current = NULL;
}

/* ---- item 8: errors ---- */

/* mypoll_strerror() names every result: a local errno, a server's (tagged
 * with MYPOLL_ESERVER), success, and a code it does not know. */
static void test_strerror(void)
{
	const char *s;

	CHECK((s = mypoll_strerror(-EINVAL)) && strstr(s, "EINVAL") && strstr(s, "nvalid argument"));
	CHECK(!strstr(s, "mypolld"));
	CHECK((s = mypoll_strerror(-(MYPOLL_ESERVER | EINVAL))) && strstr(s, "EINVAL") &&
	      strstr(s, "mypolld"));
	/* A local timeout and the server's ETIMEDOUT read differently. */
	CHECK(strcmp(mypoll_strerror(-ETIMEDOUT), mypoll_strerror(-(MYPOLL_ESERVER | ETIMEDOUT))));
	CHECK(strstr(mypoll_strerror(-ETIMEDOUT), "ETIMEDOUT"));
	CHECK(strstr(mypoll_strerror(-EPROTO), "EPROTO"));
	CHECK(strstr(mypoll_strerror(-EHOSTDOWN), "EHOSTDOWN"));
	CHECK((s = mypoll_strerror(0)) && *s);
	CHECK((s = mypoll_strerror(7)) && *s);
	CHECK((s = mypoll_strerror(-99999)) && strstr(s, "nknown"));
	CHECK((s = mypoll_strerror(-(MYPOLL_ESERVER | 9999))) && strstr(s, "nknown") &&
	      strstr(s, "mypolld"));
	CHECK((s = mypoll_strerror(INT32_MIN)) && *s);
	/* The macros: origin and plain errno of a result. */
	CHECK(MYPOLL_IS_SERVER_ERROR(-(MYPOLL_ESERVER | EBUSY)));
	CHECK(!MYPOLL_IS_SERVER_ERROR(-EBUSY));
	CHECK(!MYPOLL_IS_SERVER_ERROR(0));
	CHECK(!MYPOLL_IS_SERVER_ERROR(MYPOLL_ESERVER));
	CHECK_RC(MYPOLL_ERRNO(-(MYPOLL_ESERVER | EBUSY)), -EBUSY);
	CHECK_RC(MYPOLL_ERRNO(-EBUSY), -EBUSY);
	CHECK_RC(MYPOLL_ERRNO(3), 3);
}

/* wait_hello_fake processes until the fake server's HELLO was read. */
static int wait_hello_fake(mypoll *m)
{
	for (int i = 0; i < 250; i++) {
		if (mypoll_hello(m, NULL, NULL) == 0)
			return 0;
		struct pollfd pfd = {mypoll_fd(m), POLLIN, 0};
		poll(&pfd, 1, 20);
		if (mypoll_process(m) < 0)
			return -1;
	}
	return -1;
}

/* errname_is says whether the server's error name is want (not NULL). */
static int errname_is(const mypoll *m, const char *want)
{
	const char *n = mypoll_server_errname(m);

	return n && !strcmp(n, want);
}

struct name_seen {
	mypoll *m;
	int error;
	char name[32];
};

static void name_reply(void *user, struct mypoll_reply *r)
{
	struct name_seen *s = user;
	const char *n = mypoll_server_errname(s->m);

	s->error = r->error ? r->error : 1;
	snprintf(s->name, sizeof(s->name), "%s", n ? n : "(null)");
}

/* Default (1.0) results: a server ERR is its plain errno, any standard errno
 * name the server sends is mapped (not only the 20 of 1.0), an unknown name
 * gives -EIO and stays readable with mypoll_server_errname(). */
static void test_fake_errname_default(void)
{
	int lfd = fake_listen();
	mypoll *m = mypoll_new(0);
	struct name_seen seen = {NULL, 0, ""};
	struct mypoll_reply rep;

	CHECK(lfd >= 0 && m);
	current = m;
	seen.m = m;
	int c = fake_pair(lfd, m, HELLO);
	CHECK(c >= 0);
	CHECK_RC(wait_hello_fake(m), 0);
	CHECK(mypoll_server_errname(m) == NULL);
	/* A name 1.0 did not know but the libc does. */
	fake_send(c, "ERR echo ENOTCONN not now\n");
	CHECK_RC(mypoll_echo(m, "a", NULL, 0), -ENOTCONN);
	CHECK(errname_is(m, "ENOTCONN"));
	/* An unknown name: -EIO, name kept, in a callback. */
	CHECK(mypoll_echo_async(m, "b", name_reply, &seen) > 0);
	fake_send(c, "ERR echo EFUTURE from a newer server\n");
	for (int k = 0; k < 100 && !seen.error; k++) {
		struct pollfd pfd = {mypoll_fd(m), POLLIN, 0};
		poll(&pfd, 1, 20);
		CHECK(mypoll_process(m) >= 0);
	}
	CHECK_RC(seen.error, -EIO);
	CHECK(!strcmp(seen.name, "EFUTURE"));
	/* A success: no server error name any more. */
	int id = mypoll_echo_async(m, "c", NULL, NULL);
	CHECK(id > 0);
	fake_send(c, "OK echo c\n");
	CHECK_RC(mypoll_wait(m, id, &rep, 5000), 0);
	CHECK_RC(rep.error, 0);
	CHECK(mypoll_server_errname(m) == NULL);
	/* mypoll_wait() gives the name of the reply it returns, whatever a
	 * callback reply saw meanwhile. */
	id = mypoll_echo_async(m, "d", NULL, NULL);
	CHECK(id > 0);
	seen.error = 0;
	CHECK(mypoll_echo_async(m, "e", name_reply, &seen) > 0);
	fake_send(c, "ERR echo EBUSY d\nOK echo e\n");
	CHECK_RC(mypoll_wait(m, id, &rep, 5000), 0);
	CHECK_RC(rep.error, -EBUSY);
	CHECK(!strcmp(seen.name, "(null)"));
	CHECK(errname_is(m, "EBUSY"));
	/* A local failure has no server name. */
	CHECK_RC(mypoll_trigger_async(m, 1, 0, NULL, NULL), -EINVAL);
	mypoll_set_timeout(m, 100);
	CHECK_RC(mypoll_trigger(m, 1, 1, NULL, NULL), -ETIMEDOUT);
	CHECK(mypoll_server_errname(m) == NULL);
	close(c);
	close(lfd);
	mypoll_free(m);
	current = NULL;
}

/* mypoll_set_server_errors(m, 1): a server ERR is -(MYPOLL_ESERVER | errno),
 * apart from every local failure: after mypoll_trigger() fails, the caller
 * knows whether the server refused it or no answer came. */
static void test_fake_server_errors_tagged(void)
{
	int lfd = fake_listen();
	mypoll *m = mypoll_new(0);
	struct name_seen seen = {NULL, 0, ""};
	struct mypoll_reply rep;

	CHECK(lfd >= 0 && m);
	current = m;
	seen.m = m;
	mypoll_set_server_errors(m, 1);
	int c = fake_pair(lfd, m, HELLO);
	CHECK(c >= 0);
	CHECK_RC(wait_hello_fake(m), 0);
	/* The server's ETIMEDOUT... */
	fake_send(c, "ERR trigger ETIMEDOUT device did not answer\n");
	int rc = mypoll_trigger(m, 1, 1, NULL, NULL);
	CHECK_RC(rc, -(MYPOLL_ESERVER | ETIMEDOUT));
	CHECK(MYPOLL_IS_SERVER_ERROR(rc));
	CHECK_RC(MYPOLL_ERRNO(rc), -ETIMEDOUT);
	CHECK(errname_is(m, "ETIMEDOUT"));
	CHECK(strstr(mypoll_strerror(rc), "mypolld"));
	/* ...and a local one: the trigger may have run. */
	mypoll_set_timeout(m, 100);
	rc = mypoll_trigger(m, 1, 1, NULL, NULL);
	CHECK_RC(rc, -ETIMEDOUT);
	CHECK(!MYPOLL_IS_SERVER_ERROR(rc));
	CHECK(mypoll_server_errname(m) == NULL);
	fake_send(c, "OK trigger 1 1\n"); /* the late reply, dropped */
	mypoll_set_timeout(m, 5000);
	/* A request timeout is local too. */
	mypoll_set_request_timeout(m, 50);
	seen.error = 0;
	CHECK(mypoll_echo_async(m, "t", name_reply, &seen) > 0);
	for (int k = 0; k < 100 && !seen.error; k++) {
		struct pollfd pfd = {mypoll_fd(m), POLLIN, 0};
		poll(&pfd, 1, 20);
		CHECK(mypoll_process(m) >= 0);
	}
	CHECK_RC(seen.error, -ETIMEDOUT);
	CHECK(!strcmp(seen.name, "(null)"));
	fake_send(c, "OK echo t\n");
	mypoll_set_request_timeout(m, -1);
	/* Tagged in a callback and in mypoll_wait(), unknown names included. */
	seen.error = 0;
	CHECK(mypoll_echo_async(m, "u", name_reply, &seen) > 0);
	int id = mypoll_echo_async(m, "v", NULL, NULL);
	CHECK(id > 0);
	fake_send(c, "ERR echo EFUTURE u\nERR - EILSEQ v\n");
	CHECK_RC(mypoll_wait(m, id, &rep, 5000), 0);
	CHECK_RC(seen.error, -(MYPOLL_ESERVER | EIO));
	CHECK(!strcmp(seen.name, "EFUTURE"));
	CHECK_RC(rep.error, -(MYPOLL_ESERVER | EILSEQ));
	CHECK(errname_is(m, "EILSEQ"));
	/* Still the same connection: an ERR never affects it. */
	fake_send(c, "OK echo w\n");
	char buf[8];
	CHECK_RC(mypoll_echo(m, "w", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "w"));
	CHECK(mypoll_server_errname(m) == NULL);
	/* A refusal at HELLO is the server's too, also for the requests
	 * queued before it. */
	close(c);
	c = fake_pair(lfd, m, "ERR - EMFILE too many clients (max 1)\n");
	CHECK(c >= 0);
	seen.error = 0;
	CHECK(mypoll_echo_async(m, "q", name_reply, &seen) > 0);
	rc = process_until_error(m);
	CHECK_RC(rc, -(MYPOLL_ESERVER | EMFILE));
	CHECK(errname_is(m, "EMFILE"));
	CHECK_RC(seen.error, -(MYPOLL_ESERVER | EMFILE));
	CHECK(!strcmp(seen.name, "EMFILE"));
	/* Back to 1.0 results. */
	mypoll_set_server_errors(m, 0);
	close(c);
	c = fake_pair(lfd, m, HELLO);
	CHECK(c >= 0);
	CHECK_RC(wait_hello_fake(m), 0);
	fake_send(c, "ERR echo EBUSY x\n");
	CHECK_RC(mypoll_echo(m, "x", NULL, 0), -EBUSY);
	close(c);
	close(lfd);
	mypoll_free(m);
	current = NULL;
}

/* ---- item 9: waking a thread blocked in mypoll_wait() ---- */

struct waker {
	mypoll *m;
	int delay_ms;
	int rc;
	pthread_t target; /* signal it instead, when sig */
	int sig;
};

static void *waker_main(void *arg)
{
	struct waker *w = arg;

	msleep(w->delay_ms);
	if (w->sig)
		w->rc = pthread_kill(w->target, w->sig);
	else
		w->rc = mypoll_wakeup(w->m);
	return NULL;
}

static mypoll *sig_handle;
static void wake_from_signal(int sig)
{
	(void)sig;
	mypoll_wakeup(sig_handle); /* async-signal-safe */
}

/* mypoll_wakeup() from another thread makes mypoll_wait() return -EINTR; the
 * request stays outstanding and a later mypoll_wait() gets its reply. A wakeup
 * before the wait is not lost; a blocking call returns -EINTR and its late
 * reply is dropped; a signal handler may call it. */
static void test_fake_wakeup_thread(void)
{
	int lfd = fake_listen();
	mypoll *m = mypoll_new(0);
	struct mypoll_reply rep;
	pthread_t th;
	struct waker w = {0};

	CHECK(lfd >= 0 && m);
	current = m;
	int c = fake_pair(lfd, m, HELLO);
	CHECK(c >= 0);
	CHECK_RC(wait_hello_fake(m), 0);

	/* A thread blocked with no timeout, woken by another. */
	int id = mypoll_echo_async(m, "a", NULL, NULL);
	CHECK(id > 0);
	w.m = m;
	w.delay_ms = 200;
	CHECK_RC(pthread_create(&th, NULL, waker_main, &w), 0);
	int64_t t0 = now_ms();
	int rc = mypoll_wait(m, id, &rep, -1);
	int64_t took = now_ms() - t0;
	pthread_join(th, NULL);
	CHECK_RC(rc, -EINTR);
	CHECK_RC(w.rc, 0);
	CHECK(took >= 150 && took < 10000);
	CHECK(strstr(mypoll_errmsg(m), "mypoll_wakeup"));
	/* The request is still outstanding: its reply comes to the next wait. */
	fake_send(c, "OK echo a\n");
	CHECK_RC(mypoll_wait(m, id, &rep, 5000), 0);
	CHECK(!strcmp(rep.text, "a"));

	/* A wakeup before the wait is not lost, and is consumed once. */
	id = mypoll_echo_async(m, "b", NULL, NULL);
	CHECK(id > 0);
	CHECK_RC(mypoll_wakeup(m), 0);
	CHECK_RC(mypoll_wakeup(m), 0);
	t0 = now_ms();
	CHECK_RC(mypoll_wait(m, id, &rep, 5000), -EINTR);
	CHECK(now_ms() - t0 < 1000);
	CHECK_RC(mypoll_wait(m, id, &rep, 100), -ETIMEDOUT); /* not woken again */
	fake_send(c, "OK echo b\n"); /* dropped: the wait above gave up */

	/* A blocking call is woken too; its late reply is dropped. */
	w.delay_ms = 100;
	CHECK_RC(pthread_create(&th, NULL, waker_main, &w), 0);
	rc = mypoll_echo(m, "c", NULL, 0);
	pthread_join(th, NULL);
	CHECK_RC(rc, -EINTR);
	fake_send(c, "OK echo c\nOK echo d\n");
	char buf[8];
	CHECK_RC(mypoll_echo(m, "d", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "d"));

	/* From a signal handler. */
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wake_from_signal;
	sigemptyset(&sa.sa_mask);
	CHECK_RC(sigaction(SIGUSR1, &sa, &old), 0);
	sig_handle = m;
	id = mypoll_echo_async(m, "e", NULL, NULL);
	CHECK(id > 0);
	w.sig = SIGUSR1;
	w.target = pthread_self();
	CHECK_RC(pthread_create(&th, NULL, waker_main, &w), 0);
	rc = mypoll_wait(m, id, &rep, 10000);
	pthread_join(th, NULL);
	sigaction(SIGUSR1, &old, NULL);
	sig_handle = NULL;
	CHECK_RC(rc, -EINTR);
	CHECK_RC(w.rc, 0);
	fake_send(c, "OK echo e\n");
	CHECK_RC(mypoll_wait(m, id, &rep, 5000), 0);
	CHECK(!strcmp(rep.text, "e"));
	close(c);
	close(lfd);
	mypoll_free(m);
	current = NULL;
}

struct hammer {
	mypoll *m;
	int n, errors;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;

	for (int i = 0; i < h->n; i++)
		if (mypoll_wakeup(h->m) != 0)
			h->errors++;
	return NULL;
}

/* Many threads wake one handle while its owner waits and a real daemon
 * answers: every wait ends with its reply or -EINTR, nothing else (run
 * under TSan by lmp-tsan). */
static void test_wakeup_many_threads(void)
{
	mypoll *m = dial(NULL);
	pthread_t th[4];
	struct hammer h[4];
	struct mypoll_reply rep;
	int replies = 0, woken = 0;

	CHECK(m);
	current = m;
	for (int i = 0; i < 4; i++) {
		h[i].m = m;
		h[i].n = 2000;
		h[i].errors = 0;
		CHECK_RC(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
	}
	for (int i = 0; i < 200; i++) {
		int id = mypoll_echo_async(m, "h", NULL, NULL);
		CHECK(id > 0);
		for (;;) {
			int rc = mypoll_wait(m, id, &rep, 5000);
			if (rc == -EINTR) {
				woken++;
				continue;
			}
			CHECK_RC(rc, 0);
			CHECK(!strcmp(rep.text, "h"));
			replies++;
			break;
		}
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_RC(h[i].errors, 0);
	}
	CHECK_RC(replies, 200);
	printf("    wakeup_many_threads: 200 replies, %d waits woken by 8000 wakeups\n", woken);
	mypoll_free(m);
	current = NULL;
}


/* ---- subscription filters (PROTOCOL A.5, since 1.2) ---- */


static int subscription_is(const mypoll *m, const char *want)
{
	char buf[MYPOLL_SET_MAX];
	int n = mypoll_subscription(m, buf, sizeof(buf));

	if (n < 0 || strcmp(buf, want) != 0 || (size_t)n != strlen(want)) {
		fprintf(stderr, "    subscription %s (%d), want %s\n", buf, n, want);
		return 0;
	}
	return 1;
}

/* The set parser and the canonical form, as A.5 writes them. */
static void test_filter_parse_format(void)
{
	static const struct {
		const char *in, *canon;
	} ok[] = {
		{"all", "all"},
		{"none", "none"},
		{"timer", "timer"},
		{"trigger,timer", "all"},
		{"timer,trigger:5,trigger", "all"},
		{"timer:3", "timer:3"},
		{"timer:07,timer:0,timer:3,timer:3", "timer:0,timer:3,timer:7"},
		{"timer:3,timer", "timer"},
		{"trigger:0x2a,trigger:7,trigger:42", "trigger:7,trigger:42"},
		{"trigger:0XfF,trigger:0x000000000000000000001", "trigger:1,trigger:255"},
		{"trigger:18446744073709551615", "trigger:18446744073709551615"},
		{"trigger:0xffffffffffffffff", "trigger:18446744073709551615"},
		{"trigger:5,trigger,timer:2", "trigger,timer:2"},
		{"trigger:9,timer:1,timer,trigger:1", "timer,trigger:1,trigger:9"},
		{("timer:1,timer:1,timer:1,timer:1,timer:1,timer:1,timer:1,timer:1,"
		  "timer:1,timer:1,timer:1,timer:1,timer:1,timer:1,timer:1,timer:1"), "timer:1"},
	};
	static const char *const bad[] = {
		"", "bogus", "timer,", ",timer", "timer,,trigger", "all,timer", "none,trigger",
		"timer:8", "timer:", "timer:-1", "timer:+1", "timer:0x3", "timer:3 ", " timer",
		"trigger:", "trigger:0x", "trigger:-1", "trigger:18446744073709551616",
		"trigger:0x10000000000000000", "trigger:1x", "trigger:0xg", "Timer", "timers",
		("trigger:1,trigger:2,trigger:3,trigger:4,trigger:5,trigger:6,trigger:7,trigger:8,"
		 "trigger:9,trigger:10,trigger:11,trigger:12,trigger:13,trigger:14,trigger:15,"
		 "trigger:16,trigger:17"),
		("timer:1,timer:1,timer:1,timer:1,timer:1,timer:1,timer:1,timer:1,"
		 "timer:1,timer:1,timer:1,timer:1,timer:1,timer:1,timer:1,timer:1,timer:1"),
	};
	struct mypoll_filter f;
	char buf[MYPOLL_SET_MAX];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int rc = mypoll_filter_parse(&f, ok[i].in);
		int n = rc ? rc : mypoll_filter_format(&f, buf, sizeof(buf));
		if (n < 0 || strcmp(buf, ok[i].canon) != 0) {
			fprintf(stderr, "    %s: %d %s, want %s\n", ok[i].in, n, n < 0 ? "" : buf,
				ok[i].canon);
			failed = 1;
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&f, 0xff, sizeof(f));
		if (mypoll_filter_parse(&f, bad[i]) != -EINVAL || f.classes || f.n_payloads) {
			fprintf(stderr, "    %s: accepted\n", bad[i]);
			failed = 1;
		}
	}
	CHECK_RC(mypoll_filter_parse(&f, NULL), -EINVAL);
	/* A filter built as values. */
	memset(&f, 0, sizeof(f));
	f.classes = MYPOLL_FILTER_TRIGGER;
	f.timers = 1u << 6 | 1u << 2;
	f.payloads[f.n_payloads++] = 9; /* the trigger class covers it */
	CHECK_RC(mypoll_filter_format(&f, buf, sizeof(buf)), 23);
	CHECK(strcmp(buf, "trigger,timer:2,timer:6") == 0);
	CHECK_RC(mypoll_filter_format(&f, buf, 23), -ENOSPC); /* no room for the NUL */
	CHECK_RC(mypoll_filter_format(&f, NULL, 0), -ENOSPC);
	f.reserved = 1;
	CHECK_RC(mypoll_filter_format(&f, buf, sizeof(buf)), -EINVAL);
	f.reserved = 0;
	f.timers = 1u << 8;
	CHECK_RC(mypoll_filter_format(&f, buf, sizeof(buf)), -EINVAL);
	f.timers = 0;
	f.classes = 4;
	CHECK_RC(mypoll_filter_format(&f, buf, sizeof(buf)), -EINVAL);
	/* 8 timer ids and 9 payloads: 17 items, no set names it. */
	memset(&f, 0, sizeof(f));
	f.timers = 0xff;
	for (f.n_payloads = 0; f.n_payloads < 9; f.n_payloads++)
		f.payloads[f.n_payloads] = f.n_payloads;
	CHECK_RC(mypoll_filter_format(&f, buf, sizeof(buf)), -EINVAL);
	f.n_payloads = MYPOLL_FILTER_MAX_ITEMS + 1;
	CHECK_RC(mypoll_filter_format(&f, buf, sizeof(buf)), -EINVAL);
	/* The longest canonical set: 16 payloads of 20 digits. */
	memset(&f, 0, sizeof(f));
	for (f.n_payloads = 0; f.n_payloads < 16; f.n_payloads++)
		f.payloads[f.n_payloads] = UINT64_MAX - f.n_payloads;
	CHECK_RC(mypoll_filter_format(&f, buf, sizeof(buf)), MYPOLL_SET_MAX - 1);
	CHECK(strncmp(buf, "trigger:18446744073709551600,", 29) == 0);
}

/*
 * A filtered subscription on the wire: checked locally (nothing is sent for
 * a bad set), sent canonical, the server's canonical reply kept, and the
 * same set sent again by a resume (A.8), also when the set is the longest
 * one (16 payloads of 20 digits). An ERR to a later subscribe leaves the set
 * as it was (A.5); a reply set that is not canonical is a protocol error.
 */
static void test_fake_filter_subscribe(void)
{
	static const char *const bad[] = {"timer:8", "trigger:0x", "all,timer", "timer,,trigger"};
	int lfd = fake_listen();
	struct rec *r = rec_new();
	mypoll *m = mypoll_new(0);
	char buf[2048], want[2048], big[MYPOLL_SET_MAX], bigin[1024];
	struct mypoll_reply rep;

	CHECK(lfd >= 0 && m);
	current = m;
	mypoll_set_callbacks(m, rec_event, rec_lost, r);
	int c = fake_pair(lfd, m, "HELLO mypoll 1 00000000000000ab 10\n");
	CHECK(c >= 0);
	CHECK(subscription_is(m, "none"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_RC(mypoll_subscribe_async(m, bad[i], 0, NULL, NULL), -EINVAL);
	int id = mypoll_subscribe_async(m, "trigger:0x2a,timer:3,trigger:7,timer:3", 0, NULL, NULL);
	CHECK(id > 0);
	fake_recv(c, buf, sizeof(buf));
	CHECK(strcmp(buf, "subscribe timer:3,trigger:7,trigger:42\n") == 0);
	CHECK(subscription_is(m, "timer:3,trigger:7,trigger:42"));
	fake_send(c, "OK subscribe timer:3,trigger:7,trigger:42\nEVT 10 timer 3 5 0 99\n"
		     "EVT 11 trigger 0 42 0 100\n");
	CHECK_RC(mypoll_wait(m, id, &rep, 2000), 0);
	CHECK(strcmp(rep.text, "timer:3,trigger:7,trigger:42") == 0);
	CHECK(pump_until(m, &r->n, 2, 2000) >= 0);
	/* A later subscribe the server refuses: the set stays as it was. */
	id = mypoll_subscribe_async(m, "trigger:5", 0, NULL, NULL);
	CHECK(id > 0);
	fake_recv(c, buf, sizeof(buf));
	CHECK(strcmp(buf, "subscribe trigger:5\n") == 0);
	CHECK(subscription_is(m, "trigger:5")); /* sent, not answered yet */
	fake_send(c, "ERR subscribe EINVAL unknown item\n");
	CHECK_RC(mypoll_wait(m, id, &rep, 2000), 0);
	CHECK_RC(rep.error, -EINVAL);
	CHECK(subscription_is(m, "timer:3,trigger:7,trigger:42"));
	/* The handle keeps the set the server names, not the one it sent. */
	id = mypoll_subscribe_async(m, "trigger:7,timer:3,trigger:42", 0, NULL, NULL);
	CHECK(id > 0);
	fake_recv(c, buf, sizeof(buf));
	CHECK(strcmp(buf, "subscribe timer:3,trigger:7,trigger:42\n") == 0);
	fake_send(c, "OK subscribe trigger,timer:3\n");
	CHECK_RC(mypoll_wait(m, id, &rep, 2000), 0);
	CHECK(subscription_is(m, "trigger,timer:3"));
	close(c);
	CHECK_RC(process_until_error(m), -ECONNRESET);
	CHECK(subscription_is(m, "trigger,timer:3"));

	/* The resume sends the same filter; the longest set next. */
	pid_t pid = fake_resumer(lfd, 16, "subscribe trigger,timer:3 from=12\n",
				 "OK subscribe trigger,timer:3\nEVT 12 timer 3 6 0 101\n", 500);
	CHECK_RC(mypoll_resume(m), 0);
	CHECK(pump_until(m, &r->n, 3, 2000) >= 0);
	CHECK(fake_resumer_ok(pid));
	CHECK_RC(r->n, 3);
	CHECK(subscription_is(m, "trigger,timer:3"));
	mypoll_disconnect(m);

	/* 16 payloads in hex with leading zeros (longer than the canonical
	 * set), in descending order: sent canonical, 463 bytes. */
	size_t k = 0;
	for (int i = 0; i < 16; i++)
		k += (size_t)snprintf(bigin + k, sizeof(bigin) - k, "%strigger:0x0000%016" PRIx64,
				      i ? "," : "", UINT64_MAX - (uint64_t)i);
	k = 0;
	for (int i = 15; i >= 0; i--)
		k += (size_t)snprintf(big + k, sizeof(big) - k, "%strigger:%" PRIu64,
				      i < 15 ? "," : "", UINT64_MAX - (uint64_t)i);
	CHECK_RC(k, MYPOLL_SET_MAX - 1);
	c = fake_pair(lfd, m, "HELLO mypoll 1 00000000000000ab 20\n");
	id = mypoll_subscribe_async(m, bigin, 0, NULL, NULL);
	CHECK(c >= 0 && id > 0);
	fake_recv(c, buf, sizeof(buf));
	snprintf(want, sizeof(want), "subscribe %s\n", big);
	CHECK(strcmp(buf, want) == 0);
	snprintf(want, sizeof(want), "OK subscribe %s\n", big);
	fake_send(c, want);
	CHECK_RC(mypoll_wait(m, id, &rep, 2000), 0);
	CHECK(subscription_is(m, big));
	close(c);
	CHECK_RC(process_until_error(m), -ECONNRESET);
	snprintf(want, sizeof(want), "subscribe %s from=13\n", big);
	snprintf(buf, sizeof(buf), "OK subscribe %s\n", big);
	pid = fake_resumer(lfd, 20, want, buf, 500);
	CHECK_RC(mypoll_resume(m), 0);
	CHECK(fake_resumer_ok(pid));
	CHECK(subscription_is(m, big));
	mypoll_disconnect(m);

	/* A reply set that is not canonical: the library does not guess. */
	static const char *const noncanon[] = {
		"OK subscribe trigger:42,timer:3\n", "OK subscribe timer,trigger\n",
		"OK subscribe trigger:0x2a\n", "OK subscribe timer:3,timer:3\n",
		"OK subscribe timer:9\n", "OK subscribe all none\n",
	};
	/* Also a set longer than any set the server can name: 17 payloads of 20
	 * digits, ascending (528 bytes, more than MYPOLL_SET_MAX). */
	k = (size_t)snprintf(want, sizeof(want), "OK subscribe ");
	for (int i = 16; i >= 0; i--)
		k += (size_t)snprintf(want + k, sizeof(want) - k, "%strigger:%" PRIu64,
				      i < 16 ? "," : "", UINT64_MAX - (uint64_t)i);
	snprintf(want + k, sizeof(want) - k, "\n");
	for (size_t i = 0; i <= sizeof(noncanon) / sizeof(noncanon[0]); i++) {
		const char *line = i < sizeof(noncanon) / sizeof(noncanon[0]) ? noncanon[i] : want;

		c = fake_pair(lfd, m, HELLO);
		CHECK(c >= 0 && mypoll_subscribe_async(m, "timer:3", 0, NULL, NULL) > 0);
		fake_send(c, line);
		if (process_until_error(m) != -EPROTO) {
			fprintf(stderr, "    %s accepted\n", line);
			failed = 1;
		}
		CHECK(subscription_is(m, "timer:3")); /* as sent: unknown */
		close(c);
	}
	mypoll_free(m);
	free(r);
	close(lfd);
	current = NULL;
}

static const struct {
	const char *name;
	void (*fn)(void);
	int daemon;
} tests[] = {
	{"hello_echo", test_hello_echo, 1},
	{"trigger_events", test_trigger_events, 1},
	{"server_errors", test_server_errors, 1},
	{"local_errors", test_local_errors, 1},
	{"timers_stats_help", test_timers_stats_help, 1},
	{"pipelining", test_pipelining, 1},
	{"several_clients", test_several_clients, 1},
	{"lost_queue", test_lost_queue, 1},
	{"no_alloc_hot_path", test_no_alloc_hot_path, 1},
	{"resume_reconnect", test_resume_reconnect, 1},
	{"resume_daemon_restart", test_resume_daemon_restart, 1},
	{"nonblocking_connect", test_nonblocking_connect, 1},
	{"fake_err_mapping", test_fake_err_mapping, 0},
	{"fake_malformed", test_fake_malformed, 0},
	{"fake_open_device", test_fake_open_device, 0},
	{"fake_resume_wire", test_fake_resume_wire, 0},
	{"fake_resume_erange", test_fake_resume_erange, 0},
	{"fake_backlog_full", test_fake_backlog_full, 0},
	{"fake_callback_reentry", test_fake_callback_reentry, 0},
	{"fake_reply_before_epipe", test_fake_reply_before_epipe, 0},
	{"quit_then_write", test_quit_then_write, 1},
	{"fake_order", test_fake_order, 0},
	{"fake_fd_on_wrong_line", test_fake_fd_on_wrong_line, 0},
	{"wait_reply_limit", test_wait_reply_limit, 1},
	{"fake_request_timeout", test_fake_request_timeout, 0},
	{"fake_auto_reconnect", test_fake_auto_reconnect, 0},
	{"fake_auto_reconnect_erange", test_fake_auto_reconnect_erange, 0},
	{"auto_reconnect_daemon_restart", test_auto_reconnect_daemon_restart, 1},
	{"fake_event_instance", test_fake_event_instance, 0},
	{"app_restart_resume", test_app_restart_resume, 1},
	{"strerror", test_strerror, 0},
	{"fake_errname_default", test_fake_errname_default, 0},
	{"fake_server_errors_tagged", test_fake_server_errors_tagged, 0},
	{"fake_wakeup_thread", test_fake_wakeup_thread, 0},
	{"wakeup_many_threads", test_wakeup_many_threads, 1},
	{"filter_parse_format", test_filter_parse_format, 0},
	{"fake_filter_subscribe", test_fake_filter_subscribe, 0},
};

int main(int argc, char **argv)
{
	int passed = 0, nfailed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: test_libmypoll MYPOLLD [NAME_SUBSTRING]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	mypolld_bin = argv[1];
	snprintf(dir, sizeof(dir), "/tmp/libmypoll-test-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/mypoll.sock", dir);
	snprintf(fake_sock, sizeof(fake_sock), "%s/fake.sock", dir);
	if (start_daemon() < 0) {
		fprintf(stderr, "mypolld %s did not start\n", mypolld_bin);
		return 1;
	}
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (argc > 2 && !strstr(tests[i].name, argv[2]))
			continue;
		failed = 0;
		tests[i].fn();
		printf("%s %s\n", failed ? "FAIL" : "ok  ", tests[i].name);
		fflush(stdout);
		if (failed)
			nfailed++;
		else
			passed++;
	}
	stop_daemon();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	printf("%d passed, %d failed\n", passed, nfailed);
	return nfailed ? 1 : 0;
}
