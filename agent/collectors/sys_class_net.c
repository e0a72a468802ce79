/* SPDX-License-Identifier: MIT */
/* placeholder: being written */
#include "collector.h"

static int collect(void *state, const struct fl_agent_ctx *ctx, struct fl_emit *emit)
{
        (void)state;
        (void)ctx;
        (void)emit;
        return 0;
}

const struct fl_collector sys_class_net_collector = {
        .name = "sys_class_net",
        .collect = collect,
};
