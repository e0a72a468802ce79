/* SPDX-License-Identifier: MIT */
#include "emit.h"

#include "strmap.h"

#include <stdarg.h>

/* The series index (series_slots) is an open-addressing table of
 * (series number + 1), sized to a power of two at least twice the number of
 * series, so that a cycle with thousands of series stays linear. */

const char *fl_state_to_string(enum fl_state s)
{
        switch (s) {
        case FL_STATE_OK:
                return "ok";
        case FL_STATE_WARNING:
                return "warning";
        case FL_STATE_UNKNOWN:
                return "unknown";
        case FL_STATE_CRITICAL:
                return "critical";
        }
        return "unknown";
}

struct fl_enode *fl_emit_node(struct fl_emit *e, const char *key, const char *kind)
{
        struct fl_enode *n;

        e->nodes = fl_grow(e->nodes, &e->cap_nodes, e->n_nodes + 1, sizeof(*e->nodes));
        n = &e->nodes[e->n_nodes++];
        *n = (struct fl_enode){ .key = fl_strdup(key), .kind = fl_strdup(kind), .min_ok = -1 };
        return n;
}

void fl_emit_attr(struct fl_enode *n, const char *key, const char *value)
{
        n->attrs = fl_grow(n->attrs, &n->cap_attrs, n->n_attrs + 1, sizeof(*n->attrs));
        n->attrs[n->n_attrs++] = (struct fl_attr){ fl_strdup(key), fl_strdup(value) };
}

void fl_emit_edge(struct fl_emit *e, const char *from, const char *to, const char *type)
{
        e->edges = fl_grow(e->edges, &e->cap_edges, e->n_edges + 1, sizeof(*e->edges));
        e->edges[e->n_edges++] = (struct fl_eedge){ fl_strdup(from), fl_strdup(to), fl_strdup(type) };
}

static uint64_t hash2(const char *a, const char *b)
{
        uint64_t h = 1469598103934665603ull;
        for (; *a; a++)
                h = (h ^ (uint8_t)*a) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
        for (; *b; b++)
                h = (h ^ (uint8_t)*b) * 1099511628211ull;
        return h;
}

static void index_rebuild(struct fl_emit *e, size_t cap)
{
        free(e->series_slots);
        e->series_slots = fl_new0(uint32_t, cap);
        e->series_slots_cap = cap;
        for (size_t i = 0; i < e->n_series; i++) {
                size_t j = hash2(e->series[i].node_key, e->series[i].metric) & (cap - 1);
                while (e->series_slots[j])
                        j = (j + 1) & (cap - 1);
                e->series_slots[j] = (uint32_t)i + 1;
        }
}

static uint32_t series_lookup(struct fl_emit *e, const char *node_key, const char *metric, const char *unit)
{
        size_t j;

        if (e->series_slots_cap < 2 * (e->n_series + 1))
                index_rebuild(e, FL_MAX(e->series_slots_cap * 2, (size_t)64));
        j = hash2(node_key, metric) & (e->series_slots_cap - 1);
        while (e->series_slots[j]) {
                struct fl_eseries *s = &e->series[e->series_slots[j] - 1];
                if (strcmp(s->node_key, node_key) == 0 && strcmp(s->metric, metric) == 0)
                        return e->series_slots[j] - 1;
                j = (j + 1) & (e->series_slots_cap - 1);
        }
        e->series = fl_grow(e->series, &e->cap_series, e->n_series + 1, sizeof(*e->series));
        e->series[e->n_series] =
                (struct fl_eseries){ fl_strdup(node_key), fl_strdup(metric), unit ? fl_strdup(unit) : NULL };
        e->series_slots[j] = (uint32_t)e->n_series + 1;
        return (uint32_t)e->n_series++;
}

void fl_emit_sample(struct fl_emit *e, const char *node_key, const char *metric, const char *unit, uint64_t time_us,
                    double value)
{
        uint32_t s = series_lookup(e, node_key, metric, unit);

        e->samples = fl_grow(e->samples, &e->cap_samples, e->n_samples + 1, sizeof(*e->samples));
        e->samples[e->n_samples++] = (struct fl_esample){ s, time_us, value };
}

void fl_emit_state(struct fl_emit *e, const char *key, enum fl_state state, const char *reason_fmt, ...)
{
        va_list ap;
        char *reason = NULL;

        if (reason_fmt) {
                va_start(ap, reason_fmt);
                if (vasprintf(&reason, reason_fmt, ap) < 0)
                        fl_oom();
                va_end(ap);
        }
        e->states = fl_grow(e->states, &e->cap_states, e->n_states + 1, sizeof(*e->states));
        e->states[e->n_states++] = (struct fl_estate){ fl_strdup(key), state, reason };
}

