/* SPDX-License-Identifier: MIT */
/*
 * Block storage topology and the faults sysfs shows about it, discovered
 * from <sysfs>/class/block with no configuration: one node per disk,
 * partition, md array and device-mapper device (loop, ram, zram and the
 * other BLOCKDEV_VIRTUAL devices have none), how they stack, and detectors
 * for SCSI device state, SCSI I/O errors and md arrays and their members.
 *
 * Edges read "A depends on B": partition → its disk "on_disk", md array →
 * each member "member", dm device → each slave "maps_to", and every node →
 * host:HOST "part_of". Members and slaves that are virtual devices (md on
 * loop devices in a test setup) get no node and so no edge either.
 *
 * Cost: the topology is scanned at init, whenever the set of names in
 * <sysfs>/class/block changes (one readdir per cycle), when a watched md
 * member disappears, and at least every SYS_BLOCK_RESCAN_CYCLES cycles. A
 * cycle otherwise only re-reads, with pread on descriptors kept open, the
 * few attributes the detectors need: device/state and device/ioerr_cnt of
 * SCSI disks; array_state, degraded, sync_action, sync_completed and each
 * member's state of md arrays. The nodes and edges of the last scan are
 * emitted every cycle (the core sends inventory only when it changed).
 */
#include "sys_block.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>

#include "blockdev.h"
#include "collector.h"
#include "procfile.h"

#define SECTOR_SIZE 512
#define ATTR_MAX 256 /* sysfs values read here are short; a longer one is not what we expect */

/* Parsers */

int sys_block_parse_hex(const char *s, uint64_t *ret)
{
        uint64_t v = 0;

        if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !s[2])
                return -EINVAL;
        for (const char *p = s + 2; *p; p++) {
                unsigned d;

                if (*p >= '0' && *p <= '9')
                        d = (unsigned)(*p - '0');
                else if (*p >= 'a' && *p <= 'f')
                        d = (unsigned)(*p - 'a' + 10);
                else if (*p >= 'A' && *p <= 'F')
                        d = (unsigned)(*p - 'A' + 10);
                else
                        return -EINVAL;
                if (v > (UINT64_MAX >> 4))
                        return -ERANGE;
                v = (v << 4) | d;
        }
        *ret = v;
        return 0;
}

static int lookup(const char *const *table, size_t n, const char *s)
{
        for (size_t i = 0; i < n; i++)
                if (table[i] && fl_streq(table[i], s))
                        return (int)i;
        return -EINVAL;
}

static const char *const array_states[] = {
        [SYS_BLOCK_ARRAY_CLEAR] = "clear",
        [SYS_BLOCK_ARRAY_INACTIVE] = "inactive",
        [SYS_BLOCK_ARRAY_SUSPENDED] = "suspended",
        [SYS_BLOCK_ARRAY_READONLY] = "readonly",
        [SYS_BLOCK_ARRAY_READ_AUTO] = "read-auto",
        [SYS_BLOCK_ARRAY_CLEAN] = "clean",
        [SYS_BLOCK_ARRAY_ACTIVE] = "active",
        [SYS_BLOCK_ARRAY_WRITE_PENDING] = "write-pending",
        [SYS_BLOCK_ARRAY_ACTIVE_IDLE] = "active-idle",
        [SYS_BLOCK_ARRAY_BROKEN] = "broken",
};

int sys_block_parse_md_array_state(const char *s, enum sys_block_array_state *ret)
{
        int i = lookup(array_states, FL_ARRAY_SIZE(array_states), s);

        if (i < 0)
                return i;
        *ret = (enum sys_block_array_state)i;
        return 0;
}

static const char *const sync_actions[] = {
        [SYS_BLOCK_SYNC_IDLE] = "idle",       [SYS_BLOCK_SYNC_FROZEN] = "frozen",   [SYS_BLOCK_SYNC_RESYNC] = "resync",
        [SYS_BLOCK_SYNC_RECOVER] = "recover", [SYS_BLOCK_SYNC_RESHAPE] = "reshape", [SYS_BLOCK_SYNC_CHECK] = "check",
        [SYS_BLOCK_SYNC_REPAIR] = "repair",
};

int sys_block_parse_md_sync_action(const char *s, enum sys_block_sync_action *ret)
{
        int i = lookup(sync_actions, FL_ARRAY_SIZE(sync_actions), s);

        if (i < 0)
                return i;
        *ret = (enum sys_block_sync_action)i;
        return 0;
}

int sys_block_parse_md_sync_completed(const char *s, uint64_t *ret_done, uint64_t *ret_total)
{
        char a[32];
        const char *slash;
        uint64_t done, total;

        if (fl_streq(s, "none"))
                return -ENODATA;
        if (fl_streq(s, "delayed"))
                return -EBUSY;
        /* The kernel prints "%llu / %llu". */
        slash = strstr(s, " / ");
        if (!slash || (size_t)(slash - s) >= sizeof(a))
                return -EINVAL;
        memcpy(a, s, (size_t)(slash - s));
        a[slash - s] = '\0';
        if (fl_safe_atou64(a, &done) < 0 || fl_safe_atou64(slash + 3, &total) < 0)
                return -EINVAL;
        if (total == 0 || done > total)
                return -EINVAL;
        *ret_done = done;
        *ret_total = total;
        return 0;
}

