/* SPDX-License-Identifier: MIT */
/*
 * Block device errors from the kernel log, <devfs>/kmsg: each error message
 * that names a device (dev_kmsg_match_io_error() lists the forms) raises a
 * state on that device's node, held for thresholds->disk_error_hold_us
 * after the last one: warning, or critical for a medium error or a member
 * that md failed. An error on a partition counts for its disk too, and
 * both report it. The count in the reason is of messages: one failed
 * request can be reported by several layers (SCSI sense, block layer,
 * buffer cache, filesystem), so it is not a number of requests. Errors on
 * virtual devices (loop, zram, sr, ...) and on devices sysfs does not know
 * are ignored; so are records whose facility is not the kernel's, which user
 * space can write into the log.
 *
 * Reading. The real /dev/kmsg is a character device that gives one record
 * per read(); EAGAIN means no more for now, EPIPE that the ring buffer
 * overwrote records we had not read (the next read continues after them).
 * Only records newer than the agent count: at open the descriptor is moved
 * to the end of the log. A regular file in the same format (fixture trees,
 * or a captured log) is read from the start: at the first reading the
 * errors that are recent count — those within disk_error_hold_us of the
 * newest point of the kernel's clock we know, the newest record or
 * <procfs>/uptime, whichever is later, held as if seen that long ago — so
 * that a captured log behaves like the live system it was taken from (the
 * failure two days before the raid5-faulty snapshot is history, not news).
 * Later readings take the records whose sequence number is above the
 * highest seen so far, which works whether the file grew, or was replaced
 * by a longer one.
 *
 * Access. Reading /dev/kmsg needs CAP_SYSLOG when kernel.dmesg_restrict is
 * set (Debian's default): an agent that is not allowed to read it does not
 * make every disk unknown. It reports nothing from the kernel log, puts the
 * reason in the attribute "kmsg" of its host node ("unreadable: Permission
 * denied"), tries again every 60 cycles, and its collect succeeds: the sysfs
 * detectors (ioerr_cnt, device state, md) still work without it.
 */
#include "dev_kmsg.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "blockdev.h"
#include "collector.h"
#include "procfile.h"

/* Parser */

int dev_kmsg_parse_record(const char *line, struct dev_kmsg_record *ret)
{
        struct dev_kmsg_record rec = { 0 };
        const char *end = strchr(line, '\n'), *semi;
        char prefix[256], *p, *field;
        size_t len = end ? (size_t)(end - line) : strlen(line), n = 0;
        unsigned nfield = 0;
        uint32_t prio = 0;

        if (len > DEV_KMSG_LINE_MAX)
                return -E2BIG;
        if (len == 0 || line[0] == ' ')
                return 0;
        semi = memchr(line, ';', len);
        if (!semi || (size_t)(semi - line) >= sizeof(prefix))
                return -EBADMSG;
        memcpy(prefix, line, (size_t)(semi - line));
        prefix[semi - line] = '\0';

        /* PRIO,SEQ,USEC,FLAGS and perhaps more fields that newer kernels
         * append (caller=T123), which are ignored. */
        p = prefix;
        while ((field = strsep(&p, ","))) {
                int r = 0;
                switch (nfield) {
                case 0:
                        r = fl_safe_atou32(field, &prio);
                        break;
                case 1:
                        r = fl_safe_atou64(field, &rec.seq);
                        break;
                case 2:
                        r = fl_safe_atou64(field, &rec.usec);
                        break;
                case 3:
                        if (!*field)
                                return -EBADMSG;
                        rec.continuation = strchr(field, 'c') != NULL;
                        break;
                default:
                        break;
                }
                if (r < 0)
                        return -EBADMSG;
                nfield++;
        }
        if (nfield < 4)
                return -EBADMSG;
        rec.level = prio & 7;
        rec.facility = prio >> 3;

        for (const char *c = semi + 1; c < line + len && n < DEV_KMSG_MESSAGE_MAX;) {
                int hi, lo;
                if (c[0] == '\\' && line + len - c >= 4 && c[1] == 'x' && (hi = procfile_hex_digit(c[2])) >= 0 &&
                    (lo = procfile_hex_digit(c[3])) >= 0 && (hi || lo)) {
                        rec.message[n++] = (char)(hi * 16 + lo);
                        c += 4;
                        continue;
                }
                rec.message[n++] = *c++;
        }
        rec.message[n] = '\0';
        *ret = rec;
        return 1;
}

