/* SPDX-License-Identifier: MIT */
#include "graph.h"

#include <inttypes.h>

static const char *const names[] = { "ok", "warning", "unknown", "critical" };

const char *fl_gstate_to_string(enum fl_gstate s)
{
        return (unsigned)s < FL_ARRAY_SIZE(names) ? names[s] : "unknown";
}

int fl_gstate_from_string(const char *s, enum fl_gstate *ret)
{
        for (size_t i = 0; i < FL_ARRAY_SIZE(names); i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (enum fl_gstate)i;
                        return 0;
                }
        return -EINVAL;
}

void fl_graph_init(struct fl_graph *g)
{
        *g = (struct fl_graph){ 0 };
        fl_strmap_init(&g->by_id, 0);
}

void fl_graph_free(struct fl_graph *g)
{
        for (size_t i = 0; i < g->n_nodes; i++) {
                free(g->nodes[i].key);
                free(g->nodes[i].deps);
                free(g->nodes[i].dep_required);
                free(g->nodes[i].parents);
        }
        free(g->nodes);
        free(g->queue);
        free(g->touched);
        fl_strmap_free(&g->by_id);
        *g = (struct fl_graph){ 0 };
}

static void id_key(int64_t id, char buf[24])
{
        snprintf(buf, 24, "%" PRId64, id);
}

int64_t fl_graph_find(const struct fl_graph *g, int64_t id)
{
        char k[24];
        int64_t idx;

        id_key(id, k);
        return fl_strmap_get(&g->by_id, k, &idx) ? idx : -1;
}

void fl_graph_queue(struct fl_graph *g, uint32_t node)
{
        struct fl_gnode *n = &g->nodes[node];

        if (n->queued)
                return;
        if (g->q_len == g->q_cap) {
                /* grow the ring, unrolling it */
                size_t cap = g->q_cap ? g->q_cap * 2 : 1024;
                uint32_t *q = fl_new0(uint32_t, cap);
                for (size_t i = 0; i < g->q_len; i++)
                        q[i] = g->queue[(g->q_head + i) % g->q_cap];
                free(g->queue);
                g->queue = q;
                g->q_cap = cap;
                g->q_head = 0;
        }
        g->queue[(g->q_head + g->q_len) % g->q_cap] = node;
        g->q_len++;
        n->queued = true;
}

void fl_graph_queue_all(struct fl_graph *g)
{
        for (size_t i = 0; i < g->n_nodes; i++)
                fl_graph_queue(g, (uint32_t)i);
}

uint32_t fl_graph_upsert(struct fl_graph *g, int64_t id, const char *key, enum fl_gstate own, bool removed,
                         int32_t min_ok, enum fl_gstate eff)
{
        int64_t at = fl_graph_find(g, id);
        struct fl_gnode *n;

        if (at < 0) {
                char k[24];
                g->nodes = fl_grow(g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(*g->nodes));
                at = (int64_t)g->n_nodes++;
                n = &g->nodes[at];
                *n = (struct fl_gnode){ .id = id, .key = fl_strdup(key), .eff = (uint8_t)eff, .cause = -1 };
                id_key(id, k);
                fl_strmap_put(&g->by_id, k, at);
        }
        n = &g->nodes[at];
        if (strcmp(n->key, key) != 0) {
                free(n->key);
                n->key = fl_strdup(key);
        }
        if (own < n->own)
                n->may_improve = true;
        n->own = (uint8_t)own;
        if (n->removed != removed)
                /* its parents count it, or stop counting it */
                for (uint32_t i = 0; i < n->n_parents; i++)
                        fl_graph_queue(g, n->parents[i]);
        n->removed = removed;
        n->min_ok = min_ok;
        fl_graph_queue(g, (uint32_t)at);
        return (uint32_t)at;
}

static void remove_parent(struct fl_gnode *child, uint32_t parent)
{
        for (uint32_t i = 0; i < child->n_parents; i++)
                if (child->parents[i] == parent) {
                        child->parents[i] = child->parents[--child->n_parents];
                        return;
                }
}

