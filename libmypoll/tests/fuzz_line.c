// SPDX-License-Identifier: MIT
/*
 * fuzz_line: the server line parser and the whole receive path.
 *
 * Each input is (1) parsed as one line with every reply decoder, and as a
 * subscribe set, whose canonical form must parse back to itself, and (2) sent
 * after a HELLO, as a fake server's byte stream, to a handle with requests
 * outstanding, processed until the connection ends. Whatever the bytes, the
 * library must not crash, overflow or leak (ASan/UBSan), and must end with a
 * negative errno.
 *
 * Built with clang -fsanitize=fuzzer it is a libFuzzer target. Otherwise
 * (FUZZ_STANDALONE) main() runs a bounded random-input test:
 *   fuzz_line [iterations] [corpus files...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../src/internal.h"

static int lfd = -1;
static char path[108];

static void cleanup(void)
{
	unlink(path);
}

static void setup(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(path, sizeof(path), "/tmp/mypoll-fuzz-%d.sock", (int)getpid());
	unlink(path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
		abort();
	atexit(cleanup);
}

static void ignore_reply(void *user, struct mypoll_reply *r)
{
	(void)user;
	if (r->error > 0 || r->text_len >= sizeof(r->text) || r->text[r->text_len] != '\0')
		abort();
}

static void ignore_event(void *user, const struct mypoll_event *ev)
{
	(void)user;
	(void)ev;
}

static void stream(const uint8_t *data, size_t size)
{
	mypoll *m = mypoll_new(16);

	if (!m)
		abort();
	mypoll_set_callbacks(m, ignore_event, NULL, NULL);
	if (mypoll_connect(m, path, MYPOLL_NONBLOCK) < 0)
		abort();
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		abort();
	/* One request of each kind outstanding, some kept for mypoll_wait. */
	mypoll_echo_async(m, "x", ignore_reply, NULL);
	mypoll_trigger_async(m, 1, 2, ignore_reply, NULL);
	mypoll_timers_async(m, ignore_reply, NULL);
	mypoll_stats_async(m, NULL, NULL);
	mypoll_subscribe_async(m, "all", 0, ignore_reply, NULL);
	mypoll_subscribe_async(m, "trigger:0x2a,timer:3", 0, NULL, NULL);
	mypoll_open_device_async(m, ignore_reply, NULL);
	mypoll_help_async(m, NULL, NULL);
	mypoll_start_timer_async(m, 1, 1, 0, ignore_reply, NULL);
	mypoll_stop_timer_async(m, 1, ignore_reply, NULL);
	mypoll_quit_async(m, ignore_reply, NULL);
	static const char hello[] = "HELLO mypoll 1 00000000000000ab 1\n";
	if (write(c, hello, sizeof(hello) - 1) < 0)
		abort();
	size_t off = 0;
	int rc = 0;
	while (rc >= 0) {
		if (off < size) {
			ssize_t w = send(c, data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				off += (size_t)w;
			if (off == size)
				shutdown(c, SHUT_WR);
		} else if (off == size) {
			shutdown(c, SHUT_WR);
			off++;
		}
		rc = mypoll_process(m);
		if (rc == 0 && off > size) {
			struct pollfd pfd = {mypoll_fd(m), POLLIN, 0};
			poll(&pfd, 1, 1000);
		}
	}
	if (mypoll_fd(m) != -1)
		abort();
	close(c);
	mypoll_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct line l;
	struct mypoll_reply *r = malloc(sizeof(*r));
	const char *why;
	size_t n = size;
	const char *nl = memchr(data, '\n', size);

	if (size > 16384) {
		free(r);
		return 0;
	}
	if (lfd < 0)
		setup();
	if (nl)
		n = (size_t)(nl - (const char *)data);
	if (mypoll__parse_line((const char *)data, n, &l, &why) == 0 && l.kind == LINE_OK) {
		for (int v = MYPOLL_V_ECHO; v <= MYPOLL_V_QUIT; v++) {
			memset(r, 0, sizeof(*r));
			if (mypoll__parse_reply(v, l.rest, l.rest_len, r, &why) == 0 &&
			    (r->text_len != l.rest_len ||
			     (v == MYPOLL_V_TIMERS && r->u.timers.n > MYPOLL_MAX_TIMERS)))
				abort();
		}
	}
	free(r);
	/* A set: its canonical form is stable (format(parse(x)) parses back to
	 * itself), and always fits in MYPOLL_SET_MAX. */
	struct mypoll_filter f, g;
	char c1[MYPOLL_SET_MAX], c2[MYPOLL_SET_MAX];
	if (mypoll__filter_parse((const char *)data, n, &f) == 0) {
		int k = mypoll_filter_format(&f, c1, sizeof(c1));
		if (k < 0 || mypoll__filter_parse(c1, (size_t)k, &g) ||
		    mypoll_filter_format(&g, c2, sizeof(c2)) != k || memcmp(c1, c2, (size_t)k))
			abort();
	}
	stream(data, size);
	return 0;
}

#ifdef FUZZ_STANDALONE
/* A bounded random-input test for compilers without libFuzzer: corpus
 * lines, mutated (byte flips, splices, truncation) and random tokens. */
static const char *const toks[] = {
	"EVT", "LOST", "OK", "ERR", "HELLO", "mypoll", "1", "0", "18446744073709551615",
	"18446744073709551616", "trigger", "timer", "timer_stopped", "queue", "device",
	"restart", "echo", "stats", "timers", "subscribe", "open_device", "quit", "help",
	"start_timer", "stop_timer", "EINVAL", "E2BIG", "-", "1:5:0:2", "clients=1",
	"instance_id=00000000000000ab", " ", "\t", "\n", "\r", "\x80", "\x00", "=", ":",
	"timer:3", "trigger:0x2a", "trigger:42,timer:3", "all", "none", ",",
};

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 10000;
	static uint8_t seeds[64][512];
	size_t seedlen[64];
	int nseeds = 0;
	uint8_t buf[4096];
	unsigned seed = 1;

	for (int i = 2; i < argc && nseeds < 64; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f)
			continue;
		seedlen[nseeds] = fread(seeds[nseeds], 1, sizeof(seeds[0]), f);
		fclose(f);
		LLVMFuzzerTestOneInput(seeds[nseeds], seedlen[nseeds]);
		nseeds++;
	}
	for (long it = 0; it < iters; it++) {
		size_t n = 0;
		int lines = 1 + rand_r(&seed) % 4;

		for (int ln = 0; ln < lines && n < sizeof(buf) - 600; ln++) {
			if (nseeds && rand_r(&seed) % 2) {
				int s = rand_r(&seed) % nseeds;
				memcpy(buf + n, seeds[s], seedlen[s]);
				for (int k = rand_r(&seed) % 4; k > 0; k--)
					buf[n + (size_t)rand_r(&seed) % (seedlen[s] ? seedlen[s] : 1)] =
						(uint8_t)rand_r(&seed);
				n += rand_r(&seed) % 8 ? seedlen[s] : (size_t)rand_r(&seed) % (seedlen[s] + 1);
			} else {
				for (int k = rand_r(&seed) % 9; k >= 0; k--) {
					const char *t = toks[rand_r(&seed) % (sizeof(toks) / sizeof(toks[0]))];
					size_t tl = t[0] ? strlen(t) : 1;
					memcpy(buf + n, t, tl);
					n += tl;
					buf[n++] = ' ';
				}
				buf[n++] = '\n';
			}
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("fuzz_line: %ld random inputs and %d seeds, no failure\n", iters, nseeds);
	return 0;
}
#endif
