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
#include "proc_net_dev.h"

#define T0 UINT64_C(1700000000000000) /* any fixed time: nothing reads the clock */
#define TEN_S UINT64_C(10000000)

#define HEADER                                                                                                     \
        "Inter-|   Receive                                                |  Transmit\n"                           \
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls " \
        "carrier compressed\n"

extern const struct fl_collector proc_net_dev_collector;

/* Helpers */

static int parse_file(const char *rel, struct proc_net_dev_line **ret, size_t *ret_n)
{
        _cleanup_free_ char *path = fixture_data_path(rel);
        _cleanup_fclose_ FILE *f = fopen(path, "re");

        if (!f)
                fail_msg("could not open \"%s\": %s", path, strerror(errno));
        return proc_net_dev_parse(f, ret, ret_n);
}

static int parse_string(const char *s, struct proc_net_dev_line **ret, size_t *ret_n)
{
        _cleanup_fclose_ FILE *f = fmemopen((void *)s, strlen(s), "r");

        assert_non_null(f);
        return proc_net_dev_parse(f, ret, ret_n);
}

/* Parses s, expecting error r, and checks the outputs were left alone. */
static void assert_parse_fails(const char *s, int r)
{
        struct proc_net_dev_line *lines = (void *)0x1;
        size_t n = 4242;
        int got = parse_string(s, &lines, &n);

        if (got != r)
                fail_msg("got %d, expected %d for:\n%s", got, r, s);
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

static bool has_sample(const struct fl_emit *e, const char *key, const char *metric)
{
        for (size_t i = 0; i < e->n_samples; i++) {
                const struct fl_eseries *s = &e->series[e->samples[i].series];
                if (fl_streq(s->node_key, key) && fl_streq(s->metric, metric))
                        return true;
        }
        return false;
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
        return fixture_tmp_root("/tmp/fl-test-net_dev-XXXXXX");
}

/* As fixtures, so that the tree goes away even when a test fails. */
static int setup_root(void **state)
{
        *state = tmp_root();
        return 0;
}

/* A /proc/net/dev line with rx bytes, rx packets, tx bytes and tx packets. */
static char *nd_line(const char *name, uint64_t rx_bytes, uint64_t rx_packets, uint64_t tx_bytes, uint64_t tx_packets)
{
        return fl_asprintf("%6s: %" PRIu64 " %" PRIu64 " 0 0 0 0 0 0 %" PRIu64 " %" PRIu64 " 0 0 0 0 0 0\n", name,
                           rx_bytes, rx_packets, tx_bytes, tx_packets);
}

/* A /proc/net/dev line with the error and drop columns too. */
static char *nd_errs(const char *name, uint64_t rx_errs, uint64_t rx_drop, uint64_t tx_errs, uint64_t tx_drop)
{
        return fl_asprintf("%6s: 1000 10 %" PRIu64 " %" PRIu64 " 0 0 0 0 1000 10 %" PRIu64 " %" PRIu64 " 0 0 0 0\n",
                           name, rx_errs, rx_drop, tx_errs, tx_drop);
}

/* The one state of key, with its reason. */
static void assert_state(const struct fl_emit *e, const char *key, enum fl_state state, const char *reason)
{
        const struct fl_estate *found = NULL;

        for (size_t i = 0; i < e->n_states; i++)
                if (fl_streq(e->states[i].key, key)) {
                        if (found)
                                fail_msg("two states for %s", key);
                        found = &e->states[i];
                }
        if (!found)
                fail_msg("no state for %s", key);
        if (found->state != state || !fl_streq(found->reason, reason))
                fail_msg("%s: %s \"%s\", expected %s \"%s\"", key, fl_state_to_string(found->state),
                         found->reason ? found->reason : "(null)", fl_state_to_string(state),
                         reason ? reason : "(null)");
}

struct run {
        struct fl_thresholds thresholds;
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
                                    .interval_us = TEN_S,
                                    .thresholds = &r->thresholds } };
        fl_thresholds_defaults(&r->thresholds);
        r->state = fl_malloc0(proc_net_dev_collector.state_size);
        assert_int_equal(proc_net_dev_collector.init(r->state, &r->ctx), 0);
}

static int run_cycle(struct run *r, uint64_t now_us)
{
        fl_emit_reset(&r->emit);
        r->ctx.now_us = now_us;
        return proc_net_dev_collector.collect(r->state, &r->ctx, &r->emit);
}