void fl_emit_reset(struct fl_emit *e)
{
        for (size_t i = 0; i < e->n_nodes; i++) {
                struct fl_enode *n = &e->nodes[i];
                for (size_t j = 0; j < n->n_attrs; j++) {
                        free(n->attrs[j].key);
                        free(n->attrs[j].value);
                }
                free(n->attrs);
                free(n->key);
                free(n->kind);
        }
        for (size_t i = 0; i < e->n_edges; i++) {
                free(e->edges[i].from);
                free(e->edges[i].to);
                free(e->edges[i].type);
        }
        for (size_t i = 0; i < e->n_series; i++) {
                free(e->series[i].node_key);
                free(e->series[i].metric);
                free(e->series[i].unit);
        }
        for (size_t i = 0; i < e->n_states; i++) {
                free(e->states[i].key);
                free(e->states[i].reason);
        }
        e->n_nodes = e->n_edges = e->n_series = e->n_samples = e->n_states = 0;
        if (e->series_slots)
                memset(e->series_slots, 0, e->series_slots_cap * sizeof(*e->series_slots));
}

void fl_emit_free(struct fl_emit *e)
{
        fl_emit_reset(e);
        free(e->nodes);
        free(e->edges);
        free(e->series);
        free(e->samples);
        free(e->states);
        free(e->series_slots);
        *e = (struct fl_emit){ 0 };
}

static void free_node(struct fl_enode *n)
{
        for (size_t j = 0; j < n->n_attrs; j++) {
                free(n->attrs[j].key);
                free(n->attrs[j].value);
        }
        free(n->attrs);
        free(n->key);
        free(n->kind);
}

/* Several collectors may describe the same node (the disk seen by the
 * topology and by the I/O collector) or judge it (one detector per source).
 * One node per key: the first kind wins, attributes are merged (first value
 * wins). One state per key: the worst, with the reasons of every detector
 * that found that state joined. Duplicate edges go. */
void fl_emit_finalize(struct fl_emit *e)
{
        struct fl_strmap seen;
        size_t out = 0;

        fl_strmap_init(&seen, 0);
        for (size_t i = 0; i < e->n_nodes; i++) {
                struct fl_enode *n = &e->nodes[i];
                int64_t at;
                if (fl_strmap_get(&seen, n->key, &at)) {
                        struct fl_enode *keep = &e->nodes[at];
                        for (size_t j = 0; j < n->n_attrs; j++) {
                                bool have = false;
                                for (size_t k = 0; k < keep->n_attrs && !have; k++)
                                        have = strcmp(keep->attrs[k].key, n->attrs[j].key) == 0;
                                if (!have)
                                        fl_emit_attr(keep, n->attrs[j].key, n->attrs[j].value);
                        }
                        if (keep->min_ok < 0)
                                keep->min_ok = n->min_ok;
                        free_node(n);
                        continue;
                }
                fl_strmap_put(&seen, n->key, (int64_t)out);
                e->nodes[out++] = *n;
        }
        e->n_nodes = out;

        fl_strmap_clear(&seen);
        out = 0;
        for (size_t i = 0; i < e->n_edges; i++) {
                struct fl_eedge *d = &e->edges[i];
                _cleanup_free_ char *k = fl_asprintf("%s\x1f%s\x1f%s", d->from, d->to, d->type);
                int64_t at;
                if (fl_strmap_get(&seen, k, &at)) {
                        free(d->from);
                        free(d->to);
                        free(d->type);
                        continue;
                }
                fl_strmap_put(&seen, k, (int64_t)out);
                e->edges[out++] = *d;
        }
        e->n_edges = out;

        fl_strmap_clear(&seen);
        out = 0;
        for (size_t i = 0; i < e->n_states; i++) {
                struct fl_estate *s = &e->states[i];
                int64_t at;
                if (!fl_strmap_get(&seen, s->key, &at)) {
                        fl_strmap_put(&seen, s->key, (int64_t)out);
                        e->states[out++] = *s;
                        continue;
                }
                struct fl_estate *keep = &e->states[at];
                if (s->state > keep->state) {
                        free(keep->reason);
                        keep->reason = TAKE_PTR(s->reason);
                        keep->state = s->state;
                } else if (s->state == keep->state && s->reason && s->state != FL_STATE_OK) {
                        char *joined =
                                keep->reason ? fl_asprintf("%s; %s", keep->reason, s->reason) : fl_strdup(s->reason);
                        free(keep->reason);
                        keep->reason = joined;
                }
                free(s->key);
                free(s->reason);
        }
        e->n_states = out;
        fl_strmap_free(&seen);
}
