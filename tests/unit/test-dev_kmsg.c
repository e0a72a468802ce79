/* SPDX-License-Identifier: MIT */
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
#include "dev_kmsg.h"

#define T0 UINT64_C(1700000000000000) /* any fixed time: nothing reads the clock */
#define SEC UINT64_C(1000000)
#define HOLD (600 * SEC)

extern const struct fl_collector dev_kmsg_collector;

/* What the composed disk-ioerr trees give (see the fixture README). */
#define SDB_CYCLE2                                                                            \
        "kernel: 10 I/O errors, last medium error: \"critical medium error, dev sdb, sector " \
        "123456 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0\""
#define SDB1_CYCLE2                                                                                     \
        "kernel: 4 I/O errors, last: \"EXT4-fs error (device sdb1): ext4_journal_check_start:83: comm " \
        "kworker/u16:2: Detected aborted journal\""

/* Helpers */

static const struct fl_enode *find_node(const struct fl_emit *e, const char *key)
{
        for (size_t i = 0; i < e->n_nodes; i++)
                if (fl_streq(e->nodes[i].key, key))
                        return &e->nodes[i];
        return NULL;
}

static const char *node_attr(const struct fl_enode *n, const char *key)
{
        for (size_t i = 0; i < n->n_attrs; i++)
                if (fl_streq(n->attrs[i].key, key))
                        return n->attrs[i].value;
        return NULL;
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
        if (s->state != state || !fl_streq(s->reason, reason))
                fail_msg("%s: %s \"%s\", expected %s \"%s\"", key, fl_state_to_string(s->state), s->reason,
                         fl_state_to_string(state), reason);
}

static int setup_root(void **state)
{
        *state = fixture_tmp_root("/tmp/fl-test-kmsg-XXXXXX");
        return 0;
}

static void write_string(const char *root, const char *rel, const char *content)
{
        fixture_write_bytes(root, rel, content, strlen(content));
}

static void append_string(const char *root, const char *rel, const char *content)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", root, rel);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
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
        char *procfs, *sysfs, *devfs;
        void *state;
        struct fl_emit emit;
};

/* procfs and devfs in root, sysfs of a fixture tree (or of root). */
static void run_init(struct run *r, const char *host, const char *root, const char *sysfs)
{
        *r = (struct run){ 0 };
        fl_thresholds_defaults(&r->thresholds);
        r->thresholds.disk_error_hold_us = HOLD;
        r->procfs = fl_asprintf("%s/proc", root);
        r->devfs = fl_asprintf("%s/dev", root);
        r->sysfs = sysfs ? fixture_data_path(sysfs) : fl_asprintf("%s/sys", root);
        r->ctx = (struct fl_agent_ctx){ .hostname = host,
                                        .rootfs = root,
                                        .procfs = r->procfs,
                                        .sysfs = r->sysfs,
                                        .devfs = r->devfs,
                                        .now_us = T0,
                                        .interval_us = 10 * SEC,
                                        .thresholds = &r->thresholds };
        r->state = fl_malloc0(dev_kmsg_collector.state_size);
        assert_int_equal(dev_kmsg_collector.init(r->state, &r->ctx), 0);
}

static void run_cycle(struct run *r, uint64_t now_us)
{
        fl_emit_reset(&r->emit);
        r->ctx.now_us = now_us;
        assert_int_equal(dev_kmsg_collector.collect(r->state, &r->ctx, &r->emit), 0);
        fl_emit_finalize(&r->emit);
}

static void run_done(struct run *r)
{
        dev_kmsg_collector.fini(r->state);
        free(r->state);
        free(r->procfs);
        free(r->sysfs);
        free(r->devfs);
        fl_emit_free(&r->emit);
}

/* Record parser */

