/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include <cmocka.h>

#include "fixture.h"

#include "collector.h"
#include "proc_mountinfo.h"

#define T0 UINT64_C(1700000000000000) /* any fixed time: nothing reads the clock */
#define TEN_S UINT64_C(10000000)

extern const struct fl_collector proc_mountinfo_collector;

/* Helpers */

static int parse_file(const char *rel, struct proc_mountinfo_entry **ret, size_t *ret_n)
{
        _cleanup_free_ char *path = fixture_data_path(rel);
        _cleanup_fclose_ FILE *f = fopen(path, "re");

        if (!f)
                fail_msg("could not open \"%s\": %s", path, strerror(errno));
        return proc_mountinfo_parse(f, ret, ret_n);
}

/* Through a temporary file rather than fmemopen: it takes a zero size and
 * NUL bytes. */
static int parse_bytes(const char *s, size_t len, struct proc_mountinfo_entry **ret, size_t *ret_n)
{
        _cleanup_fclose_ FILE *f = tmpfile();

        assert_non_null(f);
        assert_int_equal(fwrite(s, 1, len, f), len);
        rewind(f);
        return proc_mountinfo_parse(f, ret, ret_n);
}

static int parse_string(const char *s, struct proc_mountinfo_entry **ret, size_t *ret_n)
{
        return parse_bytes(s, strlen(s), ret, ret_n);
}

static void assert_parse_fails(const char *s, int r)
{
        struct proc_mountinfo_entry *e = (void *)0x1;
        size_t n = 4242;

        assert_int_equal(parse_string(s, &e, &n), r);
        assert_ptr_equal(e, (void *)0x1);
        assert_int_equal(n, 4242);
}

/* Parses one line, which must parse. */
static struct proc_mountinfo_entry *parse_one(const char *line)
{
        struct proc_mountinfo_entry *e = NULL;
        size_t n = 0;

        assert_int_equal(parse_string(line, &e, &n), 0);
        assert_int_equal(n, 1);
        return e;
}

static const struct proc_mountinfo_entry *find_entry(const struct proc_mountinfo_entry *e, size_t n, const char *mp)
{
        for (size_t i = 0; i < n; i++)
                if (fl_streq(e[i].mount_point, mp))
                        return &e[i];
        fail_msg("no mount on \"%s\"", mp);
        return NULL;
}

static const struct fl_enode *find_node(const struct fl_emit *e, const char *key)
{
        for (size_t i = 0; i < e->n_nodes; i++)
                if (fl_streq(e->nodes[i].key, key))
                        return &e->nodes[i];
        return NULL;
}

static size_t count_nodes(const struct fl_emit *e, const char *prefix)
{
        size_t n = 0;

        for (size_t i = 0; i < e->n_nodes; i++)
                if (fl_startswith(e->nodes[i].key, prefix))
                        n++;
        return n;
}

static const char *node_attr(const struct fl_enode *n, const char *key)
{
        for (size_t i = 0; i < n->n_attrs; i++)
                if (fl_streq(n->attrs[i].key, key))
                        return n->attrs[i].value;
        return NULL;
}

static const char *attr_of(const struct fl_emit *e, const char *key, const char *attr)
{
        const struct fl_enode *n = find_node(e, key);

        if (!n)
                fail_msg("no node %s", key);
        return node_attr(n, attr);
}

static bool has_edge(const struct fl_emit *e, const char *from, const char *to, const char *type)
{
        for (size_t i = 0; i < e->n_edges; i++)
                if (fl_streq(e->edges[i].from, from) && fl_streq(e->edges[i].to, to) &&
                    fl_streq(e->edges[i].type, type))
                        return true;
        return false;
}

static size_t edges_from(const struct fl_emit *e, const char *from)
{
        size_t n = 0;

        for (size_t i = 0; i < e->n_edges; i++)
                if (fl_streq(e->edges[i].from, from))
                        n++;
        return n;
}

static const struct fl_estate *find_state(const struct fl_emit *e, const char *key)
{
        const struct fl_estate *found = NULL;

        for (size_t i = 0; i < e->n_states; i++)
                if (fl_streq(e->states[i].key, key)) {
                        if (found)
                                fail_msg("two states for %s", key);
                        found = &e->states[i];
                }
        return found;
}

static void assert_state(const struct fl_emit *e, const char *key, enum fl_state state, const char *reason)
{
        const struct fl_estate *s = find_state(e, key);

        if (!s)
                fail_msg("no state for %s", key);
        assert_int_equal(s->state, state);
        assert_string_equal(s->reason, reason);
}

static const struct fl_esample *find_sample(const struct fl_emit *e, const char *key, const char *metric)
{
        for (size_t i = 0; i < e->n_samples; i++) {
                const struct fl_eseries *s = &e->series[e->samples[i].series];
                if (fl_streq(s->node_key, key) && fl_streq(s->metric, metric))
                        return &e->samples[i];
        }
        return NULL;
}

/* Temporary roots, composed from fixture trees as the README says: the base
 * copied, then each overlay on top. */

static int setup_root(void **state)
{
        *state = fixture_tmp_root("/tmp/fl-test-mountinfo-XXXXXX");
        return 0;
}

/* cp -a TREE/. root/ */
static void overlay_tree(const char *root, const char *tree)
{
        _cleanup_free_ char *src = fixture_data_path(tree);

        fixture_copy_tree(src, root);
}

struct run {
        struct fl_agent_ctx ctx;
        struct fl_thresholds thresholds;
        char *rootfs, *procfs, *sysfs;
        void *state;
        struct fl_emit emit;
};

static void run_init_dirs(struct run *r, const char *host, const char *rootfs, const char *procfs, const char *sysfs)
{
        *r = (struct run){ 0 };
        fl_thresholds_defaults(&r->thresholds);
        r->rootfs = fl_strdup(rootfs);
        r->procfs = fl_strdup(procfs);
        r->sysfs = fl_strdup(sysfs);
        r->ctx = (struct fl_agent_ctx){ .hostname = host,
                                        .rootfs = r->rootfs,
                                        .procfs = r->procfs,
                                        .sysfs = r->sysfs,
                                        .devfs = "/nonexistent",
                                        .now_us = T0,
                                        .interval_us = TEN_S,
                                        .thresholds = &r->thresholds };
        r->state = fl_malloc0(proc_mountinfo_collector.state_size);
        assert_int_equal(proc_mountinfo_collector.init(r->state, &r->ctx), 0);
}

