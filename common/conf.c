/* SPDX-License-Identifier: MIT */
#include "conf.h"

#include <libconfig.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>

void fl_strv_add(struct fl_strv *s, const char *str)
{
        s->v = fl_realloc(s->v, sizeof(char *) * (s->n + 2));
        s->v[s->n++] = fl_strdup(str);
        s->v[s->n] = NULL;
}

void fl_strv_free(struct fl_strv *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        s->v = NULL;
        s->n = 0;
}

static const char *type_name(int t)
{
        switch (t) {
        case CONFIG_TYPE_GROUP:
                return "a group";
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                return "an integer";
        case CONFIG_TYPE_FLOAT:
                return "a number";
        case CONFIG_TYPE_STRING:
                return "a string";
        case CONFIG_TYPE_BOOL:
                return "a boolean";
        case CONFIG_TYPE_ARRAY:
                return "an array";
        case CONFIG_TYPE_LIST:
                return "a list";
        }
        return "something else";
}

static char *where(const char *file, const config_setting_t *s)
{
        return fl_asprintf("%s:%u", file, config_setting_source_line(s));
}

_printf_(4, 5) static int fail(char **ret_error, const char *file, const config_setting_t *s, const char *fmt, ...)
{
        _cleanup_free_ char *w = where(file, s);
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                fl_oom();
        va_end(ap);
        *ret_error = fl_asprintf("%s: %s", w, msg);
        return -EINVAL;
}

static char *setting_path(const config_setting_t *s)
{
        const config_setting_t *p = config_setting_parent(s);
        if (!p || !config_setting_name(p) || config_setting_is_root(p))
                return fl_strdup(config_setting_name(s));
        _cleanup_free_ char *parent = setting_path(p);
        return fl_asprintf("%s.%s", parent, config_setting_name(s));
}

static bool known_prefix(const char *path, const struct fl_conf_option *table, size_t n, bool *ret_group)
{
        size_t len = strlen(path);
        for (size_t i = 0; i < n; i++) {
                if (strcmp(table[i].path, path) == 0) {
                        *ret_group = false;
                        return true;
                }
                if (strncmp(table[i].path, path, len) == 0 && table[i].path[len] == '.') {
                        *ret_group = true;
                        return true;
                }
        }
        return false;
}