int sys_block_parse_md_dev_state(const char *s, unsigned *ret_flags)
{
        static const struct {
                const char *word;
                unsigned flag;
        } words[] = {
                { "faulty", SYS_BLOCK_MD_DEV_FAULTY },
                { "in_sync", SYS_BLOCK_MD_DEV_IN_SYNC },
                { "spare", SYS_BLOCK_MD_DEV_SPARE },
                { "write_mostly", SYS_BLOCK_MD_DEV_WRITE_MOSTLY },
                { "blocked", SYS_BLOCK_MD_DEV_BLOCKED },
                { "write_error", SYS_BLOCK_MD_DEV_WRITE_ERROR },
                { "want_replacement", SYS_BLOCK_MD_DEV_WANT_REPLACEMENT },
                { "replacement", SYS_BLOCK_MD_DEV_REPLACEMENT },
                { "journal", SYS_BLOCK_MD_DEV_JOURNAL },
        };
        unsigned flags = 0;
        const char *p = s;

        while (*p) {
                size_t len = strcspn(p, ",");

                for (size_t i = 0; i < len; i++)
                        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
                                return -EINVAL;
                for (size_t i = 0; i < FL_ARRAY_SIZE(words); i++)
                        if (strlen(words[i].word) == len && strncmp(words[i].word, p, len) == 0)
                                flags |= words[i].flag;
                p += len;
                if (*p == ',')
                        p++;
        }
        *ret_flags = flags;
        return 0;
}

int sys_block_md_min_ok(const char *level, unsigned raid_disks)
{
        int64_t n = raid_disks, k;

        if (!level || raid_disks == 0)
                return -EINVAL;
        if (fl_streq(level, "raid1") || fl_streq(level, "multipath"))
                k = 1;
        else if (fl_streq(level, "raid4") || fl_streq(level, "raid5"))
                k = n - 1;
        else if (fl_streq(level, "raid6"))
                k = n - 2;
        else if (fl_streq(level, "raid10"))
                k = (n + 1) / 2; /* near=2, best case: see sys_block.h */
        else if (fl_streq(level, "raid0") || fl_streq(level, "linear"))
                k = n;
        else
                return -EINVAL;
        if (k < 1 || k > INT32_MAX)
                return -EINVAL;
        return (int)k;
}

const char *sys_block_dm_type(const char *uuid)
{
        if (!uuid)
                return "other";
        if (fl_startswith(uuid, "LVM-"))
                return "lvm";
        if (fl_startswith(uuid, "mpath-"))
                return "multipath";
        if (fl_startswith(uuid, "CRYPT-"))
                return "crypt";
        return "other";
}

/* Levels with redundancy: only they have md/degraded, sync_action and
 * sync_completed (md's redundancy attribute group). */
static bool md_level_redundant(const char *level)
{
        static const char *const levels[] = { "raid1", "raid4", "raid5", "raid6", "raid10" };

        for (size_t i = 0; i < FL_ARRAY_SIZE(levels); i++)
                if (fl_streq(level, levels[i]))
                        return true;
        return false;
}

/* Collector */

/* An attribute re-read every cycle through a descriptor kept open. */
struct sb_file {
        char *path;
        const char *rel; /* the part of path below the device directory, for reasons */
        int fd;
};

struct sb_attr {
        char *key;
        char *value;
};

struct sb_edge {
        char *to;
        const char *type;
};

struct sb_member {
        char *key; /* node key of the member device */
        char *name; /* its name in that key, for reasons */
        char *dir; /* md/dev-X, NULL for a member only listed in slaves/ */
        struct sb_file state; /* md/dev-X/state */
        bool spare; /* in this cycle's reading */
};

/* SCSI I/O error counter history; survives rescans. */
struct ioerr_track {
        bool have_base;
        uint64_t cnt, at_us; /* last reading */
        bool holding; /* warning held after an increase */
        uint64_t last_err_us;
        char reason[160];
};

struct sb_dev {
        struct blockdev_id id;
        char *key;
        struct sb_attr *attrs;
        size_t n_attrs, cap_attrs;
        struct sb_edge *edges;
        size_t n_edges, cap_edges;
        int min_ok;

        bool scsi;
        struct sb_file scsi_state, ioerr_cnt;
        struct ioerr_track ioerr;

        bool md, md_redundant, md_container;
        unsigned raid_disks;
        struct sb_file array_state, degraded, sync_action, sync_completed;
        struct sb_member *members;
        size_t n_members, cap_members;
};

struct sys_block_state {
        char *host_key;
        DIR *dir; /* <sysfs>/class/block, listed again every cycle */
        size_t n_names; /* entries of the last scan ... */
        uint64_t names_hash; /* ... and a hash of their names */
        struct sb_dev *devs; /* in kernel name order */
        size_t n_devs;
        unsigned cycles_since_scan;
        bool rescan; /* a watched member went away */
};

static void sb_file_init(struct sb_file *f, const char *dir, const char *rel)
{
        f->path = fl_asprintf("%s/%s", dir, rel);
        f->rel = f->path + strlen(dir) + 1;
        f->fd = -1;
}

static void sb_file_done(struct sb_file *f)
{
        if (f->fd >= 0)
                close(f->fd);
        free(f->path);
        *f = (struct sb_file){ .fd = -1 };
}

static int sb_file_pread(int fd, char *buf, size_t bufsz)
{
        ssize_t n = pread(fd, buf, bufsz - 1, 0);

        if (n < 0)
                return -errno;
        if ((size_t)n == bufsz - 1)
                return -E2BIG;
        buf[n] = '\0';
        procfile_trim(buf);
        return 0;
}

/* Reads the value again from offset 0, blanks trimmed. A descriptor that
 * fails (the attribute was removed and created again) is replaced by a
 * fresh one once. */