static void push_u32(uint32_t **v, uint32_t *n, uint32_t *cap, uint32_t x)
{
        if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 4;
                *v = fl_realloc(*v, sizeof(**v) * *cap);
        }
        (*v)[(*n)++] = x;
}

void fl_graph_set_deps_typed(struct fl_graph *g, uint32_t node, const uint32_t *deps, const bool *required, size_t n)
{
        struct fl_gnode *x = &g->nodes[node];

        for (uint32_t i = 0; i < x->n_deps; i++)
                remove_parent(&g->nodes[x->deps[i]], node);
        x->n_deps = 0;
        x->may_improve = true;
        for (size_t i = 0; i < n; i++) {
                bool dup = false;
                for (uint32_t j = 0; j < x->n_deps && !dup; j++)
                        dup = x->deps[j] == deps[i];
                if (dup || deps[i] == node)
                        continue;
                uint32_t cap = x->cap_deps;
                push_u32(&x->deps, &x->n_deps, &x->cap_deps, deps[i]);
                if (x->cap_deps != cap || !x->dep_required)
                        x->dep_required = fl_realloc(x->dep_required, x->cap_deps);
                x->dep_required[x->n_deps - 1] = required && required[i];
                struct fl_gnode *d = &g->nodes[deps[i]];
                push_u32(&d->parents, &d->n_parents, &d->cap_parents, node);
                x = &g->nodes[node];
        }
        fl_graph_queue(g, node);
}

void fl_graph_set_deps(struct fl_graph *g, uint32_t node, const uint32_t *deps, size_t n)
{
        fl_graph_set_deps_typed(g, node, deps, NULL, n);
}

enum fl_gstate fl_graph_compute(const struct fl_graph *g, uint32_t node, int32_t *ret_cause)
{
        const struct fl_gnode *x = &g->nodes[node];
        uint8_t derived = FL_G_OK;
        int32_t cause = -1;
        uint32_t good = 0, unknown = 0, live = 0;
        int32_t worst_dep = -1, worst_req_dep = -1;
        uint8_t worst = FL_G_OK, worst_req = FL_G_OK;

        for (uint32_t i = 0; i < x->n_deps; i++) {
                const struct fl_gnode *d = &g->nodes[x->deps[i]];
                if (d->removed)
                        continue;
                /* Among equally bad dependencies blame one that is bad by
                 * itself: a cause chain then leads to a root cause, never
                 * round a cycle. */
                bool better_blame = d->eff > FL_G_OK && d->own == d->eff;
                if (x->dep_required[i]) {
                        if (d->eff > worst_req || (d->eff == worst_req && better_blame && worst_req_dep >= 0 &&
                                                   g->nodes[worst_req_dep].own != worst_req)) {
                                worst_req = d->eff;
                                worst_req_dep = (int32_t)x->deps[i];
                        }
                        continue;
                }
                live++;
                if (d->eff <= FL_G_WARNING)
                        good++;
                else if (d->eff == FL_G_UNKNOWN)
                        unknown++;
                if (d->eff > worst ||
                    (d->eff == worst && better_blame && worst_dep >= 0 && g->nodes[worst_dep].own != worst)) {
                        worst = d->eff;
                        worst_dep = (int32_t)x->deps[i];
                }
        }
        if (live > 0) {
                if (x->min_ok < 0) {
                        derived = worst;
                } else {
                        uint32_t k = (uint32_t)x->min_ok;
                        if (good >= k)
                                derived = worst > FL_G_OK ? FL_G_WARNING : FL_G_OK;
                        else if (good + unknown >= k)
                                derived = FL_G_UNKNOWN;
                        else
                                derived = FL_G_CRITICAL;
                }
                if (derived > FL_G_OK)
                        cause = worst_dep;
        }
        if (worst_req > derived) {
                derived = worst_req;
                cause = worst_req_dep;
        }
        if (x->own >= derived) {
                /* its own state explains it: no dependency to blame */
                *ret_cause = -1;
                return (enum fl_gstate)x->own;
        }
        *ret_cause = cause;
        return (enum fl_gstate)derived;
}

