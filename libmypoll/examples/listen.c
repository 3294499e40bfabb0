// SPDX-License-Identifier: MIT
/*
 * listen: print mypolld events from an application's own poll(2) loop.
 *
 *   listen [-s socket] [-e set] [-f from_seq] [-n count]
 *
 * Subscribes to `set` (default all; a filter such as timer:3,trigger:0x2a
 * works too, docs/libmypoll.md), from `from_seq` when given (replaying
 * what the daemon retained), prints one line per event or loss and exits
 * after `count` events (default: never). When the daemon goes away it
 * reconnects and resumes after the last seq it printed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmypoll.h>

struct app {
	uint64_t seen, want;
};

static const char *type_name(int type)
{
	switch (type) {
	case MYPOLL_TIMER: return "timer";
	case MYPOLL_TRIGGER: return "trigger";
	case MYPOLL_TIMER_STOPPED: return "timer_stopped";
	}
	return "?";
}

static void on_event(void *user, const struct mypoll_event *ev)
{
	struct app *app = user;

	printf("EVT %" PRIu64 " %s %" PRIu32 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", ev->seq,
	       type_name(ev->type), ev->source_id, ev->arg, ev->aux, ev->timestamp_ns);
	app->seen++;
}

static void on_lost(void *user, const struct mypoll_lost *l)
{
	static const char *const reasons[] = {"?", "queue", "device", "restart"};

	(void)user;
	printf("LOST %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", l->first, l->last, l->count,
	       reasons[l->reason]);
}

int main(int argc, char **argv)
{
	const char *sock = MYPOLL_DEFAULT_SOCKET, *set = "all";
	uint64_t from = 0;
	struct app app = {0, 0};
	int opt, rc;

	while ((opt = getopt(argc, argv, "s:e:f:n:")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'e': set = optarg; break;
		case 'f': from = strtoull(optarg, NULL, 0); break;
		case 'n': app.want = strtoull(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: listen [-s socket] [-e set] [-f from_seq] [-n count]\n");
			return 2;
		}
	}
	mypoll *m = mypoll_new(0);
	if (!m)
		return 1;
	mypoll_set_callbacks(m, on_event, on_lost, &app);
	if ((rc = mypoll_connect(m, sock, 0)) < 0 || (rc = mypoll_subscribe(m, set, from)) < 0) {
		fprintf(stderr, "listen: %s\n", mypoll_errmsg(m));
		mypoll_free(m);
		return 1;
	}
	fflush(stdout);
	while (app.want == 0 || app.seen < app.want) {
		struct pollfd pfd = {mypoll_fd(m), mypoll_poll_events(m), 0};

		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		rc = mypoll_process(m);
		fflush(stdout);
		if (rc >= 0)
			continue;
		fprintf(stderr, "listen: %s; resuming after seq %" PRIu64 "\n", mypoll_errmsg(m),
			mypoll_last_seq(m));
		while ((rc = mypoll_resume(m)) < 0) {
			struct timespec ts = {0, 200 * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
	}
	mypoll_free(m);
	return 0;
}
