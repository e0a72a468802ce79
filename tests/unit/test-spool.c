/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "spool.h"
#include "util.h"

#define HEADER_SIZE 48

/* Each test gets its own directory; the spool lives in a subdirectory so
 * that fl_spool_open() also has to create it. */
struct fixture {
        char base[64];
        char *dir;
};

static int setup(void **state)
{
        struct fixture *f = fl_new0(struct fixture, 1);
        const char *tmp = getenv("TMPDIR");

        snprintf(f->base, sizeof(f->base), "%s/fl-spool-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
        if (!mkdtemp(f->base))
                return -1;
        f->dir = fl_asprintf("%s/spool", f->base);
        *state = f;
        return 0;
}

static void rm_flat(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                if (fl_streq(de->d_name, ".") || fl_streq(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *p = fl_asprintf("%s/%s", dir, de->d_name);
                if (unlink(p) < 0)
                        rm_flat(p);
        }
        closedir(d);
        rmdir(dir);
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        rm_flat(f->base);
        free(f->dir);
        free(f);
        return 0;
}

static char *batch_path(const struct fixture *f, uint64_t epoch, uint64_t seq, enum fl_spool_class cls)
{
        return fl_asprintf("%s/%020" PRIu64 "-%020" PRIu64 "-%c.batch", f->dir, epoch, seq,
                           cls == FL_SPOOL_KEEP ? 'k' : 'm');
}

static bool exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

static size_t count_files(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (!fl_streq(de->d_name, ".") && !fl_streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

/* Deterministic payload that differs per (seed, offset). */
static void fill(uint8_t *buf, size_t len, unsigned seed)
{
        for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

static void append_filled(struct fl_spool *s, uint64_t epoch, uint64_t seq, enum fl_spool_class cls, size_t len)
{
        _cleanup_free_ uint8_t *buf = fl_malloc(len);

        fill(buf, len, (unsigned)(epoch * 1000 + seq));
        assert_int_equal(fl_spool_append(s, epoch, seq, cls, buf, len), 0);
}

/* Peeks and checks the entry and that its bytes are exactly what
 * append_filled() wrote. */
static void expect_head(struct fl_spool *s, uint64_t epoch, uint64_t seq, enum fl_spool_class cls, size_t len)
{
        _cleanup_free_ uint8_t *want = fl_malloc(len);
        _cleanup_free_ void *data = NULL;
        struct fl_spool_entry e;

        fill(want, len, (unsigned)(epoch * 1000 + seq));
        assert_int_equal(fl_spool_peek(s, &e, &data), 0);
        assert_int_equal(e.boot_epoch, epoch);
        assert_int_equal(e.sequence, seq);
        assert_int_equal(e.cls, cls);
        assert_int_equal(e.size, len);
        assert_memory_equal(data, want, len);
}

static void flip_byte(const char *path, off_t off)
{
        _cleanup_close_ int fd = open(path, O_RDWR);
        uint8_t c;

        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &c, 1, off), 1);
        c ^= 0x01;
        assert_int_equal(pwrite(fd, &c, 1, off), 1);
}

static off_t file_size(const char *path)
{
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        return st.st_size;
}

static void write_raw(const char *path, const void *data, size_t len)
{
        assert_int_equal(fl_write_file_atomic(path, data, len, 0600), 0);
}

static void test_append_peek_remove(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        const char *msgs[] = { "first", "second batch", "third" };
        struct fl_spool_entry e;
        struct fl_spool_stats st;

        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(fl_spool_append(s, 1, i + 1, FL_SPOOL_METRICS, msgs[i], strlen(msgs[i])), 0);

        fl_spool_get_stats(s, &st);
        assert_int_equal(st.count, 3);
        assert_int_equal(st.bytes, strlen(msgs[0]) + strlen(msgs[1]) + strlen(msgs[2]));
        assert_int_equal(st.max_bytes, 1 << 20);
        assert_int_equal(st.dropped, 0);
        assert_int_equal(st.corrupt, 0);

        for (unsigned i = 0; i < 3; i++) {
                _cleanup_free_ void *data = NULL;

                /* Peeking does not consume. */
                assert_int_equal(fl_spool_peek(s, &e, NULL), 0);
                assert_int_equal(e.sequence, i + 1);
                assert_int_equal(fl_spool_peek(s, &e, &data), 0);
                assert_int_equal(e.boot_epoch, 1);
                assert_int_equal(e.sequence, i + 1);
                assert_int_equal(e.cls, FL_SPOOL_METRICS);
                assert_int_equal(e.size, strlen(msgs[i]));
                assert_memory_equal(data, msgs[i], e.size);
                assert_int_equal(fl_spool_remove(s, 1, i + 1), 0);
                assert_int_equal(fl_spool_remove(s, 1, i + 1), -ENOENT);
        }
        assert_int_equal(fl_spool_peek(s, &e, NULL), -ENOENT);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.count, 0);
        assert_int_equal(st.bytes, 0);
        assert_int_equal(count_files(f->dir), 0);
}

static void test_file_format(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        _cleanup_free_ char *path = batch_path(f, 7, 42, FL_SPOOL_KEEP);
        _cleanup_free_ char *raw = NULL;
        size_t len;
        struct stat st;

        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        assert_int_equal(stat(f->dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(fl_spool_append(s, 7, 42, FL_SPOOL_KEEP, "hello", 5), 0);

        assert_int_equal(fl_read_file(path, 4096, &raw, &len), 0);
        assert_int_equal(len, HEADER_SIZE + 5);
        assert_memory_equal(raw, "FLSP", 4);
        assert_int_equal(raw[4], 1); /* version */
        assert_int_equal(raw[5], FL_SPOOL_KEEP);
        assert_int_equal((uint8_t)raw[8], 7); /* epoch, little-endian */
        assert_int_equal((uint8_t)raw[16], 42); /* sequence */
        assert_int_equal((uint8_t)raw[24], 5); /* data length */
        assert_memory_equal(raw + HEADER_SIZE, "hello", 5);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(count_files(f->dir), 1);
}

static void test_order_across_epochs(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        struct fl_spool_entry e;

        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        /* Appended out of order on purpose; 10 > 9 numerically, not by name. */
        append_filled(s, 2, 1, FL_SPOOL_METRICS, 10);
        append_filled(s, 1, 10, FL_SPOOL_KEEP, 11);
        append_filled(s, 1, 9, FL_SPOOL_METRICS, 12);
        append_filled(s, 2, 0, FL_SPOOL_KEEP, 13);

        expect_head(s, 1, 9, FL_SPOOL_METRICS, 12);
        assert_int_equal(fl_spool_remove(s, 1, 9), 0);
        expect_head(s, 1, 10, FL_SPOOL_KEEP, 11);
        assert_int_equal(fl_spool_remove(s, 1, 10), 0);
        expect_head(s, 2, 0, FL_SPOOL_KEEP, 13);
        assert_int_equal(fl_spool_remove(s, 2, 0), 0);
        expect_head(s, 2, 1, FL_SPOOL_METRICS, 10);
        assert_int_equal(fl_spool_remove(s, 2, 1), 0);
        assert_int_equal(fl_spool_peek(s, &e, NULL), -ENOENT);
}

static void test_reopen_replays(void **state)
{
        struct fixture *f = *state;
        struct fl_spool *s = NULL;
        struct fl_spool_stats st;
        struct fl_spool_entry e;
        uint64_t epoch, seq;

        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        append_filled(s, 1, 1, FL_SPOOL_KEEP, 100);
        append_filled(s, 1, 2, FL_SPOOL_METRICS, 5000);
        append_filled(s, 1, 3, FL_SPOOL_METRICS, 1);
        append_filled(s, 2, 1, FL_SPOOL_KEEP, 70000);
        assert_int_equal(fl_spool_remove(s, 1, 1), 0);
        fl_spool_close(s);
        s = NULL;

        /* A restarted agent sees what it had not had acknowledged. */
        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.count, 3);
        assert_int_equal(st.bytes, 5000 + 1 + 70000);
        assert_int_equal(st.corrupt, 0);
        assert_int_equal(st.dropped, 0);
        assert_int_equal(fl_spool_last(s, &epoch, &seq), 0);
        assert_int_equal(epoch, 2);
        assert_int_equal(seq, 1);

        expect_head(s, 1, 2, FL_SPOOL_METRICS, 5000);
        assert_int_equal(fl_spool_remove(s, 1, 2), 0);
        expect_head(s, 1, 3, FL_SPOOL_METRICS, 1);
        assert_int_equal(fl_spool_remove(s, 1, 3), 0);
        expect_head(s, 2, 1, FL_SPOOL_KEEP, 70000);
        assert_int_equal(fl_spool_remove(s, 2, 1), 0);
        assert_int_equal(fl_spool_peek(s, &e, NULL), -ENOENT);
        fl_spool_close(s);
}

static void test_corrupt_at_open(void **state)
{
        struct fixture *f = *state;
        struct fl_spool *s = NULL;
        _cleanup_free_ char *p2 = batch_path(f, 1, 2, FL_SPOOL_METRICS);
        _cleanup_free_ char *p3 = batch_path(f, 1, 3, FL_SPOOL_KEEP);
        _cleanup_free_ char *p4 = batch_path(f, 1, 4, FL_SPOOL_METRICS);
        _cleanup_free_ char *p6 = batch_path(f, 1, 6, FL_SPOOL_METRICS);
        _cleanup_free_ char *p8 = batch_path(f, 1, 8, FL_SPOOL_METRICS);
        _cleanup_free_ char *p9 = batch_path(f, 1, 9, FL_SPOOL_METRICS);
        _cleanup_free_ char *renamed = batch_path(f, 1, 99, FL_SPOOL_METRICS);
        _cleanup_free_ char *empty = batch_path(f, 1, 100, FL_SPOOL_KEEP);
        _cleanup_free_ char *raw = NULL;
        struct fl_spool_stats st;
        size_t len;

        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        for (uint64_t i = 1; i <= 9; i++)
                append_filled(s, 1, i, i == 3 || i == 5 ? FL_SPOOL_KEEP : FL_SPOOL_METRICS, 200 + i);
        fl_spool_close(s);
        s = NULL;

        /* Truncated to half, as a crash of a non-journalling writer would. */
        assert_int_equal(truncate(p2, file_size(p2) / 2), 0);
        /* One flipped data byte (bit rot). */
        flip_byte(p3, HEADER_SIZE + 17);
        /* A flipped header byte: the length field. */
        flip_byte(p4, 24);
        /* A file grown behind our back. */
        assert_int_equal(fl_read_file(p6, 1 << 20, &raw, &len), 0);
        {
                _cleanup_free_ char *bigger = fl_malloc(len + 1);
                memcpy(bigger, raw, len);
                bigger[len] = 'x';
                write_raw(p6, bigger, len + 1);
        }
        /* A valid file under another name must not be taken for that key. */
        assert_int_equal(rename(p8, renamed), 0);
        /* An empty file with a batch name. */
        write_raw(empty, "", 0);

        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.corrupt, 6);
        assert_int_equal(st.count, 4);
        assert_int_equal(st.bytes, 201 + 205 + 207 + 209);
        assert_false(exists(p2));
        assert_false(exists(p3));
        assert_false(exists(p4));
        assert_false(exists(p6));
        assert_false(exists(renamed));
        assert_false(exists(empty));
        assert_true(exists(p9));

        /* The good ones survive, intact and in order. */
        expect_head(s, 1, 1, FL_SPOOL_METRICS, 201);
        assert_int_equal(fl_spool_remove(s, 1, 1), 0);
        expect_head(s, 1, 5, FL_SPOOL_KEEP, 205);
        assert_int_equal(fl_spool_remove(s, 1, 5), 0);
        expect_head(s, 1, 7, FL_SPOOL_METRICS, 207);
        assert_int_equal(fl_spool_remove(s, 1, 7), 0);
        expect_head(s, 1, 9, FL_SPOOL_METRICS, 209);
        assert_int_equal(fl_spool_remove(s, 1, 9), 0);
        fl_spool_close(s);
}

static void test_foreign_and_temp_files(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        _cleanup_free_ char *tmp = NULL, *tmp2 = NULL, *notes = NULL, *near = NULL, *subdir = NULL;
        struct fl_spool_stats st;

        assert_int_equal(fl_mkdir_p(f->dir, 0700), 0);
        tmp = fl_asprintf("%s/X.tmp.123", f->dir);
        tmp2 = fl_asprintf("%s/%020d-%020d-m.batch.tmp.4242", f->dir, 1, 1);
        notes = fl_asprintf("%s/notes.txt", f->dir);
        /* Almost our pattern: one digit short. */
        near = fl_asprintf("%s/%019d-%020d-m.batch", f->dir, 1, 1);
        subdir = fl_asprintf("%s/%020d-%020d-k.batch", f->dir, 5, 5);
        write_raw(tmp, "partial", 7);
        write_raw(tmp2, "partial", 7);
        write_raw(notes, "operator notes", 14);
        write_raw(near, "not ours", 8);
        assert_int_equal(mkdir(subdir, 0700), 0);

        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        assert_false(exists(tmp));
        assert_false(exists(tmp2));
        assert_true(exists(notes));
        assert_true(exists(near));
        assert_true(exists(subdir));
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.count, 0);
        assert_int_equal(st.corrupt, 0);
}

static void test_full_drops_oldest_metrics(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        _cleanup_free_ char *p2 = batch_path(f, 1, 2, FL_SPOOL_METRICS);
        struct fl_spool_stats st;

        assert_int_equal(fl_spool_open(f->dir, 300, &s), 0);
        append_filled(s, 1, 1, FL_SPOOL_KEEP, 100);
        append_filled(s, 1, 2, FL_SPOOL_METRICS, 100);
        append_filled(s, 1, 3, FL_SPOOL_METRICS, 100);
        append_filled(s, 1, 4, FL_SPOOL_KEEP, 100);

        fl_spool_get_stats(s, &st);
        assert_int_equal(st.dropped, 1);
        assert_int_equal(st.count, 3);
        assert_int_equal(st.bytes, 300);
        assert_false(exists(p2));

        expect_head(s, 1, 1, FL_SPOOL_KEEP, 100);
        assert_int_equal(fl_spool_remove(s, 1, 1), 0);
        expect_head(s, 1, 3, FL_SPOOL_METRICS, 100);
        assert_int_equal(fl_spool_remove(s, 1, 3), 0);
        expect_head(s, 1, 4, FL_SPOOL_KEEP, 100);
}

static void test_full_only_keep(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        _cleanup_free_ char *p4 = batch_path(f, 1, 4, FL_SPOOL_KEEP);
        _cleanup_free_ char *p5 = batch_path(f, 1, 5, FL_SPOOL_METRICS);
        uint8_t buf[100] = { 0 };
        struct fl_spool_stats st;

        assert_int_equal(fl_spool_open(f->dir, 300, &s), 0);
        append_filled(s, 1, 1, FL_SPOOL_KEEP, 100);
        append_filled(s, 1, 2, FL_SPOOL_KEEP, 100);
        append_filled(s, 1, 3, FL_SPOOL_KEEP, 100);

        assert_int_equal(fl_spool_append(s, 1, 4, FL_SPOOL_KEEP, buf, sizeof(buf)), -ENOSPC);
        assert_false(exists(p4));
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.dropped, 0);
        assert_int_equal(st.count, 3);
        assert_int_equal(st.bytes, 300);

        /* A METRICS batch that cannot be held is a dropped one. */
        assert_int_equal(fl_spool_append(s, 1, 5, FL_SPOOL_METRICS, buf, sizeof(buf)), -ENOSPC);
        assert_false(exists(p5));
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.dropped, 1);
        assert_int_equal(st.count, 3);
        assert_int_equal(count_files(f->dir), 3);

        /* Once one is acknowledged there is room again. */
        assert_int_equal(fl_spool_remove(s, 1, 1), 0);
        assert_int_equal(fl_spool_append(s, 1, 4, FL_SPOOL_KEEP, buf, sizeof(buf)), 0);
}

