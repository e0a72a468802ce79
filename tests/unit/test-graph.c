/* SPDX-License-Identifier: MIT */
/*
 * The propagation rules of collector/graph.c on graphs built by hand
 * (DESIGN.md, "States and propagation"): effective = worst(own, derived),
 * min_ok k-of-n where unknown never becomes critical upstream, removed
 * dependencies ignored, incremental work, no recursion, cycles that end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>

#include "graph.h"

/* One graph and the changes of its last propagation. */
struct world {
        struct fl_graph g;
        struct fl_gchange *ch;
        size_t n_ch, cap_ch;
        size_t work;
};

static int setup(void **state)
{
        struct world *w = fl_new0(struct world, 1);

        fl_graph_init(&w->g);
        *state = w;
        return 0;
}

static int teardown(void **state)
{
        struct world *w = *state;

        fl_graph_free(&w->g);
        free(w->ch);
        free(w);
        return 0;
}

/* Node ids are index + 1, keys "n:<id>", so that index and id agree. */
static uint32_t node(struct world *w, enum fl_gstate own, int32_t min_ok)
{
        int64_t id = (int64_t)w->g.n_nodes + 1;
        char key[32];

        snprintf(key, sizeof(key), "n:%" PRId64, id);
        return fl_graph_upsert(&w->g, id, key, own, false, min_ok, FL_G_OK);
}

/* Changes a node's own state (and removed flag) the way the leader does
 * when a row comes back from the database. */
static void set_own(struct world *w, uint32_t n, enum fl_gstate own, bool removed)
{
        struct fl_gnode *x = &w->g.nodes[n];
        _cleanup_free_ char *key = fl_strdup(x->key);

        fl_graph_upsert(&w->g, x->id, key, own, removed, x->min_ok, FL_G_OK);
}

static void deps(struct world *w, uint32_t n, size_t count, ...)
{
        uint32_t d[16];
        va_list ap;

        assert_true(count <= FL_ARRAY_SIZE(d));
        va_start(ap, count);
        for (size_t i = 0; i < count; i++)
                d[i] = va_arg(ap, uint32_t);
        va_end(ap);
        fl_graph_set_deps(&w->g, n, d, count);
}

/* One round; the changes of earlier rounds are forgotten. */
static size_t propagate(struct world *w)
{
        w->n_ch = 0;
        w->work = fl_graph_propagate(&w->g, &w->ch, &w->n_ch, &w->cap_ch);
        assert_int_equal(w->g.q_len, 0);
        return w->work;
}

static enum fl_gstate eff(struct world *w, uint32_t n)
{
        return (enum fl_gstate)w->g.nodes[n].eff;
}

static int32_t cause(struct world *w, uint32_t n)
{
        return w->g.nodes[n].cause;
}

static size_t changes_of(struct world *w, uint32_t n)
{
        size_t c = 0;

        for (size_t i = 0; i < w->n_ch; i++)
                if (w->ch[i].node == n)
                        c++;
        return c;
}

static const struct fl_gchange *change_of(struct world *w, uint32_t n)
{
        for (size_t i = 0; i < w->n_ch; i++)
                if (w->ch[i].node == n)
                        return &w->ch[i];
        return NULL;
}

/* Where following the causes from n ends: the node its own state explains,
 * or -1 when they go round in a circle. */
static int64_t cause_chain_end(struct world *w, uint32_t n)
{
        int32_t at = (int32_t)n;

        for (size_t steps = 0; steps <= w->g.n_nodes; steps++) {
                if (cause(w, (uint32_t)at) < 0)
                        return at;
                at = cause(w, (uint32_t)at);
        }
        return -1;
}

static void test_state_names(void **state _unused_)
{
        enum fl_gstate s;

        assert_string_equal(fl_gstate_to_string(FL_G_OK), "ok");
        assert_string_equal(fl_gstate_to_string(FL_G_CRITICAL), "critical");
        assert_int_equal(fl_gstate_from_string("warning", &s), 0);
        assert_int_equal(s, FL_G_WARNING);
        assert_int_equal(fl_gstate_from_string("unknown", &s), 0);
        assert_int_equal(s, FL_G_UNKNOWN);
        assert_int_equal(fl_gstate_from_string("down", &s), -EINVAL);
        /* severity order: ok < warning < unknown < critical */
        assert_true(FL_G_OK < FL_G_WARNING && FL_G_WARNING < FL_G_UNKNOWN && FL_G_UNKNOWN < FL_G_CRITICAL);
}

