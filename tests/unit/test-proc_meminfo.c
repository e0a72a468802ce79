/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fixture.h"

#include "collector.h"
#include "proc_meminfo.h"

#define T0 UINT64_C(1700000000000000) /* any fixed time: nothing reads the clock */
#define TEN_S UINT64_C(10000000)
#define KIB UINT64_C(1024)

extern const struct fl_collector proc_meminfo_collector;

/* Helpers */

static FILE *open_data(const char *rel)
{
        _cleanup_free_ char *path = fixture_data_path(rel);
        FILE *f = fopen(path, "re");

        if (!f)
                fail_msg("could not open \"%s\": %s", path, strerror(errno));
        return f;
}

/* Through a temporary file: it takes a zero size and NUL bytes. */
static FILE *open_bytes(const char *s, size_t len)
{
        FILE *f = tmpfile();

        assert_non_null(f);
        assert_int_equal(fwrite(s, 1, len, f), len);
        rewind(f);
        return f;
}

static int parse_meminfo_string(const char *s, struct proc_meminfo *ret)
{
        _cleanup_fclose_ FILE *f = open_bytes(s, strlen(s));
        return proc_meminfo_parse(f, ret);
}

static int parse_vmstat_string(const char *s, struct proc_meminfo_vmstat *ret)
{
        _cleanup_fclose_ FILE *f = open_bytes(s, strlen(s));
        return proc_meminfo_parse_vmstat(f, ret);
}