static void test_full_no_pointless_drop(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        uint8_t big[250] = { 0 };
        struct fl_spool_stats st;

        assert_int_equal(fl_spool_open(f->dir, 300, &s), 0);
        append_filled(s, 1, 1, FL_SPOOL_KEEP, 100);
        append_filled(s, 1, 2, FL_SPOOL_METRICS, 100);

        /* Even without the METRICS batch 250 + 100 > 300: it must stay. */
        assert_int_equal(fl_spool_append(s, 1, 3, FL_SPOOL_KEEP, big, sizeof(big)), -ENOSPC);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.dropped, 0);
        assert_int_equal(st.count, 2);

        /* 200 fits once the METRICS one goes. */
        assert_int_equal(fl_spool_append(s, 1, 3, FL_SPOOL_KEEP, big, 200), 0);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.dropped, 1);
        assert_int_equal(st.count, 2);
        assert_int_equal(st.bytes, 300);
}

static void test_full_metrics_oldest_first(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        uint8_t buf[100] = { 0 };
        struct fl_spool_stats st;

        assert_int_equal(fl_spool_open(f->dir, 200, &s), 0);
        append_filled(s, 2, 1, FL_SPOOL_METRICS, 100);
        append_filled(s, 2, 2, FL_SPOOL_METRICS, 100);

        /* Newer METRICS push out older ones... */
        assert_int_equal(fl_spool_append(s, 2, 3, FL_SPOOL_METRICS, buf, sizeof(buf)), 0);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.dropped, 1);
        expect_head(s, 2, 2, FL_SPOOL_METRICS, 100);

        /* ...but a METRICS batch older than all of them is the one to go. */
        assert_int_equal(fl_spool_append(s, 1, 1, FL_SPOOL_METRICS, buf, sizeof(buf)), -ENOSPC);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.dropped, 2);
        assert_int_equal(st.count, 2);
        expect_head(s, 2, 2, FL_SPOOL_METRICS, 100);
}