/* A tree (fixture or temporary root) as rootfs with its proc and sys. */
static void run_init(struct run *r, const char *host, const char *root)
{
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fl_asprintf("%s/sys", root);

        run_init_dirs(r, host, root, procfs, sysfs);
}

static int run_cycle(struct run *r, uint64_t now_us)
{
        int ret;

        fl_emit_reset(&r->emit);
        r->ctx.now_us = now_us;
        ret = proc_mountinfo_collector.collect(r->state, &r->ctx, &r->emit);
        fl_emit_finalize(&r->emit);
        return ret;
}

static void run_done(struct run *r)
{
        proc_mountinfo_collector.fini(r->state);
        free(r->state);
        free(r->rootfs);
        free(r->procfs);
        free(r->sysfs);
        fl_emit_free(&r->emit);
}

/* Parser */

static void test_parse_fixture(void **unused)
{
        struct proc_mountinfo_entry *e = NULL;
        const struct proc_mountinfo_entry *m;
        size_t n = 0;

        (void)unused;
        assert_int_equal(parse_file("hosts/raid1-lvm/proc/self/mountinfo", &e, &n), 0);
        assert_int_equal(n, 27);

        assert_int_equal(e[0].mount_id, 22);
        assert_int_equal(e[0].parent_id, 29);
        assert_int_equal(e[0].major, 0);
        assert_int_equal(e[0].minor, 21);
        assert_string_equal(e[0].mount_point, "/sys");
        assert_string_equal(e[0].fstype, "sysfs");

        m = find_entry(e, n, "/");
        assert_int_equal(m->mount_id, 29);
        assert_int_equal(m->parent_id, 1);
        assert_int_equal(m->major, 253);
        assert_int_equal(m->minor, 0);
        assert_string_equal(m->root, "/");
        assert_string_equal(m->mount_options, "rw,relatime");
        assert_string_equal(m->optional_fields, "shared:1");
        assert_string_equal(m->fstype, "ext4");
        assert_string_equal(m->source, "/dev/mapper/vg0-root");
        assert_string_equal(m->super_options, "rw,errors=remount-ro");

        m = find_entry(e, n, "/var/lib/libvirt/images");
        assert_int_equal(m->major, 253);
        assert_int_equal(m->minor, 1);
        assert_string_equal(m->fstype, "xfs");
        assert_string_equal(m->super_options, "rw,attr2,inode64,logbufs=8,logbsize=32k,noquota");

        m = find_entry(e, n, "/run/credentials/systemd-sysctl.service");
        assert_string_equal(m->mount_options, "ro,nosuid,nodev,noexec,relatime");
        assert_string_equal(m->fstype, "ramfs");
        proc_mountinfo_free(e, n);

        /* The forced read-only switch: per-mount rw, superblock ro. */
        assert_int_equal(parse_file("hosts/disk-ioerr-later/proc/4242/mountinfo", &e, &n), 0);
        m = find_entry(e, n, "/data");
        assert_int_equal(m->major, 8);
        assert_int_equal(m->minor, 17);
        assert_string_equal(m->mount_options, "rw,relatime");
        assert_string_equal(m->super_options, "ro,errors=remount-ro");
        assert_string_equal(m->source, "/dev/sdb1");
        proc_mountinfo_free(e, n);

        assert_int_equal(parse_file("hosts/nvme/proc/self/mountinfo", &e, &n), 0);
        m = find_entry(e, n, "/snap/core/123");
        assert_int_equal(m->major, 7);
        assert_string_equal(m->fstype, "squashfs");
        assert_string_equal(m->source, "/dev/loop0");
        proc_mountinfo_free(e, n);
}

static void test_parse_fields(void **unused)
{
        struct proc_mountinfo_entry *e;

        (void)unused;
        /* The kernel documentation's example: a non-"/" root, master:. */
        e = parse_one("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n");
        assert_int_equal(e->mount_id, 36);
        assert_int_equal(e->parent_id, 35);
        assert_int_equal(e->major, 98);
        assert_int_equal(e->minor, 0);
        assert_string_equal(e->root, "/mnt1");
        assert_string_equal(e->mount_point, "/mnt2");
        assert_string_equal(e->mount_options, "rw,noatime");
        assert_string_equal(e->optional_fields, "master:1");
        assert_string_equal(e->fstype, "ext3");
        assert_string_equal(e->source, "/dev/root");
        assert_string_equal(e->super_options, "rw,errors=continue");
        proc_mountinfo_free(e, 1);

        /* No optional field at all. */
        e = parse_one("50 29 8:1 / /boot rw - ext4 /dev/sda1 rw\n");
        assert_string_equal(e->optional_fields, "");
        assert_string_equal(e->fstype, "ext4");
        proc_mountinfo_free(e, 1);

        /* Several, blanks kept between them. */
        e = parse_one("50 29 8:1 / /boot rw shared:2 master:1 propagate_from:1 unbindable - ext4 /dev/sda1 rw\n");
        assert_string_equal(e->optional_fields, "shared:2 master:1 propagate_from:1 unbindable");
        assert_string_equal(e->source, "/dev/sda1");
        proc_mountinfo_free(e, 1);

        /* An empty source (mount -t tmpfs "" /x) is two blanks in a row. */
        e = parse_one("51 29 0:50 / /x rw,relatime shared:3 - tmpfs  rw,inode64\n");
        assert_string_equal(e->source, "");
        assert_string_equal(e->super_options, "rw,inode64");
        proc_mountinfo_free(e, 1);

        /* nsfs roots are not paths. */
        e = parse_one("60 26 0:4 net:[4026532281] /run/netns/blue rw shared:5 - nsfs nsfs rw\n");
        assert_string_equal(e->root, "net:[4026532281]");
        assert_string_equal(e->mount_point, "/run/netns/blue");
        proc_mountinfo_free(e, 1);
}

