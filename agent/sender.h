/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Delivery that loses nothing: every batch is sealed and written to the
 * spool before it is sent, and leaves the spool only when a collector's
 * sealed Ack for exactly that (boot epoch, sequence) says it is committed
 * (or can never be). nanomsg REQ spreads requests over every collector
 * endpoint and resends on timeout.
 */

#include "config.h"
#include "envelope.h"
#include "spool.h"

struct fl_sender_stats {
        uint64_t sealed;
        uint64_t committed;
        uint64_t duplicate;
        uint64_t stale;
        uint64_t invalid;
        uint64_t retry;
        uint64_t bad_acks;
        uint64_t epoch;
        uint64_t sequence;
};

struct fl_sender;

int fl_sender_new(const struct fl_agent_config *cfg, const struct fl_keypair *kp,
                  const uint8_t collector_pk[FL_KEY_BYTES], struct fl_sender **ret);
void fl_sender_free(struct fl_sender *s);

/* Seals a payload with the next sequence number and spools it durably. */
int fl_sender_submit(struct fl_sender *s, const void *payload, size_t len, enum fl_spool_class cls);

/* Sends spooled batches and handles acks until the monotonic deadline,
 * or until *stop becomes true. */
int fl_sender_pump(struct fl_sender *s, uint64_t deadline_mono_us, volatile int *stop);

void fl_sender_get_stats(const struct fl_sender *s, struct fl_sender_stats *ret);
struct fl_spool *fl_sender_spool(struct fl_sender *s);