static void test_upsert_find(void **state)
{
        struct world *w = *state;
        uint32_t a = fl_graph_upsert(&w->g, 42, "disk:h/sda", FL_G_OK, false, -1, FL_G_WARNING);
        uint32_t b = fl_graph_upsert(&w->g, 7, "disk:h/sdb", FL_G_OK, false, -1, FL_G_OK);

        assert_int_equal(fl_graph_find(&w->g, 42), a);
        assert_int_equal(fl_graph_find(&w->g, 7), b);
        assert_int_equal(fl_graph_find(&w->g, 8), -1);
        /* the effective state comes from the database: a fresh leader
         * reports only what really changes */
        assert_int_equal(eff(w, a), FL_G_WARNING);
        /* an update keeps the index, takes the new key */
        assert_int_equal(fl_graph_upsert(&w->g, 42, "disk:h/sdc", FL_G_CRITICAL, false, -1, FL_G_OK), a);
        assert_string_equal(w->g.nodes[a].key, "disk:h/sdc");
        assert_int_equal(w->g.n_nodes, 2);
        propagate(w);
        assert_int_equal(eff(w, a), FL_G_CRITICAL);
        assert_int_equal(w->n_ch, 1);
        assert_int_equal(w->ch[0].old_eff, FL_G_WARNING);
        assert_int_equal(w->ch[0].new_eff, FL_G_CRITICAL);
        assert_int_equal(w->ch[0].cause, -1);
}