static void test_too_large(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        uint8_t buf[101] = { 0 };
        struct fl_spool_stats st;

        assert_int_equal(fl_spool_open(f->dir, 100, &s), 0);
        assert_int_equal(fl_spool_append(s, 1, 1, FL_SPOOL_KEEP, buf, sizeof(buf)), -ENOSPC);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.dropped, 0);
        assert_int_equal(fl_spool_append(s, 1, 1, FL_SPOOL_METRICS, buf, sizeof(buf)), -ENOSPC);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.dropped, 1);
        assert_int_equal(st.count, 0);
        assert_int_equal(count_files(f->dir), 0);

        /* Exactly max_bytes fits. */
        assert_int_equal(fl_spool_append(s, 1, 1, FL_SPOOL_KEEP, buf, 100), 0);
}

static void test_invalid_and_duplicate(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        struct fl_spool_stats st;

        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        assert_int_equal(fl_spool_append(s, 1, 1, FL_SPOOL_KEEP, "x", 0), -EINVAL);
        assert_int_equal(fl_spool_append(s, 1, 1, (enum fl_spool_class)7, "x", 1), -EINVAL);
        assert_int_equal(fl_spool_append(s, 1, 1, FL_SPOOL_KEEP, "abc", 3), 0);
        assert_int_equal(fl_spool_append(s, 1, 1, FL_SPOOL_KEEP, "abc", 3), -EEXIST);
        assert_int_equal(fl_spool_append(s, 1, 1, FL_SPOOL_METRICS, "def", 3), -EEXIST);
        assert_int_equal(fl_spool_remove(s, 1, 2), -ENOENT);
        assert_int_equal(fl_spool_remove(s, 2, 1), -ENOENT);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.count, 1);
        assert_int_equal(st.bytes, 3);
        assert_int_equal(count_files(f->dir), 1);
}

