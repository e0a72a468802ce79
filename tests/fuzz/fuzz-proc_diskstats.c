/* SPDX-License-Identifier: MIT */
/*
 * proc_diskstats_parse() on any stream. Besides not crashing, what it
 * returns must keep the promises of proc_diskstats.h.
 */
#include "fuzz.h"
#include "proc_diskstats.h"
#include "util.h"

static size_t count_newlines(const uint8_t *data, size_t size)
{
        size_t n = 0;

        for (size_t i = 0; i < size; i++)
                n += data[i] == '\n';
        return n;
}

static void check_line(const struct proc_diskstats_line *d)
{
        size_t len = strnlen(d->name, sizeof(d->name));

        if (len == 0 || len > PROC_DISKSTATS_NAME_MAX || strchr(d->name, '/') || strpbrk(d->name, " \t\n") ||
            fl_streq(d->name, ".") || fl_streq(d->name, ".."))
                abort();
        if (d->n_fields < 14 || (d->n_fields > 14 && d->n_fields < 18) || d->n_fields == 19)
                abort();
        /* counters a line did not have stay zero */
        if (d->n_fields < 18 &&
            (d->discards_completed || d->discards_merged || d->sectors_discarded || d->ms_discarding))
                abort();
        if (d->n_fields < 20 && (d->flushes_completed || d->ms_flushing))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char sentinel; /* marks outputs that must stay untouched */
        struct proc_diskstats_line *lines = (void *)&sentinel;
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

        r = proc_diskstats_parse(f, &lines, &n);
        if (r < 0) {
                if ((r != -EBADMSG && r != -E2BIG && r != -EIO) || lines != (void *)&sentinel || n != SIZE_MAX)
                        abort();
                return 0;
        }
        if (r != 0 || n > PROC_DISKSTATS_MAX_LINES || (n == 0) != (lines == NULL))
                abort();
        /* every line ends with a newline and every line is a device */
        if (n != count_newlines(data, size))
                abort();
        for (size_t i = 0; i < n; i++)
                check_line(&lines[i]);
        proc_diskstats_free(lines);
        return 0;
}
