// lat: the timing client of mypollbench, in C so that no language runtime
// sits between the measured syscalls. Every side blocks in read(2)/write(2);
// times are CLOCK_MONOTONIC nanoseconds. Modes:
//
//   lat pingpong <rounds>          raw baseline: a socketpair and a forked
//                                  peer that echoes each line back
//   lat echo <socket> <rounds>     "echo ping" round trips to a daemon
//                                  (after its HELLO line)
//   lat sub <socket>|-             subscriber: "subscribe all" (or fd 3
//                                  with -), prints "ready", then times each
//                                  EVT line against the send time carried in
//                                  its payload field, until SIGTERM; prints
//                                  one latency (ns) per line
//   lat pub <socket> <rate> <secs> publisher: "trigger <now_ns> 1" at rate
//                                  per second, waiting for each reply
//   lat rawpub <n> <rate> <secs>   raw baseline publisher: the same EVT line
//                                  written into fds 3..3+n-1, one write each
//   lat fan <socket> <n> <rate> <secs> [<crefd>]
//                                  all of the above in one process tree (for
//                                  a guest without a shell): optionally runs
//                                  crefd on <socket>, forks n subscribers,
//                                  publishes, prints "<p50_ns> <p99_ns>
//                                  <p99.9_ns> <n>" over all subscribers'
//                                  samples
//
// Round-trip modes print "<p50_ns> <p99_ns>" after 1,000 warm-up rounds.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("write");
		p += k;
		n -= (size_t)k;
	}
}

// A line reader over a blocking fd.
struct rd {
	int fd;
	size_t r, w;
	char buf[1 << 16];
};

// next returns the next line (without '\n', NUL-terminated) or NULL at EOF
// or on EINTR (a signal) when intr is set.
static char *next(struct rd *b, int intr)
{
	for (;;) {
		char *nl = memchr(b->buf + b->r, '\n', b->w - b->r);
		ssize_t n;

		if (nl) {
			char *line = b->buf + b->r;

			*nl = 0;
			b->r = (size_t)(nl - b->buf) + 1;
			return line;
		}
		if (b->r > 0) {
			memmove(b->buf, b->buf + b->r, b->w - b->r);
			b->w -= b->r;
			b->r = 0;
		}
		if (b->w == sizeof(b->buf))
			return NULL;
		n = read(b->fd, b->buf + b->w, sizeof(b->buf) - b->w);
		if (n < 0 && errno == EINTR && !intr)
			continue;
		if (n <= 0)
			return NULL;
		b->w += (size_t)n;
	}
}

static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		die("socket");
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	return fd;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int rounds(struct rd *b, const char *req, long n)
{
	uint64_t *rtt = malloc(sizeof(*rtt) * (size_t)n);
	size_t len = strlen(req);

	if (!rtt)
		die("malloc");
	for (long i = 0; i < n + 1000; i++) {
		uint64_t t = now_ns();

		write_all(b->fd, req, len);
		if (!next(b, 0)) {
			fprintf(stderr, "lat: connection closed\n");
			return 1;
		}
		if (i >= 1000)
			rtt[i - 1000] = now_ns() - t;
	}
	qsort(rtt, (size_t)n, sizeof(*rtt), cmp);
	printf("%llu %llu\n", (unsigned long long)rtt[n / 2], (unsigned long long)rtt[n * 99 / 100]);
	return 0;
}

static struct rd rdbuf;

static int pingpong(long n)
{
	int sv[2];
	pid_t pid;
	int rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char *line;

		close(sv[0]);
		rdbuf.fd = sv[1];
		while ((line = next(&rdbuf, 0))) {
			size_t l = strlen(line);

			line[l] = '\n';
			write_all(sv[1], line, l + 1);
		}
		_exit(0);
	}
	close(sv[1]);
	rdbuf.fd = sv[0];
	// The same bytes as the daemons' reply, so both directions match.
	rc = rounds(&rdbuf, "OK echo ping\n", n);
	close(sv[0]);
	waitpid(pid, NULL, 0);
	return rc;
}