/* service → vm → volume → disk */
static void test_chain(void **state)
{
        struct world *w = *state;
        uint32_t svc = node(w, FL_G_OK, -1), vm = node(w, FL_G_OK, -1), vol = node(w, FL_G_OK, -1),
                 disk = node(w, FL_G_OK, -1);

        deps(w, svc, 1, vm);
        deps(w, vm, 1, vol);
        deps(w, vol, 1, disk);
        propagate(w);
        assert_int_equal(w->n_ch, 0);

        set_own(w, disk, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(w->n_ch, 4);
        assert_int_equal(eff(w, svc), FL_G_CRITICAL);
        assert_int_equal(eff(w, vm), FL_G_CRITICAL);
        assert_int_equal(eff(w, vol), FL_G_CRITICAL);
        assert_int_equal(eff(w, disk), FL_G_CRITICAL);
        assert_int_equal(cause(w, svc), vm);
        assert_int_equal(cause(w, vm), vol);
        assert_int_equal(cause(w, vol), disk);
        assert_int_equal(cause(w, disk), -1);

        /* a warning below a critical disk changes nothing above */
        set_own(w, vol, FL_G_WARNING, false);
        propagate(w);
        assert_int_equal(w->n_ch, 0);
        assert_int_equal(eff(w, svc), FL_G_CRITICAL);

        set_own(w, disk, FL_G_OK, false);
        propagate(w);
        assert_int_equal(eff(w, disk), FL_G_OK);
        assert_int_equal(eff(w, vol), FL_G_WARNING);
        assert_int_equal(cause(w, vol), -1);
        assert_int_equal(eff(w, vm), FL_G_WARNING);
        assert_int_equal(cause(w, vm), vol);
        assert_int_equal(eff(w, svc), FL_G_WARNING);

        set_own(w, vol, FL_G_OK, false);
        propagate(w);
        for (uint32_t i = 0; i < w->g.n_nodes; i++) {
                assert_int_equal(eff(w, i), FL_G_OK);
                assert_int_equal(cause(w, i), -1);
        }
}

/* top → left, right → shared disk */
static void test_diamond(void **state)
{
        struct world *w = *state;
        uint32_t top = node(w, FL_G_OK, -1), left = node(w, FL_G_OK, -1), right = node(w, FL_G_OK, -1),
                 disk = node(w, FL_G_OK, -1);

        deps(w, top, 2, left, right);
        deps(w, left, 1, disk);
        deps(w, right, 1, disk);
        propagate(w);

        set_own(w, disk, FL_G_CRITICAL, false);
        propagate(w);
        /* one change per ancestor, though top hears about it twice */
        assert_int_equal(w->n_ch, 4);
        for (uint32_t i = 0; i < 4; i++) {
                assert_int_equal(changes_of(w, i), 1);
                assert_int_equal(eff(w, i), FL_G_CRITICAL);
        }
        assert_int_equal(change_of(w, top)->old_eff, FL_G_OK);
        assert_int_equal(change_of(w, top)->new_eff, FL_G_CRITICAL);
        /* top's cause points down the diamond, to the disk */
        assert_true(cause(w, top) == (int32_t)left || cause(w, top) == (int32_t)right);
        assert_int_equal(cause(w, (uint32_t)cause(w, top)), disk);
        assert_int_equal(cause(w, disk), -1);

        set_own(w, disk, FL_G_OK, false);
        propagate(w);
        assert_int_equal(w->n_ch, 4);
        assert_int_equal(eff(w, top), FL_G_OK);
        assert_int_equal(cause(w, top), -1);
}

static void test_raid1_of_2(void **state)
{
        struct world *w = *state;
        uint32_t raid = node(w, FL_G_OK, 1), d1 = node(w, FL_G_OK, -1), d2 = node(w, FL_G_OK, -1);
        uint32_t fs = node(w, FL_G_OK, -1);

        deps(w, fs, 1, raid);
        deps(w, raid, 2, d1, d2);
        propagate(w);

        set_own(w, d1, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, raid), FL_G_WARNING);
        assert_int_equal(cause(w, raid), d1);
        assert_int_equal(eff(w, fs), FL_G_WARNING);
        assert_int_equal(cause(w, fs), raid);

        set_own(w, d2, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, raid), FL_G_CRITICAL);
        assert_int_equal(eff(w, fs), FL_G_CRITICAL);

        /* the first disk replaced: degraded again, the other one to blame */
        set_own(w, d1, FL_G_OK, false);
        propagate(w);
        assert_int_equal(eff(w, raid), FL_G_WARNING);
        assert_int_equal(cause(w, raid), d2);
        assert_int_equal(eff(w, fs), FL_G_WARNING);

        set_own(w, d2, FL_G_OK, false);
        propagate(w);
        assert_int_equal(eff(w, raid), FL_G_OK);
        assert_int_equal(cause(w, raid), -1);
        assert_int_equal(eff(w, fs), FL_G_OK);
}

static void test_web_tier_2_of_3(void **state)
{
        struct world *w = *state;
        uint32_t svc = node(w, FL_G_OK, 2), w1 = node(w, FL_G_OK, -1), w2 = node(w, FL_G_OK, -1),
                 w3 = node(w, FL_G_OK, -1);

        deps(w, svc, 3, w1, w2, w3);
        propagate(w);

        set_own(w, w2, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, svc), FL_G_WARNING);
        assert_int_equal(cause(w, svc), w2);

        /* a warning member still counts as up */
        set_own(w, w1, FL_G_WARNING, false);
        propagate(w);
        assert_int_equal(eff(w, svc), FL_G_WARNING);
        assert_int_equal(cause(w, svc), w2);

        set_own(w, w3, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, svc), FL_G_CRITICAL);
}

