/* SPDX-License-Identifier: MIT */
#pragma once

#include "emit.h"

/* Who this host is: the scope of every node key and the facts that let the
 * collector link a guest to its VM (the DMI product UUID). */
struct fl_identity {
        char *hostname;
        char *machine_id;
        char *product_uuid;
        char *kernel;
        char *os;
};

/* hostname_override wins; else <procfs>/sys/kernel/hostname; else
 * gethostname(). Facts that cannot be read are left NULL. */
int fl_identity_read(const char *hostname_override, const char *rootfs, const char *procfs, const char *sysfs,
                     struct fl_identity *ret);
void fl_identity_emit(const struct fl_identity *id, struct fl_emit *e);
void fl_identity_free(struct fl_identity *id);
