/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Turns what a cycle emitted into serialized Payload messages: one "control"
 * batch (inventory, states, heartbeat — never dropped from the spool) and
 * one metrics batch (droppable). Inventory and states are sent when they
 * changed and every inventory_every cycles regardless, so a collector that
 * lost track catches up without being asked.
 */

#include "emit.h"

struct fl_batcher {
        uint64_t inventory_hash;
        uint64_t states_hash;
        uint64_t cycles_since_full;
        uint64_t full_every;
        bool sent_once;
};

struct fl_heartbeat_info {
        const char *hostname;
        uint64_t interval_us;
        uint64_t spool_bytes;
        uint64_t dropped_batches;
};

struct fl_packed {
        uint8_t *data;
        size_t len;
};

/* ret_control gets len 0 when there is nothing to say beyond a heartbeat,
 * which then rides in the metrics batch; ret_metrics gets len 0 when there
 * are no samples and the heartbeat went with the control batch. */
int fl_batch_pack(struct fl_batcher *b, const struct fl_emit *e, const struct fl_heartbeat_info *hb, uint64_t now_us,
                  struct fl_packed *ret_control, struct fl_packed *ret_metrics);

/* The same with the samples taken from another emit, which may hold
 * several cycles (the agent flushes metrics less often than it collects
 * when the interval is short). samples NULL: no metrics now, and the
 * heartbeat goes only if a control batch does. */
int fl_batch_pack_split(struct fl_batcher *b, const struct fl_emit *e, const struct fl_emit *samples,
                        const struct fl_heartbeat_info *hb, uint64_t now_us, struct fl_packed *ret_control,
                        struct fl_packed *ret_metrics);

uint64_t fl_batch_inventory_hash(const struct fl_emit *e);
uint64_t fl_batch_states_hash(const struct fl_emit *e);