static void test_min_ok_unknown_never_critical(void **state)
{
        struct world *w = *state;
        uint32_t raid = node(w, FL_G_OK, 1), d1 = node(w, FL_G_OK, -1), d2 = node(w, FL_G_OK, -1);
        uint32_t svc = node(w, FL_G_OK, 2), w1 = node(w, FL_G_OK, -1), w2 = node(w, FL_G_OK, -1),
                 w3 = node(w, FL_G_OK, -1);

        deps(w, raid, 2, d1, d2);
        deps(w, svc, 3, w1, w2, w3);
        propagate(w);

        /* good ≥ k, one unknown: degraded, not blind */
        set_own(w, d2, FL_G_UNKNOWN, false);
        propagate(w);
        assert_int_equal(eff(w, raid), FL_G_WARNING);

        /* one critical, one unknown: good + unknown ≥ k → unknown */
        set_own(w, d1, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, raid), FL_G_UNKNOWN);

        /* both unknown → unknown */
        set_own(w, d1, FL_G_UNKNOWN, false);
        propagate(w);
        assert_int_equal(eff(w, raid), FL_G_UNKNOWN);

        /* 2 of 3: one critical, one unknown, one ok → unknown */
        set_own(w, w1, FL_G_CRITICAL, false);
        set_own(w, w2, FL_G_UNKNOWN, false);
        propagate(w);
        assert_int_equal(eff(w, svc), FL_G_UNKNOWN);
        /* all three unknown → unknown */
        set_own(w, w1, FL_G_UNKNOWN, false);
        set_own(w, w3, FL_G_UNKNOWN, false);
        propagate(w);
        assert_int_equal(eff(w, svc), FL_G_UNKNOWN);
        /* two really down: critical whatever the third */
        set_own(w, w1, FL_G_CRITICAL, false);
        set_own(w, w2, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, svc), FL_G_CRITICAL);
}

static void test_all_required_unknown(void **state)
{
        struct world *w = *state;
        uint32_t vm = node(w, FL_G_OK, -1), vol = node(w, FL_G_OK, -1), nic = node(w, FL_G_OK, -1);

        deps(w, vm, 2, vol, nic);
        propagate(w);

        set_own(w, nic, FL_G_UNKNOWN, false);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_UNKNOWN);
        assert_int_equal(cause(w, vm), nic);

        set_own(w, vol, FL_G_WARNING, false);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_UNKNOWN);
        assert_int_equal(cause(w, vm), nic);

        set_own(w, vol, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_CRITICAL);
        assert_int_equal(cause(w, vm), vol);
}

static void test_own_worse_than_derived(void **state)
{
        struct world *w = *state;
        uint32_t vm = node(w, FL_G_OK, -1), vol = node(w, FL_G_OK, -1);

        deps(w, vm, 1, vol);
        set_own(w, vol, FL_G_WARNING, false);
        set_own(w, vm, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_CRITICAL);
        assert_int_equal(cause(w, vm), -1);

        /* as bad as its dependency: its own failure explains it */
        set_own(w, vol, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_CRITICAL);
        assert_int_equal(cause(w, vm), -1);

        /* better than the dependency: the dependency is to blame */
        set_own(w, vm, FL_G_WARNING, false);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_CRITICAL);
        assert_int_equal(cause(w, vm), vol);
        /* only the cause moved: reported, state unchanged */
        assert_int_equal(w->n_ch, 1);
        assert_int_equal(w->ch[0].old_eff, FL_G_CRITICAL);
        assert_int_equal(w->ch[0].new_eff, FL_G_CRITICAL);
        assert_int_equal(w->ch[0].cause, vol);
}

static void test_removed_dependency_ignored(void **state)
{
        struct world *w = *state;
        uint32_t raid = node(w, FL_G_OK, 1), d1 = node(w, FL_G_OK, -1), d2 = node(w, FL_G_OK, -1);
        uint32_t vm = node(w, FL_G_OK, -1), old = node(w, FL_G_OK, -1);

        deps(w, raid, 2, d1, d2);
        deps(w, vm, 1, old);
        /* removed from the start: neither a failure nor a member */
        fl_graph_upsert(&w->g, w->g.nodes[old].id, w->g.nodes[old].key, FL_G_CRITICAL, true, -1, FL_G_OK);
        fl_graph_upsert(&w->g, w->g.nodes[d2].id, w->g.nodes[d2].key, FL_G_CRITICAL, true, -1, FL_G_OK);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_OK);
        assert_int_equal(cause(w, vm), -1);
        assert_int_equal(eff(w, raid), FL_G_OK);

        /* the live member of the raid fails: no good one left */
        set_own(w, d1, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, raid), FL_G_CRITICAL);
        assert_int_equal(cause(w, raid), d1);
}

