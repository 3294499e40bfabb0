/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mypoll_compat.h - every kernel-version difference mypoll.c has to bridge,
 * in one place.  The driver calls only the mypoll_* names below; nothing in
 * mypoll.c tests LINUX_VERSION_CODE.
 *
 * Built and booted in CI: Debian 6.1 (bookworm), 6.12 (trixie) and the
 * newest trixie-backports kernel (7.x); see README.md for the table.
 */
#ifndef MYPOLL_COMPAT_H
#define MYPOLL_COMPAT_H

#include <linux/hrtimer.h>
#include <linux/version.h>

/*
 * hrtimer_setup() (6.13) replaced hrtimer_init() + assigning ->function;
 * hrtimer_init() was removed after 6.14.
 */
static inline void mypoll_hrtimer_setup(struct hrtimer *t,
					enum hrtimer_restart (*fn)(struct hrtimer *),
					clockid_t clock, enum hrtimer_mode mode)
{
#if KERNEL_VERSION(6, 13, 0) <= LINUX_VERSION_CODE
	hrtimer_setup(t, fn, clock, mode);
#else
	hrtimer_init(t, clock, mode);
	t->function = fn;
#endif
}

/*
 * no_llseek was removed in 6.12: a NULL .llseek is what every kernel we
 * support treats as "not seekable" (-ESPIPE), and stream_open() already
 * clears FMODE_LSEEK on /dev/mypoll, so the driver sets no .llseek at all.
 */

#endif /* MYPOLL_COMPAT_H */
