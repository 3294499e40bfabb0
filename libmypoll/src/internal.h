/* SPDX-License-Identifier: MIT */
/* Internal interfaces of libmypoll: the line parser (fuzzed on its own). */
#ifndef LIBMYPOLL_INTERNAL_H
#define LIBMYPOLL_INTERNAL_H

#include "libmypoll.h"

#define HIDDEN __attribute__((visibility("hidden")))

enum line_kind { LINE_HELLO = 1, LINE_OK, LINE_ERR, LINE_EVT, LINE_LOST };

/* A parsed server line. Pointers point into the parsed buffer. */
struct line {
	int kind;
	uint64_t instance_id, next_seq;  /* HELLO */
	struct mypoll_event ev;          /* EVT */
	struct mypoll_lost lost;         /* LOST */
	const char *verb;                /* OK, ERR: "-" when none */
	size_t verb_len;
	const char *rest;                /* OK: details; ERR: message */
	size_t rest_len;
	int err;                         /* ERR: negative errno */
	char errname[16];                /* ERR: the name as sent */
};

/*
 * parse_line parses one server line of n bytes (without its '\n'; a trailing
 * '\r' is part of the line and makes it malformed). Returns 0 or -EPROTO with
 * a reason in why. Never reads outside p[0..n).
 */
HIDDEN int mypoll__parse_line(const char *p, size_t n, struct line *out, const char **why);

/*
 * parse_reply decodes the details of `OK <verb> <details>` for verb into r
 * (r->verb, r->u and r->text). Returns 0 or -EPROTO with a reason in why.
 */
HIDDEN int mypoll__parse_reply(int verb, const char *d, size_t n, struct mypoll_reply *r,
			       const char **why);

/* verb_of returns the enum mypoll_verb for a verb token, or 0. */
HIDDEN int mypoll__verb_of(const char *p, size_t n);

/* errno_of maps an errno name (EINVAL) to its negative value, 0 if unknown. */
HIDDEN int mypoll__errno_of(const char *p, size_t n);

/*
 * filter_parse parses the subscribe set p[0..n) (PROTOCOL A.5) into *f:
 * 0, or -EINVAL with *f zeroed. Never reads outside p[0..n).
 */
HIDDEN int mypoll__filter_parse(const char *p, size_t n, struct mypoll_filter *f);

#endif