static void run_done(struct run *r)
{
        proc_net_dev_collector.fini(r->state);
        free(r->state);
        fl_emit_free(&r->emit);
}

/* Parser */

static void test_parse_linux_5_15(void **unused)
{
        struct proc_net_dev_line *l = NULL;
        size_t n = 0;

        (void)unused;
        assert_int_equal(parse_file("proc_net_dev/linux-5.15.net_dev", &l, &n), 0);
        assert_int_equal(n, 4);
        assert_string_equal(l[0].name, "lo");
        assert_int_equal(l[0].rx_bytes, 3267);
        assert_int_equal(l[0].tx_packets, 29);

        assert_string_equal(l[1].name, "eth0");
        assert_int_equal(l[1].rx_bytes, UINT64_C(9876543210));
        assert_int_equal(l[1].rx_packets, 8123456);
        assert_int_equal(l[1].rx_errs, 3);
        assert_int_equal(l[1].rx_drop, 17);
        assert_int_equal(l[1].rx_fifo, 0);
        assert_int_equal(l[1].rx_frame, 2);
        assert_int_equal(l[1].rx_compressed, 0);
        assert_int_equal(l[1].rx_multicast, 45678);
        assert_int_equal(l[1].tx_bytes, 1234567890);
        assert_int_equal(l[1].tx_packets, 2345678);
        assert_int_equal(l[1].tx_errs, 1);
        assert_int_equal(l[1].tx_drop, 5);
        assert_int_equal(l[1].tx_fifo, 0);
        assert_int_equal(l[1].tx_colls, 0);
        assert_int_equal(l[1].tx_carrier, 4);
        assert_int_equal(l[1].tx_compressed, 0);

        assert_string_equal(l[2].name, "br0");
        assert_int_equal(l[2].rx_drop, 12);
        assert_int_equal(l[2].rx_multicast, 311);
        assert_int_equal(l[2].tx_packets, 10022);
        assert_string_equal(l[3].name, "vnet0");
        assert_int_equal(l[3].rx_bytes, 0);
        proc_net_dev_free(l);
}

