/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>

#include "util.h"

struct fixture {
        char dir[64];
};

static int setup(void **state)
{
        struct fixture *f = fl_new0(struct fixture, 1);
        const char *tmp = getenv("TMPDIR");

        snprintf(f->dir, sizeof(f->dir), "%s/fl-util-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
        if (!mkdtemp(f->dir))
                return -1;
        *state = f;
        return 0;
}

static void rm_rf(const char *dir)
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
                        rm_rf(p);
        }
        closedir(d);
        rmdir(dir);
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        rm_rf(f->dir);
        free(f);
        return 0;
}

static size_t count_entries(const char *dir)
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

static void test_safe_atou64(void **state _unused_)
{
        uint64_t v = 99;

        assert_int_equal(fl_safe_atou64("0", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(fl_safe_atou64("12345", &v), 0);
        assert_int_equal(v, 12345);
        assert_int_equal(fl_safe_atou64("18446744073709551615", &v), 0);
        assert_true(v == UINT64_MAX);

        v = 7;
        assert_int_equal(fl_safe_atou64("18446744073709551616", &v), -ERANGE);
        assert_int_equal(fl_safe_atou64("99999999999999999999999", &v), -ERANGE);
        assert_int_equal(fl_safe_atou64("", &v), -EINVAL);
        assert_int_equal(fl_safe_atou64(NULL, &v), -EINVAL);
        assert_int_equal(fl_safe_atou64("-1", &v), -EINVAL);
        assert_int_equal(fl_safe_atou64("+1", &v), -EINVAL);
        assert_int_equal(fl_safe_atou64(" 1", &v), -EINVAL);
        assert_int_equal(fl_safe_atou64("\t-1", &v), -EINVAL);
        assert_int_equal(fl_safe_atou64("\n5", &v), -EINVAL);
        assert_int_equal(fl_safe_atou64("1 ", &v), -EINVAL);
        assert_int_equal(fl_safe_atou64("1x", &v), -EINVAL);
        assert_int_equal(fl_safe_atou64("0x10", &v), -EINVAL);
        /* Output untouched on failure. */
        assert_int_equal(v, 7);
}

static void test_safe_atoi64(void **state _unused_)
{
        int64_t v = 99;

        assert_int_equal(fl_safe_atoi64("-1", &v), 0);
        assert_int_equal(v, -1);
        assert_int_equal(fl_safe_atoi64("42", &v), 0);
        assert_int_equal(v, 42);
        assert_int_equal(fl_safe_atoi64("9223372036854775807", &v), 0);
        assert_true(v == INT64_MAX);
        assert_int_equal(fl_safe_atoi64("-9223372036854775808", &v), 0);
        assert_true(v == INT64_MIN);

        v = 7;
        assert_int_equal(fl_safe_atoi64("9223372036854775808", &v), -ERANGE);
        assert_int_equal(fl_safe_atoi64("-9223372036854775809", &v), -ERANGE);
        assert_int_equal(fl_safe_atoi64("", &v), -EINVAL);
        assert_int_equal(fl_safe_atoi64(" 1", &v), -EINVAL);
        assert_int_equal(fl_safe_atoi64("\n5", &v), -EINVAL);
        assert_int_equal(fl_safe_atoi64("1x", &v), -EINVAL);
        assert_int_equal(fl_safe_atoi64("-", &v), -EINVAL);
        assert_int_equal(v, 7);
}

static void test_safe_atou32(void **state _unused_)
{
        uint32_t v = 99;

        assert_int_equal(fl_safe_atou32("0", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(fl_safe_atou32("4294967295", &v), 0);
        assert_true(v == UINT32_MAX);

        v = 7;
        assert_int_equal(fl_safe_atou32("4294967296", &v), -ERANGE);
        assert_int_equal(fl_safe_atou32("18446744073709551616", &v), -ERANGE);
        assert_int_equal(fl_safe_atou32("-1", &v), -EINVAL);
        assert_int_equal(fl_safe_atou32("", &v), -EINVAL);
        assert_int_equal(fl_safe_atou32("3.5", &v), -EINVAL);
        assert_int_equal(v, 7);
}

static void test_safe_atod(void **state _unused_)
{
        double v = 99;

        assert_int_equal(fl_safe_atod("1.5", &v), 0);
        assert_true(v == 1.5);
        assert_int_equal(fl_safe_atod("-2e3", &v), 0);
        assert_true(v == -2000.0);
        assert_int_equal(fl_safe_atod("0", &v), 0);
        assert_true(v == 0.0);

        v = 7;
        assert_int_equal(fl_safe_atod("nan", &v), -EINVAL);
        assert_int_equal(fl_safe_atod("NAN", &v), -EINVAL);
        assert_int_equal(fl_safe_atod("inf", &v), -EINVAL);
        assert_int_equal(fl_safe_atod("-infinity", &v), -EINVAL);
        assert_int_equal(fl_safe_atod("1.5x", &v), -EINVAL);
        assert_int_equal(fl_safe_atod("1.5 ", &v), -EINVAL);
        assert_int_equal(fl_safe_atod(" 1.5", &v), -EINVAL);
        assert_int_equal(fl_safe_atod("", &v), -EINVAL);
        assert_int_equal(fl_safe_atod("1e999", &v), -ERANGE);
        assert_true(v == 7);
}

static void test_counter_delta(void **state _unused_)
{
        /* No wrap. */
        assert_true(fl_counter_delta(10, 15, 32) == 5);
        assert_true(fl_counter_delta(10, 15, 64) == 5);
        assert_true(fl_counter_delta(7, 7, 64) == 0);
        /* 32-bit counter wrapped: UINT32_MAX-1 -> UINT32_MAX -> 0 -> 1 -> 2 -> 3. */
        assert_true(fl_counter_delta(UINT32_MAX - 1, 3, 32) == 5);
        assert_true(fl_counter_delta(UINT32_MAX, 0, 32) == 1);
        /* 64-bit counter wrapped. */
        assert_true(fl_counter_delta(UINT64_MAX - 1, 3, 64) == 5);
        assert_true(fl_counter_delta(UINT64_MAX, 0, 64) == 1);
}

static void test_read_file(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *path = fl_asprintf("%s/ten", f->dir);
        _cleanup_free_ char *missing = fl_asprintf("%s/missing", f->dir);
        char *buf = NULL;
        size_t len = 0;

        assert_int_equal(fl_write_file_atomic(path, "0123456789", 10, 0600), 0);

        /* Ceiling: one byte short is refused, not truncated. */
        assert_int_equal(fl_read_file(path, 9, &buf, &len), -EFBIG);
        assert_null(buf);
        assert_int_equal(fl_read_file(path, 1, &buf, &len), -EFBIG);

        assert_int_equal(fl_read_file(path, 10, &buf, &len), 0);
        assert_int_equal(len, 10);
        assert_string_equal(buf, "0123456789"); /* NUL-terminated */
        free(buf);
        buf = NULL;

        assert_int_equal(fl_read_file(path, 4096, &buf, NULL), 0);
        assert_string_equal(buf, "0123456789");
        free(buf);
        buf = NULL;

        assert_int_equal(fl_read_file(missing, 10, &buf, &len), -ENOENT);
        assert_null(buf);
}

static void test_read_line(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *path = fl_asprintf("%s/attr", f->dir);
        _cleanup_free_ char *missing = fl_asprintf("%s/missing", f->dir);
        char buf[64];

        assert_int_equal(fl_write_file_atomic(path, "deadline\nsecond\n", 16, 0600), 0);
        assert_int_equal(fl_read_line(path, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "deadline");

        assert_int_equal(fl_write_file_atomic(path, "noline", 6, 0600), 0);
        assert_int_equal(fl_read_line(path, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "noline");

        /* Longer than the buffer: cut, still terminated. */
        assert_int_equal(fl_read_line(path, buf, 4), 0);
        assert_string_equal(buf, "nol");

        assert_int_equal(fl_read_line(missing, buf, sizeof(buf)), -ENOENT);
}

static void test_write_file_atomic(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *path = fl_asprintf("%s/out", f->dir);
        _cleanup_free_ char *bad = fl_asprintf("%s/nodir/out", f->dir);
        _cleanup_free_ char *buf = NULL;
        mode_t old = umask(022);
        struct stat st;
        size_t len;

        assert_int_equal(fl_write_file_atomic(path, "first version", 13, 0640), 0);
        assert_int_equal(fl_write_file_atomic(path, "v2", 2, 0640), 0);
        umask(old);

        assert_int_equal(fl_read_file(path, 100, &buf, &len), 0);
        assert_int_equal(len, 2);
        assert_memory_equal(buf, "v2", 2);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0640);
        /* No temp file left behind. */
        assert_int_equal(count_entries(f->dir), 1);

        assert_int_equal(fl_write_file_atomic(bad, "x", 1, 0600), -ENOENT);
        assert_int_equal(count_entries(f->dir), 1);
}

static void test_mkdir_p(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *nested = fl_asprintf("%s/a/b/c", f->dir);
        _cleanup_free_ char *slash = fl_asprintf("%s/x/y/", f->dir);
        _cleanup_free_ char *file = fl_asprintf("%s/file", f->dir);
        _cleanup_free_ char *under_file = fl_asprintf("%s/file/sub", f->dir);
        struct stat st;

        assert_int_equal(fl_mkdir_p(nested, 0700), 0);
        assert_int_equal(stat(nested, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        /* Existing is fine. */
        assert_int_equal(fl_mkdir_p(nested, 0700), 0);

        assert_int_equal(fl_mkdir_p(slash, 0700), 0);
        assert_int_equal(stat(slash, &st), 0);
        assert_true(S_ISDIR(st.st_mode));

        assert_int_equal(fl_write_file_atomic(file, "x", 1, 0600), 0);
        assert_int_equal(fl_mkdir_p(under_file, 0700), -ENOTDIR);
}

static void test_startswith(void **state _unused_)
{
        assert_true(fl_startswith("diskstats", "disk"));
        assert_true(fl_startswith("disk", "disk"));
        assert_true(fl_startswith("anything", ""));
        assert_false(fl_startswith("dis", "disk"));
        assert_false(fl_startswith("", "a"));
        assert_false(fl_startswith("Disk", "disk"));

        assert_true(fl_streq("a", "a"));
        assert_false(fl_streq("a", "b"));
        assert_true(fl_streq(NULL, NULL));
        assert_false(fl_streq("a", NULL));
}

static void test_grow(void **state _unused_)
{
        uint32_t *a = NULL;
        size_t cap = 0;
        uint32_t *same;

        a = fl_grow(a, &cap, 1, sizeof(*a));
        assert_non_null(a);
        assert_true(cap >= 1);
        /* Doubling, and no realloc when the capacity already suffices. */
        same = fl_grow(a, &cap, cap, sizeof(*a));
        assert_ptr_equal(same, a);

        for (uint32_t i = 0; i < 1000; i++) {
                a = fl_grow(a, &cap, i + 1, sizeof(*a));
                a[i] = i;
        }
        assert_true(cap >= 1000 && cap < 2048);
        for (uint32_t i = 0; i < 1000; i++)
                assert_int_equal(a[i], i);
        free(a);
}

static void test_strings(void **state _unused_)
{
        _cleanup_free_ char *a = fl_asprintf("%s-%d", "disk", 7);
        _cleanup_free_ char *b = fl_strdup(NULL);
        _cleanup_free_ char *c = fl_strndup("abcdef", 3);

        assert_string_equal(a, "disk-7");
        assert_string_equal(b, "");
        assert_string_equal(c, "abc");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_safe_atou64),
                cmocka_unit_test(test_safe_atoi64),
                cmocka_unit_test(test_safe_atou32),
                cmocka_unit_test(test_safe_atod),
                cmocka_unit_test(test_counter_delta),
                cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_file_atomic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
                cmocka_unit_test(test_startswith),
                cmocka_unit_test(test_grow),
                cmocka_unit_test(test_strings),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
