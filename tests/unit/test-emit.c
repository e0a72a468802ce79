/* SPDX-License-Identifier: MIT */
/* What one cycle emits: series lookup, merging of nodes, edges and states
 * that several collectors reported, and packing into the wire batches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "batch.h"
#include "emit.h"
#include "faultline.pb-c.h"

static const struct fl_enode *find_node(const struct fl_emit *e, const char *key)
{
        for (size_t i = 0; i < e->n_nodes; i++)
                if (strcmp(e->nodes[i].key, key) == 0)
                        return &e->nodes[i];
        return NULL;
}

static const char *attr(const struct fl_enode *n, const char *key)
{
        for (size_t i = 0; i < n->n_attrs; i++)
                if (strcmp(n->attrs[i].key, key) == 0)
                        return n->attrs[i].value;
        return NULL;
}

static void test_series_are_declared_once(void **state _unused_)
{
        struct fl_emit e = { 0 };
        char key[64];

        /* Enough series to make the lookup table grow several times. */
        for (int round = 0; round < 3; round++)
                for (int i = 0; i < 500; i++) {
                        snprintf(key, sizeof(key), "disk:h/sd%d", i);
                        fl_emit_sample(&e, key, "disk.read_iops", "1/s", 1000 + (uint64_t)round, i);
                }
        assert_int_equal(e.n_series, 500);
        assert_int_equal(e.n_samples, 1500);
        for (size_t i = 0; i < e.n_samples; i++) {
                snprintf(key, sizeof(key), "disk:h/sd%zu", i % 500);
                assert_string_equal(e.series[e.samples[i].series].node_key, key);
        }
        /* A reset forgets the series: the next cycle declares them anew. */
        fl_emit_reset(&e);
        fl_emit_sample(&e, "disk:h/sd7", "disk.read_iops", "1/s", 1, 1);
        assert_int_equal(e.n_series, 1);
        assert_int_equal(e.samples[0].series, 0);
        fl_emit_free(&e);
}

static void test_finalize_merges_nodes_and_edges(void **state _unused_)
{
        struct fl_emit e = { 0 };
        struct fl_enode *n;

        n = fl_emit_node(&e, "disk:h/sda", "disk");
        fl_emit_attr(n, "model", "first");
        n = fl_emit_node(&e, "nic:h/eth0", "nic");
        n = fl_emit_node(&e, "disk:h/sda", "disk");
        fl_emit_attr(n, "model", "second");
        fl_emit_attr(n, "size_bytes", "100");
        n->min_ok = 1;
        fl_emit_edge(&e, "disk:h/sda", "host:h", "part_of");
        fl_emit_edge(&e, "nic:h/eth0", "host:h", "part_of");
        fl_emit_edge(&e, "disk:h/sda", "host:h", "part_of");
        fl_emit_edge(&e, "disk:h/sda", "host:h", "other");

        fl_emit_finalize(&e);
        assert_int_equal(e.n_nodes, 2);
        n = (struct fl_enode *)find_node(&e, "disk:h/sda");
        assert_non_null(n);
        assert_string_equal(attr(n, "model"), "first"); /* first value wins */
        assert_string_equal(attr(n, "size_bytes"), "100");
        assert_int_equal(n->min_ok, 1);
        assert_int_equal(e.n_edges, 3);
        fl_emit_free(&e);
}

static void test_finalize_keeps_worst_state(void **state _unused_)
{
        struct fl_emit e = { 0 };

        fl_emit_state(&e, "disk:h/sdb", FL_STATE_OK, NULL);
        fl_emit_state(&e, "disk:h/sdb", FL_STATE_WARNING, "I/O errors: %d in 10 s", 12);
        fl_emit_state(&e, "disk:h/sdc", FL_STATE_CRITICAL, "marked faulty in md1");
        fl_emit_state(&e, "disk:h/sdb", FL_STATE_WARNING, "kernel: 3 I/O errors");
        fl_emit_state(&e, "disk:h/sdc", FL_STATE_WARNING, "I/O errors");
        fl_emit_state(&e, "disk:h/sdd", FL_STATE_UNKNOWN, "cannot read md/degraded");
        fl_emit_state(&e, "disk:h/sdd", FL_STATE_WARNING, "something milder");

        fl_emit_finalize(&e);
        assert_int_equal(e.n_states, 3);
        assert_string_equal(e.states[0].key, "disk:h/sdb");
        assert_int_equal(e.states[0].state, FL_STATE_WARNING);
        assert_string_equal(e.states[0].reason, "I/O errors: 12 in 10 s; kernel: 3 I/O errors");
        assert_string_equal(e.states[1].key, "disk:h/sdc");
        assert_int_equal(e.states[1].state, FL_STATE_CRITICAL);
        assert_string_equal(e.states[1].reason, "marked faulty in md1");
        /* unknown ranks above warning: silence is not health */
        assert_int_equal(e.states[2].state, FL_STATE_UNKNOWN);
        assert_string_equal(e.states[2].reason, "cannot read md/degraded");
        fl_emit_free(&e);
}

