/* SPDX-License-Identifier: MIT */
/*
 * Filesystems from <procfs>/self/mountinfo: one node per mounted filesystem
 * that stores data on a block device, its "stored_on" edge to that device,
 * usage metrics, and two detectors (a switch to read-only, space or inodes
 * running out).
 *
 * Which mounts are nodes — the rule, in order:
 *   1. not a pseudo filesystem type (proc, sysfs, tmpfs, cgroup2, overlay,
 *      nsfs, ...: proc_mountinfo_is_pseudo_fstype()), whatever its device
 *      number says;
 *   2. stored on a block device: the superblock's major:minor names one in
 *      <sysfs>/dev/block (major 0 is an anonymous device: every pseudo
 *      filesystem, but also NFS, FUSE, ZFS — those are skipped), except
 *      that a major-0 mount whose source is /dev/NAME or /dev/mapper/NAME
 *      (btrfs gives every filesystem an anonymous device number) is
 *      resolved through that name;
 *   3. that device is not virtual (loop, zram, ram, nbd, sr: blockdev.h):
 *      a squashfs snap image on loop0 lives in a file on another filesystem,
 *      which is already a node; a loop device is never a node of its own;
 *   4. the first mount of a (major:minor, root) pair: later bind mounts of
 *      the same directory of the same filesystem, and the same device
 *      mounted again elsewhere, add no node. A bind mount of a
 *      subdirectory (another root) or a btrfs subvolume is a node of its
 *      own: it is the path under which pools and VM disks are found.
 * A real filesystem whose device number sysfs does not know is still a node,
 * without a "stored_on" edge, unless its major is one of the fixed majors of
 * virtual devices (loop, ram, nbd, ...).
 *
 * Read-only detector: remembered per mount id (a mount unmounted and mounted
 * again is a new mount). A mount seen read-write in any earlier cycle that is
 * now read-only — in its per-mount options or in the superblock options,
 * where errors=remount-ro puts it — is critical. A mount read-only from the
 * start is not a fault (attribute read_only "true"), except for the
 * signature of a forced switch that happened before the agent started: the
 * superblock read-only while no mount of it asked for read-only (an
 * administrator's "mount -o remount,ro" sets both), on a type that is not
 * read-only by nature (squashfs, iso9660, ...).
 *
 * Usage: statvfs() of <rootfs><mount point>, each cycle. Under a rootfs
 * other than "/" (a container with the host's root at /host, a fixture
 * tree) the path is only measured when it is that filesystem's mount point
 * there (a mount point whose device number is the superblock's); otherwise
 * the filesystem is "not measurable here" and gets neither samples nor a
 * usage state. With rootfs "/" a mount point that cannot be measured is
 * unknown, with the reason.
 */
#include "proc_mountinfo.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "blockdev.h"
#include "collector.h"
#include "procfile.h"
#include "strmap.h"

/* Parser */

void proc_mountinfo_free(struct proc_mountinfo_entry *entries, size_t n)
{
        if (!entries)
                return;
        for (size_t i = 0; i < n; i++)
                free(entries[i].storage);
        free(entries);
}

/* Splits off the next field at exactly one blank (an empty field between
 * two blanks is a field); *p becomes NULL after the last one. */
static char *split(char **p)
{
        char *s = *p, *blank;

        if (!s)
                return NULL;
        blank = strchr(s, ' ');
        if (blank) {
                *blank = '\0';
                *p = blank + 1;
        } else
                *p = NULL;
        return s;
}

/* Decodes the kernel's \ooo escapes in place. */
static int unescape(char *s)
{
        char *out = s;

        for (const char *in = s; *in;) {
                if (*in != '\\') {
                        *out++ = *in++;
                        continue;
                }
                unsigned v = 0;
                for (int i = 1; i <= 3; i++) {
                        if (in[i] < '0' || in[i] > '7')
                                return -EBADMSG;
                        v = v * 8 + (unsigned)(in[i] - '0');
                }
                if (v == 0 || v > 0377)
                        return -EBADMSG;
                *out++ = (char)v;
                in += 4;
        }
        *out = '\0';
        return 0;
}