static void test_parse_record(void **unused)
{
        struct dev_kmsg_record rec;

        (void)unused;
        assert_int_equal(dev_kmsg_parse_record("3,2052,864001207572,-;I/O error, dev sdb, sector 125504 op "
                                               "0x1:(WRITE) flags 0x0 phys_seg 1 prio class 0",
                                               &rec),
                         1);
        assert_int_equal(rec.level, 3);
        assert_int_equal(rec.facility, 0);
        assert_int_equal(rec.seq, 2052);
        assert_int_equal(rec.usec, UINT64_C(864001207572));
        assert_false(rec.continuation);
        assert_string_equal(rec.message,
                            "I/O error, dev sdb, sector 125504 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 0");

        /* The newline that ends the record, and the dictionary after it,
         * as one read() of the character device gives them. */
        assert_int_equal(dev_kmsg_parse_record("6,2048,864001207544,-;sd 1:0:0:0: [sdb] tag#8 FAILED Result: "
                                               "hostbyte=DID_OK\n SUBSYSTEM=scsi\n DEVICE=+scsi:1:0:0:0\n",
                                               &rec),
                         1);
        assert_string_equal(rec.message, "sd 1:0:0:0: [sdb] tag#8 FAILED Result: hostbyte=DID_OK");

        /* Facility: user space writing into the log (user.info = 14). */
        assert_int_equal(dev_kmsg_parse_record("14,7,100,-;hello", &rec), 1);
        assert_int_equal(rec.facility, 1);
        assert_int_equal(rec.level, 6);
        assert_int_equal(dev_kmsg_parse_record("30,8,100,-;systemd[1]: x", &rec), 1);
        assert_int_equal(rec.facility, 3);

        /* Continuation flag; fields that newer kernels append; an empty message. */
        assert_int_equal(dev_kmsg_parse_record("4,9,101,c;part", &rec), 1);
        assert_true(rec.continuation);
        assert_int_equal(dev_kmsg_parse_record("6,10,102,-,caller=T123;text", &rec), 1);
        assert_int_equal(rec.seq, 10);
        assert_string_equal(rec.message, "text");
        assert_int_equal(dev_kmsg_parse_record("6,11,103,-;", &rec), 1);
        assert_string_equal(rec.message, "");
        /* A ';' inside the message is the message's. */
        assert_int_equal(dev_kmsg_parse_record("6,12,104,-;a;b,c", &rec), 1);
        assert_string_equal(rec.message, "a;b,c");
}

static void test_parse_escapes(void **unused)
{
        struct dev_kmsg_record rec;

        (void)unused;
        assert_int_equal(dev_kmsg_parse_record("3,2001,605822310236,-;ata2.00: cmd 61/08:70 out\\x0a         res "
                                               "40/00 Emask 0x10 (ATA bus error)",
                                               &rec),
                         1);
        assert_string_equal(rec.message, "ata2.00: cmd 61/08:70 out\n         res 40/00 Emask 0x10 (ATA bus error)");
        assert_int_equal(dev_kmsg_parse_record("6,1,1,-;back\\x5cslash \\x1b[1m \\xC3\\xA9", &rec), 1);
        assert_string_equal(rec.message, "back\\slash \x1b[1m \xc3\xa9");
        /* Not an escape: kept as it is. */
        assert_int_equal(dev_kmsg_parse_record("6,1,1,-;a\\xZZ b\\x4 c\\x00 d\\", &rec), 1);
        assert_string_equal(rec.message, "a\\xZZ b\\x4 c\\x00 d\\");
        assert_int_equal(dev_kmsg_parse_record("6,1,1,-;end\\x4", &rec), 1);
        assert_string_equal(rec.message, "end\\x4");
}

static void test_parse_skip_and_malformed(void **unused)
{
        static const char *const bad[] = {
                "no semicolon at all",
                "6,1,1,-", /* no ';' */
                "6,1,1;message", /* no flags */
                "6,1,1,;message", /* empty flags */
                "6,1;message", /* too few fields */
                "x,1,1,-;message", /* not numbers */
                "6,-1,1,-;message", /* a sign */
                "6,1,1.5,-;message", /* not whole */
                "6,,1,-;message", /* empty */
                "6,1,99999999999999999999,-;message", /* overflow */
                ";message",
        };
        struct dev_kmsg_record rec = { .seq = 4242 };

        (void)unused;
        /* Dictionary lines and empty lines are skipped, not errors. */
        assert_int_equal(dev_kmsg_parse_record(" SUBSYSTEM=scsi", &rec), 0);
        assert_int_equal(dev_kmsg_parse_record(" DEVICE=+scsi:1:0:0:0\n", &rec), 0);
        assert_int_equal(dev_kmsg_parse_record("", &rec), 0);
        assert_int_equal(dev_kmsg_parse_record("\n", &rec), 0);
        assert_int_equal(rec.seq, 4242);

        for (size_t i = 0; i < FL_ARRAY_SIZE(bad); i++) {
                int r = dev_kmsg_parse_record(bad[i], &rec);
                if (r != -EBADMSG)
                        fail_msg("\"%s\": %d, expected -EBADMSG", bad[i], r);
                assert_int_equal(rec.seq, 4242);
        }
}

