/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Parser for /proc/diskstats, kept apart from the collector's I/O so that it
 * can be unit-tested and fuzzed on plain streams. It neither logs nor keeps
 * global state.
 *
 * A line is "major minor name" followed by the kernel's counters
 * (Documentation/admin-guide/iostats.rst): 11 counters before 4.18 (14
 * columns), 15 with the discard counters of 4.18 (18 columns), 17 with the
 * flush counters of 5.5 (20 columns). The kernel only ever appends columns,
 * so more than 20 are accepted and the extra ones ignored (after checking
 * that they are numbers); 15 to 17 and 19 columns, or fewer than 14, are not
 * a layout any kernel printed and are rejected.
 */

#include <stdint.h>
#include <stdio.h>

#define PROC_DISKSTATS_MAX_LINES 4096
#define PROC_DISKSTATS_MAX_LINE_LEN 1024 /* characters, newline excluded */
#define PROC_DISKSTATS_NAME_MAX 63

struct proc_diskstats_line {
        uint32_t major;
        uint32_t minor;
        char name[PROC_DISKSTATS_NAME_MAX + 1];
        unsigned n_fields; /* columns on the line: 14, 18, 20 or more */

        uint64_t reads_completed;
        uint64_t reads_merged;
        uint64_t sectors_read;
        uint64_t ms_reading;
        uint64_t writes_completed;
        uint64_t writes_merged;
        uint64_t sectors_written;
        uint64_t ms_writing;
        uint64_t ios_in_progress;
        uint64_t ms_doing_io;
        uint64_t weighted_ms_doing_io;

        /* 4.18+ (n_fields >= 18), else 0 */
        uint64_t discards_completed;
        uint64_t discards_merged;
        uint64_t sectors_discarded;
        uint64_t ms_discarding;

        /* 5.5+ (n_fields >= 20), else 0 */
        uint64_t flushes_completed;
        uint64_t ms_flushing;
};

/*
 * Parses a whole /proc/diskstats stream into a newly allocated array (NULL
 * and 0 for an empty stream). Returns 0, or:
 *   -EBADMSG  a line with a wrong number of columns, a non-numeric counter,
 *             an invalid device name, a NUL byte, or a last line without its
 *             newline (a truncated read),
 *   -E2BIG    more than PROC_DISKSTATS_MAX_LINES lines, a line longer than
 *             PROC_DISKSTATS_MAX_LINE_LEN, a name longer than
 *             PROC_DISKSTATS_NAME_MAX,
 *   -EIO      a read error on the stream.
 * ret and ret_n are written only on success; free the array with
 * proc_diskstats_free().
 */
int proc_diskstats_parse(FILE *f, struct proc_diskstats_line **ret, size_t *ret_n);
void proc_diskstats_free(struct proc_diskstats_line *lines);
