/* SPDX-License-Identifier: MIT */
/*
 * The propagation thread. Every collector runs one; only the one holding
 * PostgreSQL advisory lock 7411100 works, the others ask again every two
 * seconds and take over when the leader's connection goes away.
 *
 * The leader loads the graph once, then follows faultline.dirty (filled by
 * triggers, announced by NOTIFY faultline_dirty): it reloads only the nodes
 * that changed, recomputes only the ancestors whose effective state changes,
 * and writes those back with their history and a NOTIFY faultline_state.
 */
#include "propagate.h"

#include <inttypes.h>
#include <pthread.h>

#include "graph.h"
#include "log.h"
#include "store.h"

#define LEADER_RETRY_US (2 * 1000000ull)
#define SILENT_CHECK_US (5 * 1000000ull)

struct fl_propagator {
        char *database;
        int silent_intervals;
        pthread_t thread;
        volatile int stop;
        volatile int leader;
        struct fl_store *store;
        struct fl_graph graph;
        struct fl_complain complaint;
        uint64_t rounds, changes_written;
        /* Changes the database did not take yet (their rows were busy):
         * node index and the state the database still holds. */
        struct fl_gchange *unwritten;
        size_t n_unwritten, cap_unwritten;
};

static enum fl_gstate parse_state(const char *s)
{
        enum fl_gstate st;
        return fl_gstate_from_string(s, &st) < 0 ? FL_G_UNKNOWN : st;
}

static void on_node(void *userdata, const struct fl_node_row *row)
{
        struct fl_graph *g = userdata;
        fl_graph_upsert(g, row->id, row->key, parse_state(row->own_state), row->removed, row->min_ok,
                        parse_state(row->effective_state));
}

/* Edges arrive ordered by from_id: collect one node's dependencies, then
 * set them at once. */
struct edge_acc {
        struct fl_propagator *p;
        int64_t from;
        uint32_t *deps;
        bool *required;
        size_t n, cap, cap_req;
        int64_t *missing;
        size_t n_missing, cap_missing;
};

static void flush_edges(struct edge_acc *a)
{
        if (a->from == 0)
                return;
        int64_t at = fl_graph_find(&a->p->graph, a->from);
        if (at >= 0)
                fl_graph_set_deps_typed(&a->p->graph, (uint32_t)at, a->deps, a->required, a->n);
        a->n = 0;
}

static void on_edge(void *userdata, int64_t from, int64_t to, bool required)
{
        struct edge_acc *a = userdata;
        int64_t t;

        if (from != a->from) {
                flush_edges(a);
                a->from = from;
        }
        t = fl_graph_find(&a->p->graph, to);
        if (t < 0) {
                /* a node created after we loaded: fetch it and redo */
                a->missing = fl_grow(a->missing, &a->cap_missing, a->n_missing + 1, sizeof(*a->missing));
                a->missing[a->n_missing++] = to;
                return;
        }
        a->deps = fl_grow(a->deps, &a->cap, a->n + 1, sizeof(*a->deps));
        a->required = fl_grow(a->required, &a->cap_req, a->n + 1, sizeof(*a->required));
        a->required[a->n] = required;
        a->deps[a->n++] = (uint32_t)t;
}

/* Loads the dependencies of from_ids (NULL: all), fetching target nodes
 * that are not known yet. */
static int load_edges(struct fl_propagator *p, const int64_t *from_ids, size_t n)
{
        for (int attempt = 0; attempt < 3; attempt++) {
                struct edge_acc a = { .p = p };
                int r;

                /* Nodes whose edge list is empty now still need it cleared. */
                if (from_ids)
                        for (size_t i = 0; i < n; i++) {
                                int64_t at = fl_graph_find(&p->graph, from_ids[i]);
                                if (at >= 0)
                                        fl_graph_set_deps(&p->graph, (uint32_t)at, NULL, 0);
                        }
                r = fl_store_load_edges(p->store, from_ids, n, on_edge, &a);
                if (r >= 0)
                        flush_edges(&a);
                size_t missing = a.n_missing;
                if (r >= 0 && missing > 0)
                        r = fl_store_load_nodes(p->store, a.missing, a.n_missing, on_node, &p->graph);
                free(a.deps);
                free(a.required);
                free(a.missing);
                if (r < 0)
                        return r;
                if (missing == 0)
                        return 0;
        }
        return 0;
}

