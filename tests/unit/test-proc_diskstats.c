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
#include "proc_diskstats.h"

#define T0 UINT64_C(1700000000000000) /* any fixed time: nothing reads the clock */
#define TEN_S UINT64_C(10000000)

extern const struct fl_collector proc_diskstats_collector;

/* Helpers */

static int parse_file(const char *rel, struct proc_diskstats_line **ret, size_t *ret_n)
{
        _cleanup_free_ char *path = fixture_data_path(rel);
        _cleanup_fclose_ FILE *f = fopen(path, "re");

        if (!f)
                fail_msg("could not open \"%s\": %s", path, strerror(errno));
        return proc_diskstats_parse(f, ret, ret_n);
}

static int parse_string(const char *s, struct proc_diskstats_line **ret, size_t *ret_n)
{
        /* fmemopen refuses a zero size on some libcs; an empty file is
         * covered by the empty.diskstats fixture. */
        _cleanup_fclose_ FILE *f = fmemopen((void *)s, strlen(s), "r");

        assert_non_null(f);
        return proc_diskstats_parse(f, ret, ret_n);
}

/* Parses s, expecting error r, and checks the outputs were left alone. */
static void assert_parse_fails(const char *s, int r)
{
        struct proc_diskstats_line *lines = (void *)0x1;
        size_t n = 4242;

        assert_int_equal(parse_string(s, &lines, &n), r);
        assert_ptr_equal(lines, (void *)0x1);
        assert_int_equal(n, 4242);
}

#define assert_near(a, b)                                                   \
        do {                                                                \
                double a_ = (a), b_ = (b);                                  \
                if (!(fabs(a_ - b_) <= 1e-9 * fmax(1.0, fabs(b_))))         \
                        fail_msg("%s = %.17g, expected %.17g", #a, a_, b_); \
        } while (0)

static size_t samples_of(const struct fl_emit *e, const char *key)
{
        size_t n = 0;

        for (size_t i = 0; i < e->n_samples; i++)
                if (fl_streq(e->series[e->samples[i].series].node_key, key))
                        n++;
        return n;
}

/* The value of the one sample of (key, metric), checking unit and time. */
static double sample(const struct fl_emit *e, const char *key, const char *metric, const char *unit, uint64_t time_us)
{
        const struct fl_esample *found = NULL;

        for (size_t i = 0; i < e->n_samples; i++) {
                const struct fl_eseries *s = &e->series[e->samples[i].series];
                if (!fl_streq(s->node_key, key) || !fl_streq(s->metric, metric))
                        continue;
                if (found)
                        fail_msg("two samples of %s %s", key, metric);
                found = &e->samples[i];
                assert_string_equal(s->unit, unit);
        }
        if (!found)
                fail_msg("no sample of %s %s", key, metric);
        assert_int_equal(found->time_us, time_us);
        return found->value;
}

/* Temporary roots for the cases the fixtures cannot hold (changing files). */

static char *tmp_root(void)
{
        return fixture_tmp_root("/tmp/fl-test-diskstats-XXXXXX");
}

/* As fixtures, so that the tree goes away even when a test fails. */
static int setup_root(void **state)
{
        *state = tmp_root();
        return 0;
}

static void make_dir(const char *root, const char *rel)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", root, rel);
        assert_int_equal(fl_mkdir_p(path, 0755), 0);
}

/* A block device in a temporary sysfs as the kernel lays it out: its
 * directory under devices/ with a "dev" file (a partition's inside its
 * disk's, with a "partition" file), and the class/block link to it. */
static void add_blockdev(const char *root, const char *devpath, const char *devnum, bool partition)
{
        _cleanup_free_ char *dev = fl_asprintf("sys/%s/dev", devpath);
        _cleanup_free_ char *content = fl_asprintf("%s\n", devnum);
        _cleanup_free_ char *link = fl_asprintf("%s/sys/class/block/%s", root, strrchr(devpath, '/') + 1);
        _cleanup_free_ char *target = fl_asprintf("../../%s", devpath);

        fixture_write_file(root, dev, content);
        if (partition) {
                _cleanup_free_ char *part = fl_asprintf("sys/%s/partition", devpath);
                fixture_write_file(root, part, "1\n");
        }
        make_dir(root, "sys/class/block");
        assert_int_equal(symlink(target, link), 0);
}

/* The block devices of hosts/plain, whose sysfs predates class/block. */
static void make_plain_sysfs(const char *root)
{
        add_blockdev(root, "devices/pci0000:00/0000:00:1f.2/ata1/block/sda", "8:0", false);
        add_blockdev(root, "devices/pci0000:00/0000:00:1f.2/ata1/block/sda/sda1", "8:1", true);
        add_blockdev(root, "devices/pci0000:00/0000:00:1f.2/ata1/block/sda/sda2", "8:2", true);
        add_blockdev(root, "devices/pci0000:00/0000:00:1f.2/ata2/block/sdb", "8:16", false);
        add_blockdev(root, "devices/virtual/block/md0", "9:0", false);
        make_dir(root, "sys/devices/virtual/block/md0/md");
        add_blockdev(root, "devices/virtual/block/dm-0", "253:0", false);
        fixture_write_file(root, "sys/devices/virtual/block/dm-0/dm/name", "vg0-root\n");
        add_blockdev(root, "devices/virtual/block/loop0", "7:0", false);
        add_blockdev(root, "devices/virtual/block/ram0", "1:0", false);
        add_blockdev(root, "devices/virtual/block/zram0", "252:0", false);
}