static int parse_devnum(const char *s, uint32_t *ret_major, uint32_t *ret_minor)
{
        char buf[32];
        char *colon;
        uint32_t ma, mi;

        if (strlen(s) >= sizeof(buf))
                return -EBADMSG;
        memcpy(buf, s, strlen(s) + 1);
        colon = strchr(buf, ':');
        if (!colon)
                return -EBADMSG;
        *colon = '\0';
        if (fl_safe_atou32(buf, &ma) < 0 || fl_safe_atou32(colon + 1, &mi) < 0)
                return -EBADMSG;
        *ret_major = ma;
        *ret_minor = mi;
        return 0;
}

static int parse_line(const char *line, struct proc_mountinfo_entry *ret)
{
        struct proc_mountinfo_entry e = { 0 };
        _cleanup_free_ char *storage = fl_strdup(line);
        char *p = storage, *f_id, *f_parent, *f_dev, *opt_start, *opt_end, *t;

        f_id = split(&p);
        f_parent = split(&p);
        f_dev = split(&p);
        e.root = split(&p);
        e.mount_point = split(&p);
        e.mount_options = split(&p);
        if (!e.mount_options)
                return -EBADMSG;
        if (fl_safe_atou32(f_id, &e.mount_id) < 0 || fl_safe_atou32(f_parent, &e.parent_id) < 0 ||
            parse_devnum(f_dev, &e.major, &e.minor) < 0)
                return -EBADMSG;

        /* Optional fields up to the lone "-"; kept as one string, blanks put
         * back between them. */
        opt_start = p;
        opt_end = NULL;
        for (;;) {
                t = split(&p);
                if (!t)
                        return -EBADMSG;
                if (fl_streq(t, "-"))
                        break;
                opt_end = t + strlen(t);
        }
        if (opt_end) {
                for (char *c = opt_start; c < opt_end; c++)
                        if (*c == '\0')
                                *c = ' ';
                e.optional_fields = opt_start;
        } else
                e.optional_fields = t + 1; /* the NUL after "-": "" */

        e.fstype = split(&p);
        e.source = split(&p);
        e.super_options = split(&p);
        if (!e.super_options || p)
                return -EBADMSG;
        if (!*e.fstype || !*e.mount_options || !*e.super_options)
                return -EBADMSG;
        if (unescape(e.root) < 0 || unescape(e.mount_point) < 0 || unescape(e.fstype) < 0 || unescape(e.source) < 0)
                return -EBADMSG;
        if (e.mount_point[0] != '/')
                return -EBADMSG;

        e.storage = TAKE_PTR(storage);
        *ret = e;
        return 0;
}

int proc_mountinfo_parse(FILE *f, struct proc_mountinfo_entry **ret, size_t *ret_n)
{
        struct proc_mountinfo_entry *entries = NULL;
        _cleanup_free_ char *buf = fl_malloc(PROC_MOUNTINFO_MAX_LINE_LEN + 2);
        size_t n = 0, cap = 0;
        int r;

        while ((r = procfile_read_line(f, buf, PROC_MOUNTINFO_MAX_LINE_LEN + 2)) > 0) {
                if (n >= PROC_MOUNTINFO_MAX_LINES) {
                        r = -E2BIG;
                        break;
                }
                entries = fl_grow(entries, &cap, n + 1, sizeof(*entries));
                r = parse_line(buf, &entries[n]);
                if (r < 0)
                        break;
                n++;
        }
        if (r < 0) {
                proc_mountinfo_free(entries, n);
                return r;
        }
        *ret = entries;
        *ret_n = n;
        return 0;
}

bool proc_mountinfo_has_option(const char *options, const char *opt)
{
        size_t len = strlen(opt);

        if (!options || len == 0)
                return false;
        for (const char *p = options;;) {
                const char *comma = strchr(p, ',');
                size_t n = comma ? (size_t)(comma - p) : strlen(p);
                if (n == len && memcmp(p, opt, len) == 0)
                        return true;
                if (!comma)
                        return false;
                p = comma + 1;
        }
}