static void test_last(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        uint64_t epoch = 0, seq = 0;

        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        assert_int_equal(fl_spool_last(s, &epoch, &seq), -ENOENT);
        append_filled(s, 1, 5, FL_SPOOL_KEEP, 1);
        append_filled(s, 2, 1, FL_SPOOL_METRICS, 1);
        append_filled(s, 1, 7, FL_SPOOL_KEEP, 1);
        assert_int_equal(fl_spool_last(s, &epoch, &seq), 0);
        assert_int_equal(epoch, 2);
        assert_int_equal(seq, 1);
        assert_int_equal(fl_spool_remove(s, 2, 1), 0);
        assert_int_equal(fl_spool_last(s, &epoch, &seq), 0);
        assert_int_equal(epoch, 1);
        assert_int_equal(seq, 7);
        append_filled(s, UINT64_MAX, UINT64_MAX, FL_SPOOL_KEEP, 1);
        assert_int_equal(fl_spool_last(s, &epoch, &seq), 0);
        assert_int_equal(epoch, UINT64_MAX);
        assert_int_equal(seq, UINT64_MAX);
}

static void test_corrupt_at_peek(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        _cleanup_free_ char *p1 = batch_path(f, 1, 1, FL_SPOOL_METRICS);
        _cleanup_free_ char *p2 = batch_path(f, 1, 2, FL_SPOOL_KEEP);
        struct fl_spool_stats st;
        struct fl_spool_entry e;

        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        append_filled(s, 1, 1, FL_SPOOL_METRICS, 300);
        append_filled(s, 1, 2, FL_SPOOL_KEEP, 300);
        append_filled(s, 1, 3, FL_SPOOL_METRICS, 300);
        append_filled(s, 1, 4, FL_SPOOL_METRICS, 300);

        /* Damaged after open: one flipped byte, one file removed outright. */
        flip_byte(p1, HEADER_SIZE + 299);
        assert_int_equal(unlink(p2), 0);

        expect_head(s, 1, 3, FL_SPOOL_METRICS, 300);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.corrupt, 2);
        assert_int_equal(st.count, 2);
        assert_int_equal(st.bytes, 600);
        assert_false(exists(p1));

        /* A file truncated after open is caught the same way. */
        {
                _cleanup_free_ char *p3 = batch_path(f, 1, 3, FL_SPOOL_METRICS);
                assert_int_equal(truncate(p3, 100), 0);
        }
        expect_head(s, 1, 4, FL_SPOOL_METRICS, 300);
        assert_int_equal(fl_spool_remove(s, 1, 4), 0);
        assert_int_equal(fl_spool_peek(s, &e, NULL), -ENOENT);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.corrupt, 3);
        assert_int_equal(st.bytes, 0);
}

