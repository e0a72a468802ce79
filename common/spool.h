/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The agent's on-disk spool of batches not yet acknowledged by a collector.
 *
 * One file per batch in a directory, written durably (temp file, fsync,
 * rename, fsync of the directory) before fl_spool_append() returns, so a
 * power loss or a crash loses nothing that was appended. Each file carries a
 * small header with a length and a BLAKE2b checksum; a truncated or corrupt
 * file found at open is removed and counted, never sent.
 *
 * The spool is bounded in bytes. When an append would exceed the bound, the
 * oldest METRICS batches are removed first (counted). KEEP batches
 * (inventory, states) are never removed to make room; when only KEEP batches
 * are left and there is still no room, the append fails with -ENOSPC.
 *
 * Entries are ordered by (boot_epoch, sequence), oldest first.
 */

#include <stdint.h>

#include "util.h"

enum fl_spool_class {
        FL_SPOOL_KEEP = 0,
        FL_SPOOL_METRICS = 1,
};

struct fl_spool_entry {
        uint64_t boot_epoch;
        uint64_t sequence;
        enum fl_spool_class cls;
        size_t size; /* bytes of data */
};

struct fl_spool_stats {
        uint64_t bytes; /* data bytes currently held */
        uint64_t count; /* entries currently held */
        uint64_t dropped; /* METRICS entries removed to make room, since open */
        uint64_t corrupt; /* damaged files removed at open */
        uint64_t max_bytes;
};

struct fl_spool;

int fl_spool_open(const char *dir, uint64_t max_bytes, struct fl_spool **ret);
void fl_spool_close(struct fl_spool *s);
static inline void fl_spool_closep(struct fl_spool **s)
{
        fl_spool_close(*s);
}
#define _cleanup_spool_ _cleanup_(fl_spool_closep)

int fl_spool_append(struct fl_spool *s, uint64_t boot_epoch, uint64_t sequence, enum fl_spool_class cls,
                    const void *data, size_t len);
/* The oldest entry and a copy of its data (caller frees); -ENOENT if empty. */
int fl_spool_peek(struct fl_spool *s, struct fl_spool_entry *ret_entry, void **ret_data);
/* The oldest entry without its data; -ENOENT if empty. */
int fl_spool_head(const struct fl_spool *s, struct fl_spool_entry *ret_entry);
int fl_spool_remove(struct fl_spool *s, uint64_t boot_epoch, uint64_t sequence);
void fl_spool_get_stats(const struct fl_spool *s, struct fl_spool_stats *ret);
/* Highest (boot_epoch, sequence) held, so a restarted agent never reuses a
 * sequence that is still waiting; -ENOENT if empty. */
int fl_spool_last(const struct fl_spool *s, uint64_t *ret_epoch, uint64_t *ret_sequence);