static void test_parse_ceilings(void **unused)
{
        _cleanup_free_ char *line = fl_malloc(DEV_KMSG_LINE_MAX + 2);
        struct dev_kmsg_record rec = { .seq = 4242 };
        size_t head;

        (void)unused;
        /* The longest line: parses, the message cut at its ceiling. */
        head = (size_t)snprintf(line, DEV_KMSG_LINE_MAX + 2, "6,5,6,-;");
        memset(line + head, 'm', DEV_KMSG_LINE_MAX - head);
        line[DEV_KMSG_LINE_MAX] = '\0';
        assert_int_equal(dev_kmsg_parse_record(line, &rec), 1);
        assert_int_equal(rec.seq, 5);
        assert_int_equal(strlen(rec.message), DEV_KMSG_MESSAGE_MAX);
        assert_int_equal(rec.message[0], 'm');

        /* One character more: refused. */
        rec.seq = 4242;
        line[DEV_KMSG_LINE_MAX] = 'm';
        line[DEV_KMSG_LINE_MAX + 1] = '\0';
        assert_int_equal(dev_kmsg_parse_record(line, &rec), -E2BIG);
        assert_int_equal(rec.seq, 4242);

        /* A prefix longer than any kernel's. */
        memset(line, '1', 600);
        snprintf(line + 600, 100, ",1,1,-;x");
        assert_int_equal(dev_kmsg_parse_record(line, &rec), -EBADMSG);
}

/* Matcher */

static void assert_match(const char *msg, const char *dev, enum dev_kmsg_error kind)
{
        char got[64] = "";
        enum dev_kmsg_error k = (enum dev_kmsg_error) - 1;

        if (!dev_kmsg_match_io_error(msg, got, sizeof(got), &k))
                fail_msg("no match: \"%s\"", msg);
        if (!fl_streq(got, dev) || k != kind)
                fail_msg("\"%s\": %s %d, expected %s %d", msg, got, (int)k, dev, (int)kind);
}

static void assert_no_match(const char *msg)
{
        char got[64] = "untouched";
        enum dev_kmsg_error k = DEV_KMSG_ERROR_FS;

        if (dev_kmsg_match_io_error(msg, got, sizeof(got), &k))
                fail_msg("unexpected match on \"%s\": %s", msg, got);
        assert_string_equal(got, "untouched");
        assert_int_equal(k, DEV_KMSG_ERROR_FS);
}