static int sb_file_read(struct sb_file *f, char *buf, size_t bufsz)
{
        int r;

        if (f->fd >= 0) {
                r = sb_file_pread(f->fd, buf, bufsz);
                if (r >= 0 || r == -E2BIG)
                        return r;
                close(f->fd);
                f->fd = -1;
        }
        f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0)
                return -errno;
        r = sb_file_pread(f->fd, buf, bufsz);
        if (r < 0 && r != -E2BIG) {
                close(f->fd);
                f->fd = -1;
        }
        return r;
}

/* Reads an attribute once (topology scan), blanks trimmed; -ENODATA when
 * it is empty. */
static int read_attr(const char *dir, const char *rel, char *buf, size_t bufsz)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", dir, rel);
        int r = fl_read_line(path, buf, bufsz);

        if (r < 0)
                return r;
        procfile_trim(buf);
        return buf[0] ? 0 : -ENODATA;
}

static bool has(const char *dir, const char *rel)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", dir, rel);
        return access(path, F_OK) == 0;
}

static void dev_attr(struct sb_dev *d, const char *key, const char *value)
{
        d->attrs = fl_grow(d->attrs, &d->cap_attrs, d->n_attrs + 1, sizeof(*d->attrs));
        d->attrs[d->n_attrs++] = (struct sb_attr){ fl_strdup(key), fl_strdup(value) };
}

/* Copies an attribute of the device into the node when it can be read. */
static void dev_attr_from(struct sb_dev *d, const char *dir, const char *rel, const char *key)
{
        char buf[ATTR_MAX];

        if (read_attr(dir, rel, buf, sizeof(buf)) >= 0)
                dev_attr(d, key, buf);
}

static void dev_edge(struct sb_dev *d, char *to, const char *type)
{
        d->edges = fl_grow(d->edges, &d->cap_edges, d->n_edges + 1, sizeof(*d->edges));
        d->edges[d->n_edges++] = (struct sb_edge){ to, type };
}

static void sb_dev_free(struct sb_dev *d)
{
        for (size_t i = 0; i < d->n_attrs; i++) {
                free(d->attrs[i].key);
                free(d->attrs[i].value);
        }
        free(d->attrs);
        for (size_t i = 0; i < d->n_edges; i++)
                free(d->edges[i].to);
        free(d->edges);
        for (size_t i = 0; i < d->n_members; i++) {
                free(d->members[i].key);
                free(d->members[i].name);
                free(d->members[i].dir);
                sb_file_done(&d->members[i].state);
        }
        free(d->members);
        sb_file_done(&d->scsi_state);
        sb_file_done(&d->ioerr_cnt);
        sb_file_done(&d->array_state);
        sb_file_done(&d->degraded);
        sb_file_done(&d->sync_action);
        sb_file_done(&d->sync_completed);
        free(d->key);
}

