/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fixture.h"

#include "collector.h"
#include "sys_class_net.h"

#define T0 UINT64_C(1700000000000000) /* any fixed time: nothing reads the clock */
#define TEN_S UINT64_C(10000000)

extern const struct fl_collector sys_class_net_collector;
extern const struct fl_collector proc_net_dev_collector;

/* Helpers */

static const struct fl_enode *find_node(const struct fl_emit *e, const char *key)
{
        const struct fl_enode *found = NULL;

        for (size_t i = 0; i < e->n_nodes; i++)
                if (fl_streq(e->nodes[i].key, key)) {
                        if (found)
                                fail_msg("two nodes %s", key);
                        found = &e->nodes[i];
                }
        return found;
}

static const struct fl_enode *node(const struct fl_emit *e, const char *key)
{
        const struct fl_enode *n = find_node(e, key);

        if (!n)
                fail_msg("no node %s", key);
        assert_string_equal(n->kind, "nic");
        return n;
}

static const char *node_attr(const struct fl_enode *n, const char *key)
{
        for (size_t i = 0; i < n->n_attrs; i++)
                if (fl_streq(n->attrs[i].key, key))
                        return n->attrs[i].value;
        return NULL;
}

#define assert_attr(n, key, value) assert_string_equal(node_attr(n, key) ?: "(none)", value)

static bool has_edge(const struct fl_emit *e, const char *from, const char *to, const char *type)
{
        for (size_t i = 0; i < e->n_edges; i++)
                if (fl_streq(e->edges[i].from, from) && fl_streq(e->edges[i].to, to) &&
                    fl_streq(e->edges[i].type, type))
                        return true;
        return false;
}

/* The one state of key; checks its reason (NULL: none). */
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
        if (found->state != state)
                fail_msg("%s is %s (%s), expected %s", key, fl_state_to_string(found->state),
                         found->reason ? found->reason : "no reason", fl_state_to_string(state));
        if (!fl_streq(found->reason, reason))
                fail_msg("%s: reason \"%s\", expected \"%s\"", key, found->reason ? found->reason : "(null)",
                         reason ? reason : "(null)");
}

struct run {
        struct fl_thresholds thresholds;
        struct fl_agent_ctx ctx;
        const struct fl_collector *c;
        void *state;
        struct fl_emit emit;
};

static void run_init(struct run *r, const struct fl_collector *c, const char *host, const char *root)
{
        *r = (struct run){ .c = c };
        fl_thresholds_defaults(&r->thresholds);
        r->ctx = (struct fl_agent_ctx){ .hostname = host,
                                        .rootfs = fl_strdup(root),
                                        .procfs = fl_asprintf("%s/proc", root),
                                        .sysfs = fl_asprintf("%s/sys", root),
                                        .devfs = fl_asprintf("%s/dev", root),
                                        .now_us = T0,
                                        .interval_us = TEN_S,
                                        .thresholds = &r->thresholds };
        r->state = fl_malloc0(c->state_size);
        assert_int_equal(c->init(r->state, &r->ctx), 0);
}

static int run_cycle(struct run *r, uint64_t now_us)
{
        fl_emit_reset(&r->emit);
        r->ctx.now_us = now_us;
        return r->c->collect(r->state, &r->ctx, &r->emit);
}

static void run_done(struct run *r)
{
        r->c->fini(r->state);
        free(r->state);
        fl_emit_free(&r->emit);
        free((char *)r->ctx.rootfs);
        free((char *)r->ctx.procfs);
        free((char *)r->ctx.sysfs);
        free((char *)r->ctx.devfs);
}

/* Temporary roots */

static int setup_root(void **state)
{
        *state = fixture_tmp_root("/tmp/fl-test-sys_class_net-XXXXXX");
        return 0;
}

static void make_link(const char *root, const char *rel, const char *target)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", root, rel);
        _cleanup_free_ char *dir = fl_strdup(path);

        *strrchr(dir, '/') = '\0';
        assert_int_equal(fl_mkdir_p(dir, 0755), 0);
        (void)unlink(path);
        assert_int_equal(symlink(target, path), 0);
}

static void remove_file(const char *root, const char *rel)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", root, rel);

        assert_int_equal(unlink(path), 0);
}

static void copy_tree(const char *fixture, const char *root)
{
        _cleanup_free_ char *src = fixture_data_path(fixture);

        fixture_copy_tree(src, root);
}

/* A minimal interface directory: what the detector reads. */
static void make_iface(const char *root, const char *name, const char *operstate, const char *carrier,
                       const char *flags)
{
        _cleanup_free_ char *o = fl_asprintf("sys/class/net/%s/operstate", name);
        _cleanup_free_ char *c = fl_asprintf("sys/class/net/%s/carrier", name);
        _cleanup_free_ char *f = fl_asprintf("sys/class/net/%s/flags", name);
        _cleanup_free_ char *m = fl_asprintf("sys/class/net/%s/mtu", name);
        _cleanup_free_ char *ov = fl_asprintf("%s\n", operstate);
        _cleanup_free_ char *cv = carrier ? fl_asprintf("%s\n", carrier) : NULL;
        _cleanup_free_ char *fv = fl_asprintf("%s\n", flags);

        fixture_write_file(root, o, ov);
        if (cv)
                fixture_write_file(root, c, cv);
        fixture_write_file(root, f, fv);
        fixture_write_file(root, m, "1500\n");
}

/* Parsers and rules */

