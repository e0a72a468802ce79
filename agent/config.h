/* SPDX-License-Identifier: MIT */
#pragma once

#include "collector.h"
#include "conf.h"
#include "util.h"

#define FL_DEFAULT_PORT 7411

struct fl_agent_config {
        char *hostname; /* overrides the detected name */
        uint64_t interval_us;
        uint64_t flush_interval_us; /* metrics of several cycles go in one batch */
        char *state_dir; /* spool and sequence state */
        char *key_file; /* this agent's secret key */
        struct fl_strv endpoints;
        char *collector_public_key;
        uint64_t ack_timeout_us; /* resend to another endpoint after this */
        uint64_t spool_max_bytes;
        uint64_t max_message_bytes;
        uint64_t inventory_every; /* cycles between full inventories */
        char *rootfs;
        char *procfs;
        char *sysfs;
        char *devfs;
        int log_level;
        struct fl_thresholds thresholds;
};

void fl_agent_config_defaults(struct fl_agent_config *c);
int fl_agent_config_load(struct fl_agent_config *c, const char *path, char **ret_error);
void fl_agent_config_free(struct fl_agent_config *c);
