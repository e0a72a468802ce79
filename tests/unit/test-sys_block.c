/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fixture.h"

#include "collector.h"
#include "sys_block.h"

#define T0 UINT64_C(1700000000000000) /* any fixed time: nothing reads the clock */
#define SEC UINT64_C(1000000)

extern const struct fl_collector sys_block_collector;

/* Helpers */

struct run {
        char *root;
        char *procfs, *sysfs;
        struct fl_thresholds th;
        struct fl_agent_ctx ctx;
        void *state;
        struct fl_emit emit;
};

/* Runs the collector on the host tree at root ("<root>/sys"). */
static int run_init(struct run *r, const char *root, const char *host)
{
        *r = (struct run){ .root = fl_strdup(root) };
        r->procfs = fl_asprintf("%s/proc", root);
        r->sysfs = fl_asprintf("%s/sys", root);
        fl_thresholds_defaults(&r->th);
        r->ctx = (struct fl_agent_ctx){ .hostname = host,
                                        .rootfs = r->root,
                                        .procfs = r->procfs,
                                        .sysfs = r->sysfs,
                                        .devfs = "/dev",
                                        .now_us = T0,
                                        .interval_us = 10 * SEC,
                                        .thresholds = &r->th };
        r->state = fl_malloc0(sys_block_collector.state_size);
        return sys_block_collector.init(r->state, &r->ctx);
}

static void run_fixture(struct run *r, const char *tree, const char *host)
{
        _cleanup_free_ char *root = fl_asprintf("%s/hosts/%s", fixture_data_dir(), tree);
        assert_int_equal(run_init(r, root, host), 0);
}

/* One cycle, finalized the way the core does it: one node and one state
 * per key. */
static int run_cycle(struct run *r, uint64_t now_us)
{
        int ret;

        fl_emit_reset(&r->emit);
        r->ctx.now_us = now_us;
        ret = sys_block_collector.collect(r->state, &r->ctx, &r->emit);
        fl_emit_finalize(&r->emit);
        return ret;
}

static void run_done(struct run *r)
{
        sys_block_collector.fini(r->state);
        free(r->state);
        fl_emit_free(&r->emit);
        free(r->root);
        free(r->procfs);
        free(r->sysfs);
}

static const struct fl_enode *find_node(const struct fl_emit *e, const char *key)
{
        for (size_t i = 0; i < e->n_nodes; i++)
                if (fl_streq(e->nodes[i].key, key))
                        return &e->nodes[i];
        fail_msg("no node %s", key);
        return NULL;
}

static const char *node_attr(const struct fl_enode *n, const char *key)
{
        for (size_t i = 0; i < n->n_attrs; i++)
                if (fl_streq(n->attrs[i].key, key))
                        return n->attrs[i].value;
        return NULL;
}

static void assert_attr(const struct fl_emit *e, const char *node, const char *key, const char *value)
{
        const char *v = node_attr(find_node(e, node), key);

        if (!value) {
                if (v)
                        fail_msg("%s: attribute %s = \"%s\", expected none", node, key, v);
                return;
        }
        if (!v)
                fail_msg("%s: no attribute %s", node, key);
        if (!fl_streq(v, value))
                fail_msg("%s: attribute %s = \"%s\", expected \"%s\"", node, key, v, value);
}

/* The node keys, kinds and min_ok values are exactly these. */
struct want_node {
        const char *key;
        int min_ok;
};

static void assert_nodes(const struct fl_emit *e, const struct want_node *want, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                const struct fl_enode *node = find_node(e, want[i].key);
                size_t kind_len = strcspn(want[i].key, ":");

                if (strlen(node->kind) != kind_len || strncmp(node->kind, want[i].key, kind_len) != 0)
                        fail_msg("%s has kind %s", node->key, node->kind);
                if (node->min_ok != want[i].min_ok)
                        fail_msg("%s: min_ok %d, expected %d", node->key, node->min_ok, want[i].min_ok);
        }
        if (e->n_nodes != n) {
                for (size_t i = 0; i < e->n_nodes; i++)
                        print_message("node %s\n", e->nodes[i].key);
                fail_msg("%zu nodes, expected %zu", e->n_nodes, n);
        }
}

static bool has_edge(const struct fl_emit *e, const char *from, const char *to, const char *type)
{
        for (size_t i = 0; i < e->n_edges; i++)
                if (fl_streq(e->edges[i].from, from) && fl_streq(e->edges[i].to, to) &&
                    fl_streq(e->edges[i].type, type))
                        return true;
        return false;
}

struct want_edge {
        const char *from, *to, *type;
};

/* Exactly these edges, plus one "part_of" edge from every node to host. */
static void assert_edges(const struct fl_emit *e, const char *host, const struct want_edge *want, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!has_edge(e, want[i].from, want[i].to, want[i].type))
                        fail_msg("no edge %s -> %s (%s)", want[i].from, want[i].to, want[i].type);
        for (size_t i = 0; i < e->n_nodes; i++)
                if (!has_edge(e, e->nodes[i].key, host, "part_of"))
                        fail_msg("%s is not part_of %s", e->nodes[i].key, host);
        if (e->n_edges != n + e->n_nodes) {
                for (size_t i = 0; i < e->n_edges; i++)
                        print_message("edge %s -> %s (%s)\n", e->edges[i].from, e->edges[i].to, e->edges[i].type);
                fail_msg("%zu edges, expected %zu", e->n_edges, n + e->n_nodes);
        }
}

static const struct fl_estate *find_state(const struct fl_emit *e, const char *key)
{
        for (size_t i = 0; i < e->n_states; i++)
                if (fl_streq(e->states[i].key, key))
                        return &e->states[i];
        fail_msg("no state for %s", key);
        return NULL;
}

/* reason NULL: no reason expected (ok). */
static void assert_state(const struct fl_emit *e, const char *key, enum fl_state state, const char *reason)
{
        const struct fl_estate *s = find_state(e, key);

        if (s->state != state)
                fail_msg("%s: %s (%s), expected %s", key, fl_state_to_string(s->state), s->reason ? s->reason : "",
                         fl_state_to_string(state));
        if (!reason) {
                if (s->reason)
                        fail_msg("%s: reason \"%s\", expected none", key, s->reason);
                return;
        }
        if (!s->reason || !fl_streq(s->reason, reason))
                fail_msg("%s: reason \"%s\", expected \"%s\"", key, s->reason ? s->reason : "(none)", reason);
}

/* Every node has a state, and every state a node; the ones not listed in
 * not_ok are ok. */
