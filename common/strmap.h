/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A string → int64 map with open addressing, for caches such as the
 * collector's series ids. Keys are copied. It has a ceiling: once full it
 * refuses new keys (-E2BIG) and the owner decides (usually: clear it).
 */

#include <stdint.h>

#include "util.h"

struct fl_strmap {
        char **keys;
        int64_t *values;
        size_t cap; /* power of two */
        size_t count;
        size_t max; /* ceiling on count */
};

void fl_strmap_init(struct fl_strmap *m, size_t max);
/* Returns true and sets *ret when present. */
bool fl_strmap_get(const struct fl_strmap *m, const char *key, int64_t *ret);
int fl_strmap_put(struct fl_strmap *m, const char *key, int64_t value);
void fl_strmap_clear(struct fl_strmap *m);
void fl_strmap_free(struct fl_strmap *m);
