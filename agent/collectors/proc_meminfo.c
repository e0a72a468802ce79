/* SPDX-License-Identifier: MIT */
/*
 * Memory and swap of the host, from <procfs>/meminfo and <procfs>/vmstat:
 * samples on the host node, no states (how much free memory is too little
 * depends on the workload; the rates are there for graphs and for rules
 * on the central side).
 *
 * Swap on zram is reported here, not as a disk: its swap.in/out rates are
 * the pages that went through it.
 */
#include "proc_meminfo.h"

#include <fcntl.h>

#include "collector.h"
#include "procfile.h"

/* Parsers */

/* "Key: 123 kB" or "Key: 123": the key (colon removed) and the value, in
 * bytes when the line says kB. */
static int parse_meminfo_line(char *line, const char **ret_key, uint64_t *ret_value)
{
        char *p = line, *key, *num, *unit;
        size_t klen;
        uint64_t v;

        key = procfile_next_field(&p);
        num = procfile_next_field(&p);
        unit = procfile_next_field(&p);
        if (!key || !num || procfile_next_field(&p))
                return -EBADMSG;
        klen = strlen(key);
        if (klen < 2 || key[klen - 1] != ':')
                return -EBADMSG;
        key[klen - 1] = '\0';
        if (fl_safe_atou64(num, &v) < 0)
                return -EBADMSG;
        if (unit) {
                if (!fl_streq(unit, "kB"))
                        return -EBADMSG;
                if (v > UINT64_MAX / 1024)
                        return -E2BIG;
                v *= 1024;
        }
        *ret_key = key;
        *ret_value = v;
        return 0;
}

int proc_meminfo_parse(FILE *f, struct proc_meminfo *ret)
{
        struct proc_meminfo m = { 0 };
        char buf[PROC_MEMINFO_MAX_LINE_LEN + 2];
        bool have_total = false, have_free = false;
        unsigned n = 0;
        int r;

        while ((r = procfile_read_line(f, buf, sizeof(buf))) > 0) {
                const char *key;
                uint64_t v;

                if (++n > PROC_MEMINFO_MAX_LINES)
                        return -E2BIG;
                r = parse_meminfo_line(buf, &key, &v);
                if (r < 0)
                        return r;
                if (fl_streq(key, "MemTotal")) {
                        m.total_bytes = v;
                        have_total = true;
                } else if (fl_streq(key, "MemFree")) {
                        m.free_bytes = v;
                        have_free = true;
                } else if (fl_streq(key, "MemAvailable")) {
                        m.available_bytes = v;
                        m.has_available = true;
                } else if (fl_streq(key, "Buffers"))
                        m.buffers_bytes = v;
                else if (fl_streq(key, "Cached"))
                        m.cached_bytes = v;
                else if (fl_streq(key, "SwapTotal"))
                        m.swap_total_bytes = v;
                else if (fl_streq(key, "SwapFree"))
                        m.swap_free_bytes = v;
        }
        if (r < 0)
                return r;
        if (!have_total || !have_free)
                return -EBADMSG;
        if (!m.has_available) {
                /* Kernels before 3.14: the usual estimate. It overstates
                 * (not all page cache can be dropped), which is why the
                 * kernel grew MemAvailable. */
                uint64_t est = m.free_bytes + m.buffers_bytes + m.cached_bytes;
                m.available_bytes = FL_MIN(est, m.total_bytes);
        }
        *ret = m;
        return 0;
}

int proc_meminfo_parse_vmstat(FILE *f, struct proc_meminfo_vmstat *ret)
{
        struct proc_meminfo_vmstat v = { 0 };
        char buf[PROC_MEMINFO_MAX_LINE_LEN + 2];
        bool have_in = false, have_out = false;
        unsigned n = 0;
        int r;

        while ((r = procfile_read_line(f, buf, sizeof(buf))) > 0) {
                char *p = buf, *key, *num;
                uint64_t value;

                if (++n > PROC_MEMINFO_MAX_LINES)
                        return -E2BIG;
                key = procfile_next_field(&p);
                num = procfile_next_field(&p);
                if (!key || !num || procfile_next_field(&p) || fl_safe_atou64(num, &value) < 0)
                        return -EBADMSG;
                if (fl_streq(key, "pswpin")) {
                        v.pswpin = value;
                        have_in = true;
                } else if (fl_streq(key, "pswpout")) {
                        v.pswpout = value;
                        have_out = true;
                } else if (fl_streq(key, "pgmajfault")) {
                        v.pgmajfault = value;
                        v.has_pgmajfault = true;
                }
        }
        if (r < 0)
                return r;
        v.has_swap = have_in && have_out;
        *ret = v;
        return 0;
}

/* Collector */

struct meminfo_state {
        int meminfo_fd; /* both kept open: re-read with pread each cycle */
        int vmstat_fd;
        char *buf;
        size_t buf_cap;
        bool have_prev;
        struct proc_meminfo_vmstat prev;
        uint64_t prev_us;
};

