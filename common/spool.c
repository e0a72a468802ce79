/* SPDX-License-Identifier: MIT */
#include "spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <sodium.h>

/*
 * On-disk format, one file per batch:
 *
 *   name:  "%020" PRIu64 "-%020" PRIu64 "-%c.batch"  (epoch, sequence, 'k' or 'm')
 *
 *   offset size  field (integers little-endian)
 *        0    4  magic "FLSP"
 *        4    1  format version (1)
 *        5    1  class: 0 KEEP, 1 METRICS
 *        6    2  reserved, zero
 *        8    8  boot epoch
 *       16    8  sequence
 *       24    8  data length
 *       32   16  BLAKE2b-128 (crypto_generichash, no key) of the data
 *       48    n  data
 *
 * The name carries everything the index needs, so open only has to verify
 * files, not keep them. The header repeats the name's fields so that every
 * header byte is checked: magic, version and reserved against constants,
 * epoch, sequence and class against the name, the length against the file
 * size, and the data against the checksum. A file that fails any of these
 * is removed and counted as corrupt; it is never handed to the sender.
 *
 * Fixed-width zero-padded numbers make the names sort like the index, which
 * helps an operator looking at the directory, and let a parser reject any
 * name we would not have written.
 */

#define SPOOL_MAGIC "FLSP"
#define SPOOL_VERSION 1
#define SPOOL_HEADER_SIZE 48
#define SPOOL_HASH_SIZE 16
#define SPOOL_SUFFIX ".batch"
#define SPOOL_NAME_LEN (20 + 1 + 20 + 1 + 1 + (sizeof(SPOOL_SUFFIX) - 1))
/* A hard ceiling independent of max_bytes: a batch is one network message,
 * and anything this big on disk is damage, not data. It also keeps sizes in
 * 32 bits in the index. */
#define SPOOL_FILE_MAX (UINT64_C(64) * 1024 * 1024)

/* Kept small on purpose (24 bytes): the index may hold ~100k entries. */
struct entry {
        uint64_t epoch;
        uint64_t seq;
        uint32_t size;
        uint8_t cls;
};

struct fl_spool {
        char *dir;
        int lock_fd;
        uint64_t max_bytes;
        uint64_t file_max; /* largest data size accepted for one batch */

        /* Sorted by (epoch, seq). Live entries are entries[head .. head + n):
         * the sender removes from the front, so a head offset makes that O(1)
         * instead of moving the whole array each time. */
        struct entry *entries;
        size_t head, n, cap;

        uint64_t bytes;
        uint64_t metrics_bytes;
        uint64_t dropped;
        uint64_t corrupt;
};

struct header {
        uint8_t cls;
        uint64_t epoch;
        uint64_t seq;
        uint64_t len;
        uint8_t hash[SPOOL_HASH_SIZE];
};