static int check_unknown(const char *file, config_setting_t *group, const struct fl_conf_option *table, size_t n,
                         char **ret_error)
{
        int count = config_setting_length(group);
        for (int i = 0; i < count; i++) {
                config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
                _cleanup_free_ char *path = setting_path(s);
                bool is_group = false;
                if (!known_prefix(path, table, n, &is_group))
                        return fail(ret_error, file, s, "unknown setting \"%s\"", path);
                if (is_group) {
                        if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                                return fail(ret_error, file, s, "\"%s\" must be a group { ... }, not %s", path,
                                            type_name(config_setting_type(s)));
                        int r = check_unknown(file, s, table, n, ret_error);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static bool get_number(const config_setting_t *s, double *ret)
{
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                *ret = (double)config_setting_get_int64(s);
                return true;
        case CONFIG_TYPE_FLOAT:
                *ret = config_setting_get_float(s);
                return true;
        }
        return false;
}

/*
 * libconfig 1.5 keeps an integer without an L suffix in 32 bits and silently
 * truncates larger ones (5000000000 becomes 705032704). Re-read the digits
 * from the setting's own line, so such a value is refused instead of
 * silently changed.
 */
static bool int_truncated(const char *file, const config_setting_t *s)
{
        _cleanup_fclose_ FILE *f = NULL;
        char line[1024];
        unsigned want = config_setting_source_line(s), n = 0;
        const char *name = config_setting_name(s);

        if (config_setting_type(s) != CONFIG_TYPE_INT || !name)
                return false;
        /* The file the setting came from: with @include it is not ours. */
        const char *src = config_setting_source_file(s);
        f = fopen(src ? src : file, "re");
        if (!f)
                return false;
        while (fgets(line, sizeof(line), f))
                if (++n == want)
                        break;
        if (n != want)
                return false;
        const char *p = strstr(line, name);
        if (!p)
                return false;
        p += strlen(name);
        while (*p == ' ' || *p == '\t' || *p == '=' || *p == ':')
                p++;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                uint64_t h = 0;
                int nd = 0;
                for (p += 2; isxdigit((unsigned char)*p); p++, nd++)
                        h = (h << 4) | (uint64_t)(isdigit((unsigned char)*p) ? *p - '0' : (tolower(*p) - 'a' + 10));
                return nd > 16 || (int64_t)h != (int64_t)config_setting_get_int64(s);
        }
        char digits[32];
        size_t k = 0;
        if (*p == '-' || *p == '+')
                digits[k++] = *p++;
        while (*p >= '0' && *p <= '9' && k < sizeof(digits) - 1)
                digits[k++] = *p++;
        digits[k] = '\0';
        int64_t v;
        if (k == 0 || digits[0] == '+' || fl_safe_atoi64(digits, &v) < 0)
                return k > 0; /* longer than int64: certainly truncated */
        return v != (int64_t)config_setting_get_int64(s);
}

/* "512", "64K", "256M", "4G", "1T" (powers of 1024), optional "B"/"iB". */
static int parse_bytes(const char *text, uint64_t *ret)
{
        char num[32];
        size_t k = 0;
        uint64_t v, mult = 1;

        while (text[k] >= '0' && text[k] <= '9' && k < sizeof(num) - 1) {
                num[k] = text[k];
                k++;
        }
        num[k] = '\0';
        if (k == 0 || fl_safe_atou64(num, &v) < 0)
                return -EINVAL;
        const char *u = text + k;
        switch (*u) {
        case 'K':
        case 'k':
                mult = 1ull << 10;
                u++;
                break;
        case 'M':
                mult = 1ull << 20;
                u++;
                break;
        case 'G':
                mult = 1ull << 30;
                u++;
                break;
        case 'T':
                mult = 1ull << 40;
                u++;
                break;
        }
        if (*u && strcmp(u, "B") != 0 && !(mult > 1 && strcmp(u, "iB") == 0))
                return -EINVAL;
        if (v > UINT64_MAX / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}

static int apply(const char *file, const config_setting_t *s, const struct fl_conf_option *o, void *target,
                 char **ret_error)
{
        char *field = (char *)target + o->offset;
        char range[96];
        double d;

        switch (o->type) {
        case FL_CONF_STRING: {
                if (config_setting_type(s) != CONFIG_TYPE_STRING)
                        return fail(ret_error, file, s, "\"%s\" must be a string, not %s", o->path,
                                    type_name(config_setting_type(s)));
                char **p = (char **)field;
                free(*p);
                *p = fl_strdup(config_setting_get_string(s));
                return 0;
        }
        case FL_CONF_BOOL:
                if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                        return fail(ret_error, file, s, "\"%s\" must be true or false, not %s", o->path,
                                    type_name(config_setting_type(s)));
                *(bool *)field = config_setting_get_bool(s);
                return 0;
        case FL_CONF_BYTES:
                if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                        uint64_t b;
                        snprintf(range, sizeof(range), "%.0f and %.0f", o->min, o->max);
                        if (parse_bytes(config_setting_get_string(s), &b) < 0)
                                return fail(ret_error, file, s,
                                            "\"%s\" must be a size such as 4096, \"64K\", \"256M\" or \"4G\", not "
                                            "\"%s\"",
                                            o->path, config_setting_get_string(s));
                        if ((double)b < o->min || (double)b > o->max)
                                return fail(ret_error, file, s, "\"%s\" is out of range: must be between %s bytes",
                                            o->path, range);
                        *(uint64_t *)field = b;
                        return 0;
                }
                __attribute__((fallthrough)); /* a plain integer */
        case FL_CONF_UINT:
                snprintf(range, sizeof(range), "%.0f and %.0f", o->min, o->max);
                if (int_truncated(file, s))
                        return fail(ret_error, file, s,
                                    "\"%s\" is too large for a plain integer: add an L suffix (5000000000L)%s", o->path,
                                    o->type == FL_CONF_BYTES ? " or write it with a unit (\"5G\")" : "");
                if (!get_number(s, &d) || d != floor(d))
                        return fail(ret_error, file, s, "\"%s\" must be an integer between %s", o->path, range);
                if (d < o->min || d > o->max)
                        return fail(ret_error, file, s, "\"%s\" is out of range: must be between %s", o->path, range);
                *(uint64_t *)field = (uint64_t)d;
                return 0;
        case FL_CONF_DOUBLE:
                snprintf(range, sizeof(range), "%g and %g", o->min, o->max);
                if (!get_number(s, &d))
                        return fail(ret_error, file, s, "\"%s\" must be a number between %s", o->path, range);
                if (!(d >= o->min && d <= o->max))
                        return fail(ret_error, file, s, "\"%s\" is out of range: must be between %s", o->path, range);
                *(double *)field = d;
                return 0;
        case FL_CONF_SECONDS:
                snprintf(range, sizeof(range), "%g and %g", o->min, o->max);
                if (!get_number(s, &d))
                        return fail(ret_error, file, s, "\"%s\" must be a number of seconds between %s", o->path,
                                    range);
                if (!(d >= o->min && d <= o->max))
                        return fail(ret_error, file, s, "\"%s\" is out of range: must be between %s seconds", o->path,
                                    range);
                *(uint64_t *)field = (uint64_t)llround(d * 1e6);
                return 0;
        case FL_CONF_STRING_LIST: {
                struct fl_strv *v = (struct fl_strv *)field;
                int t = config_setting_type(s);
                if (t == CONFIG_TYPE_STRING) {
                        fl_strv_free(v);
                        fl_strv_add(v, config_setting_get_string(s));
                        return 0;
                }
                if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
                        return fail(ret_error, file, s, "\"%s\" must be a list of strings [\"...\", ...], not %s",
                                    o->path, type_name(t));
                fl_strv_free(v);
                for (int i = 0; i < config_setting_length(s); i++) {
                        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                        if (config_setting_type(e) != CONFIG_TYPE_STRING)
                                return fail(ret_error, file, e, "\"%s\" must hold strings only, not %s", o->path,
                                            type_name(config_setting_type(e)));
                        fl_strv_add(v, config_setting_get_string(e));
                }
                return 0;
        }
        case FL_CONF_ENUM: {
                const char *str = config_setting_get_string(s);
                if (str)
                        for (int i = 0; o->choices[i]; i++)
                                if (strcmp(o->choices[i], str) == 0) {
                                        *(int *)field = i;
                                        return 0;
                                }
                char list[256] = "";
                for (int i = 0; o->choices[i]; i++) {
                        if (i)
                                strncat(list, ", ", sizeof(list) - strlen(list) - 1);
                        strncat(list, o->choices[i], sizeof(list) - strlen(list) - 1);
                }
                return fail(ret_error, file, s, "\"%s\" must be one of: %s", o->path, list);
        }
        }
        return -EINVAL;
}

int fl_conf_load(const char *path, const struct fl_conf_option *table, size_t n_table, void *target, char **ret_error)
{
        config_t cfg;
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        int r = 0;

        if (!f) {
                r = -errno;
                *ret_error = fl_asprintf("could not open configuration file \"%s\": %s", path, strerror(errno));
                return r;
        }
        /* libconfig's scanner exits the process on a read error, so
         * anything but a regular file is refused before it gets there. */
        struct stat st;
        if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
                *ret_error = fl_asprintf("configuration file \"%s\" is not a regular file", path);
                return -EINVAL;
        }
        config_init(&cfg);
        if (!config_read(&cfg, f)) {
                *ret_error =
                        fl_asprintf("%s:%d: syntax error: %s", path, config_error_line(&cfg), config_error_text(&cfg));
                config_destroy(&cfg);
                return -EINVAL;
        }
        r = check_unknown(path, config_root_setting(&cfg), table, n_table, ret_error);
        for (size_t i = 0; r >= 0 && i < n_table; i++) {
                const config_setting_t *s = config_lookup(&cfg, table[i].path);
                if (s)
                        r = apply(path, s, &table[i], target, ret_error);
        }
        config_destroy(&cfg);
        return r;
}
