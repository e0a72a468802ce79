/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Small helpers every module uses: cleanup attributes, allocation that aborts
 * on OOM, checked number parsing, monotonic and wall clocks in microseconds.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define FL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define FL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FL_MAX(a, b) ((a) > (b) ? (a) : (b))

#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void fl_freep(void *p)
{
        free(*(void **)p);
}
static inline void fl_closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
static inline void fl_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
#define _cleanup_free_ _cleanup_(fl_freep)
#define _cleanup_close_ _cleanup_(fl_closep)
#define _cleanup_fclose_ _cleanup_(fl_fclosep)

/* Hand ownership on: returns the pointer and clears the variable. */
#define TAKE_PTR(p)                       \
        ({                                \
                __typeof__(p) _tp_ = (p); \
                (p) = NULL;               \
                _tp_;                     \
        })
#define TAKE_FD(fd)              \
        ({                       \
                int _tf_ = (fd); \
                (fd) = -1;       \
                _tf_;            \
        })

_noreturn_ void fl_oom(void);

static inline void *fl_malloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                fl_oom();
        return p;
}
static inline void *fl_malloc0(size_t n)
{
        void *p = calloc(1, n ? n : 1);
        if (!p)
                fl_oom();
        return p;
}
static inline void *fl_realloc(void *p, size_t n)
{
        p = realloc(p, n ? n : 1);
        if (!p)
                fl_oom();
        return p;
}
/* Grows an array of count elements of size sz to at least need, doubling. */
void *fl_grow(void *p, size_t *cap, size_t need, size_t sz);
char *fl_strdup(const char *s);
char *fl_strndup(const char *s, size_t n);
_printf_(1, 2) char *fl_asprintf(const char *fmt, ...);

#define fl_new0(type, n) ((type *)fl_malloc0(sizeof(type) * (n)))

/* Checked number parsing: whole string must be a number, no sign for
 * unsigned, no overflow. Return 0 or -EINVAL / -ERANGE. */
int fl_safe_atou64(const char *s, uint64_t *ret);
int fl_safe_atoi64(const char *s, int64_t *ret);
int fl_safe_atou32(const char *s, uint32_t *ret);
int fl_safe_atod(const char *s, double *ret);

/* Delta of a monotonically increasing counter that may wrap at 2^bits. */
static inline uint64_t fl_counter_delta(uint64_t prev, uint64_t cur, unsigned bits)
{
        if (cur >= prev)
                return cur - prev;
        if (bits >= 64)
                return UINT64_MAX - prev + cur + 1;
        return ((UINT64_C(1) << bits) - prev) + cur;
}

uint64_t fl_now_us(void); /* CLOCK_REALTIME, microseconds since 1970 */
uint64_t fl_mono_us(void); /* CLOCK_MONOTONIC */

bool fl_streq(const char *a, const char *b);
bool fl_startswith(const char *s, const char *prefix);

/* Reads a whole small file (at most max bytes) into a NUL-terminated buffer. */
int fl_read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Reads one line of a sysfs-like attribute, trailing newline stripped. */
int fl_read_line(const char *path, char *buf, size_t bufsz);
/* Writes data to path atomically: temp file, fsync, rename, fsync dir. */
int fl_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
int fl_mkdir_p(const char *path, mode_t mode);
