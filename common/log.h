/* SPDX-License-Identifier: MIT */
#pragma once

#include <inttypes.h>
#include <stdint.h>

#include "util.h"

/*
 * Logging for the programs. Code in common/ logs at debug only; the agent,
 * the collector and the CLI decide what is worth saying. Messages follow
 * PostgreSQL's style: lowercase, no trailing period, quote names, give the
 * reason.
 */

enum fl_log_level {
        FL_LOG_ERROR,
        FL_LOG_WARNING,
        FL_LOG_INFO,
        FL_LOG_DEBUG,
};

void fl_log_setup(const char *ident, enum fl_log_level max);
void fl_log_set_level(enum fl_log_level max);
enum fl_log_level fl_log_get_level(void);
_printf_(2, 3) void fl_log(enum fl_log_level level, const char *fmt, ...);

#define fl_error(...) fl_log(FL_LOG_ERROR, __VA_ARGS__)
#define fl_warning(...) fl_log(FL_LOG_WARNING, __VA_ARGS__)
#define fl_info(...) fl_log(FL_LOG_INFO, __VA_ARGS__)
#define fl_debug(...) fl_log(FL_LOG_DEBUG, __VA_ARGS__)

/*
 * Rate-limited complaints (after collectd's utils_complain): the first
 * failure is logged, repeats are suppressed with a growing interval, and
 * recovery is logged once.
 */
struct fl_complain {
        uint64_t last_us;
        uint64_t interval_us;
        uint64_t suppressed;
        bool failing;
};

_printf_(3, 4) void fl_complain(struct fl_complain *c, enum fl_log_level level, const char *fmt, ...);
_printf_(2, 3) void fl_complain_release(struct fl_complain *c, const char *fmt, ...);
