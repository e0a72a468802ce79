/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What one agent cycle produced: nodes, edges, samples and states. Strings
 * are copied. Everything is released by fl_emit_reset() before the next
 * cycle, so a cycle's memory does not grow over time.
 */

#include <stdint.h>

#include "util.h"

enum fl_state {
        FL_STATE_OK = 0,
        FL_STATE_WARNING = 1,
        FL_STATE_UNKNOWN = 2,
        FL_STATE_CRITICAL = 3,
};

const char *fl_state_to_string(enum fl_state s);

struct fl_attr {
        char *key;
        char *value;
};

struct fl_enode {
        char *key;
        char *kind;
        int min_ok; /* -1: every dependency required */
        struct fl_attr *attrs;
        size_t n_attrs, cap_attrs;
};

struct fl_eedge {
        char *from;
        char *to;
        char *type;
};

struct fl_eseries {
        char *node_key;
        char *metric;
        char *unit;
};

struct fl_esample {
        uint32_t series;
        uint64_t time_us;
        double value;
};

struct fl_estate {
        char *key;
        enum fl_state state;
        char *reason;
};

struct fl_emit {
        struct fl_enode *nodes;
        size_t n_nodes, cap_nodes;
        struct fl_eedge *edges;
        size_t n_edges, cap_edges;
        struct fl_eseries *series;
        size_t n_series, cap_series;
        struct fl_esample *samples;
        size_t n_samples, cap_samples;
        struct fl_estate *states;
        size_t n_states, cap_states;
        /* private: series lookup table (see emit.c) */
        uint32_t *series_slots;
        size_t series_slots_cap;
};

/* Adds a node (kind:scope/name key) and returns it so attributes can follow. */
struct fl_enode *fl_emit_node(struct fl_emit *e, const char *key, const char *kind);
void fl_emit_attr(struct fl_enode *n, const char *key, const char *value);
void fl_emit_edge(struct fl_emit *e, const char *from, const char *to, const char *type);
void fl_emit_sample(struct fl_emit *e, const char *node_key, const char *metric, const char *unit, uint64_t time_us,
                    double value);
_printf_(4, 5) void fl_emit_state(struct fl_emit *e, const char *key, enum fl_state state, const char *reason_fmt, ...);

/* Merges duplicate nodes, edges and states; call once per cycle. */
void fl_emit_finalize(struct fl_emit *e);
void fl_emit_reset(struct fl_emit *e);
void fl_emit_free(struct fl_emit *e);