static int echo(const char *path, long n)
{
	rdbuf.fd = dial(path);
	if (!next(&rdbuf, 0))
		die("hello");
	return rounds(&rdbuf, "echo ping\n", n);
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int sub(const char *path)
{
	struct sigaction sa = { .sa_handler = on_term }; // no SA_RESTART: read returns EINTR
	size_t cap = 1 << 20, n = 0;
	uint64_t *lat = malloc(sizeof(*lat) * cap);
	char *line;

	if (!lat)
		die("malloc");
	sigaction(SIGTERM, &sa, NULL);
	if (strcmp(path, "-") == 0) {
		rdbuf.fd = 3;
	} else {
		rdbuf.fd = dial(path);
		if (!next(&rdbuf, 0))
			die("hello");
		write_all(rdbuf.fd, "subscribe all\n", 14);
		line = next(&rdbuf, 0);
		if (!line || strcmp(line, "OK subscribe all") != 0) {
			fprintf(stderr, "lat: subscribe all: %s\n", line ? line : "EOF");
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop && (line = next(&rdbuf, 1))) {
		uint64_t t = now_ns();
		unsigned long long seq, src, payload;

		if (strncmp(line, "EVT ", 4) != 0)
			continue;
		if (sscanf(line + 4, "%llu trigger %llu %llu", &seq, &src, &payload) != 3)
			continue;
		if (n < cap)
			lat[n++] = t - payload;
	}
	for (size_t i = 0; i < n; i++)
		printf("%llu\n", (unsigned long long)lat[i]);
	return 0;
}

// pace sleeps until the i-th tick of rate per second after start.
static void pace(uint64_t start, long i, long rate)
{
	uint64_t due = start + (uint64_t)i * 1000000000u / (uint64_t)rate;
	struct timespec ts = { .tv_sec = (time_t)(due / 1000000000u), .tv_nsec = (long)(due % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int pub(const char *path, long rate, long secs)
{
	char req[64];
	uint64_t start;

	rdbuf.fd = dial(path);
	if (!next(&rdbuf, 0))
		die("hello");
	start = now_ns();
	for (long i = 0; i < rate * secs; i++) {
		char *line;
		int l;

		pace(start, i, rate);
		l = snprintf(req, sizeof(req), "trigger %llu 1\n", (unsigned long long)now_ns());
		write_all(rdbuf.fd, req, (size_t)l);
		line = next(&rdbuf, 0);
		if (!line || strncmp(line, "OK trigger ", 11) != 0) {
			fprintf(stderr, "lat: trigger: %s\n", line ? line : "EOF");
			return 1;
		}
	}
	return 0;
}

static int rawpub(int nfd, long rate, long secs)
{
	char line[128];
	uint64_t start = now_ns();

	for (long i = 0; i < rate * secs; i++) {
		int l;

		pace(start, i, rate);
		l = snprintf(line, sizeof(line), "EVT %ld trigger 0 %llu 0 %llu\n", i + 1,
			     (unsigned long long)now_ns(), 1000000000000ull);
		for (int k = 0; k < nfd; k++)
			write_all(3 + k, line, (size_t)l);
	}
	return 0;
}

static void drain_pipe(int fd, uint64_t **v, size_t *n, size_t *cap)
{
	static struct rd b;
	char *line;

	memset(&b, 0, sizeof(b));
	b.fd = fd;
	while ((line = next(&b, 0))) {
		if (strcmp(line, "ready") == 0)
			continue;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 4096;
			*v = realloc(*v, sizeof(**v) * *cap);
			if (!*v)
				die("realloc");
		}
		(*v)[(*n)++] = strtoull(line, NULL, 10);
	}
}

static int fan(const char *path, int nsub, long rate, long secs, const char *crefd)
{
	pid_t daemon = 0, *subs = calloc((size_t)nsub, sizeof(pid_t));
	int *outs = calloc((size_t)nsub, sizeof(int));
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (!subs || !outs)
		die("calloc");
	if (crefd) {
		struct stat st;

		unlink(path);
		daemon = fork();
		if (daemon == 0) {
			execl(crefd, crefd, path, (char *)NULL);
			die("exec crefd");
		}
		for (int i = 0; i < 500 && stat(path, &st) < 0; i++)
			usleep(10000);
		usleep(50000);
	}
	for (int i = 0; i < nsub; i++) {
		int p[2];
		char c;

		if (pipe(p) < 0)
			die("pipe");
		subs[i] = fork();
		if (subs[i] == 0) {
			dup2(p[1], 1);
			close(p[0]);
			rc = sub(path);
			fflush(stdout);
			_exit(rc);
		}
		close(p[1]);
		outs[i] = p[0];
		// "ready\n" arrives first.
		for (int k = 0; k < 6; k++)
			if (read(p[0], &c, 1) != 1)
				die("subscriber");
	}
	rc = pub(path, rate, secs);
	usleep(100000);
	for (int i = 0; i < nsub; i++)
		kill(subs[i], SIGTERM);
	for (int i = 0; i < nsub; i++) {
		drain_pipe(outs[i], &v, &n, &cap);
		waitpid(subs[i], NULL, 0);
	}
	if (daemon) {
		kill(daemon, SIGTERM);
		waitpid(daemon, NULL, 0);
	}
	if (rc != 0 || n == 0) {
		fprintf(stderr, "lat fan: no samples\n");
		return 1;
	}
	qsort(v, n, sizeof(*v), cmp);
	printf("%llu %llu %llu %zu\n", (unsigned long long)v[n / 2], (unsigned long long)v[n * 99 / 100],
	       (unsigned long long)v[n * 999 / 1000], n);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "pingpong") == 0)
		return pingpong(atol(argv[2]));
	if (argc == 4 && strcmp(argv[1], "echo") == 0)
		return echo(argv[2], atol(argv[3]));
	if (argc == 3 && strcmp(argv[1], "sub") == 0)
		return sub(argv[2]);
	if (argc == 5 && strcmp(argv[1], "pub") == 0)
		return pub(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc == 5 && strcmp(argv[1], "rawpub") == 0)
		return rawpub(atoi(argv[2]), atol(argv[3]), atol(argv[4]));
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "fan") == 0)
		return fan(argv[2], atoi(argv[3]), atol(argv[4]), atol(argv[5]), argc == 7 ? argv[6] : NULL);
	fprintf(stderr, "usage: lat pingpong|echo|sub|pub|rawpub|fan ...\n");
	return 2;
}