bool proc_mountinfo_is_pseudo_fstype(const char *fstype)
{
        static const char *const pseudo[] = {
                "autofs",     "binfmt_misc", "bpf",      "cgroup",  "cgroup2",   "configfs", "debugfs",
                "devpts",     "devtmpfs",    "efivarfs", "fusectl", "hugetlbfs", "mqueue",   "nsfs",
                "overlay",    "pipefs",      "proc",     "pstore",  "ramfs",     "rootfs",   "rpc_pipefs",
                "securityfs", "selinuxfs",   "sockfs",   "sysfs",   "tmpfs",     "tracefs",  "nfsd",
                "aufs",       "shiftfs",     "zonefs",   "devfs",   "usbfs",     "xenfs",    "ipathfs",
        };

        for (size_t i = 0; i < FL_ARRAY_SIZE(pseudo); i++)
                if (fl_streq(fstype, pseudo[i]))
                        return true;
        /* FUSE daemons (lxcfs, gvfsd-fuse, sshfs) have no device; fuseblk
         * (ntfs-3g on /dev/sdb1) does and stays. */
        return fl_streq(fstype, "fuse") || fl_startswith(fstype, "fuse.");
}

/* Types whose superblock is read-only by nature, whatever the mount says. */
static bool readonly_fstype(const char *fstype)
{
        static const char *const ro[] = { "squashfs", "iso9660", "erofs", "cramfs", "romfs", "udf" };

        for (size_t i = 0; i < FL_ARRAY_SIZE(ro); i++)
                if (fl_streq(fstype, ro[i]))
                        return true;
        return false;
}

/* Usage detector (pure) */

void proc_mountinfo_usage_from_statvfs(const struct statvfs *sv, struct proc_mountinfo_usage *ret)
{
        struct proc_mountinfo_usage u = { 0 };
        uint64_t frsize = sv->f_frsize ? sv->f_frsize : sv->f_bsize;
        uint64_t blocks = sv->f_blocks, bfree = sv->f_bfree, bavail = sv->f_bavail;
        uint64_t used, files = sv->f_files, ffree = sv->f_ffree;

        /* Filesystems under change can report free > total for a moment. */
        bfree = FL_MIN(bfree, blocks);
        bavail = FL_MIN(bavail, bfree);
        used = blocks - bfree;
        u.used_bytes = used * frsize;
        u.free_bytes = bavail * frsize;
        u.used_pct = used + bavail > 0 ? (double)used * 100.0 / (double)(used + bavail) : 0.0;
        if (files > 0) {
                ffree = FL_MIN(ffree, files);
                u.inodes_used_pct = (double)(files - ffree) * 100.0 / (double)files;
                u.inodes_free = ffree;
        } else
                u.inodes_used_pct = -1.0;
        *ret = u;
}

static void format_bytes(uint64_t v, char *buf, size_t size)
{
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        double d = (double)v;
        size_t i = 0;

        if (v < 1024) {
                snprintf(buf, size, "%" PRIu64 " B", v);
                return;
        }
        d /= 1024.0;
        while (d >= 1024.0 && i + 1 < FL_ARRAY_SIZE(units)) {
                d /= 1024.0;
                i++;
        }
        snprintf(buf, size, "%.1f %s", d, units[i]);
}

static enum fl_state level_of(double pct, const struct fl_thresholds *t)
{
        if (pct < 0)
                return FL_STATE_OK;
        if (t->fs_critical_pct > 0 && pct >= t->fs_critical_pct)
                return FL_STATE_CRITICAL;
        if (t->fs_warning_pct > 0 && pct >= t->fs_warning_pct)
                return FL_STATE_WARNING;
        return FL_STATE_OK;
}