/* Matcher */

const char *dev_kmsg_error_to_string(enum dev_kmsg_error e)
{
        switch (e) {
        case DEV_KMSG_ERROR_IO:
                return "I/O error";
        case DEV_KMSG_ERROR_FS:
                return "filesystem error";
        case DEV_KMSG_ERROR_MEDIUM:
                return "medium error";
        case DEV_KMSG_ERROR_FAILED:
                return "disk failure";
        }
        return "I/O error";
}

bool dev_kmsg_error_is_critical(enum dev_kmsg_error e)
{
        return e == DEV_KMSG_ERROR_MEDIUM || e == DEV_KMSG_ERROR_FAILED;
}

/* Copies the device name that starts at s and ends at the first character
 * of stops (or the end): a kernel block device name, nothing else. */
static bool take_name(const char *s, const char *stops, char *ret, size_t size)
{
        size_t len = strcspn(s, stops);

        if (len == 0 || len >= size)
                return false;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 127 || s[i] == '/')
                        return false;
        if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
                return false;
        memcpy(ret, s, len);
        ret[len] = '\0';
        return true;
}

/* "<class> error, dev NAME, sector N": blk_print_req_error() (6.1),
 * print_req_error() (4.19-5.x), blk_update_request() (before, and up to
 * 5.15 as a prefix). */
static bool match_block_layer(const char *msg, char *ret_dev, size_t size, enum dev_kmsg_error *ret_kind)
{
        static const struct {
                const char *class;
                enum dev_kmsg_error kind;
        } classes[] = {
                { "I/O", DEV_KMSG_ERROR_IO },
                { "timeout", DEV_KMSG_ERROR_IO },
                { "recoverable transport", DEV_KMSG_ERROR_IO },
                { "critical target", DEV_KMSG_ERROR_IO },
                { "critical nexus", DEV_KMSG_ERROR_IO },
                { "critical space allocation", DEV_KMSG_ERROR_IO },
                { "protection", DEV_KMSG_ERROR_IO },
                { "critical protection", DEV_KMSG_ERROR_IO },
                { "device offline", DEV_KMSG_ERROR_IO },
                { "critical medium", DEV_KMSG_ERROR_MEDIUM },
        };
        const char *at = strstr(msg, " error, dev "), *class = msg, *name;
        char dev[128];

        if (!at)
                return false;
        /* Skip a "function: " prefix. */
        for (const char *c = msg; c < at; c++)
                if (c[0] == ':' && c[1] == ' ')
                        class = c + 2;
        name = at + strlen(" error, dev ");
        if (!take_name(name, ", ", dev, sizeof(dev)) || !fl_startswith(name + strlen(dev), ", sector "))
                return false;
        for (size_t i = 0; i < FL_ARRAY_SIZE(classes); i++) {
                size_t len = strlen(classes[i].class);
                if ((size_t)(at - class) == len && memcmp(class, classes[i].class, len) == 0) {
                        if (strlen(dev) >= size)
                                return false;
                        memcpy(ret_dev, dev, strlen(dev) + 1);
                        *ret_kind = classes[i].kind;
                        return true;
                }
        }
        return false;
}

static bool found(const char *dev, char *ret_dev, size_t size, enum dev_kmsg_error kind, enum dev_kmsg_error *ret_kind)
{
        if (strlen(dev) >= size)
                return false;
        memcpy(ret_dev, dev, strlen(dev) + 1);
        *ret_kind = kind;
        return true;
}