/* Anything larger cannot parse anyway (line count × line length). */
#define MEMINFO_MAX_BYTES ((size_t)PROC_MEMINFO_MAX_LINES * (PROC_MEMINFO_MAX_LINE_LEN + 1))

static int init(void *userdata, const struct fl_agent_ctx *ctx)
{
        struct meminfo_state *s = userdata;

        (void)ctx;
        s->meminfo_fd = -1;
        s->vmstat_fd = -1;
        return 0;
}

static void fini(void *userdata)
{
        struct meminfo_state *s = userdata;

        if (s->meminfo_fd >= 0)
                close(s->meminfo_fd);
        if (s->vmstat_fd >= 0)
                close(s->vmstat_fd);
        s->meminfo_fd = s->vmstat_fd = -1;
        free(s->buf);
        s->buf = NULL;
        s->buf_cap = 0;
        s->have_prev = false;
}

/* Opens <procfs>/name once, reads it whole, and hands it to the parser as a
 * stream. */
static int read_proc(struct meminfo_state *s, int *fd, const char *procfs, const char *name, FILE **ret)
{
        size_t len = 0;
        FILE *f;
        int r;

        if (*fd < 0) {
                _cleanup_free_ char *path = fl_asprintf("%s/%s", procfs, name);
                *fd = open(path, O_RDONLY | O_CLOEXEC);
                if (*fd < 0)
                        return -errno;
        }
        r = procfile_pread_all(*fd, &s->buf, &s->buf_cap, MEMINFO_MAX_BYTES, &len);
        if (r < 0) {
                /* Start over with a fresh descriptor next cycle. */
                close(*fd);
                *fd = -1;
                return r;
        }
        if (len == 0)
                return -EBADMSG; /* neither file is ever empty */
        f = fmemopen(s->buf, len, "r");
        if (!f)
                return -errno;
        *ret = f;
        return 0;
}

/* The kernel prints these as unsigned long: a counter that went backwards
 * from a value that fits in 32 bits wrapped there (32-bit kernel). */
static uint64_t counter_delta(uint64_t prev, uint64_t cur)
{
        return fl_counter_delta(prev, cur, prev <= UINT32_MAX ? 32 : 64);
}

static int collect(void *userdata, const struct fl_agent_ctx *ctx, struct fl_emit *emit)
{
        struct meminfo_state *s = userdata;
        _cleanup_free_ char *host_key = fl_asprintf("host:%s", ctx->hostname);
        struct proc_meminfo m;
        struct proc_meminfo_vmstat v;
        uint64_t now = ctx->now_us;
        int r;

        {
                _cleanup_fclose_ FILE *f = NULL;
                r = read_proc(s, &s->meminfo_fd, ctx->procfs, "meminfo", &f);
                if (r < 0)
                        return r;
                r = proc_meminfo_parse(f, &m);
                if (r < 0)
                        return r;
        }
        {
                _cleanup_fclose_ FILE *f = NULL;
                r = read_proc(s, &s->vmstat_fd, ctx->procfs, "vmstat", &f);
                if (r < 0)
                        return r;
                r = proc_meminfo_parse_vmstat(f, &v);
                if (r < 0)
                        return r;
        }

        fl_emit_sample(emit, host_key, "mem.total_bytes", "B", now, (double)m.total_bytes);
        fl_emit_sample(emit, host_key, "mem.available_bytes", "B", now, (double)m.available_bytes);
        if (m.total_bytes > 0)
                fl_emit_sample(emit, host_key, "mem.available_pct", "%", now,
                               (double)m.available_bytes * 100.0 / (double)m.total_bytes);
        fl_emit_sample(emit, host_key, "swap.used_bytes", "B", now,
                       (double)(m.swap_total_bytes - FL_MIN(m.swap_free_bytes, m.swap_total_bytes)));

        /* A wall clock that stepped back gives no usable interval: this
         * reading only becomes the new baseline. */
        if (s->have_prev && now > s->prev_us) {
                double dt_s = (double)(now - s->prev_us) / 1e6;
                if (v.has_swap && s->prev.has_swap) {
                        fl_emit_sample(emit, host_key, "swap.in_pages_per_s", "1/s", now,
                                       (double)counter_delta(s->prev.pswpin, v.pswpin) / dt_s);
                        fl_emit_sample(emit, host_key, "swap.out_pages_per_s", "1/s", now,
                                       (double)counter_delta(s->prev.pswpout, v.pswpout) / dt_s);
                }
                if (v.has_pgmajfault && s->prev.has_pgmajfault)
                        fl_emit_sample(emit, host_key, "mem.major_faults_per_s", "1/s", now,
                                       (double)counter_delta(s->prev.pgmajfault, v.pgmajfault) / dt_s);
        }
        s->prev = v;
        s->prev_us = now;
        s->have_prev = true;
        return 0;
}

const struct fl_collector proc_meminfo_collector = {
        .name = "proc_meminfo",
        .state_size = sizeof(struct meminfo_state),
        .init = init,
        .collect = collect,
        .fini = fini,
};