enum fl_state proc_mountinfo_usage_state(const struct proc_mountinfo_usage *u, const struct fl_thresholds *t,
                                         char *ret_reason, size_t reason_size)
{
        enum fl_state space = level_of(u->used_pct, t), inodes = level_of(u->inodes_used_pct, t);
        enum fl_state state = FL_MAX(space, inodes);
        char free_text[32], space_text[96] = "", inode_text[96] = "";

        if (reason_size > 0)
                ret_reason[0] = '\0';
        if (state == FL_STATE_OK)
                return state;
        if (space == state) {
                format_bytes(u->free_bytes, free_text, sizeof(free_text));
                snprintf(space_text, sizeof(space_text), "%.1f%% full (%s free)", u->used_pct, free_text);
        }
        if (inodes == state)
                snprintf(inode_text, sizeof(inode_text), "inodes %.1f%% used (%" PRIu64 " free)", u->inodes_used_pct,
                         u->inodes_free);
        snprintf(ret_reason, reason_size, "%s%s%s", space_text, space_text[0] && inode_text[0] ? ", " : "", inode_text);
        return state;
}

/* Collector */

struct mount_track {
        uint32_t mount_id;
        uint32_t major, minor;
        bool seen_rw; /* read-write in some cycle so far */
};

struct mountinfo_state {
        int fd; /* <procfs>/self/mountinfo, kept open: re-read with pread each cycle */
        char *buf;
        size_t buf_cap;
        bool parsed; /* entries hold the content described by len and hash */
        size_t len;
        uint64_t hash;
        struct proc_mountinfo_entry *entries;
        size_t n_entries;
        struct mount_track *tracks; /* nodes of the last cycle, sorted by mount id */
        size_t n_tracks;
        /* The device of each entry, resolved once per content of mountinfo
         * (a dozen readlinks each): not every cycle. */
        struct blockdev_id *devs;
        int *dev_r;
        bool devs_valid;
        bool pollable; /* a real /proc file: poll() says when to read it again */
};

/* Anything larger cannot parse anyway, or is not worth parsing each time. */
#define MOUNTINFO_MAX_BYTES ((size_t)16 << 20)

static int init(void *userdata, const struct fl_agent_ctx *ctx)
{
        struct mountinfo_state *s = userdata;

        (void)ctx;
        s->fd = -1;
        return 0;
}

static void fini(void *userdata)
{
        struct mountinfo_state *s = userdata;

        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        free(s->buf);
        s->buf = NULL;
        s->buf_cap = 0;
        proc_mountinfo_free(s->entries, s->n_entries);
        s->entries = NULL;
        s->n_entries = 0;
        free(s->devs);
        free(s->dev_r);
        s->devs = NULL;
        s->dev_r = NULL;
        s->devs_valid = false;
        s->parsed = false;
        free(s->tracks);
        s->tracks = NULL;
        s->n_tracks = 0;
}

static uint64_t fnv1a(const char *p, size_t len)
{
        uint64_t h = UINT64_C(1469598103934665603);

        for (size_t i = 0; i < len; i++)
                h = (h ^ (uint8_t)p[i]) * UINT64_C(1099511628211);
        return h;
}

/* Re-reads mountinfo and reparses it only when its content changed. */
static int refresh(struct mountinfo_state *s, const char *procfs)
{
        _cleanup_fclose_ FILE *f = NULL;
        struct proc_mountinfo_entry *entries = NULL;
        size_t len = 0, n = 0;
        uint64_t h;
        int r;

        if (s->fd < 0) {
                _cleanup_free_ char *path = fl_asprintf("%s/self/mountinfo", procfs);
                struct stat st;
                s->fd = open(path, O_RDONLY | O_CLOEXEC);
                if (s->fd < 0)
                        return -errno;
                /* The kernel's mountinfo wakes poll() with POLLPRI when the
                 * mount table changes; a regular file (a captured tree) does
                 * not, and is re-read every cycle. */
                s->pollable = fstat(s->fd, &st) == 0 && !S_ISREG(st.st_mode);
                s->parsed = false;
        }
        if (s->parsed && s->pollable) {
                struct pollfd pfd = { .fd = s->fd, .events = POLLPRI };
                if (poll(&pfd, 1, 0) == 0)
                        return 0; /* nothing mounted or unmounted since */
        }
        r = procfile_pread_all(s->fd, &s->buf, &s->buf_cap, MOUNTINFO_MAX_BYTES, &len);
        if (r < 0) {
                close(s->fd);
                s->fd = -1;
                return r;
        }
        h = fnv1a(s->buf, len);
        if (s->parsed && len == s->len && h == s->hash)
                return 0;

        if (len > 0) {
                f = fmemopen(s->buf, len, "r");
                if (!f)
                        return -errno;
                r = proc_mountinfo_parse(f, &entries, &n);
                if (r < 0)
                        return r;
        }
        proc_mountinfo_free(s->entries, s->n_entries);
        s->entries = entries;
        s->n_entries = n;
        s->devs_valid = false;
        s->len = len;
        s->hash = h;
        s->parsed = true;
        return 0;
}