static void test_match(void **unused)
{
        (void)unused;
        /* The block layer, 6.1 and older wordings. */
        assert_match("I/O error, dev sdb, sector 125504 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 0", "sdb",
                     DEV_KMSG_ERROR_IO);
        assert_match("blk_update_request: I/O error, dev sdb, sector 125504 op 0x1:(WRITE) flags 0x0 phys_seg 1 "
                     "prio class 0",
                     "sdb", DEV_KMSG_ERROR_IO);
        assert_match("print_req_error: I/O error, dev nvme0n1, sector 2048", "nvme0n1", DEV_KMSG_ERROR_IO);
        assert_match("end_request: I/O error, dev sda, sector 1234", "sda", DEV_KMSG_ERROR_IO);
        assert_match("critical medium error, dev sdb, sector 123456 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0",
                     "sdb", DEV_KMSG_ERROR_MEDIUM);
        assert_match("blk_update_request: critical medium error, dev sdc, sector 500526144 op 0x0:(READ) flags 0x0 "
                     "phys_seg 37 prio class 0",
                     "sdc", DEV_KMSG_ERROR_MEDIUM);
        assert_match("critical target error, dev sdd, sector 8 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 0", "sdd",
                     DEV_KMSG_ERROR_IO);
        assert_match("timeout error, dev sde, sector 8 op 0x0:(READ)", "sde", DEV_KMSG_ERROR_IO);
        assert_match("device offline error, dev sdb, sector 2107392 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0",
                     "sdb", DEV_KMSG_ERROR_IO);
        assert_match("I/O error, dev dm-1, sector 77 op 0x1:(WRITE) flags 0x0", "dm-1", DEV_KMSG_ERROR_IO);
        /* Not a fault of the device. */
        assert_no_match("operation not supported error, dev sda, sector 0 op 0x3:(DISCARD) flags 0x0 phys_seg 1");
        assert_no_match("nonblocking retry error, dev sda, sector 0 op 0x0:(READ)");
        assert_no_match("kernel resource error, dev sda, sector 0 op 0x0:(READ)");
        /* Not the form. */
        assert_no_match("I/O error, dev sdb");
        assert_no_match("I/O error, dev , sector 1");
        assert_no_match("I/O error, dev sd/b, sector 1");
        assert_no_match("I/O error, dev .., sector 1");
        assert_no_match("my I/O error, dev sdb, sector 1");

        /* The buffer cache. */
        assert_match("Buffer I/O error on dev sdb1, logical block 15432, lost async page write", "sdb1",
                     DEV_KMSG_ERROR_IO);
        assert_match("Buffer I/O error on device sda3, logical block 0", "sda3", DEV_KMSG_ERROR_IO);
        assert_match("Buffer I/O error on dev dm-0, logical block 2, async page read", "dm-0", DEV_KMSG_ERROR_IO);
        assert_no_match("Buffer I/O error on devsdb1, logical block 1");
        assert_no_match("Buffer I/O error on dev sdb1");

        /* SCSI sense data. */
        assert_match("sd 1:0:0:0: [sdb] tag#0 Sense Key : Medium Error [current]", "sdb", DEV_KMSG_ERROR_MEDIUM);
        assert_match("sd 2:0:0:0: [sdc] tag#22 Sense Key : Medium Error [current]", "sdc", DEV_KMSG_ERROR_MEDIUM);
        assert_match("sd 0:0:0:0: [sda]  Sense Key : Medium Error [current] [descriptor]", "sda",
                     DEV_KMSG_ERROR_MEDIUM);
        assert_no_match("sd 1:0:0:0: [sdb] tag#8 Sense Key : Aborted Command [current]");
        assert_no_match("sd 1:0:0:0: [sdb] tag#0 Add. Sense: Unrecovered read error - auto reallocate failed");
        assert_no_match("Sense Key : Medium Error [current]");

        /* Filesystems. */
        assert_match("EXT4-fs error (device sdb1): ext4_journal_check_start:83: comm kworker/u16:2: Detected aborted "
                     "journal",
                     "sdb1", DEV_KMSG_ERROR_FS);
        assert_match("EXT3-fs error (device sda2) in ext3_reserve_inode_write: IO failure", "sda2", DEV_KMSG_ERROR_FS);
        assert_match("EXT4-fs warning (device sdb1): ext4_end_bio:343: I/O error 10 writing to inode 1311 starting "
                     "block 15720)",
                     "sdb1", DEV_KMSG_ERROR_IO);
        assert_no_match("EXT4-fs warning (device sdb1): ext4_dx_add_entry:2516: Directory index full!");
        assert_no_match("EXT4-fs (sdb1): Remounting filesystem read-only");
        assert_no_match("EXT4-fs (dm-0): mounted filesystem with ordered data mode. Quota mode: none.");
        assert_match("XFS (dm-1): metadata I/O error in \"xfs_buf_ioend+0x1a0/0x3f0 [xfs]\" at daddr 0x2 len 1 error 5",
                     "dm-1", DEV_KMSG_ERROR_IO);
        assert_match("XFS (sdb1): log I/O error -5", "sdb1", DEV_KMSG_ERROR_IO);
        assert_match("XFS (md1): Corruption of in-memory data (0x8) detected at xfs_trans_cancel+0x13d/0x170 [xfs] "
                     "(fs/xfs/xfs_trans.c:1097).  Shutting down filesystem.",
                     "md1", DEV_KMSG_ERROR_FS);
        assert_no_match("XFS (dm-1): Mounting V5 Filesystem 5d2f1c9e-0a1b-4c3d-9e8f-7a6b5c4d3e2f");
        assert_no_match("XFS (dm-1) I/O error");
        assert_match("BTRFS error (device sdb1): bdev /dev/sdb1 errs: wr 1, rd 0, flush 0, corrupt 0, gen 0", "sdb1",
                     DEV_KMSG_ERROR_FS);
        assert_match("BTRFS error (device nvme0n1p3: state EA): Transaction aborted (error -5)", "nvme0n1p3",
                     DEV_KMSG_ERROR_FS);
        assert_no_match("BTRFS info (device sdb1): disk space caching is enabled");

        /* md failing a member. */
        assert_match("md/raid:md1: Disk failure on sdc, disabling device.", "sdc", DEV_KMSG_ERROR_FAILED);
        assert_match("md/raid1:md0: Disk failure on sdb2, disabling device.\nmd/raid1:md0: Operation continuing on 1 "
                     "devices.",
                     "sdb2", DEV_KMSG_ERROR_FAILED);
        assert_match("md/raid10:md3: Disk failure on nvme1n1p1, disabling device.", "nvme1n1p1", DEV_KMSG_ERROR_FAILED);
        assert_no_match("md/raid:md1: Operation continuing on 2 devices.");
        assert_no_match("md/raid:md1: read error not correctable (sector 500526144 on sdc).");

        /* Around it: no device error. */
        assert_no_match("ata2.00: failed command: WRITE FPDMA QUEUED");
        assert_no_match("ata2.00: failed to IDENTIFY (I/O error, err_mask=0x4)");
        assert_no_match("Aborting journal on device sdb1-8.");
        assert_no_match("JBD2: Error -5 detected when updating journal superblock for sdb1-8.");
        assert_no_match("sd 1:0:0:0: rejecting I/O to offline device");
        assert_no_match("");
}

