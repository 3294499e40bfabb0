// SPDX-License-Identifier: MIT
/*
 * The server line parser (PROTOCOL A.2-A.6). Pure functions on bytes: no I/O,
 * no allocation, every index checked against the length. Fuzzed by
 * tests/fuzz_line.c.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "internal.h"

static const struct {
	const char *name;
	int verb;
} verbs[] = {
	{"echo", MYPOLL_V_ECHO},
	{"trigger", MYPOLL_V_TRIGGER},
	{"start_timer", MYPOLL_V_START_TIMER},
	{"stop_timer", MYPOLL_V_STOP_TIMER},
	{"timers", MYPOLL_V_TIMERS},
	{"subscribe", MYPOLL_V_SUBSCRIBE},
	{"stats", MYPOLL_V_STATS},
	{"open_device", MYPOLL_V_OPEN_DEVICE},
	{"help", MYPOLL_V_HELP},
	{"quit", MYPOLL_V_QUIT},
};

#include "errnames.h"

static int eq(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

int mypoll__verb_of(const char *p, size_t n)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (eq(p, n, verbs[i].name))
			return verbs[i].verb;
	return 0;
}

const char *mypoll_verb_name(int verb)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == verb)
			return verbs[i].name;
	return "?";
}

int mypoll__errno_of(const char *p, size_t n)
{
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (eq(p, n, errnames[i].name))
			return -errnames[i].err;
	return 0;
}

const char *mypoll_strerror(int rc)
{
	if (rc >= 0)
		return rc ? "no error (a count or id)" : "success";
	if (rc == INT_MIN)
		return "unknown error";
	int server = (-rc & MYPOLL_ESERVER) != 0, e = -rc & ~MYPOLL_ESERVER;
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].err == e)
			return server ? errnames[i].server : errnames[i].local;
	return server ? "mypolld error: unknown error" : "unknown error";
}

/* A token cursor over p[0..n). */
struct tok {
	const char *p;
	size_t n, i;
};

static int is_sep(char c)
{
	return c == ' ' || c == '\t';
}

/* next returns the next token (ptr, len), or len 0 at the end. */
static size_t next(struct tok *t, const char **s)
{
	while (t->i < t->n && is_sep(t->p[t->i]))
		t->i++;
	*s = t->p + t->i;
	size_t start = t->i;
	while (t->i < t->n && !is_sep(t->p[t->i]))
		t->i++;
	return t->i - start;
}

/* u64 parses a decimal u64 with no sign, no leading junk, no overflow. */
static int u64(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

static int tok_u64(struct tok *t, uint64_t *v)
{
	const char *s;
	size_t n = next(t, &s);

	return u64(s, n, v);
}

/*
 * digit returns the value of c as a digit (hex: 0-9 and a-f, upper: A-F
 * too), or -1.
 */
static int digit(char c, int hex, int upper)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (hex && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (hex && upper && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex16(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n != 16)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int d = digit(s[i], 1, 0);

		if (d < 0)
			return -1;
		x = x << 4 | (unsigned)d;
	}
	*v = x;
	return 0;
}

/*
 * number parses a subscribe item's value (PROTOCOL A.5): a u64 in decimal or
 * 0x hex, leading zeros allowed, no sign, no overflow.
 */
static int number(const char *s, size_t n, uint64_t *v)
{
	int hex = n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	uint64_t x = 0;

	if (hex) {
		s += 2;
		n -= 2;
	}
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int dv = digit(s[i], hex, 1);
		unsigned d = (unsigned)dv;

		if (dv < 0)
			return -1;
		if (hex ? x >> 60 != 0 : x > (UINT64_MAX - d) / 10)
			return -1;
		x = hex ? x << 4 | d : x * 10 + d;
	}
	*v = x;
	return 0;
}

int mypoll__filter_parse(const char *p, size_t n, struct mypoll_filter *f)
{
	size_t items = 0;

	memset(f, 0, sizeof(*f));
	if (eq(p, n, "all")) {
		f->classes = MYPOLL_FILTER_TIMER | MYPOLL_FILTER_TRIGGER;
		return 0;
	}
	if (eq(p, n, "none"))
		return 0;
	for (size_t i = 0; i <= n;) {
		size_t k = 0;
		uint64_t v;

		while (i + k < n && p[i + k] != ',')
			k++;
		const char *s = p + i;
		if (++items > MYPOLL_FILTER_MAX_ITEMS)
			goto bad;
		if (eq(s, k, "timer")) {
			f->classes |= MYPOLL_FILTER_TIMER;
		} else if (eq(s, k, "trigger")) {
			f->classes |= MYPOLL_FILTER_TRIGGER;
		} else if (k > 6 && !memcmp(s, "timer:", 6)) {
			/* A timer id is decimal (A.5: 0..7 only). */
			for (size_t j = 6; j < k; j++)
				if (s[j] < '0' || s[j] > '9')
					goto bad;
			if (number(s + 6, k - 6, &v) || v >= MYPOLL_MAX_TIMERS)
				goto bad;
			f->timers |= 1u << v;
		} else if (k > 8 && !memcmp(s, "trigger:", 8)) {
			if (number(s + 8, k - 8, &v))
				goto bad;
			f->payloads[f->n_payloads++] = v;
		} else {
			goto bad;
		}
		i += k + 1;
	}
	return 0;
bad:
	memset(f, 0, sizeof(*f));
	return -EINVAL;
}