static void test_classify(void **unused)
{
        const struct {
                struct sys_class_net_evidence ev;
                enum sys_class_net_type type;
        } cases[] = {
                { { .has_device_link = true }, SYS_CLASS_NET_TYPE_PHYSICAL },
                { { .has_device_link = true, .devtype = "wlan" }, SYS_CLASS_NET_TYPE_PHYSICAL },
                { { .has_bonding_dir = true, .devtype = "bond" }, SYS_CLASS_NET_TYPE_BOND },
                { { .devtype = "bond" }, SYS_CLASS_NET_TYPE_BOND },
                { { .has_bridge_dir = true }, SYS_CLASS_NET_TYPE_BRIDGE },
                { { .devtype = "bridge" }, SYS_CLASS_NET_TYPE_BRIDGE },
                { { .devtype = "vlan" }, SYS_CLASS_NET_TYPE_VLAN },
                { { .in_vlan_config = true }, SYS_CLASS_NET_TYPE_VLAN },
                { { 0 }, SYS_CLASS_NET_TYPE_VIRTUAL },
                { { .devtype = "vxlan" }, SYS_CLASS_NET_TYPE_VIRTUAL },
        };

        (void)unused;
        for (size_t i = 0; i < FL_ARRAY_SIZE(cases); i++)
                if (sys_class_net_classify(&cases[i].ev) != cases[i].type)
                        fail_msg("case %zu: got %s, expected %s", i,
                                 sys_class_net_type_to_string(sys_class_net_classify(&cases[i].ev)),
                                 sys_class_net_type_to_string(cases[i].type));
        assert_string_equal(sys_class_net_type_to_string(SYS_CLASS_NET_TYPE_PHYSICAL), "physical");
        assert_string_equal(sys_class_net_type_to_string(SYS_CLASS_NET_TYPE_BOND), "bond");
        assert_string_equal(sys_class_net_type_to_string(SYS_CLASS_NET_TYPE_BRIDGE), "bridge");
        assert_string_equal(sys_class_net_type_to_string(SYS_CLASS_NET_TYPE_VLAN), "vlan");
        assert_string_equal(sys_class_net_type_to_string(SYS_CLASS_NET_TYPE_VIRTUAL), "virtual");
}

static void test_parse_flags(void **unused)
{
        static const struct {
                const char *s;
                uint32_t flags;
        } good[] = {
                { "0x1003", 0x1003 }, { "0x1002\n", 0x1002 },       { "0", 0 },
                { " 0x9 ", 0x9 },     { "0xFFFFFFFF", UINT32_MAX }, { "0x0001803", 0x1803 },
        };
        static const struct {
                const char *s;
                int r;
        } bad[] = {
                { "", -EINVAL },     { "\n", -EINVAL },    { "0x", -EINVAL },          { "1003", -EINVAL },
                { "-0x1", -EINVAL }, { "+0x1", -EINVAL },  { "0xg", -EINVAL },         { "0x1 2", -EINVAL },
                { "00", -EINVAL },   { "x1003", -EINVAL }, { "0x100000000", -ERANGE },
        };

        (void)unused;
        for (size_t i = 0; i < FL_ARRAY_SIZE(good); i++) {
                uint32_t f = 42;
                if (sys_class_net_parse_flags(good[i].s, &f) != 0 || f != good[i].flags)
                        fail_msg("\"%s\": got %#x", good[i].s, f);
        }
        for (size_t i = 0; i < FL_ARRAY_SIZE(bad); i++) {
                uint32_t f = 42;
                int r = sys_class_net_parse_flags(bad[i].s, &f);
                if (r != bad[i].r)
                        fail_msg("\"%s\": got %d, expected %d", bad[i].s, r, bad[i].r);
                assert_int_equal(f, 42);
        }
        {
                uint32_t f = 42;
                assert_int_equal(sys_class_net_parse_flags(NULL, &f), -EINVAL);
        }
}

static void test_bond_min_ok(void **unused)
{
        static const struct {
                const char *mode;
                uint64_t min_links;
                int min_ok;
        } good[] = {
                { "active-backup 1", 0, 1 }, { "active-backup", 0, 1 }, { "active-backup 1\n", 3, 1 },
                { "balance-rr 0", 0, 1 },    { "balance-xor 2", 0, 1 }, { "broadcast 3", 0, 1 },
                { "balance-tlb 5", 0, 1 },   { "balance-alb 6", 2, 1 }, { "802.3ad 4", 0, 1 },
                { "802.3ad 4", 1, 1 },       { "802.3ad 4", 2, 2 },     { "802.3ad", 3, 3 },
        };
        static const char *const bad[] = {
                "",  "active-backup 4", "active-backup x", "active-backup 1 1", "802.3ad 4 extra", "lacp",
                "1", "Active-Backup 1",
        };

        (void)unused;
        for (size_t i = 0; i < FL_ARRAY_SIZE(good); i++) {
                int m = 42;
                if (sys_class_net_bond_min_ok(good[i].mode, good[i].min_links, &m) != 0 || m != good[i].min_ok)
                        fail_msg("\"%s\", min_links %llu: got %d, expected %d", good[i].mode,
                                 (unsigned long long)good[i].min_links, m, good[i].min_ok);
        }
        for (size_t i = 0; i < FL_ARRAY_SIZE(bad); i++) {
                int m = 42;
                if (sys_class_net_bond_min_ok(bad[i], 0, &m) != -EINVAL)
                        fail_msg("\"%s\" accepted", bad[i]);
                assert_int_equal(m, 42);
        }
}

static void test_bridge_min_ok(void **unused)
{
        (void)unused;
        assert_int_equal(sys_class_net_bridge_min_ok(0), -1);
        assert_int_equal(sys_class_net_bridge_min_ok(1), -1);
        assert_int_equal(sys_class_net_bridge_min_ok(2), 1);
        assert_int_equal(sys_class_net_bridge_min_ok(7), 1);
}