/* A failing dependency that is then no longer discovered (removed_at set,
 * its last own state kept, as faultline.apply_inventory does): the nodes
 * above it must stop suffering from it, and suffer again when it comes
 * back. */
static void test_dependency_removed_after_failing(void **state)
{
        struct world *w = *state;
        uint32_t svc = node(w, FL_G_OK, -1), vm = node(w, FL_G_OK, -1), disk = node(w, FL_G_OK, -1);

        deps(w, svc, 1, vm);
        deps(w, vm, 1, disk);
        set_own(w, disk, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, svc), FL_G_CRITICAL);

        set_own(w, disk, FL_G_CRITICAL, true);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_OK);
        assert_int_equal(cause(w, vm), -1);
        assert_int_equal(eff(w, svc), FL_G_OK);

        set_own(w, disk, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_CRITICAL);
        assert_int_equal(eff(w, svc), FL_G_CRITICAL);
}

static void test_set_deps_replaces(void **state)
{
        struct world *w = *state;
        uint32_t vm = node(w, FL_G_OK, -1), old = node(w, FL_G_OK, -1), new = node(w, FL_G_OK, -1);

        deps(w, vm, 1, old);
        set_own(w, old, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_CRITICAL);
        assert_int_equal(w->g.nodes[old].n_parents, 1);

        /* migrated: depends on the new volume only */
        deps(w, vm, 1, new);
        assert_int_equal(w->g.nodes[old].n_parents, 0);
        assert_int_equal(w->g.nodes[new].n_parents, 1);
        assert_int_equal(w->g.nodes[new].parents[0], vm);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_OK);
        assert_int_equal(cause(w, vm), -1);

        /* a change below the old dependency no longer reaches it */
        set_own(w, old, FL_G_OK, false);
        propagate(w);
        set_own(w, old, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(w->n_ch, 1);
        assert_int_equal(w->ch[0].node, old);
        assert_int_equal(eff(w, vm), FL_G_OK);

        set_own(w, new, FL_G_WARNING, false);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_WARNING);
        assert_int_equal(cause(w, vm), new);

        /* duplicates and a self edge are dropped */
        deps(w, vm, 4, new, new, vm, old);
        assert_int_equal(w->g.nodes[vm].n_deps, 2);
        assert_int_equal(w->g.nodes[new].n_parents, 1);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_CRITICAL);
        assert_int_equal(cause(w, vm), old);

        /* no dependencies at all: its own state only */
        fl_graph_set_deps(&w->g, vm, NULL, 0);
        propagate(w);
        assert_int_equal(eff(w, vm), FL_G_OK);
        assert_int_equal(w->g.nodes[old].n_parents, 0);
        assert_int_equal(w->g.nodes[new].n_parents, 0);
}

#define DEEP 10000

struct deep_run {
        struct world *w;
        size_t work;
};

static void *deep_propagate(void *arg)
{
        struct deep_run *r = arg;
        struct world *w = r->w;

        /* no cmocka assertion on this thread: they jump */
        w->n_ch = 0;
        r->work = fl_graph_propagate(&w->g, &w->ch, &w->n_ch, &w->cap_ch);
        return NULL;
}

/* Propagates on a thread with a 64 KiB stack: recursion as deep as the
 * graph would overflow it. */
