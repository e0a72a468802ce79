/* SPDX-License-Identifier: MIT */
#pragma once

#include "util.h"

struct fl_propagator;

/* Starts the propagation thread; it competes for leadership on its own
 * connection. silent_intervals: an agent silent for this many of its
 * intervals makes its nodes unknown. */
int fl_propagator_start(const char *database, int silent_intervals, struct fl_propagator **ret);
bool fl_propagator_is_leader(const struct fl_propagator *p);
void fl_propagator_stop(struct fl_propagator *p);