static void test_parse_escapes(void **unused)
{
        struct proc_mountinfo_entry *e;

        (void)unused;
        e = parse_one("70 29 8:33 /my\\040dir /mnt/usb\\040disk rw - vfat /dev/sdc1\\134x rw\n");
        assert_string_equal(e->root, "/my dir");
        assert_string_equal(e->mount_point, "/mnt/usb disk");
        assert_string_equal(e->source, "/dev/sdc1\\x");
        proc_mountinfo_free(e, 1);

        e = parse_one("71 29 8:33 / /a\\011b\\012c\\134 rw - ext4 /dev/sdc1 rw\n");
        assert_string_equal(e->mount_point, "/a\tb\nc\\");
        proc_mountinfo_free(e, 1);

        e = parse_one("72 29 0:60 / /mnt/\\303\\251t\\303\\251 rw - fuse.sshfs me@host:/x rw\n");
        assert_string_equal(e->mount_point, "/mnt/\xc3\xa9t\xc3\xa9");
        assert_string_equal(e->fstype, "fuse.sshfs");
        proc_mountinfo_free(e, 1);

        /* Not an escape the kernel writes: too short, not octal, NUL, too big. */
        assert_parse_fails("70 29 8:33 / /mnt/a\\04 rw - ext4 /dev/sdc1 rw\n", -EBADMSG);
        assert_parse_fails("70 29 8:33 / /mnt/a\\04x rw - ext4 /dev/sdc1 rw\n", -EBADMSG);
        assert_parse_fails("70 29 8:33 / /mnt/a\\089 rw - ext4 /dev/sdc1 rw\n", -EBADMSG);
        assert_parse_fails("70 29 8:33 / /mnt/a\\000 rw - ext4 /dev/sdc1 rw\n", -EBADMSG);
        assert_parse_fails("70 29 8:33 / /mnt/a\\400 rw - ext4 /dev/sdc1 rw\n", -EBADMSG);
        assert_parse_fails("70 29 8:33 / /mnt/a\\ rw - ext4 /dev/sdc1 rw\n", -EBADMSG);
        assert_parse_fails("70 29 8:33 / /mnt/a rw - ext4 /dev/sdc\\1 rw\n", -EBADMSG);
}

static void test_parse_malformed(void **unused)
{
        static const char *const bad[] = {
                "",
                "29\n",
                "29 1 253:0 / / rw,relatime\n", /* nothing after the options */
                "29 1 253:0 / / rw,relatime shared:1\n", /* no separator */
                "29 1 253:0 / / rw,relatime shared:1 ext4 /dev/x rw\n", /* no separator */
                "29 1 253:0 / / rw,relatime shared:1 -\n", /* nothing after it */
                "29 1 253:0 / / rw,relatime shared:1 - ext4\n", /* no source */
                "29 1 253:0 / / rw,relatime shared:1 - ext4 /dev/x\n", /* no super options */
                "29 1 253:0 / / rw,relatime shared:1 - ext4 /dev/x rw extra\n", /* one field too many */
                "29 1 253:0 / / rw,relatime shared:1 - ext4 /dev/x rw \n", /* trailing blank: empty field */
                "x 1 253:0 / / rw - ext4 /dev/x rw\n",
                "29 -1 253:0 / / rw - ext4 /dev/x rw\n",
                "29 1 253-0 / / rw - ext4 /dev/x rw\n",
                "29 1 253: / / rw - ext4 /dev/x rw\n",
                "29 1 :0 / / rw - ext4 /dev/x rw\n",
                "29 1 253:0:1 / / rw - ext4 /dev/x rw\n",
                "29 1 4294967296:0 / / rw - ext4 /dev/x rw\n",
                "29 1 253:0 / relative rw - ext4 /dev/x rw\n",
                "29 1 253:0 /  rw - ext4 /dev/x rw\n", /* empty mount point */
                "29 1 253:0 / / rw -  /dev/x rw\n", /* empty type */
                "29 1 253:0 / /  - ext4 /dev/x rw\n", /* empty options */
                "29  1 253:0 / / rw - ext4 /dev/x rw\n",
        };

        (void)unused;
        for (size_t i = 0; i < FL_ARRAY_SIZE(bad); i++) {
                struct proc_mountinfo_entry *e = (void *)0x1;
                size_t n = 4242;
                int r = parse_string(bad[i], &e, &n);
                if (i == 0) {
                        /* the empty stream is fine: no mounts */
                        assert_int_equal(r, 0);
                        assert_int_equal(n, 0);
                        proc_mountinfo_free(e, n);
                        continue;
                }
                if (r != -EBADMSG)
                        fail_msg("line %zu \"%s\": %d, expected -EBADMSG", i, bad[i], r);
                assert_ptr_equal(e, (void *)0x1);
                assert_int_equal(n, 4242);
        }

        /* A good line, then a bad one: nothing is returned. */
        assert_parse_fails("22 29 0:21 / /sys rw shared:7 - sysfs sysfs rw\n29 1 253:0 / / rw\n", -EBADMSG);
}

static void test_parse_truncated(void **unused)
{
        static const char good[] = "22 29 0:21 / /sys rw shared:7 - sysfs sysfs rw\n";
        struct proc_mountinfo_entry *e = (void *)0x1;
        size_t n = 4242;

        (void)unused;
        /* A read cut in the middle of the last line. */
        assert_parse_fails(
                "22 29 0:21 / /sys rw shared:7 - sysfs sysfs rw\n29 1 253:0 / / rw,relatime - ext4 /dev/x rw",
                -EBADMSG);
        assert_parse_fails("22 29 0:21 / /sys rw shared:7 - sysfs sysfs rw", -EBADMSG);

        /* A NUL byte inside a line. */
        assert_int_equal(parse_bytes(good, sizeof(good) - 1, &e, &n), 0);
        proc_mountinfo_free(e, n);
        e = (void *)0x1;
        n = 4242;
        assert_int_equal(parse_bytes("22 29 0:21 / /s\0s rw - sysfs sysfs rw\n", 38, &e, &n), -EBADMSG);
        assert_ptr_equal(e, (void *)0x1);
        assert_int_equal(n, 4242);
}