static void test_parse_linux_2_4(void **unused)
{
        struct proc_net_dev_line *l = NULL;
        size_t n = 0;

        (void)unused;
        /* "eth0:1405375339": the counter is glued to the colon */
        assert_int_equal(parse_file("proc_net_dev/linux-2.4.net_dev", &l, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(l[0].name, "lo");
        assert_int_equal(l[0].rx_bytes, 126412);
        assert_string_equal(l[1].name, "eth0");
        assert_int_equal(l[1].rx_bytes, 1405375339);
        assert_int_equal(l[1].rx_packets, 3146519);
        assert_int_equal(l[1].tx_bytes, 1306563452);
        assert_int_equal(l[1].tx_packets, 2885946);
        assert_int_equal(l[1].tx_compressed, 0);
        proc_net_dev_free(l);
}

static void test_parse_header_only(void **unused)
{
        struct proc_net_dev_line *l = (void *)0x1;
        size_t n = 4242;

        (void)unused;
        assert_int_equal(parse_file("proc_net_dev/header-only.net_dev", &l, &n), 0);
        assert_null(l);
        assert_int_equal(n, 0);
}

static void test_parse_bad_fixtures(void **unused)
{
        static const struct {
                const char *file;
                int r;
        } cases[] = {
                { "proc_net_dev/bad-header.net_dev", -EBADMSG },  { "proc_net_dev/no-header.net_dev", -EBADMSG },
                { "proc_net_dev/truncated.net_dev", -EBADMSG },   { "proc_net_dev/bad-field-count.net_dev", -EBADMSG },
                { "proc_net_dev/malformed.net_dev", -EBADMSG },   { "proc_net_dev/long-name.net_dev", -E2BIG },
                { "proc_net_dev/overlong-line.net_dev", -E2BIG },
        };

        (void)unused;
        for (size_t i = 0; i < FL_ARRAY_SIZE(cases); i++) {
                struct proc_net_dev_line *l = (void *)0x1;
                size_t n = 4242;
                int r = parse_file(cases[i].file, &l, &n);
                if (r != cases[i].r)
                        fail_msg("%s: got %d, expected %d", cases[i].file, r, cases[i].r);
                assert_ptr_equal(l, (void *)0x1);
                assert_int_equal(n, 4242);
        }
}

static void test_parse_headers(void **unused)
{
        (void)unused;
        assert_parse_fails("Inter-|   Receive                                                |  Transmit\n", -EBADMSG);
        /* column names swapped: counters would be mis-assigned */
        assert_parse_fails("Inter-|   Receive                                                |  Transmit\n"
                           " face |bytes    packets drop errs fifo frame compressed multicast|bytes    packets "
                           "errs drop fifo colls carrier compressed\n",
                           -EBADMSG);
        /* one more column */
        assert_parse_fails("Inter-|   Receive                                                |  Transmit\n"
                           " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
                           "errs drop fifo colls carrier compressed extra\n",
                           -EBADMSG);
        assert_parse_fails("Inter-|   Receive\n"
                           " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
                           "errs drop fifo colls carrier compressed\n",
                           -EBADMSG);
        /* header cut short */
        assert_parse_fails("Inter-|   Receive                                                |  Transmit\n"
                           " face |bytes    packets errs drop fifo frame compressed multicast|bytes",
                           -EBADMSG);
}

static void test_parse_lines(void **unused)
{
        struct proc_net_dev_line *l = NULL;
        size_t n = 0;

        (void)unused;
        /* an alias: the name keeps its ':' */
        assert_int_equal(parse_string(HEADER "eth0:1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", &l, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(l[0].name, "eth0:1");
        assert_int_equal(l[0].rx_bytes, 1);
        assert_int_equal(l[0].rx_multicast, 8);
        assert_int_equal(l[0].tx_bytes, 9);
        assert_int_equal(l[0].tx_compressed, 16);
        proc_net_dev_free(l);

        /* 15 characters is the longest name */
        assert_int_equal(parse_string(HEADER "abcdefghijklmno: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", &l, &n), 0);
        assert_string_equal(l[0].name, "abcdefghijklmno");
        proc_net_dev_free(l);
        assert_parse_fails(HEADER "abcdefghijklmnop: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", -E2BIG);

        assert_parse_fails(HEADER "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n", -EBADMSG);
        assert_parse_fails(HEADER "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n", -EBADMSG);
        assert_parse_fails(HEADER "eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", -EBADMSG);
        assert_parse_fails(HEADER "   : 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", -EBADMSG);
        assert_parse_fails(HEADER "et h0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", -EBADMSG);
        assert_parse_fails(HEADER "a/b: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", -EBADMSG);
        assert_parse_fails(HEADER "..: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", -EBADMSG);
        assert_parse_fails(HEADER "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 18446744073709551616\n", -EBADMSG);
        assert_parse_fails(HEADER "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 1e3\n", -EBADMSG);
        assert_parse_fails(HEADER "\n", -EBADMSG);
        /* complete columns but no final newline: the read was cut */
        assert_parse_fails(HEADER "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", -EBADMSG);
        assert_parse_fails("", -EBADMSG);
}

static void test_parse_line_count(void **unused)
{
        struct proc_net_dev_line *l = NULL;
        size_t n = 0;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f;

        (void)unused;
        f = open_memstream(&buf, &len);
        assert_non_null(f);
        fputs(HEADER, f);
        for (unsigned i = 0; i < PROC_NET_DEV_MAX_LINES; i++)
                fprintf(f, "tap%u: %u 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", i, i);
        fclose(f);
        assert_int_equal(parse_string(buf, &l, &n), 0);
        assert_int_equal(n, PROC_NET_DEV_MAX_LINES);
        assert_string_equal(l[4095].name, "tap4095");
        assert_int_equal(l[4095].rx_bytes, 4095);
        proc_net_dev_free(l);

        {
                _cleanup_free_ char *more = fl_asprintf("%stapx: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", buf);
                assert_parse_fails(more, -E2BIG);
        }
}

/* Collector */

/* Nodes, their attributes and edges are sys_class_net's: this collector
 * adds samples and states only. */
static void test_collect_no_inventory(void **unused)
{
        _cleanup_free_ char *procfs = fixture_data_path("hosts/plain/proc");
        _cleanup_free_ char *sysfs = fixture_data_path("hosts/plain/sys");
        struct run r;

        (void)unused;
        run_init(&r, procfs, sysfs);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_nodes, 0);
        assert_int_equal(r.emit.n_edges, 0);
        assert_int_equal(r.emit.n_samples, 0);
        assert_int_equal(r.emit.n_states, 0);
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_int_equal(r.emit.n_nodes, 0);
        assert_int_equal(r.emit.n_edges, 0);
        assert_true(r.emit.n_samples > 0);
        run_done(&r);
}

static void test_collect_rates(void **state)
{
        _cleanup_free_ char *sysfs = fixture_data_path("hosts/plain/sys");
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        const char *eth0 = "nic:fixture01/eth0", *br0 = "nic:fixture01/br0";
        const uint64_t t1 = T0 + TEN_S;
        struct run r;

        fixture_copy_data_file("hosts/plain/proc/net/dev", root, "proc/net/dev");
        run_init(&r, procfs, sysfs);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_samples, 0);

        fixture_copy_data_file("hosts/plain-later/proc/net/dev", root, "proc/net/dev");
        assert_int_equal(run_cycle(&r, t1), 0);
        /* eth0 has the three sysfs error counters, br0 none */
        assert_int_equal(r.emit.n_samples, 11 + 8);

        assert_near(sample(&r.emit, eth0, "nic.rx_bytes_per_s", "B/s", t1), 1250000.0);
        assert_near(sample(&r.emit, eth0, "nic.tx_bytes_per_s", "B/s", t1), 250000.0);
        assert_near(sample(&r.emit, eth0, "nic.rx_packets_per_s", "1/s", t1), 1000.0);
        assert_near(sample(&r.emit, eth0, "nic.tx_packets_per_s", "1/s", t1), 500.0);
        assert_near(sample(&r.emit, eth0, "nic.rx_errors_per_s", "1/s", t1), 2.0);
        assert_near(sample(&r.emit, eth0, "nic.tx_errors_per_s", "1/s", t1), 0.0);
        assert_near(sample(&r.emit, eth0, "nic.rx_dropped_per_s", "1/s", t1), 3.0);
        assert_near(sample(&r.emit, eth0, "nic.tx_dropped_per_s", "1/s", t1), 0.1);
        /* the sysfs counters did not move */
        assert_near(sample(&r.emit, eth0, "nic.rx_crc_errors_per_s", "1/s", t1), 0.0);
        assert_near(sample(&r.emit, eth0, "nic.rx_frame_errors_per_s", "1/s", t1), 0.0);
        assert_near(sample(&r.emit, eth0, "nic.tx_carrier_errors_per_s", "1/s", t1), 0.0);

        assert_near(sample(&r.emit, br0, "nic.rx_bytes_per_s", "B/s", t1), 10000.0);
        assert_near(sample(&r.emit, br0, "nic.tx_bytes_per_s", "B/s", t1), 100.0);
        assert_near(sample(&r.emit, br0, "nic.rx_packets_per_s", "1/s", t1), 10.0);
        assert_near(sample(&r.emit, br0, "nic.tx_packets_per_s", "1/s", t1), 1.0);
        assert_near(sample(&r.emit, br0, "nic.rx_errors_per_s", "1/s", t1), 0.0);
        assert_near(sample(&r.emit, br0, "nic.tx_errors_per_s", "1/s", t1), 0.0);
        assert_near(sample(&r.emit, br0, "nic.rx_dropped_per_s", "1/s", t1), 0.2);
        assert_near(sample(&r.emit, br0, "nic.tx_dropped_per_s", "1/s", t1), 0.0);
        assert_false(has_sample(&r.emit, br0, "nic.rx_crc_errors_per_s"));

        assert_int_equal(samples_of(&r.emit, "nic:fixture01/lo"), 0);

        /* eth0 (physical: it has a device link) lost 2 + 3 frames a second;
         * br0's 0.2 drops/s are a bridge's, not counted */
        assert_int_equal(r.emit.n_states, 1);
        assert_state(&r.emit, eth0, FL_STATE_WARNING, "receive errors and drops: 5.0/s (3.0/s dropped)");

        run_done(&r);
}

static void test_collect_sysfs_counters_and_wrap(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fl_asprintf("%s/sys", root);
        _cleanup_free_ char *a = nd_line("eth1", UINT64_C(4294967000), 10, UINT64_C(18446744073709551000), 20);
        _cleanup_free_ char *b = nd_line("eth1", 704, 110, 384, 20);
        const char *eth1 = "nic:fixture01/eth1";
        const uint64_t t1 = T0 + TEN_S;
        struct run r;

        fixture_write_file(root, "sys/class/net/eth1/ifindex", "4\n");
        fixture_write_file(root, "sys/class/net/eth1/statistics/rx_crc_errors", "4294967290\n");
        fixture_write_file(root, "sys/class/net/eth1/statistics/rx_frame_errors", "100\n");
        /* no tx_carrier_errors: that metric is left out */
        {
                _cleanup_free_ char *c = fl_asprintf(HEADER "%s", a);
                fixture_write_file(root, "proc/net/dev", c);
        }
        run_init(&r, procfs, sysfs);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_nodes, 0);
        assert_int_equal(r.emit.n_samples, 0);

        fixture_write_file(root, "sys/class/net/eth1/statistics/rx_crc_errors", "10\n");
        fixture_write_file(root, "sys/class/net/eth1/statistics/rx_frame_errors", "150\n");
        {
                _cleanup_free_ char *c = fl_asprintf(HEADER "%s", b);
                fixture_write_file(root, "proc/net/dev", c);
        }
        assert_int_equal(run_cycle(&r, t1), 0);
        assert_int_equal(r.emit.n_samples, 10);
        /* rx bytes wrapped at 2^32 (296 + 704), tx bytes at 2^64 (615 + 1 +
         * 384), the crc counter at 2^32 (6 + 10) */
        assert_near(sample(&r.emit, eth1, "nic.rx_bytes_per_s", "B/s", t1), 100.0);
        assert_near(sample(&r.emit, eth1, "nic.tx_bytes_per_s", "B/s", t1), 100.0);
        assert_near(sample(&r.emit, eth1, "nic.rx_packets_per_s", "1/s", t1), 10.0);
        assert_near(sample(&r.emit, eth1, "nic.tx_packets_per_s", "1/s", t1), 0.0);
        assert_near(sample(&r.emit, eth1, "nic.rx_crc_errors_per_s", "1/s", t1), 1.6);
        assert_near(sample(&r.emit, eth1, "nic.rx_frame_errors_per_s", "1/s", t1), 5.0);
        assert_false(has_sample(&r.emit, eth1, "nic.tx_carrier_errors_per_s"));
        /* no error in /proc/net/dev: the sysfs counters alone are no
         * evidence */
        assert_int_equal(r.emit.n_states, 0);

        /* deleted and created again under the same name: new counters */
        fixture_write_file(root, "sys/class/net/eth1/ifindex", "9\n");
        assert_int_equal(run_cycle(&r, t1 + TEN_S), 0);
        assert_int_equal(r.emit.n_samples, 0);
        assert_int_equal(run_cycle(&r, t1 + 2 * TEN_S), 0);
        assert_near(sample(&r.emit, eth1, "nic.rx_bytes_per_s", "B/s", t1 + 2 * TEN_S), 0.0);

        run_done(&r);
}

static void test_collect_interfaces_come_and_go(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fl_asprintf("%s/sys", root);
        _cleanup_free_ char *x1 = nd_line("tap0", 100, 1, 0, 0), *x2 = nd_line("tap0", 200, 2, 0, 0);
        _cleanup_free_ char *x3 = nd_line("tap0", 300, 3, 0, 0);
        _cleanup_free_ char *y1 = nd_line("tap1", 1000, 1, 0, 0), *y2 = nd_line("tap1", 2000, 2, 0, 0);
        _cleanup_free_ char *lo = nd_line("lo", 5, 5, 5, 5);
        struct run r;

        {
                _cleanup_free_ char *c = fl_asprintf(HEADER "%s%s", lo, x1);
                fixture_write_file(root, "proc/net/dev", c);
        }
        run_init(&r, procfs, sysfs);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_samples, 0);

        /* tap1 appears: no rate yet */
        {
                _cleanup_free_ char *c = fl_asprintf(HEADER "%s%s%s", lo, x2, y1);
                fixture_write_file(root, "proc/net/dev", c);
        }
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_int_equal(samples_of(&r.emit, "nic:fixture01/tap0"), 8);
        assert_near(sample(&r.emit, "nic:fixture01/tap0", "nic.rx_bytes_per_s", "B/s", T0 + TEN_S), 10.0);
        assert_int_equal(samples_of(&r.emit, "nic:fixture01/tap1"), 0);

        /* tap0 goes away and is forgotten */
        {
                _cleanup_free_ char *c = fl_asprintf(HEADER "%s%s", lo, y2);
                fixture_write_file(root, "proc/net/dev", c);
        }
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), 0);
        assert_int_equal(samples_of(&r.emit, "nic:fixture01/tap0"), 0);
        assert_int_equal(samples_of(&r.emit, "nic:fixture01/tap1"), 8);
        assert_near(sample(&r.emit, "nic:fixture01/tap1", "nic.rx_bytes_per_s", "B/s", T0 + 2 * TEN_S), 100.0);

        {
                _cleanup_free_ char *c = fl_asprintf(HEADER "%s%s", lo, x3);
                fixture_write_file(root, "proc/net/dev", c);
        }
        assert_int_equal(run_cycle(&r, T0 + 3 * TEN_S), 0);
        assert_int_equal(r.emit.n_samples, 0);

        run_done(&r);
}