/* A dm device by its name (/dev/mapper/NAME), through <sysfs>/class/block/dm-N/dm/name. */
static int identify_dm_name(const char *sysfs, const char *name, struct blockdev_id *ret)
{
        _cleanup_free_ char *dir = fl_asprintf("%s/class/block", sysfs);
        DIR *d = opendir(dir);
        struct dirent *de;
        int r = -ENOENT;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                struct blockdev_id id;
                if (!fl_startswith(de->d_name, "dm-"))
                        continue;
                if (blockdev_identify(sysfs, de->d_name, &id) < 0 || id.kind != BLOCKDEV_DM)
                        continue;
                if (fl_streq(id.name, name)) {
                        *ret = id;
                        r = 0;
                        break;
                }
        }
        closedir(d);
        return r;
}

/* When sysfs does not know a device (a container without /sys/dev/block),
 * the fixed majors of ram (1), floppy (2), loop (7), SCSI CD (11) and nbd
 * (43) still say "virtual". */
static bool virtual_major(uint32_t major)
{
        return major == 1 || major == 2 || major == 7 || major == 11 || major == 43;
}

/*
 * The block device a mount is stored on: 1 and *ret when found, 0 when the
 * mount is real but sysfs does not know its device, -ENOENT when it is not
 * stored on a block device at all (a pseudo or network filesystem).
 */
static int mount_device(const char *sysfs, const struct proc_mountinfo_entry *e, struct blockdev_id *ret)
{
        const char *name;

        if (proc_mountinfo_is_pseudo_fstype(e->fstype))
                return -ENOENT;
        if (e->major != 0) {
                if (blockdev_identify_devnum(sysfs, e->major, e->minor, ret) >= 0)
                        return 1;
                return virtual_major(e->major) ? -ENOENT : 0;
        }
        /* An anonymous device number: btrfs, or something without a device. */
        if (!fl_startswith(e->source, "/dev/"))
                return -ENOENT;
        name = e->source + strlen("/dev/");
        if (fl_startswith(name, "mapper/"))
                return identify_dm_name(sysfs, name + strlen("mapper/"), ret) >= 0 ? 1 : -ENOENT;
        return blockdev_identify(sysfs, name, ret) >= 0 ? 1 : -ENOENT;
}

static int compare_track(const void *a, const void *b)
{
        const struct mount_track *x = a, *y = b;
        return x->mount_id < y->mount_id ? -1 : x->mount_id > y->mount_id;
}

static const struct mount_track *find_track(const struct mountinfo_state *s, const struct proc_mountinfo_entry *e)
{
        struct mount_track key = { .mount_id = e->mount_id };
        const struct mount_track *t;

        if (s->n_tracks == 0)
                return NULL;
        t = bsearch(&key, s->tracks, s->n_tracks, sizeof(*s->tracks), compare_track);
        /* Mount ids are reused after an unmount: another device under the
         * same id is another mount. */
        if (t && (t->major != e->major || t->minor != e->minor))
                return NULL;
        return t;
}