static char *ds_line(unsigned major, unsigned minor, const char *name, uint64_t reads, uint64_t sectors_written)
{
        return fl_asprintf("%4u %7u %s %" PRIu64 " 0 0 0 0 0 %" PRIu64 " 0 0 0 0\n", major, minor, name, reads,
                           sectors_written);
}

struct run {
        struct fl_agent_ctx ctx;
        void *state;
        struct fl_emit emit;
};

static void run_init(struct run *r, const char *procfs, const char *sysfs)
{
        *r = (struct run){ .ctx = { .hostname = "fixture01",
                                    .procfs = procfs,
                                    .sysfs = sysfs,
                                    .devfs = "/dev",
                                    .now_us = T0,
                                    .interval_us = TEN_S } };
        r->state = fl_malloc0(proc_diskstats_collector.state_size);
        assert_int_equal(proc_diskstats_collector.init(r->state, &r->ctx), 0);
}

static int run_cycle(struct run *r, uint64_t now_us)
{
        fl_emit_reset(&r->emit);
        r->ctx.now_us = now_us;
        return proc_diskstats_collector.collect(r->state, &r->ctx, &r->emit);
}

static void run_done(struct run *r)
{
        proc_diskstats_collector.fini(r->state);
        free(r->state);
        fl_emit_free(&r->emit);
}

/* Parser */

static void test_parse_linux_4_15(void **unused)
{
        struct proc_diskstats_line *l = NULL;
        size_t n = 0;

        (void)unused;
        assert_int_equal(parse_file("proc_diskstats/linux-4.15.diskstats", &l, &n), 0);
        assert_int_equal(n, 8);
        assert_string_equal(l[0].name, "loop0");
        assert_string_equal(l[3].name, "sda1");
        assert_string_equal(l[6].name, "sr0");

        assert_int_equal(l[2].major, 8);
        assert_int_equal(l[2].minor, 0);
        assert_string_equal(l[2].name, "sda");
        assert_int_equal(l[2].n_fields, 14);
        assert_int_equal(l[2].reads_completed, 2139811);
        assert_int_equal(l[2].reads_merged, 92435);
        assert_int_equal(l[2].sectors_read, 133217934);
        assert_int_equal(l[2].ms_reading, 1462036);
        assert_int_equal(l[2].writes_completed, 9181743);
        assert_int_equal(l[2].writes_merged, 6523881);
        assert_int_equal(l[2].sectors_written, 353948904);
        assert_int_equal(l[2].ms_writing, 23407292);
        assert_int_equal(l[2].ios_in_progress, 0);
        assert_int_equal(l[2].ms_doing_io, 5963540);
        assert_int_equal(l[2].weighted_ms_doing_io, 24903140);
        assert_int_equal(l[2].discards_completed, 0);
        assert_int_equal(l[2].flushes_completed, 0);
        assert_int_equal(l[2].ms_flushing, 0);

        assert_int_equal(l[5].minor, 16);
        assert_int_equal(l[5].ios_in_progress, 2);
        assert_int_equal(l[5].weighted_ms_doing_io, 2092916);
        assert_int_equal(l[7].major, 253);
        assert_string_equal(l[7].name, "dm-0");
        assert_int_equal(l[7].ms_writing, 147018532);
        proc_diskstats_free(l);
}