static void put_le64(uint8_t *p, uint64_t v)
{
        for (unsigned i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
        uint64_t v = 0;
        for (unsigned i = 0; i < 8; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

static int key_cmp(uint64_t ea, uint64_t sa, uint64_t eb, uint64_t sb)
{
        if (ea != eb)
                return ea < eb ? -1 : 1;
        if (sa != sb)
                return sa < sb ? -1 : 1;
        return 0;
}

static int entry_cmp(const void *a, const void *b)
{
        const struct entry *x = a, *y = b;
        int c = key_cmp(x->epoch, x->seq, y->epoch, y->seq);

        /* Ties only come from a KEEP and a METRICS file with the same key;
         * sorting KEEP first makes it the one that survives. */
        if (c == 0)
                c = (int)x->cls - (int)y->cls;
        return c;
}

static struct entry *at(const struct fl_spool *s, size_t i)
{
        return &s->entries[s->head + i];
}

static char cls_char(uint8_t cls)
{
        return cls == FL_SPOOL_KEEP ? 'k' : 'm';
}

static char *entry_path(const struct fl_spool *s, uint64_t epoch, uint64_t seq, uint8_t cls)
{
        return fl_asprintf("%s/%020" PRIu64 "-%020" PRIu64 "-%c" SPOOL_SUFFIX, s->dir, epoch, seq, cls_char(cls));
}

/* Parses a name we could have written; anything else is not ours. */
static int parse_name(const char *name, uint64_t *ret_epoch, uint64_t *ret_seq, uint8_t *ret_cls)
{
        char num[21];
        uint64_t epoch, seq;
        uint8_t cls;

        if (strlen(name) != SPOOL_NAME_LEN || name[20] != '-' || name[41] != '-' || !fl_streq(name + 43, SPOOL_SUFFIX))
                return -EINVAL;
        for (size_t i = 0; i < 41; i++)
                if (i != 20 && (name[i] < '0' || name[i] > '9'))
                        return -EINVAL;
        if (name[42] == 'k')
                cls = FL_SPOOL_KEEP;
        else if (name[42] == 'm')
                cls = FL_SPOOL_METRICS;
        else
                return -EINVAL;

        memcpy(num, name, 20);
        num[20] = '\0';
        if (fl_safe_atou64(num, &epoch) < 0)
                return -EINVAL;
        memcpy(num, name + 21, 20);
        if (fl_safe_atou64(num, &seq) < 0)
                return -EINVAL;

        *ret_epoch = epoch;
        *ret_seq = seq;
        *ret_cls = cls;
        return 0;
}

static void encode_header(uint8_t *p, uint8_t cls, uint64_t epoch, uint64_t seq, const void *data, size_t len)
{
        memcpy(p, SPOOL_MAGIC, 4);
        p[4] = SPOOL_VERSION;
        p[5] = cls;
        p[6] = p[7] = 0;
        put_le64(p + 8, epoch);
        put_le64(p + 16, seq);
        put_le64(p + 24, len);
        crypto_generichash(p + 32, SPOOL_HASH_SIZE, data, len, NULL, 0);
}

/*
 * Checks a whole file image against what its name says. Returns -EBADMSG for
 * anything that makes the file unusable.
 */
static int verify_image(const struct fl_spool *s, const uint8_t *buf, size_t len, uint64_t epoch, uint64_t seq,
                        uint8_t cls)
{
        uint8_t hash[SPOOL_HASH_SIZE];
        struct header h;

        if (len < SPOOL_HEADER_SIZE)
                return -EBADMSG;
        if (memcmp(buf, SPOOL_MAGIC, 4) != 0 || buf[4] != SPOOL_VERSION || buf[6] != 0 || buf[7] != 0)
                return -EBADMSG;
        h.cls = buf[5];
        h.epoch = get_le64(buf + 8);
        h.seq = get_le64(buf + 16);
        h.len = get_le64(buf + 24);
        memcpy(h.hash, buf + 32, SPOOL_HASH_SIZE);

        if (h.cls != cls || h.epoch != epoch || h.seq != seq)
                return -EBADMSG;
        if (h.len == 0 || h.len > s->file_max || h.len != len - SPOOL_HEADER_SIZE)
                return -EBADMSG;

        crypto_generichash(hash, sizeof(hash), buf + SPOOL_HEADER_SIZE, h.len, NULL, 0);
        if (memcmp(hash, h.hash, sizeof(hash)) != 0)
                return -EBADMSG;
        return 0;
}

/*
 * Reads and verifies one batch file whose index entry says size data bytes.
 * Returns the image in ret_buf (data at SPOOL_HEADER_SIZE); -EBADMSG if the
 * file is damaged, resized or gone; other -errno for failures that say
 * nothing about the file (and so must not get it deleted).
 */
static int read_batch(const struct fl_spool *s, const char *path, const struct entry *e, uint8_t **ret_buf)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        /* The read is bounded by the expected size, so a damaged length
         * field can never make us allocate more than the ceiling. */
        r = fl_read_file(path, SPOOL_HEADER_SIZE + (size_t)e->size, &buf, &len);
        if (r == -ENOENT || r == -EFBIG)
                return -EBADMSG;
        if (r < 0)
                return r;
        if (len != SPOOL_HEADER_SIZE + (size_t)e->size)
                return -EBADMSG;
        r = verify_image(s, (const uint8_t *)buf, len, e->epoch, e->seq, e->cls);
        if (r < 0)
                return r;

        *ret_buf = (uint8_t *)TAKE_PTR(buf);
        return 0;
}

/* Lower bound of (epoch, seq) in the index; returns whether it is there. */
static bool index_find(const struct fl_spool *s, uint64_t epoch, uint64_t seq, size_t *ret_pos)
{
        size_t lo = 0, hi = s->n;

        /* Appends nearly always go at the end. */
        if (s->n == 0 || key_cmp(at(s, s->n - 1)->epoch, at(s, s->n - 1)->seq, epoch, seq) < 0) {
                *ret_pos = s->n;
                return false;
        }
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (key_cmp(at(s, mid)->epoch, at(s, mid)->seq, epoch, seq) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *ret_pos = lo;
        return lo < s->n && key_cmp(at(s, lo)->epoch, at(s, lo)->seq, epoch, seq) == 0;
}

/* Makes room for one more entry at the end of the array. */
static void index_reserve_one(struct fl_spool *s)
{
        if (s->head + s->n < s->cap)
                return;
        /* Reclaim the space left by front removals once it is at least half
         * the array, so each slot is moved O(1) times on average. */
        if (s->head > 0 && s->head >= s->n) {
                memmove(s->entries, s->entries + s->head, s->n * sizeof(*s->entries));
                s->head = 0;
                return;
        }
        s->entries = fl_grow(s->entries, &s->cap, s->head + s->n + 1, sizeof(*s->entries));
}

static void index_insert(struct fl_spool *s, size_t pos, const struct entry *e)
{
        index_reserve_one(s);
        memmove(at(s, pos + 1), at(s, pos), (s->n - pos) * sizeof(*s->entries));
        *at(s, pos) = *e;
        s->n++;
        s->bytes += e->size;
        if (e->cls == FL_SPOOL_METRICS)
                s->metrics_bytes += e->size;
}

static void index_remove_at(struct fl_spool *s, size_t pos)
{
        const struct entry e = *at(s, pos);

        /* Move whichever side is shorter: the front removals of the sender
         * and the drops of the oldest METRICS both land near the head. */
        if (pos < s->n - 1 - pos) {
                memmove(at(s, 1), at(s, 0), pos * sizeof(*s->entries));
                s->head++;
        } else
                memmove(at(s, pos), at(s, pos + 1), (s->n - 1 - pos) * sizeof(*s->entries));
        s->n--;
        if (s->n == 0)
                s->head = 0;
        s->bytes -= e.size;
        if (e.cls == FL_SPOOL_METRICS)
                s->metrics_bytes -= e.size;
}

/* Unlinks the file of entry pos and drops it from the index. The entry stays
 * if the file could not be removed, so that the index matches the disk. */
static int remove_at(struct fl_spool *s, size_t pos)
{
        const struct entry *e = at(s, pos);
        _cleanup_free_ char *path = entry_path(s, e->epoch, e->seq, e->cls);

        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        index_remove_at(s, pos);
        return 0;
}

static bool find_oldest_metrics(const struct fl_spool *s, size_t *ret_pos)
{
        for (size_t i = 0; i < s->n; i++)
                if (at(s, i)->cls == FL_SPOOL_METRICS) {
                        *ret_pos = i;
                        return true;
                }
        return false;
}

/*
 * Drops the oldest METRICS entries until need more data bytes fit. With
 * incoming set (a METRICS batch about to be appended), stops with -ENOSPC
 * when the incoming batch is itself older than every METRICS entry left:
 * oldest first includes the new one. The caller has checked that dropping
 * every METRICS entry would make enough room.
 */
static int make_room(struct fl_spool *s, uint64_t need, const struct entry *incoming)
{
        while (s->bytes + need > s->max_bytes) {
                size_t pos;
                int r;

                if (!find_oldest_metrics(s, &pos))
                        return -ENOSPC;
                if (incoming && key_cmp(incoming->epoch, incoming->seq, at(s, pos)->epoch, at(s, pos)->seq) < 0)
                        return -ENOSPC;
                r = remove_at(s, pos);
                if (r < 0)
                        return r;
                s->dropped++;
        }
        return 0;
}

static void remove_corrupt(struct fl_spool *s, const char *path)
{
        /* If it cannot be removed it is found again at the next open; it is
         * never in the index, so it is never sent. */
        (void)unlink(path);
        s->corrupt++;
}

/* Looks at one directory entry at open; returns < 0 only for failures that
 * should fail the open. */
static int scan_one(struct fl_spool *s, const char *name)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", s->dir, name);
        _cleanup_free_ uint8_t *buf = NULL;
        struct entry e;
        struct stat st;
        uint64_t epoch, seq;
        uint8_t cls;
        int r;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;

        if (strstr(name, ".tmp.")) {
                /* An interrupted fl_write_file_atomic(): that append never
                 * returned success, so the batch is not ours to keep. The
                 * directory lock guarantees no writer is still at work. */
                if (S_ISREG(st.st_mode))
                        (void)unlink(path);
                return 0;
        }
        if (parse_name(name, &epoch, &seq, &cls) < 0)
                return 0;
        /* Something else with our name shape (a directory, a socket) is left
         * alone; a symlink is not something we write, so it is damage. */
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
                return 0;
        if (!S_ISREG(st.st_mode) || st.st_size < SPOOL_HEADER_SIZE + 1 ||
            (uint64_t)st.st_size > SPOOL_HEADER_SIZE + s->file_max) {
                remove_corrupt(s, path);
                return 0;
        }

        e = (struct entry){
                .epoch = epoch,
                .seq = seq,
                .size = (uint32_t)(st.st_size - SPOOL_HEADER_SIZE),
                .cls = cls,
        };
        r = read_batch(s, path, &e, &buf);
        if (r == -EBADMSG) {
                remove_corrupt(s, path);
                return 0;
        }
        if (r < 0)
                return r;

        /* Unsorted for now; scan() sorts once at the end. */
        s->entries = fl_grow(s->entries, &s->cap, s->n + 1, sizeof(*s->entries));
        s->entries[s->n++] = e;
        return 0;
}

static int scan(struct fl_spool *s)
{
        DIR *d = opendir(s->dir);
        size_t w = 0;
        int r = 0;

        if (!d)
                return -errno;
        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        r = -errno;
                        break;
                }
                if (fl_streq(de->d_name, ".") || fl_streq(de->d_name, ".."))
                        continue;
                r = scan_one(s, de->d_name);
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return r;

        if (s->n > 1)
                qsort(s->entries, s->n, sizeof(*s->entries), entry_cmp);

        /* The same key under both classes cannot come from fl_spool_append();
         * keep the KEEP one (sorted first) and treat the other as damage. */
        for (size_t i = 0; i < s->n; i++) {
                const struct entry *e = &s->entries[i];

                if (w > 0 && key_cmp(s->entries[w - 1].epoch, s->entries[w - 1].seq, e->epoch, e->seq) == 0) {
                        _cleanup_free_ char *path = entry_path(s, e->epoch, e->seq, e->cls);
                        remove_corrupt(s, path);
                        continue;
                }
                s->entries[w++] = *e;
        }
        s->n = w;

        for (size_t i = 0; i < s->n; i++) {
                s->bytes += s->entries[i].size;
                if (s->entries[i].cls == FL_SPOOL_METRICS)
                        s->metrics_bytes += s->entries[i].size;
        }
        return 0;
}

/*
 * Opens (creating if needed) the spool in dir, bounded to max_bytes of data.
 * The directory is locked (flock) for as long as the spool is open: a second
 * opener gets -EBUSY, because two agents sharing one spool would delete each
 * other's temp files and send each other's batches. If the spool already
 * holds more than max_bytes (the bound was lowered), the oldest METRICS
 * batches are dropped at open.
 */
int fl_spool_open(const char *dir, uint64_t max_bytes, struct fl_spool **ret)
{
        _cleanup_spool_ struct fl_spool *s = NULL;
        int r;

        if (!dir || !*dir || max_bytes == 0 || !ret)
                return -EINVAL;
        if (sodium_init() < 0)
                return -EIO;

        r = fl_mkdir_p(dir, 0700);
        if (r < 0)
                return r;

        s = fl_new0(struct fl_spool, 1);
        s->lock_fd = -1;
        s->dir = fl_strdup(dir);
        s->max_bytes = max_bytes;
        s->file_max = FL_MIN(max_bytes, SPOOL_FILE_MAX);

        s->lock_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->lock_fd < 0)
                return -errno;
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;

        r = scan(s);
        if (r < 0)
                return r;

        if (s->bytes > s->max_bytes) {
                r = make_room(s, 0, NULL);
                if (r < 0 && r != -ENOSPC)
                        return r;
        }

        *ret = TAKE_PTR(s);
        return 0;
}

