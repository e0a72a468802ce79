/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Fixture helpers shared by the unit tests of the agent collectors: the
 * test data directory, throw-away roots under /tmp, files written into them
 * and trees of test data copied over them. Static inline so that each test
 * binary stays a single source file. Include after <cmocka.h>.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* <tests/data>, as meson passes it in FL_TEST_DATA. */
static inline const char *fixture_data_dir(void)
{
        const char *d = getenv("FL_TEST_DATA");
        if (!d)
                fail_msg("FL_TEST_DATA is not set");
        return d;
}

static inline char *fixture_data_path(const char *rel)
{
        return fl_asprintf("%s/%s", fixture_data_dir(), rel);
}

static inline int fixture_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* A fresh directory made from tmpl ("/tmp/fl-test-NAME-XXXXXX"). */
static inline char *fixture_tmp_root(const char *tmpl)
{
        char *d = fl_strdup(tmpl);

        assert_non_null(mkdtemp(d));
        return d;
}

/* Removes the tree without following its symlinks, which may point out of
 * it, and frees d. */
static inline void fixture_tmp_root_free(char *d)
{
        nftw(d, fixture_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(d);
}

static inline int fixture_teardown_root(void **state)
{
        fixture_tmp_root_free(*state);
        return 0;
}

/* Writes root/rel in place (same inode, O_TRUNC), creating the directories
 * above it: tests change a file under a descriptor the collector keeps
 * open, as the kernel does. */
static inline void fixture_write_bytes(const char *root, const char *rel, const char *content, size_t len)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", root, rel);
        _cleanup_free_ char *dir = fl_strdup(path);
        _cleanup_close_ int fd = -1;

        *strrchr(dir, '/') = '\0';
        assert_int_equal(fl_mkdir_p(dir, 0755), 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                fail_msg("could not open \"%s\": %s", path, strerror(errno));
        assert_int_equal(write(fd, content, len), (ssize_t)len);
}

static inline void fixture_write_file(const char *root, const char *rel, const char *content)
{
        fixture_write_bytes(root, rel, content, strlen(content));
}

/* Copies tests/data/rel to root/dst. */
static inline void fixture_copy_data_file(const char *rel, const char *root, const char *dst)
{
        _cleanup_free_ char *path = fixture_data_path(rel);
        _cleanup_free_ char *buf = NULL;

        assert_int_equal(fl_read_file(path, 1 << 20, &buf, NULL), 0);
        fixture_write_file(root, dst, buf);
}

/* nftw() passes no user data: the copy in progress is kept here. */
struct fixture_copy {
        const char *src;
        const char *dst;
};

static inline struct fixture_copy *fixture_copy_state(void)
{
        static struct fixture_copy c;
        return &c;
}

static inline int fixture_copy_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        const struct fixture_copy *c = fixture_copy_state();
        _cleanup_free_ char *dst = fl_asprintf("%s%s", c->dst, path + strlen(c->src));

        (void)ftw;
        switch (flag) {
        case FTW_D:
                if (fl_mkdir_p(dst, 0755) < 0)
                        fail_msg("could not create \"%s\": %s", dst, strerror(errno));
                return 0;
        case FTW_F: {
                _cleanup_free_ char *buf = NULL;
                _cleanup_close_ int fd = -1;
                size_t len = 0;

                assert_int_equal(fl_read_file(path, 16 << 20, &buf, &len), 0);
                fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st->st_mode & 07777);
                if (fd < 0)
                        fail_msg("could not open \"%s\": %s", dst, strerror(errno));
                assert_int_equal(write(fd, buf, len), (ssize_t)len);
                return 0;
        }
        case FTW_SL: {
                char target[PATH_MAX];
                ssize_t n = readlink(path, target, sizeof(target) - 1);

                assert_true(n > 0);
                target[n] = '\0';
                /* An overlay may replace what the tree below already has. */
                (void)unlink(dst);
                if (symlink(target, dst) < 0)
                        fail_msg("could not create \"%s\": %s", dst, strerror(errno));
                return 0;
        }
        default:
                fail_msg("cannot copy \"%s\" (nftw flag %d)", path, flag);
        }
        return -1;
}

/* Copies the tree at src over dst as `cp -a SRC/. DST/` does: directories
 * merged, files overwritten in place (same inode, so that descriptors kept
 * open see the new content), symlinks recreated as links (FTW_PHYS). */
static inline void fixture_copy_tree(const char *src, const char *dst)
{
        struct fixture_copy *c = fixture_copy_state();

        c->src = src;
        c->dst = dst;
        assert_int_equal(nftw(src, fixture_copy_entry, 32, FTW_PHYS), 0);
        c->src = c->dst = NULL;
}
