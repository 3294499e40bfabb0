// SPDX-License-Identifier: MIT
/*
 * trigger: ask mypolld for `count` trigger events with `payload`, print the
 * seq of the first and how many, as "first_seq count".
 *
 *   trigger [-s socket] [-p payload] [-c count]
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <libmypoll.h>

int main(int argc, char **argv)
{
	const char *sock = MYPOLL_DEFAULT_SOCKET;
	uint64_t payload = 0, first = 0;
	uint32_t count = 1, n = 0;
	int opt;

	while ((opt = getopt(argc, argv, "s:p:c:")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'p': payload = strtoull(optarg, NULL, 0); break;
		case 'c': count = (uint32_t)strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: trigger [-s socket] [-p payload] [-c count]\n");
			return 2;
		}
	}
	mypoll *m = mypoll_new(0);
	if (!m)
		return 1;
	int rc = mypoll_connect(m, sock, 0);
	if (rc == 0)
		rc = mypoll_trigger(m, payload, count, &first, &n);
	if (rc < 0) {
		fprintf(stderr, "trigger: %s\n", mypoll_errmsg(m));
		mypoll_free(m);
		return 1;
	}
	printf("%" PRIu64 " %" PRIu32 "\n", first, n);
	mypoll_free(m);
	return 0;
}
