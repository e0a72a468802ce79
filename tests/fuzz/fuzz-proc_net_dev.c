/* SPDX-License-Identifier: MIT */
/*
 * proc_net_dev_parse() on any stream. Besides not crashing, what it returns
 * must keep the promises of proc_net_dev.h.
 */
#include "fuzz.h"
#include "proc_net_dev.h"
#include "util.h"

static size_t count_newlines(const uint8_t *data, size_t size)
{
        size_t n = 0;

        for (size_t i = 0; i < size; i++)
                n += data[i] == '\n';
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char sentinel; /* marks outputs that must stay untouched */
        struct proc_net_dev_line *lines = (void *)&sentinel;
        size_t n = SIZE_MAX;
        _cleanup_free_ uint8_t *copy = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        int r;

        /* fmemopen() may refuse a zero size; the empty stream is a unit test */
        if (size == 0)
                return 0;
        copy = fl_malloc(size);
        memcpy(copy, data, size);
        f = fmemopen(copy, size, "r");
        if (!f)
                abort();

        r = proc_net_dev_parse(f, &lines, &n);
        if (r < 0) {
                if ((r != -EBADMSG && r != -E2BIG && r != -EIO) || lines != (void *)&sentinel || n != SIZE_MAX)
                        abort();
                return 0;
        }
        if (r != 0 || n > PROC_NET_DEV_MAX_LINES || (n == 0) != (lines == NULL))
                abort();
        /* two header lines, then one interface per line */
        if (n + 2 != count_newlines(data, size))
                abort();
        for (size_t i = 0; i < n; i++) {
                const char *name = lines[i].name;
                size_t len = strnlen(name, sizeof(lines[i].name));

                if (len == 0 || len > PROC_NET_DEV_NAME_MAX || strpbrk(name, " \t\n/") || fl_streq(name, ".") ||
                    fl_streq(name, ".."))
                        abort();
        }
        proc_net_dev_free(lines);
        return 0;
}