static void test_parse_ceilings(void **unused)
{
        _cleanup_free_ char *line = NULL, *many = NULL;
        struct proc_mountinfo_entry *e = NULL;
        size_t n = 0, len, one;

        (void)unused;
        /* The longest line allowed parses, one character more does not. */
        {
                const char *head = "70 29 8:33 / /", *tail = " rw - ext4 /dev/sdc1 rw\n";
                size_t pad = PROC_MOUNTINFO_MAX_LINE_LEN - strlen(head) - strlen(tail) + 1;
                line = fl_malloc(PROC_MOUNTINFO_MAX_LINE_LEN + 3);
                len = (size_t)snprintf(line, PROC_MOUNTINFO_MAX_LINE_LEN + 3, "%s%*s%s", head, (int)pad, "", tail);
                assert_int_equal(len, PROC_MOUNTINFO_MAX_LINE_LEN + 1);
                memset(line + strlen(head), 'a', pad);
                assert_int_equal(parse_string(line, &e, &n), 0);
                assert_int_equal(n, 1);
                assert_int_equal(strlen(e[0].mount_point), pad + 1);
                proc_mountinfo_free(e, n);

                free(line);
                line = fl_malloc(PROC_MOUNTINFO_MAX_LINE_LEN + 4);
                snprintf(line, PROC_MOUNTINFO_MAX_LINE_LEN + 4, "%s%*s%s", head, (int)pad + 1, "", tail);
                memset(line + strlen(head), 'a', pad + 1);
                assert_parse_fails(line, -E2BIG);
        }

        /* As many lines as allowed, then one more. */
        {
                static const char l[] = "22 29 0:21 / /sys rw - sysfs sysfs rw\n";
                one = strlen(l);
                many = fl_malloc(one * (PROC_MOUNTINFO_MAX_LINES + 1) + 1);
                for (size_t i = 0; i <= PROC_MOUNTINFO_MAX_LINES; i++)
                        memcpy(many + i * one, l, one);
                many[one * PROC_MOUNTINFO_MAX_LINES] = '\0';
                assert_int_equal(parse_string(many, &e, &n), 0);
                assert_int_equal(n, PROC_MOUNTINFO_MAX_LINES);
                proc_mountinfo_free(e, n);
                many[one * PROC_MOUNTINFO_MAX_LINES] = l[0];
                many[one * (PROC_MOUNTINFO_MAX_LINES + 1)] = '\0';
                assert_parse_fails(many, -E2BIG);
        }
}

static void test_options_and_types(void **unused)
{
        (void)unused;
        assert_true(proc_mountinfo_has_option("rw,relatime", "rw"));
        assert_true(proc_mountinfo_has_option("rw,relatime", "relatime"));
        assert_true(proc_mountinfo_has_option("ro", "ro"));
        assert_false(proc_mountinfo_has_option("rw,relatime", "r"));
        assert_false(proc_mountinfo_has_option("rw,relatime", "relatim"));
        assert_false(proc_mountinfo_has_option("rw,errors=remount-ro", "ro"));
        assert_false(proc_mountinfo_has_option("", "ro"));
        assert_false(proc_mountinfo_has_option(NULL, "ro"));

        static const char *const pseudo[] = { "proc",    "sysfs",   "devtmpfs",    "devpts",    "tmpfs",
                                              "cgroup",  "cgroup2", "securityfs",  "pstore",    "efivarfs",
                                              "bpf",     "autofs",  "binfmt_misc", "hugetlbfs", "mqueue",
                                              "debugfs", "tracefs", "ramfs",       "fusectl",   "configfs",
                                              "overlay", "nsfs",    "fuse",        "fuse.lxcfs" };
        for (size_t i = 0; i < FL_ARRAY_SIZE(pseudo); i++)
                if (!proc_mountinfo_is_pseudo_fstype(pseudo[i]))
                        fail_msg("\"%s\" is a pseudo filesystem", pseudo[i]);
        static const char *const real[] = { "ext4", "xfs", "btrfs", "vfat", "fuseblk", "squashfs", "zfs" };
        for (size_t i = 0; i < FL_ARRAY_SIZE(real); i++)
                if (proc_mountinfo_is_pseudo_fstype(real[i]))
                        fail_msg("\"%s\" is not a pseudo filesystem", real[i]);
}

/* Usage detector */

static void test_usage_state(void **unused)
{
        struct fl_thresholds t;
        char reason[256];
        struct proc_mountinfo_usage u = { .used_pct = 98.1,
                                          .free_bytes = UINT64_C(1288490189), /* 1.2 GiB */
                                          .inodes_used_pct = 10.0,
                                          .inodes_free = 900000 };

        (void)unused;
        fl_thresholds_defaults(&t);
        assert_true(t.fs_warning_pct == 90 && t.fs_critical_pct == 95);

        assert_int_equal(proc_mountinfo_usage_state(&u, &t, reason, sizeof(reason)), FL_STATE_CRITICAL);
        assert_string_equal(reason, "98.1% full (1.2 GiB free)");

        /* The thresholds themselves belong to the higher level. */
        u.used_pct = 95.0;
        assert_int_equal(proc_mountinfo_usage_state(&u, &t, reason, sizeof(reason)), FL_STATE_CRITICAL);
        u.used_pct = 94.99;
        u.free_bytes = 5 * UINT64_C(1073741824);
        assert_int_equal(proc_mountinfo_usage_state(&u, &t, reason, sizeof(reason)), FL_STATE_WARNING);
        assert_string_equal(reason, "95.0% full (5.0 GiB free)");
        u.used_pct = 90.0;
        u.free_bytes = 300 * UINT64_C(1048576);
        assert_int_equal(proc_mountinfo_usage_state(&u, &t, reason, sizeof(reason)), FL_STATE_WARNING);
        assert_string_equal(reason, "90.0% full (300.0 MiB free)");
        u.used_pct = 89.9;
        snprintf(reason, sizeof(reason), "untouched?");
        assert_int_equal(proc_mountinfo_usage_state(&u, &t, reason, sizeof(reason)), FL_STATE_OK);
        assert_string_equal(reason, "");

        /* Inodes alone. */
        u.inodes_used_pct = 96.04;
        u.inodes_free = 1200;
        assert_int_equal(proc_mountinfo_usage_state(&u, &t, reason, sizeof(reason)), FL_STATE_CRITICAL);
        assert_string_equal(reason, "inodes 96.0% used (1200 free)");

        /* Both at the same level: both named; at different levels: the worse. */
        u.used_pct = 99.5;
        u.free_bytes = 512;
        assert_int_equal(proc_mountinfo_usage_state(&u, &t, reason, sizeof(reason)), FL_STATE_CRITICAL);
        assert_string_equal(reason, "99.5% full (512 B free), inodes 96.0% used (1200 free)");
        u.inodes_used_pct = 91.0;
        assert_int_equal(proc_mountinfo_usage_state(&u, &t, reason, sizeof(reason)), FL_STATE_CRITICAL);
        assert_string_equal(reason, "99.5% full (512 B free)");
        u.used_pct = 50;
        assert_int_equal(proc_mountinfo_usage_state(&u, &t, reason, sizeof(reason)), FL_STATE_WARNING);
        assert_string_equal(reason, "inodes 91.0% used (1200 free)");

        /* No inode accounting (btrfs): only space counts. */
        u.inodes_used_pct = -1;
        assert_int_equal(proc_mountinfo_usage_state(&u, &t, reason, sizeof(reason)), FL_STATE_OK);

        /* Other thresholds; a threshold of 0 is off. */
        t.fs_warning_pct = 40;
        t.fs_critical_pct = 0;
        u.used_pct = 99.9;
        u.free_bytes = UINT64_C(3) << 40;
        assert_int_equal(proc_mountinfo_usage_state(&u, &t, reason, sizeof(reason)), FL_STATE_WARNING);
        assert_string_equal(reason, "99.9% full (3.0 TiB free)");
        t.fs_warning_pct = 0;
        assert_int_equal(proc_mountinfo_usage_state(&u, &t, reason, sizeof(reason)), FL_STATE_OK);
}

