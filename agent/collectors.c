/* SPDX-License-Identifier: MIT */
#include "collector.h"
#include "collectors-registry.h"

const struct fl_collector *const fl_collectors[] = { FL_COLLECTOR_LIST };
const size_t fl_collectors_count = FL_ARRAY_SIZE(fl_collectors);

/* A descriptor that would crash the core later is refused at startup. */
int fl_collector_check(const struct fl_collector *c)
{
        if (!c || !c->name || !*c->name || !c->collect)
                return -EINVAL;
        for (const char *p = c->name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                        return -EINVAL;
        if (c->state_size > (1u << 20))
                return -E2BIG;
        return 0;
}

void fl_thresholds_defaults(struct fl_thresholds *t)
{
        *t = (struct fl_thresholds){
                .disk_ioerr_critical_per_s = 1.0,
                .disk_error_hold_us = 600 * 1000000ull,
                .fs_warning_pct = 90,
                .fs_critical_pct = 95,
                .nic_error_warning_per_s = 1.0,
        };
}
