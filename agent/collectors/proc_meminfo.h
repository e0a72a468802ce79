/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Parsers for /proc/meminfo ("Key:   value kB" lines) and /proc/vmstat
 * ("key value" lines), kept apart from the collector's I/O so that they can
 * be unit-tested and fuzzed on plain streams. They neither log nor keep
 * global state. Keys they do not need are skipped (after checking the line's
 * shape), so that the many kernel versions and configurations, each with
 * its own set of keys, all parse.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PROC_MEMINFO_MAX_LINES 1024
#define PROC_MEMINFO_MAX_LINE_LEN 256 /* characters, newline excluded */

struct proc_meminfo {
        uint64_t total_bytes; /* MemTotal */
        uint64_t free_bytes; /* MemFree */
        uint64_t available_bytes; /* MemAvailable (3.14+), else estimated as MemFree + Buffers + Cached */
        bool has_available; /* MemAvailable was there */
        uint64_t buffers_bytes;
        uint64_t cached_bytes;
        uint64_t swap_total_bytes;
        uint64_t swap_free_bytes;
};

struct proc_meminfo_vmstat {
        uint64_t pswpin; /* pages swapped in since boot */
        uint64_t pswpout;
        uint64_t pgmajfault;
        bool has_swap; /* pswpin and pswpout were there (absent with CONFIG_SWAP=n) */
        bool has_pgmajfault;
};

/*
 * Parses /proc/meminfo. Returns 0, or -EBADMSG (a line that is not
 * "Key: number[ kB]", no MemTotal or MemFree, a NUL byte, a truncated last
 * line), -E2BIG (more than PROC_MEMINFO_MAX_LINES lines, a line longer than
 * PROC_MEMINFO_MAX_LINE_LEN, a value in kB that overflows 64 bits in bytes),
 * -EIO. ret is written only on success.
 */
int proc_meminfo_parse(FILE *f, struct proc_meminfo *ret);

/* Parses /proc/vmstat; same errors (a line that is not "key number"). */
int proc_meminfo_parse_vmstat(FILE *f, struct proc_meminfo_vmstat *ret);