void fl_spool_close(struct fl_spool *s)
{
        if (!s)
                return;
        if (s->lock_fd >= 0)
                close(s->lock_fd);
        free(s->entries);
        free(s->dir);
        free(s);
}

/*
 * Appends a batch durably. Errors: -EINVAL (len 0, bad class), -EEXIST (the
 * key is already held), -ENOSPC (it would not fit even after dropping every
 * METRICS batch, or it is larger than max_bytes or 64 MiB: nothing is dropped
 * or written; or it is a METRICS batch older than every METRICS batch still
 * held once the older ones are gone: oldest first means it goes next), other
 * -errno from the file system. A METRICS batch refused counts as dropped.
 */
int fl_spool_append(struct fl_spool *s, uint64_t boot_epoch, uint64_t sequence, enum fl_spool_class cls,
                    const void *data, size_t len)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        struct entry e;
        size_t pos;
        int r;

        if (!s || len == 0 || !data || (cls != FL_SPOOL_KEEP && cls != FL_SPOOL_METRICS))
                return -EINVAL;
        if (index_find(s, boot_epoch, sequence, &pos))
                return -EEXIST;

        /* Check before dropping anything: losing METRICS to make room for a
         * batch that still would not fit helps no one. */
        if (len > s->file_max || s->bytes - s->metrics_bytes + len > s->max_bytes) {
                if (cls == FL_SPOOL_METRICS)
                        s->dropped++;
                return -ENOSPC;
        }

        e = (struct entry){ .epoch = boot_epoch, .seq = sequence, .size = (uint32_t)len, .cls = (uint8_t)cls };
        r = make_room(s, len, cls == FL_SPOOL_METRICS ? &e : NULL);
        if (r == -ENOSPC && cls == FL_SPOOL_METRICS)
                s->dropped++;
        if (r < 0)
                return r;

        buf = fl_malloc(SPOOL_HEADER_SIZE + len);
        encode_header(buf, e.cls, boot_epoch, sequence, data, len);
        memcpy(buf + SPOOL_HEADER_SIZE, data, len);

        path = entry_path(s, boot_epoch, sequence, e.cls);
        r = fl_write_file_atomic(path, buf, SPOOL_HEADER_SIZE + len, 0600);
        if (r < 0) {
                /* The rename may have happened before a later step failed; a
                 * file the caller was told failed must not be sent after a
                 * restart (it may append the same data under a new key). */
                (void)unlink(path);
                return r;
        }

        /* make_room() may have shifted the array; look the position up again. */
        (void)index_find(s, boot_epoch, sequence, &pos);
        index_insert(s, pos, &e);
        return 0;
}

