/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The dependency graph in memory, and incremental propagation of effective
 * states (DESIGN.md, "States and propagation"):
 *
 *   effective = worst(own, derived from the dependencies)
 *   all required: derived = the worst effective state of the dependencies
 *   min_ok = k:   critical when fewer than k could be ok (ok, warning or
 *                 unknown) — so unknown never becomes critical upstream;
 *                 unknown when fewer than k are ok or warning;
 *                 warning when any is not ok; else ok
 *
 * A change recomputes only the ancestors whose effective state changes.
 * No depth limit (an explicit work list, no recursion); a cycle that slipped
 * in cannot make it loop (each node is recomputed a bounded number of times
 * per round). No I/O here: the propagation thread feeds it from PostgreSQL.
 */

#include <stdint.h>

#include "strmap.h"
#include "util.h"

enum fl_gstate {
        FL_G_OK = 0,
        FL_G_WARNING = 1,
        FL_G_UNKNOWN = 2,
        FL_G_CRITICAL = 3,
};

const char *fl_gstate_to_string(enum fl_gstate s);
int fl_gstate_from_string(const char *s, enum fl_gstate *ret);

struct fl_gnode {
        int64_t id;
        char *key;
        uint8_t own; /* own state as propagation sees it (stale → at least unknown) */
        uint8_t eff; /* effective state */
        bool removed; /* no longer discovered: ignored as a dependency */
        bool queued;
        bool may_improve; /* own state got better or dependencies changed: recompute from scratch */
        int32_t min_ok; /* -1: every dependency required */
        int32_t cause; /* index of the dependency that made it worse, or -1 */
        uint32_t visits; /* recomputations in round visit_round */
        uint64_t visit_round, reset_round, touch_round;
        uint8_t orig_eff; /* at the start of the round that touched it */
        int32_t orig_cause;
        uint32_t *deps, n_deps, cap_deps;
        uint8_t *dep_required; /* per dependency: needed whatever min_ok says (part_of) */
        uint32_t *parents, n_parents, cap_parents;
};

struct fl_graph {
        struct fl_gnode *nodes;
        size_t n_nodes, cap_nodes;
        struct fl_strmap by_id; /* decimal id → index */
        uint32_t *queue;
        size_t q_head, q_len, q_cap;
        uint64_t cycle_guard_hits;
        uint64_t round;
        uint32_t *touched; /* nodes changed in this round */
        uint32_t n_touched, cap_touched;
};

/* One effective state change found by fl_graph_propagate(). */
struct fl_gchange {
        uint32_t node;
        uint8_t old_eff, new_eff;
        int32_t cause; /* node index or -1 */
};

void fl_graph_init(struct fl_graph *g);
void fl_graph_free(struct fl_graph *g);

/* Finds a node by database id; -1 when unknown. */
int64_t fl_graph_find(const struct fl_graph *g, int64_t id);
/* Adds or updates a node and queues it for recomputation. eff is what the
 * database holds (so that a fresh leader reports only real changes). */
uint32_t fl_graph_upsert(struct fl_graph *g, int64_t id, const char *key, enum fl_gstate own, bool removed,
                         int32_t min_ok, enum fl_gstate eff);
/* Replaces a node's dependencies and queues it. min_ok counts over all. */
void fl_graph_set_deps(struct fl_graph *g, uint32_t node, const uint32_t *deps, size_t n);
/* The same with, per dependency, whether it is required whatever min_ok
 * says: a component is part_of its host, and an array of two disks that
 * needs one still needs the host it runs in. min_ok counts over the others. */
void fl_graph_set_deps_typed(struct fl_graph *g, uint32_t node, const uint32_t *deps, const bool *required, size_t n);
void fl_graph_queue(struct fl_graph *g, uint32_t node);
void fl_graph_queue_all(struct fl_graph *g);

/* The state a node would have now from its own state and its
 * dependencies' effective states; ret_cause gets the dependency to blame. */
enum fl_gstate fl_graph_compute(const struct fl_graph *g, uint32_t node, int32_t *ret_cause);

/* Works the queue off; appends every node whose effective state or cause
 * changed to *changes. Returns the number of recomputations. */
size_t fl_graph_propagate(struct fl_graph *g, struct fl_gchange **changes, size_t *n_changes, size_t *cap_changes);