int mypoll_filter_parse(struct mypoll_filter *f, const char *set)
{
	if (!f)
		return -EINVAL;
	if (!set) {
		memset(f, 0, sizeof(*f));
		return -EINVAL;
	}
	return mypoll__filter_parse(set, strlen(set), f);
}

/* put appends s to buf[*len..size), keeping room for the NUL. */
static int put(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
	if (*len + n >= size)
		return -1;
	memcpy(buf + *len, s, n);
	*len += n;
	return 0;
}

/* put_item appends ",<name><decimal v>" (no comma first). */
static int put_item(char *buf, size_t size, size_t *len, const char *name, int with_v, uint64_t v)
{
	char d[21];
	size_t k = sizeof(d);

	if (*len && put(buf, size, len, ",", 1))
		return -1;
	if (put(buf, size, len, name, strlen(name)))
		return -1;
	if (!with_v)
		return 0;
	do
		d[--k] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return put(buf, size, len, d + k, sizeof(d) - k);
}

int mypoll_filter_format(const struct mypoll_filter *f, char *buf, size_t size)
{
	const uint32_t both = MYPOLL_FILTER_TIMER | MYPOLL_FILTER_TRIGGER;
	uint64_t pl[MYPOLL_FILTER_MAX_ITEMS];
	size_t np = 0, items = 0, len = 0;

	if (!f || (f->classes & ~both) || (f->timers >> MYPOLL_MAX_TIMERS) || f->reserved ||
	    f->n_payloads > MYPOLL_FILTER_MAX_ITEMS || (!buf && size))
		return -EINVAL;
	/* The canonical form (A.5): classes, timer: ids ascending, trigger:
	 * payloads ascending, without duplicates or what a class covers. */
	if (!(f->classes & MYPOLL_FILTER_TRIGGER)) {
		for (uint32_t i = 0; i < f->n_payloads; i++) {
			size_t j = np;

			while (j > 0 && pl[j - 1] > f->payloads[i])
				j--;
			if (j > 0 && pl[j - 1] == f->payloads[i])
				continue;
			memmove(pl + j + 1, pl + j, (np - j) * sizeof(pl[0]));
			pl[j] = f->payloads[i];
			np++;
		}
	}
	uint32_t timers = (f->classes & MYPOLL_FILTER_TIMER) ? 0 : f->timers;
	items = (size_t)__builtin_popcount(f->classes) + (size_t)__builtin_popcount(timers) + np;
	if (items > MYPOLL_FILTER_MAX_ITEMS)
		return -EINVAL;
	int rc = 0;
	if (f->classes == both)
		rc = put(buf, size, &len, "all", 3);
	else if (items == 0)
		rc = put(buf, size, &len, "none", 4);
	if (f->classes & MYPOLL_FILTER_TIMER && f->classes != both)
		rc |= put_item(buf, size, &len, "timer", 0, 0);
	if (f->classes & MYPOLL_FILTER_TRIGGER && f->classes != both)
		rc |= put_item(buf, size, &len, "trigger", 0, 0);
	for (unsigned i = 0; f->classes != both && i < MYPOLL_MAX_TIMERS; i++)
		if (timers & 1u << i)
			rc |= put_item(buf, size, &len, "timer:", 1, i);
	for (size_t i = 0; f->classes != both && i < np; i++)
		rc |= put_item(buf, size, &len, "trigger:", 1, pl[i]);
	if (rc)
		return -ENOSPC;
	buf[len] = '\0';
	return (int)len;
}

static int at_end(struct tok *t)
{
	const char *s;

	return next(t, &s) == 0;
}

static int bad(const char **why, const char *reason)
{
	*why = reason;
	return -EPROTO;
}