static void test_match_name_size(void **unused)
{
        char small[4] = "xyz";
        enum dev_kmsg_error k = DEV_KMSG_ERROR_FS;

        (void)unused;
        /* "sdb" needs 4 bytes, "sdb1" 5. */
        assert_true(dev_kmsg_match_io_error("I/O error, dev sdb, sector 1", small, sizeof(small), &k));
        assert_string_equal(small, "sdb");
        assert_int_equal(k, DEV_KMSG_ERROR_IO);
        snprintf(small, sizeof(small), "xyz");
        k = DEV_KMSG_ERROR_FS;
        assert_false(
                dev_kmsg_match_io_error("Buffer I/O error on dev sdb1, logical block 1", small, sizeof(small), &k));
        assert_false(dev_kmsg_match_io_error("I/O error, dev sdb1, sector 1", small, sizeof(small), &k));
        assert_false(dev_kmsg_match_io_error("md/raid:md1: Disk failure on sdc1, disabling device.", small,
                                             sizeof(small), &k));
        assert_string_equal(small, "xyz");
        assert_int_equal(k, DEV_KMSG_ERROR_FS);
        assert_string_equal(dev_kmsg_error_to_string(DEV_KMSG_ERROR_MEDIUM), "medium error");
        assert_true(dev_kmsg_error_is_critical(DEV_KMSG_ERROR_MEDIUM));
        assert_true(dev_kmsg_error_is_critical(DEV_KMSG_ERROR_FAILED));
        assert_false(dev_kmsg_error_is_critical(DEV_KMSG_ERROR_IO));
        assert_false(dev_kmsg_error_is_critical(DEV_KMSG_ERROR_FS));
}

/* Collector */

