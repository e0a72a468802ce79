/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* The numbered migrations of deploy/sql, embedded at build time. */
struct fl_migration {
        int version;
        const char *name;
        const char *sql;
};

extern const struct fl_migration fl_migrations[];
extern const size_t fl_migrations_count;
