/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"

#define S(x) ((uint64_t)(x)*1000000u)

/* A scratch directory for configuration files written by the tests. */
struct fixture {
        char dir[64];
        char *path; /* dir/collector.conf */
};

static int setup(void **state)
{
        struct fixture *f = fl_new0(struct fixture, 1);
        const char *tmp = getenv("TMPDIR");

        snprintf(f->dir, sizeof(f->dir), "%s/fl-collector-config-XXXXXX", tmp && strlen(tmp) < 30 ? tmp : "/tmp");
        if (!mkdtemp(f->dir))
                return -1;
        f->path = fl_asprintf("%s/collector.conf", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        unlink(f->path);
        rmdir(f->dir);
        free(f->path);
        free(f);
        return 0;
}

static void write_text(const char *path, const char *text)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

static void load_data(const char *name, struct fl_collector_config *c)
{
        _cleanup_free_ char *path = fl_asprintf("%s/config/%s", fixture_data_dir(), name);
        _cleanup_free_ char *err = NULL;
        int r;

        r = fl_collector_config_load(c, path, &err);
        if (r < 0)
                fail_msg("loading \"%s\" failed (%d): %s", path, r, err ? err : "no message");
        assert_null(err);
}

/* Everything but the database at its default. */
static void assert_defaults_except_database(const struct fl_collector_config *c)
{
        char host[256] = "";

        assert_int_equal(c->listen.n, 1);
        assert_string_equal(c->listen.v[0], "tcp://127.0.0.1:7411");
        assert_null(c->listen.v[1]);
        assert_string_equal(c->key_file, "/etc/faultline/collector.key");
        /* a collector is named after its host unless told otherwise */
        assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
        assert_string_equal(c->name, host);
        assert_true(c->max_message_bytes == UINT64_C(4) << 20);
        assert_true(c->queue_max_batches == 4096);
        assert_true(c->queue_max_bytes == UINT64_C(256) << 20);
        assert_true(c->group_max_samples == 200000);
        assert_true(c->group_max_batches == 2000);
        assert_true(c->retention_days == 30);
        assert_true(c->key_refresh_us == S(10));
        assert_int_equal(c->log_level, FL_LOG_INFO);
}

/* Good files */

static void test_defaults(void **state)
{
        struct fl_collector_config c;

        (void)state;
        fl_collector_config_defaults(&c);
        assert_defaults_except_database(&c);
        assert_string_equal(c.database, "");
        fl_collector_config_free(&c);
        assert_null(c.name);
        fl_collector_config_free(&c);
}

static void test_full(void **state)
{
        struct fl_collector_config c;

        (void)state;
        fl_collector_config_defaults(&c);
        load_data("collector-full.conf", &c);

        assert_string_equal(c.name, "c2");
        /* the list replaces the default listener */
        assert_int_equal(c.listen.n, 2);
        assert_string_equal(c.listen.v[0], "tcp://0.0.0.0:7411");
        assert_string_equal(c.listen.v[1], "ipc:///run/faultline/collector.sock");
        assert_null(c.listen.v[2]);
        assert_string_equal(c.database, "host=/run/postgresql dbname=faultline");
        assert_string_equal(c.key_file, "/srv/faultline/collector.key");
        assert_true(c.max_message_bytes == 8388608);
        assert_true(c.retention_days == 400);
        assert_true(c.key_refresh_us == S(30));
        assert_int_equal(c.log_level, FL_LOG_WARNING);
        assert_true(c.queue_max_batches == 100);
        assert_true(c.queue_max_bytes == UINT64_C(1) << 30);
        assert_true(c.group_max_samples == 500000);
        assert_true(c.group_max_batches == 50);
        fl_collector_config_free(&c);
}

static void test_minimal(void **state)
{
        struct fl_collector_config c;

        (void)state;
        fl_collector_config_defaults(&c);
        load_data("collector-minimal.conf", &c);
        assert_string_equal(c.database, "dbname=faultline");
        assert_defaults_except_database(&c);
        fl_collector_config_free(&c);
}

static void test_values(void **state)
{
        static const struct {
                const char *text;
                size_t offset;
                uint64_t want;
        } cases[] = {
                { "key_refresh = 1;", offsetof(struct fl_collector_config, key_refresh_us), S(1) },
                { "key_refresh = 3600;", offsetof(struct fl_collector_config, key_refresh_us), S(3600) },
                { "key_refresh = 1.25;", offsetof(struct fl_collector_config, key_refresh_us), 1250000 },
                { "retention_days = 36500;", offsetof(struct fl_collector_config, retention_days), 36500 },
                { "queue = { max_batches = 1; };", offsetof(struct fl_collector_config, queue_max_batches), 1 },
                { "queue = { max_bytes = 1099511627776L; };", offsetof(struct fl_collector_config, queue_max_bytes),
                  UINT64_C(1) << 40 },
                { "group = { max_samples = 100000000; };", offsetof(struct fl_collector_config, group_max_samples),
                  100000000 },
                { "max_message_bytes = 4096;", offsetof(struct fl_collector_config, max_message_bytes), 4096 },
        };
        struct fixture *f = *state;

        for (size_t i = 0; i < FL_ARRAY_SIZE(cases); i++) {
                struct fl_collector_config c;
                _cleanup_free_ char *err = NULL;
                uint64_t got;

                write_text(f->path, cases[i].text);
                fl_collector_config_defaults(&c);
                if (fl_collector_config_load(&c, f->path, &err) < 0)
                        fail_msg("\"%s\": %s", cases[i].text, err);
                memcpy(&got, (char *)&c + cases[i].offset, sizeof(got));
                if (got != cases[i].want)
                        fail_msg("\"%s\": got %llu, expected %llu", cases[i].text, (unsigned long long)got,
                                 (unsigned long long)cases[i].want);
                fl_collector_config_free(&c);
        }
}

static void test_single_listen(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *err = NULL;
        struct fl_collector_config c;

        write_text(f->path, "listen = \"tcp://[::1]:7411\";\n");
        fl_collector_config_defaults(&c);
        assert_int_equal(fl_collector_config_load(&c, f->path, &err), 0);
        assert_int_equal(c.listen.n, 1);
        assert_string_equal(c.listen.v[0], "tcp://[::1]:7411");
        fl_collector_config_free(&c);
}

/* Errors: every message names the file and the line */

static const struct {
        const char *text;
        const char *error; /* the message after "FILE:" */
} error_cases[] = {
        { "name = \"c1\";\nretention_days = 30 days;\n", "2: syntax error: syntax error" },
        { "name = \"c1\";\n\nname = \"c2\";\n", "3: syntax error: duplicate setting name" },
        { "name = \"c1\";\nretention_day = 30;\n", "2: unknown setting \"retention_day\"" },
        { "queue = {\n        max_batches = 10;\n        max_byte = 100000;\n};\n",
          "3: unknown setting \"queue.max_byte\"" },
        { "retention_days = \"30\";\n", "1: \"retention_days\" must be an integer between 1 and 36500" },
        { "database = 5432;\n", "1: \"database\" must be a string, not an integer" },
        { "key_refresh = \"10s\";\n", "1: \"key_refresh\" must be a number of seconds between 1 and 3600" },
        { "key_refresh = 0;\n", "1: \"key_refresh\" is out of range: must be between 1 and 3600 seconds" },
        { "retention_days = 0;\n", "1: \"retention_days\" is out of range: must be between 1 and 36500" },
        { "group = { max_batches = 1000001; };\n",
          "1: \"group.max_batches\" is out of range: must be between 1 and 1000000" },
        { "max_message_bytes = 1073741825;\n",
          "1: \"max_message_bytes\" is out of range: must be between 4096 and 1073741824" },
        { "log_level = \"trace\";\n", "1: \"log_level\" must be one of: error, warning, info, debug" },
        { "listen = (\n        \"tcp://a:1\",\n        true\n);\n",
          "3: \"listen\" must hold strings only, not a boolean" },
        { "listen = { address = \"tcp://a:1\"; };\n",
          "1: \"listen\" must be a list of strings [\"...\", ...], not a group" },
        { "name = { short = \"c1\"; };\n", "1: \"name\" must be a string, not a group" },
        { "queue = 100;\n", "1: \"queue\" must be a group { ... }, not an integer" },
};

static void test_errors(void **state)
{
        struct fixture *f = *state;

        for (size_t i = 0; i < FL_ARRAY_SIZE(error_cases); i++) {
                _cleanup_free_ char *want = fl_asprintf("%s:%s", f->path, error_cases[i].error);
                char *err = NULL;
                struct fl_collector_config c;
                int r;

                write_text(f->path, error_cases[i].text);
                fl_collector_config_defaults(&c);
                r = fl_collector_config_load(&c, f->path, &err);
                if (r != -EINVAL || !err || strcmp(err, want) != 0)
                        fail_msg("case %zu:\n%s\ngave %d \"%s\"\nexpected \"%s\"", i, error_cases[i].text, r,
                                 err ? err : "(no message)", want);
                free(err);
                fl_collector_config_free(&c);
        }
}

static void test_missing_file(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *path = fl_asprintf("%s/nowhere/collector.conf", f->dir);
        _cleanup_free_ char *want = NULL;
        _cleanup_free_ char *err = NULL;
        struct fl_collector_config c;

        want = fl_asprintf("could not open configuration file \"%s\": No such file or directory", path);
        fl_collector_config_defaults(&c);
        assert_int_equal(fl_collector_config_load(&c, path, &err), -ENOENT);
        assert_non_null(err);
        assert_string_equal(err, want);
        assert_string_equal(c.database, "");
        assert_defaults_except_database(&c);
        fl_collector_config_free(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_minimal),
                cmocka_unit_test_setup_teardown(test_values, setup, teardown),
                cmocka_unit_test_setup_teardown(test_single_listen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
