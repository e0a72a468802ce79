/* SPDX-License-Identifier: MIT */
/*
 * Block device I/O rates from <procfs>/diskstats, as samples of the nodes
 * that sys_block reports: this collector emits no nodes of its own.
 *
 * Which devices: every line of diskstats that blockdev_identify() names a
 * disk, partition, md array or device-mapper device, keyed with
 * blockdev_key() exactly as sys_block keys its nodes. Virtual devices
 * (loop, ram, zram, ...) carry no I/O worth alerting on and can number in
 * the hundreds; they, and partitions of them, are skipped. Identifying a
 * device takes a few sysfs lookups, so the result is cached per device
 * name and number, redone when the set of devices changes and, for renames
 * that diskstats does not show, every DISKSTATS_IDENTIFY_CYCLES cycles.
 */
#include "proc_diskstats.h"

#include <fcntl.h>
#include <inttypes.h>

#include "blockdev.h"
#include "collector.h"
#include "procfile.h"

#define SECTOR_SIZE 512

static void proc_diskstats_freep(struct proc_diskstats_line **p)
{
        proc_diskstats_free(*p);
}
#define _cleanup_diskstats_ _cleanup_(proc_diskstats_freep)

void proc_diskstats_free(struct proc_diskstats_line *lines)
{
        free(lines);
}

static int parse_line(char *line, struct proc_diskstats_line *ret)
{
        struct proc_diskstats_line d = { 0 };
        /* in the order of the columns after the name */
        uint64_t *const counters[] = {
                &d.reads_completed,  &d.reads_merged,      &d.sectors_read,         &d.ms_reading,
                &d.writes_completed, &d.writes_merged,     &d.sectors_written,      &d.ms_writing,
                &d.ios_in_progress,  &d.ms_doing_io,       &d.weighted_ms_doing_io, &d.discards_completed,
                &d.discards_merged,  &d.sectors_discarded, &d.ms_discarding,        &d.flushes_completed,
                &d.ms_flushing,
        };
        unsigned n = 0;
        char *field;

        while ((field = procfile_next_field(&line))) {
                if (n == 0 || n == 1) {
                        if (fl_safe_atou32(field, n == 0 ? &d.major : &d.minor) < 0)
                                return -EBADMSG;
                } else if (n == 2) {
                        size_t len = strlen(field);
                        if (len > PROC_DISKSTATS_NAME_MAX)
                                return -E2BIG;
                        /* The name ends up in a sysfs path: the kernel turns
                         * '/' into '!', so a '/' or a dot name is not a
                         * device. */
                        if (strchr(field, '/') || fl_streq(field, ".") || fl_streq(field, ".."))
                                return -EBADMSG;
                        memcpy(d.name, field, len + 1);
                } else {
                        uint64_t v;
                        if (fl_safe_atou64(field, &v) < 0)
                                return -EBADMSG;
                        if (n - 3 < FL_ARRAY_SIZE(counters))
                                *counters[n - 3] = v;
                }
                n++;
        }
        /* 14, 18 and 20 are the layouts kernels printed; anything past 20 is
         * a future kernel appending counters, which the kernel only ever
         * does at the end. */
        if (n < 14 || (n > 14 && n < 18) || n == 19)
                return -EBADMSG;
        d.n_fields = n;
        *ret = d;
        return 0;
}

