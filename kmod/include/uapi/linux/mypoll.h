/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * mypoll.h - user ABI of /dev/mypoll, version 2
 *
 * One device-wide ring of fixed 48-byte records; every record gets a
 * sequence number (1, 2, ...) that is never reused within a module
 * instance.  Each open file has its own cursor.  When records a reader has
 * not read are overwritten, its next read starts with one OVERFLOW record
 * naming the exact lost range.  All structs are fixed size, with explicit
 * reserved fields and no implicit padding, identical on 32- and 64-bit.
 *
 * Version 2 changed only the ioctl magic: version 1 used 0xB8, which Linux
 * has since assigned to other drivers (uapi/misc/mrvl_cn10k_dpi.h,
 * uapi/linux/mshv.h).  The version-1 numbers give -ENOTTY.
 */
#ifndef _UAPI_LINUX_MYPOLL_H
#define _UAPI_LINUX_MYPOLL_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/const.h>

#define MYPOLL_ABI_VERSION	2
#define MYPOLL_MAX_TIMERS	8
#define MYPOLL_MAX_WRITE	64

/* struct mypoll_event.type */
enum mypoll_event_type {
	MYPOLL_EV_TIMER		= 1,	/* arg: tick number, aux: ticks folded in */
	MYPOLL_EV_TRIGGER	= 2,	/* arg: payload, aux: index in burst */
	MYPOLL_EV_OVERFLOW	= 3,	/* seq: first lost, aux: count lost */
	MYPOLL_EV_TIMER_STOPPED	= 4,	/* arg: final tick, aux: reason */
};

/* struct mypoll_event.aux of a TIMER_STOPPED record */
#define MYPOLL_STOP_REASON_STOP		0	/* TIMER_STOP or "stop" write */
#define MYPOLL_STOP_REASON_COUNT	1	/* count reached */
#define MYPOLL_STOP_REASON_CLOSED	2	/* owner file released */

struct mypoll_event {		/* 48 bytes */
	__u64 seq;		/* OVERFLOW: first lost seq */
	__u64 timestamp_ns;	/* CLOCK_MONOTONIC at generation (OVERFLOW: at read) */
	__u16 type;		/* enum mypoll_event_type */
	__u16 flags;		/* 0 */
	__u32 source_id;	/* timer id; 0 for TRIGGER */
	__u64 arg;
	__u64 aux;
	__u64 reserved;		/* 0 */
};

struct mypoll_info {		/* 72 bytes */
	__u32 abi_version;	/* MYPOLL_ABI_VERSION */
	__u32 event_size;	/* sizeof(struct mypoll_event) */
	__u32 ring_size;	/* records, 1 << ring_order */
	__u32 max_timers;	/* MYPOLL_MAX_TIMERS */
	__u64 min_period_ns;
	__u64 max_period_ns;	/* 3600 s */
	__u32 max_burst;	/* largest mypoll_trigger.count */
	__u32 max_write;	/* MYPOLL_MAX_WRITE */
	__u64 instance_id;	/* random, non-zero, per module load */
	__u64 reserved[3];
};

struct mypoll_stats {		/* 96 bytes */
	__u64 next_seq;		/* seq the next record will get */
	__u64 oldest_seq;	/* oldest seq still in the ring */
	__u64 generated;	/* next_seq - 1, never reset */
	__u64 timer_events;	/* TIMER and TIMER_STOPPED records */
	__u64 trigger_events;
	__u64 overwritten;	/* max(0, generated - ring_size), never reset */
	__u64 timer_overruns;	/* ticks folded into TIMER records */
	__u32 readers;		/* open files */
	__u32 active_timers;	/* bitmask of running ids */
	__u64 reserved[4];
};

struct mypoll_reader_info {	/* 64 bytes, the calling file */
	__u64 cursor;		/* next seq this file reads */
	__u64 pending;		/* next_seq - cursor (lost ones included) */
	__u64 lost_total;	/* sum of OVERFLOW.aux delivered */
	__u64 overflows;	/* OVERFLOW records delivered */
	__u64 reserved[4];
};

#define MYPOLL_SEEK_LIVE	0	/* cursor = next_seq (the default at open) */
#define MYPOLL_SEEK_OLDEST	1	/* cursor = oldest_seq */
#define MYPOLL_SEEK_SEQ		2	/* cursor = seq, seq <= next_seq */

struct mypoll_seek {		/* 16 bytes */
	__u32 whence;
	__u32 reserved;
	__u64 seq;
};

#define MYPOLL_TIMER_F_OWNED	_BITUL(0)	/* stop when this file is released */
#define MYPOLL_TIMER_F_REPLACE	_BITUL(1)	/* restart a running timer */
#define MYPOLL_TIMER_F_ALL	(MYPOLL_TIMER_F_OWNED | MYPOLL_TIMER_F_REPLACE)

struct mypoll_timer {		/* 48 bytes */
	__u32 id;		/* < MYPOLL_MAX_TIMERS */
	__u32 flags;		/* MYPOLL_TIMER_F_* */
	__u64 period_ns;	/* min_period_ns .. max_period_ns */
	__u64 count;		/* ticks before it stops, 0 = forever */
	__u64 cookie;		/* opaque, returned by TIMER_GET */
	__u64 ticks;		/* out (TIMER_GET); 0 for TIMER_START */
	__u32 active;		/* out (TIMER_GET); 0 for TIMER_START */
	__u32 reserved;
};

struct mypoll_trigger {		/* 24 bytes */
	__u64 payload;		/* copied to mypoll_event.arg */
	__u32 count;		/* 1 .. max_burst, consecutive seqs */
	__u32 flags;		/* 0 */
	__u64 first_seq;	/* out; 0 on input */
};

#define MYPOLL_IOC_MAGIC	0xBC

#define MYPOLL_IOC_GET_INFO	_IOR(MYPOLL_IOC_MAGIC, 0x00, struct mypoll_info)
#define MYPOLL_IOC_GET_STATS	_IOR(MYPOLL_IOC_MAGIC, 0x01, struct mypoll_stats)
#define MYPOLL_IOC_GET_READER	_IOR(MYPOLL_IOC_MAGIC, 0x02, struct mypoll_reader_info)
#define MYPOLL_IOC_SEEK		_IOW(MYPOLL_IOC_MAGIC, 0x03, struct mypoll_seek)
#define MYPOLL_IOC_TIMER_START	_IOW(MYPOLL_IOC_MAGIC, 0x10, struct mypoll_timer)
#define MYPOLL_IOC_TIMER_STOP	_IOW(MYPOLL_IOC_MAGIC, 0x11, __u32)
#define MYPOLL_IOC_TIMER_GET	_IOWR(MYPOLL_IOC_MAGIC, 0x12, struct mypoll_timer)
#define MYPOLL_IOC_TRIGGER	_IOWR(MYPOLL_IOC_MAGIC, 0x13, struct mypoll_trigger)
#define MYPOLL_IOC_RESET_STATS	_IO(MYPOLL_IOC_MAGIC, 0x14)

#endif /* _UAPI_LINUX_MYPOLL_H */