/* Whether some mount of this superblock asked for read-only itself. */
static bool mount_ro_requested(const struct mountinfo_state *s, const struct proc_mountinfo_entry *e)
{
        for (size_t i = 0; i < s->n_entries; i++) {
                const struct proc_mountinfo_entry *o = &s->entries[i];
                if (o->major == e->major && o->minor == e->minor && fl_streq(o->source, e->source) &&
                    proc_mountinfo_has_option(o->mount_options, "ro"))
                        return true;
        }
        return false;
}

/* Whether path is a mount point: on another device than its parent, or the
 * top of the tree. */
static bool is_mount_point(const char *path, const struct stat *st)
{
        _cleanup_free_ char *parent = fl_asprintf("%s/..", path);
        struct stat pst;

        if (stat(parent, &pst) < 0)
                return false;
        return pst.st_dev != st->st_dev || pst.st_ino == st->st_ino;
}

static void emit_usage(const struct fl_agent_ctx *ctx, struct fl_emit *emit, const char *key,
                       const struct proc_mountinfo_entry *e)
{
        bool host_root = !ctx->rootfs || fl_streq(ctx->rootfs, "/");
        _cleanup_free_ char *path =
                host_root ? fl_strdup(e->mount_point) : fl_asprintf("%s%s", ctx->rootfs, e->mount_point);
        struct proc_mountinfo_usage u;
        struct fl_thresholds thresholds;
        struct statvfs sv;
        struct stat st;
        char reason[256];
        enum fl_state state;

        if (stat(path, &st) < 0) {
                if (host_root)
                        fl_emit_state(emit, key, FL_STATE_UNKNOWN, "could not measure usage: %s", strerror(errno));
                return;
        }
        /* Not this filesystem: hidden under a later mount, or (below another
         * rootfs) a directory that is not its mount point there. btrfs
         * gives each subvolume its own anonymous st_dev, which mountinfo
         * does not show. */
        if (st.st_dev != makedev(e->major, e->minor) &&
            !(fl_streq(e->fstype, "btrfs") && major(st.st_dev) == 0 && e->major == 0))
                return;
        if (!host_root && !is_mount_point(path, &st))
                return;
        if (statvfs(path, &sv) < 0) {
                if (host_root)
                        fl_emit_state(emit, key, FL_STATE_UNKNOWN, "could not measure usage: %s", strerror(errno));
                return;
        }
        proc_mountinfo_usage_from_statvfs(&sv, &u);
        fl_emit_sample(emit, key, "fs.used_bytes", "B", ctx->now_us, (double)u.used_bytes);
        fl_emit_sample(emit, key, "fs.free_bytes", "B", ctx->now_us, (double)u.free_bytes);
        fl_emit_sample(emit, key, "fs.used_pct", "%", ctx->now_us, u.used_pct);
        if (u.inodes_used_pct >= 0)
                fl_emit_sample(emit, key, "fs.inodes_used_pct", "%", ctx->now_us, u.inodes_used_pct);
        if (ctx->thresholds)
                thresholds = *ctx->thresholds;
        else
                fl_thresholds_defaults(&thresholds);
        state = proc_mountinfo_usage_state(&u, &thresholds, reason, sizeof(reason));
        if (state != FL_STATE_OK)
                fl_emit_state(emit, key, state, "%s", reason);
}

static void emit_filesystem(const struct mountinfo_state *s, const struct fl_agent_ctx *ctx, struct fl_emit *emit,
                            const struct proc_mountinfo_entry *e, const struct blockdev_id *dev, const char *host_key,
                            struct mount_track *ret_track)
{
        _cleanup_free_ char *key = fl_asprintf("filesystem:%s%s", ctx->hostname, e->mount_point);
        const struct mount_track *prev = find_track(s, e);
        bool mount_ro = proc_mountinfo_has_option(e->mount_options, "ro");
        bool super_ro = proc_mountinfo_has_option(e->super_options, "ro");
        bool ro = mount_ro || super_ro;
        struct fl_enode *node;
        char devnum[32];

