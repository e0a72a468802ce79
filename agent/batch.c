/* SPDX-License-Identifier: MIT */
#include "batch.h"

#include "faultline.pb-c.h"

static uint64_t fnv(uint64_t h, const char *s)
{
        if (s)
                for (; *s; s++)
                        h = (h ^ (uint8_t)*s) * 1099511628211ull;
        return (h ^ 0xff) * 1099511628211ull;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
        for (int i = 0; i < 8; i++, v >>= 8)
                h = (h ^ (v & 0xff)) * 1099511628211ull;
        return h;
}

uint64_t fl_batch_inventory_hash(const struct fl_emit *e)
{
        uint64_t h = 1469598103934665603ull;

        for (size_t i = 0; i < e->n_nodes; i++) {
                const struct fl_enode *n = &e->nodes[i];
                h = fnv(fnv(h, n->key), n->kind);
                h = fnv_u64(h, (uint64_t)(int64_t)n->min_ok);
                for (size_t j = 0; j < n->n_attrs; j++)
                        h = fnv(fnv(h, n->attrs[j].key), n->attrs[j].value);
        }
        for (size_t i = 0; i < e->n_edges; i++)
                h = fnv(fnv(fnv(h, e->edges[i].from), e->edges[i].to), e->edges[i].type);
        return h;
}

uint64_t fl_batch_states_hash(const struct fl_emit *e)
{
        uint64_t h = 1469598103934665603ull;

        for (size_t i = 0; i < e->n_states; i++)
                h = fnv(fnv_u64(fnv(h, e->states[i].key), e->states[i].state), e->states[i].reason);
        return h;
}

static void pack(const Faultline__Payload *p, struct fl_packed *ret)
{
        ret->len = faultline__payload__get_packed_size(p);
        ret->data = fl_malloc(ret->len);
        faultline__payload__pack(p, ret->data);
}

static void pack_inventory(const struct fl_emit *e, Faultline__Inventory *inv)
{
        faultline__inventory__init(inv);
        inv->full = true;
        inv->n_nodes = e->n_nodes;
        inv->nodes = fl_new0(Faultline__Node *, e->n_nodes);
        for (size_t i = 0; i < e->n_nodes; i++) {
                const struct fl_enode *en = &e->nodes[i];
                Faultline__Node *n = fl_new0(Faultline__Node, 1);
                faultline__node__init(n);
                n->key = en->key;
                n->kind = en->kind;
                if (en->min_ok >= 0) {
                        n->has_min_ok = true;
                        n->min_ok = (uint32_t)en->min_ok;
                }
                n->n_attributes = en->n_attrs;
                n->attributes = fl_new0(Faultline__Attribute *, en->n_attrs);
                for (size_t j = 0; j < en->n_attrs; j++) {
                        Faultline__Attribute *a = fl_new0(Faultline__Attribute, 1);
                        faultline__attribute__init(a);
                        a->key = en->attrs[j].key;
                        a->value = en->attrs[j].value;
                        n->attributes[j] = a;
                }
                inv->nodes[i] = n;
        }
        inv->n_edges = e->n_edges;
        inv->edges = fl_new0(Faultline__Edge *, e->n_edges);
        for (size_t i = 0; i < e->n_edges; i++) {
                Faultline__Edge *ed = fl_new0(Faultline__Edge, 1);
                faultline__edge__init(ed);
                ed->from = e->edges[i].from;
                ed->to = e->edges[i].to;
                ed->type = e->edges[i].type;
                inv->edges[i] = ed;
        }
}

static void free_inventory(Faultline__Inventory *inv)
{
        for (size_t i = 0; i < inv->n_nodes; i++) {
                for (size_t j = 0; j < inv->nodes[i]->n_attributes; j++)
                        free(inv->nodes[i]->attributes[j]);
                free(inv->nodes[i]->attributes);
                free(inv->nodes[i]);
        }
        free(inv->nodes);
        for (size_t i = 0; i < inv->n_edges; i++)
                free(inv->edges[i]);
        free(inv->edges);
}

static void pack_states(const struct fl_emit *e, uint64_t now_us, Faultline__States *st)
{
        faultline__states__init(st);
        st->full = true;
        st->n_states = e->n_states;
        st->states = fl_new0(Faultline__NodeState *, e->n_states);
        for (size_t i = 0; i < e->n_states; i++) {
                Faultline__NodeState *s = fl_new0(Faultline__NodeState, 1);
                faultline__node_state__init(s);
                s->key = e->states[i].key;
                s->state = (Faultline__State)e->states[i].state;
                s->reason = e->states[i].reason;
                s->has_since_us = true;
                s->since_us = (int64_t)now_us;
                st->states[i] = s;
        }
}

