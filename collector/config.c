/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stddef.h>

#include "log.h"

static const char *const log_levels[] = { "error", "warning", "info", "debug", NULL };

#define O(path, type, field, min, max)                                                  \
        {                                                                               \
                path, type, offsetof(struct fl_collector_config, field), min, max, NULL \
        }

static const struct fl_conf_option collector_options[] = {
        O("listen", FL_CONF_STRING_LIST, listen, 0, 0),
        O("database", FL_CONF_STRING, database, 0, 0),
        O("key_file", FL_CONF_STRING, key_file, 0, 0),
        O("name", FL_CONF_STRING, name, 0, 0),
        O("max_message_bytes", FL_CONF_BYTES, max_message_bytes, 4096, 1 << 30),
        O("queue.max_batches", FL_CONF_UINT, queue_max_batches, 1, 10000000),
        O("queue.max_bytes", FL_CONF_BYTES, queue_max_bytes, 65536, 1ull << 40),
        O("group.max_samples", FL_CONF_UINT, group_max_samples, 1, 100000000),
        O("group.max_batches", FL_CONF_UINT, group_max_batches, 1, 1000000),
        O("retention_days", FL_CONF_UINT, retention_days, 1, 36500),
        O("key_refresh", FL_CONF_SECONDS, key_refresh_us, 1, 3600),
        O("silent_intervals", FL_CONF_UINT, silent_intervals, 1, 1000),
        { "log_level", FL_CONF_ENUM, offsetof(struct fl_collector_config, log_level), 0, 0, log_levels },
};

void fl_collector_config_defaults(struct fl_collector_config *c)
{
        char host[256] = "collector";

        gethostname(host, sizeof(host) - 1);
        *c = (struct fl_collector_config){
                .database = fl_strdup(""),
                .key_file = fl_strdup("/etc/faultline/collector.key"),
                .name = fl_strdup(host),
                .max_message_bytes = 4ull << 20,
                .queue_max_batches = 4096,
                .queue_max_bytes = 256ull << 20,
                .group_max_samples = 200000,
                .group_max_batches = 2000,
                .retention_days = 30,
                .key_refresh_us = 10 * 1000000ull,
                .silent_intervals = 3,
                .log_level = FL_LOG_INFO,
        };
        fl_strv_add(&c->listen, "tcp://127.0.0.1:7411");
}

int fl_collector_config_load(struct fl_collector_config *c, const char *path, char **ret_error)
{
        return fl_conf_load(path, collector_options, FL_ARRAY_SIZE(collector_options), c, ret_error);
}

void fl_collector_config_free(struct fl_collector_config *c)
{
        fl_strv_free(&c->listen);
        free(c->database);
        free(c->key_file);
        free(c->name);
        *c = (struct fl_collector_config){ 0 };
}
