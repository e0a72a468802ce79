/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The parsers and rules of the sys_block collector (block storage topology
 * and its detectors from <sysfs>/class/block), kept apart from its I/O so
 * that they can be unit-tested on plain strings. None of them logs or keeps
 * state. Strings are sysfs attribute values with the trailing newline and
 * blanks already removed.
 */

#include <stdint.h>

/* Topology is discovered again at least every this many cycles, even when
 * no device came or went (md members and dm tables change in place). */
#define SYS_BLOCK_RESCAN_CYCLES 60
/* Ceilings on what one scan accepts. */
#define SYS_BLOCK_MAX_DEVICES 16384 /* entries in <sysfs>/class/block */
#define SYS_BLOCK_MAX_MEMBERS 1024 /* md members or dm slaves of one device */

/*
 * A SCSI I/O counter such as device/ioerr_cnt, which the kernel prints as
 * "0x%x": "0x" and at least one hexadecimal digit, nothing else. Returns 0,
 * -EINVAL (no "0x", no digits, any other character) or -ERANGE (does not
 * fit in 64 bits); ret is written only on success.
 */
int sys_block_parse_hex(const char *s, uint64_t *ret);

/* md/array_state (drivers/md/md.c, array_state_show). */
enum sys_block_array_state {
        SYS_BLOCK_ARRAY_CLEAR,
        SYS_BLOCK_ARRAY_INACTIVE,
        SYS_BLOCK_ARRAY_SUSPENDED,
        SYS_BLOCK_ARRAY_READONLY,
        SYS_BLOCK_ARRAY_READ_AUTO,
        SYS_BLOCK_ARRAY_CLEAN,
        SYS_BLOCK_ARRAY_ACTIVE,
        SYS_BLOCK_ARRAY_WRITE_PENDING,
        SYS_BLOCK_ARRAY_ACTIVE_IDLE,
        SYS_BLOCK_ARRAY_BROKEN, /* raid0/linear with a missing member (5.4+) */
};

/* -EINVAL for a value the kernel does not print. */
int sys_block_parse_md_array_state(const char *s, enum sys_block_array_state *ret);

/* md/sync_action (action_show). */
enum sys_block_sync_action {
        SYS_BLOCK_SYNC_IDLE,
        SYS_BLOCK_SYNC_FROZEN,
        SYS_BLOCK_SYNC_RESYNC,
        SYS_BLOCK_SYNC_RECOVER,
        SYS_BLOCK_SYNC_RESHAPE,
        SYS_BLOCK_SYNC_CHECK,
        SYS_BLOCK_SYNC_REPAIR,
};

int sys_block_parse_md_sync_action(const char *s, enum sys_block_sync_action *ret);

/*
 * md/sync_completed: "DONE / TOTAL" in sectors of one member. Returns 0 with
 * both numbers, -ENODATA for "none" (nothing running), -EBUSY for "delayed"
 * (waiting for another array that shares a disk), -EINVAL for anything else,
 * including a total of 0 or DONE above TOTAL.
 */
int sys_block_parse_md_sync_completed(const char *s, uint64_t *ret_done, uint64_t *ret_total);

/* Flags of md/dev-X/state, a comma-separated list (state_show). */
#define SYS_BLOCK_MD_DEV_FAULTY (1u << 0)
#define SYS_BLOCK_MD_DEV_IN_SYNC (1u << 1)
#define SYS_BLOCK_MD_DEV_SPARE (1u << 2)
#define SYS_BLOCK_MD_DEV_WRITE_MOSTLY (1u << 3)
#define SYS_BLOCK_MD_DEV_BLOCKED (1u << 4)
#define SYS_BLOCK_MD_DEV_WRITE_ERROR (1u << 5)
#define SYS_BLOCK_MD_DEV_WANT_REPLACEMENT (1u << 6)
#define SYS_BLOCK_MD_DEV_REPLACEMENT (1u << 7)
#define SYS_BLOCK_MD_DEV_JOURNAL (1u << 8)

/*
 * Parses md/dev-X/state into SYS_BLOCK_MD_DEV_* flags. Words this code does
 * not know (external_bbl, failfast, flags of newer kernels) are skipped, so
 * that a new flag does not hide "faulty"; an empty list is 0 flags. -EINVAL
 * for characters that are not part of any flag word.
 */
int sys_block_parse_md_dev_state(const char *s, unsigned *ret_flags);

/*
 * How many of the raid_disks members an md array of this level needs to
 * keep working: raid1 1, raid4/raid5 n-1, raid6 n-2, raid0 and linear n,
 * raid10 ceil(n/2). The raid10 figure assumes the default "near=2" layout
 * and the best case: it survives losing one disk of every mirror pair, but
 * not both disks of one pair, which a count of working members cannot tell
 * apart; md/degraded, read by the detector, reports that case. -EINVAL for
 * an unknown or empty level (e.g. an inactive array, a "container") or a
 * number of disks the level cannot have.
 */
int sys_block_md_min_ok(const char *level, unsigned raid_disks);

/* "lvm", "multipath", "crypt" or "other", from a dm/uuid prefix. */
const char *sys_block_dm_type(const char *uuid);