static size_t propagate_small_stack(struct world *w)
{
        struct deep_run r = { .w = w };
        pthread_attr_t attr;
        pthread_t t;

        assert_int_equal(pthread_attr_init(&attr), 0);
        assert_int_equal(pthread_attr_setstacksize(&attr, 64 * 1024), 0);
        assert_int_equal(pthread_create(&t, &attr, deep_propagate, &r), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        pthread_attr_destroy(&attr);
        return r.work;
}

static void test_deep_chain(void **state)
{
        struct world *w = *state;

        /* node i depends on node i + 1; the last one is a failing disk */
        for (uint32_t i = 0; i < DEEP; i++)
                node(w, i == DEEP - 1 ? FL_G_CRITICAL : FL_G_OK, -1);
        for (uint32_t i = 0; i + 1 < DEEP; i++)
                deps(w, i, 1, i + 1);

        /* the first full round: one propagate settles all of it */
        propagate_small_stack(w);
        assert_int_equal(w->g.q_len, 0);
        assert_int_equal(w->n_ch, DEEP);
        for (uint32_t i = 0; i < DEEP; i++)
                assert_int_equal(eff(w, i), FL_G_CRITICAL);
        assert_int_equal(cause(w, 0), 1);
        assert_int_equal(cause(w, DEEP - 2), DEEP - 1);
        assert_int_equal(w->g.cycle_guard_hits, 0);

        /* repaired: once more, one round, every node once */
        set_own(w, DEEP - 1, FL_G_OK, false);
        size_t work = propagate_small_stack(w);
        assert_int_equal(work, DEEP);
        assert_int_equal(w->n_ch, DEEP);
        for (uint32_t i = 0; i < DEEP; i++) {
                assert_int_equal(eff(w, i), FL_G_OK);
                assert_int_equal(cause(w, i), -1);
        }
}

static void test_cycle_terminates(void **state)
{
        struct world *w = *state;
        uint32_t a = node(w, FL_G_OK, -1), b = node(w, FL_G_OK, -1), top = node(w, FL_G_OK, -1);

        /* A → B → A, and top → A */
        deps(w, a, 1, b);
        deps(w, b, 1, a);
        deps(w, top, 1, a);
        propagate(w);
        assert_int_equal(eff(w, a), FL_G_OK);
        assert_int_equal(eff(w, b), FL_G_OK);

        set_own(w, b, FL_G_CRITICAL, false);
        size_t work = propagate(w);
        assert_true(work <= 3 * 64);
        assert_int_equal(eff(w, b), FL_G_CRITICAL);
        assert_int_equal(eff(w, a), FL_G_CRITICAL);
        assert_int_equal(cause(w, a), b);
        assert_int_equal(eff(w, top), FL_G_CRITICAL);
        assert_int_equal(cause(w, top), a);

        /* min_ok inside a cycle ends too */
        uint32_t c = node(w, FL_G_OK, 1), d = node(w, FL_G_OK, 1), e = node(w, FL_G_WARNING, -1);
        deps(w, c, 2, d, e);
        deps(w, d, 2, c, e);
        work = propagate(w);
        assert_true(work <= 5 * 64);
        assert_true(eff(w, c) <= FL_G_WARNING);
        assert_true(eff(w, d) <= FL_G_WARNING);
}

/* A cycle that slipped in (discovered edges are not checked) must not hold
 * a failure forever once the failing node is repaired: with nothing failing
 * by itself, nothing is failing. */
static void test_cycle_recovers(void **state)
{
        struct world *w = *state;
        uint32_t a = node(w, FL_G_OK, -1), b = node(w, FL_G_OK, -1), top = node(w, FL_G_OK, -1);

        deps(w, a, 1, b);
        deps(w, b, 1, a);
        deps(w, top, 1, a);
        set_own(w, b, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, top), FL_G_CRITICAL);

        set_own(w, b, FL_G_OK, false);
        propagate(w);
        assert_int_equal(eff(w, b), FL_G_OK);
        assert_int_equal(eff(w, a), FL_G_OK);
        assert_int_equal(eff(w, top), FL_G_OK);
}

/* Repairing one member of a cycle must not clear a failure the cycle
 * really has from below. */