#define VLAN_HEADER "VLAN Dev name\t | VLAN ID\nName-Type: VLAN_NAME_TYPE_RAW_PLUS_VID_NO_PAD\n"

static int parse_vlans(const char *s, struct sys_class_net_vlan **ret, size_t *ret_n)
{
        _cleanup_fclose_ FILE *f = fmemopen((void *)s, strlen(s), "r");

        assert_non_null(f);
        return sys_class_net_parse_vlan_config(f, ret, ret_n);
}

static void assert_vlans_fail(const char *s, int r)
{
        struct sys_class_net_vlan *v = (void *)0x1;
        size_t n = 4242;
        int got = parse_vlans(s, &v, &n);

        if (got != r)
                fail_msg("got %d, expected %d for:\n%s", got, r, s);
        assert_ptr_equal(v, (void *)0x1);
        assert_int_equal(n, 4242);
}

static void test_parse_vlan_config(void **unused)
{
        _cleanup_free_ char *path = fixture_data_path("hosts/bond-crc/proc/net/vlan/config");
        struct sys_class_net_vlan *v = NULL;
        size_t n = 0;

        (void)unused;
        {
                _cleanup_fclose_ FILE *f = fopen(path, "re");
                assert_non_null(f);
                assert_int_equal(sys_class_net_parse_vlan_config(f, &v, &n), 0);
        }
        assert_int_equal(n, 1);
        assert_string_equal(v[0].name, "bond0.100");
        assert_int_equal(v[0].id, 100);
        assert_string_equal(v[0].lower, "bond0");
        free(v);

        assert_int_equal(parse_vlans(VLAN_HEADER "eth0.4095      | 4095  | eth0\n"
                                                 "vlan7          | 7  | enp3s0f1\n"
                                                 "abcdefghijklmno| 0  | abcdefghijklmno\n",
                                     &v, &n),
                         0);
        assert_int_equal(n, 3);
        assert_string_equal(v[0].name, "eth0.4095");
        assert_int_equal(v[0].id, 4095);
        assert_string_equal(v[1].name, "vlan7");
        assert_int_equal(v[1].id, 7);
        assert_string_equal(v[1].lower, "enp3s0f1");
        assert_string_equal(v[2].name, "abcdefghijklmno");
        assert_int_equal(v[2].id, 0);
        free(v);

        v = (void *)0x1;
        n = 4242;
        assert_int_equal(parse_vlans(VLAN_HEADER, &v, &n), 0);
        assert_null(v);
        assert_int_equal(n, 0);

        assert_vlans_fail("", -EBADMSG);
        assert_vlans_fail("VLAN Dev name\t | VLAN ID\n", -EBADMSG);
        assert_vlans_fail("Name-Type: VLAN_NAME_TYPE_RAW_PLUS_VID_NO_PAD\neth0.1 | 1 | eth0\n", -EBADMSG);
        assert_vlans_fail("VLAN Dev name\t | VLAN ID\neth0.1 | 1 | eth0\n", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "eth0.1 | 1\n", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "eth0.1 | 1 | eth0 | x\n", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "eth0.1 1 eth0\n", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "eth0.1 | 4096 | eth0\n", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "eth0.1 | -1 | eth0\n", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "eth0.1 | x | eth0\n", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "eth0.1 |  | eth0\n", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "       | 1 | eth0\n", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "eth0.1 | 1 | \n", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "et h0.1 | 1 | eth0\n", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "a/b | 1 | eth0\n", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "abcdefghijklmnop | 1 | eth0\n", -E2BIG);
        assert_vlans_fail(VLAN_HEADER "eth0.1 | 1 | eth0", -EBADMSG);
        assert_vlans_fail(VLAN_HEADER "\n", -EBADMSG);
        {
                char line[SYS_CLASS_NET_MAX_LINE_LEN + 10];
                _cleanup_free_ char *s = NULL;

                memset(line, ' ', sizeof(line) - 1);
                line[sizeof(line) - 1] = '\0';
                memcpy(line, "eth0.1 | 1 | eth0", strlen("eth0.1 | 1 | eth0"));
                s = fl_asprintf(VLAN_HEADER "%s\n", line);
                assert_vlans_fail(s, -E2BIG);
        }
}

static void test_parse_vlan_config_count(void **unused)
{
        _cleanup_free_ char *buf = NULL;
        struct sys_class_net_vlan *v = NULL;
        size_t len = 0, n = 0;
        FILE *f;

        (void)unused;
        f = open_memstream(&buf, &len);
        assert_non_null(f);
        fputs(VLAN_HEADER, f);
        for (unsigned i = 0; i < SYS_CLASS_NET_MAX_VLANS; i++)
                fprintf(f, "v%u | %u | eth%u\n", i, i % 4096, i / 4096);
        fclose(f);
        assert_int_equal(parse_vlans(buf, &v, &n), 0);
        assert_int_equal(n, SYS_CLASS_NET_MAX_VLANS);
        free(v);
        {
                _cleanup_free_ char *more = fl_asprintf("%sv | 1 | eth0\n", buf);
                assert_vlans_fail(more, -E2BIG);
        }
}

static void assert_judge(const struct sys_class_net_link_status *l, enum fl_state state, const char *reason)
{
        _cleanup_free_ char *got = NULL;
        enum fl_state s = sys_class_net_judge(l, &got);

        if (s != state || !fl_streq(got, reason))
                fail_msg("got %s \"%s\", expected %s \"%s\"", fl_state_to_string(s), got ? got : "(null)",
                         fl_state_to_string(state), reason ? reason : "(null)");
}