static void test_usage_from_statvfs(void **unused)
{
        struct statvfs sv = { 0 };
        struct proc_mountinfo_usage u;

        (void)unused;
        sv.f_bsize = 4096;
        sv.f_frsize = 4096;
        sv.f_blocks = 1000;
        sv.f_bfree = 100; /* 50 of them reserved for root */
        sv.f_bavail = 50;
        sv.f_files = 200;
        sv.f_ffree = 20;
        proc_mountinfo_usage_from_statvfs(&sv, &u);
        assert_int_equal(u.used_bytes, 900 * 4096);
        assert_int_equal(u.free_bytes, 50 * 4096);
        /* like df: used / (used + available) */
        assert_true(fabs(u.used_pct - 900.0 * 100 / 950) < 1e-9);
        assert_true(fabs(u.inodes_used_pct - 90.0) < 1e-9);
        assert_int_equal(u.inodes_free, 20);

        /* No inode limit; no fragment size given. */
        sv.f_files = 0;
        sv.f_ffree = 0;
        sv.f_frsize = 0;
        proc_mountinfo_usage_from_statvfs(&sv, &u);
        assert_true(u.inodes_used_pct < 0);
        assert_int_equal(u.used_bytes, 900 * 4096);

        /* Free above total, for a moment: clamped. An empty filesystem. */
        sv.f_bfree = 2000;
        sv.f_bavail = 3000;
        proc_mountinfo_usage_from_statvfs(&sv, &u);
        assert_int_equal(u.used_bytes, 0);
        assert_int_equal(u.free_bytes, 1000 * 4096);
        assert_true(u.used_pct == 0.0);
        sv.f_blocks = sv.f_bfree = sv.f_bavail = 0;
        proc_mountinfo_usage_from_statvfs(&sv, &u);
        assert_true(u.used_pct == 0.0);
}

/* Collector on the fixture trees */

static void test_collect_raid1_lvm(void **unused)
{
        _cleanup_free_ char *root = fixture_data_path("hosts/raid1-lvm");
        struct run r;

        (void)unused;
        run_init(&r, "raid1host", root);
        assert_int_equal(run_cycle(&r, T0), 0);

        assert_int_equal(r.emit.n_nodes, 3);
        assert_int_equal(count_nodes(&r.emit, "filesystem:"), 3);
        assert_string_equal(find_node(&r.emit, "filesystem:raid1host/")->kind, "filesystem");
        assert_true(has_edge(&r.emit, "filesystem:raid1host/", "dm:raid1host/vg0-root", "stored_on"));
        assert_true(has_edge(&r.emit, "filesystem:raid1host/boot", "partition:raid1host/sda1", "stored_on"));
        assert_true(has_edge(&r.emit, "filesystem:raid1host/var/lib/libvirt/images", "dm:raid1host/vg0-images",
                             "stored_on"));
        assert_true(has_edge(&r.emit, "filesystem:raid1host/", "host:raid1host", "part_of"));
        assert_true(has_edge(&r.emit, "filesystem:raid1host/boot", "host:raid1host", "part_of"));
        assert_true(has_edge(&r.emit, "filesystem:raid1host/var/lib/libvirt/images", "host:raid1host", "part_of"));
        assert_int_equal(r.emit.n_edges, 6);

        assert_string_equal(attr_of(&r.emit, "filesystem:raid1host/", "fstype"), "ext4");
        assert_string_equal(attr_of(&r.emit, "filesystem:raid1host/", "source"), "/dev/mapper/vg0-root");
        assert_string_equal(attr_of(&r.emit, "filesystem:raid1host/", "options"), "rw,relatime");
        assert_string_equal(attr_of(&r.emit, "filesystem:raid1host/", "devnum"), "253:0");
        assert_string_equal(attr_of(&r.emit, "filesystem:raid1host/", "read_only"), "false");
        assert_null(attr_of(&r.emit, "filesystem:raid1host/", "root"));
        assert_string_equal(attr_of(&r.emit, "filesystem:raid1host/var/lib/libvirt/images", "fstype"), "xfs");
        assert_string_equal(attr_of(&r.emit, "filesystem:raid1host/var/lib/libvirt/images", "devnum"), "253:1");
        assert_string_equal(attr_of(&r.emit, "filesystem:raid1host/boot", "source"), "/dev/sda1");

        /* The mount points do not exist in the tree: not measurable here,
         * which is neither a sample nor a state. */
        assert_int_equal(r.emit.n_samples, 0);
        assert_int_equal(r.emit.n_states, 0);

        /* Unchanged content: the same again. */
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_int_equal(count_nodes(&r.emit, "filesystem:"), 3);
        assert_int_equal(r.emit.n_edges, 6);
        assert_int_equal(r.emit.n_states, 0);
        run_done(&r);
}