/* fl_graph_propagate reports each node at most once per round, from its
 * state before the round to its state after: written as they are, in time
 * proportional to the changes, not to the graph. Changes whose rows were
 * busy are kept and written in a later round, from the state the database
 * still holds to the node's state then. */
static int write_changes(struct fl_propagator *p, struct fl_gchange *ch, size_t n)
{
        struct fl_graph *g = &p->graph;
        size_t total = n + p->n_unwritten;
        _cleanup_free_ struct fl_gchange *all = fl_new0(struct fl_gchange, total);
        _cleanup_free_ struct fl_effective_change *out = fl_new0(struct fl_effective_change, total);
        _cleanup_free_ bool *written = fl_new0(bool, total);
        size_t m = 0;

        for (size_t i = 0; i < p->n_unwritten; i++) {
                struct fl_gchange u = p->unwritten[i];
                u.new_eff = g->nodes[u.node].eff;
                u.cause = g->nodes[u.node].cause;
                all[m++] = u;
        }
        for (size_t i = 0; i < n; i++) {
                bool dup = false;
                for (size_t j = 0; j < p->n_unwritten && !dup; j++)
                        dup = all[j].node == ch[i].node;
                if (!dup)
                        all[m++] = ch[i];
        }
        for (size_t i = 0; i < m; i++)
                out[i] = (struct fl_effective_change){
                        .id = g->nodes[all[i].node].id,
                        .old_state = fl_gstate_to_string(all[i].old_eff),
                        .new_state = fl_gstate_to_string(all[i].new_eff),
                        .cause_key = all[i].cause >= 0 ? g->nodes[all[i].cause].key : NULL,
                        .state_changed = all[i].old_eff != all[i].new_eff,
                };
        int r = fl_store_write_effective(p->store, out, m, written);
        if (r < 0)
                return r;
        p->n_unwritten = 0;
        for (size_t i = 0; i < m; i++) {
                if (written[i]) {
                        p->changes_written++;
                        continue;
                }
                p->unwritten = fl_grow(p->unwritten, &p->cap_unwritten, p->n_unwritten + 1, sizeof(*p->unwritten));
                p->unwritten[p->n_unwritten++] = all[i];
        }
        return 0;
}

static int round_trip(struct fl_propagator *p)
{
        _cleanup_free_ struct fl_gchange *ch = NULL;
        size_t n = 0, cap = 0;

        fl_graph_propagate(&p->graph, &ch, &n, &cap);
        p->rounds++;
        return n > 0 || p->n_unwritten > 0 ? write_changes(p, ch, n) : 0;
}

static int become_leader(struct fl_propagator *p)
{
        uint64_t t0 = fl_mono_us();
        int r;

        fl_graph_free(&p->graph);
        fl_graph_init(&p->graph);
        p->n_unwritten = 0; /* the full load below starts from what the database holds */
        r = fl_store_listen_dirty(p->store);
        if (r < 0)
                return r;
        /* What is dirty now is covered by the full load below. */
        _cleanup_free_ int64_t *ids = NULL;
        _cleanup_free_ bool *graph = NULL;
        size_t n = 0;
        r = fl_store_take_dirty(p->store, &ids, &graph, &n);
        if (r < 0)
                return r;
        r = fl_store_load_nodes(p->store, NULL, 0, on_node, &p->graph);
        if (r < 0)
                return r;
        r = load_edges(p, NULL, 0);
        if (r < 0)
                return r;
        fl_graph_queue_all(&p->graph);
        r = round_trip(p);
        if (r < 0)
                return r;
        fl_info("propagation leader: %zu nodes loaded and propagated in %.1f ms", p->graph.n_nodes,
                (double)(fl_mono_us() - t0) / 1000.0);
        return 0;
}

struct loaded {
        struct fl_graph *graph;
        struct fl_strmap ids;
};

static void on_node_seen(void *userdata, const struct fl_node_row *row)
{
        struct loaded *l = userdata;
        char k[24];

        on_node(l->graph, row);
        snprintf(k, sizeof(k), "%" PRId64, row->id);
        fl_strmap_put(&l->ids, k, 1);
}

/* A node that was deleted is gone from the database: its parents stop
 * counting it (and the deletion of its edges reloads them). */
