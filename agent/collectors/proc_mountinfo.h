/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Parser for /proc/PID/mountinfo and the pure parts of the filesystem
 * detectors, kept apart from the collector's I/O so that they can be
 * unit-tested and fuzzed on plain streams. Nothing here logs or keeps global
 * state.
 *
 * A line (Documentation/filesystems/proc.rst, "mountinfo"):
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2) (3)  (4)   (5)     (6)      (7)   (8) (9)    (10)         (11)
 *
 * mount id, parent id, major:minor of the superblock, root of the mount
 * within the filesystem, mount point, per-mount options, zero or more
 * optional fields ended by a lone "-", filesystem type, source, superblock
 * options. Fields are separated by one blank; the kernel escapes blank, tab,
 * newline and backslash inside them as \ooo (octal).
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/statvfs.h>

#include "collector.h"

#define PROC_MOUNTINFO_MAX_LINES 16384
#define PROC_MOUNTINFO_MAX_LINE_LEN 16384 /* characters, newline excluded: two escaped paths and options */

struct proc_mountinfo_entry {
        uint32_t mount_id;
        uint32_t parent_id;
        uint32_t major;
        uint32_t minor;
        char *root; /* escapes decoded; "/" or a path, or e.g. "net:[4026531840]" for nsfs */
        char *mount_point; /* escapes decoded; always starts with '/' */
        char *mount_options; /* per-mount: "rw,relatime" (as printed) */
        char *optional_fields; /* "shared:24 master:1", or "" */
        char *fstype; /* escapes decoded: "ext4", "fuse.sshfs" */
        char *source; /* escapes decoded: "/dev/sdb1", "tmpfs", may be "" */
        char *super_options; /* superblock: "ro,errors=remount-ro" (as printed) */
        char *storage; /* private: the one allocation the strings above live in */
};

/*
 * Parses a whole mountinfo stream into a newly allocated array (NULL and 0
 * for an empty stream). Returns 0, or:
 *   -EBADMSG  a line with missing fields, no "-" separator, fields after the
 *             superblock options, a non-numeric id or device number, a mount
 *             point not starting with '/', an invalid \ooo escape (or \000),
 *             a NUL byte, or a last line without its newline (a truncated
 *             read),
 *   -E2BIG    more than PROC_MOUNTINFO_MAX_LINES lines or a line longer than
 *             PROC_MOUNTINFO_MAX_LINE_LEN,
 *   -EIO      a read error on the stream.
 * ret and ret_n are written only on success; free with proc_mountinfo_free().
 */
int proc_mountinfo_parse(FILE *f, struct proc_mountinfo_entry **ret, size_t *ret_n);
void proc_mountinfo_free(struct proc_mountinfo_entry *entries, size_t n);

/* Whether a comma-separated option list holds opt as a whole item. */
bool proc_mountinfo_has_option(const char *options, const char *opt);

/* Filesystem types that never store data on a device (proc, sysfs, tmpfs,
 * cgroup2, overlay, ...): never a node, whatever their device number. */
bool proc_mountinfo_is_pseudo_fstype(const char *fstype);

/* Space and inode use of one filesystem, as df(1) computes it. */
struct proc_mountinfo_usage {
        uint64_t used_bytes; /* (blocks - free) * fragment size */
        uint64_t free_bytes; /* available to unprivileged users */
        double used_pct; /* used / (used + available): reserved blocks count as full, like df */
        double inodes_used_pct; /* < 0 when the filesystem has no inode limit (btrfs, vfat) */
        uint64_t inodes_free;
};

void proc_mountinfo_usage_from_statvfs(const struct statvfs *sv, struct proc_mountinfo_usage *ret);

/*
 * The usage detector: critical when used_pct or inodes_used_pct reaches
 * fs_critical_pct, warning when one reaches fs_warning_pct, else ok (a
 * threshold <= 0 is off). The reason ("98.1% full (1.2 GiB free)", "inodes
 * 96.0% used (1200 free)") goes into ret_reason, "" when ok.
 */
enum fl_state proc_mountinfo_usage_state(const struct proc_mountinfo_usage *u, const struct fl_thresholds *t,
                                         char *ret_reason, size_t reason_size);