static void test_collect_disk_ioerr(void **state)
{
        const char *root = *state;
        struct run r;

        /* Cycle 1: the base tree. Its log ends 7 hours before the uptime
         * and its only disk trouble (a link reset) is 3 days old. */
        overlay_tree(root, "hosts/disk-ioerr");
        run_init(&r, "ioerrhost", root, NULL);
        run_cycle(&r, T0);
        assert_int_equal(r.emit.n_states, 0);
        assert_int_equal(r.emit.n_nodes, 0);

        /* Cycle 2, 10 s later: the new records are news. */
        overlay_tree(root, "hosts/disk-ioerr-later");
        run_cycle(&r, T0 + 10 * SEC);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_CRITICAL, SDB_CYCLE2);
        assert_state(&r.emit, "partition:ioerrhost/sdb1", FL_STATE_WARNING, SDB1_CYCLE2);
        assert_int_equal(r.emit.n_states, 2);
        assert_int_equal(r.emit.n_nodes, 0);

        /* The same file again: nothing counted twice. */
        run_cycle(&r, T0 + 20 * SEC);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_CRITICAL, SDB_CYCLE2);
        assert_state(&r.emit, "partition:ioerrhost/sdb1", FL_STATE_WARNING, SDB1_CYCLE2);

        /* Cycle 3, offline: three more failed reads on sdb. */
        overlay_tree(root, "hosts/disk-ioerr-offline");
        run_cycle(&r, T0 + 70 * SEC);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_CRITICAL,
                     "kernel: 13 I/O errors, last medium error: \"critical medium error, dev sdb, sector 123456 op "
                     "0x0:(READ) flags 0x0 phys_seg 1 prio class 0\"");
        assert_state(&r.emit, "partition:ioerrhost/sdb1", FL_STATE_WARNING, SDB1_CYCLE2);
        assert_int_equal(r.emit.n_states, 2);

        /* The hold: the medium error (seen at +10 s) stops making sdb
         * critical 600 s later; the read errors (seen at +70 s) keep it
         * warning until +670 s; sdb1's last error was seen at +10 s. */
        run_cycle(&r, T0 + 609 * SEC);
        assert_int_equal(find_state(&r.emit, "disk:ioerrhost/sdb")->state, FL_STATE_CRITICAL);
        assert_int_equal(find_state(&r.emit, "partition:ioerrhost/sdb1")->state, FL_STATE_WARNING);
        run_cycle(&r, T0 + 610 * SEC);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING,
                     "kernel: 13 I/O errors, last: \"I/O error, dev sdb, sector 2107408 op 0x0:(READ) flags 0x0 "
                     "phys_seg 1 prio class 0\"");
        assert_null(find_state(&r.emit, "partition:ioerrhost/sdb1"));
        run_cycle(&r, T0 + 669 * SEC);
        assert_int_equal(find_state(&r.emit, "disk:ioerrhost/sdb")->state, FL_STATE_WARNING);
        run_cycle(&r, T0 + 670 * SEC);
        assert_int_equal(r.emit.n_states, 0);

        /* A new error after the hold starts a new count. */
        append_string(root, "dev/kmsg",
                      "3,2121,864700000000,-;I/O error, dev sdb, sector 8 op 0x0:(READ) flags 0x0 phys_seg 1 prio "
                      "class 0\n");
        run_cycle(&r, T0 + 680 * SEC);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING,
                     "kernel: 1 I/O error, last: \"I/O error, dev sdb, sector 8 op 0x0:(READ) flags 0x0 phys_seg 1 "
                     "prio class 0\"");
        assert_int_equal(r.emit.n_states, 1);
        run_done(&r);
}

static void test_collect_start_on_later(void **state)
{
        const char *root = *state;
        struct run r;

        /* An agent that starts after the errors of cycle 2 (uptime
         * 864010.52 s, errors 3 to 9 s before): they are recent, so they
         * count, held as if seen when they happened. */
        overlay_tree(root, "hosts/disk-ioerr");
        overlay_tree(root, "hosts/disk-ioerr-later");
        run_init(&r, "ioerrhost", root, NULL);
        run_cycle(&r, T0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_CRITICAL, SDB_CYCLE2);
        assert_state(&r.emit, "partition:ioerrhost/sdb1", FL_STATE_WARNING, SDB1_CYCLE2);
        /* The last one (EXT4-fs error, kernel time 864007.473393 s) was
         * 3.047127 s before the uptime: gone 596.952873 s from now. */
        run_cycle(&r, T0 + 596 * SEC);
        assert_non_null(find_state(&r.emit, "partition:ioerrhost/sdb1"));
        run_cycle(&r, T0 + 597 * SEC);
        assert_null(find_state(&r.emit, "partition:ioerrhost/sdb1"));
        assert_int_equal(r.emit.n_states, 0);
        run_done(&r);
}

static void test_collect_old_records(void **state)
{
        const char *root = *state;
        static const char log[] = "3,1,1000000,-;I/O error, dev sdb, sector 1 op 0x0:(READ)\n"
                                  " SUBSYSTEM=block\n"
                                  "6,2,400000000,-;nothing\n";
        static const char reason[] = "kernel: 1 I/O error, last: \"I/O error, dev sdb, sector 1 op 0x0:(READ)\"";
        _cleanup_free_ char *uptime = fl_asprintf("%s/proc/uptime", root);
        struct run r;

        /* Errors older than the hold, measured from the uptime: history. */
        write_string(root, "dev/kmsg", log);
        write_string(root, "proc/uptime", "2000.00 1000.00\n");
        run_init(&r, "ioerrhost", root, "hosts/disk-ioerr/sys");
        run_cycle(&r, T0);
        assert_int_equal(r.emit.n_states, 0);
        run_cycle(&r, T0 + 10 * SEC);
        assert_int_equal(r.emit.n_states, 0);
        run_done(&r);

        /* Exactly the hold old: history too. */
        write_string(root, "proc/uptime", "601.00 1000.00\n");
        run_init(&r, "ioerrhost", root, "hosts/disk-ioerr/sys");
        run_cycle(&r, T0);
        assert_int_equal(r.emit.n_states, 0);
        run_done(&r);

        /* Uptime 500 s: 499 s old, so recent; held for the 101 s left. */
        write_string(root, "proc/uptime", "500.00 1000.00\n");
        run_init(&r, "ioerrhost", root, "hosts/disk-ioerr/sys");
        run_cycle(&r, T0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, reason);
        run_cycle(&r, T0 + 100 * SEC);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, reason);
        run_cycle(&r, T0 + 101 * SEC);
        assert_int_equal(r.emit.n_states, 0);
        run_done(&r);

        /* No uptime: from the newest record (400 s), 399 s old. */
        assert_int_equal(unlink(uptime), 0);
        run_init(&r, "ioerrhost", root, "hosts/disk-ioerr/sys");
        run_cycle(&r, T0);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, reason);
        run_cycle(&r, T0 + 200 * SEC);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING, reason);
        run_cycle(&r, T0 + 201 * SEC);
        assert_int_equal(r.emit.n_states, 0);
        run_done(&r);
}