static void test_collect_errors(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fl_asprintf("%s/sys", root);
        _cleanup_free_ char *x1 = nd_line("tap0", 100, 1, 0, 0), *x2 = nd_line("tap0", 300, 3, 0, 0);
        struct run r;

        run_init(&r, procfs, sysfs);
        assert_int_equal(run_cycle(&r, T0), -ENOENT);

        {
                _cleanup_free_ char *c = fl_asprintf(HEADER "%s", x1);
                fixture_write_file(root, "proc/net/dev", c);
        }
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);

        /* a bad reading is an error and leaves the baseline alone */
        fixture_write_file(root, "proc/net/dev", HEADER "  tap0: 1 2 3\n");
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), -EBADMSG);
        assert_int_equal(r.emit.n_nodes, 0);
        fixture_write_file(root, "proc/net/dev", "");
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), -EBADMSG);
        {
                _cleanup_free_ char *c = fl_asprintf(HEADER "%s", x2);
                fixture_write_file(root, "proc/net/dev", c);
        }
        assert_int_equal(run_cycle(&r, T0 + 3 * TEN_S), 0);
        assert_near(sample(&r.emit, "nic:fixture01/tap0", "nic.rx_bytes_per_s", "B/s", T0 + 3 * TEN_S), 10.0);

        /* a clock that went back gives no interval, only a new baseline */
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_samples, 0);

        run_done(&r);
}