int mypoll__parse_line(const char *p, size_t n, struct line *out, const char **why)
{
	struct tok t = {p, n, 0};
	const char *s;
	size_t k;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if ((c < 0x20 && c != '\t') || c > 0x7e)
			return bad(why, "line is not printable ASCII");
	}
	k = next(&t, &s);
	if (eq(s, k, "EVT")) {
		struct mypoll_event *e = &out->ev;
		uint64_t src;

		out->kind = LINE_EVT;
		if (tok_u64(&t, &e->seq))
			return bad(why, "EVT: bad seq");
		k = next(&t, &s);
		if (eq(s, k, "timer"))
			e->type = MYPOLL_TIMER;
		else if (eq(s, k, "trigger"))
			e->type = MYPOLL_TRIGGER;
		else if (eq(s, k, "timer_stopped"))
			e->type = MYPOLL_TIMER_STOPPED;
		else
			return bad(why, "EVT: unknown type");
		if (tok_u64(&t, &src) || src > UINT32_MAX)
			return bad(why, "EVT: bad source_id");
		e->source_id = (uint32_t)src;
		if (tok_u64(&t, &e->arg) || tok_u64(&t, &e->aux) || tok_u64(&t, &e->timestamp_ns))
			return bad(why, "EVT: bad number");
		if (!at_end(&t))
			return bad(why, "EVT: trailing fields");
		return 0;
	}
	if (eq(s, k, "LOST")) {
		struct mypoll_lost *l = &out->lost;

		out->kind = LINE_LOST;
		if (tok_u64(&t, &l->first) || tok_u64(&t, &l->last) || tok_u64(&t, &l->count))
			return bad(why, "LOST: bad number");
		if (l->first > l->last || l->count == 0 || l->count - 1 > l->last - l->first)
			return bad(why, "LOST: inconsistent range");
		k = next(&t, &s);
		if (eq(s, k, "queue"))
			l->reason = MYPOLL_LOST_QUEUE;
		else if (eq(s, k, "device"))
			l->reason = MYPOLL_LOST_DEVICE;
		else if (eq(s, k, "restart"))
			l->reason = MYPOLL_LOST_RESTART;
		else
			return bad(why, "LOST: unknown reason");
		if (!at_end(&t))
			return bad(why, "LOST: trailing fields");
		return 0;
	}
	if (eq(s, k, "HELLO")) {
		out->kind = LINE_HELLO;
		k = next(&t, &s);
		if (!eq(s, k, "mypoll"))
			return bad(why, "HELLO: not mypoll");
		k = next(&t, &s);
		if (!eq(s, k, "1"))
			return bad(why, "HELLO: unsupported protocol version");
		k = next(&t, &s);
		if (hex16(s, k, &out->instance_id))
			return bad(why, "HELLO: bad instance_id");
		if (tok_u64(&t, &out->next_seq))
			return bad(why, "HELLO: bad next_seq");
		if (!at_end(&t))
			return bad(why, "HELLO: trailing fields");
		return 0;
	}
	if (eq(s, k, "OK") || eq(s, k, "ERR")) {
		out->kind = s[0] == 'O' ? LINE_OK : LINE_ERR;
		/* Exactly one space after OK/ERR and after the verb (A.4). */
		if (t.i >= n || p[t.i] != ' ')
			return bad(why, "reply without a verb");
		t.i++;
		out->verb = p + t.i;
		while (t.i < n && p[t.i] != ' ')
			t.i++;
		out->verb_len = (size_t)(p + t.i - out->verb);
		if (out->verb_len == 0 || out->verb_len > 32)
			return bad(why, "reply: bad verb");
		for (size_t i = 0; i < out->verb_len; i++)
			if (out->verb[i] == '\t')
				return bad(why, "reply: bad verb");
		if (t.i < n)
			t.i++; /* the one separator */
		if (out->kind == LINE_OK) {
			out->rest = p + t.i;
			out->rest_len = n - t.i;
			return 0;
		}
		k = next(&t, &s);
		if (k == 0 || k >= sizeof(out->errname))
			return bad(why, "ERR: bad errno name");
		for (size_t i = 0; i < k; i++)
			if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
				return bad(why, "ERR: bad errno name");
		if (s[0] != 'E')
			return bad(why, "ERR: bad errno name");
		memcpy(out->errname, s, k);
		out->err = mypoll__errno_of(s, k);
		if (out->err == 0)
			out->err = -EIO; /* a name this library does not know: kept
					  * in errname (mypoll_server_errname()) */
		if (t.i < n)
			t.i++;
		out->rest = p + t.i;
		out->rest_len = n - t.i;
		return 0;
	}
	return bad(why, "unknown line kind");
}

static int copy_text(struct mypoll_reply *r, const char *d, size_t n)
{
	if (n >= sizeof(r->text))
		return -1;
	memcpy(r->text, d, n);
	r->text[n] = '\0';
	r->text_len = n;
	return 0;
}

