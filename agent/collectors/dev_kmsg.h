/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Parser for kernel log records as /dev/kmsg gives them
 * (Documentation/ABI/testing/dev-kmsg), and the matcher that recognises
 * block device errors in their messages. Kept apart from the collector's
 * I/O so that both can be unit-tested and fuzzed; neither logs nor keeps
 * global state.
 *
 * A record is "PRIO,SEQ,USEC,FLAGS[,MORE...];MESSAGE\n", followed by
 * dictionary lines that start with a blank (" SUBSYSTEM=scsi"). The kernel
 * escapes non-printable bytes and backslashes in MESSAGE as \xHH (a
 * newline inside a record is "\x0a").
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEV_KMSG_LINE_MAX 8192 /* a record line, escapes included: the kernel's own read limit */
#define DEV_KMSG_MESSAGE_MAX 1023 /* decoded message; the kernel's records are shorter */

struct dev_kmsg_record {
        unsigned level; /* 0 (emerg) .. 7 (debug) */
        unsigned facility; /* 0 kernel, 1 user (printk from /dev/kmsg writers), ... */
        uint64_t seq;
        uint64_t usec; /* monotonic, since boot */
        bool continuation; /* flag 'c': a fragment of a longer line */
        char message[DEV_KMSG_MESSAGE_MAX + 1]; /* escapes decoded; cut at DEV_KMSG_MESSAGE_MAX */
};

/*
 * Parses the first line of line (what follows a '\n' — dictionary lines —
 * is ignored). Returns 1 and fills *ret for a record; 0 for a line that is
 * not a record and is to be skipped (a dictionary line starting with a
 * blank, an empty line); -EBADMSG for a malformed prefix (missing ';', a
 * field that is not a number, no flags); -E2BIG for a line longer than
 * DEV_KMSG_LINE_MAX. A \x escape that is not two hex digits is kept as it
 * is. ret is written only when 1 is returned.
 */
int dev_kmsg_parse_record(const char *line, struct dev_kmsg_record *ret);

enum dev_kmsg_error {
        DEV_KMSG_ERROR_IO, /* a failed request or buffer write: warning */
        DEV_KMSG_ERROR_FS, /* a filesystem reporting an error on the device: warning */
        DEV_KMSG_ERROR_MEDIUM, /* an unreadable or unwritable sector: critical */
        DEV_KMSG_ERROR_FAILED, /* md kicked the device out of its array: critical */
};

/* "I/O error", "filesystem error", "medium error", "disk failure" */
const char *dev_kmsg_error_to_string(enum dev_kmsg_error e);
bool dev_kmsg_error_is_critical(enum dev_kmsg_error e);

/*
 * Recognises a block device error in a decoded message and returns the
 * kernel name of the device it names ("sdb", "sdb1", "dm-1", "nvme0n1").
 * The forms (6.1 wording; older kernels' prefixes accepted):
 *
 *   [blk_update_request: |print_req_error: ]<class> error, dev sdb, sector N ...
 *       class "I/O", "timeout", "recoverable transport", "critical target",
 *       "critical nexus", "critical space allocation", "protection",
 *       "critical protection", "device offline": IO; "critical medium":
 *       MEDIUM. The classes that are no fault of the device ("operation
 *       not supported", "kernel resource", "device resource", "nonblocking
 *       retry", zone limits) are not errors here.
 *   Buffer I/O error on dev sdb1, logical block N, ...   (also "on device")  IO
 *   [sdb] [tag#N ]Sense Key : Medium Error [current]    (after "sd H:C:T:L: ") MEDIUM
 *   EXT4-fs error (device sdb1): ...        (EXT2/EXT3 too)                   FS
 *   EXT4-fs warning (device sdb1): ... I/O error ...                           IO
 *   XFS (dm-1): ... I/O error ...                                              IO
 *   XFS (dm-1): Corruption ...                                                 FS
 *   BTRFS error (device sdb1...): ...                                          FS
 *   md/raid1:md0: Disk failure on sdc, disabling device.  (any personality)   FAILED
 *
 * ret_dev (size bytes) and ret_kind are written only when true is
 * returned; a name that does not fit, contains '/' or is "." or ".." is no
 * match.
 */
bool dev_kmsg_match_io_error(const char *msg, char *ret_dev, size_t size, enum dev_kmsg_error *ret_kind);
