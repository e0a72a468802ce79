/* SPDX-License-Identifier: MIT */
#include "strmap.h"

static uint64_t hash(const char *s)
{
        uint64_t h = 1469598103934665603ull;
        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 1099511628211ull;
        return h ^ (h >> 29);
}

void fl_strmap_init(struct fl_strmap *m, size_t max)
{
        *m = (struct fl_strmap){ .max = max };
}

static size_t slot_of(const struct fl_strmap *m, const char *key)
{
        size_t i = hash(key) & (m->cap - 1);
        while (m->keys[i] && strcmp(m->keys[i], key) != 0)
                i = (i + 1) & (m->cap - 1);
        return i;
}

bool fl_strmap_get(const struct fl_strmap *m, const char *key, int64_t *ret)
{
        if (m->count == 0)
                return false;
        size_t i = slot_of(m, key);
        if (!m->keys[i])
                return false;
        *ret = m->values[i];
        return true;
}

static void rehash(struct fl_strmap *m, size_t cap)
{
        char **old_keys = m->keys;
        int64_t *old_values = m->values;
        size_t old_cap = m->cap;

        m->keys = fl_new0(char *, cap);
        m->values = fl_new0(int64_t, cap);
        m->cap = cap;
        for (size_t i = 0; i < old_cap; i++)
                if (old_keys[i]) {
                        size_t j = slot_of(m, old_keys[i]);
                        m->keys[j] = old_keys[i];
                        m->values[j] = old_values[i];
                }
        free(old_keys);
        free(old_values);
}

int fl_strmap_put(struct fl_strmap *m, const char *key, int64_t value)
{
        size_t i;

        if (m->cap == 0 || (m->count + 1) * 2 > m->cap)
                rehash(m, m->cap ? m->cap * 2 : 64);
        i = slot_of(m, key);
        if (m->keys[i]) {
                m->values[i] = value;
                return 0;
        }
        if (m->max && m->count >= m->max)
                return -E2BIG;
        m->keys[i] = fl_strdup(key);
        m->values[i] = value;
        m->count++;
        return 1;
}

void fl_strmap_clear(struct fl_strmap *m)
{
        for (size_t i = 0; i < m->cap; i++) {
                free(m->keys[i]);
                m->keys[i] = NULL;
        }
        m->count = 0;
}

void fl_strmap_free(struct fl_strmap *m)
{
        fl_strmap_clear(m);
        free(m->keys);
        free(m->values);
        *m = (struct fl_strmap){ 0 };
}
