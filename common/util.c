/* SPDX-License-Identifier: MIT */
#include "util.h"

#include <ctype.h>

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

void fl_oom(void)
{
        static const char msg[] = "faultline: out of memory\n";
        ssize_t r _unused_ = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        abort();
}

void *fl_grow(void *p, size_t *cap, size_t need, size_t sz)
{
        if (need <= *cap)
                return p;
        size_t n = *cap ? *cap : 8;
        while (n < need) {
                if (n > SIZE_MAX / 2 / sz)
                        fl_oom();
                n *= 2;
        }
        p = fl_realloc(p, n * sz);
        *cap = n;
        return p;
}

char *fl_strdup(const char *s)
{
        char *r = strdup(s ? s : "");
        if (!r)
                fl_oom();
        return r;
}

char *fl_strndup(const char *s, size_t n)
{
        char *r = strndup(s, n);
        if (!r)
                fl_oom();
        return r;
}

char *fl_asprintf(const char *fmt, ...)
{
        va_list ap;
        char *r;

        va_start(ap, fmt);
        if (vasprintf(&r, fmt, ap) < 0)
                fl_oom();
        va_end(ap);
        return r;
}

int fl_safe_atou64(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        if (!s || !*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int fl_safe_atoi64(const char *s, int64_t *ret)
{
        char *end;
        long long v;

        if (!s || !*s || isspace((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int fl_safe_atou32(const char *s, uint32_t *ret)
{
        uint64_t v;
        int r = fl_safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t)v;
        return 0;
}

int fl_safe_atod(const char *s, double *ret)
{
        char *end;
        double v;

        if (!s || !*s || isspace((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno || *end || !isfinite(v))
                return -EINVAL;
        *ret = v;
        return 0;
}

static uint64_t clock_us(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t fl_now_us(void)
{
        return clock_us(CLOCK_REALTIME);
}

uint64_t fl_mono_us(void)
{
        return clock_us(CLOCK_MONOTONIC);
}

bool fl_streq(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

bool fl_startswith(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

int fl_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        if (fd < 0)
                return -errno;
        if (max == 0)
                return -EINVAL;
        buf = fl_malloc(max + 1);
        for (;;) {
                ssize_t n = read(fd, buf + len, max - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len == max) {
                        char c;
                        if (read(fd, &c, 1) > 0)
                                return -EFBIG;
                        break;
                }
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int fl_read_line(const char *path, char *buf, size_t bufsz)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        if (bufsz < 2)
                return -EINVAL;
        n = read(fd, buf, bufsz - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        char *nl = strchr(buf, '\n');
        if (nl)
                *nl = '\0';
        return 0;
}

static int fsync_parent(const char *path)
{
        _cleanup_free_ char *dir = fl_strdup(path);
        char *slash = strrchr(dir, '/');
        _cleanup_close_ int fd = -1;

        if (!slash) {
                free(dir);
                dir = fl_strdup(".");
        } else if (slash == dir)
                dir[1] = '\0';
        else
                *slash = '\0';
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int fl_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
        /* A unique temp name per call, created exclusively, so a stale file
         * from a crash can never lend us its mode or contents. */
        static unsigned long counter;
        _cleanup_free_ char *tmp =
                fl_asprintf("%s.tmp.%ld.%lu", path, (long)getpid(), __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        const char *p = data;
        int r;

        if (fd < 0)
                return -errno;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                p += n;
                len -= (size_t)n;
        }
        if (fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        return fsync_parent(path);
fail:
        unlink(tmp);
        return r;
}

int fl_mkdir_p(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = fl_strdup(path);

        if (!*p)
                return -EINVAL;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}