static void test_collect_nvme(void **unused)
{
        _cleanup_free_ char *root = fixture_data_path("hosts/nvme");
        struct run r;

        (void)unused;
        run_init(&r, "nvmehost", root);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(count_nodes(&r.emit, "filesystem:"), 3);
        assert_int_equal(r.emit.n_nodes, 3);
        assert_true(has_edge(&r.emit, "filesystem:nvmehost/", "partition:nvmehost/nvme0n1p2", "stored_on"));
        assert_true(has_edge(&r.emit, "filesystem:nvmehost/boot/efi", "partition:nvmehost/nvme0n1p1", "stored_on"));
        /* a filesystem on the whole disk */
        assert_true(has_edge(&r.emit, "filesystem:nvmehost/var", "disk:nvmehost/nvme1n1", "stored_on"));
        /* squashfs on loop0: no node, no edge to a loop device */
        assert_null(find_node(&r.emit, "filesystem:nvmehost/snap/core/123"));
        for (size_t i = 0; i < r.emit.n_edges; i++)
                assert_null(strstr(r.emit.edges[i].to, "loop"));
        assert_int_equal(r.emit.n_states, 0);
        run_done(&r);
}

static void test_collect_skips_pseudo(void **unused)
{
        _cleanup_free_ char *root = fixture_data_path("hosts/raid5-faulty");
        static const char *const skipped[] = { "/sys",
                                               "/proc",
                                               "/dev",
                                               "/dev/pts",
                                               "/run",
                                               "/dev/shm",
                                               "/run/lock",
                                               "/sys/fs/cgroup",
                                               "/sys/fs/pstore",
                                               "/sys/fs/bpf",
                                               "/proc/sys/fs/binfmt_misc",
                                               "/dev/hugepages",
                                               "/dev/mqueue",
                                               "/sys/kernel/debug",
                                               "/sys/kernel/tracing",
                                               "/run/credentials/systemd-sysctl.service",
                                               "/sys/fs/fuse/connections",
                                               "/sys/kernel/config",
                                               "/run/user/1000",
                                               "/sys/kernel/security" };
        struct run r;

        (void)unused;
        run_init(&r, "raid5host", root);
        assert_int_equal(run_cycle(&r, T0), 0);
        for (size_t i = 0; i < FL_ARRAY_SIZE(skipped); i++) {
                _cleanup_free_ char *key = fl_asprintf("filesystem:raid5host%s", skipped[i]);
                if (find_node(&r.emit, key))
                        fail_msg("%s is a pseudo filesystem", key);
        }
        assert_int_equal(count_nodes(&r.emit, "filesystem:"), 2);
        assert_true(has_edge(&r.emit, "filesystem:raid5host/srv/data", "raid:raid5host/md1", "stored_on"));
        assert_true(has_edge(&r.emit, "filesystem:raid5host/", "partition:raid5host/sda1", "stored_on"));
        run_done(&r);
}

/* A procfs with a mountinfo of our own, against a fixture's sysfs. */
static void write_mountinfo(const char *root, const char *content)
{
        fixture_write_bytes(root, "proc/self/mountinfo", content, strlen(content));
}

static void run_init_own(struct run *r, const char *root, const char *sysfs_tree)
{
        _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
        _cleanup_free_ char *sysfs = fixture_data_path(sysfs_tree);

        run_init_dirs(r, "h", root, procfs, sysfs);
}

static void test_collect_bind_mounts(void **state)
{
        const char *root = *state;
        struct run r;

        write_mountinfo(root, "29 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                              "46 29 8:17 / /data rw - ext4 /dev/sdb1 rw\n"
                              /* the same directory bound elsewhere, twice */
                              "47 29 8:17 / /srv/data rw - ext4 /dev/sdb1 rw\n"
                              "48 29 8:17 / /mnt/again ro - ext4 /dev/sdb1 rw\n"
                              /* a subdirectory: a view of its own */
                              "49 29 8:17 /www /srv/www rw - ext4 /dev/sdb1 rw\n"
                              "50 29 8:17 /www /srv/www2 rw - ext4 /dev/sdb1 rw\n"
                              /* a device sysfs does not know: node, no stored_on */
                              "51 29 8:99 / /odd rw - ext4 /dev/sdz9 rw\n"
                              /* a loop device sysfs does not know: still virtual */
                              "57 29 7:5 / /snap/x/1 ro - squashfs /dev/loop5 ro\n"
                              /* anonymous device numbers without a device */
                              "52 29 0:55 / /net rw - nfs4 server:/export rw\n"
                              "53 29 0:56 / /net2 rw - nfs4 server:/export rw\n"
                              "54 29 0:57 / /zfs rw - zfs pool/data rw\n"
                              /* btrfs: anonymous number, named by its source */
                              "55 29 0:58 /@home /home rw - btrfs /dev/sda1 rw,subvol=/@home\n"
                              "56 29 0:58 /@srv /srv rw - btrfs /dev/mapper/nope rw,subvol=/@srv\n");
        run_init_own(&r, root, "hosts/disk-ioerr/sys");
        assert_int_equal(run_cycle(&r, T0), 0);

        assert_non_null(find_node(&r.emit, "filesystem:h/"));
        assert_non_null(find_node(&r.emit, "filesystem:h/data"));
        assert_null(find_node(&r.emit, "filesystem:h/srv/data"));
        assert_null(find_node(&r.emit, "filesystem:h/mnt/again"));
        assert_non_null(find_node(&r.emit, "filesystem:h/srv/www"));
        assert_string_equal(attr_of(&r.emit, "filesystem:h/srv/www", "root"), "/www");
        assert_null(find_node(&r.emit, "filesystem:h/srv/www2"));
        assert_true(has_edge(&r.emit, "filesystem:h/srv/www", "partition:h/sdb1", "stored_on"));
        assert_non_null(find_node(&r.emit, "filesystem:h/odd"));
        assert_int_equal(edges_from(&r.emit, "filesystem:h/odd"), 1);
        assert_true(has_edge(&r.emit, "filesystem:h/odd", "host:h", "part_of"));
        assert_null(find_node(&r.emit, "filesystem:h/net"));
        assert_null(find_node(&r.emit, "filesystem:h/net2"));
        assert_null(find_node(&r.emit, "filesystem:h/zfs"));
        assert_null(find_node(&r.emit, "filesystem:h/snap/x/1"));
        assert_true(has_edge(&r.emit, "filesystem:h/home", "partition:h/sda1", "stored_on"));
        assert_null(find_node(&r.emit, "filesystem:h/srv"));
        assert_int_equal(count_nodes(&r.emit, "filesystem:"), 5);
        assert_int_equal(r.emit.n_states, 0);
        run_done(&r);
}

