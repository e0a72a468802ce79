/* SPDX-License-Identifier: MIT */
#include "dump.h"

#include <jansson.h>

int fl_dump_json(const struct fl_emit *e, FILE *out, bool one_line)
{
        json_auto_t *root = json_object();
        json_t *nodes = json_array(), *edges = json_array(), *states = json_array(), *samples = json_array();

        json_object_set_new(root, "nodes", nodes);
        json_object_set_new(root, "edges", edges);
        json_object_set_new(root, "states", states);
        json_object_set_new(root, "samples", samples);

        for (size_t i = 0; i < e->n_nodes; i++) {
                const struct fl_enode *n = &e->nodes[i];
                json_t *o = json_object(), *attrs = json_object();
                json_object_set_new(o, "key", json_string(n->key));
                json_object_set_new(o, "kind", json_string(n->kind));
                if (n->min_ok >= 0)
                        json_object_set_new(o, "min_ok", json_integer(n->min_ok));
                for (size_t j = 0; j < n->n_attrs; j++)
                        json_object_set_new(attrs, n->attrs[j].key, json_string(n->attrs[j].value));
                json_object_set_new(o, "attributes", attrs);
                json_array_append_new(nodes, o);
        }
        for (size_t i = 0; i < e->n_edges; i++)
                json_array_append_new(edges, json_pack("{s:s, s:s, s:s}", "from", e->edges[i].from, "to",
                                                       e->edges[i].to, "type", e->edges[i].type));
        for (size_t i = 0; i < e->n_states; i++)
                json_array_append_new(states,
                                      json_pack("{s:s, s:s, s:s?}", "key", e->states[i].key, "state",
                                                fl_state_to_string(e->states[i].state), "reason", e->states[i].reason));
        for (size_t i = 0; i < e->n_samples; i++) {
                const struct fl_eseries *s = &e->series[e->samples[i].series];
                json_array_append_new(samples,
                                      json_pack("{s:s, s:s, s:s?, s:I, s:f}", "key", s->node_key, "metric", s->metric,
                                                "unit", s->unit, "time_us", (json_int_t)e->samples[i].time_us, "value",
                                                e->samples[i].value));
        }
        if (json_dumpf(root, out, (one_line ? JSON_COMPACT : JSON_INDENT(2)) | JSON_ENSURE_ASCII) < 0)
                return -EIO;
        fputc('\n', out);
        return 0;
}