static void devs_free(struct sb_dev *devs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                sb_dev_free(&devs[i]);
        free(devs);
}

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int compare_names(const void *a, const void *b)
{
        return strverscmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The key of a related device (a partition's disk, a member, a slave), or
 * NULL when it has no node: a virtual device, or one that vanished.
 */
static char *related_key(const struct fl_agent_ctx *ctx, const char *kname, struct blockdev_id *ret_id)
{
        struct blockdev_id id;

        if (blockdev_identify(ctx->sysfs, kname, &id) < 0 || id.kind == BLOCKDEV_VIRTUAL)
                return NULL;
        if (ret_id)
                *ret_id = id;
        return blockdev_key(&id, ctx->hostname);
}

static bool has_member(const struct sb_dev *d, const char *key)
{
        for (size_t i = 0; i < d->n_members; i++)
                if (fl_streq(d->members[i].key, key))
                        return true;
        return false;
}

static struct sb_member *add_member(struct sb_dev *d, char *key, const char *name)
{
        struct sb_member *m;

        d->members = fl_grow(d->members, &d->cap_members, d->n_members + 1, sizeof(*d->members));
        m = &d->members[d->n_members++];
        *m = (struct sb_member){ .key = key, .name = fl_strdup(name), .state = { .fd = -1 } };
        return m;
}

/*
 * The kernel name behind md/dev-X: the target of its "block" link (a
 * partition's link ends in .../sda/sda2). X itself is the same name, so it
 * is the fallback when the link cannot be read.
 */
static void md_member_kname(const char *rdev_dir, const char *x, char *buf, size_t bufsz)
{
        _cleanup_free_ char *link = fl_asprintf("%s/block", rdev_dir);
        char target[PATH_MAX];
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        const char *base = x;

        if (n > 0) {
                const char *slash;

                target[n] = '\0';
                slash = strrchr(target, '/');
                base = slash ? slash + 1 : target;
        }
        if (strlen(base) >= bufsz)
                base = x;
        snprintf(buf, bufsz, "%.*s", (int)(bufsz - 1), base);
}

static int compare_members(const void *a, const void *b)
{
        const struct sb_member *x = a, *y = b;
        return strverscmp(x->name, y->name);
}

/* Members from md/dev-* (a faulty member that md took out of its slot has
 * no rdN link, but still its dev-X directory), then from slaves/. Past
 * SYS_BLOCK_MAX_MEMBERS the rest is left out. */
static void scan_md_members(const struct fl_agent_ctx *ctx, const char *dir, struct sb_dev *d)
{
        _cleanup_free_ char *mddir = fl_asprintf("%s/md", dir);
        _cleanup_free_ char *slaves = fl_asprintf("%s/slaves", dir);
        struct dirent *de;
        DIR *md, *sl;

        md = opendir(mddir);
        while (md && (de = readdir(md)) && d->n_members < SYS_BLOCK_MAX_MEMBERS) {
                _cleanup_free_ char *rdev = NULL, *rel = NULL;
                char kname[BLOCKDEV_NAME_MAX];
                struct blockdev_id id;
                struct sb_member *m;
                char *key;

                if (!fl_startswith(de->d_name, "dev-") || !de->d_name[4])
                        continue;
                rdev = fl_asprintf("%s/%s", mddir, de->d_name);
                md_member_kname(rdev, de->d_name + 4, kname, sizeof(kname));
                key = related_key(ctx, kname, &id);
                if (!key || has_member(d, key)) {
                        free(key);
                        continue;
                }
                m = add_member(d, key, id.name);
                m->dir = TAKE_PTR(rdev);
                rel = fl_asprintf("md/%s/state", de->d_name);
                sb_file_init(&m->state, dir, rel);
        }
        if (md)
                closedir(md);

        sl = opendir(slaves);
        while (sl && (de = readdir(sl)) && d->n_members < SYS_BLOCK_MAX_MEMBERS) {
                struct blockdev_id id;
                char *key;

                if (de->d_name[0] == '.')
                        continue;
                key = related_key(ctx, de->d_name, &id);
                if (!key || has_member(d, key)) {
                        free(key);
                        continue;
                }
                add_member(d, key, id.name);
        }
        if (sl)
                closedir(sl);

        if (d->n_members > 1)
                qsort(d->members, d->n_members, sizeof(*d->members), compare_members);
        for (size_t i = 0; i < d->n_members; i++)
                dev_edge(d, fl_strdup(d->members[i].key), "member");
}

static void scan_md(const struct fl_agent_ctx *ctx, const char *dir, struct sb_dev *d)
{
        char level[ATTR_MAX] = "", buf[ATTR_MAX];
        uint32_t n = 0;
        int k;

        d->md = true;
        if (read_attr(dir, "md/level", level, sizeof(level)) >= 0)
                dev_attr(d, "level", level);
        if (read_attr(dir, "md/raid_disks", buf, sizeof(buf)) >= 0) {
                dev_attr(d, "raid_disks", buf);
                if (fl_safe_atou32(buf, &n) < 0)
                        n = 0;
        }
        /* The value of this scan only: it flips between clean and active
         * with write activity, and an attribute that changed every few
         * seconds would resend the inventory each time. The detector reads
         * it every cycle. */
        dev_attr_from(d, dir, "md/array_state", "array_state");
        d->raid_disks = n;
        k = sys_block_md_min_ok(level, n);
        d->min_ok = k > 0 ? k : -1;
        d->md_redundant = md_level_redundant(level) && d->min_ok > 0;
        /* An IMSM or DDF container only groups the disks of the arrays
         * defined in its metadata; it is never started, so its array_state
         * is always "inactive", which is no fault. */
        d->md_container = fl_streq(level, "container");

        sb_file_init(&d->array_state, dir, "md/array_state");
        sb_file_init(&d->degraded, dir, "md/degraded");
        sb_file_init(&d->sync_action, dir, "md/sync_action");
        sb_file_init(&d->sync_completed, dir, "md/sync_completed");
        scan_md_members(ctx, dir, d);
}

static void scan_dm(const struct fl_agent_ctx *ctx, const char *dir, struct sb_dev *d)
{
        char uuid[ATTR_MAX] = "";
        _cleanup_free_ char *slaves = fl_asprintf("%s/slaves", dir);
        _cleanup_free_ char **names = NULL;
        size_t n = 0, cap = 0;
        const char *type;
        DIR *sl;

        if (read_attr(dir, "dm/uuid", uuid, sizeof(uuid)) >= 0)
                dev_attr(d, "dm_uuid", uuid);
        type = sys_block_dm_type(uuid);
        dev_attr(d, "dm_type", type);
        /* A multipath map works while one path does; LVM and crypt
         * mappings need every device they map to. */
        if (fl_streq(type, "multipath"))
                d->min_ok = 1;

        /* No slaves/ (as git stores an empty one) is no slaves. */
        sl = opendir(slaves);
        if (!sl)
                return;
        for (struct dirent *de; (de = readdir(sl)) && n < SYS_BLOCK_MAX_MEMBERS;) {
                if (de->d_name[0] == '.')
                        continue;
                names = fl_grow(names, &cap, n + 1, sizeof(*names));
                names[n++] = fl_strdup(de->d_name);
        }
        closedir(sl);
        if (n > 1)
                qsort(names, n, sizeof(*names), compare_names);
        for (size_t i = 0; i < n; i++) {
                char *key = related_key(ctx, names[i], NULL);
                if (key)
                        dev_edge(d, key, "maps_to");
                free(names[i]);
        }
}

static void scan_disk(const char *dir, struct sb_dev *d)
{
        dev_attr_from(d, dir, "queue/rotational", "rotational");
        dev_attr_from(d, dir, "device/model", "model");
        /* Only SCSI has a vendor string; virtio's device/vendor is a PCI
         * vendor number. */
        d->scsi = has(dir, "device/scsi_level");
        if (d->scsi)
                dev_attr_from(d, dir, "device/vendor", "vendor");
        /* NVMe controllers have device/serial; virtio disks a serial of
         * their own (often empty: then none). */
        if (has(dir, "device/serial"))
                dev_attr_from(d, dir, "device/serial", "serial");
        else
                dev_attr_from(d, dir, "serial", "serial");
        if (has(dir, "device/firmware_rev"))
                dev_attr_from(d, dir, "device/firmware_rev", "firmware");
        else if (d->scsi)
                dev_attr_from(d, dir, "device/rev", "firmware");
        if (d->scsi) {
                sb_file_init(&d->scsi_state, dir, "device/state");
                sb_file_init(&d->ioerr_cnt, dir, "device/ioerr_cnt");
        }
}

/* Builds the node of one device. Returns 1 with ret filled, 0 when the
 * device has no node, or -errno. */
static int scan_device(const struct fl_agent_ctx *ctx, const char *kname, struct sb_dev *ret)
{
        struct sb_dev d = { .min_ok = -1 };
        _cleanup_free_ char *dir = NULL;
        char buf[ATTR_MAX];
        uint64_t sectors;
        int r;

        r = blockdev_identify(ctx->sysfs, kname, &d.id);
        if (r < 0)
                return r;
        if (d.id.kind == BLOCKDEV_VIRTUAL)
                return 0;
        d.scsi_state.fd = d.ioerr_cnt.fd = d.array_state.fd = d.degraded.fd = -1;
        d.sync_action.fd = d.sync_completed.fd = -1;

        dir = fl_asprintf("%s/class/block/%s", ctx->sysfs, kname);
        if (d.id.kind == BLOCKDEV_PARTITION) {
                /* A partition of a loop device (partscan) has no disk node
                 * to stand on: no node either. */
                char *disk = related_key(ctx, d.id.parent, NULL);
                if (!disk)
                        return 0;
                dev_edge(&d, disk, "on_disk");
        }
        d.key = blockdev_key(&d.id, ctx->hostname);

        snprintf(buf, sizeof(buf), "%u:%u", d.id.major, d.id.minor);
        dev_attr(&d, "devnum", buf);
        if (read_attr(dir, "size", buf, sizeof(buf)) >= 0 && fl_safe_atou64(buf, &sectors) >= 0 &&
            sectors <= UINT64_MAX / SECTOR_SIZE) {
                snprintf(buf, sizeof(buf), "%" PRIu64, sectors * SECTOR_SIZE);
                dev_attr(&d, "size_bytes", buf);
        }

        switch (d.id.kind) {
        case BLOCKDEV_DISK:
                scan_disk(dir, &d);
                break;
        case BLOCKDEV_PARTITION:
                dev_attr_from(&d, dir, "start", "start");
                break;
        case BLOCKDEV_RAID:
                scan_md(ctx, dir, &d);
                break;
        case BLOCKDEV_DM:
                scan_dm(ctx, dir, &d);
                break;
        case BLOCKDEV_VIRTUAL:
                break;
        }
        *ret = d;
        return 1;
}

static uint64_t name_hash(const char *s)
{
        uint64_t h = UINT64_C(1469598103934665603);

        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * UINT64_C(1099511628211);
        return h;
}

/*
 * Lists <sysfs>/class/block through the directory stream kept open. Returns
 * the number of names and an order-independent hash of them, and with
 * ret_names the names themselves, sorted.
 */
static int list_names(struct sys_block_state *s, const char *sysfs, char ***ret_names, size_t *ret_n,
                      uint64_t *ret_hash)
{
        char **names = NULL;
        size_t n = 0, cap = 0;
        uint64_t hash = 0;
        struct dirent *de;
        int r = 0;

        if (!s->dir) {
                _cleanup_free_ char *path = fl_asprintf("%s/class/block", sysfs);
                s->dir = opendir(path);
                if (!s->dir)
                        return -errno;
        } else
                rewinddir(s->dir);

        for (;;) {
                errno = 0;
                de = readdir(s->dir);
                if (!de) {
                        r = -errno;
                        break;
                }
                if (de->d_name[0] == '.')
                        continue;
                if (n >= SYS_BLOCK_MAX_DEVICES) {
                        r = -E2BIG;
                        break;
                }
                hash += name_hash(de->d_name);
                if (ret_names) {
                        names = fl_grow(names, &cap, n + 1, sizeof(*names));
                        names[n] = fl_strdup(de->d_name);
                }
                n++;
        }
        if (r < 0) {
                strv_free(names, ret_names ? n : 0);
                closedir(s->dir);
                s->dir = NULL;
                return r;
        }
        if (ret_names) {
                if (n > 1)
                        qsort(names, n, sizeof(*names), compare_names);
                *ret_names = names;
        }
        *ret_n = n;
        *ret_hash = hash;
        return 0;
}

static const struct sb_dev *find_dev(const struct sb_dev *devs, size_t n, const struct blockdev_id *id)
{
        for (size_t i = 0; i < n; i++)
                if (fl_streq(devs[i].id.kname, id->kname) && devs[i].id.major == id->major &&
                    devs[i].id.minor == id->minor)
                        return &devs[i];
        return NULL;
}

static int scan(struct sys_block_state *s, const struct fl_agent_ctx *ctx)
{
        char **names = NULL;
        size_t n_names = 0, n = 0, cap = 0;
        struct sb_dev *devs = NULL;
        uint64_t hash = 0;
        int r;

        /* A fresh stream: the directory may have been replaced. */
        if (s->dir) {
                closedir(s->dir);
                s->dir = NULL;
        }
        r = list_names(s, ctx->sysfs, &names, &n_names, &hash);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_names; i++) {
                struct sb_dev d;

                /* A device that went away since the listing is simply not
                 * there: the next listing differs and triggers a rescan. */
                if (scan_device(ctx, names[i], &d) <= 0)
                        continue;
                devs = fl_grow(devs, &cap, n + 1, sizeof(*devs));
                devs[n++] = d;
        }
        strv_free(names, n_names);

        /* Error history belongs to the device, not to the scan: a device
         * with the same kernel name and number is the same device. */
        for (size_t i = 0; i < n; i++) {
                const struct sb_dev *old = find_dev(s->devs, s->n_devs, &devs[i].id);
                if (old)
                        devs[i].ioerr = old->ioerr;
        }
        devs_free(s->devs, s->n_devs);
        s->devs = devs;
        s->n_devs = n;
        s->n_names = n_names;
        s->names_hash = hash;
        s->cycles_since_scan = 0;
        s->rescan = false;
        return 0;
}

/* Detectors */

static void format_span(uint64_t us, char *buf, size_t bufsz)
{
        if (us % 1000000 == 0)
                snprintf(buf, bufsz, "%" PRIu64 " s", us / 1000000);
        else
                snprintf(buf, bufsz, "%.1f s", (double)us / 1e6);
}

/*
 * ioerr_cnt counts SCSI commands that completed with an error. The first
 * reading is only a baseline (errors from before the agent started are not
 * news, and show as the ioerr_cnt attribute); any increase is a warning,
 * held for disk_error_hold_us after the last one so that a disk that fails
 * now and then does not flap back to ok between errors, and critical in the
 * cycle whose rate exceeds disk_ioerr_critical_per_s.
 */
static void check_ioerr(struct sb_dev *d, uint64_t cnt, uint64_t now_us, const struct fl_thresholds *th,
                        struct fl_emit *emit)
{
        struct ioerr_track *t = &d->ioerr;

        if (t->have_base && cnt > t->cnt) {
                uint64_t delta = cnt - t->cnt, dt_us = now_us > t->at_us ? now_us - t->at_us : 0;
                enum fl_state state = FL_STATE_WARNING;
                char span[32];

                if (dt_us > 0) {
                        format_span(dt_us, span, sizeof(span));
                        snprintf(t->reason, sizeof(t->reason),
                                 "I/O errors: %" PRIu64 " in %s (ioerr_cnt 0x%" PRIx64 " → 0x%" PRIx64 ")", delta, span,
                                 t->cnt, cnt);
                        if ((double)delta / ((double)dt_us / 1e6) > th->disk_ioerr_critical_per_s)
                                state = FL_STATE_CRITICAL;
                } else
                        /* The clock did not advance: no rate to judge. */
                        snprintf(t->reason, sizeof(t->reason),
                                 "I/O errors: %" PRIu64 " (ioerr_cnt 0x%" PRIx64 " → 0x%" PRIx64 ")", delta, t->cnt,
                                 cnt);
                fl_emit_state(emit, d->key, state, "%s", t->reason);
                t->holding = true;
                t->last_err_us = now_us;
        } else if (t->holding) {
                if (now_us < t->last_err_us)
                        t->last_err_us = now_us; /* clock stepped back: hold from now */
                if (now_us - t->last_err_us < th->disk_error_hold_us)
                        fl_emit_state(emit, d->key, FL_STATE_WARNING, "%s", t->reason);
                else
                        t->holding = false;
        }
        /* A counter that went back belongs to a device that was set up
         * again: it is the new baseline. */
        t->have_base = true;
        t->cnt = cnt;
        t->at_us = now_us;
}

static void check_scsi(struct sb_dev *d, struct fl_enode *node, uint64_t now_us, const struct fl_thresholds *th,
                       struct fl_emit *emit)
{
        char buf[ATTR_MAX], num[32];
        uint64_t cnt;
        int r;

        r = sb_file_read(&d->scsi_state, buf, sizeof(buf));
        if (r < 0)
                fl_emit_state(emit, d->key, FL_STATE_UNKNOWN, "could not read %s: %s", d->scsi_state.rel, strerror(-r));
        else if (!fl_streq(buf, "running")) {
                /* blocked and quiesce are passing states (error handling,
                 * suspend); offline, transport-offline, cancel, deleted
                 * mean the disk takes no more commands. */
                bool passing = fl_streq(buf, "blocked") || fl_streq(buf, "created-blocked") || fl_streq(buf, "quiesce");
                fl_emit_state(emit, d->key, passing ? FL_STATE_WARNING : FL_STATE_CRITICAL, "SCSI device state \"%s\"",
                              buf);
        }

        r = sb_file_read(&d->ioerr_cnt, buf, sizeof(buf));
        if (r < 0) {
                fl_emit_state(emit, d->key, FL_STATE_UNKNOWN, "could not read %s: %s", d->ioerr_cnt.rel, strerror(-r));
                return;
        }
        if (sys_block_parse_hex(buf, &cnt) < 0) {
                fl_emit_state(emit, d->key, FL_STATE_UNKNOWN, "unrecognised %s \"%s\"", d->ioerr_cnt.rel, buf);
                return;
        }
        snprintf(num, sizeof(num), "%" PRIu64, cnt);
        fl_emit_attr(node, "ioerr_cnt", num);
        check_ioerr(d, cnt, now_us, th, emit);
}

static const char *sync_label(enum sys_block_sync_action a)
{
        switch (a) {
        case SYS_BLOCK_SYNC_RECOVER:
                return "recovery";
        case SYS_BLOCK_SYNC_RESHAPE:
                return "reshape";
        default:
                return "resync";
        }
}

/* Judges the members by their md/dev-X/state. */
static void check_md_members(struct sys_block_state *s, struct sb_dev *d, struct fl_emit *emit)
{
        for (size_t i = 0; i < d->n_members; i++) {
                struct sb_member *m = &d->members[i];
                char buf[ATTR_MAX];
                unsigned flags;
                int r;

                m->spare = false;
                if (!m->dir)
                        continue;
                r = sb_file_read(&m->state, buf, sizeof(buf));
                if (r == -ENOENT && access(m->dir, F_OK) < 0) {
                        /* Removed from the array (mdadm --remove): the
                         * topology changed, and there is no state to judge.
                         * Not again right after a scan, so that a sysfs
                         * that keeps listing it cannot make every cycle a
                         * rescan. */
                        if (s->cycles_since_scan > 0)
                                s->rescan = true;
                        continue;
                }
                if (r < 0) {
                        fl_emit_state(emit, m->key, FL_STATE_UNKNOWN, "could not read %s of %s: %s", m->state.rel,
                                      d->id.name, strerror(-r));
                        continue;
                }
                if (sys_block_parse_md_dev_state(buf, &flags) < 0) {
                        fl_emit_state(emit, m->key, FL_STATE_UNKNOWN, "unrecognised %s of %s \"%s\"", m->state.rel,
                                      d->id.name, buf);
                        continue;
                }
                if (flags & SYS_BLOCK_MD_DEV_FAULTY) {
                        fl_emit_state(emit, m->key, FL_STATE_CRITICAL, "marked faulty in %s", d->id.name);
                        continue;
                }
                if (flags & SYS_BLOCK_MD_DEV_WRITE_ERROR)
                        fl_emit_state(emit, m->key, FL_STATE_WARNING, "write errors recorded by %s", d->id.name);
                if (flags & SYS_BLOCK_MD_DEV_BLOCKED)
                        fl_emit_state(emit, m->key, FL_STATE_WARNING, "blocked in %s", d->id.name);
                if (flags & SYS_BLOCK_MD_DEV_WANT_REPLACEMENT)
                        fl_emit_state(emit, m->key, FL_STATE_WARNING, "to be replaced in %s", d->id.name);
                m->spare = flags & SYS_BLOCK_MD_DEV_SPARE;
        }
}

/*
 * The spares that hold a slot: the devices a recovery is rebuilding (a hot
 * spare waiting has slot "none"), ", "-separated, or NULL. Only read during
 * a recovery, so with no descriptor kept for it.
 */
static char *rebuilding_members(const struct sb_dev *d)
{
        char *names = NULL;

        for (size_t i = 0; i < d->n_members; i++) {
                const struct sb_member *m = &d->members[i];
                _cleanup_free_ char *path = NULL;
                char slot[ATTR_MAX];

                if (!m->spare)
                        continue;
                path = fl_asprintf("%s/slot", m->dir);
                if (fl_read_line(path, slot, sizeof(slot)) < 0)
                        continue;
                procfile_trim(slot);
                if (slot[0] && !fl_streq(slot, "none")) {
                        char *joined = names ? fl_asprintf("%s, %s", names, m->name) : fl_strdup(m->name);
                        free(names);
                        names = joined;
                }
        }
        return names;
}

static void check_md_sync(struct sb_dev *d, struct fl_enode *node, struct fl_emit *emit)
{
        _cleanup_free_ char *rebuilding = NULL;
        enum sys_block_sync_action action;
        char buf[ATTR_MAX], progress[64];
        uint64_t done, total;
        int r;

        r = sb_file_read(&d->sync_action, buf, sizeof(buf));
        if (r < 0) {
                fl_emit_state(emit, d->key, FL_STATE_UNKNOWN, "could not read %s: %s", d->sync_action.rel,
                              strerror(-r));
                return;
        }
        if (sys_block_parse_md_sync_action(buf, &action) < 0) {
                fl_emit_state(emit, d->key, FL_STATE_UNKNOWN, "unrecognised %s \"%s\"", d->sync_action.rel, buf);
                return;
        }
        if (action == SYS_BLOCK_SYNC_IDLE || action == SYS_BLOCK_SYNC_FROZEN)
                return;
        fl_emit_attr(node, "sync_action", buf);
        /* check and repair are scrubs an operator or cron started on a
         * working array: not a fault. */
        if (action == SYS_BLOCK_SYNC_CHECK || action == SYS_BLOCK_SYNC_REPAIR)
                return;

        r = sb_file_read(&d->sync_completed, buf, sizeof(buf));
        if (r >= 0)
                r = sys_block_parse_md_sync_completed(buf, &done, &total);
        if (r >= 0)
                snprintf(progress, sizeof(progress), "%.1f%%", 100.0 * (double)done / (double)total);
        else if (r == -EBUSY)
                snprintf(progress, sizeof(progress), "delayed");
        else
                snprintf(progress, sizeof(progress), "pending");
        if (action == SYS_BLOCK_SYNC_RECOVER)
                rebuilding = rebuilding_members(d);
        if (rebuilding)
                fl_emit_state(emit, d->key, FL_STATE_WARNING, "%s %s (%s)", sync_label(action), progress, rebuilding);
        else
                fl_emit_state(emit, d->key, FL_STATE_WARNING, "%s %s", sync_label(action), progress);
}

static void check_md_array_state(struct sb_dev *d, struct fl_emit *emit)
{
        enum sys_block_array_state as;
        char buf[ATTR_MAX];
        int r;

        r = sb_file_read(&d->array_state, buf, sizeof(buf));
        if (r < 0) {
                fl_emit_state(emit, d->key, FL_STATE_UNKNOWN, "could not read %s: %s", d->array_state.rel,
                              strerror(-r));
                return;
        }
        if (sys_block_parse_md_array_state(buf, &as) < 0) {
                fl_emit_state(emit, d->key, FL_STATE_UNKNOWN, "unrecognised %s \"%s\"", d->array_state.rel, buf);
                return;
        }
        switch (as) {
        case SYS_BLOCK_ARRAY_CLEAR:
        case SYS_BLOCK_ARRAY_INACTIVE:
        case SYS_BLOCK_ARRAY_SUSPENDED:
        case SYS_BLOCK_ARRAY_BROKEN:
                fl_emit_state(emit, d->key, FL_STATE_CRITICAL, "array_state \"%s\"", buf);
                break;
        case SYS_BLOCK_ARRAY_READONLY:
        case SYS_BLOCK_ARRAY_READ_AUTO:
                fl_emit_state(emit, d->key, FL_STATE_WARNING, "array_state \"%s\"", buf);
                break;
        case SYS_BLOCK_ARRAY_CLEAN:
        case SYS_BLOCK_ARRAY_ACTIVE:
        case SYS_BLOCK_ARRAY_WRITE_PENDING:
        case SYS_BLOCK_ARRAY_ACTIVE_IDLE:
                break;
        }
}

static void check_md(struct sys_block_state *s, struct sb_dev *d, struct fl_enode *node, struct fl_emit *emit)
{
        char buf[ATTR_MAX];
        uint32_t degraded;
        int r;

        if (!d->md_container)
                check_md_array_state(d, emit);
        check_md_members(s, d, emit);

        /* raid0 and linear have no redundancy attributes to read. */
        if (!d->md_redundant)
                return;
        r = sb_file_read(&d->degraded, buf, sizeof(buf));
        if (r < 0)
                fl_emit_state(emit, d->key, FL_STATE_UNKNOWN, "could not read %s: %s", d->degraded.rel, strerror(-r));
        else if (fl_safe_atou32(buf, &degraded) < 0)
                fl_emit_state(emit, d->key, FL_STATE_UNKNOWN, "unrecognised %s \"%s\"", d->degraded.rel, buf);
        else if (degraded > 0) {
                unsigned working = d->raid_disks > degraded ? d->raid_disks - degraded : 0;
                fl_emit_state(emit, d->key, working >= (unsigned)d->min_ok ? FL_STATE_WARNING : FL_STATE_CRITICAL,
                              "degraded: %u of %u members working", working, d->raid_disks);
        }
        check_md_sync(d, node, emit);
}

static void emit_device(struct sys_block_state *s, struct sb_dev *d, const struct fl_agent_ctx *ctx,
                        const struct fl_thresholds *th, struct fl_emit *emit)
{
        struct fl_enode *node = fl_emit_node(emit, d->key, blockdev_kind_to_string(d->id.kind));

        node->min_ok = d->min_ok;
        for (size_t i = 0; i < d->n_attrs; i++)
                fl_emit_attr(node, d->attrs[i].key, d->attrs[i].value);
        fl_emit_edge(emit, d->key, s->host_key, "part_of");
        for (size_t i = 0; i < d->n_edges; i++)
                fl_emit_edge(emit, d->key, d->edges[i].to, d->edges[i].type);
        /* Every node this collector owns gets a verdict; a detector's
         * finding below is worse and wins when the cycle is finalized. */
        fl_emit_state(emit, d->key, FL_STATE_OK, NULL);

        /* node stays valid: no other node is added until the next device */
        if (d->scsi)
                check_scsi(d, node, ctx->now_us, th, emit);
        if (d->md)
                check_md(s, d, node, emit);
}

static void fini(void *userdata)
{
        struct sys_block_state *s = userdata;

        if (s->dir)
                closedir(s->dir);
        devs_free(s->devs, s->n_devs);
        free(s->host_key);
        *s = (struct sys_block_state){ 0 };
}

static int init(void *userdata, const struct fl_agent_ctx *ctx)
{
        struct sys_block_state *s = userdata;
        int r;

        *s = (struct sys_block_state){ .host_key = fl_asprintf("host:%s", ctx->hostname) };
        r = scan(s, ctx);
        if (r < 0) {
                /* The core calls fini only after a successful init. */
                fini(s);
                return r;
        }
        return 0;
}

static int collect(void *userdata, const struct fl_agent_ctx *ctx, struct fl_emit *emit)
{
        struct sys_block_state *s = userdata;
        const struct fl_thresholds *th = ctx->thresholds;
        struct fl_thresholds defaults;
        bool rescan = s->rescan || s->cycles_since_scan >= SYS_BLOCK_RESCAN_CYCLES;
        int r;

        if (!th) {
                fl_thresholds_defaults(&defaults);
                th = &defaults;
        }
        if (!rescan) {
                size_t n;
                uint64_t hash;

                r = list_names(s, ctx->sysfs, NULL, &n, &hash);
                if (r < 0)
                        return r;
                rescan = n != s->n_names || hash != s->names_hash;
        }
        if (rescan) {
                r = scan(s, ctx);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < s->n_devs; i++)
                emit_device(s, &s->devs[i], ctx, th, emit);
        s->cycles_since_scan++;
        return 0;
}

const struct fl_collector sys_block_collector = {
        .name = "sys_block",
        .state_size = sizeof(struct sys_block_state),
        .init = init,
        .collect = collect,
        .fini = fini,
};
