/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Configuration files parsed from a table. The file syntax is libconfig's
 * (`name = value;`, groups in braces, lists in brackets, # comments). Every
 * error names the file, the line and what was expected; unknown settings
 * are errors too, since a misspelt option that is silently ignored is worse
 * than a refusal to start.
 *
 * This is a separate library from common/ proper: it needs libconfig.
 */

#include <stdint.h>

#include "util.h"

enum fl_conf_type {
        FL_CONF_STRING, /* char *, malloc'd */
        FL_CONF_BOOL, /* bool */
        FL_CONF_UINT, /* uint64_t, integer within [min, max] */
        FL_CONF_SECONDS, /* uint64_t microseconds, from a number of seconds */
        FL_CONF_STRING_LIST, /* struct fl_strv */
        FL_CONF_ENUM, /* int, index into choices */
        FL_CONF_DOUBLE, /* double within [min, max] */
        FL_CONF_BYTES, /* uint64_t: an integer, or a string with a unit such as "256M" */
};

struct fl_strv {
        char **v;
        size_t n;
};

void fl_strv_add(struct fl_strv *s, const char *str);
void fl_strv_free(struct fl_strv *s);

struct fl_conf_option {
        const char *path; /* "spool.max_bytes": groups separated by dots */
        enum fl_conf_type type;
        size_t offset;
        double min, max; /* for UINT and SECONDS */
        const char *const *choices; /* for ENUM, NULL-terminated */
};

/* Loads path into target following table. On failure returns -EINVAL (or
 * -errno when the file cannot be read) and sets *ret_error to a message
 * "FILE:LINE: what was wrong" (caller frees). */
int fl_conf_load(const char *path, const struct fl_conf_option *table, size_t n_table, void *target, char **ret_error);
