// SPDX-License-Identifier: MIT
/*
 * bench_sub: a libmypoll subscriber for `make bench` (libmypoll/bench/main.go).
 * Connects, subscribes to all, prints "ready", counts events and lost events
 * in a poll loop until SIGTERM, then prints "<events> <lost>".
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <libmypoll.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

struct counts {
	uint64_t events, lost;
};

static void on_event(void *user, const struct mypoll_event *ev)
{
	(void)ev;
	((struct counts *)user)->events++;
}

static void on_lost(void *user, const struct mypoll_lost *l)
{
	((struct counts *)user)->lost += l->count;
}

int main(int argc, char **argv)
{
	struct counts c = {0, 0};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	mypoll *m = mypoll_new(0);
	if (!m || argc < 2)
		return 2;
	mypoll_set_callbacks(m, on_event, on_lost, &c);
	if (mypoll_connect(m, argv[1], 0) < 0 || mypoll_subscribe(m, "all", 0) < 0) {
		fprintf(stderr, "bench_sub: %s\n", mypoll_errmsg(m));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		struct pollfd pfd = {mypoll_fd(m), mypoll_poll_events(m), 0};

		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			break;
		if (mypoll_process(m) < 0)
			break;
	}
	printf("%" PRIu64 " %" PRIu64 "\n", c.events, c.lost);
	mypoll_free(m);
	return 0;
}