static void test_parse_linux_4_19(void **unused)
{
        struct proc_diskstats_line *l = NULL;
        size_t n = 0;

        (void)unused;
        assert_int_equal(parse_file("proc_diskstats/linux-4.19.diskstats", &l, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(l[0].n_fields, 18);
        assert_int_equal(l[0].weighted_ms_doing_io, 14358);
        assert_int_equal(l[0].discards_completed, 41);
        assert_int_equal(l[0].discards_merged, 0);
        assert_int_equal(l[0].sectors_discarded, 2097160);
        assert_int_equal(l[0].ms_discarding, 7);
        assert_int_equal(l[0].flushes_completed, 0);
        assert_int_equal(l[0].ms_flushing, 0);
        proc_diskstats_free(l);
}

static void test_parse_linux_5_15(void **unused)
{
        struct proc_diskstats_line *l = NULL;
        size_t n = 0;

        (void)unused;
        assert_int_equal(parse_file("proc_diskstats/linux-5.15.diskstats", &l, &n), 0);
        assert_int_equal(n, 6);
        assert_int_equal(l[1].major, 259);
        assert_int_equal(l[1].minor, 0);
        assert_string_equal(l[1].name, "nvme0n1");
        assert_int_equal(l[1].n_fields, 20);
        assert_int_equal(l[1].reads_completed, 1022765);
        assert_int_equal(l[1].reads_merged, 30164);
        assert_int_equal(l[1].sectors_read, 59125826);
        assert_int_equal(l[1].ms_reading, 178012);
        assert_int_equal(l[1].writes_completed, 4327417);
        assert_int_equal(l[1].writes_merged, 2683106);
        assert_int_equal(l[1].sectors_written, 213587562);
        assert_int_equal(l[1].ms_writing, 2946287);
        assert_int_equal(l[1].ios_in_progress, 1);
        assert_int_equal(l[1].ms_doing_io, 1653020);
        assert_int_equal(l[1].weighted_ms_doing_io, 3425467);
        assert_int_equal(l[1].discards_completed, 12433);
        assert_int_equal(l[1].discards_merged, 0);
        assert_int_equal(l[1].sectors_discarded, 904336704);
        assert_int_equal(l[1].ms_discarding, 1871);
        assert_int_equal(l[1].flushes_completed, 268453);
        assert_int_equal(l[1].ms_flushing, 301167);
        assert_string_equal(l[5].name, "dm-0");
        assert_int_equal(l[5].ms_discarding, 130448);
        proc_diskstats_free(l);
}

static void test_parse_empty(void **unused)
{
        struct proc_diskstats_line *l = (void *)0x1;
        size_t n = 4242;

        (void)unused;
        assert_int_equal(parse_file("proc_diskstats/empty.diskstats", &l, &n), 0);
        assert_null(l);
        assert_int_equal(n, 0);
}

static void test_parse_bad_fixtures(void **unused)
{
        static const struct {
                const char *file;
                int r;
        } cases[] = {
                { "proc_diskstats/malformed.diskstats", -EBADMSG },
                { "proc_diskstats/bad-field-count.diskstats", -EBADMSG },
                { "proc_diskstats/truncated.diskstats", -EBADMSG },
                { "proc_diskstats/overlong-line.diskstats", -E2BIG },
                { "proc_diskstats/long-name.diskstats", -E2BIG },
        };

        (void)unused;
        for (size_t i = 0; i < FL_ARRAY_SIZE(cases); i++) {
                struct proc_diskstats_line *l = (void *)0x1;
                size_t n = 4242;
                int r = parse_file(cases[i].file, &l, &n);
                if (r != cases[i].r)
                        fail_msg("%s: got %d, expected %d", cases[i].file, r, cases[i].r);
                assert_ptr_equal(l, (void *)0x1);
                assert_int_equal(n, 4242);
        }
}

static void test_parse_field_counts(void **unused)
{
        struct proc_diskstats_line *l = NULL;
        size_t n = 0;

        (void)unused;
        /* 13, 15, 16, 17, 19 columns: no kernel printed those */
        assert_parse_fails("8 0 sda 1 2 3 4 5 6 7 8 9 10\n", -EBADMSG);
        assert_parse_fails("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12\n", -EBADMSG);
        assert_parse_fails("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13\n", -EBADMSG);
        assert_parse_fails("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14\n", -EBADMSG);
        assert_parse_fails("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", -EBADMSG);
        assert_parse_fails("\n", -EBADMSG);

        /* past 20: a newer kernel appending counters, extra ones ignored */
        assert_int_equal(parse_string("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n", &l, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(l[0].n_fields, 22);
        assert_int_equal(l[0].reads_completed, 1);
        assert_int_equal(l[0].ms_flushing, 17);
        proc_diskstats_free(l);
        assert_parse_fails("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 x\n", -EBADMSG);

        /* tabs and runs of blanks separate fields too */
        assert_int_equal(parse_string("\t8\t 16  sdb 1 2 3 4 5 6 7 8 9 10 11\n", &l, &n), 0);
        assert_int_equal(l[0].minor, 16);
        assert_int_equal(l[0].weighted_ms_doing_io, 11);
        proc_diskstats_free(l);
}

static void test_parse_numbers(void **unused)
{
        struct proc_diskstats_line *l = NULL;
        size_t n = 0;

        (void)unused;
        assert_int_equal(parse_string("8 0 sda 18446744073709551615 2 3 4 5 6 7 8 9 10 11\n", &l, &n), 0);
        assert_true(l[0].reads_completed == UINT64_MAX);
        proc_diskstats_free(l);

        assert_parse_fails("8 0 sda 18446744073709551616 2 3 4 5 6 7 8 9 10 11\n", -EBADMSG);
        assert_parse_fails("8 0 sda -1 2 3 4 5 6 7 8 9 10 11\n", -EBADMSG);
        assert_parse_fails("8 0 sda +1 2 3 4 5 6 7 8 9 10 11\n", -EBADMSG);
        assert_parse_fails("8 0 sda 1 2 3 4 5 6 7 8 9 10 0x11\n", -EBADMSG);
        assert_parse_fails("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\r\n", -EBADMSG);
        assert_parse_fails("8 x sda 1 2 3 4 5 6 7 8 9 10 11\n", -EBADMSG);
        assert_parse_fails("4294967296 0 sda 1 2 3 4 5 6 7 8 9 10 11\n", -EBADMSG);
        /* a NUL byte inside a line */
        {
                static const char nul[] = "8 0 sda 1 2 3 4\0 5 6 7 8 9 10 11\n";
                _cleanup_fclose_ FILE *f = fmemopen((void *)nul, sizeof(nul) - 1, "r");
                assert_int_equal(proc_diskstats_parse(f, &l, &n), -EBADMSG);
        }
}

static void test_parse_names(void **unused)
{
        struct proc_diskstats_line *l = NULL;
        size_t n = 0;
        char name[80], line[200];

        (void)unused;
        memset(name, 'd', 63);
        name[63] = '\0';
        snprintf(line, sizeof(line), "8 0 %s 1 2 3 4 5 6 7 8 9 10 11\n", name);
        assert_int_equal(parse_string(line, &l, &n), 0);
        assert_string_equal(l[0].name, name);
        proc_diskstats_free(l);

        snprintf(line, sizeof(line), "8 0 %sd 1 2 3 4 5 6 7 8 9 10 11\n", name);
        assert_parse_fails(line, -E2BIG);
        assert_parse_fails("8 0 a/b 1 2 3 4 5 6 7 8 9 10 11\n", -EBADMSG);
        assert_parse_fails("8 0 .. 1 2 3 4 5 6 7 8 9 10 11\n", -EBADMSG);

        /* the kernel writes cciss/c0d0 as cciss!c0d0 */
        assert_int_equal(parse_string("104 0 cciss!c0d0 1 2 3 4 5 6 7 8 9 10 11\n", &l, &n), 0);
        assert_string_equal(l[0].name, "cciss!c0d0");
        proc_diskstats_free(l);
}

static void test_parse_truncated_last_line(void **unused)
{
        (void)unused;
        /* all columns there, but no newline: the last number may be cut */
        assert_parse_fails("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sdb 1 2 3 4 5 6 7 8 9 10 11", -EBADMSG);
        assert_parse_fails("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sdb 1 2 3", -EBADMSG);
}

/* "8 0 sda", blanks, then the counters: a line of exactly len characters. */
static char *padded_line(size_t len)
{
        static const char head[] = "8 0 sda", tail[] = " 1 2 3 4 5 6 7 8 9 10 11";
        char *line = fl_malloc(len + 2);

        assert_true(len >= strlen(head) + strlen(tail));
        memset(line, ' ', len);
        memcpy(line, head, strlen(head));
        memcpy(line + len - strlen(tail), tail, strlen(tail));
        line[len] = '\n';
        line[len + 1] = '\0';
        return line;
}

static void test_parse_line_length(void **unused)
{
        struct proc_diskstats_line *l = NULL;
        size_t n = 0;
        _cleanup_free_ char *longest = padded_line(PROC_DISKSTATS_MAX_LINE_LEN);
        _cleanup_free_ char *too_long = padded_line(PROC_DISKSTATS_MAX_LINE_LEN + 1);

        (void)unused;
        assert_int_equal(parse_string(longest, &l, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(l[0].name, "sda");
        assert_int_equal(l[0].weighted_ms_doing_io, 11);
        proc_diskstats_free(l);

        assert_parse_fails(too_long, -E2BIG);
}

static void test_parse_line_count(void **unused)
{
        struct proc_diskstats_line *l = NULL;
        size_t n = 0;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f;

        (void)unused;
        f = open_memstream(&buf, &len);
        assert_non_null(f);
        for (unsigned i = 0; i < PROC_DISKSTATS_MAX_LINES; i++)
                fprintf(f, "8 %u sd%u 1 2 3 4 5 6 7 8 9 10 %u\n", i, i, i);
        fclose(f);
        assert_int_equal(parse_string(buf, &l, &n), 0);
        assert_int_equal(n, PROC_DISKSTATS_MAX_LINES);
        assert_int_equal(l[4095].weighted_ms_doing_io, 4095);
        assert_string_equal(l[4095].name, "sd4095");
        proc_diskstats_free(l);

        {
                _cleanup_free_ char *more = fl_asprintf("%s8 4096 sdx 1 2 3 4 5 6 7 8 9 10 11\n", buf);
                assert_parse_fails(more, -E2BIG);
        }
}

/* Collector */

/* Two readings of a fixture tree 10 s apart: samples, never nodes. */
static void run_fixture_twice(struct run *r, const char *tree)
{
        /* freed by run_fixture_done() */
        char *procfs = fl_asprintf("%s/hosts/%s/proc", fixture_data_dir(), tree);
        char *sysfs = fl_asprintf("%s/hosts/%s/sys", fixture_data_dir(), tree);

        run_init(r, procfs, sysfs);
        assert_int_equal(run_cycle(r, T0), 0);
        /* the first cycle has nothing to compute rates against */
        assert_int_equal(r->emit.n_samples, 0);
        assert_int_equal(run_cycle(r, T0 + TEN_S), 0);
        /* sys_block owns the inventory */
        assert_int_equal(r->emit.n_nodes, 0);
        assert_int_equal(r->emit.n_edges, 0);
        assert_int_equal(r->emit.n_states, 0);
}

static void run_fixture_done(struct run *r)
{
        free((char *)r->ctx.procfs);
        free((char *)r->ctx.sysfs);
        run_done(r);
}

static void test_collect_keys(void **unused)
{
        static const char *const keys[] = {
                "disk:fixture01/sda", "partition:fixture01/sda1", "partition:fixture01/sda2",
                "disk:fixture01/sdb", "partition:fixture01/sdb1", "partition:fixture01/sdb2",
                "raid:fixture01/md0", "dm:fixture01/vg0-root",    "dm:fixture01/vg0-images",
        };
        struct run r;

        (void)unused;
        /* every device, keyed as sys_block keys its nodes: partitions, md,
         * dm by its dm name */
        run_fixture_twice(&r, "raid1-lvm");
        assert_int_equal(r.emit.n_samples, FL_ARRAY_SIZE(keys) * 8);
        for (size_t i = 0; i < FL_ARRAY_SIZE(keys); i++)
                assert_int_equal(samples_of(&r.emit, keys[i]), 8);
        /* the same file twice: idle */
        assert_near(sample(&r.emit, "dm:fixture01/vg0-images", "disk.write_iops", "1/s", T0 + TEN_S), 0.0);
        assert_near(sample(&r.emit, "partition:fixture01/sdb2", "disk.util_pct", "%", T0 + TEN_S), 0.0);
        assert_int_equal(samples_of(&r.emit, "dm:fixture01/dm-0"), 0);
        run_fixture_done(&r);
}

static void test_collect_skips_virtual(void **unused)
{
        static const char *const keys[] = {
                "disk:fixture01/nvme0n1",
                "partition:fixture01/nvme0n1p1",
                "partition:fixture01/nvme0n1p2",
                "disk:fixture01/nvme1n1",
                "disk:fixture01/vda",
        };
        struct run r;

        (void)unused;
        /* no loop0, loop1, zram0 */
        run_fixture_twice(&r, "nvme");
        assert_int_equal(r.emit.n_samples, FL_ARRAY_SIZE(keys) * 8);
        for (size_t i = 0; i < FL_ARRAY_SIZE(keys); i++)
                assert_int_equal(samples_of(&r.emit, keys[i]), 8);
        assert_near(sample(&r.emit, "disk:fixture01/nvme1n1", "disk.queue_depth", "1", T0 + TEN_S), 0.0);
        run_fixture_done(&r);
}

static void test_collect_rates(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fl_asprintf("%s/sys", root);
        const char *sda = "disk:fixture01/sda", *sdb = "disk:fixture01/sdb", *sda1 = "partition:fixture01/sda1";
        const char *md0 = "raid:fixture01/md0", *dm = "dm:fixture01/vg0-root";
        const uint64_t t1 = T0 + TEN_S, t2 = T0 + 2 * TEN_S;
        struct run r;

        make_plain_sysfs(root);
        fixture_copy_data_file("hosts/plain/proc/diskstats", root, "proc/diskstats");
        run_init(&r, procfs, sysfs);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_samples, 0);

        fixture_copy_data_file("hosts/plain-later/proc/diskstats", root, "proc/diskstats");
        assert_int_equal(run_cycle(&r, t1), 0);
        assert_int_equal(r.emit.n_nodes, 0);
        /* sda, sda1, sda2, sdb, md0, dm-0 */
        assert_int_equal(r.emit.n_samples, 6 * 8);

        assert_near(sample(&r.emit, sda, "disk.read_iops", "1/s", t1), 100.0);
        assert_near(sample(&r.emit, sda, "disk.write_iops", "1/s", t1), 50.0);
        assert_near(sample(&r.emit, sda, "disk.read_bytes_per_s", "B/s", t1), 1024000.0);
        assert_near(sample(&r.emit, sda, "disk.write_bytes_per_s", "B/s", t1), 409600.0);
        assert_near(sample(&r.emit, sda, "disk.read_await_ms", "ms", t1), 2.5);
        assert_near(sample(&r.emit, sda, "disk.write_await_ms", "ms", t1), 8.0);
        assert_near(sample(&r.emit, sda, "disk.util_pct", "%", t1), 25.0);
        assert_near(sample(&r.emit, sda, "disk.queue_depth", "1", t1), 3.0);

        /* partitions have rates of their own: 10 reads, 100 sectors */
        assert_near(sample(&r.emit, sda1, "disk.read_iops", "1/s", t1), 1.0);
        assert_near(sample(&r.emit, sda1, "disk.read_bytes_per_s", "B/s", t1), 5120.0);
        assert_near(sample(&r.emit, sda1, "disk.read_await_ms", "ms", t1), 0.2);
        assert_near(sample(&r.emit, sda1, "disk.write_iops", "1/s", t1), 0.0);
        assert_int_equal(samples_of(&r.emit, "partition:fixture01/sda2"), 8);

        /* idle: zero rates, and no division by zero for the await times */
        assert_near(sample(&r.emit, sdb, "disk.read_iops", "1/s", t1), 0.0);
        assert_near(sample(&r.emit, sdb, "disk.write_iops", "1/s", t1), 0.0);
        assert_near(sample(&r.emit, sdb, "disk.read_bytes_per_s", "B/s", t1), 0.0);
        assert_near(sample(&r.emit, sdb, "disk.write_bytes_per_s", "B/s", t1), 0.0);
        assert_near(sample(&r.emit, sdb, "disk.read_await_ms", "ms", t1), 0.0);
        assert_near(sample(&r.emit, sdb, "disk.write_await_ms", "ms", t1), 0.0);
        assert_near(sample(&r.emit, sdb, "disk.util_pct", "%", t1), 0.0);
        assert_near(sample(&r.emit, sdb, "disk.queue_depth", "1", t1), 0.0);

        /* md accounts no time: reads but zero await */
        assert_near(sample(&r.emit, md0, "disk.read_iops", "1/s", t1), 25.0);
        assert_near(sample(&r.emit, md0, "disk.read_bytes_per_s", "B/s", t1), 204800.0);
        assert_near(sample(&r.emit, md0, "disk.read_await_ms", "ms", t1), 0.0);
        assert_near(sample(&r.emit, md0, "disk.write_iops", "1/s", t1), 0.0);

        /* samples are keyed by the dm name; busy time past the interval is
         * capped at 100 % */
        assert_near(sample(&r.emit, dm, "disk.read_iops", "1/s", t1), 100.1);
        assert_near(sample(&r.emit, dm, "disk.read_await_ms", "ms", t1), 3.0);
        assert_near(sample(&r.emit, dm, "disk.write_iops", "1/s", t1), 0.7);
        assert_near(sample(&r.emit, dm, "disk.write_await_ms", "ms", t1), 1.0 / 7.0);
        assert_near(sample(&r.emit, dm, "disk.read_bytes_per_s", "B/s", t1), 8008.0 * 512 / 10);
        assert_near(sample(&r.emit, dm, "disk.write_bytes_per_s", "B/s", t1), 56.0 * 512 / 10);
        assert_near(sample(&r.emit, dm, "disk.util_pct", "%", t1), 100.0);
        assert_near(sample(&r.emit, dm, "disk.queue_depth", "1", t1), 1.0);

        /* no loop, ram, zram, under any kind */
        assert_int_equal(samples_of(&r.emit, "disk:fixture01/loop0"), 0);
        assert_int_equal(samples_of(&r.emit, "virtual:fixture01/loop0"), 0);
        assert_int_equal(samples_of(&r.emit, "virtual:fixture01/zram0"), 0);
        assert_int_equal(samples_of(&r.emit, "disk:fixture01/sda1"), 0);
        assert_int_equal(samples_of(&r.emit, "dm:fixture01/dm-0"), 0);

        /* unchanged counters: rates drop to 0, queue depth stays */
        assert_int_equal(run_cycle(&r, t2), 0);
        assert_near(sample(&r.emit, sda, "disk.read_iops", "1/s", t2), 0.0);
        assert_near(sample(&r.emit, sda, "disk.util_pct", "%", t2), 0.0);
        assert_near(sample(&r.emit, sda, "disk.read_await_ms", "ms", t2), 0.0);
        assert_near(sample(&r.emit, sda, "disk.queue_depth", "1", t2), 3.0);

        run_done(&r);
}

static void test_collect_keeps_file_open(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fl_asprintf("%s/sys", root);
        _cleanup_free_ char *file = fl_asprintf("%s/proc/diskstats", root);
        struct run r;

        make_plain_sysfs(root);
        fixture_copy_data_file("hosts/plain/proc/diskstats", root, "proc/diskstats");
        run_init(&r, procfs, sysfs);
        assert_int_equal(run_cycle(&r, T0), 0);

        /* the descriptor from the first cycle is read again, not the path */
        assert_int_equal(unlink(file), 0);
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_int_equal(r.emit.n_samples, 6 * 8);
        assert_near(sample(&r.emit, "disk:fixture01/sda", "disk.read_iops", "1/s", T0 + TEN_S), 0.0);

        run_done(&r);
}

static void test_collect_caches_identification(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fl_asprintf("%s/sys", root);
        _cleanup_free_ char *z = ds_line(8, 32, "sdz", 100, 0);
        struct run r;

        make_plain_sysfs(root);
        fixture_copy_data_file("hosts/plain/proc/diskstats", root, "proc/diskstats");
        run_init(&r, procfs, sysfs);
        assert_int_equal(run_cycle(&r, T0), 0);

        /* the same devices: identified once, sysfs is not looked at again */
        assert_int_equal(nftw(sysfs, fixture_rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_int_equal(r.emit.n_samples, 6 * 8);
        assert_int_equal(samples_of(&r.emit, "dm:fixture01/vg0-root"), 8);

        /* a new device: it is identified (and, not in sysfs, skipped); the
         * others keep their keys */
        {
                _cleanup_free_ char *buf = NULL;
                _cleanup_free_ char *path = fixture_data_path("hosts/plain/proc/diskstats");
                _cleanup_free_ char *c = NULL;

                assert_int_equal(fl_read_file(path, 1 << 20, &buf, NULL), 0);
                c = fl_asprintf("%s%s", buf, z);
                fixture_write_file(root, "proc/diskstats", c);
        }
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), 0);
        assert_int_equal(r.emit.n_samples, 6 * 8);
        assert_int_equal(samples_of(&r.emit, "partition:fixture01/sda2"), 8);
        assert_int_equal(samples_of(&r.emit, "disk:fixture01/sdz"), 0);

        /* ... until it shows up in sysfs: tried again every cycle, then
         * sampled from its first baseline */
        add_blockdev(root, "devices/sdz", "8:32", false);
        assert_int_equal(run_cycle(&r, T0 + 3 * TEN_S), 0);
        assert_int_equal(samples_of(&r.emit, "disk:fixture01/sdz"), 0);
        assert_int_equal(run_cycle(&r, T0 + 4 * TEN_S), 0);
        assert_near(sample(&r.emit, "disk:fixture01/sdz", "disk.read_iops", "1/s", T0 + 4 * TEN_S), 0.0);
        assert_int_equal(r.emit.n_samples, 7 * 8);

        run_done(&r);
}

static void test_collect_dm_rename(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fl_asprintf("%s/sys", root);
        uint64_t t = T0;
        struct run r;

        make_plain_sysfs(root);
        fixture_copy_data_file("hosts/plain/proc/diskstats", root, "proc/diskstats");
        run_init(&r, procfs, sysfs);
        assert_int_equal(run_cycle(&r, t), 0);

        /* lvrename: same dm-0, same number, same diskstats line; the new
         * name shows in the keys once every device is identified again */
        fixture_write_file(root, "sys/devices/virtual/block/dm-0/dm/name", "vg0-system\n");
        for (unsigned i = 2; i < 60; i++) {
                assert_int_equal(run_cycle(&r, t += TEN_S), 0);
                assert_int_equal(samples_of(&r.emit, "dm:fixture01/vg0-root"), 8);
        }
        assert_int_equal(run_cycle(&r, t += TEN_S), 0);
        assert_int_equal(samples_of(&r.emit, "dm:fixture01/vg0-root"), 0);
        assert_int_equal(samples_of(&r.emit, "dm:fixture01/vg0-system"), 8);
        assert_int_equal(r.emit.n_samples, 6 * 8);

        run_done(&r);
}

static void test_collect_wraparound(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fl_asprintf("%s/sys", root);
        _cleanup_free_ char *a = ds_line(8, 0, "sdz", UINT64_C(4294967000), UINT64_C(18446744073709551000));
        _cleanup_free_ char *b = ds_line(8, 0, "sdz", 704, 384);
        struct run r;

        add_blockdev(root, "devices/sdz", "8:0", false);
        add_blockdev(root, "devices/virtual/block/dm-7", "253:7", false);
        make_dir(root, "sys/devices/virtual/block/dm-7/dm"); /* no dm/name: falls back to dm-7 */
        {
                _cleanup_free_ char *c1 = fl_asprintf("%s 253 7 dm-7 5 0 0 0 0 0 0 0 0 0 0\n", a);
                fixture_write_file(root, "proc/diskstats", c1);
        }
        run_init(&r, procfs, sysfs);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_nodes, 0);
        assert_int_equal(r.emit.n_samples, 0);

        {
                /* reads wrapped at 2^32 (296 + 704), sectors written at 2^64
                 * (615 + 1 + 384); dm-7 keys its samples by kernel name */
                _cleanup_free_ char *c2 = fl_asprintf("%s 253 7 dm-7 15 0 0 0 0 0 0 0 0 0 0\n", b);
                fixture_write_file(root, "proc/diskstats", c2);
        }
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_near(sample(&r.emit, "disk:fixture01/sdz", "disk.read_iops", "1/s", T0 + TEN_S), 100.0);
        assert_near(sample(&r.emit, "disk:fixture01/sdz", "disk.write_bytes_per_s", "B/s", T0 + TEN_S), 51200.0);
        assert_near(sample(&r.emit, "dm:fixture01/dm-7", "disk.read_iops", "1/s", T0 + TEN_S), 1.0);

        run_done(&r);
}

static void test_collect_devices_come_and_go(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fl_asprintf("%s/sys", root);
        _cleanup_free_ char *z1 = ds_line(8, 0, "sdz", 100, 0), *z2 = ds_line(8, 0, "sdz", 200, 0);
        _cleanup_free_ char *y1 = ds_line(8, 16, "sdy", 1000, 0), *y2 = ds_line(8, 16, "sdy", 2000, 0);
        _cleanup_free_ char *y3 = ds_line(65, 16, "sdy", 3000, 0), *z3 = ds_line(8, 0, "sdz", 300, 0);
        _cleanup_free_ char *y4 = ds_line(65, 16, "sdy", 3100, 0), *z4 = ds_line(8, 0, "sdz", 400, 0);
        struct run r;

        add_blockdev(root, "devices/sdz", "8:0", false);
        add_blockdev(root, "devices/sdy", "8:16", false);
        fixture_write_file(root, "proc/diskstats", z1);
        run_init(&r, procfs, sysfs);
        assert_int_equal(run_cycle(&r, T0), 0);

        /* sdy appears: no rate before it has a baseline */
        {
                _cleanup_free_ char *c = fl_asprintf("%s%s", z2, y1);
                fixture_write_file(root, "proc/diskstats", c);
        }
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_int_equal(r.emit.n_samples, 8);
        assert_near(sample(&r.emit, "disk:fixture01/sdz", "disk.read_iops", "1/s", T0 + TEN_S), 10.0);
        assert_int_equal(samples_of(&r.emit, "disk:fixture01/sdy"), 0);

        /* sdz goes away and is forgotten */
        fixture_write_file(root, "proc/diskstats", y2);
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), 0);
        assert_int_equal(r.emit.n_samples, 8);
        assert_near(sample(&r.emit, "disk:fixture01/sdy", "disk.read_iops", "1/s", T0 + 2 * TEN_S), 100.0);

        /* sdz is back, and sdy is another device under the same name,
         * which sysfs does not show yet: no samples at all */
        {
                _cleanup_free_ char *c = fl_asprintf("%s%s", z3, y3);
                fixture_write_file(root, "proc/diskstats", c);
        }
        assert_int_equal(run_cycle(&r, T0 + 3 * TEN_S), 0);
        assert_int_equal(r.emit.n_samples, 0);

        /* once sysfs agrees, the new sdy is identified again and gets its
         * baseline; sdz has one already */
        fixture_write_file(root, "sys/devices/sdy/dev", "65:16\n");
        {
                _cleanup_free_ char *c = fl_asprintf("%s%s", z4, y4);
                fixture_write_file(root, "proc/diskstats", c);
        }
        assert_int_equal(run_cycle(&r, T0 + 4 * TEN_S), 0);
        assert_int_equal(r.emit.n_samples, 8);
        assert_near(sample(&r.emit, "disk:fixture01/sdz", "disk.read_iops", "1/s", T0 + 4 * TEN_S), 10.0);
        assert_int_equal(run_cycle(&r, T0 + 5 * TEN_S), 0);
        assert_int_equal(r.emit.n_samples, 16);
        assert_near(sample(&r.emit, "disk:fixture01/sdy", "disk.read_iops", "1/s", T0 + 5 * TEN_S), 0.0);

        run_done(&r);
}

static void test_collect_errors(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fl_asprintf("%s/sys", root);
        _cleanup_free_ char *z1 = ds_line(8, 0, "sdz", 100, 0), *z2 = ds_line(8, 0, "sdz", 300, 0);
        struct run r;

        add_blockdev(root, "devices/sdz", "8:0", false);
        run_init(&r, procfs, sysfs);
        assert_int_equal(run_cycle(&r, T0), -ENOENT);

        fixture_write_file(root, "proc/diskstats", z1);
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);

        /* a bad reading is an error and leaves the baseline alone */
        fixture_write_file(root, "proc/diskstats", "   8       0 sdz 1 2 3\n");
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), -EBADMSG);
        assert_int_equal(r.emit.n_nodes, 0);
        assert_int_equal(r.emit.n_samples, 0);
        fixture_write_file(root, "proc/diskstats", z2);
        assert_int_equal(run_cycle(&r, T0 + 3 * TEN_S), 0);
        assert_near(sample(&r.emit, "disk:fixture01/sdz", "disk.read_iops", "1/s", T0 + 3 * TEN_S), 10.0);

        /* a clock that went back gives no interval, only a new baseline */
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_samples, 0);
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_near(sample(&r.emit, "disk:fixture01/sdz", "disk.read_iops", "1/s", T0 + TEN_S), 0.0);

        run_done(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_linux_4_15),
                cmocka_unit_test(test_parse_linux_4_19),
                cmocka_unit_test(test_parse_linux_5_15),
                cmocka_unit_test(test_parse_empty),
                cmocka_unit_test(test_parse_bad_fixtures),
                cmocka_unit_test(test_parse_field_counts),
                cmocka_unit_test(test_parse_numbers),
                cmocka_unit_test(test_parse_names),
                cmocka_unit_test(test_parse_truncated_last_line),
                cmocka_unit_test(test_parse_line_length),
                cmocka_unit_test(test_parse_line_count),
                cmocka_unit_test(test_collect_keys),
                cmocka_unit_test(test_collect_skips_virtual),
                cmocka_unit_test_setup_teardown(test_collect_rates, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_keeps_file_open, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_caches_identification, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_dm_rename, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_wraparound, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_devices_come_and_go, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_errors, setup_root, fixture_teardown_root),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
