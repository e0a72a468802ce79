/* SPDX-License-Identifier: MIT */
/*
 * Network interface traffic and error rates from <procfs>/net/dev (loopback
 * excluded), with the finer error counters from <sysfs>/class/net/IF/, and
 * the error-rate detector. The nic:HOST/IF nodes themselves, their type,
 * link attributes and edges belong to sys_class_net: this collector only
 * adds samples and states to them, so that the two never disagree on what
 * an interface is.
 */
#include "proc_net_dev.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "collector.h"
#include "procfile.h"

static void proc_net_dev_freep(struct proc_net_dev_line **p)
{
        proc_net_dev_free(*p);
}
#define _cleanup_net_dev_ _cleanup_(proc_net_dev_freep)

void proc_net_dev_free(struct proc_net_dev_line *lines)
{
        free(lines);
}

/* True when the blank-separated words of s are exactly those of words[]. */
static bool words_are(char *s, const char *const *words, size_t n)
{
        char *w;
        size_t i = 0;

        while ((w = procfile_next_field(&s))) {
                if (i >= n || !fl_streq(w, words[i]))
                        return false;
                i++;
        }
        return i == n;
}

/*
 * Inter-|   Receive                                                |  Transmit
 *  face |bytes    packets errs drop fifo frame compressed multicast|bytes ...
 *
 * The second line names the columns; they must be the 8 + 8 that the data
 * lines are read as.
 */
static int check_header(char *line1, char *line2)
{
        static const char *const rx[] = {
                "bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast"
        };
        static const char *const tx[] = {
                "bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed"
        };
        static const char *const face[] = { "face" };
        char *a, *b;

        if (!fl_startswith(line1, "Inter-|") || !strstr(line1, "Receive") || !strstr(line1, "Transmit"))
                return -EBADMSG;
        a = strchr(line2, '|');
        if (!a)
                return -EBADMSG;
        b = strchr(a + 1, '|');
        if (!b || strchr(b + 1, '|'))
                return -EBADMSG;
        *a++ = '\0';
        *b++ = '\0';
        if (!words_are(line2, face, FL_ARRAY_SIZE(face)) || !words_are(a, rx, FL_ARRAY_SIZE(rx)) ||
            !words_are(b, tx, FL_ARRAY_SIZE(tx)))
                return -EBADMSG;
        return 0;
}

