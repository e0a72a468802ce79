/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The interface every agent collector implements: one file per data source,
 * one const descriptor, registered in collectors.c. The core checks each
 * descriptor at startup, allocates its state (state_size bytes, zeroed),
 * calls init once, collect once per cycle and fini at exit, and backs a
 * failing collector off (its interval doubles, capped) with rate-limited
 * complaints. A collector never logs above debug itself: it returns -errno
 * and fills fl_emit; the core decides what to say.
 */

#include <stdint.h>

#include "emit.h"
#include "util.h"

/* Detector thresholds, from the "detectors" group of the configuration. */
struct fl_thresholds {
        double disk_ioerr_critical_per_s; /* ioerr_cnt growth above this rate: critical (any growth: warning) */
        uint64_t disk_error_hold_us; /* how long a disk stays warning after its last error */
        double fs_warning_pct; /* used space or inodes at or above: warning */
        double fs_critical_pct; /* ... critical */
        double nic_error_warning_per_s; /* errors + drops per second, per direction: warning */
};

void fl_thresholds_defaults(struct fl_thresholds *t);

struct fl_agent_ctx {
        const char *hostname; /* scope of every node key */
        const char *rootfs; /* root for /etc files */
        const char *procfs; /* root of /proc, e.g. "/proc" or a fixture tree */
        const char *sysfs; /* root of /sys */
        const char *devfs; /* root of /dev */
        uint64_t now_us; /* wall clock of this cycle */
        uint64_t interval_us; /* configured interval */
        const struct fl_thresholds *thresholds;
};

struct fl_collector {
        const char *name;
        size_t state_size;
        int (*init)(void *state, const struct fl_agent_ctx *ctx);
        int (*collect)(void *state, const struct fl_agent_ctx *ctx, struct fl_emit *emit);
        void (*fini)(void *state);
};

extern const struct fl_collector *const fl_collectors[];
extern const size_t fl_collectors_count;

int fl_collector_check(const struct fl_collector *c);