        node = fl_emit_node(emit, key, "filesystem");
        fl_emit_attr(node, "fstype", e->fstype);
        fl_emit_attr(node, "source", e->source);
        fl_emit_attr(node, "options", e->mount_options);
        fl_emit_attr(node, "super_options", e->super_options);
        snprintf(devnum, sizeof(devnum), "%" PRIu32 ":%" PRIu32, e->major, e->minor);
        fl_emit_attr(node, "devnum", devnum);
        if (!fl_streq(e->root, "/"))
                fl_emit_attr(node, "root", e->root);
        fl_emit_attr(node, "read_only", ro ? "true" : "false");

        if (dev) {
                _cleanup_free_ char *dev_key = blockdev_key(dev, ctx->hostname);
                fl_emit_edge(emit, key, dev_key, "stored_on");
        }
        fl_emit_edge(emit, key, host_key, "part_of");

        *ret_track = (struct mount_track){
                .mount_id = e->mount_id,
                .major = e->major,
                .minor = e->minor,
                .seen_rw = (prev && prev->seen_rw) || !ro,
        };
        if (ro && prev && prev->seen_rw)
                fl_emit_state(emit, key, FL_STATE_CRITICAL, "remounted read-only (was read-write)");
        else if (ro && super_ro && !mount_ro && !readonly_fstype(e->fstype) && !mount_ro_requested(s, e))
                fl_emit_state(emit, key, FL_STATE_CRITICAL,
                              "read-only: superblock switched to read-only under a read-write mount (after errors)");

        emit_usage(ctx, emit, key, e);
}

static int collect(void *userdata, const struct fl_agent_ctx *ctx, struct fl_emit *emit)
{
        struct mountinfo_state *s = userdata;
        _cleanup_free_ char *host_key = NULL;
        _cleanup_free_ struct mount_track *tracks = NULL;
        struct fl_strmap seen;
        size_t n_tracks = 0;
        int r;

        r = refresh(s, ctx->procfs);
        if (r < 0)
                return r;

        host_key = fl_asprintf("host:%s", ctx->hostname);
        if (!s->devs_valid) {
                free(s->devs);
                free(s->dev_r);
                s->devs = fl_new0(struct blockdev_id, s->n_entries + 1);
                s->dev_r = fl_new0(int, s->n_entries + 1);
                for (size_t i = 0; i < s->n_entries; i++)
                        s->dev_r[i] = mount_device(ctx->sysfs, &s->entries[i], &s->devs[i]);
                s->devs_valid = true;
        }
        tracks = fl_new0(struct mount_track, s->n_entries + 1);
        fl_strmap_init(&seen, 0);
        for (size_t i = 0; i < s->n_entries; i++) {
                const struct proc_mountinfo_entry *e = &s->entries[i];
                _cleanup_free_ char *id = NULL;
                struct blockdev_id dev = s->devs[i];
                int64_t unused;

                r = s->dev_r[i];
                if (r < 0 || (r > 0 && dev.kind == BLOCKDEV_VIRTUAL))
                        continue;
                id = fl_asprintf("%" PRIu32 ":%" PRIu32 " %s", e->major, e->minor, e->root);
                if (fl_strmap_get(&seen, id, &unused))
                        continue;
                fl_strmap_put(&seen, id, (int64_t)i);
                emit_filesystem(s, ctx, emit, e, r > 0 ? &dev : NULL, host_key, &tracks[n_tracks++]);
        }
        fl_strmap_free(&seen);

        /* Mounts that disappeared drop out here: they are simply gone. */
        if (n_tracks > 0)
                qsort(tracks, n_tracks, sizeof(*tracks), compare_track);
        free(s->tracks);
        s->tracks = TAKE_PTR(tracks);
        s->n_tracks = n_tracks;
        return 0;
}

const struct fl_collector proc_mountinfo_collector = {
        .name = "proc_mountinfo",
        .state_size = sizeof(struct mountinfo_state),
        .init = init,
        .collect = collect,
        .fini = fini,
};
