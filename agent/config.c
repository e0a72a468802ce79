/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stddef.h>

#include "log.h"

static const char *const log_levels[] = { "error", "warning", "info", "debug", NULL };

#define O(path, type, field, min, max)                                              \
        {                                                                           \
                path, type, offsetof(struct fl_agent_config, field), min, max, NULL \
        }

static const struct fl_conf_option agent_options[] = {
        O("hostname", FL_CONF_STRING, hostname, 0, 0),
        O("interval", FL_CONF_SECONDS, interval_us, 0.1, 86400),
        O("flush_interval", FL_CONF_SECONDS, flush_interval_us, 0, 3600),
        O("state_dir", FL_CONF_STRING, state_dir, 0, 0),
        O("key_file", FL_CONF_STRING, key_file, 0, 0),
        O("collector.endpoints", FL_CONF_STRING_LIST, endpoints, 0, 0),
        O("collector.public_key", FL_CONF_STRING, collector_public_key, 0, 0),
        O("collector.ack_timeout", FL_CONF_SECONDS, ack_timeout_us, 0.1, 3600),
        O("collector.max_message_bytes", FL_CONF_BYTES, max_message_bytes, 4096, 1 << 30),
        O("spool.max_bytes", FL_CONF_BYTES, spool_max_bytes, 65536, 1ull << 40),
        O("inventory_every", FL_CONF_UINT, inventory_every, 1, 1000000),
        O("paths.rootfs", FL_CONF_STRING, rootfs, 0, 0),
        O("paths.procfs", FL_CONF_STRING, procfs, 0, 0),
        O("paths.sysfs", FL_CONF_STRING, sysfs, 0, 0),
        O("paths.devfs", FL_CONF_STRING, devfs, 0, 0),
        { "detectors.disk.ioerr_critical_rate", FL_CONF_DOUBLE,
          offsetof(struct fl_agent_config, thresholds.disk_ioerr_critical_per_s), 0, 1e9, NULL },
        { "detectors.disk.error_hold", FL_CONF_SECONDS, offsetof(struct fl_agent_config, thresholds.disk_error_hold_us),
          0, 7 * 86400, NULL },
        { "detectors.filesystem.warning_pct", FL_CONF_DOUBLE,
          offsetof(struct fl_agent_config, thresholds.fs_warning_pct), 0, 100, NULL },
        { "detectors.filesystem.critical_pct", FL_CONF_DOUBLE,
          offsetof(struct fl_agent_config, thresholds.fs_critical_pct), 0, 100, NULL },
        { "detectors.nic.error_rate_warning", FL_CONF_DOUBLE,
          offsetof(struct fl_agent_config, thresholds.nic_error_warning_per_s), 0, 1e12, NULL },
        { "log_level", FL_CONF_ENUM, offsetof(struct fl_agent_config, log_level), 0, 0, log_levels },
};

void fl_agent_config_defaults(struct fl_agent_config *c)
{
        *c = (struct fl_agent_config){
                .interval_us = 10 * 1000000ull,
                .flush_interval_us = 10 * 1000000ull,
                .state_dir = fl_strdup("/var/lib/faultline-agent"),
                .key_file = fl_strdup("/etc/faultline/agent.key"),
                .ack_timeout_us = 5 * 1000000ull,
                .spool_max_bytes = 256ull << 20,
                .max_message_bytes = 4ull << 20,
                .inventory_every = 360,
                .rootfs = fl_strdup("/"),
                .log_level = FL_LOG_INFO,
        };
        fl_thresholds_defaults(&c->thresholds);
}

int fl_agent_config_load(struct fl_agent_config *c, const char *path, char **ret_error)
{
        return fl_conf_load(path, agent_options, FL_ARRAY_SIZE(agent_options), c, ret_error);
}

void fl_agent_config_free(struct fl_agent_config *c)
{
        free(c->hostname);
        free(c->state_dir);
        free(c->key_file);
        fl_strv_free(&c->endpoints);
        free(c->collector_public_key);
        free(c->rootfs);
        free(c->procfs);
        free(c->sysfs);
        free(c->devfs);
        *c = (struct fl_agent_config){ 0 };
}
