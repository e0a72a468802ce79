/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Ingest: a receiving thread verifies and decodes what agents send and puts
 * it on a bounded queue; a writing thread takes everything queued, commits
 * it in one PostgreSQL transaction (all samples in one COPY: group commit)
 * and only then acknowledges each batch. A slow or absent database never
 * stalls receiving: when the queue is full, agents are told to retry later.
 */

#include <stdint.h>

#include "conf.h"
#include "envelope.h"

struct fl_collector_config {
        struct fl_strv listen;
        char *database;
        char *key_file;
        char *name;
        uint64_t max_message_bytes;
        uint64_t queue_max_batches;
        uint64_t queue_max_bytes;
        uint64_t group_max_samples;
        uint64_t group_max_batches;
        uint64_t retention_days;
        uint64_t key_refresh_us;
        uint64_t silent_intervals; /* an agent silent this many intervals: its nodes are unknown */
        int log_level;
};

/* Why a message was refused; counted per collector in faultline.rejections. */
enum fl_reject {
        FL_REJECT_MALFORMED, /* not a faultline envelope */
        FL_REJECT_OVERSIZED, /* over max_message_bytes */
        FL_REJECT_UNKNOWN_AGENT, /* key not registered, or revoked */
        FL_REJECT_BAD_AUTH, /* did not verify with the agent's key */
        FL_REJECT_UNDECODABLE, /* authentic, but not a valid Payload */
        FL_REJECT_OVER_LIMIT, /* authentic, but over a ceiling */
        FL_REJECT_DUPLICATE, /* committed before: a resend after a lost ack, or a replay */
        FL_REJECT_STALE, /* from an older boot epoch */
        FL_REJECT_REFUSED, /* the database refused the batch itself */
        _FL_REJECT_MAX,
};

const char *fl_reject_to_string(enum fl_reject r);

struct fl_ingest;

int fl_ingest_start(const struct fl_collector_config *cfg, const struct fl_keypair *kp, struct fl_ingest **ret);
void fl_ingest_stop(struct fl_ingest *in);
void fl_ingest_get_rejections(struct fl_ingest *in, uint64_t ret[_FL_REJECT_MAX]);