static void test_judge(void **unused)
{
        const enum sys_class_net_type P = SYS_CLASS_NET_TYPE_PHYSICAL, V = SYS_CLASS_NET_TYPE_VIRTUAL;
        const char *const down = "link down (no carrier) while administratively up";

        (void)unused;
        /* physical NICs */
        assert_judge(&(struct sys_class_net_link_status){ P, "up", 0, 1, 1 }, FL_STATE_OK, NULL);
        assert_judge(&(struct sys_class_net_link_status){ P, "down", 0, 0, 1 }, FL_STATE_CRITICAL, down);
        assert_judge(&(struct sys_class_net_link_status){ P, "down", 0, -1, 1 }, FL_STATE_CRITICAL,
                     "link down (operstate down) while administratively up");
        assert_judge(&(struct sys_class_net_link_status){ P, "notpresent", 0, -1, 1 }, FL_STATE_CRITICAL,
                     "link down (device not present) while administratively up");
        /* an operator's choice */
        assert_judge(&(struct sys_class_net_link_status){ P, "down", 0, -1, 0 }, FL_STATE_OK, "administratively down");
        assert_judge(&(struct sys_class_net_link_status){ P, NULL, -ENOENT, -1, 0 }, FL_STATE_OK,
                     "administratively down");
        /* no evidence */
        assert_judge(&(struct sys_class_net_link_status){ P, NULL, -ENOENT, 1, 1 }, FL_STATE_UNKNOWN,
                     "could not read operstate: No such file or directory");
        assert_judge(&(struct sys_class_net_link_status){ P, "down", 0, 0, -1 }, FL_STATE_UNKNOWN,
                     "link down (no carrier), administrative state unknown: could not read flags");
        /* states that are no fault */
        assert_judge(&(struct sys_class_net_link_status){ P, "unknown", 0, 1, 1 }, FL_STATE_OK, NULL);
        assert_judge(&(struct sys_class_net_link_status){ P, "dormant", 0, 1, 1 }, FL_STATE_OK, NULL);
        assert_judge(&(struct sys_class_net_link_status){ P, "testing", 0, 1, 1 }, FL_STATE_OK, NULL);

        /* bond slaves: the link, and the bond's own view of it */
        assert_judge(&(struct sys_class_net_link_status){ P, "down", 0, 0, 1, "bond0", "down" }, FL_STATE_CRITICAL,
                     "link down (no carrier) while administratively up; slave of bond0 down (mii_status down)");
        assert_judge(&(struct sys_class_net_link_status){ P, "up", 0, 1, 1, "bond0", "down" }, FL_STATE_CRITICAL,
                     "slave of bond0 down (mii_status down)");
        assert_judge(&(struct sys_class_net_link_status){ P, "up", 0, 1, 1, "bond0", "going back" }, FL_STATE_OK, NULL);
        assert_judge(&(struct sys_class_net_link_status){ P, NULL, -EIO, -1, 1, "bond0", "down" }, FL_STATE_CRITICAL,
                     "slave of bond0 down (mii_status down)");
        assert_judge(&(struct sys_class_net_link_status){ V, "down", 0, 0, 1, "bond0", NULL }, FL_STATE_CRITICAL, down);

        /* other virtual interfaces follow a process or a peer */
        assert_judge(&(struct sys_class_net_link_status){ V, "down", 0, 0, 1 }, FL_STATE_OK, NULL);
        assert_judge(&(struct sys_class_net_link_status){ V, "lowerlayerdown", 0, 0, 1 }, FL_STATE_OK, NULL);

        /* bridges: an empty one has no carrier by design */
        assert_judge(&(struct sys_class_net_link_status){ SYS_CLASS_NET_TYPE_BRIDGE, "down", 0, 0, 1 }, FL_STATE_OK,
                     NULL);
        assert_judge(&(struct sys_class_net_link_status){ SYS_CLASS_NET_TYPE_BRIDGE, "down", 0, 0, 1, .n_lowers = 1 },
                     FL_STATE_CRITICAL, down);
        assert_judge(&(struct sys_class_net_link_status){ SYS_CLASS_NET_TYPE_BRIDGE, "down", 0, 0, 0, .n_lowers = 2 },
                     FL_STATE_OK, "administratively down");

        /* VLANs */
        assert_judge(&(struct sys_class_net_link_status){ SYS_CLASS_NET_TYPE_VLAN, "lowerlayerdown", 0, 0, 1,
                                                          .n_lowers = 1 },
                     FL_STATE_CRITICAL, "link down (lower layer down) while administratively up");
        assert_judge(&(struct sys_class_net_link_status){ SYS_CLASS_NET_TYPE_VLAN, "up", 0, 1, 1, .n_lowers = 1 },
                     FL_STATE_OK, NULL);

        /* bonds: one slave down is for min_ok in the graph, all down is the
         * bond's own fault */
        assert_judge(&(struct sys_class_net_link_status){ SYS_CLASS_NET_TYPE_BOND, "up", 0, 1, 1, .n_lowers = 2,
                                                          .n_lowers_down = 1, .lowers_down = "eth1" },
                     FL_STATE_OK, NULL);
        assert_judge(&(struct sys_class_net_link_status){ SYS_CLASS_NET_TYPE_BOND, "down", 0, 0, 1, .n_lowers = 2,
                                                          .n_lowers_down = 2, .lowers_down = "eth0, eth1" },
                     FL_STATE_CRITICAL,
                     "link down (no carrier) while administratively up; all slaves down: eth0, eth1");
        assert_judge(&(struct sys_class_net_link_status){ SYS_CLASS_NET_TYPE_BOND, "up", 0, 1, 1, .n_lowers = 1,
                                                          .n_lowers_down = 1, .lowers_down = "eth0" },
                     FL_STATE_CRITICAL, "all slaves down: eth0");
        /* a bond without slaves is down: a configuration fault */
        assert_judge(&(struct sys_class_net_link_status){ SYS_CLASS_NET_TYPE_BOND, "down", 0, 0, 1 }, FL_STATE_CRITICAL,
                     down);
}