static void test_oversized_at_open(void **state)
{
        struct fixture *f = *state;
        struct fl_spool *s = NULL;
        struct fl_spool_stats st;

        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        append_filled(s, 1, 1, FL_SPOOL_KEEP, 50);
        append_filled(s, 1, 2, FL_SPOOL_KEEP, 500);
        fl_spool_close(s);
        s = NULL;

        /* With a smaller bound, a file larger than the bound cannot be one
         * of ours: it is treated as damage. */
        assert_int_equal(fl_spool_open(f->dir, 400, &s), 0);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.corrupt, 1);
        assert_int_equal(st.count, 1);
        assert_int_equal(st.bytes, 50);
        fl_spool_close(s);
}

static void test_shrunk_bound_drops_at_open(void **state)
{
        struct fixture *f = *state;
        struct fl_spool *s = NULL;
        struct fl_spool_stats st;

        assert_int_equal(fl_spool_open(f->dir, 1000, &s), 0);
        append_filled(s, 1, 1, FL_SPOOL_METRICS, 100);
        append_filled(s, 1, 2, FL_SPOOL_KEEP, 100);
        append_filled(s, 1, 3, FL_SPOOL_METRICS, 100);
        fl_spool_close(s);
        s = NULL;

        assert_int_equal(fl_spool_open(f->dir, 200, &s), 0);
        fl_spool_get_stats(s, &st);
        assert_int_equal(st.dropped, 1);
        assert_int_equal(st.count, 2);
        assert_int_equal(st.bytes, 200);
        expect_head(s, 1, 2, FL_SPOOL_KEEP, 100);
        fl_spool_close(s);
}

