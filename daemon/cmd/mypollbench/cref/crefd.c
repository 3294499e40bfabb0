// crefd: the C reference daemon of mypollbench. One epoll loop, non-blocking
// AF_UNIX stream sockets, level-triggered, the subset of mypolld's line
// protocol the benchmark drives (PROTOCOL.md A.3-A.6): the HELLO greeting,
// echo, subscribe all|none, and a minimal trigger that broadcasts
// "EVT <seq> trigger 0 <payload> <i> <ts>" to subscribed clients in the
// same loop turn (no device in between) before replying
// "OK trigger <first> <count>". Each client's replies and events of one
// turn go out with one write(2); a client whose output does not fit its
// buffer is dropped (the benchmark never fills it).
//
// Usage: crefd <socket-path>
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 4096
#define INCAP 2048
#define OUTCAP 65536

struct client {
	int fd;
	int subscribed;
	int dirty;
	int want_out;
	size_t inlen, outlen;
	char in[INCAP];
	char out[OUTCAP];
};

static struct client *clients[MAXFD];
static int dirty[MAXFD];
static int ndirty;
static int epfd;
static uint64_t next_seq = 1;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void drop(struct client *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	clients[c->fd] = NULL;
	c->fd = -1; /* freed after the turn's flush */
}

static void queue(struct client *c, const char *p, size_t n)
{
	if (c->fd < 0)
		return;
	if (c->outlen + n > OUTCAP) {
		drop(c);
		return;
	}
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
	if (!c->dirty) {
		c->dirty = 1;
		dirty[ndirty++] = c->fd;
	}
}

static void set_out(struct client *c, int on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.fd = c->fd };

	if (c->want_out == on)
		return;
	c->want_out = on;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl mod");
}

static void flush(struct client *c)
{
	while (c->outlen > 0) {
		ssize_t n = write(c->fd, c->out, c->outlen);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			drop(c);
			return;
		}
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	set_out(c, c->outlen > 0);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void trigger(struct client *c, const char *args)
{
	unsigned long long payload = 0, count = 1;
	uint64_t first = next_seq, ts = now_ns();
	char line[160];
	int i, n;

	char *end;

	payload = strtoull(args, &end, 0);
	if (*end == ' ')
		count = strtoull(end + 1, NULL, 0);
	if (count < 1 || count > 256) {
		queue(c, "ERR trigger EINVAL count must be 1..256\n", 39);
		return;
	}
	for (unsigned long long k = 0; k < count; k++) {
		uint64_t seq = next_seq++;

		n = snprintf(line, sizeof(line), "EVT %llu trigger 0 %llu %llu %llu\n",
			     (unsigned long long)seq, payload, k, (unsigned long long)ts);
		for (i = 0; i < MAXFD; i++)
			if (clients[i] && clients[i]->subscribed)
				queue(clients[i], line, (size_t)n);
	}
	n = snprintf(line, sizeof(line), "OK trigger %llu %llu\n", (unsigned long long)first, count);
	queue(c, line, (size_t)n);
}

static void request(struct client *c, char *line)
{
	char reply[INCAP + 16];
	int n;

	if (strcmp(line, "echo") == 0) {
		queue(c, "OK echo\n", 8);
	} else if (strncmp(line, "echo ", 5) == 0) {
		n = snprintf(reply, sizeof(reply), "OK echo %s\n", line + 5);
		queue(c, reply, (size_t)n);
	} else if (strcmp(line, "subscribe all") == 0 || strcmp(line, "subscribe none") == 0) {
		c->subscribed = line[10] == 'a';
		n = snprintf(reply, sizeof(reply), "OK %s\n", line);
		queue(c, reply, (size_t)n);
	} else if (strncmp(line, "trigger", 7) == 0 && (line[7] == ' ' || line[7] == 0)) {
		trigger(c, line + 7);
	} else {
		queue(c, "ERR - ENOSYS unknown command\n", 29);
	}
}

static void readable(struct client *c)
{
	ssize_t n = read(c->fd, c->in + c->inlen, INCAP - c->inlen);
	size_t start = 0;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop(c);
		return;
	}
	c->inlen += (size_t)n;
	for (size_t i = 0; i < c->inlen && c->fd >= 0; i++) {
		if (c->in[i] != '\n')
			continue;
		c->in[i] = 0;
		request(c, c->in + start);
		start = i + 1;
	}
	if (c->fd < 0)
		return;
	memmove(c->in, c->in + start, c->inlen - start);
	c->inlen -= start;
	if (c->inlen == INCAP)
		drop(c); /* line too long */
}

static void accept_all(int lfd)
{
	static const char hello[] = "HELLO mypoll 1 0000000000c0ffee 1\n";

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		struct client *c;

		if (fd < 0)
			return;
		if (fd >= MAXFD) {
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c)
			die("calloc");
		c->fd = fd;
		clients[fd] = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl add");
		queue(c, hello, sizeof(hello) - 1);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event evs[256], lev = { .events = EPOLLIN, .data.fd = -1 };
	struct client *gone[MAXFD];
	int lfd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: crefd <socket-path>\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 128) < 0)
		die("listen");
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0)
		die("epoll");
	for (;;) {
		int n = epoll_wait(epfd, evs, 256, -1), ngone = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			struct client *c;

			if (fd < 0) {
				accept_all(lfd);
				continue;
			}
			c = clients[fd];
			if (!c)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				readable(c);
			if (c->fd >= 0 && (evs[i].events & EPOLLOUT) && !c->dirty) {
				c->dirty = 1;
				dirty[ndirty++] = fd;
			}
			if (c->fd < 0)
				gone[ngone++] = c;
		}
		for (int i = 0; i < ndirty; i++) {
			struct client *c = clients[dirty[i]];

			if (!c)
				continue;
			c->dirty = 0;
			flush(c);
			if (c->fd < 0)
				gone[ngone++] = c;
		}
		ndirty = 0;
		for (int i = 0; i < ngone; i++)
			free(gone[i]);
	}
}