#define assert_near(a, b)                                                   \
        do {                                                                \
                double a_ = (a), b_ = (b);                                  \
                if (!(fabs(a_ - b_) <= 1e-9 * fmax(1.0, fabs(b_))))         \
                        fail_msg("%s = %.17g, expected %.17g", #a, a_, b_); \
        } while (0)

static const struct fl_esample *find_sample(const struct fl_emit *e, const char *key, const char *metric)
{
        const struct fl_esample *found = NULL;

        for (size_t i = 0; i < e->n_samples; i++) {
                const struct fl_eseries *s = &e->series[e->samples[i].series];
                if (!fl_streq(s->node_key, key) || !fl_streq(s->metric, metric))
                        continue;
                if (found)
                        fail_msg("two samples of %s %s", key, metric);
                found = &e->samples[i];
        }
        return found;
}

static double sample(const struct fl_emit *e, const char *key, const char *metric, const char *unit, uint64_t time_us)
{
        const struct fl_esample *s = find_sample(e, key, metric);

        if (!s)
                fail_msg("no sample of %s %s", key, metric);
        assert_string_equal(e->series[s->series].unit, unit);
        assert_int_equal(s->time_us, time_us);
        return s->value;
}

static int setup_root(void **state)
{
        *state = fixture_tmp_root("/tmp/fl-test-meminfo-XXXXXX");
        return 0;
}

static void write_meminfo(const char *root, uint64_t total_kb, uint64_t avail_kb, uint64_t swap_total_kb,
                          uint64_t swap_free_kb)
{
        _cleanup_free_ char *text = fl_asprintf("MemTotal:       %8" PRIu64 " kB\n"
                                                "MemFree:          301223 kB\n"
                                                "MemAvailable:   %8" PRIu64 " kB\n"
                                                "Buffers:          120334 kB\n"
                                                "SwapTotal:      %8" PRIu64 " kB\n"
                                                "SwapFree:       %8" PRIu64 " kB\n"
                                                "HugePages_Total:       0\n",
                                                total_kb, avail_kb, swap_total_kb, swap_free_kb);
        fixture_write_file(root, "proc/meminfo", text);
}

static void write_vmstat(const char *root, uint64_t pswpin, uint64_t pswpout, uint64_t pgmajfault)
{
        _cleanup_free_ char *text = fl_asprintf("nr_free_pages 75305\n"
                                                "pswpin %" PRIu64 "\n"
                                                "pswpout %" PRIu64 "\n"
                                                "pgfault 123456789\n"
                                                "pgmajfault %" PRIu64 "\n",
                                                pswpin, pswpout, pgmajfault);
        fixture_write_file(root, "proc/vmstat", text);
}

struct run {
        struct fl_agent_ctx ctx;
        struct fl_thresholds thresholds;
        char *procfs;
        void *state;
        struct fl_emit emit;
};

static void run_init(struct run *r, const char *host, const char *procfs)
{
        *r = (struct run){ 0 };
        fl_thresholds_defaults(&r->thresholds);
        r->procfs = fl_strdup(procfs);
        r->ctx = (struct fl_agent_ctx){ .hostname = host,
                                        .rootfs = "/nonexistent",
                                        .procfs = r->procfs,
                                        .sysfs = "/nonexistent",
                                        .devfs = "/nonexistent",
                                        .now_us = T0,
                                        .interval_us = TEN_S,
                                        .thresholds = &r->thresholds };
        r->state = fl_malloc0(proc_meminfo_collector.state_size);
        assert_int_equal(proc_meminfo_collector.init(r->state, &r->ctx), 0);
}

static int run_cycle(struct run *r, uint64_t now_us)
{
        fl_emit_reset(&r->emit);
        r->ctx.now_us = now_us;
        return proc_meminfo_collector.collect(r->state, &r->ctx, &r->emit);
}

static void run_done(struct run *r)
{
        proc_meminfo_collector.fini(r->state);
        free(r->state);
        free(r->procfs);
        fl_emit_free(&r->emit);
}

/* Parsers */

static void test_parse_meminfo_fixture(void **unused)
{
        _cleanup_fclose_ FILE *f = open_data("hosts/nvme/proc/meminfo");
        struct proc_meminfo m;

        (void)unused;
        assert_int_equal(proc_meminfo_parse(f, &m), 0);
        assert_int_equal(m.total_bytes, 7990340 * KIB);
        assert_int_equal(m.free_bytes, 301223 * KIB);
        assert_int_equal(m.available_bytes, 3122166 * KIB);
        assert_true(m.has_available);
        assert_int_equal(m.buffers_bytes, 120334 * KIB);
        assert_int_equal(m.cached_bytes, 3120334 * KIB);
        assert_int_equal(m.swap_total_bytes, 4194300 * KIB);
        assert_int_equal(m.swap_free_bytes, 4132860 * KIB);
}

static void test_parse_meminfo_old_kernel(void **unused)
{
        struct proc_meminfo m;

        (void)unused;
        /* Before 3.14: no MemAvailable, estimated. */
        assert_int_equal(parse_meminfo_string("MemTotal:        1000 kB\n"
                                              "MemFree:          100 kB\n"
                                              "Buffers:           20 kB\n"
                                              "Cached:           300 kB\n"
                                              "SwapCached:         0 kB\n",
                                              &m),
                         0);
        assert_false(m.has_available);
        assert_int_equal(m.available_bytes, 420 * KIB);
        assert_int_equal(m.swap_total_bytes, 0);

        /* The estimate never exceeds the total. */
        assert_int_equal(parse_meminfo_string("MemTotal: 100 kB\nMemFree: 90 kB\nCached: 50 kB\n", &m), 0);
        assert_int_equal(m.available_bytes, 100 * KIB);
}

static void test_parse_meminfo_malformed(void **unused)
{
        static const char *const bad[] = {
                "MemTotal: 1000 kB\n", /* no MemFree */
                "MemFree: 1000 kB\n", /* no MemTotal */
                "", /* nothing */
                "MemTotal 1000 kB\nMemFree: 1 kB\n", /* no colon */
                "MemTotal: kB\nMemFree: 1 kB\n", /* no number */
                "MemTotal: -1 kB\nMemFree: 1 kB\n", /* a sign */
                "MemTotal: 1000 MB\nMemFree: 1 kB\n", /* another unit */
                "MemTotal: 1000 kB extra\nMemFree: 1 kB\n", /* one field too many */
                "MemTotal:\nMemFree: 1 kB\n", /* nothing after the key */
                ": 1000 kB\nMemTotal: 1000 kB\nMemFree: 1 kB\n", /* no key */
                "MemTotal: 1000 kB\nMemFree: 1 kB", /* truncated */
                "MemTotal: 1000 kB\nMemFree: 1x kB\n", /* junk */
                "MemTotal: 18446744073709551616 kB\nMemFree: 1 kB\n", /* overflows 64 bits */
        };
        struct proc_meminfo m = { .total_bytes = 4242 };

        (void)unused;
        for (size_t i = 0; i < FL_ARRAY_SIZE(bad); i++) {
                int r = parse_meminfo_string(bad[i], &m);
                if (r != -EBADMSG)
                        fail_msg("\"%s\": %d, expected -EBADMSG", bad[i], r);
        }
        /* A value in kB whose bytes overflow 64 bits. */
        assert_int_equal(parse_meminfo_string("MemTotal: 18014398509481984 kB\nMemFree: 1 kB\n", &m), -E2BIG);
        assert_int_equal(parse_meminfo_string("MemTotal: 18014398509481983 kB\nMemFree: 1 kB\n", &m), 0);
        m.total_bytes = 4242;

        /* A NUL byte inside a line. */
        {
                static const char nul[] = "MemTotal: 1000 kB\nMemFree:\0 1 kB\n";
                _cleanup_fclose_ FILE *f = open_bytes(nul, sizeof(nul) - 1);
                assert_int_equal(proc_meminfo_parse(f, &m), -EBADMSG);
        }
        assert_int_equal(m.total_bytes, 4242);
}

static void test_parse_meminfo_ceilings(void **unused)
{
        _cleanup_free_ char *text = NULL;
        struct proc_meminfo m;
        size_t len = 0, cap = 0;

        (void)unused;
        /* A line of exactly the longest length parses; one more does not. */
        {
                char line[PROC_MEMINFO_MAX_LINE_LEN + 8];
                size_t pad = PROC_MEMINFO_MAX_LINE_LEN - strlen("MemTotal: 1 kB");
                _cleanup_free_ char *ok = NULL, *long_ = NULL;

                snprintf(line, sizeof(line), "MemTotal:%*s 1 kB", (int)pad, "");
                assert_int_equal(strlen(line), PROC_MEMINFO_MAX_LINE_LEN);
                ok = fl_asprintf("%s\nMemFree: 1 kB\n", line);
                assert_int_equal(parse_meminfo_string(ok, &m), 0);
                assert_int_equal(m.total_bytes, KIB);
                snprintf(line, sizeof(line), "MemTotal:%*s 1 kB", (int)pad + 1, "");
                long_ = fl_asprintf("%s\nMemFree: 1 kB\n", line);
                assert_int_equal(parse_meminfo_string(long_, &m), -E2BIG);
        }

        /* As many lines as allowed, then one more. */
        for (size_t i = 0; i < PROC_MEMINFO_MAX_LINES; i++) {
                const char *l = i == 0 ? "MemTotal: 1 kB\n" : "MemFree: 2 kB\n";
                text = fl_grow(text, &cap, len + strlen(l) + 1, 1);
                memcpy(text + len, l, strlen(l) + 1);
                len += strlen(l);
        }
        assert_int_equal(parse_meminfo_string(text, &m), 0);
        text = fl_grow(text, &cap, len + 32, 1);
        memcpy(text + len, "Cached: 3 kB\n", 14);
        assert_int_equal(parse_meminfo_string(text, &m), -E2BIG);
}

static void test_parse_vmstat(void **unused)
{
        struct proc_meminfo_vmstat v;

        (void)unused;
        {
                _cleanup_fclose_ FILE *f = open_data("hosts/nvme/proc/vmstat");
                assert_int_equal(proc_meminfo_parse_vmstat(f, &v), 0);
        }
        assert_true(v.has_swap);
        assert_true(v.has_pgmajfault);
        assert_int_equal(v.pswpin, 53210);
        assert_int_equal(v.pswpout, 98765);
        assert_int_equal(v.pgmajfault, 61223);

        /* CONFIG_SWAP=n: no swap counters. */
        assert_int_equal(parse_vmstat_string("nr_free_pages 1\npgmajfault 5\n", &v), 0);
        assert_false(v.has_swap);
        assert_true(v.has_pgmajfault);
        assert_int_equal(v.pgmajfault, 5);
        assert_int_equal(parse_vmstat_string("pswpin 1\n", &v), 0);
        assert_false(v.has_swap);
        assert_false(v.has_pgmajfault);

        static const char *const bad[] = {
                "pswpin\n", "pswpin 1 2\n", "pswpin x\n", "pswpin -1\n", "pswpin 1", "pswpin 99999999999999999999\n",
        };
        for (size_t i = 0; i < FL_ARRAY_SIZE(bad); i++)
                if (parse_vmstat_string(bad[i], &v) != -EBADMSG)
                        fail_msg("\"%s\" parsed", bad[i]);
}

/* Collector */

static void test_collect_fixture(void **unused)
{
        _cleanup_free_ char *procfs = fixture_data_path("hosts/nvme/proc");
        struct run r;

        (void)unused;
        run_init(&r, "nvmehost", procfs);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_near(sample(&r.emit, "host:nvmehost", "mem.total_bytes", "B", T0), 7990340.0 * 1024);
        assert_near(sample(&r.emit, "host:nvmehost", "mem.available_bytes", "B", T0), 3122166.0 * 1024);
        assert_near(sample(&r.emit, "host:nvmehost", "mem.available_pct", "%", T0), 3122166.0 * 100 / 7990340);
        /* = the zram swap's "Used" in /proc/swaps */
        assert_near(sample(&r.emit, "host:nvmehost", "swap.used_bytes", "B", T0), 61440.0 * 1024);
        /* One reading: no rates. */
        assert_null(find_sample(&r.emit, "host:nvmehost", "swap.in_pages_per_s"));
        assert_null(find_sample(&r.emit, "host:nvmehost", "swap.out_pages_per_s"));
        assert_null(find_sample(&r.emit, "host:nvmehost", "mem.major_faults_per_s"));
        assert_int_equal(r.emit.n_samples, 4);
        assert_int_equal(r.emit.n_nodes, 0);
        assert_int_equal(r.emit.n_states, 0);

        /* Same files again 10 s later: rates of zero. */
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_near(sample(&r.emit, "host:nvmehost", "swap.in_pages_per_s", "1/s", T0 + TEN_S), 0);
        assert_near(sample(&r.emit, "host:nvmehost", "swap.out_pages_per_s", "1/s", T0 + TEN_S), 0);
        assert_near(sample(&r.emit, "host:nvmehost", "mem.major_faults_per_s", "1/s", T0 + TEN_S), 0);
        assert_int_equal(r.emit.n_samples, 7);
        assert_int_equal(r.emit.n_states, 0);
        run_done(&r);
}

static void test_collect_rates(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        struct run r;

        write_meminfo(root, 8000000, 2000000, 1000000, 750000);
        write_vmstat(root, 1000, 2000, 500);
        run_init(&r, "h", procfs);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_near(sample(&r.emit, "host:h", "mem.available_pct", "%", T0), 25.0);
        assert_near(sample(&r.emit, "host:h", "swap.used_bytes", "B", T0), 250000.0 * 1024);
        assert_null(find_sample(&r.emit, "host:h", "swap.in_pages_per_s"));

        /* In place, under the open descriptors: 10 s later. */
        write_meminfo(root, 8000000, 4000000, 1000000, 1000000);
        write_vmstat(root, 1500, 2000 + 12345, 700);
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_near(sample(&r.emit, "host:h", "mem.available_pct", "%", T0 + TEN_S), 50.0);
        assert_near(sample(&r.emit, "host:h", "swap.used_bytes", "B", T0 + TEN_S), 0);
        assert_near(sample(&r.emit, "host:h", "swap.in_pages_per_s", "1/s", T0 + TEN_S), 50.0);
        assert_near(sample(&r.emit, "host:h", "swap.out_pages_per_s", "1/s", T0 + TEN_S), 1234.5);
        assert_near(sample(&r.emit, "host:h", "mem.major_faults_per_s", "1/s", T0 + TEN_S), 20.0);

        /* 32-bit kernel: the counters wrap at 2^32. */
        write_vmstat(root, UINT32_MAX - 99, 14345, 700);
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), 0);
        write_vmstat(root, 100, 14345, 700);
        assert_int_equal(run_cycle(&r, T0 + 3 * TEN_S), 0);
        assert_near(sample(&r.emit, "host:h", "swap.in_pages_per_s", "1/s", T0 + 3 * TEN_S), 20.0);

        /* The clock stepped back: no rates, a new baseline. */
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_null(find_sample(&r.emit, "host:h", "swap.in_pages_per_s"));
        assert_non_null(find_sample(&r.emit, "host:h", "mem.total_bytes"));
        write_vmstat(root, 200, 14345, 700);
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), 0);
        assert_near(sample(&r.emit, "host:h", "swap.in_pages_per_s", "1/s", T0 + 2 * TEN_S), 10.0);

        /* Swap counters that disappear: no swap rates, the rest goes on. */
        fixture_write_file(root, "proc/vmstat", "pgmajfault 800\n");
        assert_int_equal(run_cycle(&r, T0 + 3 * TEN_S), 0);
        assert_null(find_sample(&r.emit, "host:h", "swap.in_pages_per_s"));
        assert_near(sample(&r.emit, "host:h", "mem.major_faults_per_s", "1/s", T0 + 3 * TEN_S), 10.0);
        run_done(&r);
}

