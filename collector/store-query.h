/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The store module's half for the operator's tool: reading the graph, its
 * states, root causes, impact and availability, declaring services and
 * dependencies, maintenance windows, and following state changes live.
 *
 * store.c keeps its connection private, so this half has a handle of its
 * own; the rules are the same as in store.h. Every function returns >= 0 or
 * -errno, translated once here:
 *   -ENOTCONN  the connection is gone (logged)
 *   -EEXIST    a unique key is taken
 *   -EINVAL    PostgreSQL refused a value or a change (a dependency cycle,
 *              a malformed time); not logged: the caller says what it was
 *              doing, with fl_store_query_last_error()
 *   -ENOENT    no such node, window or service; not logged either
 *   -EIO       anything else (logged with PostgreSQL's message)
 * All SQL is parameterised; nothing is built from input.
 *
 * Results come as one allocation: an array of rows whose strings live in
 * the same block, so one free() releases them. A NULL string is SQL NULL.
 * Times are ISO 8601 in UTC; ages are seconds by the database's clock.
 */

#include <stdint.h>

#include "util.h"

struct fl_store_query;

int fl_store_query_connect(const char *conninfo, struct fl_store_query **ret);
void fl_store_query_free(struct fl_store_query *q);
static inline void fl_store_query_freep(struct fl_store_query **q)
{
        fl_store_query_free(*q);
}
#define _cleanup_store_query_ _cleanup_(fl_store_query_freep)

/* PostgreSQL's primary message of the last failure, e.g. "dependency
 * cycle: a:x -> b:y -> a:x". */
const char *fl_store_query_last_error(struct fl_store_query *q);

int fl_store_query_begin(struct fl_store_query *q);
int fl_store_query_commit(struct fl_store_query *q);
void fl_store_query_rollback(struct fl_store_query *q);
/* Serialises with every other declaration (the lock faultline.declare_edge
 * takes), until the end of the transaction, so that a plan computed from
 * what is declared stays true while it is carried out. */
int fl_store_query_lock_declarations(struct fl_store_query *q);

/* A moment as the operator wrote it: base is ISO 8601 text or "now" (the
 * database's clock, so that every tool means the same moment), plus an
 * offset in seconds. */
struct fl_query_time {
        const char *base;
        int64_t offset_s;
};

struct fl_query_status_row {
        const char *key;
        const char *kind;
        const char *own_state; /* silence counts as unknown */
        const char *effective_state;
        const char *reason; /* "via KEY" when inherited */
        const char *since; /* of the effective state */
        int64_t age_s;
        bool in_maintenance;
        int64_t min_ok; /* -1: every dependency required */
        const char *description; /* services */
        const char *last_seen;
        const char *agent;
};
/* Current nodes, services first, then worst first. kind, key: NULL for
 * any. */
int fl_store_query_status(struct fl_store_query *q, const char *kind, bool not_ok, const char *key,
                          struct fl_query_status_row **ret, size_t *ret_n);

/* Whether a node exists for each key (placeholders count). */
int fl_store_query_known(struct fl_store_query *q, const char *const *keys, size_t n, bool *ret_known);

/* Root causes of key, one row per node of each cause's path (root first,
 * causes worst first), from faultline.root_cause_of(). */
struct fl_query_path_row {
        int64_t cause; /* 1-based rank of the cause */
        const char *cause_key;
        const char *cause_state; /* its own state */
        const char *cause_reason;
        const char *cause_since;
        int64_t cause_age_s;
        int64_t position; /* 1-based, in the path */
        const char *key;
        const char *effective_state;
        const char *since;
        int64_t age_s;
        const char *edge_types; /* of the edges to the next node, comma-separated; NULL on the last */
};
int fl_store_query_root_causes(struct fl_store_query *q, const char *key, struct fl_query_path_row **ret,
                               size_t *ret_n);

/* Nodes made worse by key, from faultline.impact_of(): services first. */
struct fl_query_impact_row {
        const char *key;
        const char *kind;
        const char *effective_state;
        int64_t depth;
};
int fl_store_query_impact(struct fl_store_query *q, const char *key, struct fl_query_impact_row **ret, size_t *ret_n);

struct fl_query_edge_row {
        const char *from;
        const char *to;
        const char *type;
        bool declared;
        const char *agent; /* the discovering agent; NULL when declared */
};
/* Edges from any of from_keys (NULL: from anywhere) to to_key (NULL: to
 * anywhere), declared ones only if declared_only. */
int fl_store_query_edges(struct fl_store_query *q, const char *const *from_keys, size_t n_from, const char *to_key,
                         bool declared_only, struct fl_query_edge_row **ret, size_t *ret_n);

/* Declares "from depends on to" through faultline.declare_edge(): unknown
 * keys become placeholders, a cycle is -EINVAL with the cycle in the
 * message. */
int fl_store_query_declare_edge(struct fl_store_query *q, const char *from, const char *to, const char *type);
/* Removes declared edges from → to (of type; NULL: of any type). Returns
 * how many. Discovered edges are never touched. */
int fl_store_query_undeclare_edge(struct fl_store_query *q, const char *from, const char *to, const char *type);

/* Creates service node key (declared), or sets its min_ok (-1: NULL) and
 * description (NULL: none). Returns 1 when something changed, 0 when it
 * was so already. */
int fl_store_query_service_put(struct fl_store_query *q, const char *key, int64_t min_ok, const char *description);
/* -ENOENT when there is no declared service of that key. */
int fl_store_query_service_remove(struct fl_store_query *q, const char *key);

struct fl_query_maintenance_row {
        int64_t id;
        const char *key;
        const char *starts;
        const char *ends;
        const char *reason;
        bool active;
        bool past;
};
/* -ENOENT: no node key; -ERANGE: the window does not end after it starts;
 * -EINVAL: PostgreSQL refused a time. */
int fl_store_query_maintenance_add(struct fl_store_query *q, const char *key, const struct fl_query_time *from,
                                   const struct fl_query_time *until, const char *reason,
                                   struct fl_query_maintenance_row **ret);
/* Current and coming windows; all: past ones too. */
int fl_store_query_maintenance_list(struct fl_store_query *q, bool all, struct fl_query_maintenance_row **ret,
                                    size_t *ret_n);
int fl_store_query_maintenance_remove(struct fl_store_query *q, int64_t id);

/* faultline.availability() over [from, to). Figures are PostgreSQL's
 * numeric text (exact); the percentages are NULL when nothing was
 * measured. */
struct fl_query_sla_row {
        const char *key;
        const char *from;
        const char *to;
        const char *period_minutes;
        const char *down_minutes;
        const char *blind_minutes;
        const char *maintenance_minutes;
        const char *down_outside_maintenance_minutes;
        const char *uptime_pct;
        const char *uptime_excluding_maintenance_pct;
};
int fl_store_query_availability(struct fl_store_query *q, const char *key, const struct fl_query_time *from,
                                const struct fl_query_time *to, struct fl_query_sla_row **ret);

/* LISTEN faultline_state: the propagation leader's change notices. */
int fl_store_query_listen_changes(struct fl_store_query *q);
/* Return false to take no more notices. */
typedef bool (*fl_store_query_change_fn)(void *userdata, const char *payload);
/* Waits up to timeout_ms (-1: no limit) for notices and hands each to fn.
 * Returns how many were handed, 0 on timeout, -EINTR as soon as wake_fd
 * (-1: none) becomes readable. */
int fl_store_query_wait_changes(struct fl_store_query *q, int wake_fd, int timeout_ms, fl_store_query_change_fn fn,
                                void *userdata);