static void test_collect_devices(void **state)
{
        const char *root = *state;
        struct run r;

        /* Messages written by user space (facility user, daemon) prove
         * nothing; loop devices and unknown devices are no nodes. */
        write_string(root, "dev/kmsg",
                     "14,1,100000000,-;I/O error, dev nvme1n1, sector 1 op 0x0:(READ)\n"
                     "30,2,100000001,-;I/O error, dev nvme1n1, sector 1 op 0x0:(READ)\n"
                     "3,3,100000002,-;I/O error, dev loop0, sector 1 op 0x0:(READ)\n"
                     "3,4,100000003,-;I/O error, dev sdq, sector 1 op 0x0:(READ)\n");
        run_init(&r, "nvmehost", root, "hosts/nvme/sys");
        run_cycle(&r, T0);
        assert_int_equal(r.emit.n_states, 0);

        /* An NVMe partition's error counts for its disk too; a whole-disk
         * error only for the disk. */
        append_string(root, "dev/kmsg",
                      "3,5,100000004,-;Buffer I/O error on dev nvme0n1p2, logical block 9, async page read\n"
                      "3,6,100000005,-;I/O error, dev nvme1n1, sector 7 op 0x0:(READ)\n"
                      "3,7,100000006,-;critical medium error, dev nvme1n1, sector 8 op 0x0:(READ)\n");
        run_cycle(&r, T0 + 10 * SEC);
        assert_state(&r.emit, "partition:nvmehost/nvme0n1p2", FL_STATE_WARNING,
                     "kernel: 1 I/O error, last: \"Buffer I/O error on dev nvme0n1p2, logical block 9, async page "
                     "read\"");
        assert_state(&r.emit, "disk:nvmehost/nvme0n1", FL_STATE_WARNING,
                     "kernel: 1 I/O error, last: \"Buffer I/O error on dev nvme0n1p2, logical block 9, async page "
                     "read\"");
        assert_state(&r.emit, "disk:nvmehost/nvme1n1", FL_STATE_CRITICAL,
                     "kernel: 2 I/O errors, last medium error: \"critical medium error, dev nvme1n1, sector 8 op "
                     "0x0:(READ)\"");
        assert_int_equal(r.emit.n_states, 3);
        run_done(&r);
}

static void test_collect_dm_md(void **state)
{
        const char *root = *state;
        static const char xfs[] = "XFS (dm-1): metadata I/O error in \"xfs_buf_ioend+0x1a0/0x3f0 [xfs]\" at daddr "
                                  "0x2 len 1 error 5";
        static const char md[] = "md/raid1:md0: Disk failure on sdb2, disabling device.";
        _cleanup_free_ char *log = fl_asprintf("3,1,1000,-;%s\n2,2,2000,-;%s\n", xfs, md);
        _cleanup_free_ char *dm_reason = fl_asprintf("kernel: 1 I/O error, last: \"%s\"", xfs);
        _cleanup_free_ char *md_reason = fl_asprintf("kernel: 1 I/O error, last disk failure: \"%s\"", md);
        struct run r;

        /* dm by its name; a failed md member (a partition) and its disk. */
        write_string(root, "dev/kmsg", "");
        run_init(&r, "raid1host", root, "hosts/raid1-lvm/sys");
        run_cycle(&r, T0);
        assert_int_equal(r.emit.n_states, 0);
        write_string(root, "dev/kmsg", log);
        run_cycle(&r, T0 + 10 * SEC);
        assert_state(&r.emit, "dm:raid1host/vg0-images", FL_STATE_WARNING, dm_reason);
        assert_state(&r.emit, "partition:raid1host/sdb2", FL_STATE_CRITICAL, md_reason);
        assert_state(&r.emit, "disk:raid1host/sdb", FL_STATE_CRITICAL, md_reason);
        assert_int_equal(r.emit.n_states, 3);
        run_done(&r);
}