/* Collector on the fixture trees */

static void test_collect_bond_crc(void **unused)
{
        _cleanup_free_ char *root = fixture_data_path("hosts/bond-crc");
        static const char *const keys[] = {
                "nic:netbox/bond0", "nic:netbox/bond0.100", "nic:netbox/br0",  "nic:netbox/eth0",
                "nic:netbox/eth1",  "nic:netbox/eth2",      "nic:netbox/eth3", "nic:netbox/eth4",
        };
        const struct fl_enode *n;
        struct run r;

        (void)unused;
        run_init(&r, &sys_class_net_collector, "netbox", root);
        assert_int_equal(run_cycle(&r, T0), 0);

        /* no lo, no bonding_masters; sorted by name */
        assert_int_equal(r.emit.n_nodes, FL_ARRAY_SIZE(keys));
        for (size_t i = 0; i < FL_ARRAY_SIZE(keys); i++)
                assert_string_equal(r.emit.nodes[i].key, keys[i]);

        n = node(&r.emit, "nic:netbox/eth0");
        assert_int_equal(n->n_attrs, 8);
        assert_attr(n, "type", "physical");
        assert_attr(n, "operstate", "up");
        assert_attr(n, "carrier", "1");
        assert_attr(n, "admin_up", "true");
        assert_attr(n, "mtu", "1500");
        assert_attr(n, "address", "3c:ec:ef:12:34:56");
        assert_attr(n, "speed_mbps", "10000");
        assert_attr(n, "driver", "ixgbe");
        assert_int_equal(n->min_ok, -1);

        /* speed -1 while the link is down: no speed */
        n = node(&r.emit, "nic:netbox/eth1");
        assert_int_equal(n->n_attrs, 7);
        assert_attr(n, "type", "physical");
        assert_attr(n, "operstate", "down");
        assert_attr(n, "carrier", "0");
        assert_attr(n, "admin_up", "true");
        assert_attr(n, "driver", "ixgbe");
        assert_null(node_attr(n, "speed_mbps"));

        n = node(&r.emit, "nic:netbox/eth2");
        assert_attr(n, "speed_mbps", "1000");
        assert_attr(n, "driver", "igb");

        /* administratively down: carrier and speed cannot be read */
        n = node(&r.emit, "nic:netbox/eth4");
        assert_int_equal(n->n_attrs, 6);
        assert_attr(n, "type", "physical");
        assert_attr(n, "operstate", "down");
        assert_attr(n, "admin_up", "false");
        assert_attr(n, "driver", "e1000e");
        assert_null(node_attr(n, "carrier"));
        assert_null(node_attr(n, "speed_mbps"));

        n = node(&r.emit, "nic:netbox/bond0");
        assert_int_equal(n->n_attrs, 9);
        assert_attr(n, "type", "bond");
        assert_attr(n, "operstate", "up");
        assert_attr(n, "admin_up", "true");
        assert_attr(n, "speed_mbps", "10000");
        assert_attr(n, "bond_mode", "active-backup");
        assert_attr(n, "active_slave", "eth0");
        assert_null(node_attr(n, "driver"));
        assert_int_equal(n->min_ok, 1);

        /* one port: min_ok stays "every dependency" */
        n = node(&r.emit, "nic:netbox/br0");
        assert_int_equal(n->n_attrs, 6);
        assert_attr(n, "type", "bridge");
        assert_attr(n, "address", "5e:7a:1f:c2:09:d4");
        assert_null(node_attr(n, "speed_mbps"));
        assert_int_equal(n->min_ok, -1);

        n = node(&r.emit, "nic:netbox/bond0.100");
        assert_int_equal(n->n_attrs, 8);
        assert_attr(n, "type", "vlan");
        assert_attr(n, "vlan_id", "100");
        assert_attr(n, "operstate", "up");
        assert_int_equal(n->min_ok, -1);

        assert_int_equal(r.emit.n_edges, 8 + 4);
        for (size_t i = 0; i < FL_ARRAY_SIZE(keys); i++)
                assert_true(has_edge(&r.emit, keys[i], "host:netbox", "part_of"));
        assert_true(has_edge(&r.emit, "nic:netbox/bond0", "nic:netbox/eth0", "bond_member"));
        assert_true(has_edge(&r.emit, "nic:netbox/bond0", "nic:netbox/eth1", "bond_member"));
        assert_true(has_edge(&r.emit, "nic:netbox/br0", "nic:netbox/bond0", "bridge_port"));
        assert_true(has_edge(&r.emit, "nic:netbox/bond0.100", "nic:netbox/bond0", "vlan_of"));

        assert_int_equal(r.emit.n_states, FL_ARRAY_SIZE(keys));
        assert_state(&r.emit, "nic:netbox/eth0", FL_STATE_OK, NULL);
        assert_state(&r.emit, "nic:netbox/eth1", FL_STATE_CRITICAL,
                     "link down (no carrier) while administratively up; slave of bond0 down (mii_status down)");
        assert_state(&r.emit, "nic:netbox/eth2", FL_STATE_OK, NULL);
        assert_state(&r.emit, "nic:netbox/eth3", FL_STATE_CRITICAL, "link down (no carrier) while administratively up");
        assert_state(&r.emit, "nic:netbox/eth4", FL_STATE_OK, "administratively down");
        /* one of two slaves down: warning through min_ok, not its own */
        assert_state(&r.emit, "nic:netbox/bond0", FL_STATE_OK, NULL);
        assert_state(&r.emit, "nic:netbox/br0", FL_STATE_OK, NULL);
        assert_state(&r.emit, "nic:netbox/bond0.100", FL_STATE_OK, NULL);
        assert_int_equal(r.emit.n_samples, 0);

        /* the next cycle, with nothing changed, says the same */
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_int_equal(r.emit.n_nodes, FL_ARRAY_SIZE(keys));
        assert_int_equal(r.emit.n_edges, 12);
        assert_state(&r.emit, "nic:netbox/eth3", FL_STATE_CRITICAL, "link down (no carrier) while administratively up");
        run_done(&r);
}