static Faultline__Payload *unpack(const struct fl_packed *p)
{
        assert_true(p->len > 0);
        Faultline__Payload *m = faultline__payload__unpack(NULL, p->len, p->data);
        assert_non_null(m);
        return m;
}

static void test_pack_sends_inventory_only_when_changed(void **state _unused_)
{
        struct fl_batcher b = { .full_every = 100 };
        struct fl_heartbeat_info hb = { .hostname = "h", .interval_us = 10000000 };
        struct fl_emit e = { 0 };
        struct fl_packed control, metrics;
        Faultline__Payload *p;

        fl_emit_node(&e, "disk:h/sda", "disk");
        fl_emit_state(&e, "disk:h/sda", FL_STATE_OK, NULL);
        fl_emit_sample(&e, "disk:h/sda", "disk.read_iops", "1/s", 5000000, 1.5);
        fl_emit_sample(&e, "disk:h/sda", "disk.write_iops", "1/s", 5000007, 2.5);

        /* First cycle: everything. */
        fl_batch_pack(&b, &e, &hb, 5000000, &control, &metrics);
        p = unpack(&control);
        assert_non_null(p->inventory);
        assert_true(p->inventory->full);
        assert_int_equal(p->inventory->n_nodes, 1);
        assert_non_null(p->states);
        assert_non_null(p->heartbeat);
        assert_null(p->metrics);
        faultline__payload__free_unpacked(p, NULL);
        p = unpack(&metrics);
        assert_non_null(p->metrics);
        assert_null(p->heartbeat); /* it went with the control batch */
        assert_int_equal(p->metrics->n_series, 2);
        assert_int_equal(p->metrics->n_value, 2);
        assert_int_equal(p->metrics->base_time_us + p->metrics->time_delta_us[1], 5000007);
        assert_true(p->metrics->value[1] == 2.5);
        faultline__payload__free_unpacked(p, NULL);
        free(control.data);
        free(metrics.data);

        /* Nothing changed: no control batch; the heartbeat rides with the
         * metrics. */
        fl_batch_pack(&b, &e, &hb, 15000000, &control, &metrics);
        assert_int_equal(control.len, 0);
        p = unpack(&metrics);
        assert_non_null(p->heartbeat);
        assert_null(p->inventory);
        faultline__payload__free_unpacked(p, NULL);
        free(metrics.data);

        /* A state changed: states go, the inventory does not. */
        fl_emit_reset(&e);
        fl_emit_node(&e, "disk:h/sda", "disk");
        fl_emit_state(&e, "disk:h/sda", FL_STATE_WARNING, "I/O errors");
        fl_batch_pack(&b, &e, &hb, 25000000, &control, &metrics);
        p = unpack(&control);
        assert_null(p->inventory);
        assert_non_null(p->states);
        assert_int_equal(p->states->states[0]->state, FAULTLINE__STATE__STATE_WARNING);
        assert_string_equal(p->states->states[0]->reason, "I/O errors");
        faultline__payload__free_unpacked(p, NULL);
        free(control.data);
        assert_int_equal(metrics.len, 0); /* no samples this cycle */
        fl_emit_free(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_series_are_declared_once),
                cmocka_unit_test(test_finalize_merges_nodes_and_edges),
                cmocka_unit_test(test_finalize_keeps_worst_state),
                cmocka_unit_test(test_pack_sends_inventory_only_when_changed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