static void assert_others_ok(const struct fl_emit *e, const char *const *not_ok, size_t n)
{
        assert_int_equal(e->n_states, e->n_nodes);
        for (size_t i = 0; i < e->n_nodes; i++) {
                bool listed = false;
                for (size_t j = 0; j < n && !listed; j++)
                        listed = fl_streq(e->nodes[i].key, not_ok[j]);
                if (!listed)
                        assert_state(e, e->nodes[i].key, FL_STATE_OK, NULL);
        }
}

/* Descriptors this process holds: the collector keeps its files open,
 * neither opening them again nor leaking them cycle after cycle. */
static size_t open_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        size_t n = 0;

        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* Temporary host trees: a fixture copied, then changed or overlaid. */

static int setup_root(void **state)
{
        *state = fixture_tmp_root("/tmp/fl-test-sys_block-XXXXXX");
        return 0;
}

static void remove_file(const char *root, const char *rel)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", root, rel);
        if (unlink(path) < 0)
                fail_msg("could not remove \"%s\": %s", path, strerror(errno));
}

static void remove_tree(const char *root, const char *rel)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", root, rel);
        assert_int_equal(nftw(path, fixture_rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* Copies the fixture tree hosts/<tree> over root. */
static void overlay(const char *root, const char *tree)
{
        _cleanup_free_ char *src = fl_asprintf("%s/hosts/%s", fixture_data_dir(), tree);

        fixture_copy_tree(src, root);
}

/* Parsers */

static void test_parse_hex(void **unused)
{
        static const struct {
                const char *s;
                int r;
                uint64_t v;
        } cases[] = {
                { "0x0", 0, 0 },
                { "0x3", 0, 3 },
                { "0x2f", 0, 47 },
                { "0x2F", 0, 47 },
                { "0X13", 0, 19 },
                { "0x77b6f1", 0, 7845617 },
                { "0xffffffffffffffff", 0, UINT64_MAX },
                { "0x00000000000000000000001", 0, 1 }, /* leading zeros do not overflow */
                { "0x10000000000000000", -ERANGE, 0 },
                { "0xfffffffffffffffff", -ERANGE, 0 },
                { "0x", -EINVAL, 0 },
                { "", -EINVAL, 0 },
                { "0", -EINVAL, 0 },
                { "2f", -EINVAL, 0 }, /* the kernel always prints the prefix */
                { "47", -EINVAL, 0 },
                { "x2f", -EINVAL, 0 },
                { "0x2g", -EINVAL, 0 },
                { "0x 2", -EINVAL, 0 },
                { " 0x2", -EINVAL, 0 },
                { "0x2\n", -EINVAL, 0 },
                { "-0x2", -EINVAL, 0 },
                { "0x-2", -EINVAL, 0 },
                { "0x+2", -EINVAL, 0 },
        };

        (void)unused;
        for (size_t i = 0; i < FL_ARRAY_SIZE(cases); i++) {
                uint64_t v = 4242;
                int r = sys_block_parse_hex(cases[i].s, &v);
                if (r != cases[i].r)
                        fail_msg("\"%s\": got %d, expected %d", cases[i].s, r, cases[i].r);
                if (r == 0 && v != cases[i].v)
                        fail_msg("\"%s\": got %" PRIu64 ", expected %" PRIu64, cases[i].s, v, cases[i].v);
                if (r < 0)
                        assert_int_equal(v, 4242);
        }
}

static void test_parse_md_array_state(void **unused)
{
        static const struct {
                const char *s;
                enum sys_block_array_state st;
        } ok[] = {
                { "clear", SYS_BLOCK_ARRAY_CLEAR },
                { "inactive", SYS_BLOCK_ARRAY_INACTIVE },
                { "suspended", SYS_BLOCK_ARRAY_SUSPENDED },
                { "readonly", SYS_BLOCK_ARRAY_READONLY },
                { "read-auto", SYS_BLOCK_ARRAY_READ_AUTO },
                { "clean", SYS_BLOCK_ARRAY_CLEAN },
                { "active", SYS_BLOCK_ARRAY_ACTIVE },
                { "write-pending", SYS_BLOCK_ARRAY_WRITE_PENDING },
                { "active-idle", SYS_BLOCK_ARRAY_ACTIVE_IDLE },
                { "broken", SYS_BLOCK_ARRAY_BROKEN },
        };
        static const char *const bad[] = { "", "Clean", "clean ", "read_auto", "degraded" };
        enum sys_block_array_state st;

        (void)unused;
        for (size_t i = 0; i < FL_ARRAY_SIZE(ok); i++) {
                assert_int_equal(sys_block_parse_md_array_state(ok[i].s, &st), 0);
                assert_int_equal(st, ok[i].st);
        }
        for (size_t i = 0; i < FL_ARRAY_SIZE(bad); i++) {
                st = SYS_BLOCK_ARRAY_CLEAN;
                assert_int_equal(sys_block_parse_md_array_state(bad[i], &st), -EINVAL);
                assert_int_equal(st, SYS_BLOCK_ARRAY_CLEAN);
        }
}

static void test_parse_md_dev_state(void **unused)
{
        unsigned f;

        (void)unused;
        assert_int_equal(sys_block_parse_md_dev_state("in_sync", &f), 0);
        assert_int_equal(f, SYS_BLOCK_MD_DEV_IN_SYNC);
        assert_int_equal(sys_block_parse_md_dev_state("faulty", &f), 0);
        assert_int_equal(f, SYS_BLOCK_MD_DEV_FAULTY);
        assert_int_equal(sys_block_parse_md_dev_state("spare", &f), 0);
        assert_int_equal(f, SYS_BLOCK_MD_DEV_SPARE);
        assert_int_equal(sys_block_parse_md_dev_state("in_sync,write_mostly", &f), 0);
        assert_int_equal(f, SYS_BLOCK_MD_DEV_IN_SYNC | SYS_BLOCK_MD_DEV_WRITE_MOSTLY);
        assert_int_equal(sys_block_parse_md_dev_state("faulty,blocked,write_error", &f), 0);
        assert_int_equal(f, SYS_BLOCK_MD_DEV_FAULTY | SYS_BLOCK_MD_DEV_BLOCKED | SYS_BLOCK_MD_DEV_WRITE_ERROR);
        /* "replacement" is not "want_replacement" and the other way round */
        assert_int_equal(sys_block_parse_md_dev_state("in_sync,want_replacement", &f), 0);
        assert_int_equal(f, SYS_BLOCK_MD_DEV_IN_SYNC | SYS_BLOCK_MD_DEV_WANT_REPLACEMENT);
        assert_int_equal(sys_block_parse_md_dev_state("replacement,spare", &f), 0);
        assert_int_equal(f, SYS_BLOCK_MD_DEV_REPLACEMENT | SYS_BLOCK_MD_DEV_SPARE);
        assert_int_equal(sys_block_parse_md_dev_state("journal,in_sync", &f), 0);
        assert_int_equal(f, SYS_BLOCK_MD_DEV_JOURNAL | SYS_BLOCK_MD_DEV_IN_SYNC);
        /* words of other or newer kernels do not hide the ones we know */
        assert_int_equal(sys_block_parse_md_dev_state("external_bbl,failfast,faulty,some_new_flag2", &f), 0);
        assert_int_equal(f, SYS_BLOCK_MD_DEV_FAULTY);
        /* a device with no flag prints an empty line */
        assert_int_equal(sys_block_parse_md_dev_state("", &f), 0);
        assert_int_equal(f, 0);
        assert_int_equal(sys_block_parse_md_dev_state("faultyx", &f), 0);
        assert_int_equal(f, 0);

        f = 4242;
        assert_int_equal(sys_block_parse_md_dev_state("Faulty", &f), -EINVAL);
        assert_int_equal(sys_block_parse_md_dev_state("in sync", &f), -EINVAL);
        assert_int_equal(sys_block_parse_md_dev_state("in_sync;faulty", &f), -EINVAL);
        assert_int_equal(sys_block_parse_md_dev_state("faulty\n", &f), -EINVAL);
        assert_int_equal(f, 4242);
}

static void test_parse_md_sync(void **unused)
{
        static const char *const actions[] = { "idle", "frozen", "resync", "recover", "reshape", "check", "repair" };
        enum sys_block_sync_action a;
        uint64_t done = 1, total = 2;

        (void)unused;
        for (size_t i = 0; i < FL_ARRAY_SIZE(actions); i++) {
                assert_int_equal(sys_block_parse_md_sync_action(actions[i], &a), 0);
                assert_int_equal(a, (enum sys_block_sync_action)i);
        }
        assert_int_equal(sys_block_parse_md_sync_action("recovery", &a), -EINVAL);
        assert_int_equal(sys_block_parse_md_sync_action("", &a), -EINVAL);

        assert_int_equal(sys_block_parse_md_sync_completed("976721536 / 7813772288", &done, &total), 0);
        assert_int_equal(done, 976721536);
        assert_int_equal(total, 7813772288);
        assert_int_equal(sys_block_parse_md_sync_completed("0 / 1", &done, &total), 0);
        assert_int_equal(done, 0);
        assert_int_equal(sys_block_parse_md_sync_completed("5 / 5", &done, &total), 0);

        done = total = 42;
        assert_int_equal(sys_block_parse_md_sync_completed("none", &done, &total), -ENODATA);
        assert_int_equal(sys_block_parse_md_sync_completed("delayed", &done, &total), -EBUSY);
        assert_int_equal(sys_block_parse_md_sync_completed("1/2", &done, &total), -EINVAL);
        assert_int_equal(sys_block_parse_md_sync_completed("1 / 0", &done, &total), -EINVAL);
        assert_int_equal(sys_block_parse_md_sync_completed("3 / 2", &done, &total), -EINVAL);
        assert_int_equal(sys_block_parse_md_sync_completed("x / 2", &done, &total), -EINVAL);
        assert_int_equal(sys_block_parse_md_sync_completed("1 / 2 ", &done, &total), -EINVAL);
        assert_int_equal(sys_block_parse_md_sync_completed("-1 / 2", &done, &total), -EINVAL);
        assert_int_equal(sys_block_parse_md_sync_completed(" / 2", &done, &total), -EINVAL);
        assert_int_equal(sys_block_parse_md_sync_completed("1 / 18446744073709551616", &done, &total), -EINVAL);
        assert_int_equal(sys_block_parse_md_sync_completed("", &done, &total), -EINVAL);
        assert_int_equal(done, 42);
        assert_int_equal(total, 42);
}

static void test_md_min_ok(void **unused)
{
        static const struct {
                const char *level;
                unsigned n;
                int k;
        } cases[] = {
                { "raid1", 2, 1 },       { "raid1", 3, 1 },       { "raid1", 1, 1 },           { "raid4", 3, 2 },
                { "raid5", 3, 2 },       { "raid5", 4, 3 },       { "raid5", 2, 1 },           { "raid6", 4, 2 },
                { "raid6", 6, 4 },       { "raid10", 4, 2 },      { "raid10", 2, 1 },          { "raid10", 3, 2 },
                { "raid10", 6, 3 },      { "raid0", 2, 2 },       { "raid0", 4, 4 },           { "linear", 3, 3 },
                { "multipath", 2, 1 },   { "raid5", 1, -EINVAL }, { "raid6", 2, -EINVAL },     { "raid1", 0, -EINVAL },
                { "raid0", 0, -EINVAL }, { "", 2, -EINVAL },      { "container", 2, -EINVAL }, { "RAID1", 2, -EINVAL },
                { "raid", 2, -EINVAL },
        };

        (void)unused;
        for (size_t i = 0; i < FL_ARRAY_SIZE(cases); i++) {
                int k = sys_block_md_min_ok(cases[i].level, cases[i].n);
                if (k != cases[i].k)
                        fail_msg("%s of %u: got %d, expected %d", cases[i].level, cases[i].n, k, cases[i].k);
        }
        assert_int_equal(sys_block_md_min_ok(NULL, 2), -EINVAL);
}

static void test_dm_type(void **unused)
{
        (void)unused;
        assert_string_equal(sys_block_dm_type("LVM-3JmQv1c6Xc0Qk8bX2Yh7Ju4Tn5Ws9Pd0E5rL1aZ2xC3vB4nM6qW7eR8tY9uI0oP1"),
                            "lvm");
        assert_string_equal(sys_block_dm_type("mpath-3600508b4000156d700012000000b0000"), "multipath");
        assert_string_equal(sys_block_dm_type("CRYPT-LUKS2-0123456789abcdef0123456789abcdef-luks"), "crypt");
        assert_string_equal(sys_block_dm_type("part1-mpath-3600508b4000156d700012000000b0000"), "other");
        assert_string_equal(sys_block_dm_type("lvm-lowercase"), "other");
        assert_string_equal(sys_block_dm_type(""), "other");
        assert_string_equal(sys_block_dm_type(NULL), "other");
}

/* Fixture trees, one cycle each (tests/data/hosts/README.md) */

static void test_raid1_lvm(void **unused)
{
        static const struct want_node nodes[] = {
                { "disk:raid1host/sda", -1 },       { "disk:raid1host/sdb", -1 },
                { "partition:raid1host/sda1", -1 }, { "partition:raid1host/sda2", -1 },
                { "partition:raid1host/sdb1", -1 }, { "partition:raid1host/sdb2", -1 },
                { "raid:raid1host/md0", 1 },        { "dm:raid1host/vg0-root", -1 },
                { "dm:raid1host/vg0-images", -1 },
        };
        static const struct want_edge edges[] = {
                { "partition:raid1host/sda1", "disk:raid1host/sda", "on_disk" },
                { "partition:raid1host/sda2", "disk:raid1host/sda", "on_disk" },
                { "partition:raid1host/sdb1", "disk:raid1host/sdb", "on_disk" },
                { "partition:raid1host/sdb2", "disk:raid1host/sdb", "on_disk" },
                { "raid:raid1host/md0", "partition:raid1host/sda2", "member" },
                { "raid:raid1host/md0", "partition:raid1host/sdb2", "member" },
                { "dm:raid1host/vg0-root", "raid:raid1host/md0", "maps_to" },
                { "dm:raid1host/vg0-images", "raid:raid1host/md0", "maps_to" },
        };
        struct run r;
        size_t fds;

        (void)unused;
        run_fixture(&r, "raid1-lvm", "raid1host");
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_nodes(&r.emit, nodes, FL_ARRAY_SIZE(nodes));
        assert_edges(&r.emit, "host:raid1host", edges, FL_ARRAY_SIZE(edges));
        assert_others_ok(&r.emit, NULL, 0);
        assert_int_equal(r.emit.n_samples, 0);

        assert_attr(&r.emit, "disk:raid1host/sda", "devnum", "8:0");
        assert_attr(&r.emit, "disk:raid1host/sda", "size_bytes", "2000398934016"); /* 3907029168 sectors */
        assert_attr(&r.emit, "disk:raid1host/sda", "rotational", "1");
        assert_attr(&r.emit, "disk:raid1host/sda", "model", "ST2000NM0055-1V4");
        assert_attr(&r.emit, "disk:raid1host/sda", "vendor", "ATA"); /* "ATA     " trimmed */
        assert_attr(&r.emit, "disk:raid1host/sda", "firmware", "SN04");
        assert_attr(&r.emit, "disk:raid1host/sda", "ioerr_cnt", "0");
        assert_attr(&r.emit, "disk:raid1host/sdb", "devnum", "8:16");
        assert_attr(&r.emit, "partition:raid1host/sda2", "devnum", "8:2");
        assert_attr(&r.emit, "partition:raid1host/sda2", "start", "2099200");
        assert_attr(&r.emit, "partition:raid1host/sda2", "size_bytes", "1999324053504");
        assert_attr(&r.emit, "partition:raid1host/sda2", "rotational", NULL);
        assert_attr(&r.emit, "raid:raid1host/md0", "devnum", "9:0");
        assert_attr(&r.emit, "raid:raid1host/md0", "level", "raid1");
        assert_attr(&r.emit, "raid:raid1host/md0", "raid_disks", "2");
        assert_attr(&r.emit, "raid:raid1host/md0", "array_state", "clean");
        assert_attr(&r.emit, "raid:raid1host/md0", "size_bytes", "1999188787200");
        assert_attr(&r.emit, "raid:raid1host/md0", "sync_action", NULL); /* idle */
        assert_attr(&r.emit, "dm:raid1host/vg0-root", "devnum", "253:0");
        assert_attr(&r.emit, "dm:raid1host/vg0-root", "dm_type", "lvm");
        assert_attr(&r.emit, "dm:raid1host/vg0-root", "dm_uuid",
                    "LVM-3JmQv1c6Xc0Qk8bX2Yh7Ju4Tn5Ws9Pd0E5rL1aZ2xC3vB4nM6qW7eR8tY9uI0oP1");
        assert_attr(&r.emit, "dm:raid1host/vg0-images", "size_bytes", "1649267441664");

        /* the same again next cycles, from the cached topology, with the
         * same descriptors */
        fds = open_fds();
        for (unsigned i = 1; i <= 5; i++) {
                assert_int_equal(run_cycle(&r, T0 + i * 10 * SEC), 0);
                assert_nodes(&r.emit, nodes, FL_ARRAY_SIZE(nodes));
                assert_edges(&r.emit, "host:raid1host", edges, FL_ARRAY_SIZE(edges));
                assert_others_ok(&r.emit, NULL, 0);
                assert_int_equal(open_fds(), fds);
        }
        run_done(&r);
        assert_true(open_fds() < fds);
}

static const struct want_node raid5_nodes[] = {
        { "disk:raid5host/sda", -1 }, { "partition:raid5host/sda1", -1 }, { "disk:raid5host/sdb", -1 },
        { "disk:raid5host/sdc", -1 }, { "disk:raid5host/sdd", -1 },       { "raid:raid5host/md1", 2 },
        { "disk:raid5host/sde", -1 },
};
static const struct want_edge raid5_edges[] = {
        { "partition:raid5host/sda1", "disk:raid5host/sda", "on_disk" },
        { "raid:raid5host/md1", "disk:raid5host/sdb", "member" },
        { "raid:raid5host/md1", "disk:raid5host/sdc", "member" },
        { "raid:raid5host/md1", "disk:raid5host/sdd", "member" },
        { "raid:raid5host/md1", "disk:raid5host/sde", "member" },
};
static const char *const raid5_not_ok[] = { "raid:raid5host/md1", "disk:raid5host/sdc" };

static void test_raid5_faulty(void **unused)
{
        struct run r;

        (void)unused;
        run_fixture(&r, "raid5-faulty", "raid5host");
        assert_int_equal(run_cycle(&r, T0), 0);
        /* everything but sde */
        assert_nodes(&r.emit, raid5_nodes, 6);
        assert_edges(&r.emit, "host:raid5host", raid5_edges, 4);
        assert_state(&r.emit, "raid:raid5host/md1", FL_STATE_WARNING, "degraded: 2 of 3 members working");
        assert_state(&r.emit, "disk:raid5host/sdc", FL_STATE_CRITICAL, "marked faulty in md1");
        assert_others_ok(&r.emit, raid5_not_ok, FL_ARRAY_SIZE(raid5_not_ok));

        assert_attr(&r.emit, "raid:raid5host/md1", "level", "raid5");
        assert_attr(&r.emit, "raid:raid5host/md1", "raid_disks", "3");
        assert_attr(&r.emit, "raid:raid5host/md1", "sync_action", NULL);
        assert_attr(&r.emit, "disk:raid5host/sda", "model", "Samsung SSD 860");
        assert_attr(&r.emit, "disk:raid5host/sda", "rotational", "0");
        /* an old error count is a fact about the disk, not a detection */
        assert_attr(&r.emit, "disk:raid5host/sdc", "ioerr_cnt", "47");
        assert_attr(&r.emit, "disk:raid5host/sdb", "ioerr_cnt", "0");
        run_done(&r);
}

static void test_raid5_faulty_rebuild(void **unused)
{
        struct run r;

        (void)unused;
        run_fixture(&r, "raid5-faulty-rebuild", "raid5host");
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_nodes(&r.emit, raid5_nodes, FL_ARRAY_SIZE(raid5_nodes));
        assert_edges(&r.emit, "host:raid5host", raid5_edges, FL_ARRAY_SIZE(raid5_edges));
        /* min_ok from raid_disks (3), not from the 4 member devices */
        assert_int_equal(find_node(&r.emit, "raid:raid5host/md1")->min_ok, 2);
        assert_state(&r.emit, "raid:raid5host/md1", FL_STATE_WARNING,
                     "degraded: 2 of 3 members working; recovery 12.5% (sde)");
        assert_state(&r.emit, "disk:raid5host/sdc", FL_STATE_CRITICAL, "marked faulty in md1");
        assert_others_ok(&r.emit, raid5_not_ok, FL_ARRAY_SIZE(raid5_not_ok));
        assert_attr(&r.emit, "raid:raid5host/md1", "sync_action", "recover");
        assert_attr(&r.emit, "disk:raid5host/sde", "devnum", "8:64");
        run_done(&r);
}

static void test_nvme(void **unused)
{
        static const struct want_node nodes[] = {
                { "disk:nvmehost/nvme0n1", -1 },
                { "partition:nvmehost/nvme0n1p1", -1 },
                { "partition:nvmehost/nvme0n1p2", -1 },
                { "disk:nvmehost/nvme1n1", -1 },
                { "disk:nvmehost/vda", -1 },
        };
        static const struct want_edge edges[] = {
                { "partition:nvmehost/nvme0n1p1", "disk:nvmehost/nvme0n1", "on_disk" },
                { "partition:nvmehost/nvme0n1p2", "disk:nvmehost/nvme0n1", "on_disk" },
        };
        struct run r;

        (void)unused;
        run_fixture(&r, "nvme", "nvmehost");
        assert_int_equal(run_cycle(&r, T0), 0);
        /* no loop0, loop1, zram0 */
        assert_nodes(&r.emit, nodes, FL_ARRAY_SIZE(nodes));
        assert_edges(&r.emit, "host:nvmehost", edges, FL_ARRAY_SIZE(edges));
        assert_others_ok(&r.emit, NULL, 0);

        assert_attr(&r.emit, "disk:nvmehost/nvme0n1", "devnum", "259:0");
        assert_attr(&r.emit, "disk:nvmehost/nvme0n1", "model", "Samsung SSD 980 PRO 1TB");
        assert_attr(&r.emit, "disk:nvmehost/nvme0n1", "serial", "S5GXNF0R512345A");
        assert_attr(&r.emit, "disk:nvmehost/nvme0n1", "firmware", "5B2QGXA7");
        assert_attr(&r.emit, "disk:nvmehost/nvme0n1", "rotational", "0");
        assert_attr(&r.emit, "disk:nvmehost/nvme0n1", "ioerr_cnt", NULL); /* not SCSI */
        assert_attr(&r.emit, "partition:nvmehost/nvme0n1p2", "start", "1050624");
        /* virtio: device/vendor is a PCI id, the serial is empty */
        assert_attr(&r.emit, "disk:nvmehost/vda", "devnum", "254:0");
        assert_attr(&r.emit, "disk:nvmehost/vda", "vendor", NULL);
        assert_attr(&r.emit, "disk:nvmehost/vda", "serial", NULL);
        run_done(&r);
}

static void test_missing_sysfs(void **unused)
{
        struct run r;

        (void)unused;
        assert_int_equal(run_init(&r, "/nonexistent/fl-test", "nohost"), -ENOENT);
        /* a failed init leaves nothing to release; fini is safe anyway */
        run_done(&r);
}

/* disk-ioerr: three cycles composed from overlays */

static const struct want_node ioerr_nodes[] = {
        { "disk:ioerrhost/sda", -1 },
        { "partition:ioerrhost/sda1", -1 },
        { "disk:ioerrhost/sdb", -1 },
        { "partition:ioerrhost/sdb1", -1 },
};
static const struct want_edge ioerr_edges[] = {
        { "partition:ioerrhost/sda1", "disk:ioerrhost/sda", "on_disk" },
        { "partition:ioerrhost/sdb1", "disk:ioerrhost/sdb", "on_disk" },
};
static const char *const sdb[] = { "disk:ioerrhost/sdb" };
#define IOERR_REASON "I/O errors: 12 in 10 s (ioerr_cnt 0x3 → 0xf)"

static void test_disk_ioerr(void **state)
{
        const char *root = *state;
        struct run r;

        overlay(root, "disk-ioerr");
        assert_int_equal(run_init(&r, root, "ioerrhost"), 0);
        /* 12 errors in 10 s stay a warning below 5/s */
        r.th.disk_ioerr_critical_per_s = 5.0;

        /* cycle 1: a baseline; the old count is only an attribute */
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_nodes(&r.emit, ioerr_nodes, FL_ARRAY_SIZE(ioerr_nodes));
        assert_edges(&r.emit, "host:ioerrhost", ioerr_edges, FL_ARRAY_SIZE(ioerr_edges));
        assert_others_ok(&r.emit, NULL, 0);
        assert_attr(&r.emit, "disk:ioerrhost/sdb", "ioerr_cnt", "3");
        assert_attr(&r.emit, "disk:ioerrhost/sdb", "model", "ST1000DM003-1SB1");

        /* cycle 2, 10 s later: 0x3 → 0xf */
        overlay(root, "disk-ioerr-later");
        assert_int_equal(run_cycle(&r, T0 + 10 * SEC), 0);
        assert_nodes(&r.emit, ioerr_nodes, FL_ARRAY_SIZE(ioerr_nodes));
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, IOERR_REASON);
        assert_others_ok(&r.emit, sdb, 1); /* sdb1 ok: its disk is the cause */
        assert_attr(&r.emit, "disk:ioerrhost/sdb", "ioerr_cnt", "15");

        /* cycle 3, 60 s later: offline */
        overlay(root, "disk-ioerr-offline");
        assert_int_equal(run_cycle(&r, T0 + 70 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_CRITICAL, "SCSI device state \"offline\"");
        assert_others_ok(&r.emit, sdb, 1);
        assert_attr(&r.emit, "disk:ioerrhost/sdb", "ioerr_cnt", "19");
        run_done(&r);
}

static void test_disk_ioerr_hold(void **state)
{
        const char *root = *state;
        const uint64_t t2 = T0 + 10 * SEC;
        struct run r;

        overlay(root, "disk-ioerr");
        assert_int_equal(run_init(&r, root, "ioerrhost"), 0);
        r.th.disk_ioerr_critical_per_s = 5.0;
        r.th.disk_error_hold_us = 300 * SEC;
        assert_int_equal(run_cycle(&r, T0), 0);
        overlay(root, "disk-ioerr-later");
        assert_int_equal(run_cycle(&r, t2), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, IOERR_REASON);

        /* no new errors: the warning holds, with the evidence, ... */
        assert_int_equal(run_cycle(&r, t2 + 10 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, IOERR_REASON);
        assert_int_equal(run_cycle(&r, t2 + 300 * SEC - 1), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, IOERR_REASON);
        /* ... until the hold time after the last increase has passed */
        assert_int_equal(run_cycle(&r, t2 + 300 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_OK, NULL);
        assert_int_equal(run_cycle(&r, t2 + 310 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_OK, NULL);

        /* a new increase starts a new hold: 0xf → 0x13 in 90 s */
        fixture_write_file(root, "sys/block/sdb/device/ioerr_cnt", "0x13\n");
        assert_int_equal(run_cycle(&r, t2 + 400 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, "I/O errors: 4 in 90 s (ioerr_cnt 0xf → 0x13)");
        assert_int_equal(run_cycle(&r, t2 + 699 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, "I/O errors: 4 in 90 s (ioerr_cnt 0xf → 0x13)");
        assert_int_equal(run_cycle(&r, t2 + 700 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_OK, NULL);

        /* a counter that went back (the device was set up again) is a new
         * baseline, not an error */
        fixture_write_file(root, "sys/block/sdb/device/ioerr_cnt", "0x1\n");
        assert_int_equal(run_cycle(&r, t2 + 710 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_OK, NULL);
        assert_attr(&r.emit, "disk:ioerrhost/sdb", "ioerr_cnt", "1");
        run_done(&r);
}

static void test_disk_ioerr_rate(void **state)
{
        const char *root = *state;
        struct run r;

        overlay(root, "disk-ioerr");
        /* the default threshold, 1/s: 12 in 10 s is above */
        assert_int_equal(run_init(&r, root, "ioerrhost"), 0);
        assert_true(r.th.disk_ioerr_critical_per_s == 1.0);
        assert_int_equal(run_cycle(&r, T0), 0);
        overlay(root, "disk-ioerr-later");
        assert_int_equal(run_cycle(&r, T0 + 10 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_CRITICAL, IOERR_REASON);
        /* critical for the cycle of the burst, then the warning holds */
        assert_int_equal(run_cycle(&r, T0 + 20 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, IOERR_REASON);
        run_done(&r);

        /* the same 12 errors over 20 s: 0.6/s, a warning */
        fixture_write_file(root, "sys/block/sdb/device/ioerr_cnt", "0x3\n");
        assert_int_equal(run_init(&r, root, "ioerrhost"), 0);
        assert_int_equal(run_cycle(&r, T0), 0);
        fixture_write_file(root, "sys/block/sdb/device/ioerr_cnt", "0xf\n");
        assert_int_equal(run_cycle(&r, T0 + 20 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, "I/O errors: 12 in 20 s (ioerr_cnt 0x3 → 0xf)");
        /* and at exactly the threshold, still a warning: 0xf + 20 in 20 s */
        fixture_write_file(root, "sys/block/sdb/device/ioerr_cnt", "0x23\n");
        assert_int_equal(run_cycle(&r, T0 + 40 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, "I/O errors: 20 in 20 s (ioerr_cnt 0xf → 0x23)");
        fixture_write_file(root, "sys/block/sdb/device/ioerr_cnt", "0x38\n");
        assert_int_equal(run_cycle(&r, T0 + 60 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_CRITICAL,
                     "I/O errors: 21 in 20 s (ioerr_cnt 0x23 → 0x38)");
        run_done(&r);
}

static void test_scsi_sources(void **state)
{
        const char *root = *state;
        struct run r;

        overlay(root, "disk-ioerr");
        assert_int_equal(run_init(&r, root, "ioerrhost"), 0);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_others_ok(&r.emit, NULL, 0);

        /* error handling in progress: passing, not yet a dead disk */
        fixture_write_file(root, "sys/block/sdb/device/state", "blocked\n");
        assert_int_equal(run_cycle(&r, T0 + 10 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, "SCSI device state \"blocked\"");
        fixture_write_file(root, "sys/block/sdb/device/state", "transport-offline\n");
        assert_int_equal(run_cycle(&r, T0 + 20 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_CRITICAL, "SCSI device state \"transport-offline\"");
        fixture_write_file(root, "sys/block/sdb/device/state", "running\n");

        /* a counter that is not the kernel's format is no reading */
        fixture_write_file(root, "sys/block/sdb/device/ioerr_cnt", "15\n");
        assert_int_equal(run_cycle(&r, T0 + 30 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_UNKNOWN, "unrecognised device/ioerr_cnt \"15\"");
        assert_attr(&r.emit, "disk:ioerrhost/sdb", "ioerr_cnt", NULL);
        /* and the baseline stays: 0x3 → 0x4 is one error */
        fixture_write_file(root, "sys/block/sdb/device/ioerr_cnt", "0x4\n");
        assert_int_equal(run_cycle(&r, T0 + 40 * SEC), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, "I/O errors: 1 in 20 s (ioerr_cnt 0x3 → 0x4)");
        run_done(&r);

        /* a source that cannot be read: unknown, never ok */
        remove_file(root, "sys/block/sdb/device/ioerr_cnt");
        remove_file(root, "sys/block/sda/device/state");
        assert_int_equal(run_init(&r, root, "ioerrhost"), 0);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_UNKNOWN,
                     "could not read device/ioerr_cnt: No such file or directory");
        assert_state(&r.emit, "disk:ioerrhost/sda", FL_STATE_UNKNOWN,
                     "could not read device/state: No such file or directory");
        assert_state(&r.emit, "partition:ioerrhost/sdb1", FL_STATE_OK, NULL);
        run_done(&r);
}

/* md detectors on changed copies of the fixtures */

static void test_md_states(void **state)
{
        const char *root = *state;
        const char *md0 = "raid:raid1host/md0";
        const char *md = "sys/block/md0/md";
        uint64_t t = T0;
        struct run r;

        overlay(root, "raid1-lvm");
        assert_int_equal(run_init(&r, root, "raid1host"), 0);
        assert_int_equal(run_cycle(&r, t), 0);
        assert_state(&r.emit, md0, FL_STATE_OK, NULL);

        static const struct {
                const char *array_state;
                enum fl_state state;
        } cases[] = {
                { "active", FL_STATE_OK },         { "active-idle", FL_STATE_OK },     { "write-pending", FL_STATE_OK },
                { "clean", FL_STATE_OK },          { "read-auto", FL_STATE_WARNING },  { "readonly", FL_STATE_WARNING },
                { "inactive", FL_STATE_CRITICAL }, { "suspended", FL_STATE_CRITICAL }, { "clear", FL_STATE_CRITICAL },
                { "broken", FL_STATE_CRITICAL },
        };
        for (size_t i = 0; i < FL_ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *content = fl_asprintf("%s\n", cases[i].array_state);
                _cleanup_free_ char *reason = fl_asprintf("array_state \"%s\"", cases[i].array_state);

                fixture_write_file(root, "sys/block/md0/md/array_state", content);
                assert_int_equal(run_cycle(&r, t += 10 * SEC), 0);
                assert_state(&r.emit, md0, cases[i].state, cases[i].state == FL_STATE_OK ? NULL : reason);
        }
        fixture_write_file(root, "sys/block/md0/md/array_state", "sideways\n");
        assert_int_equal(run_cycle(&r, t += 10 * SEC), 0);
        assert_state(&r.emit, md0, FL_STATE_UNKNOWN, "unrecognised md/array_state \"sideways\"");
        fixture_write_file(root, "sys/block/md0/md/array_state", "clean\n");

        /* a scrub is not a fault */
        {
                _cleanup_free_ char *sa = fl_asprintf("%s/sync_action", md);
                _cleanup_free_ char *sc = fl_asprintf("%s/sync_completed", md);

                fixture_write_file(root, sa, "check\n");
                fixture_write_file(root, sc, "390466560 / 3904665600\n");
                assert_int_equal(run_cycle(&r, t += 10 * SEC), 0);
                assert_state(&r.emit, md0, FL_STATE_OK, NULL);
                assert_attr(&r.emit, md0, "sync_action", "check");

                /* a resync is: redundancy is not there yet */
                fixture_write_file(root, sa, "resync\n");
                assert_int_equal(run_cycle(&r, t += 10 * SEC), 0);
                assert_state(&r.emit, md0, FL_STATE_WARNING, "resync 10.0%");
                fixture_write_file(root, sc, "delayed\n");
                assert_int_equal(run_cycle(&r, t += 10 * SEC), 0);
                assert_state(&r.emit, md0, FL_STATE_WARNING, "resync delayed");
                fixture_write_file(root, sa, "reshape\n");
                fixture_write_file(root, sc, "none\n");
                assert_int_equal(run_cycle(&r, t += 10 * SEC), 0);
                assert_state(&r.emit, md0, FL_STATE_WARNING, "reshape pending");
                fixture_write_file(root, sa, "idle\n");
                assert_int_equal(run_cycle(&r, t += 10 * SEC), 0);
                assert_state(&r.emit, md0, FL_STATE_OK, NULL);
                assert_attr(&r.emit, md0, "sync_action", NULL);
        }

        /* both members of a raid1 gone: critical; members that md flags */
        fixture_write_file(root, "sys/block/md0/md/degraded", "2\n");
        fixture_write_file(root, "sys/block/md0/md/dev-sda2/state", "faulty,write_error\n");
        fixture_write_file(root, "sys/block/md0/md/dev-sdb2/state", "in_sync,write_error,want_replacement\n");
        assert_int_equal(run_cycle(&r, t += 10 * SEC), 0);
        assert_state(&r.emit, md0, FL_STATE_CRITICAL, "degraded: 0 of 2 members working");
        assert_state(&r.emit, "partition:raid1host/sda2", FL_STATE_CRITICAL, "marked faulty in md0");
        assert_state(&r.emit, "partition:raid1host/sdb2", FL_STATE_WARNING,
                     "write errors recorded by md0; to be replaced in md0");
        assert_state(&r.emit, "disk:raid1host/sda", FL_STATE_OK, NULL);

        fixture_write_file(root, "sys/block/md0/md/degraded", "1\n");
        fixture_write_file(root, "sys/block/md0/md/dev-sdb2/state", "in_sync\n");
        assert_int_equal(run_cycle(&r, t += 10 * SEC), 0);
        assert_state(&r.emit, md0, FL_STATE_WARNING, "degraded: 1 of 2 members working");
        assert_state(&r.emit, "partition:raid1host/sdb2", FL_STATE_OK, NULL);
        run_done(&r);
}

static void test_md_unreadable(void **state)
{
        const char *root = *state;
        struct run r;

        overlay(root, "raid1-lvm");
        remove_file(root, "sys/block/md0/md/degraded");
        remove_file(root, "sys/block/md0/md/dev-sdb2/state");
        assert_int_equal(run_init(&r, root, "raid1host"), 0);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_state(&r.emit, "raid:raid1host/md0", FL_STATE_UNKNOWN,
                     "could not read md/degraded: No such file or directory");
        assert_state(&r.emit, "partition:raid1host/sdb2", FL_STATE_UNKNOWN,
                     "could not read md/dev-sdb2/state of md0: No such file or directory");
        assert_state(&r.emit, "partition:raid1host/sda2", FL_STATE_OK, NULL);
        /* the topology is still there */
        assert_true(has_edge(&r.emit, "raid:raid1host/md0", "partition:raid1host/sdb2", "member"));
        run_done(&r);

        overlay(root, "raid1-lvm");
        fixture_write_file(root, "sys/block/md0/md/degraded", "one\n");
        remove_file(root, "sys/block/md0/md/sync_action");
        assert_int_equal(run_init(&r, root, "raid1host"), 0);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_state(&r.emit, "raid:raid1host/md0", FL_STATE_UNKNOWN,
                     "unrecognised md/degraded \"one\"; could not read md/sync_action: No such file or directory");
        run_done(&r);

        /* raid0 has no redundancy attributes: their absence is normal */
        overlay(root, "raid1-lvm");
        fixture_write_file(root, "sys/block/md0/md/level", "raid0\n");
        remove_file(root, "sys/block/md0/md/degraded");
        remove_file(root, "sys/block/md0/md/sync_action");
        remove_file(root, "sys/block/md0/md/sync_completed");
        assert_int_equal(run_init(&r, root, "raid1host"), 0);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_state(&r.emit, "raid:raid1host/md0", FL_STATE_OK, NULL);
        assert_int_equal(find_node(&r.emit, "raid:raid1host/md0")->min_ok, 2);
        run_done(&r);

        /* an IMSM/DDF container is never started: "inactive" is its normal
         * state; its members are still watched */
        fixture_write_file(root, "sys/block/md0/md/level", "container\n");
        fixture_write_file(root, "sys/block/md0/md/array_state", "inactive\n");
        fixture_write_file(root, "sys/block/md0/md/dev-sda2/state", "faulty\n");
        assert_int_equal(run_init(&r, root, "raid1host"), 0);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_state(&r.emit, "raid:raid1host/md0", FL_STATE_OK, NULL);
        assert_int_equal(find_node(&r.emit, "raid:raid1host/md0")->min_ok, -1);
        assert_state(&r.emit, "partition:raid1host/sda2", FL_STATE_CRITICAL, "marked faulty in md0");
        run_done(&r);

        /* any other array that is not running is critical */
        fixture_write_file(root, "sys/block/md0/md/level", "\n");
        assert_int_equal(run_init(&r, root, "raid1host"), 0);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_state(&r.emit, "raid:raid1host/md0", FL_STATE_CRITICAL, "array_state \"inactive\"");
        assert_attr(&r.emit, "raid:raid1host/md0", "level", NULL);
        run_done(&r);
}

/* Topology changes */

static void test_rescan_new_device(void **state)
{
        const char *root = *state;
        struct run r;

        overlay(root, "raid5-faulty");
        assert_int_equal(run_init(&r, root, "raid5host"), 0);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_nodes(&r.emit, raid5_nodes, 6);

        /* a day later sde is hot-added: a new name in class/block */
        overlay(root, "raid5-faulty-rebuild");
        assert_int_equal(run_cycle(&r, T0 + 10 * SEC), 0);
        assert_nodes(&r.emit, raid5_nodes, FL_ARRAY_SIZE(raid5_nodes));
        assert_edges(&r.emit, "host:raid5host", raid5_edges, FL_ARRAY_SIZE(raid5_edges));
        assert_state(&r.emit, "raid:raid5host/md1", FL_STATE_WARNING,
                     "degraded: 2 of 3 members working; recovery 12.5% (sde)");

        /* and goes again */
        remove_file(root, "sys/class/block/sde");
        remove_tree(root, "sys/devices/virtual/block/md1/md/dev-sde");
        remove_file(root, "sys/devices/virtual/block/md1/slaves/sde");
        assert_int_equal(run_cycle(&r, T0 + 20 * SEC), 0);
        assert_nodes(&r.emit, raid5_nodes, 6);
        assert_edges(&r.emit, "host:raid5host", raid5_edges, 4);
        assert_state(&r.emit, "raid:raid5host/md1", FL_STATE_WARNING,
                     "degraded: 2 of 3 members working; recovery 12.5%");
        run_done(&r);
}

static void test_rescan_periodic(void **state)
{
        const char *root = *state;
        const char *dm = "dm:raid1host/vg0-root";
        uint64_t t = T0;
        struct run r;

        overlay(root, "raid1-lvm");
        assert_int_equal(run_init(&r, root, "raid1host"), 0);
        assert_int_equal(run_cycle(&r, t), 0);
        assert_attr(&r.emit, dm, "dm_type", "lvm");
        assert_int_equal(find_node(&r.emit, dm)->min_ok, -1);

        /* a change no device name shows: seen at the periodic rescan,
         * which the init scan and 59 more cycles precede */
        fixture_write_file(root, "sys/block/dm-0/dm/uuid", "mpath-3600508b4000156d700012000000b0000\n");
        remove_file(root, "sys/devices/virtual/block/dm-0/slaves/md0");
        for (unsigned i = 2; i <= SYS_BLOCK_RESCAN_CYCLES; i++) {
                assert_int_equal(run_cycle(&r, t += 10 * SEC), 0);
                assert_attr(&r.emit, dm, "dm_type", "lvm");
        }
        assert_int_equal(run_cycle(&r, t += 10 * SEC), 0);
        assert_attr(&r.emit, dm, "dm_type", "multipath");
        assert_attr(&r.emit, dm, "dm_uuid", "mpath-3600508b4000156d700012000000b0000");
        /* a multipath map needs one path; an empty slaves/ is no edge */
        assert_int_equal(find_node(&r.emit, dm)->min_ok, 1);
        assert_false(has_edge(&r.emit, dm, "raid:raid1host/md0", "maps_to"));
        assert_true(has_edge(&r.emit, "dm:raid1host/vg0-images", "raid:raid1host/md0", "maps_to"));
        run_done(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_hex),
                cmocka_unit_test(test_parse_md_array_state),
                cmocka_unit_test(test_parse_md_dev_state),
                cmocka_unit_test(test_parse_md_sync),
                cmocka_unit_test(test_md_min_ok),
                cmocka_unit_test(test_dm_type),
                cmocka_unit_test(test_raid1_lvm),
                cmocka_unit_test(test_raid5_faulty),
                cmocka_unit_test(test_raid5_faulty_rebuild),
                cmocka_unit_test(test_nvme),
                cmocka_unit_test(test_missing_sysfs),
                cmocka_unit_test_setup_teardown(test_disk_ioerr, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_disk_ioerr_hold, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_disk_ioerr_rate, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_scsi_sources, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_md_states, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_md_unreadable, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_rescan_new_device, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_rescan_periodic, setup_root, fixture_teardown_root),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