static void test_collect_raid1_lvm(void **unused)
{
        _cleanup_free_ char *root = fixture_data_path("hosts/raid1-lvm");
        const struct fl_enode *n;
        struct run r;

        (void)unused;
        run_init(&r, &sys_class_net_collector, "raid1host", root);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_nodes, 1);
        n = node(&r.emit, "nic:raid1host/eth0");
        assert_attr(n, "type", "physical");
        assert_attr(n, "operstate", "up");
        assert_attr(n, "carrier", "1");
        assert_attr(n, "admin_up", "true");
        assert_attr(n, "speed_mbps", "1000");
        assert_attr(n, "driver", "e1000e");
        assert_int_equal(n->min_ok, -1);
        assert_int_equal(r.emit.n_edges, 1);
        assert_true(has_edge(&r.emit, "nic:raid1host/eth0", "host:raid1host", "part_of"));
        assert_int_equal(r.emit.n_states, 1);
        assert_state(&r.emit, "nic:raid1host/eth0", FL_STATE_OK, NULL);
        run_done(&r);
}

/* The older hand-written tree: plain directories, no flags, no carrier. */
static void test_collect_plain(void **unused)
{
        _cleanup_free_ char *root = fixture_data_path("hosts/plain");
        const struct fl_enode *n;
        struct run r;

        (void)unused;
        run_init(&r, &sys_class_net_collector, "fixture01", root);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_nodes, 2);
        n = node(&r.emit, "nic:fixture01/eth0");
        assert_attr(n, "type", "physical");
        assert_null(node_attr(n, "admin_up"));
        assert_null(node_attr(n, "carrier"));
        /* without bridge/ or a uevent, br0 cannot be told from a tap */
        n = node(&r.emit, "nic:fixture01/br0");
        assert_attr(n, "type", "virtual");
        assert_state(&r.emit, "nic:fixture01/eth0", FL_STATE_OK, NULL);
        assert_state(&r.emit, "nic:fixture01/br0", FL_STATE_OK, NULL);
        run_done(&r);
}

/* Cycle 2 of bond-crc: both NIC collectors on one composed tree, merged the
 * way the agent merges them. */
static void test_collect_bond_crc_later(void **state)
{
        const char *root = *state;
        struct run net, dev;

        copy_tree("hosts/bond-crc", root);
        run_init(&net, &sys_class_net_collector, "netbox", root);
        run_init(&dev, &proc_net_dev_collector, "netbox", root);

        assert_int_equal(run_cycle(&net, T0), 0);
        assert_int_equal(dev.c->collect(dev.state, &dev.ctx, &net.emit), 0);
        fl_emit_finalize(&net.emit);
        /* one reading: no rate, so no error state yet */
        assert_state(&net.emit, "nic:netbox/eth2", FL_STATE_OK, NULL);

        /* the same collector states: descriptors kept open see the files
         * that the overlay rewrote in place */
        copy_tree("hosts/bond-crc-later", root);
        assert_int_equal(run_cycle(&net, T0 + TEN_S), 0);
        dev.ctx.now_us = T0 + TEN_S;
        assert_int_equal(dev.c->collect(dev.state, &dev.ctx, &net.emit), 0);
        fl_emit_finalize(&net.emit);

        assert_int_equal(net.emit.n_nodes, 8);
        assert_int_equal(net.emit.n_states, 8);
        /* 500 CRC and 20 alignment errors in 10 s; igb counts both in
         * rx_errors */
        assert_state(&net.emit, "nic:netbox/eth2", FL_STATE_WARNING,
                     "receive errors: 52.0/s (50.0/s CRC, 2.0/s frame)");
        assert_state(&net.emit, "nic:netbox/eth1", FL_STATE_CRITICAL,
                     "link down (no carrier) while administratively up; slave of bond0 down (mii_status down)");
        assert_state(&net.emit, "nic:netbox/eth3", FL_STATE_CRITICAL,
                     "link down (no carrier) while administratively up");
        assert_state(&net.emit, "nic:netbox/eth4", FL_STATE_OK, "administratively down");
        assert_state(&net.emit, "nic:netbox/eth0", FL_STATE_OK, NULL);
        assert_state(&net.emit, "nic:netbox/bond0", FL_STATE_OK, NULL);
        assert_state(&net.emit, "nic:netbox/br0", FL_STATE_OK, NULL);
        assert_state(&net.emit, "nic:netbox/bond0.100", FL_STATE_OK, NULL);
        /* the inventory is sys_class_net's alone */
        assert_int_equal(net.emit.n_edges, 12);
        assert_attr(node(&net.emit, "nic:netbox/eth2"), "type", "physical");
        assert_null(node_attr(node(&net.emit, "nic:netbox/eth2"), "physical"));

        run_done(&dev);
        run_done(&net);
}

/* Collector on trees the test changes */