bool dev_kmsg_match_io_error(const char *msg, char *ret_dev, size_t size, enum dev_kmsg_error *ret_kind)
{
        char dev[128];
        const char *p;

        if (match_block_layer(msg, ret_dev, size, ret_kind))
                return true;

        /* fs/buffer.c: "Buffer I/O error on dev %pg, logical block %llu, ..."
         * ("on device" before 3.x). */
        if (fl_startswith(msg, "Buffer I/O error on dev")) {
                p = msg + strlen("Buffer I/O error on dev");
                if (fl_startswith(p, "ice "))
                        p += strlen("ice ");
                else if (*p == ' ')
                        p++;
                else
                        return false;
                if (take_name(p, ", ", dev, sizeof(dev)) && p[strlen(dev)] == ',')
                        return found(dev, ret_dev, size, DEV_KMSG_ERROR_IO, ret_kind);
                return false;
        }

        /* SCSI sense data: "sd 1:0:0:0: [sdb] tag#0 Sense Key : Medium Error [current]". */
        p = strstr(msg, "Sense Key : Medium Error");
        if (p) {
                const char *open = strchr(msg, '[');
                if (open && open < p && take_name(open + 1, "]", dev, sizeof(dev)) && open[1 + strlen(dev)] == ']')
                        return found(dev, ret_dev, size, DEV_KMSG_ERROR_MEDIUM, ret_kind);
                return false;
        }

        /* ext2/3/4: "EXT4-fs error (device sdb1): ...", and the write-back
         * failure "EXT4-fs warning (device sdb1): ext4_end_bio:...: I/O error 10 ...". */
        if (fl_startswith(msg, "EXT") && msg[3] >= '2' && msg[3] <= '4' && fl_startswith(msg + 4, "-fs ")) {
                bool error = fl_startswith(msg + 8, "error (device ");
                bool warning = fl_startswith(msg + 8, "warning (device ");
                if (!error && !(warning && strstr(msg, "I/O error")))
                        return false;
                p = strchr(msg + 8, '(') + strlen("(device ");
                if (take_name(p, ")", dev, sizeof(dev)) && p[strlen(dev)] == ')')
                        return found(dev, ret_dev, size, error ? DEV_KMSG_ERROR_FS : DEV_KMSG_ERROR_IO, ret_kind);
                return false;
        }

        /* XFS: "XFS (dm-1): metadata I/O error in ...", "XFS (sdb1): log I/O
         * error -5", "XFS (dm-1): Corruption of in-memory data ...". */
        if (fl_startswith(msg, "XFS (")) {
                p = msg + strlen("XFS (");
                if (!take_name(p, ")", dev, sizeof(dev)) || !fl_startswith(p + strlen(dev), "): "))
                        return false;
                p += strlen(dev) + 3;
                if (strstr(p, "I/O error"))
                        return found(dev, ret_dev, size, DEV_KMSG_ERROR_IO, ret_kind);
                if (strstr(p, "Corruption"))
                        return found(dev, ret_dev, size, DEV_KMSG_ERROR_FS, ret_kind);
                return false;
        }

        /* btrfs: "BTRFS error (device sdb1): ..." (6.x: "(device sdb1: state EA)"). */
        if (fl_startswith(msg, "BTRFS error (device ")) {
                p = msg + strlen("BTRFS error (device ");
                if (take_name(p, ":) ", dev, sizeof(dev)))
                        return found(dev, ret_dev, size, DEV_KMSG_ERROR_FS, ret_kind);
                return false;
        }

        /* md: "md/raid1:md0: Disk failure on sdb2, disabling device." (raid:
         * raid4/5/6, raid10). */
        if (fl_startswith(msg, "md/")) {
                p = strstr(msg, ": Disk failure on ");
                if (!p)
                        return false;
                p += strlen(": Disk failure on ");
                if (take_name(p, ", ", dev, sizeof(dev)) && p[strlen(dev)] == ',')
                        return found(dev, ret_dev, size, DEV_KMSG_ERROR_FAILED, ret_kind);
                return false;
        }
        return false;
}