int proc_diskstats_parse(FILE *f, struct proc_diskstats_line **ret, size_t *ret_n)
{
        _cleanup_diskstats_ struct proc_diskstats_line *lines = NULL;
        size_t n = 0, cap = 0;
        char buf[PROC_DISKSTATS_MAX_LINE_LEN + 2];
        int r;

        while ((r = procfile_read_line(f, buf, sizeof(buf))) > 0) {
                if (n >= PROC_DISKSTATS_MAX_LINES)
                        return -E2BIG;
                lines = fl_grow(lines, &cap, n + 1, sizeof(*lines));
                r = parse_line(buf, &lines[n]);
                if (r < 0)
                        return r;
                n++;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(lines);
        *ret_n = n;
        return 0;
}

/* Collector */

/* What a diskstats name stands for, cached until the set of devices
 * changes. */
struct ds_ident {
        char name[PROC_DISKSTATS_NAME_MAX + 1];
        uint32_t major, minor;
        char *key; /* node key; NULL: no samples (a virtual device) */
        bool retry; /* could not be identified: try again next cycle */
};

struct diskstats_state {
        int fd; /* <procfs>/diskstats, kept open: re-read with pread each cycle */
        char *buf;
        size_t buf_cap;
        struct proc_diskstats_line *prev; /* devices sampled last cycle, sorted by name */
        size_t n_prev;
        uint64_t prev_us;
        struct ds_ident *idents; /* the devices of the last reading, sorted by name */
        size_t n_idents;
        unsigned cycles_since_identify; /* since every device was identified afresh */
};

/* A device can change its name in a key without any change in diskstats
 * (lvrename keeps dm-N and its number): every device is identified afresh
 * this often, as sys_block rescans its topology. */
#define DISKSTATS_IDENTIFY_CYCLES 60

/* Anything larger cannot parse anyway (line count × line length ceilings). */
#define DISKSTATS_MAX_BYTES ((size_t)PROC_DISKSTATS_MAX_LINES * (PROC_DISKSTATS_MAX_LINE_LEN + 1))

static void idents_free(struct ds_ident *idents, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(idents[i].key);
        free(idents);
}

static int init(void *userdata, const struct fl_agent_ctx *ctx)
{
        struct diskstats_state *s = userdata;

        (void)ctx;
        s->fd = -1;
        return 0;
}

static void fini(void *userdata)
{
        struct diskstats_state *s = userdata;

        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        free(s->buf);
        proc_diskstats_free(s->prev);
        idents_free(s->idents, s->n_idents);
        s->buf = NULL;
        s->prev = NULL;
        s->idents = NULL;
        s->buf_cap = s->n_prev = s->n_idents = 0;
        s->cycles_since_identify = 0;
}

static int read_diskstats(struct diskstats_state *s, const char *procfs, struct proc_diskstats_line **ret,
                          size_t *ret_n)
{
        _cleanup_fclose_ FILE *f = NULL;
        size_t len = 0;
        int r;

        if (s->fd < 0) {
                _cleanup_free_ char *path = fl_asprintf("%s/diskstats", procfs);
                s->fd = open(path, O_RDONLY | O_CLOEXEC);
                if (s->fd < 0)
                        return -errno;
        }
        r = procfile_pread_all(s->fd, &s->buf, &s->buf_cap, DISKSTATS_MAX_BYTES, &len);
        if (r < 0) {
                /* Start over with a fresh descriptor next cycle. */
                close(s->fd);
                s->fd = -1;
                return r;
        }
        if (len == 0) {
                /* No block devices at all; fmemopen() may refuse a zero size. */
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        f = fmemopen(s->buf, len, "r");
        if (!f)
                return -errno;
        return proc_diskstats_parse(f, ret, ret_n);
}

static int compare_ident(const void *a, const void *b)
{
        const struct ds_ident *x = a, *y = b;
        return strcmp(x->name, y->name);
}

static const struct ds_ident *find_ident(const struct ds_ident *idents, size_t n, const char *name)
{
        struct ds_ident k;

        if (n == 0)
                return NULL;
        snprintf(k.name, sizeof(k.name), "%s", name);
        return bsearch(&k, idents, n, sizeof(*idents), compare_ident);
}

/* A cached identification that still holds for this line. */
static bool ident_current(const struct ds_ident *id, const struct proc_diskstats_line *d)
{
        return id && !id->retry && id->major == d->major && id->minor == d->minor;
}

static void identify(const struct fl_agent_ctx *ctx, const struct proc_diskstats_line *d, struct ds_ident *ret)
{
        struct blockdev_id id, parent;

        *ret = (struct ds_ident){ .major = d->major, .minor = d->minor };
        snprintf(ret->name, sizeof(ret->name), "%s", d->name);
        /* Not (yet, or no longer) in sysfs, or sysfs already shows another
         * device under that name: a device coming or going. */
        if (blockdev_identify(ctx->sysfs, d->name, &id) < 0 || id.major != d->major || id.minor != d->minor) {
                ret->retry = true;
                return;
        }
        if (id.kind == BLOCKDEV_VIRTUAL)
                return;
        if (id.kind == BLOCKDEV_PARTITION) {
                /* A partition of a loop device has no node to sample. */
                if (blockdev_identify(ctx->sysfs, id.parent, &parent) < 0) {
                        ret->retry = true;
                        return;
                }
                if (parent.kind == BLOCKDEV_VIRTUAL)
                        return;
        }
        ret->key = blockdev_key(&id, ctx->hostname);
}

/*
 * Brings the identification cache in line with this reading: one lookup per
 * line when the set of devices did not change, identification of the new
 * ones (and of those that failed before) when it did, of all of them every
 * DISKSTATS_IDENTIFY_CYCLES cycles.
 */
static void update_idents(struct diskstats_state *s, const struct fl_agent_ctx *ctx,
                          const struct proc_diskstats_line *cur, size_t n_cur)
{
        bool all = ++s->cycles_since_identify >= DISKSTATS_IDENTIFY_CYCLES;
        bool same = !all && n_cur == s->n_idents;
        struct ds_ident *idents;

        for (size_t i = 0; same && i < n_cur; i++)
                same = ident_current(find_ident(s->idents, s->n_idents, cur[i].name), &cur[i]);
        if (same)
                return;

        idents = fl_new0(struct ds_ident, n_cur);
        for (size_t i = 0; i < n_cur; i++) {
                const struct ds_ident *old = all ? NULL : find_ident(s->idents, s->n_idents, cur[i].name);
                if (ident_current(old, &cur[i])) {
                        idents[i] = *old;
                        idents[i].key = old->key ? fl_strdup(old->key) : NULL;
                } else
                        identify(ctx, &cur[i], &idents[i]);
        }
        if (n_cur > 1)
                qsort(idents, n_cur, sizeof(*idents), compare_ident);
        idents_free(s->idents, s->n_idents);
        s->idents = idents;
        s->n_idents = n_cur;
        if (all)
                s->cycles_since_identify = 0;
}

/*
 * The kernel prints some of these counters from unsigned long (32 bits on a
 * 32-bit kernel) or unsigned int: one that went backwards from a value that
 * fits in 32 bits wrapped there, anything larger wrapped at 64 bits.
 */
static uint64_t counter_delta(uint64_t prev, uint64_t cur)
{
        return fl_counter_delta(prev, cur, prev <= UINT32_MAX ? 32 : 64);
}

static void emit_rates(struct fl_emit *emit, const char *key, uint64_t now_us, uint64_t dt_us,
                       const struct proc_diskstats_line *prev, const struct proc_diskstats_line *cur)
{
        double dt_s = (double)dt_us / 1e6, dt_ms = (double)dt_us / 1e3;
        uint64_t reads = counter_delta(prev->reads_completed, cur->reads_completed);
        uint64_t writes = counter_delta(prev->writes_completed, cur->writes_completed);
        uint64_t rsect = counter_delta(prev->sectors_read, cur->sectors_read);
        uint64_t wsect = counter_delta(prev->sectors_written, cur->sectors_written);
        uint64_t rms = counter_delta(prev->ms_reading, cur->ms_reading);
        uint64_t wms = counter_delta(prev->ms_writing, cur->ms_writing);
        uint64_t io_ms = counter_delta(prev->ms_doing_io, cur->ms_doing_io);
        double util = (double)io_ms / dt_ms * 100.0;

        fl_emit_sample(emit, key, "disk.read_iops", "1/s", now_us, (double)reads / dt_s);
        fl_emit_sample(emit, key, "disk.write_iops", "1/s", now_us, (double)writes / dt_s);
        fl_emit_sample(emit, key, "disk.read_bytes_per_s", "B/s", now_us, (double)rsect * SECTOR_SIZE / dt_s);
        fl_emit_sample(emit, key, "disk.write_bytes_per_s", "B/s", now_us, (double)wsect * SECTOR_SIZE / dt_s);
        fl_emit_sample(emit, key, "disk.read_await_ms", "ms", now_us, reads ? (double)rms / (double)reads : 0.0);
        fl_emit_sample(emit, key, "disk.write_await_ms", "ms", now_us, writes ? (double)wms / (double)writes : 0.0);
        /* io_ticks is sampled in jiffies and merged across queues, so it can
         * run slightly ahead of the wall clock. */
        fl_emit_sample(emit, key, "disk.util_pct", "%", now_us, FL_MIN(util, 100.0));
        fl_emit_sample(emit, key, "disk.queue_depth", "1", now_us, (double)cur->ios_in_progress);
}

static int compare_name(const void *a, const void *b)
{
        const struct proc_diskstats_line *x = a, *y = b;
        return strcmp(x->name, y->name);
}

static const struct proc_diskstats_line *find_prev(const struct diskstats_state *s, const struct proc_diskstats_line *d)
{
        const struct proc_diskstats_line *p;

        if (s->n_prev == 0)
                return NULL;
        p = bsearch(d, s->prev, s->n_prev, sizeof(*s->prev), compare_name);
        /* A different device number under the same name is a new device
         * whose counters started over: no rate until it has a baseline. */
        if (p && (p->major != d->major || p->minor != d->minor))
                return NULL;
        return p;
}

static int collect(void *userdata, const struct fl_agent_ctx *ctx, struct fl_emit *emit)
{
        struct diskstats_state *s = userdata;
        _cleanup_diskstats_ struct proc_diskstats_line *cur = NULL;
        size_t n_cur = 0, n_kept = 0;
        uint64_t dt_us = 0;
        int r;

        r = read_diskstats(s, ctx->procfs, &cur, &n_cur);
        if (r < 0)
                return r;
        update_idents(s, ctx, cur, n_cur);

        /* A wall clock that stepped back gives no usable interval: this
         * reading only becomes the new baseline. */
        if (s->n_prev > 0 && ctx->now_us > s->prev_us)
                dt_us = ctx->now_us - s->prev_us;

        for (size_t i = 0; i < n_cur; i++) {
                const struct ds_ident *id = find_ident(s->idents, s->n_idents, cur[i].name);
                const struct proc_diskstats_line *p;

                if (!id || !id->key)
                        continue;
                p = dt_us > 0 ? find_prev(s, &cur[i]) : NULL;
                if (p)
                        emit_rates(emit, id->key, ctx->now_us, dt_us, p, &cur[i]);
                if (n_kept != i)
                        cur[n_kept] = cur[i];
                n_kept++;
        }

        /* Devices that disappeared drop out here; new ones get their
         * baseline. */
        if (n_kept > 0)
                qsort(cur, n_kept, sizeof(*cur), compare_name);
        proc_diskstats_free(s->prev);
        s->prev = TAKE_PTR(cur);
        s->n_prev = n_kept;
        s->prev_us = ctx->now_us;
        return 0;
}

const struct fl_collector proc_diskstats_collector = {
        .name = "proc_diskstats",
        .state_size = sizeof(struct diskstats_state),
        .init = init,
        .collect = collect,
        .fini = fini,
};