static void test_cycle_keeps_real_failure(void **state)
{
        struct world *w = *state;
        uint32_t a = node(w, FL_G_CRITICAL, -1), b = node(w, FL_G_OK, -1), d = node(w, FL_G_CRITICAL, -1);

        deps(w, a, 1, b);
        deps(w, b, 2, a, d);
        propagate(w);
        assert_int_equal(eff(w, a), FL_G_CRITICAL);
        assert_int_equal(eff(w, b), FL_G_CRITICAL);

        set_own(w, a, FL_G_OK, false);
        propagate(w);
        assert_int_equal(eff(w, b), FL_G_CRITICAL);
        assert_int_equal(eff(w, a), FL_G_CRITICAL);
        /* reported once each at most, from where the round started */
        assert_true(changes_of(w, a) <= 1 && changes_of(w, b) <= 1);
        int64_t end_a = cause_chain_end(w, a), end_b = cause_chain_end(w, b);

        set_own(w, d, FL_G_OK, false);
        propagate(w);
        assert_int_equal(eff(w, a), FL_G_OK);
        assert_int_equal(eff(w, b), FL_G_OK);
        assert_int_equal(eff(w, d), FL_G_OK);
        /* the causes led out of the cycle to the failing disk, not round
         * it ("via" in faultline.status follows them) */
        assert_int_equal(end_a, d);
        assert_int_equal(end_b, d);
}

/* A part_of dependency is required whatever min_ok says: a RAID1 that
 * needs one of its two disks still needs the host it runs in. */
static void test_part_of_required(void **state)
{
        struct world *w = *state;
        uint32_t raid = node(w, FL_G_OK, 1), d1 = node(w, FL_G_OK, -1), d2 = node(w, FL_G_OK, -1),
                 host = node(w, FL_G_OK, -1);
        const uint32_t dv[] = { d1, d2, host };
        const bool required[] = { false, false, true };

        fl_graph_set_deps_typed(&w->g, raid, dv, required, 3);
        propagate(w);
        set_own(w, host, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, raid), FL_G_CRITICAL);
        assert_int_equal(cause(w, raid), host);

        /* min_ok counts over the disks only */
        set_own(w, host, FL_G_OK, false);
        set_own(w, d1, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, raid), FL_G_WARNING);
        assert_int_equal(cause(w, raid), d1);
        set_own(w, d2, FL_G_CRITICAL, false);
        propagate(w);
        assert_int_equal(eff(w, raid), FL_G_CRITICAL);
}

/* A 10,000-node estate: a root over 999 branches of 10 nodes. A change at
 * the bottom of one branch recomputes that branch and the root only. */
static void test_incremental(void **state)
{
        struct world *w = *state;
        uint32_t root = node(w, FL_G_OK, -1);
        uint32_t tops[999], bottoms[999];

        for (uint32_t b = 0; b < 999; b++) {
                uint32_t prev = UINT32_MAX;
                for (uint32_t i = 0; i < 10; i++) {
                        uint32_t n = node(w, FL_G_OK, -1);
                        if (prev == UINT32_MAX)
                                tops[b] = n;
                        else
                                deps(w, prev, 1, n);
                        prev = n;
                }
                bottoms[b] = prev;
        }
        fl_graph_set_deps(&w->g, root, tops, 999);
        assert_int_equal(w->g.n_nodes, 9991);
        size_t work = propagate(w);
        assert_true(work >= w->g.n_nodes);
        assert_int_equal(w->n_ch, 0);

        set_own(w, bottoms[500], FL_G_CRITICAL, false);
        work = propagate(w);
        assert_true(work <= 20);
        assert_int_equal(work, 11);
        assert_int_equal(w->n_ch, 11);
        assert_int_equal(eff(w, root), FL_G_CRITICAL);
        assert_int_equal(cause(w, root), tops[500]);
        assert_int_equal(eff(w, tops[499]), FL_G_OK);

        /* a second failure under the critical root: the root is
         * recomputed, does not change, and stops the walk */
        set_own(w, bottoms[7], FL_G_WARNING, false);
        work = propagate(w);
        assert_int_equal(work, 11);
        assert_int_equal(w->n_ch, 10);
        assert_null(change_of(w, root));

        /* an own state that changes no effective state stops at once */
        set_own(w, tops[500], FL_G_WARNING, false);
        work = propagate(w);
        assert_int_equal(work, 1);
        assert_int_equal(w->n_ch, 0);
}

/* Dependencies whose changes reach a node at many different moments of one
 * round (paths of many different lengths below it): it must end the round
 * with the state of all of them. A DAG has no cycle, so nothing may be cut
 * short. Here: chains of length 1..80 under one service, every bottom
 * changes at once, the longest chain brings the worst state. */