/* Collector */

#define RETRY_CYCLES 60 /* an unreadable log is tried again this often */
#define MAX_DEVICES 1024 /* devices with a held error; more are not tracked */
#define MAX_RECORDS_PER_CYCLE 100000 /* a flood is read over several cycles */
#define MAX_FILE_BYTES ((uint64_t)64 << 20) /* of a regular file, per reading */
#define READ_CHUNK 65536
#define REASON_MESSAGE_MAX 120 /* characters of the quoted message */

struct kmsg_dev {
        char kname[BLOCKDEV_NAME_MAX];
        char parent[BLOCKDEV_NAME_MAX]; /* a partition's disk, else "" */
        char *key;
        uint64_t count; /* error messages since the state was raised */
        uint64_t last_us; /* when the last one was seen (agent clock) */
        uint64_t last_crit_us; /* ... the last critical one; 0: none */
        char *last_msg;
        char *last_crit_msg;
        enum dev_kmsg_error last_crit_kind;
};

struct kmsg_state {
        int fd;
        bool is_chr;
        dev_t file_dev; /* regular file: which one is open, to notice a replacement */
        ino_t file_ino;
        bool primed; /* the records that were there at start are dealt with */
        bool have_seq;
        uint64_t last_seq;
        unsigned retry_in; /* cycles before the next attempt to open */
        int error; /* why the log is unreadable (errno), 0 when it is not */
        char *buf; /* one record (character device) or one chunk (file) */
        char *line; /* a line being assembled (file) */
        struct kmsg_dev *devs;
        size_t n_devs, cap_devs;
};

static void dev_free(struct kmsg_dev *d)
{
        free(d->key);
        free(d->last_msg);
        free(d->last_crit_msg);
}

static void fini(void *userdata)
{
        struct kmsg_state *s = userdata;

        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        free(s->buf);
        free(s->line);
        s->buf = s->line = NULL;
        for (size_t i = 0; i < s->n_devs; i++)
                dev_free(&s->devs[i]);
        free(s->devs);
        s->devs = NULL;
        s->n_devs = s->cap_devs = 0;
}

static uint64_t hold_us(const struct fl_agent_ctx *ctx)
{
        struct fl_thresholds t;

        if (ctx->thresholds)
                return ctx->thresholds->disk_error_hold_us;
        fl_thresholds_defaults(&t);
        return t.disk_error_hold_us;
}

static int open_log(struct kmsg_state *s, const char *devfs)
{
        _cleanup_free_ char *path = fl_asprintf("%s/kmsg", devfs);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        struct stat st;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISCHR(st.st_mode)) {
                /* Only what happens from now on is news. */
                if (lseek(fd, 0, SEEK_END) < 0)
                        return -errno;
                s->is_chr = true;
                s->primed = true;
        } else if (S_ISREG(st.st_mode)) {
                s->is_chr = false;
                s->file_dev = st.st_dev;
                s->file_ino = st.st_ino;
        } else
                return -ENODEV;
        s->fd = TAKE_FD(fd);
        return 0;
}

static void close_log(struct kmsg_state *s, int error)
{
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        s->error = error;
        s->retry_in = RETRY_CYCLES - 1;
}

static int init(void *userdata, const struct fl_agent_ctx *ctx)
{
        struct kmsg_state *s = userdata;
        int r;

        s->fd = -1;
        s->buf = fl_malloc(READ_CHUNK + 1);
        s->line = fl_malloc(DEV_KMSG_LINE_MAX + 2);
        /* Opened now, so that the character device is positioned at its
         * end before the first cycle. An unreadable log is no reason not to
         * start: collect() reports it and tries again later. */
        r = open_log(s, ctx->devfs);
        if (r < 0) {
                close_log(s, -r);
                s->retry_in = RETRY_CYCLES; /* the first collect() counts as one */
        }
        return 0;
}