/*
 * Returns the oldest batch, read back from disk and verified; a file found
 * damaged here is removed, counted as corrupt, and the next one is tried.
 * ret_data may be NULL when only the entry is wanted.
 */
int fl_spool_peek(struct fl_spool *s, struct fl_spool_entry *ret_entry, void **ret_data)
{
        if (!s)
                return -EINVAL;

        while (s->n > 0) {
                const struct entry e = *at(s, 0);
                _cleanup_free_ char *path = entry_path(s, e.epoch, e.seq, e.cls);
                _cleanup_free_ uint8_t *buf = NULL;
                size_t size = e.size;
                int r;

                r = read_batch(s, path, &e, &buf);
                if (r == -EBADMSG) {
                        remove_corrupt(s, path);
                        index_remove_at(s, 0);
                        continue;
                }
                if (r < 0)
                        return r;

                /* Hand the image over with the data moved to the front rather
                 * than copying up to 64 MiB once more. */
                memmove(buf, buf + SPOOL_HEADER_SIZE, size);
                if (ret_entry)
                        *ret_entry = (struct fl_spool_entry){
                                .boot_epoch = e.epoch,
                                .sequence = e.seq,
                                .cls = (enum fl_spool_class)e.cls,
                                .size = size,
                        };
                if (ret_data)
                        *ret_data = TAKE_PTR(buf);
                return 0;
        }
        return -ENOENT;
}

