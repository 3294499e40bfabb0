// SPDX-License-Identifier: MIT
/*
 * trigger: ask mypolld for `count` trigger events with `payload`, print the
 * seq of the first and how many, as "first_seq count".
 *
 *   trigger [-s socket] [-p payload] [-c count] [-d]
 *
 * With -d it first gets a descriptor of /dev/mypoll from the daemon
 * (open_device, passed by SCM_RIGHTS), then reads the first triggered record
 * from it directly and adds its seq: "first_seq count device_seq".
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include <libmypoll.h>

int main(int argc, char **argv)
{
	const char *sock = MYPOLL_DEFAULT_SOCKET;
	uint64_t payload = 0, first = 0;
	uint32_t count = 1, n = 0;
	int opt, dev = 0, fd = -1;

	while ((opt = getopt(argc, argv, "s:p:c:d")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'p': payload = strtoull(optarg, NULL, 0); break;
		case 'c': count = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'd': dev = 1; break;
		default:
			fprintf(stderr, "usage: trigger [-s socket] [-p payload] [-c count] [-d]\n");
			return 2;
		}
	}
	mypoll *m = mypoll_new(0);
	if (!m)
		return 1;
	int rc = mypoll_connect(m, sock, 0);
	if (rc == 0 && dev && (rc = fd = mypoll_open_device(m)) >= 0)
		rc = 0; /* its cursor is live: it sees what follows */
	if (rc == 0)
		rc = mypoll_trigger(m, payload, count, &first, &n);
	if (rc < 0) {
		fprintf(stderr, "trigger: %s\n", mypoll_errmsg(m));
		mypoll_free(m);
		return 1;
	}
	mypoll_free(m);
	if (fd < 0) {
		printf("%" PRIu64 " %" PRIu32 "\n", first, n);
		return 0;
	}
	/* One 48-byte record (PROTOCOL B.2): seq is its first u64. */
	unsigned char rec[48];
	uint64_t seq;
	struct pollfd pfd = {fd, POLLIN, 0};
	ssize_t got = -1;
	if (poll(&pfd, 1, 5000) == 1)
		got = read(fd, rec, sizeof(rec));
	if (got != (ssize_t)sizeof(rec)) {
		fprintf(stderr, "trigger: read /dev/mypoll: %s\n", got < 0 ? strerror(errno) : "short read");
		close(fd);
		return 1;
	}
	memcpy(&seq, rec, sizeof(seq));
	printf("%" PRIu64 " %" PRIu32 " %" PRIu64 "\n", first, n, seq);
	close(fd);
	return 0;
}