static struct kmsg_dev *find_dev(struct kmsg_state *s, const char *kname)
{
        for (size_t i = 0; i < s->n_devs; i++)
                if (fl_streq(s->devs[i].kname, kname))
                        return &s->devs[i];
        return NULL;
}

static struct kmsg_dev *get_dev(struct kmsg_state *s, const struct fl_agent_ctx *ctx, const char *kname)
{
        struct kmsg_dev *d = find_dev(s, kname);
        struct blockdev_id id;

        if (d)
                return d;
        if (s->n_devs >= MAX_DEVICES)
                return NULL;
        if (blockdev_identify(ctx->sysfs, kname, &id) < 0 || id.kind == BLOCKDEV_VIRTUAL)
                return NULL;
        s->devs = fl_grow(s->devs, &s->cap_devs, s->n_devs + 1, sizeof(*s->devs));
        d = &s->devs[s->n_devs++];
        *d = (struct kmsg_dev){ 0 };
        snprintf(d->kname, sizeof(d->kname), "%s", id.kname);
        if (id.kind == BLOCKDEV_PARTITION)
                snprintf(d->parent, sizeof(d->parent), "%s", id.parent);
        d->key = blockdev_key(&id, ctx->hostname);
        return d;
}

static void count_error(struct kmsg_dev *d, enum dev_kmsg_error kind, const char *msg, uint64_t seen_us)
{
        d->count++;
        if (seen_us >= d->last_us || !d->last_msg) {
                d->last_us = seen_us;
                free(d->last_msg);
                d->last_msg = fl_strdup(msg);
        }
        if (dev_kmsg_error_is_critical(kind) && (seen_us >= d->last_crit_us || !d->last_crit_msg)) {
                d->last_crit_us = seen_us;
                d->last_crit_kind = kind;
                free(d->last_crit_msg);
                d->last_crit_msg = fl_strdup(msg);
        }
}

static void add_error(struct kmsg_state *s, const struct fl_agent_ctx *ctx, const char *kname, enum dev_kmsg_error kind,
                      const char *msg, uint64_t seen_us)
{
        struct kmsg_dev *d = get_dev(s, ctx, kname);
        char parent[BLOCKDEV_NAME_MAX];

        if (!d)
                return;
        count_error(d, kind, msg, seen_us);
        if (!d->parent[0])
                return;
        /* get_dev() may move the array: d is not used after it. */
        snprintf(parent, sizeof(parent), "%s", d->parent);
        d = get_dev(s, ctx, parent);
        if (d)
                count_error(d, kind, msg, seen_us);
}

/* A record newer than the last one seen: counts it if it reports an error. */
static void take_record(struct kmsg_state *s, const struct fl_agent_ctx *ctx, const struct dev_kmsg_record *rec,
                        uint64_t seen_us)
{
        char dev[BLOCKDEV_NAME_MAX];
        enum dev_kmsg_error kind;

        if (s->have_seq && rec->seq <= s->last_seq)
                return;
        s->have_seq = true;
        s->last_seq = rec->seq;
        /* Facility 0 is the kernel's: anything else was written by user
         * space and proves nothing about a disk. */
        if (rec->facility != 0)
                return;
        if (dev_kmsg_match_io_error(rec->message, dev, sizeof(dev), &kind))
                add_error(s, ctx, dev, kind, rec->message, seen_us);
}

/* Character device: one record per read() until EAGAIN. */
static int read_device(struct kmsg_state *s, const struct fl_agent_ctx *ctx)
{
        for (unsigned n = 0; n < MAX_RECORDS_PER_CYCLE; n++) {
                struct dev_kmsg_record rec;
                ssize_t len = read(s->fd, s->buf, READ_CHUNK);

                if (len < 0) {
                        if (errno == EAGAIN)
                                return 0;
                        if (errno == EINTR || errno == EPIPE)
                                continue; /* EPIPE: records overwritten; the next read goes on after them */
                        return -errno;
                }
                if (len == 0)
                        return 0;
                s->buf[len] = '\0';
                if (dev_kmsg_parse_record(s->buf, &rec) == 1)
                        take_record(s, ctx, &rec, ctx->now_us);
        }
        return 0;
}