int fl_spool_head(const struct fl_spool *s, struct fl_spool_entry *ret_entry)
{
        if (!s)
                return -EINVAL;
        if (s->n == 0)
                return -ENOENT;
        const struct entry *e = at((struct fl_spool *)s, 0);
        *ret_entry = (struct fl_spool_entry){
                .boot_epoch = e->epoch,
                .sequence = e->seq,
                .cls = (enum fl_spool_class)e->cls,
                .size = e->size,
        };
        return 0;
}

int fl_spool_remove(struct fl_spool *s, uint64_t boot_epoch, uint64_t sequence)
{
        size_t pos;

        if (!s)
                return -EINVAL;
        if (!index_find(s, boot_epoch, sequence, &pos))
                return -ENOENT;
        return remove_at(s, pos);
}

void fl_spool_get_stats(const struct fl_spool *s, struct fl_spool_stats *ret)
{
        *ret = (struct fl_spool_stats){
                .bytes = s->bytes,
                .count = s->n,
                .dropped = s->dropped,
                .corrupt = s->corrupt,
                .max_bytes = s->max_bytes,
        };
}

int fl_spool_last(const struct fl_spool *s, uint64_t *ret_epoch, uint64_t *ret_sequence)
{
        if (!s || s->n == 0)
                return -ENOENT;
        if (ret_epoch)
                *ret_epoch = at(s, s->n - 1)->epoch;
        if (ret_sequence)
                *ret_sequence = at(s, s->n - 1)->seq;
        return 0;
}