static void test_collect_error_detector(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fl_asprintf("%s/sys", root);
        static const char *const physical[] = { "phy0", "phy1", "phy2", "phy3" };
        struct run r;

        for (size_t i = 0; i < FL_ARRAY_SIZE(physical); i++) {
                _cleanup_free_ char *dev = fl_asprintf("%s/sys/class/net/%s", root, physical[i]);
                _cleanup_free_ char *link = fl_asprintf("%s/device", dev);
                assert_int_equal(fl_mkdir_p(dev, 0755), 0);
                assert_int_equal(symlink("../../../0000:00:19.0", link), 0);
        }
        fixture_write_file(root, "sys/class/net/bond0/bonding/mode", "active-backup 1\n");
        fixture_write_file(root, "sys/class/net/phy0/statistics/rx_crc_errors", "900\n");
        fixture_write_file(root, "sys/class/net/phy0/statistics/rx_frame_errors", "100\n");
        fixture_write_file(root, "sys/class/net/phy0/statistics/tx_carrier_errors", "0\n");
        fixture_write_file(root, "sys/class/net/phy1/statistics/tx_carrier_errors", "7\n");

        {
                _cleanup_free_ char *l0 = nd_errs("phy0", 1000, 0, 0, 0), *l1 = nd_errs("phy1", 0, 10, 5, 0),
                                    *l2 = nd_errs("phy2", 0, 0, 0, 0), *l3 = nd_errs("phy3", 500, 500, 500, 500),
                                    *t = nd_errs("tap0", 0, 0, 0, 0), *v = nd_errs("veth0", 0, 0, 0, 0),
                                    *b = nd_errs("bond0", 1000, 0, 0, 0);
                _cleanup_free_ char *c = fl_asprintf(HEADER "%s%s%s%s%s%s%s", l0, l1, l2, l3, t, v, b);
                fixture_write_file(root, "proc/net/dev", c);
        }
        run_init(&r, procfs, sysfs);
        /* one reading: no rate, no state */
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_states, 0);

        fixture_write_file(root, "sys/class/net/phy0/statistics/rx_crc_errors", "1400\n");
        fixture_write_file(root, "sys/class/net/phy0/statistics/rx_frame_errors", "120\n");
        fixture_write_file(root, "sys/class/net/phy1/statistics/tx_carrier_errors", "37\n");
        {
                /* phy0: 520 errors, 500 of them CRC, 20 frame
                 * phy1: 50 drops in, 30 carrier errors out
                 * phy2: 20 errors and 30 drops in
                 * phy3: counters reset (went down): no evidence
                 * tap0: 1000 drops, virtual: not counted; 10 errors out:
                 *       1.0/s, not above the threshold
                 * veth0: 20 errors in
                 * bond0: its slaves' errors summed: left to them */
                _cleanup_free_ char *l0 = nd_errs("phy0", 1520, 0, 0, 0), *l1 = nd_errs("phy1", 0, 60, 35, 0),
                                    *l2 = nd_errs("phy2", 20, 30, 0, 0), *l3 = nd_errs("phy3", 0, 0, 0, 0),
                                    *t = nd_errs("tap0", 0, 1000, 10, 0), *v = nd_errs("veth0", 20, 0, 0, 0),
                                    *b = nd_errs("bond0", 1520, 0, 0, 0);
                _cleanup_free_ char *c = fl_asprintf(HEADER "%s%s%s%s%s%s%s", l0, l1, l2, l3, t, v, b);
                fixture_write_file(root, "proc/net/dev", c);
        }
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        fl_emit_finalize(&r.emit);
        assert_int_equal(r.emit.n_states, 4);
        assert_state(&r.emit, "nic:fixture01/phy0", FL_STATE_WARNING,
                     "receive errors: 52.0/s (50.0/s CRC, 2.0/s frame)");
        assert_state(&r.emit, "nic:fixture01/phy1", FL_STATE_WARNING,
                     "receive drops: 5.0/s; transmit errors: 3.0/s (3.0/s carrier)");
        assert_state(&r.emit, "nic:fixture01/phy2", FL_STATE_WARNING,
                     "receive errors and drops: 5.0/s (3.0/s dropped)");
        assert_state(&r.emit, "nic:fixture01/veth0", FL_STATE_WARNING, "receive errors: 2.0/s");
        /* the samples are there all the same */
        assert_near(sample(&r.emit, "nic:fixture01/bond0", "nic.rx_errors_per_s", "1/s", T0 + TEN_S), 52.0);
        assert_near(sample(&r.emit, "nic:fixture01/tap0", "nic.rx_dropped_per_s", "1/s", T0 + TEN_S), 100.0);

        /* errors stop: no state (sys_class_net says ok) */
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), 0);
        assert_int_equal(r.emit.n_states, 0);

        /* the threshold is the configuration's: 10 errors in 10 s */
        r.thresholds.nic_error_warning_per_s = 0.5;
        {
                _cleanup_free_ char *l0 = nd_errs("phy0", 1520, 0, 0, 0), *l1 = nd_errs("phy1", 0, 60, 35, 0),
                                    *l2 = nd_errs("phy2", 20, 30, 0, 0), *l3 = nd_errs("phy3", 0, 0, 0, 0),
                                    *t = nd_errs("tap0", 0, 1000, 20, 0), *v = nd_errs("veth0", 20, 0, 0, 0),
                                    *b = nd_errs("bond0", 1520, 0, 0, 0);
                _cleanup_free_ char *c = fl_asprintf(HEADER "%s%s%s%s%s%s%s", l0, l1, l2, l3, t, v, b);
                fixture_write_file(root, "proc/net/dev", c);
        }
        assert_int_equal(run_cycle(&r, T0 + 3 * TEN_S), 0);
        assert_int_equal(r.emit.n_states, 1);
        assert_state(&r.emit, "nic:fixture01/tap0", FL_STATE_WARNING, "transmit errors: 1.0/s");

        run_done(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_linux_5_15),
                cmocka_unit_test(test_parse_linux_2_4),
                cmocka_unit_test(test_parse_header_only),
                cmocka_unit_test(test_parse_bad_fixtures),
                cmocka_unit_test(test_parse_headers),
                cmocka_unit_test(test_parse_lines),
                cmocka_unit_test(test_parse_line_count),
                cmocka_unit_test(test_collect_no_inventory),
                cmocka_unit_test_setup_teardown(test_collect_rates, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_sysfs_counters_and_wrap, setup_root,
                                                fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_interfaces_come_and_go, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_errors, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_error_detector, setup_root, fixture_teardown_root),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