static void test_collect_changes(void **state)
{
        const char *root = *state;
        struct run r;

        make_iface(root, "eth0", "up", "1", "0x1003");
        make_link(root, "sys/class/net/eth0/device", "../../../0000:00:19.0");
        fixture_write_file(root, "sys/class/net/bonding_masters", "\n");
        make_iface(root, "lo", "unknown", "1", "0x9");
        run_init(&r, &sys_class_net_collector, "h", root);

        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_nodes, 1);
        assert_state(&r.emit, "nic:h/eth0", FL_STATE_OK, NULL);
        assert_attr(node(&r.emit, "nic:h/eth0"), "mtu", "1500");

        /* no rescan while nothing the detector reads changes: the mtu,
         * read at scans, stays as it was */
        fixture_write_file(root, "sys/class/net/eth0/mtu", "9000\n");
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_attr(node(&r.emit, "nic:h/eth0"), "mtu", "1500");

        /* The link goes down: seen through the kept descriptors (files
         * rewritten in place). The operstate change also rescans: the new
         * mtu shows. */
        fixture_write_file(root, "sys/class/net/eth0/operstate", "down\n");
        fixture_write_file(root, "sys/class/net/eth0/carrier", "0\n");
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), 0);
        assert_state(&r.emit, "nic:h/eth0", FL_STATE_CRITICAL, "link down (no carrier) while administratively up");
        assert_attr(node(&r.emit, "nic:h/eth0"), "operstate", "down");
        assert_attr(node(&r.emit, "nic:h/eth0"), "carrier", "0");
        assert_attr(node(&r.emit, "nic:h/eth0"), "mtu", "9000");
        assert_null(node_attr(node(&r.emit, "nic:h/eth0"), "speed_mbps"));

        /* back up: the speed comes with the link */
        fixture_write_file(root, "sys/class/net/eth0/speed", "1000\n");
        fixture_write_file(root, "sys/class/net/eth0/operstate", "up\n");
        fixture_write_file(root, "sys/class/net/eth0/carrier", "1\n");
        assert_int_equal(run_cycle(&r, T0 + 3 * TEN_S), 0);
        assert_state(&r.emit, "nic:h/eth0", FL_STATE_OK, NULL);
        assert_attr(node(&r.emit, "nic:h/eth0"), "speed_mbps", "1000");

        /* taken down by an operator: no fault, whatever the link says */
        fixture_write_file(root, "sys/class/net/eth0/flags", "0x1002\n");
        assert_int_equal(run_cycle(&r, T0 + 4 * TEN_S), 0);
        assert_state(&r.emit, "nic:h/eth0", FL_STATE_OK, "administratively down");
        assert_attr(node(&r.emit, "nic:h/eth0"), "admin_up", "false");
        fixture_write_file(root, "sys/class/net/eth0/operstate", "down\n");
        remove_file(root, "sys/class/net/eth0/carrier");
        assert_int_equal(run_cycle(&r, T0 + 5 * TEN_S), 0);
        assert_state(&r.emit, "nic:h/eth0", FL_STATE_OK, "administratively down");
        assert_null(node_attr(node(&r.emit, "nic:h/eth0"), "carrier"));

        /* a new interface: the directory listing changed, rescan */
        make_iface(root, "eth1", "down", "0", "0x1003");
        make_link(root, "sys/class/net/eth1/device", "../../../0000:00:1a.0");
        assert_int_equal(run_cycle(&r, T0 + 6 * TEN_S), 0);
        assert_int_equal(r.emit.n_nodes, 2);
        assert_state(&r.emit, "nic:h/eth1", FL_STATE_CRITICAL, "link down (no carrier) while administratively up");
        run_done(&r);
}

static void test_collect_rescan_period(void **state)
{
        const char *root = *state;
        struct run r;

        make_iface(root, "eth0", "up", "1", "0x1003");
        run_init(&r, &sys_class_net_collector, "h", root);
        assert_int_equal(run_cycle(&r, T0), 0);

        /* Attributes read at scans are not read again every cycle... */
        fixture_write_file(root, "sys/class/net/eth0/mtu", "9000\n");
        for (unsigned i = 2; i <= 60; i++) {
                assert_int_equal(run_cycle(&r, T0 + i * TEN_S), 0);
                assert_attr(node(&r.emit, "nic:h/eth0"), "mtu", "1500");
        }
        /* ...but every 60 cycles */
        assert_int_equal(run_cycle(&r, T0 + 61 * TEN_S), 0);
        assert_attr(node(&r.emit, "nic:h/eth0"), "mtu", "9000");
        run_done(&r);
}