static void test_collect_dm_by_name(void **state)
{
        const char *root = *state;
        struct run r;

        /* btrfs on an LVM volume: found by its /dev/mapper name. */
        write_mountinfo(root, "55 29 0:58 /@ / rw - btrfs /dev/mapper/vg0-images rw,subvol=/@\n");
        run_init_own(&r, root, "hosts/raid1-lvm/sys");
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_true(has_edge(&r.emit, "filesystem:h/", "dm:h/vg0-images", "stored_on"));
        run_done(&r);
}

/* Read-only detection */

static void test_collect_remount_ro(void **state)
{
        const char *root = *state;
        struct run r;

        overlay_tree(root, "hosts/disk-ioerr");
        run_init(&r, "ioerrhost", root);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_int_equal(count_nodes(&r.emit, "filesystem:"), 2);
        assert_true(has_edge(&r.emit, "filesystem:ioerrhost/data", "partition:ioerrhost/sdb1", "stored_on"));
        assert_true(has_edge(&r.emit, "filesystem:ioerrhost/", "partition:ioerrhost/sda1", "stored_on"));
        assert_string_equal(attr_of(&r.emit, "filesystem:ioerrhost/data", "read_only"), "false");
        assert_int_equal(r.emit.n_states, 0);

        /* Cycle 2: errors=remount-ro switched the superblock only. */
        overlay_tree(root, "hosts/disk-ioerr-later");
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_state(&r.emit, "filesystem:ioerrhost/data", FL_STATE_CRITICAL, "remounted read-only (was read-write)");
        assert_string_equal(attr_of(&r.emit, "filesystem:ioerrhost/data", "read_only"), "true");
        assert_string_equal(attr_of(&r.emit, "filesystem:ioerrhost/data", "super_options"), "ro,errors=remount-ro");
        assert_null(find_state(&r.emit, "filesystem:ioerrhost/"));
        assert_int_equal(r.emit.n_states, 1);

        /* Cycle 3: nothing changed in mountinfo; still read-only. */
        overlay_tree(root, "hosts/disk-ioerr-offline");
        assert_int_equal(run_cycle(&r, T0 + 7 * TEN_S), 0);
        assert_state(&r.emit, "filesystem:ioerrhost/data", FL_STATE_CRITICAL, "remounted read-only (was read-write)");

        /* Repaired and remounted read-write (same mount): ok again. The
         * line keeps its length, so only the hash tells the change. */
        {
                _cleanup_free_ char *path = fl_asprintf("%s/proc/4242/mountinfo", root);
                _cleanup_free_ char *buf = NULL;
                size_t len = 0;
                char *at;

                assert_int_equal(fl_read_file(path, 1 << 20, &buf, &len), 0);
                at = strstr(buf, "/dev/sdb1 ro,");
                assert_non_null(at);
                memcpy(at + strlen("/dev/sdb1 "), "rw", 2);
                fixture_write_bytes(root, "proc/4242/mountinfo", buf, len);
        }
        assert_int_equal(run_cycle(&r, T0 + 8 * TEN_S), 0);
        assert_null(find_state(&r.emit, "filesystem:ioerrhost/data"));
        assert_string_equal(attr_of(&r.emit, "filesystem:ioerrhost/data", "read_only"), "false");
        run_done(&r);
}