static void free_states(Faultline__States *st)
{
        for (size_t i = 0; i < st->n_states; i++)
                free(st->states[i]);
        free(st->states);
}

static void pack_metrics(const struct fl_emit *e, Faultline__Metrics *m)
{
        faultline__metrics__init(m);
        m->n_series = e->n_series;
        m->series = fl_new0(Faultline__Series *, e->n_series);
        for (size_t i = 0; i < e->n_series; i++) {
                Faultline__Series *s = fl_new0(Faultline__Series, 1);
                faultline__series__init(s);
                s->node_key = e->series[i].node_key;
                s->metric = e->series[i].metric;
                s->unit = e->series[i].unit;
                m->series[i] = s;
        }
        m->base_time_us = e->n_samples ? (int64_t)e->samples[0].time_us : 0;
        m->n_series_index = m->n_time_delta_us = m->n_value = e->n_samples;
        m->series_index = fl_new0(uint32_t, e->n_samples);
        m->time_delta_us = fl_new0(int64_t, e->n_samples);
        m->value = fl_new0(double, e->n_samples);
        for (size_t i = 0; i < e->n_samples; i++) {
                m->series_index[i] = e->samples[i].series;
                m->time_delta_us[i] = (int64_t)e->samples[i].time_us - m->base_time_us;
                m->value[i] = e->samples[i].value;
        }
}

static void free_metrics(Faultline__Metrics *m)
{
        for (size_t i = 0; i < m->n_series; i++)
                free(m->series[i]);
        free(m->series);
        free(m->series_index);
        free(m->time_delta_us);
        free(m->value);
}

int fl_batch_pack(struct fl_batcher *b, const struct fl_emit *e, const struct fl_heartbeat_info *hb, uint64_t now_us,
                  struct fl_packed *ret_control, struct fl_packed *ret_metrics)
{
        return fl_batch_pack_split(b, e, e, hb, now_us, ret_control, ret_metrics);
}

int fl_batch_pack_split(struct fl_batcher *b, const struct fl_emit *e, const struct fl_emit *samples,
                        const struct fl_heartbeat_info *hb, uint64_t now_us, struct fl_packed *ret_control,
                        struct fl_packed *ret_metrics)
{
        size_t n_samples = samples ? samples->n_samples : 0;
        uint64_t ih = fl_batch_inventory_hash(e), sh = fl_batch_states_hash(e);
        bool full_due = !b->sent_once || b->cycles_since_full + 1 >= FL_MAX(b->full_every, (uint64_t)1);
        bool send_inv = full_due || ih != b->inventory_hash;
        bool send_states = full_due || sh != b->states_hash;
        Faultline__Heartbeat h = FAULTLINE__HEARTBEAT__INIT;
        Faultline__Inventory inv;
        Faultline__States st;
        Faultline__Metrics m;
        Faultline__Payload control = FAULTLINE__PAYLOAD__INIT;
        Faultline__Payload metrics = FAULTLINE__PAYLOAD__INIT;

        h.time_us = (int64_t)now_us;
        h.interval_ms = (uint32_t)(hb->interval_us / 1000);
        h.hostname = (char *)hb->hostname;
        h.version = (char *)FL_VERSION;
        h.has_spool_bytes = true;
        h.spool_bytes = hb->spool_bytes;
        h.has_dropped_batches = true;
        h.dropped_batches = hb->dropped_batches;

        *ret_control = (struct fl_packed){ 0 };
        *ret_metrics = (struct fl_packed){ 0 };
        if (send_inv) {
                pack_inventory(e, &inv);
                control.inventory = &inv;
        }
        if (send_states) {
                pack_states(e, now_us, &st);
                control.states = &st;
        }
        if (send_inv || send_states || (n_samples == 0 && samples)) {
                control.heartbeat = &h;
                pack(&control, ret_control);
        }
        if (n_samples > 0) {
                pack_metrics(samples, &m);
                metrics.metrics = &m;
                if (!control.heartbeat)
                        metrics.heartbeat = &h;
                pack(&metrics, ret_metrics);
                free_metrics(&m);
        }
        if (send_inv)
                free_inventory(&inv);
        if (send_states)
                free_states(&st);

        b->sent_once = true;
        b->inventory_hash = ih;
        b->states_hash = sh;
        b->cycles_since_full = full_due ? 0 : b->cycles_since_full + 1;
        return 0;
}
