/* SPDX-License-Identifier: MIT */
/*
 * A Payload as the collector decodes it once the envelope verified:
 * faultline__payload__unpack() and free. What unpacks must have every
 * required field the collector reads without checking, and must pack and
 * unpack again to the same bytes.
 *
 * The round trip is only checked for messages without unknown fields:
 * protobuf-c (1.4.1) keeps those verbatim, including the invalid field
 * number 0 when its tag is written in two bytes (80 00), and packs it again
 * as the one-byte tag 00, which it then refuses (corpus/payload/field-zero).
 * Nothing in faultline packs a Payload it received, so that is not ours.
 */
#include "faultline.pb-c.h"
#include "fuzz.h"
#include "util.h"

static void check_payload(const Faultline__Payload *p)
{
        if (p->inventory) {
                const Faultline__Inventory *inv = p->inventory;
                if (inv->n_nodes && !inv->nodes)
                        abort();
                for (size_t i = 0; i < inv->n_nodes; i++) {
                        const Faultline__Node *n = inv->nodes[i];
                        if (!n || !n->key || !n->kind || (n->n_attributes && !n->attributes))
                                abort();
                        for (size_t j = 0; j < n->n_attributes; j++)
                                if (!n->attributes[j] || !n->attributes[j]->key || !n->attributes[j]->value)
                                        abort();
                }
                for (size_t i = 0; i < inv->n_edges; i++) {
                        const Faultline__Edge *e = inv->edges[i];
                        if (!e || !e->from || !e->to || !e->type)
                                abort();
                }
        }
        if (p->states)
                for (size_t i = 0; i < p->states->n_states; i++)
                        if (!p->states->states[i] || !p->states->states[i]->key)
                                abort();
        if (p->metrics) {
                const Faultline__Metrics *m = p->metrics;
                for (size_t i = 0; i < m->n_series; i++)
                        if (!m->series[i] || !m->series[i]->node_key || !m->series[i]->metric)
                                abort();
                if ((m->n_series_index && !m->series_index) || (m->n_time_delta_us && !m->time_delta_us) ||
                    (m->n_value && !m->value))
                        abort();
        }
}

static unsigned unknown_fields(const Faultline__Payload *p)
{
        unsigned n = p->base.n_unknown_fields;

        if (p->inventory) {
                n += p->inventory->base.n_unknown_fields;
                for (size_t i = 0; i < p->inventory->n_nodes; i++) {
                        const Faultline__Node *node = p->inventory->nodes[i];
                        n += node->base.n_unknown_fields;
                        for (size_t j = 0; j < node->n_attributes; j++)
                                n += node->attributes[j]->base.n_unknown_fields;
                }
                for (size_t i = 0; i < p->inventory->n_edges; i++)
                        n += p->inventory->edges[i]->base.n_unknown_fields;
        }
        if (p->states) {
                n += p->states->base.n_unknown_fields;
                for (size_t i = 0; i < p->states->n_states; i++)
                        n += p->states->states[i]->base.n_unknown_fields;
        }
        if (p->metrics) {
                n += p->metrics->base.n_unknown_fields;
                for (size_t i = 0; i < p->metrics->n_series; i++)
                        n += p->metrics->series[i]->base.n_unknown_fields;
        }
        if (p->heartbeat)
                n += p->heartbeat->base.n_unknown_fields;
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        Faultline__Payload *p, *q;
        _cleanup_free_ uint8_t *packed = NULL, *repacked = NULL;
        size_t len;

        p = faultline__payload__unpack(NULL, size, data);
        if (!p)
                return 0;
        check_payload(p);
        if (unknown_fields(p) > 0) {
                faultline__payload__free_unpacked(p, NULL);
                return 0;
        }

        len = faultline__payload__get_packed_size(p);
        packed = fl_malloc(len);
        if (faultline__payload__pack(p, packed) != len)
                abort();
        faultline__payload__free_unpacked(p, NULL);

        q = faultline__payload__unpack(NULL, len, packed);
        if (!q)
                abort();
        check_payload(q);
        if (faultline__payload__get_packed_size(q) != len)
                abort();
        repacked = fl_malloc(len);
        if (faultline__payload__pack(q, repacked) != len || memcmp(packed, repacked, len) != 0)
                abort();
        faultline__payload__free_unpacked(q, NULL);
        return 0;
}
