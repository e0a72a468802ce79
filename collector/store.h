/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The only module that talks to PostgreSQL. Every function returns >= 0 or
 * -errno: -ENOTCONN when the connection is gone (the caller reconnects with
 * backoff), -EIO for any other database error, which is logged here with
 * PostgreSQL's own message. All SQL is parameterised; nothing is built
 * from input.
 */

#include <stdint.h>

#include "envelope.h"
#include "util.h"

struct fl_store;

int fl_store_connect(const char *conninfo, struct fl_store **ret);
void fl_store_free(struct fl_store *s);
static inline void fl_store_freep(struct fl_store **s)
{
        fl_store_free(*s);
}
#define _cleanup_store_ _cleanup_(fl_store_freep)

bool fl_store_connected(struct fl_store *s);
int fl_store_reconnect(struct fl_store *s);
/* Quiet variant for loops that retry: no log line per failure. */
void fl_store_set_quiet(struct fl_store *s, bool quiet);
const char *fl_store_last_error(struct fl_store *s);

/* Creates or upgrades schema faultline to the embedded migrations. */
int fl_store_migrate(struct fl_store *s);

int fl_store_begin(struct fl_store *s);
int fl_store_commit(struct fl_store *s);
void fl_store_rollback(struct fl_store *s);

/* Agents and keys. */
struct fl_agent_row {
        int id;
        char name[256];
        uint8_t public_key[FL_KEY_BYTES];
        bool revoked;
        int64_t created_us;
        int64_t last_seen_us; /* 0: never */
        char hostname[256];
        char version[64];
        int64_t spool_bytes;
        int64_t dropped_batches;
        int64_t interval_ms;
};

int fl_store_agents(struct fl_store *s, bool include_revoked, struct fl_agent_row **ret, size_t *ret_n);
/* -EEXIST when the name is taken or the key was registered before. */
int fl_store_agent_add(struct fl_store *s, const char *name, const uint8_t pk[FL_KEY_BYTES]);
/* -ENOENT when there is no active agent of that name. */
int fl_store_agent_revoke(struct fl_store *s, const char *name);

/* Ingest. */
enum fl_claim {
        FL_CLAIM_OK,
        FL_CLAIM_DUPLICATE,
        FL_CLAIM_STALE,
};
int fl_store_claim(struct fl_store *s, const int *agent, const uint64_t *epoch, const uint64_t *seq, size_t n,
                   enum fl_claim *ret_verdicts);
int fl_store_apply_inventory(struct fl_store *s, int agent, const char *json);
int fl_store_apply_states(struct fl_store *s, int agent, const char *json);

struct fl_heartbeat_row {
        int agent;
        int64_t time_us;
        int interval_ms;
        const char *hostname;
        const char *version;
        int64_t spool_bytes;
        int64_t dropped;
};
int fl_store_apply_heartbeats(struct fl_store *s, const struct fl_heartbeat_row *rows, size_t n);

/* Writes ret_ids[i] for (keys[i], metrics[i]); creates what is missing. */
int fl_store_resolve_series(struct fl_store *s, const char *const *keys, const char *const *metrics,
                            const char *const *units, size_t n, int64_t *ret_ids);

/* COPY BINARY of (series_id, ts, value) rows into faultline.samples. */
#define FL_COPY_ROW_BYTES 38
void fl_copy_begin(uint8_t **buf, size_t *len, size_t *cap);
void fl_copy_row(uint8_t **buf, size_t *len, size_t *cap, int64_t series, int64_t time_us, double value);
void fl_copy_end(uint8_t **buf, size_t *len, size_t *cap);
int fl_store_copy_samples(struct fl_store *s, const uint8_t *buf, size_t len);

int fl_store_add_rejections(struct fl_store *s, const char *collector, const char *const *reasons,
                            const int64_t *counts, size_t n);
int fl_store_maintain_partitions(struct fl_store *s, int keep_days);

/* Propagation (the leader's connection). */
int fl_store_try_leader(struct fl_store *s, bool *ret_leader);
int fl_store_listen_dirty(struct fl_store *s);
/* 1 when a notification arrived (all pending ones are consumed), 0 on
 * timeout. */
int fl_store_wait_notify(struct fl_store *s, int timeout_ms);

struct fl_node_row {
        int64_t id;
        const char *key;
        const char *own_state; /* as propagation sees it: stale is at least unknown */
        const char *effective_state;
        bool removed;
        int min_ok; /* -1: NULL */
};
typedef void (*fl_store_node_fn)(void *userdata, const struct fl_node_row *row);
/* required: a part_of edge, needed whatever the node's min_ok says. */
typedef void (*fl_store_edge_fn)(void *userdata, int64_t from_id, int64_t to_id, bool required);
/* ids NULL: every node (streamed row by row). */
int fl_store_load_nodes(struct fl_store *s, const int64_t *ids, size_t n, fl_store_node_fn fn, void *userdata);
/* from_ids NULL: every edge. */
int fl_store_load_edges(struct fl_store *s, const int64_t *from_ids, size_t n, fl_store_edge_fn fn, void *userdata);
int fl_store_take_dirty(struct fl_store *s, int64_t **ret_ids, bool **ret_graph, size_t *ret_n);

struct fl_effective_change {
        int64_t id;
        const char *old_state;
        const char *new_state;
        const char *cause_key; /* NULL: its own state explains it */
        bool state_changed; /* false: only the cause moved */
};
/* Stores the changes, their history and NOTIFY faultline_state, in one
 * transaction. Rows another transaction holds are skipped, not waited for:
 * ret_written[i] says which were written. */
int fl_store_write_effective(struct fl_store *s, const struct fl_effective_change *c, size_t n, bool *ret_written);
int fl_store_mark_silent(struct fl_store *s, int intervals);