static void test_locked(void **state)
{
        struct fixture *f = *state;
        struct fl_spool *a = NULL, *b = NULL;

        assert_int_equal(fl_spool_open(f->dir, 1000, &a), 0);
        assert_int_equal(fl_spool_open(f->dir, 1000, &b), -EBUSY);
        assert_null(b);
        fl_spool_close(a);
        assert_int_equal(fl_spool_open(f->dir, 1000, &b), 0);
        fl_spool_close(b);
        fl_spool_close(NULL);

        assert_int_equal(fl_spool_open(f->dir, 0, &a), -EINVAL);
}

/* Exercises the index with inserts and removals at every position, against
 * a simple model: a bitmap of which keys are held. */
static void test_index_model(void **state)
{
        struct fixture *f = *state;
        _cleanup_spool_ struct fl_spool *s = NULL;
        enum { N = 120 };
        bool held[N] = { false };
        unsigned x = 12345;
        struct fl_spool_stats st;
        struct fl_spool_entry e;
        size_t n = 0;

        assert_int_equal(fl_spool_open(f->dir, 1 << 20, &s), 0);
        for (unsigned round = 0; round < 3 * N; round++) {
                unsigned k;

                x = x * 1103515245u + 12345u;
                k = (x >> 8) % N;
                if (!held[k]) {
                        append_filled(s, k / 10, k % 10, k % 3 ? FL_SPOOL_METRICS : FL_SPOOL_KEEP, 1 + k);
                        held[k] = true;
                        n++;
                } else if (round % 2) {
                        assert_int_equal(fl_spool_remove(s, k / 10, k % 10), 0);
                        held[k] = false;
                        n--;
                } else {
                        /* Remove from the front, as the sender does. */
                        unsigned first = 0;
                        while (!held[first])
                                first++;
                        expect_head(s, first / 10, first % 10, first % 3 ? FL_SPOOL_METRICS : FL_SPOOL_KEEP, 1 + first);
                        assert_int_equal(fl_spool_remove(s, first / 10, first % 10), 0);
                        held[first] = false;
                        n--;
                }
                fl_spool_get_stats(s, &st);
                assert_int_equal(st.count, n);
        }

        /* Drain: everything left comes out in key order. */
        for (unsigned k = 0; k < N; k++) {
                if (!held[k])
                        continue;
                expect_head(s, k / 10, k % 10, k % 3 ? FL_SPOOL_METRICS : FL_SPOOL_KEEP, 1 + k);
                assert_int_equal(fl_spool_remove(s, k / 10, k % 10), 0);
        }
        assert_int_equal(fl_spool_peek(s, &e, NULL), -ENOENT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_append_peek_remove, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_format, setup, teardown),
                cmocka_unit_test_setup_teardown(test_order_across_epochs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reopen_replays, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_at_open, setup, teardown),
                cmocka_unit_test_setup_teardown(test_foreign_and_temp_files, setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_drops_oldest_metrics, setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_only_keep, setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_no_pointless_drop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_metrics_oldest_first, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invalid_and_duplicate, setup, teardown),
                cmocka_unit_test_setup_teardown(test_last, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_at_peek, setup, teardown),
                cmocka_unit_test_setup_teardown(test_oversized_at_open, setup, teardown),
                cmocka_unit_test_setup_teardown(test_shrunk_bound_drops_at_open, setup, teardown),
                cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_index_model, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