static void test_collect_replaced_file(void **state)
{
        const char *root = *state;
        _cleanup_free_ char *tmp = fl_asprintf("%s/dev/kmsg.new", root);
        _cleanup_free_ char *path = fl_asprintf("%s/dev/kmsg", root);
        struct run r;

        write_string(root, "dev/kmsg", "6,10,1000,-;boot\n");
        run_init(&r, "ioerrhost", root, "hosts/disk-ioerr/sys");
        run_cycle(&r, T0);
        assert_int_equal(r.emit.n_states, 0);

        /* A longer log renamed over it (another inode): the records above
         * the highest sequence number seen are news, the others not. */
        write_string(root, "dev/kmsg.new",
                     "3,9,900,-;I/O error, dev sda, sector 1 op 0x0:(READ)\n"
                     "6,10,1000,-;boot\n"
                     "3,11,2000,-;I/O error, dev sdb, sector 2 op 0x0:(READ)\n");
        assert_int_equal(rename(tmp, path), 0);
        run_cycle(&r, T0 + 10 * SEC);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING,
                     "kernel: 1 I/O error, last: \"I/O error, dev sdb, sector 2 op 0x0:(READ)\"");
        assert_int_equal(r.emit.n_states, 1);
        run_done(&r);
}

static void test_collect_unreadable(void **state)
{
        const char *root = *state;
        const struct fl_enode *host;
        struct run r;

        /* No log: no state for anything, the reason on the host node, and
         * the collector succeeds. */
        run_init(&r, "ioerrhost", root, "hosts/disk-ioerr/sys");
        run_cycle(&r, T0);
        assert_int_equal(r.emit.n_states, 0);
        host = find_node(&r.emit, "host:ioerrhost");
        assert_non_null(host);
        assert_string_equal(node_attr(host, "kmsg"), "unreadable: No such file or directory");

        /* It appears: tried again only 60 cycles after the failure. */
        write_string(root, "proc/uptime", "101.00 100.00\n");
        write_string(root, "dev/kmsg", "3,1,100000000,-;I/O error, dev sdb, sector 1 op 0x0:(READ)\n");
        for (uint64_t i = 1; i < 60; i++) {
                run_cycle(&r, T0 + i * 10 * SEC);
                assert_int_equal(r.emit.n_states, 0);
                assert_non_null(find_node(&r.emit, "host:ioerrhost"));
        }
        run_cycle(&r, T0 + 600 * SEC);
        assert_state(&r.emit, "disk:ioerrhost/sdb", FL_STATE_WARNING,
                     "kernel: 1 I/O error, last: \"I/O error, dev sdb, sector 1 op 0x0:(READ)\"");
        assert_null(find_node(&r.emit, "host:ioerrhost"));
        run_done(&r);

        /* Something that is neither a character device nor a file. */
        {
                _cleanup_free_ char *path = fl_asprintf("%s/dev/kmsg", root);
                assert_int_equal(unlink(path), 0);
                assert_int_equal(mkdir(path, 0755), 0);
        }
        run_init(&r, "ioerrhost", root, "hosts/disk-ioerr/sys");
        run_cycle(&r, T0);
        assert_int_equal(r.emit.n_states, 0);
        assert_string_equal(node_attr(find_node(&r.emit, "host:ioerrhost"), "kmsg"), "unreadable: No such device");
        run_done(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_record),
                cmocka_unit_test(test_parse_escapes),
                cmocka_unit_test(test_parse_skip_and_malformed),
                cmocka_unit_test(test_parse_ceilings),
                cmocka_unit_test(test_match),
                cmocka_unit_test(test_match_name_size),
                cmocka_unit_test_setup_teardown(test_collect_disk_ioerr, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_start_on_later, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_old_records, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_devices, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_dm_md, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_replaced_file, setup_root, fixture_teardown_root),
                cmocka_unit_test_setup_teardown(test_collect_unreadable, setup_root, fixture_teardown_root),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