static void test_collect_topologies(void **state)
{
        const char *root = *state;
        const struct fl_enode *n;
        struct run r;

        /* a LACP bond that needs 2 of its 3 slaves */
        for (unsigned i = 0; i < 3; i++) {
                _cleanup_free_ char *name = fl_asprintf("eth%u", i);
                _cleanup_free_ char *dev = fl_asprintf("sys/class/net/%s/device", name);
                make_iface(root, name, "up", "1", "0x1803");
                make_link(root, dev, "../../../0000:00:19.0");
        }
        fixture_write_file(root, "sys/class/net/eth2/bonding_slave/mii_status", "down\n");
        fixture_write_file(root, "sys/class/net/eth1/bonding_slave/mii_status", "up\n");
        fixture_write_file(root, "sys/class/net/eth0/bonding_slave/mii_status", "up\n");
        make_iface(root, "bond0", "up", "1", "0x1403");
        fixture_write_file(root, "sys/class/net/bond0/bonding/mode", "802.3ad 4\n");
        fixture_write_file(root, "sys/class/net/bond0/bonding/min_links", "2\n");
        fixture_write_file(root, "sys/class/net/bond0/bonding/slaves", "eth0 eth1 eth2\n");
        fixture_write_file(root, "sys/class/net/bond0/bonding/active_slave", "\n");

        /* a bridge over the bond and a tap; an empty bridge */
        make_iface(root, "br0", "up", "1", "0x1003");
        fixture_write_file(root, "sys/class/net/br0/bridge/stp_state", "0\n");
        make_link(root, "sys/class/net/br0/brif/bond0", "../../bond0/brport");
        make_link(root, "sys/class/net/br0/brif/vnet0", "../../vnet0/brport");
        make_iface(root, "vnet0", "up", "1", "0x1003");
        make_iface(root, "virbr0", "down", "0", "0x1003");
        fixture_write_file(root, "sys/class/net/virbr0/uevent", "INTERFACE=virbr0\nIFINDEX=12\nDEVTYPE=bridge\n");

        /* a VLAN known only from /proc/net/vlan/config (no lower_ link) */
        make_iface(root, "vlan7", "lowerlayerdown", "0", "0x1003");
        fixture_write_file(root, "proc/net/vlan/config", VLAN_HEADER "vlan7          | 7  | eth0\n");

        /* a tap whose process is gone */
        make_iface(root, "tun0", "down", "0", "0x1091");

        run_init(&r, &sys_class_net_collector, "h", root);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(r.emit.n_nodes, 9);

        n = node(&r.emit, "nic:h/bond0");
        assert_attr(n, "type", "bond");
        assert_attr(n, "bond_mode", "802.3ad");
        assert_null(node_attr(n, "active_slave"));
        assert_int_equal(n->min_ok, 2);
        for (unsigned i = 0; i < 3; i++) {
                _cleanup_free_ char *key = fl_asprintf("nic:h/eth%u", i);
                assert_true(has_edge(&r.emit, "nic:h/bond0", key, "bond_member"));
        }
        assert_state(&r.emit, "nic:h/eth2", FL_STATE_CRITICAL, "slave of bond0 down (mii_status down)");
        assert_state(&r.emit, "nic:h/eth1", FL_STATE_OK, NULL);
        assert_state(&r.emit, "nic:h/bond0", FL_STATE_OK, NULL);

        n = node(&r.emit, "nic:h/br0");
        assert_attr(n, "type", "bridge");
        assert_int_equal(n->min_ok, 1);
        assert_true(has_edge(&r.emit, "nic:h/br0", "nic:h/bond0", "bridge_port"));
        assert_true(has_edge(&r.emit, "nic:h/br0", "nic:h/vnet0", "bridge_port"));
        assert_attr(node(&r.emit, "nic:h/vnet0"), "type", "virtual");

        n = node(&r.emit, "nic:h/virbr0");
        assert_attr(n, "type", "bridge");
        assert_int_equal(n->min_ok, -1);
        assert_state(&r.emit, "nic:h/virbr0", FL_STATE_OK, NULL);

        n = node(&r.emit, "nic:h/vlan7");
        assert_attr(n, "type", "vlan");
        assert_attr(n, "vlan_id", "7");
        assert_true(has_edge(&r.emit, "nic:h/vlan7", "nic:h/eth0", "vlan_of"));
        assert_state(&r.emit, "nic:h/vlan7", FL_STATE_CRITICAL,
                     "link down (lower layer down) while administratively up");

        assert_attr(node(&r.emit, "nic:h/tun0"), "type", "virtual");
        assert_state(&r.emit, "nic:h/tun0", FL_STATE_OK, NULL);

        /* 9 part_of, 3 bond members, 2 bridge ports, 1 vlan */
        assert_int_equal(r.emit.n_edges, 9 + 3 + 2 + 1);

        /* every slave down: now the bond itself */
        fixture_write_file(root, "sys/class/net/eth0/bonding_slave/mii_status", "down\n");
        fixture_write_file(root, "sys/class/net/eth1/bonding_slave/mii_status", "down\n");
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_state(&r.emit, "nic:h/bond0", FL_STATE_CRITICAL, "all slaves down: eth0, eth1, eth2");
        run_done(&r);
}

static void test_collect_unreadable(void **state)
{
        const char *root = *state;
        struct run r;

        /* no operstate at all */
        fixture_write_file(root, "sys/class/net/eth0/flags", "0x1003\n");
        run_init(&r, &sys_class_net_collector, "h", root);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_state(&r.emit, "nic:h/eth0", FL_STATE_UNKNOWN, "could not read operstate: No such file or directory");
        assert_null(node_attr(node(&r.emit, "nic:h/eth0"), "operstate"));

        /* it comes back: opened again */
        fixture_write_file(root, "sys/class/net/eth0/operstate", "up\n");
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_state(&r.emit, "nic:h/eth0", FL_STATE_OK, NULL);
        run_done(&r);

        /* no <sysfs>/class/net: the collector cannot start */
        {
                _cleanup_free_ char *empty = fl_asprintf("%s/none", root);
                struct fl_agent_ctx ctx = { .hostname = "h", .procfs = empty, .sysfs = empty, .now_us = T0 };
                void *s = fl_malloc0(sys_class_net_collector.state_size);

                assert_int_equal(sys_class_net_collector.init(s, &ctx), -ENOENT);
                sys_class_net_collector.fini(s);
                free(s);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_classify),
                cmocka_unit_test(test_parse_flags),
                cmocka_unit_test(test_bond_min_ok),
                cmocka_unit_test(test_bridge_min_ok),
                cmocka_unit_test(test_parse_vlan_config),
                cmocka_unit_test(test_parse_vlan_config_count),
                cmocka_unit_test(test_judge),
                cmocka_unit_test(test_collect_bond_crc),
                cmocka_unit_test(test_collect_raid1_lvm),
                cmocka_unit_test(test_collect_plain),
                cmocka_unit_test_setup_teardown(test_collect_bond_crc_later, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_changes, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_rescan_period, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_topologies, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_unreadable, setup_root, fixture_teardown_root),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