static void test_many_path_lengths(void **state)
{
        struct world *w = *state;
        uint32_t svc = node(w, FL_G_OK, -1);
        uint32_t tops[80], bottoms[80];

        for (uint32_t len = 1; len <= 80; len++) {
                uint32_t prev = UINT32_MAX;
                for (uint32_t i = 0; i < len; i++) {
                        uint32_t n = node(w, FL_G_OK, -1);
                        if (prev == UINT32_MAX)
                                tops[len - 1] = n;
                        else
                                deps(w, prev, 1, n);
                        prev = n;
                }
                bottoms[len - 1] = prev;
        }
        fl_graph_set_deps(&w->g, svc, tops, 80);
        propagate(w);
        assert_int_equal(eff(w, svc), FL_G_OK);

        for (uint32_t i = 0; i < 80; i++)
                set_own(w, bottoms[i], i == 79 ? FL_G_CRITICAL : FL_G_WARNING, false);
        propagate(w);
        assert_int_equal(eff(w, tops[79]), FL_G_CRITICAL);
        assert_int_equal(eff(w, svc), FL_G_CRITICAL);
        assert_int_equal(cause(w, svc), tops[79]);
        assert_int_equal(w->g.cycle_guard_hits, 0);
}

/* Many nodes queued at once, the ring wrapped (head in the middle) when it
 * has to grow: every queued node is worked off exactly once. */
static void test_queue_growth(void **state)
{
        struct world *w = *state;
        uint32_t disk = node(w, FL_G_OK, -1);

        for (uint32_t i = 0; i < 100; i++)
                node(w, FL_G_OK, -1);
        propagate(w);
        assert_int_equal(w->g.q_len, 0);
        assert_int_not_equal(w->g.q_head, 0);
        size_t before = w->g.n_nodes;
        /* 50,000 VMs on one disk, each queued by its upsert */
        for (uint32_t i = 0; i < 50000; i++) {
                uint32_t vm = node(w, FL_G_OK, -1);
                deps(w, vm, 1, disk);
        }
        assert_int_equal(w->g.q_len, 50000);
        assert_true(w->g.q_cap >= 50000);
        size_t work = propagate(w);
        assert_int_equal(work, 50000);
        assert_int_equal(w->n_ch, 0);

        /* everything queued again, plus a failure under all of them */
        fl_graph_queue_all(&w->g);
        fl_graph_queue_all(&w->g);
        assert_int_equal(w->g.q_len, w->g.n_nodes);
        set_own(w, disk, FL_G_CRITICAL, false);
        work = propagate(w);
        /* the disk comes first, its VMs are still queued: once each */
        assert_int_equal(work, w->g.n_nodes);
        assert_int_equal(w->n_ch, 50001);
        for (size_t i = before; i < w->g.n_nodes; i++) {
                assert_int_equal(eff(w, (uint32_t)i), FL_G_CRITICAL);
                assert_int_equal(cause(w, (uint32_t)i), disk);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_state_names),
                cmocka_unit_test_setup_teardown(test_upsert_find, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_diamond, setup, teardown),
                cmocka_unit_test_setup_teardown(test_raid1_of_2, setup, teardown),
                cmocka_unit_test_setup_teardown(test_web_tier_2_of_3, setup, teardown),
                cmocka_unit_test_setup_teardown(test_min_ok_unknown_never_critical, setup, teardown),
                cmocka_unit_test_setup_teardown(test_all_required_unknown, setup, teardown),
                cmocka_unit_test_setup_teardown(test_own_worse_than_derived, setup, teardown),
                cmocka_unit_test_setup_teardown(test_removed_dependency_ignored, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dependency_removed_after_failing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_set_deps_replaces, setup, teardown),
                cmocka_unit_test_setup_teardown(test_deep_chain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cycle_terminates, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cycle_recovers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cycle_keeps_real_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_part_of_required, setup, teardown),
                cmocka_unit_test_setup_teardown(test_incremental, setup, teardown),
                cmocka_unit_test_setup_teardown(test_many_path_lengths, setup, teardown),
                cmocka_unit_test_setup_teardown(test_queue_growth, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