/* Remembers a node's state at the start of the round, before its first
 * change in it: one change per node and round is reported, from there to
 * where it ends. */
static void touch(struct fl_graph *g, uint32_t idx)
{
        struct fl_gnode *x = &g->nodes[idx];

        if (x->touch_round == g->round)
                return;
        x->touch_round = g->round;
        x->orig_eff = x->eff;
        x->orig_cause = x->cause;
        push_u32(&g->touched, &g->n_touched, &g->cap_touched, idx);
}

/*
 * A node got better. Its ancestors that only inherited a failure may have
 * inherited it through a cycle back from themselves, where it would hold
 * itself up forever; so they start again from their own state and are
 * recomputed (the least fixpoint). Each node at most once per round.
 */
static void reset_ancestors(struct fl_graph *g, uint32_t from)
{
        uint32_t *stack = NULL, n = 0, cap = 0;

        for (uint32_t i = 0; i < g->nodes[from].n_parents; i++)
                push_u32(&stack, &n, &cap, g->nodes[from].parents[i]);
        while (n > 0) {
                uint32_t p = stack[--n];
                struct fl_gnode *x = &g->nodes[p];
                if (x->reset_round == g->round || x->eff <= x->own)
                        continue;
                x->reset_round = g->round;
                touch(g, p);
                x->eff = x->own;
                x->cause = -1;
                fl_graph_queue(g, p);
                for (uint32_t i = 0; i < x->n_parents; i++)
                        push_u32(&stack, &n, &cap, x->parents[i]);
        }
        free(stack);
}

size_t fl_graph_propagate(struct fl_graph *g, struct fl_gchange **changes, size_t *n_changes, size_t *cap_changes)
{
        size_t work = 0;

        g->round++;
        g->n_touched = 0;
        while (g->q_len > 0) {
                uint32_t idx = g->queue[g->q_head];
                g->q_head = (g->q_head + 1) % g->q_cap;
                g->q_len--;
                struct fl_gnode *x = &g->nodes[idx];
                x->queued = false;
                if (x->visit_round != g->round) {
                        x->visit_round = g->round;
                        x->visits = 0;
                }
                /* A node is recomputed about once per dependency that changes;
                 * far more than that only happens in a cycle. */
                if (++x->visits > 64 + 4 * x->n_deps) {
                        g->cycle_guard_hits++;
                        continue;
                }
                work++;
                if (x->may_improve) {
                        /* Forget what it inherited, and what its ancestors
                         * inherited from it, before recomputing: a failure
                         * must not hold itself up through a cycle. */
                        x->may_improve = false;
                        if (x->eff > x->own) {
                                touch(g, idx);
                                x->eff = x->own;
                                x->cause = -1;
                                x->reset_round = g->round;
                                reset_ancestors(g, idx);
                        }
                }
                int32_t cause;
                enum fl_gstate eff = fl_graph_compute(g, idx, &cause);
                if (eff == x->eff && cause == x->cause)
                        continue;
                uint8_t old = x->eff;
                touch(g, idx);
                x->eff = (uint8_t)eff;
                x->cause = cause;
                if (eff < old)
                        reset_ancestors(g, idx);
                if (eff != old)
                        for (uint32_t i = 0; i < x->n_parents; i++)
                                fl_graph_queue(g, x->parents[i]);
        }
        for (uint32_t i = 0; i < g->n_touched; i++) {
                const struct fl_gnode *x = &g->nodes[g->touched[i]];
                if (x->eff == x->orig_eff && x->cause == x->orig_cause)
                        continue;
                *changes = fl_grow(*changes, cap_changes, *n_changes + 1, sizeof(**changes));
                (*changes)[(*n_changes)++] = (struct fl_gchange){ g->touched[i], x->orig_eff, x->eff, x->cause };
        }
        return work;
}