static int parse_line(char *line, struct proc_net_dev_line *ret)
{
        struct proc_net_dev_line d = { 0 };
        /* in the order of the columns after the name */
        uint64_t *const counters[] = {
                &d.rx_bytes,      &d.rx_packets,   &d.rx_errs,    &d.rx_drop,       &d.rx_fifo, &d.rx_frame,
                &d.rx_compressed, &d.rx_multicast, &d.tx_bytes,   &d.tx_packets,    &d.tx_errs, &d.tx_drop,
                &d.tx_fifo,       &d.tx_colls,     &d.tx_carrier, &d.tx_compressed,
        };
        char *colon, *name, *rest, *field, *end;
        size_t n = 0, len;

        /* Counters never hold a ':', names may (aliases), and old kernels
         * glued a wide counter to the colon: split at the last one. */
        colon = strrchr(line, ':');
        if (!colon)
                return -EBADMSG;
        *colon = '\0';
        rest = colon + 1;

        name = line;
        while (*name == ' ' || *name == '\t')
                name++;
        end = name + strlen(name);
        while (end > name && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        *end = '\0';
        len = (size_t)(end - name);
        if (len == 0 || strpbrk(name, " \t/") || fl_streq(name, ".") || fl_streq(name, ".."))
                return -EBADMSG;
        if (len > PROC_NET_DEV_NAME_MAX)
                return -E2BIG;
        memcpy(d.name, name, len + 1);

        while ((field = procfile_next_field(&rest))) {
                uint64_t v;

                if (n >= FL_ARRAY_SIZE(counters) || fl_safe_atou64(field, &v) < 0)
                        return -EBADMSG;
                *counters[n++] = v;
        }
        if (n != FL_ARRAY_SIZE(counters))
                return -EBADMSG;
        *ret = d;
        return 0;
}

int proc_net_dev_parse(FILE *f, struct proc_net_dev_line **ret, size_t *ret_n)
{
        _cleanup_net_dev_ struct proc_net_dev_line *lines = NULL;
        size_t n = 0, cap = 0;
        char buf[PROC_NET_DEV_MAX_LINE_LEN + 2], hdr[PROC_NET_DEV_MAX_LINE_LEN + 2];
        int r;

        r = procfile_read_line(f, hdr, sizeof(hdr));
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        r = procfile_read_line(f, buf, sizeof(buf));
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        r = check_header(hdr, buf);
        if (r < 0)
                return r;

        while ((r = procfile_read_line(f, buf, sizeof(buf))) > 0) {
                if (n >= PROC_NET_DEV_MAX_LINES)
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

/* Finer error counters that /proc/net/dev folds into "frame" and "carrier";
 * not every driver has them. */
static const struct {
        const char *file;
        const char *metric;
} sys_counters[] = {
        { "rx_crc_errors", "nic.rx_crc_errors_per_s" },
        { "rx_frame_errors", "nic.rx_frame_errors_per_s" },
        { "tx_carrier_errors", "nic.tx_carrier_errors_per_s" },
};
#define N_SYS_COUNTERS FL_ARRAY_SIZE(sys_counters)

struct nic_reading {
        struct proc_net_dev_line dev;
        uint64_t ifindex; /* 0: unknown */
        uint64_t sys[N_SYS_COUNTERS];
        bool has_sys[N_SYS_COUNTERS];
        bool physical; /* has a device link: drops count as loss */
        bool bond; /* its counters are its slaves' summed */
};

/* The sysfs files read every cycle for one interface, kept open and re-read
 * with pread: ifindex, then the sys_counters. -1: not open (yet, or it does
 * not exist: retried every MISSING_RETRY_CYCLES). */
#define N_KEPT (1 + N_SYS_COUNTERS)
#define MISSING_RETRY_CYCLES 60
struct nic_fds {
        char name[PROC_NET_DEV_NAME_MAX + 1];
        int fd[N_KEPT];
        uint64_t missing_since[N_KEPT]; /* cycle of the failed open, 0: none */
        bool seen;
};

struct net_dev_state {
        struct nic_fds *kept;
        size_t n_kept;
        uint64_t cycle;
        int fd; /* <procfs>/net/dev, kept open: re-read with pread each cycle */
        char *buf;
        size_t buf_cap;
        struct nic_reading *prev; /* interfaces emitted last cycle, sorted by name */
        size_t n_prev;
        uint64_t prev_us;
};

/* Anything larger cannot parse anyway (line count × line length ceilings). */
#define NET_DEV_MAX_BYTES ((size_t)(PROC_NET_DEV_MAX_LINES + 2) * (PROC_NET_DEV_MAX_LINE_LEN + 1))

static int init(void *userdata, const struct fl_agent_ctx *ctx)
{
        struct net_dev_state *s = userdata;

        (void)ctx;
        s->fd = -1;
        return 0;
}

static void fini(void *userdata)
{
        struct net_dev_state *s = userdata;

        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        for (size_t i = 0; i < s->n_kept; i++)
                for (size_t k = 0; k < N_KEPT; k++)
                        if (s->kept[i].fd[k] >= 0)
                                close(s->kept[i].fd[k]);
        free(s->kept);
        s->kept = NULL;
        s->n_kept = 0;
        free(s->buf);
        free(s->prev);
        s->buf = NULL;
        s->prev = NULL;
        s->buf_cap = s->n_prev = 0;
}

static int read_net_dev(struct net_dev_state *s, const char *procfs, struct proc_net_dev_line **ret, size_t *ret_n)
{
        _cleanup_fclose_ FILE *f = NULL;
        size_t len = 0;
        int r;

        if (s->fd < 0) {
                _cleanup_free_ char *path = fl_asprintf("%s/net/dev", procfs);
                s->fd = open(path, O_RDONLY | O_CLOEXEC);
                if (s->fd < 0)
                        return -errno;
        }
        r = procfile_pread_all(s->fd, &s->buf, &s->buf_cap, NET_DEV_MAX_BYTES, &len);
        if (r < 0) {
                /* Start over with a fresh descriptor next cycle. */
                close(s->fd);
                s->fd = -1;
                return r;
        }
        if (len == 0)
                return -EBADMSG; /* not even the header */
        f = fmemopen(s->buf, len, "r");
        if (!f)
                return -errno;
        return proc_net_dev_parse(f, ret, ret_n);
}

/* Reads one attribute of an interface, blanks trimmed; -ENODATA when it is
 * empty. */
/*
 * What the detector needs to know of an interface, by the same rule as
 * sys_class_net's "type": a device link means hardware (or a paravirtual
 * bus), a bonding/ directory a bond. It cannot change while the ifindex
 * stays, so it is looked up once per interface.
 */
static void classify(const char *sysfs, struct nic_reading *n)
{
        _cleanup_free_ char *device = fl_asprintf("%s/class/net/%s/device", sysfs, n->dev.name);
        _cleanup_free_ char *bonding = fl_asprintf("%s/class/net/%s/bonding", sysfs, n->dev.name);
        struct stat st;

        n->physical = lstat(device, &st) == 0;
        n->bond = stat(bonding, &st) == 0 && S_ISDIR(st.st_mode);
}

static struct nic_fds *kept_for(struct net_dev_state *s, const char *name)
{
        for (size_t i = 0; i < s->n_kept; i++)
                if (strcmp(s->kept[i].name, name) == 0)
                        return &s->kept[i];
        s->kept = fl_realloc(s->kept, sizeof(*s->kept) * (s->n_kept + 1));
        struct nic_fds *f = &s->kept[s->n_kept++];
        *f = (struct nic_fds){ 0 };
        snprintf(f->name, sizeof(f->name), "%s", name);
        for (size_t k = 0; k < N_KEPT; k++)
                f->fd[k] = -1;
        return f;
}

/* One value of a kept file, trimmed; the file is opened on first use and
 * reopened after an error (an interface replaced under the same name). */
static int kept_read(struct net_dev_state *s, struct nic_fds *f, const char *sysfs, size_t k, const char *attr,
                     char *buf, size_t size)
{
        if (f->fd[k] < 0) {
                if (f->missing_since[k] && s->cycle - f->missing_since[k] < MISSING_RETRY_CYCLES)
                        return -ENOENT;
                _cleanup_free_ char *path = fl_asprintf("%s/class/net/%s/%s", sysfs, f->name, attr);
                f->fd[k] = open(path, O_RDONLY | O_CLOEXEC);
                if (f->fd[k] < 0) {
                        f->missing_since[k] = s->cycle;
                        return -errno;
                }
                f->missing_since[k] = 0;
        }
        ssize_t n = pread(f->fd[k], buf, size - 1, 0);
        if (n <= 0) {
                int r = n < 0 ? -errno : -ENODATA;
                close(f->fd[k]);
                f->fd[k] = -1;
                return r;
        }
        buf[n] = '\0';
        size_t len = (size_t)n, start = 0;
        while (len > 0 && strchr(" \t\r\n", buf[len - 1]))
                len--;
        while (start < len && strchr(" \t\r\n", buf[start]))
                start++;
        memmove(buf, buf + start, len - start);
        buf[len - start] = '\0';
        return len > start ? 0 : -ENODATA;
}

static void read_sys_counters(struct net_dev_state *s, const char *sysfs, struct nic_reading *n)
{
        struct nic_fds *f = kept_for(s, n->dev.name);
        char idx[32];

        f->seen = true;
        if (kept_read(s, f, sysfs, 0, "ifindex", idx, sizeof(idx)) < 0 || fl_safe_atou64(idx, &n->ifindex) < 0)
                n->ifindex = 0;
        for (size_t i = 0; i < N_SYS_COUNTERS; i++) {
                _cleanup_free_ char *attr = fl_asprintf("statistics/%s", sys_counters[i].file);
                char val[64];

                n->has_sys[i] = kept_read(s, f, sysfs, 1 + i, attr, val, sizeof(val)) >= 0 &&
                                fl_safe_atou64(val, &n->sys[i]) >= 0;
        }
}

/* Interfaces that are gone give their descriptors back. */
static void drop_unseen(struct net_dev_state *s)
{
        size_t out = 0;

        for (size_t i = 0; i < s->n_kept; i++) {
                struct nic_fds *f = &s->kept[i];
                if (!f->seen) {
                        for (size_t k = 0; k < N_KEPT; k++)
                                if (f->fd[k] >= 0)
                                        close(f->fd[k]);
                        continue;
                }
                f->seen = false;
                s->kept[out++] = *f;
        }
        s->n_kept = out;
}

/*
 * On a 32-bit kernel these counters are unsigned long and wrap at 2^32: one
 * that went backwards from a value that fits in 32 bits wrapped there,
 * anything larger wrapped at 64 bits.
 */
static uint64_t counter_delta(uint64_t prev, uint64_t cur)
{
        return fl_counter_delta(prev, cur, prev <= UINT32_MAX ? 32 : 64);
}

static void emit_rate(struct fl_emit *emit, const char *key, const char *metric, const char *unit, uint64_t now_us,
                      double dt_s, uint64_t prev, uint64_t cur)
{
        fl_emit_sample(emit, key, metric, unit, now_us, (double)counter_delta(prev, cur) / dt_s);
}

static void emit_rates(struct fl_emit *emit, const char *key, uint64_t now_us, uint64_t dt_us,
                       const struct nic_reading *prev, const struct nic_reading *cur)
{
        const struct proc_net_dev_line *p = &prev->dev, *c = &cur->dev;
        double dt_s = (double)dt_us / 1e6;

        emit_rate(emit, key, "nic.rx_bytes_per_s", "B/s", now_us, dt_s, p->rx_bytes, c->rx_bytes);
        emit_rate(emit, key, "nic.tx_bytes_per_s", "B/s", now_us, dt_s, p->tx_bytes, c->tx_bytes);
        emit_rate(emit, key, "nic.rx_packets_per_s", "1/s", now_us, dt_s, p->rx_packets, c->rx_packets);
        emit_rate(emit, key, "nic.tx_packets_per_s", "1/s", now_us, dt_s, p->tx_packets, c->tx_packets);
        emit_rate(emit, key, "nic.rx_errors_per_s", "1/s", now_us, dt_s, p->rx_errs, c->rx_errs);
        emit_rate(emit, key, "nic.tx_errors_per_s", "1/s", now_us, dt_s, p->tx_errs, c->tx_errs);
        emit_rate(emit, key, "nic.rx_dropped_per_s", "1/s", now_us, dt_s, p->rx_drop, c->rx_drop);
        emit_rate(emit, key, "nic.tx_dropped_per_s", "1/s", now_us, dt_s, p->tx_drop, c->tx_drop);
        for (size_t i = 0; i < N_SYS_COUNTERS; i++)
                if (prev->has_sys[i] && cur->has_sys[i])
                        emit_rate(emit, key, sys_counters[i].metric, "1/s", now_us, dt_s, prev->sys[i], cur->sys[i]);
}

static int compare_name(const void *a, const void *b)
{
        const struct nic_reading *x = a, *y = b;
        return strcmp(x->dev.name, y->dev.name);
}

static const struct nic_reading *find_prev(const struct net_dev_state *s, const struct nic_reading *c)
{
        const struct nic_reading *p;

        if (s->n_prev == 0)
                return NULL;
        p = bsearch(c, s->prev, s->n_prev, sizeof(*s->prev), compare_name);
        /* An interface deleted and created again under the same name (a VM's
         * tap, a veth) has a new ifindex and counters that started over:
         * no rate until it has a baseline. */
        if (p && p->ifindex && c->ifindex && p->ifindex != c->ifindex)
                return NULL;
        return p;
}

/*
 * Error rate of one counter for the detector. One that went backwards
 * was reset (a driver that clears its statistics on reset keeps the
 * ifindex), not wrapped — a wrap of an error counter is billions of errors
 * away — so that reading gives no evidence (*ret_ok false).
 */
static double error_rate(uint64_t prev, uint64_t cur, double dt_s, bool *ret_ok)
{
        if (cur < prev) {
                *ret_ok = false;
                return 0;
        }
        return (double)(cur - prev) / dt_s;
}

struct direction {
        const char *name; /* "receive", "transmit" */
        double errors, drops; /* per second; drops 0 when not counted */
        /* the finer sysfs counters of this direction that moved */
        const char *detail_names[N_SYS_COUNTERS];
        double detail_rates[N_SYS_COUNTERS];
        size_t n_details;
};

/* "receive errors: 52.0/s (50.0/s CRC, 2.0/s frame)" */
static char *describe(const struct direction *d)
{
        _cleanup_free_ char *details = NULL;
        const char *what = d->errors > 0 && d->drops > 0 ? "errors and drops" : d->drops > 0 ? "drops" : "errors";

        for (size_t i = 0; i < d->n_details; i++) {
                char *more = fl_asprintf("%s%s%.1f/s %s", details ? details : "", details ? ", " : "",
                                         d->detail_rates[i], d->detail_names[i]);
                free(details);
                details = more;
        }
        if (d->errors > 0 && d->drops > 0) {
                char *more = fl_asprintf("%s%s%.1f/s dropped", details ? details : "", details ? ", " : "", d->drops);
                free(details);
                details = more;
        }
        if (details)
                return fl_asprintf("%s %s: %.1f/s (%s)", d->name, what, d->errors + d->drops, details);
        return fl_asprintf("%s %s: %.1f/s", d->name, what, d->errors + d->drops);
}

/*
 * The error-rate detector: errors (and, on physical NICs, drops) per
 * second in one direction above the threshold → warning on the interface.
 *
 * Drops are left out on virtual interfaces: a bridge, tap or veth drops
 * frames by design (unknown protocols, VLANs nobody listens to, a guest
 * that is not reading its queue), so drops there say nothing about the
 * network. On a physical NIC the "drop" column also holds rx_missed_errors
 * (the ring overflowed): real loss. Bonds are skipped: their counters are
 * their slaves' summed (bond_get_stats), so the slave that has the errors
 * carries the warning and the bond follows it in the graph.
 */
static void judge_errors(struct fl_emit *emit, const char *key, double dt_s, double threshold,
                         const struct nic_reading *prev, const struct nic_reading *cur)
{
        static const char *const rx_detail[N_SYS_COUNTERS] = { "CRC", "frame", NULL };
        static const char *const tx_detail[N_SYS_COUNTERS] = { NULL, NULL, "carrier" };
        const struct proc_net_dev_line *p = &prev->dev, *c = &cur->dev;
        struct direction dirs[2] = { { .name = "receive" }, { .name = "transmit" } };
        bool ok = true;

        if (cur->bond)
                return;
        dirs[0].errors = error_rate(p->rx_errs, c->rx_errs, dt_s, &ok);
        dirs[1].errors = error_rate(p->tx_errs, c->tx_errs, dt_s, &ok);
        if (cur->physical) {
                dirs[0].drops = error_rate(p->rx_drop, c->rx_drop, dt_s, &ok);
                dirs[1].drops = error_rate(p->tx_drop, c->tx_drop, dt_s, &ok);
        }
        if (!ok)
                return;
        for (size_t i = 0; i < N_SYS_COUNTERS; i++) {
                double rate;
                bool moved = true;

                if (!prev->has_sys[i] || !cur->has_sys[i])
                        continue;
                rate = error_rate(prev->sys[i], cur->sys[i], dt_s, &moved);
                if (!moved || rate <= 0)
                        continue;
                for (size_t d = 0; d < 2; d++) {
                        const char *name = d == 0 ? rx_detail[i] : tx_detail[i];
                        if (!name)
                                continue;
                        dirs[d].detail_names[dirs[d].n_details] = name;
                        dirs[d].detail_rates[dirs[d].n_details++] = rate;
                }
        }
        for (size_t d = 0; d < 2; d++) {
                _cleanup_free_ char *reason = NULL;

                if (!(dirs[d].errors + dirs[d].drops > threshold))
                        continue;
                reason = describe(&dirs[d]);
                fl_emit_state(emit, key, FL_STATE_WARNING, "%s", reason);
        }
}

static int collect(void *userdata, const struct fl_agent_ctx *ctx, struct fl_emit *emit)
{
        struct net_dev_state *s = userdata;
        _cleanup_net_dev_ struct proc_net_dev_line *lines = NULL;
        _cleanup_free_ struct nic_reading *cur = NULL;
        struct fl_thresholds defaults;
        const struct fl_thresholds *t = ctx->thresholds;
        size_t n_lines = 0, n_cur = 0;
        uint64_t dt_us = 0;
        int r;

        if (!t) {
                fl_thresholds_defaults(&defaults);
                t = &defaults;
        }
        r = read_net_dev(s, ctx->procfs, &lines, &n_lines);
        if (r < 0)
                return r;
        s->cycle++;

        /* A wall clock that stepped back gives no usable interval: this
         * reading only becomes the new baseline. */
        if (s->n_prev > 0 && ctx->now_us > s->prev_us)
                dt_us = ctx->now_us - s->prev_us;

        cur = fl_new0(struct nic_reading, n_lines);
        for (size_t i = 0; i < n_lines; i++) {
                _cleanup_free_ char *key = NULL;
                struct nic_reading *c = &cur[n_cur];
                const struct nic_reading *p;

                if (fl_streq(lines[i].name, "lo"))
                        continue;
                c->dev = lines[i];
                read_sys_counters(s, ctx->sysfs, c);
                p = find_prev(s, c);
                if (p) {
                        c->physical = p->physical;
                        c->bond = p->bond;
                } else
                        classify(ctx->sysfs, c);
                /* The first reading of an interface gives no rate, hence
                 * no state either. */
                if (p && dt_us > 0) {
                        key = fl_asprintf("nic:%s/%s", ctx->hostname, c->dev.name);
                        emit_rates(emit, key, ctx->now_us, dt_us, p, c);
                        judge_errors(emit, key, (double)dt_us / 1e6, t->nic_error_warning_per_s, p, c);
                }
                n_cur++;
        }

        /* Interfaces that disappeared drop out here; new ones get their
         * baseline. */
        if (n_cur > 0)
                qsort(cur, n_cur, sizeof(*cur), compare_name);
        free(s->prev);
        s->prev = TAKE_PTR(cur);
        s->n_prev = n_cur;
        s->prev_us = ctx->now_us;
        drop_unseen(s);
        return 0;
}

const struct fl_collector proc_net_dev_collector = {
        .name = "proc_net_dev",
        .state_size = sizeof(struct net_dev_state),
        .init = init,
        .collect = collect,
        .fini = fini,
};