static void forget_deleted(struct fl_propagator *p, const int64_t *ids, size_t n, const struct loaded *l)
{
        for (size_t i = 0; i < n; i++) {
                char k[24];
                int64_t v;
                snprintf(k, sizeof(k), "%" PRId64, ids[i]);
                if (fl_strmap_get(&l->ids, k, &v))
                        continue;
                int64_t at = fl_graph_find(&p->graph, ids[i]);
                if (at < 0)
                        continue;
                struct fl_gnode *x = &p->graph.nodes[at];
                fl_graph_upsert(&p->graph, x->id, x->key, FL_G_OK, true, x->min_ok, (enum fl_gstate)x->eff);
        }
}

static int follow_changes(struct fl_propagator *p)
{
        _cleanup_free_ int64_t *ids = NULL, *graph_ids = NULL;
        _cleanup_free_ bool *graph = NULL;
        size_t n = 0, n_graph = 0;
        int r;

        r = fl_store_take_dirty(p->store, &ids, &graph, &n);
        if (r < 0)
                return r;
        if (n == 0)
                return p->n_unwritten > 0 ? round_trip(p) : 0; /* busy rows, again */
        struct loaded l = { .graph = &p->graph };
        fl_strmap_init(&l.ids, 0);
        r = fl_store_load_nodes(p->store, ids, n, on_node_seen, &l);
        if (r >= 0)
                forget_deleted(p, ids, n, &l);
        fl_strmap_free(&l.ids);
        if (r < 0)
                return r;
        graph_ids = fl_new0(int64_t, n);
        for (size_t i = 0; i < n; i++)
                if (graph[i])
                        graph_ids[n_graph++] = ids[i];
        if (n_graph > 0) {
                r = load_edges(p, graph_ids, n_graph);
                if (r < 0)
                        return r;
        }
        return round_trip(p);
}

static void *propagator_main(void *arg)
{
        struct fl_propagator *p = arg;
        uint64_t last_silent = 0;

        while (!p->stop) {
                int r;

                if (!p->store) {
                        if (fl_store_connect(p->database, &p->store) < 0) {
                                p->store = NULL;
                                for (int i = 0; i < 20 && !p->stop; i++)
                                        usleep(100000);
                                continue;
                        }
                        fl_store_set_quiet(p->store, true);
                }
                if (!p->leader) {
                        bool leader = false;
                        r = fl_store_try_leader(p->store, &leader);
                        if (r >= 0 && leader) {
                                r = become_leader(p);
                                if (r >= 0)
                                        p->leader = 1;
                        }
                        if (r < 0)
                                goto failed;
                        if (!p->leader) {
                                for (uint64_t t = 0; t < LEADER_RETRY_US && !p->stop; t += 100000)
                                        usleep(100000);
                                continue;
                        }
                }
                r = fl_store_wait_notify(p->store, 500);
                if (r < 0)
                        goto failed;
                if (fl_mono_us() - last_silent > SILENT_CHECK_US) {
                        r = fl_store_mark_silent(p->store, p->silent_intervals);
                        if (r < 0)
                                goto failed;
                        last_silent = fl_mono_us();
                }
                r = follow_changes(p);
                if (r < 0)
                        goto failed;
                fl_complain_release(&p->complaint, "propagation works again");
                continue;
failed:
                /* Start over: a new connection, and leadership asked again
                 * (if our session died, the lock went with it). */
                fl_complain(&p->complaint, FL_LOG_WARNING, "propagation interrupted: %s; starting over",
                            p->store ? fl_store_last_error(p->store) : "no database");
                fl_store_free(p->store);
                p->store = NULL;
                p->leader = 0;
                for (int i = 0; i < 10 && !p->stop; i++)
                        usleep(100000);
        }
        return NULL;
}

int fl_propagator_start(const char *database, int silent_intervals, struct fl_propagator **ret)
{
        struct fl_propagator *p = fl_new0(struct fl_propagator, 1);

        p->database = fl_strdup(database);
        p->silent_intervals = silent_intervals;
        fl_graph_init(&p->graph);
        if (pthread_create(&p->thread, NULL, propagator_main, p) != 0) {
                fl_graph_free(&p->graph);
                free(p->database);
                free(p);
                return -EAGAIN;
        }
        *ret = p;
        return 0;
}

bool fl_propagator_is_leader(const struct fl_propagator *p)
{
        return p->leader;
}

void fl_propagator_stop(struct fl_propagator *p)
{
        if (!p)
                return;
        p->stop = 1;
        pthread_join(p->thread, NULL);
        fl_store_free(p->store);
        fl_graph_free(&p->graph);
        free(p->unwritten);
        free(p->database);
        free(p);
}