static void test_collect_errors(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        struct run r;

        run_init(&r, "h", procfs);
        assert_int_equal(run_cycle(&r, T0), -ENOENT);
        write_meminfo(root, 1000, 500, 0, 0);
        assert_int_equal(run_cycle(&r, T0 + TEN_S), -ENOENT); /* vmstat still missing */
        write_vmstat(root, 1, 2, 3);
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), 0);
        fixture_write_file(root, "proc/meminfo", "MemTotal: 1000 kB\n");
        assert_int_equal(run_cycle(&r, T0 + 3 * TEN_S), -EBADMSG);
        fixture_write_file(root, "proc/meminfo", "");
        assert_int_equal(run_cycle(&r, T0 + 4 * TEN_S), -EBADMSG);
        write_meminfo(root, 1000, 500, 0, 0);
        assert_int_equal(run_cycle(&r, T0 + 5 * TEN_S), 0);
        /* The baseline of T0 + 2 * TEN_S is still there: 3 readings apart. */
        assert_near(sample(&r.emit, "host:h", "swap.in_pages_per_s", "1/s", T0 + 5 * TEN_S), 0);
        run_done(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_meminfo_fixture),
                cmocka_unit_test(test_parse_meminfo_old_kernel),
                cmocka_unit_test(test_parse_meminfo_malformed),
                cmocka_unit_test(test_parse_meminfo_ceilings),
                cmocka_unit_test(test_parse_vmstat),
                cmocka_unit_test(test_collect_fixture),
                cmocka_unit_test_setup_teardown(test_collect_rates, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_errors, setup_root, fixture_teardown_root),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