typedef void (*record_fn)(struct kmsg_state *s, const struct fl_agent_ctx *ctx, const struct dev_kmsg_record *rec,
                          void *userdata);

/* Regular file: every record line from the start, through fn. Lines too
 * long or malformed are skipped: one bad record must not blind the
 * detector to the others. */
static int scan_file(struct kmsg_state *s, const struct fl_agent_ctx *ctx, record_fn fn, void *userdata)
{
        uint64_t off = 0;
        size_t len = 0;
        bool overlong = false;
        struct dev_kmsg_record rec;

        for (;;) {
                ssize_t n = off < MAX_FILE_BYTES ? pread(s->fd, s->buf, READ_CHUNK, (off_t)off) : 0;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (ssize_t i = 0; i < n; i++) {
                        char c = s->buf[i];
                        if (c != '\n') {
                                if (len < DEV_KMSG_LINE_MAX)
                                        s->line[len++] = c;
                                else
                                        overlong = true;
                                continue;
                        }
                        s->line[len] = '\0';
                        if (!overlong && dev_kmsg_parse_record(s->line, &rec) == 1)
                                fn(s, ctx, &rec, userdata);
                        len = 0;
                        overlong = false;
                }
                if (n == 0)
                        break;
                off += (uint64_t)n;
        }
        /* A last line without its newline is still being written. */
        return 0;
}

struct prime_scan {
        uint64_t newest_usec;
        uint64_t max_seq;
        bool any;
        uint64_t ref_usec;
};

static void prime_measure(struct kmsg_state *s, const struct fl_agent_ctx *ctx, const struct dev_kmsg_record *rec,
                          void *userdata)
{
        struct prime_scan *p = userdata;

        (void)s;
        (void)ctx;
        p->newest_usec = FL_MAX(p->newest_usec, rec->usec);
        p->max_seq = FL_MAX(p->max_seq, rec->seq);
        p->any = true;
}

static void prime_take(struct kmsg_state *s, const struct fl_agent_ctx *ctx, const struct dev_kmsg_record *rec,
                       void *userdata)
{
        const struct prime_scan *p = userdata;
        uint64_t age = p->ref_usec - FL_MIN(rec->usec, p->ref_usec);

        if (age >= hold_us(ctx))
                return;
        take_record(s, ctx, rec, ctx->now_us - FL_MIN(age, ctx->now_us));
}

static void later_take(struct kmsg_state *s, const struct fl_agent_ctx *ctx, const struct dev_kmsg_record *rec,
                       void *userdata)
{
        (void)userdata;
        take_record(s, ctx, rec, ctx->now_us);
}

/* The kernel's clock now, from <procfs>/uptime; 0 when unknown. */
static uint64_t uptime_usec(const char *procfs)
{
        _cleanup_free_ char *path = fl_asprintf("%s/uptime", procfs);
        char buf[128], *blank;
        double v;

        if (fl_read_line(path, buf, sizeof(buf)) < 0)
                return 0;
        blank = strchr(buf, ' ');
        if (blank)
                *blank = '\0';
        if (fl_safe_atod(buf, &v) < 0 || !(v >= 0) || v > 1e12)
                return 0;
        return (uint64_t)(v * 1e6);
}