/* timer parses "<id>:<period_ms>:<ticks>:<count>". */
static int timer(const char *s, size_t n, struct mypoll_timer *tm)
{
	uint64_t f[4];
	size_t start = 0, j = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != ':')
			continue;
		if (j == 4 || u64(s + start, i - start, &f[j]))
			return -1;
		j++;
		start = i + 1;
	}
	if (j != 4 || f[0] >= MYPOLL_MAX_TIMERS || f[1] > UINT32_MAX)
		return -1;
	tm->id = (uint32_t)f[0];
	tm->period_ms = (uint32_t)f[1];
	tm->ticks = f[2];
	tm->count = f[3];
	return 0;
}

static int stats(struct tok *t, struct mypoll_stats *st)
{
	static const char *const keys[] = {"clients", "max_clients", "events", "lost_device",
					   "lost_queue", "uptime_ms", "next_seq", "instance_id"};
	uint64_t *dst[] = {&st->clients, &st->max_clients, &st->events, &st->lost_device,
			   &st->lost_queue, &st->uptime_ms, &st->next_seq, &st->instance_id};
	unsigned seen = 0;
	const char *s;
	size_t k;

	while ((k = next(t, &s)) != 0) {
		const char *eqs = memchr(s, '=', k);

		if (!eqs || eqs == s)
			return -1;
		size_t kl = (size_t)(eqs - s), vl = k - kl - 1;
		for (unsigned i = 0; i < 8; i++) {
			if (!eq(s, kl, keys[i]))
				continue;
			if (i == 7 ? hex16(eqs + 1, vl, dst[i]) : u64(eqs + 1, vl, dst[i]))
				return -1;
			seen |= 1u << i;
		}
	}
	return seen == 0xff ? 0 : -1;
}

int mypoll__parse_reply(int verb, const char *d, size_t n, struct mypoll_reply *r,
			const char **why)
{
	struct tok t = {d, n, 0};
	const char *s;
	size_t k;
	uint64_t v;

	r->verb = verb;
	switch (verb) {
	case MYPOLL_V_ECHO:
		break;
	case MYPOLL_V_TRIGGER:
		if (tok_u64(&t, &r->u.trigger.first_seq) || tok_u64(&t, &v) || v == 0 ||
		    v > UINT32_MAX || !at_end(&t))
			return bad(why, "OK trigger: bad details");
		r->u.trigger.count = (uint32_t)v;
		break;
	case MYPOLL_V_START_TIMER:
	case MYPOLL_V_STOP_TIMER:
		if (tok_u64(&t, &v) || v >= MYPOLL_MAX_TIMERS || !at_end(&t))
			return bad(why, "OK timer: bad id");
		r->u.timer.id = (uint32_t)v;
		break;
	case MYPOLL_V_TIMERS:
		while ((k = next(&t, &s)) != 0) {
			if (r->u.timers.n == MYPOLL_MAX_TIMERS ||
			    timer(s, k, &r->u.timers.t[r->u.timers.n]))
				return bad(why, "OK timers: bad timer");
			if (r->u.timers.n && r->u.timers.t[r->u.timers.n].id <=
					     r->u.timers.t[r->u.timers.n - 1].id)
				return bad(why, "OK timers: ids not ascending");
			r->u.timers.n++;
		}
		break;
	case MYPOLL_V_SUBSCRIBE: {
		/* The set in canonical form (A.5): a valid set, written as
		 * mypoll_filter_format() writes it. */
		struct mypoll_filter f;
		char canon[MYPOLL_SET_MAX];
		int c;

		k = next(&t, &s);
		if (k == 0)
			return bad(why, "OK subscribe: no set");
		if (!at_end(&t) || mypoll__filter_parse(s, k, &f) ||
		    (c = mypoll_filter_format(&f, canon, sizeof(canon))) < 0 ||
		    (size_t)c != k || memcmp(canon, s, k) != 0)
			return bad(why, "OK subscribe: set not valid and canonical (A.5)");
		break;
	}
	case MYPOLL_V_STATS:
		if (stats(&t, &r->u.stats))
			return bad(why, "OK stats: missing or bad key");
		break;
	case MYPOLL_V_OPEN_DEVICE:
	case MYPOLL_V_QUIT:
		if (!at_end(&t))
			return bad(why, "OK: unexpected details");
		break;
	case MYPOLL_V_HELP:
		break;
	default:
		return bad(why, "reply to an unknown verb");
	}
	if (copy_text(r, d, n))
		return bad(why, "reply too long");
	return 0;
}
