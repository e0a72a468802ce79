/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <time.h>

static const char *log_ident = "faultline";
static enum fl_log_level log_max = FL_LOG_INFO;

static const char *const level_names[] = {
        [FL_LOG_ERROR] = "error",
        [FL_LOG_WARNING] = "warning",
        [FL_LOG_INFO] = "info",
        [FL_LOG_DEBUG] = "debug",
};

void fl_log_setup(const char *ident, enum fl_log_level max)
{
        log_ident = ident;
        log_max = max;
}

void fl_log_set_level(enum fl_log_level max)
{
        log_max = max;
}

enum fl_log_level fl_log_get_level(void)
{
        return log_max;
}

_printf_(2, 0) static void vlog(enum fl_log_level level, const char *fmt, va_list ap)
{
        char ts[32];
        struct timespec now;
        struct tm tm;
        int saved = errno;

        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        flockfile(stderr);
        fprintf(stderr, "%s.%03ldZ %s %s: ", ts, now.tv_nsec / 1000000L, log_ident, level_names[level]);
        errno = saved; /* keep %m meaningful */
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        funlockfile(stderr);
        errno = saved;
}

void fl_log(enum fl_log_level level, const char *fmt, ...)
{
        va_list ap;

        if (level > log_max)
                return;
        va_start(ap, fmt);
        vlog(level, fmt, ap);
        va_end(ap);
}

#define COMPLAIN_MIN_US (10ull * 1000000ull)
#define COMPLAIN_MAX_US (3600ull * 1000000ull)

void fl_complain(struct fl_complain *c, enum fl_log_level level, const char *fmt, ...)
{
        uint64_t now = fl_mono_us();
        va_list ap;

        if (c->failing && now - c->last_us < c->interval_us) {
                c->suppressed++;
                return;
        }
        if (!c->failing)
                c->interval_us = COMPLAIN_MIN_US;
        else
                c->interval_us = FL_MIN(c->interval_us * 2, COMPLAIN_MAX_US);
        c->failing = true;
        c->last_us = now;
        if (level > log_max)
                return;
        va_start(ap, fmt);
        vlog(level, fmt, ap);
        va_end(ap);
        if (c->suppressed > 0)
                fl_log(level, "(%" PRIu64 " similar messages suppressed)", c->suppressed);
        c->suppressed = 0;
}

void fl_complain_release(struct fl_complain *c, const char *fmt, ...)
{
        va_list ap;

        if (!c->failing)
                return;
        c->failing = false;
        c->suppressed = 0;
        if (FL_LOG_INFO > log_max)
                return;
        va_start(ap, fmt);
        vlog(FL_LOG_INFO, fmt, ap);
        va_end(ap);
}