static int read_file(struct kmsg_state *s, const struct fl_agent_ctx *ctx)
{
        _cleanup_free_ char *path = fl_asprintf("%s/kmsg", ctx->devfs);
        struct prime_scan p = { 0 };
        struct stat st;
        int r;

        /* Replaced by another file (a rename over it): read the new one. */
        if (stat(path, &st) == 0 && (st.st_dev != s->file_dev || st.st_ino != s->file_ino)) {
                close(s->fd);
                s->fd = -1;
                r = open_log(s, ctx->devfs);
                if (r < 0)
                        return r;
                if (s->is_chr)
                        return read_device(s, ctx);
        }
        if (s->primed)
                return scan_file(s, ctx, later_take, NULL);

        r = scan_file(s, ctx, prime_measure, &p);
        if (r < 0)
                return r;
        p.ref_usec = FL_MAX(p.newest_usec, uptime_usec(ctx->procfs));
        r = scan_file(s, ctx, prime_take, &p);
        if (r < 0)
                return r;
        if (p.any && (!s->have_seq || p.max_seq > s->last_seq)) {
                s->have_seq = true;
                s->last_seq = p.max_seq;
        }
        s->primed = true;
        return 0;
}

/* The message as it goes into a reason: on one line, quoted, not too long. */
static char *quote(const char *msg)
{
        char buf[REASON_MESSAGE_MAX + 4];
        size_t n = 0;

        for (const char *c = msg; *c && n < REASON_MESSAGE_MAX; c++)
                buf[n++] = (unsigned char)*c < ' ' || *c == 127 ? ' ' : *c;
        if (strlen(msg) > REASON_MESSAGE_MAX)
                for (int i = 0; i < 3; i++)
                        buf[n++] = '.';
        buf[n] = '\0';
        return fl_strdup(buf);
}

static void emit_states(struct kmsg_state *s, const struct fl_agent_ctx *ctx, struct fl_emit *emit)
{
        uint64_t hold = hold_us(ctx), now = ctx->now_us;

        for (size_t i = 0; i < s->n_devs;) {
                struct kmsg_dev *d = &s->devs[i];

                /* Held until hold after the last error, then forgotten:
                 * the next error starts a new count. */
                if (d->count == 0 || (now >= d->last_us && now - d->last_us >= hold)) {
                        dev_free(d);
                        s->devs[i] = s->devs[--s->n_devs];
                        continue;
                }
                if (d->last_crit_msg && !(now >= d->last_crit_us && now - d->last_crit_us >= hold)) {
                        _cleanup_free_ char *q = quote(d->last_crit_msg);
                        fl_emit_state(emit, d->key, FL_STATE_CRITICAL,
                                      "kernel: %" PRIu64 " I/O error%s, last %s: \"%s\"", d->count,
                                      d->count == 1 ? "" : "s", dev_kmsg_error_to_string(d->last_crit_kind), q);
                } else {
                        _cleanup_free_ char *q = quote(d->last_msg);
                        fl_emit_state(emit, d->key, FL_STATE_WARNING, "kernel: %" PRIu64 " I/O error%s, last: \"%s\"",
                                      d->count, d->count == 1 ? "" : "s", q);
                }
                i++;
        }
}

static int collect(void *userdata, const struct fl_agent_ctx *ctx, struct fl_emit *emit)
{
        struct kmsg_state *s = userdata;
        int r;

        if (s->fd < 0) {
                if (s->retry_in > 0)
                        s->retry_in--;
                else {
                        r = open_log(s, ctx->devfs);
                        if (r < 0)
                                close_log(s, -r);
                        else
                                s->error = 0;
                }
        }
        if (s->fd >= 0) {
                r = s->is_chr ? read_device(s, ctx) : read_file(s, ctx);
                if (r < 0)
                        close_log(s, -r);
        }
        if (s->fd < 0 && s->error) {
                _cleanup_free_ char *host_key = fl_asprintf("host:%s", ctx->hostname);
                struct fl_enode *host = fl_emit_node(emit, host_key, "host");
                _cleanup_free_ char *text = fl_asprintf("unreadable: %s", strerror(s->error));
                fl_emit_attr(host, "kmsg", text);
        }
        emit_states(s, ctx, emit);
        return 0;
}

const struct fl_collector dev_kmsg_collector = {
        .name = "dev_kmsg",
        .state_size = sizeof(struct kmsg_state),
        .init = init,
        .collect = collect,
        .fini = fini,
};