static void test_collect_ro_from_start(void **state)
{
        const char *root = *state;
        struct run r;

        /* Mounted read-only on purpose: no fault, whatever the superblock. */
        write_mountinfo(root, "46 29 8:17 / /data ro,relatime - ext4 /dev/sdb1 ro\n"
                              "47 29 8:1 / /iso ro - iso9660 /dev/sda1 ro\n");
        run_init_own(&r, root, "hosts/disk-ioerr/sys");
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_string_equal(attr_of(&r.emit, "filesystem:h/data", "read_only"), "true");
        assert_int_equal(r.emit.n_states, 0);
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_int_equal(r.emit.n_states, 0);

        /* The administrator makes it read-write, later read-only again:
         * from the detector's view a switch like any other. */
        write_mountinfo(root, "46 29 8:17 / /data rw,relatime - ext4 /dev/sdb1 rw\n");
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), 0);
        assert_int_equal(r.emit.n_states, 0);
        write_mountinfo(root, "46 29 8:17 / /data ro,relatime - ext4 /dev/sdb1 ro\n");
        assert_int_equal(run_cycle(&r, T0 + 3 * TEN_S), 0);
        assert_state(&r.emit, "filesystem:h/data", FL_STATE_CRITICAL, "remounted read-only (was read-write)");

        /* Unmounted: gone, without a state. */
        write_mountinfo(root, "29 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
        assert_int_equal(run_cycle(&r, T0 + 4 * TEN_S), 0);
        assert_null(find_node(&r.emit, "filesystem:h/data"));
        assert_int_equal(r.emit.n_states, 0);

        /* Mounted again read-only (a new mount id): ro from the start. */
        write_mountinfo(root, "29 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                              "61 29 8:17 / /data ro,relatime - ext4 /dev/sdb1 ro\n");
        assert_int_equal(run_cycle(&r, T0 + 5 * TEN_S), 0);
        assert_non_null(find_node(&r.emit, "filesystem:h/data"));
        assert_int_equal(r.emit.n_states, 0);
        run_done(&r);
}

static void test_collect_forced_ro_before_start(void **state)
{
        const char *root = *state;
        struct run r;

        /* The agent starts after errors=remount-ro fired: the signature is
         * in the one reading (superblock ro, no mount asked for it). */
        overlay_tree(root, "hosts/disk-ioerr");
        overlay_tree(root, "hosts/disk-ioerr-later");
        run_init(&r, "ioerrhost", root);
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_state(&r.emit, "filesystem:ioerrhost/data", FL_STATE_CRITICAL,
                     "read-only: superblock switched to read-only under a read-write mount (after errors)");
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        assert_state(&r.emit, "filesystem:ioerrhost/data", FL_STATE_CRITICAL,
                     "read-only: superblock switched to read-only under a read-write mount (after errors)");
        run_done(&r);

        /* Not that signature: another mount of the superblock asked for ro
         * (a bind of a subdirectory keeps rw), or a type read-only by nature. */
        write_mountinfo(root, "46 29 8:17 / /data ro - ext4 /dev/sdb1 ro\n"
                              "47 29 8:17 /sub /srv/sub rw - ext4 /dev/sdb1 ro\n"
                              "48 29 8:1 / /img rw - squashfs /dev/sda1 ro\n");
        {
                _cleanup_free_ char *procfs = fl_asprintf("%s/proc", root);
                _cleanup_free_ char *sysfs = fixture_data_path("hosts/disk-ioerr/sys");
                /* proc/self is a symlink to 4242 in the copied tree */
                run_init_dirs(&r, "h", root, procfs, sysfs);
        }
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_non_null(find_node(&r.emit, "filesystem:h/srv/sub"));
        assert_non_null(find_node(&r.emit, "filesystem:h/img"));
        assert_int_equal(r.emit.n_states, 0);
        run_done(&r);
}

/* Usage */

static void test_collect_usage(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *line = NULL;
        const struct fl_esample *s;
        struct stat st;
        struct run r;

        /* "/" of this machine, as a mount with the device number stat()
         * gives, named by a fixture device so that it is a node whatever
         * "/" really is (an overlay in a container has major 0). */
        assert_int_equal(stat("/", &st), 0);
        line = fl_asprintf("29 1 %u:%u / / rw - ext4 /dev/sda1 rw\n"
                           "30 29 8:17 / /nonexistent-fl-test-mount rw - ext4 /dev/sdb1 rw\n",
                           major(st.st_dev), minor(st.st_dev));
        write_mountinfo(root, line);
        run_init_own(&r, root, "hosts/disk-ioerr/sys");
        free(r.rootfs);
        r.rootfs = fl_strdup("/");
        r.ctx.rootfs = r.rootfs;

        /* Every threshold out of reach: samples, no state. */
        r.thresholds.fs_warning_pct = 100.5;
        r.thresholds.fs_critical_pct = 100.5;
        assert_int_equal(run_cycle(&r, T0), 0);
        s = find_sample(&r.emit, "filesystem:h/", "fs.used_pct");
        assert_non_null(s);
        assert_true(s->value >= 0 && s->value <= 100);
        assert_int_equal(s->time_us, T0);
        assert_string_equal(r.emit.series[s->series].unit, "%");
        s = find_sample(&r.emit, "filesystem:h/", "fs.used_bytes");
        assert_non_null(s);
        assert_string_equal(r.emit.series[s->series].unit, "B");
        s = find_sample(&r.emit, "filesystem:h/", "fs.free_bytes");
        assert_non_null(s);
        assert_string_equal(r.emit.series[s->series].unit, "B");
        assert_null(find_state(&r.emit, "filesystem:h/"));

        /* With rootfs "/", a mount point that cannot be measured is unknown. */
        assert_state(&r.emit, "filesystem:h/nonexistent-fl-test-mount", FL_STATE_UNKNOWN,
                     "could not measure usage: No such file or directory");
        assert_null(find_sample(&r.emit, "filesystem:h/nonexistent-fl-test-mount", "fs.used_pct"));

        /* Any use at all is above a tiny warning threshold. */
        r.thresholds.fs_warning_pct = 1e-9;
        assert_int_equal(run_cycle(&r, T0 + TEN_S), 0);
        {
                const struct fl_estate *e = find_state(&r.emit, "filesystem:h/");
                assert_non_null(e);
                assert_int_equal(e->state, FL_STATE_WARNING);
                assert_non_null(strstr(e->reason, "% full ("));
        }
        run_done(&r);

        /* The same mounts below another rootfs, where "/" is a plain
         * directory and the other does not exist: not measurable here. */
        run_init_own(&r, root, "hosts/disk-ioerr/sys");
        assert_int_equal(run_cycle(&r, T0), 0);
        assert_non_null(find_node(&r.emit, "filesystem:h/"));
        assert_int_equal(r.emit.n_samples, 0);
        assert_int_equal(r.emit.n_states, 0);
        run_done(&r);
}

static void test_collect_missing(void **state)
{
        const char *root = *state;
        struct run r;

        run_init_own(&r, root, "hosts/disk-ioerr/sys");
        assert_int_equal(run_cycle(&r, T0), -ENOENT);
        assert_int_equal(r.emit.n_nodes, 0);
        /* Malformed content: an error, not a partial inventory. */
        write_mountinfo(root, "29 1 8:1 / / rw - ext4 /dev/sda1 rw\nbroken\n");
        assert_int_equal(run_cycle(&r, T0 + TEN_S), -EBADMSG);
        write_mountinfo(root, "29 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
        assert_int_equal(run_cycle(&r, T0 + 2 * TEN_S), 0);
        assert_int_equal(count_nodes(&r.emit, "filesystem:"), 1);
        run_done(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_fixture),
                cmocka_unit_test(test_parse_fields),
                cmocka_unit_test(test_parse_escapes),
                cmocka_unit_test(test_parse_malformed),
                cmocka_unit_test(test_parse_truncated),
                cmocka_unit_test(test_parse_ceilings),
                cmocka_unit_test(test_options_and_types),
                cmocka_unit_test(test_usage_state),
                cmocka_unit_test(test_usage_from_statvfs),
                cmocka_unit_test(test_collect_raid1_lvm),
                cmocka_unit_test(test_collect_nvme),
                cmocka_unit_test(test_collect_skips_pseudo),
                cmocka_unit_test_setup_teardown(test_collect_bind_mounts, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_dm_by_name, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_remount_ro, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_ro_from_start, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_forced_ro_before_start, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_usage, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_missing, setup_root, fixture_teardown_root),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
