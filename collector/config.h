/* SPDX-License-Identifier: MIT */
#pragma once

#include "ingest.h"

void fl_collector_config_defaults(struct fl_collector_config *c);
int fl_collector_config_load(struct fl_collector_config *c, const char *path, char **ret_error);
void fl_collector_config_free(struct fl_collector_config *c);
