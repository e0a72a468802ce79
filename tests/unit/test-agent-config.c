/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "config.h"
#include "log.h"

#define S(x) ((uint64_t)(x)*1000000u)

/* A scratch directory for configuration files written by the tests. */
struct fixture {
        char dir[64];
        char *path; /* dir/agent.conf */
};

static int setup(void **state)
{
        struct fixture *f = fl_new0(struct fixture, 1);
        const char *tmp = getenv("TMPDIR");

        snprintf(f->dir, sizeof(f->dir), "%s/fl-agent-config-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
        if (!mkdtemp(f->dir))
                return -1;
        f->path = fl_asprintf("%s/agent.conf", f->dir);
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

/* Loads a file from tests/data/config over the defaults; fails the test
 * on any error. */
static void load_data(const char *name, struct fl_agent_config *c)
{
        _cleanup_free_ char *path = fl_asprintf("%s/config/%s", fixture_data_dir(), name);
        _cleanup_free_ char *err = NULL;
        int r;

        r = fl_agent_config_load(c, path, &err);
        if (r < 0)
                fail_msg("loading \"%s\" failed (%d): %s", path, r, err ? err : "no message");
        assert_null(err);
}

static void assert_defaults_except_collector(const struct fl_agent_config *c)
{
        assert_null(c->hostname);
        assert_true(c->interval_us == S(10));
        assert_string_equal(c->state_dir, "/var/lib/faultline-agent");
        assert_string_equal(c->key_file, "/etc/faultline/agent.key");
        assert_true(c->ack_timeout_us == S(5));
        assert_true(c->spool_max_bytes == UINT64_C(256) << 20);
        assert_true(c->max_message_bytes == UINT64_C(4) << 20);
        assert_true(c->inventory_every == 360);
        assert_string_equal(c->rootfs, "/");
        assert_null(c->procfs);
        assert_null(c->sysfs);
        assert_null(c->devfs);
        assert_int_equal(c->log_level, FL_LOG_INFO);
}

/* Good files */

static void test_defaults(void **state)
{
        struct fl_agent_config c;

        (void)state;
        fl_agent_config_defaults(&c);
        assert_defaults_except_collector(&c);
        assert_int_equal(c.endpoints.n, 0);
        assert_null(c.endpoints.v);
        assert_null(c.collector_public_key);
        fl_agent_config_free(&c);
        /* free leaves a state that can be freed again */
        assert_null(c.state_dir);
        fl_agent_config_free(&c);
}

static void test_full(void **state)
{
        struct fl_agent_config c;

        (void)state;
        fl_agent_config_defaults(&c);
        load_data("agent-full.conf", &c);

        assert_string_equal(c.hostname, "web-01.example");
        assert_true(c.interval_us == 2500000);
        assert_string_equal(c.state_dir, "/srv/faultline/state");
        assert_string_equal(c.key_file, "/srv/faultline/agent.key");
        assert_true(c.inventory_every == 60);
        assert_int_equal(c.log_level, FL_LOG_DEBUG);

        assert_int_equal(c.endpoints.n, 2);
        assert_string_equal(c.endpoints.v[0], "tcp://10.0.0.1:7411");
        assert_string_equal(c.endpoints.v[1], "tcp://10.0.0.2:7411");
        assert_null(c.endpoints.v[2]);
        assert_string_equal(c.collector_public_key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        assert_true(c.ack_timeout_us == 500000);
        assert_true(c.max_message_bytes == 1048576);

        assert_true(c.spool_max_bytes == UINT64_C(1) << 40);

        assert_string_equal(c.rootfs, "/host");
        assert_string_equal(c.procfs, "/host/proc");
        assert_string_equal(c.sysfs, "/host/sys");
        assert_string_equal(c.devfs, "/host/dev");
        fl_agent_config_free(&c);
}

static void test_minimal(void **state)
{
        struct fl_agent_config c;

        (void)state;
        fl_agent_config_defaults(&c);
        load_data("agent-minimal.conf", &c);
        assert_defaults_except_collector(&c);
        /* a single string is a list of one */
        assert_int_equal(c.endpoints.n, 1);
        assert_string_equal(c.endpoints.v[0], "tcp://collector.example:7411");
        assert_null(c.endpoints.v[1]);
        assert_string_equal(c.collector_public_key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        fl_agent_config_free(&c);
}

/* A second file overrides the first: lists are replaced, not appended to. */
static void test_load_over(void **state)
{
        struct fl_agent_config c;

        (void)state;
        fl_agent_config_defaults(&c);
        load_data("agent-full.conf", &c);
        load_data("agent-minimal.conf", &c);
        assert_int_equal(c.endpoints.n, 1);
        assert_string_equal(c.endpoints.v[0], "tcp://collector.example:7411");
        /* untouched by the second file */
        assert_string_equal(c.hostname, "web-01.example");
        assert_true(c.interval_us == 2500000);
        fl_agent_config_free(&c);
}

static void test_values(void **state)
{
        static const struct {
                const char *text;
                size_t offset;
                uint64_t want;
        } cases[] = {
                { "interval = 0.1;", offsetof(struct fl_agent_config, interval_us), 100000 },
                { "interval = 86400;", offsetof(struct fl_agent_config, interval_us), S(86400) },
                { "interval = 3;", offsetof(struct fl_agent_config, interval_us), S(3) },
                { "collector = { ack_timeout = 3600; };", offsetof(struct fl_agent_config, ack_timeout_us), S(3600) },
                { "collector = { max_message_bytes = 4096; };", offsetof(struct fl_agent_config, max_message_bytes),
                  4096 },
                { "collector = { max_message_bytes = 1073741824; };",
                  offsetof(struct fl_agent_config, max_message_bytes), UINT64_C(1) << 30 },
                { "spool = { max_bytes = 65536; };", offsetof(struct fl_agent_config, spool_max_bytes), 65536 },
                { "spool = { max_bytes = 1099511627776L; };", offsetof(struct fl_agent_config, spool_max_bytes),
                  UINT64_C(1) << 40 },
                /* a whole number written as a float is still a whole number */
                { "inventory_every = 1000000.0;", offsetof(struct fl_agent_config, inventory_every), 1000000 },
                { "inventory_every = 0x10;", offsetof(struct fl_agent_config, inventory_every), 16 },
        };
        struct fixture *f = *state;

        for (size_t i = 0; i < FL_ARRAY_SIZE(cases); i++) {
                struct fl_agent_config c;
                _cleanup_free_ char *err = NULL;
                uint64_t got;

                write_text(f->path, cases[i].text);
                fl_agent_config_defaults(&c);
                if (fl_agent_config_load(&c, f->path, &err) < 0)
                        fail_msg("\"%s\": %s", cases[i].text, err);
                memcpy(&got, (char *)&c + cases[i].offset, sizeof(got));
                if (got != cases[i].want)
                        fail_msg("\"%s\": got %" PRIu64 ", expected %" PRIu64, cases[i].text, got, cases[i].want);
                fl_agent_config_free(&c);
        }
}

/*
 * Integers past 32 bits without the L suffix: libconfig before 1.7 keeps
 * only their low 32 bits. Such a value must load as written or be refused,
 * never become another number that happens to be in range (5000000000 is
 * 705032704 modulo 2^32).
 */
static void test_large_integers(void **state)
{
        static const struct {
                const char *text;
                size_t offset;
                uint64_t want;
        } cases[] = {
                { "spool = { max_bytes = 5000000000; };", offsetof(struct fl_agent_config, spool_max_bytes),
                  UINT64_C(5000000000) },
                { "spool = { max_bytes = 4295032832; };", offsetof(struct fl_agent_config, spool_max_bytes),
                  UINT64_C(4295032832) },
                { "inventory_every = 4294967297;", offsetof(struct fl_agent_config, inventory_every),
                  UINT64_C(4294967297) },
        };
        struct fixture *f = *state;

        for (size_t i = 0; i < FL_ARRAY_SIZE(cases); i++) {
                struct fl_agent_config c;
                _cleanup_free_ char *err = NULL;
                uint64_t got;
                int r;

                write_text(f->path, cases[i].text);
                fl_agent_config_defaults(&c);
                r = fl_agent_config_load(&c, f->path, &err);
                memcpy(&got, (char *)&c + cases[i].offset, sizeof(got));
                if (r == 0 && got != cases[i].want)
                        fail_msg("\"%s\" loaded as %" PRIu64 " without an error", cases[i].text, got);
                if (r < 0 && !err)
                        fail_msg("\"%s\" refused without a message", cases[i].text);
                fl_agent_config_free(&c);
        }
}

static void test_log_levels(void **state)
{
        static const char *const names[] = { "error", "warning", "info", "debug" };
        static const int levels[] = { FL_LOG_ERROR, FL_LOG_WARNING, FL_LOG_INFO, FL_LOG_DEBUG };
        struct fixture *f = *state;

        for (size_t i = 0; i < FL_ARRAY_SIZE(names); i++) {
                _cleanup_free_ char *text = fl_asprintf("log_level = \"%s\";\n", names[i]);
                _cleanup_free_ char *err = NULL;
                struct fl_agent_config c;

                write_text(f->path, text);
                fl_agent_config_defaults(&c);
                c.log_level = -1;
                assert_int_equal(fl_agent_config_load(&c, f->path, &err), 0);
                assert_int_equal(c.log_level, levels[i]);
                fl_agent_config_free(&c);
        }
}

static void test_empty_file(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *err = NULL;
        struct fl_agent_config c;

        write_text(f->path, "# nothing here\n\n");
        fl_agent_config_defaults(&c);
        assert_int_equal(fl_agent_config_load(&c, f->path, &err), 0);
        assert_null(err);
        assert_defaults_except_collector(&c);
        assert_int_equal(c.endpoints.n, 0);
        fl_agent_config_free(&c);
}

/* Errors: every message names the file and the line */

static const struct {
        const char *text;
        const char *error; /* the message after "FILE:" */
} error_cases[] = {
        /* syntax, reported by libconfig */
        { "interval = 5;\n\ncollector = {\n        endpoints = [ \"a\", ;\n};\n", "4: syntax error: syntax error" },
        { "interval = 5;\ninterval = 6;\n", "2: syntax error: duplicate setting name" },
        { "collector = {\n        endpoints = [ \"tcp://a:1\", 7411 ];\n};\n",
          "2: syntax error: mismatched element type in array" },
        /* unknown settings, at the top and in a group */
        { "# a comment\ninterval = 5;\nintervall = 5;\n", "3: unknown setting \"intervall\"" },
        { "collector = {\n        endpoints = \"tcp://a:1\";\n        ack_timout = 1;\n};\n",
          "3: unknown setting \"collector.ack_timout\"" },
        { "paths = {\n        rootfs = \"/\";\n        extra = { a = 1; };\n};\n",
          "3: unknown setting \"paths.extra\"" },
        { "spool_max_bytes = 100000;\n", "1: unknown setting \"spool_max_bytes\"" },
        /* wrong type */
        { "hostname = \"h\";\ninterval = \"10\";\n",
          "2: \"interval\" must be a number of seconds between 0.1 and 86400" },
        { "hostname = 5;\n", "1: \"hostname\" must be a string, not an integer" },
        { "state_dir = true;\n", "1: \"state_dir\" must be a string, not a boolean" },
        { "inventory_every = \"60\";\n", "1: \"inventory_every\" must be an integer between 1 and 1000000" },
        { "inventory_every = 1.5;\n", "1: \"inventory_every\" must be an integer between 1 and 1000000" },
        { "collector = {\n        endpoints = 7411;\n};\n",
          "2: \"collector.endpoints\" must be a list of strings [\"...\", ...], not an integer" },
        /* the value on the next line: the line of the setting */
        { "collector = {\n        public_key =\n                5;\n};\n",
          "2: \"collector.public_key\" must be a string, not an integer" },
        /* out of range */
        { "interval = 0;\n", "1: \"interval\" is out of range: must be between 0.1 and 86400 seconds" },
        { "interval = 0.09;\n", "1: \"interval\" is out of range: must be between 0.1 and 86400 seconds" },
        { "interval = -5;\n", "1: \"interval\" is out of range: must be between 0.1 and 86400 seconds" },
        { "\n\ninterval = 86401;\n", "3: \"interval\" is out of range: must be between 0.1 and 86400 seconds" },
        { "inventory_every = 0;\n", "1: \"inventory_every\" is out of range: must be between 1 and 1000000" },
        { "inventory_every = -1;\n", "1: \"inventory_every\" is out of range: must be between 1 and 1000000" },
        { "spool = { max_bytes = 1099511627777L; };\n",
          "1: \"spool.max_bytes\" is out of range: must be between 65536 and 1099511627776" },
        { "collector = { max_message_bytes = 4095; };\n",
          "1: \"collector.max_message_bytes\" is out of range: must be between 4096 and 1073741824" },
        { "collector = { ack_timeout = 3601; };\n",
          "1: \"collector.ack_timeout\" is out of range: must be between 0.1 and 3600 seconds" },
        /* enum */
        { "log_level = \"verbose\";\n", "1: \"log_level\" must be one of: error, warning, info, debug" },
        { "log_level = \"DEBUG\";\n", "1: \"log_level\" must be one of: error, warning, info, debug" },
        { "log_level = 3;\n", "1: \"log_level\" must be one of: error, warning, info, debug" },
        /* a list holding something else than strings */
        { "collector = {\n        endpoints = (\n                \"tcp://a:1\",\n                7411\n        "
          ");\n};\n",
          "4: \"collector.endpoints\" must hold strings only, not an integer" },
        { "collector = {\n        endpoints = ( \"tcp://a:1\", [ \"tcp://b:1\" ] );\n};\n",
          "2: \"collector.endpoints\" must hold strings only, not an array" },
        /* a group where a value is expected, and the other way round */
        { "interval = {\n        seconds = 5;\n};\n",
          "1: \"interval\" must be a number of seconds between 0.1 and 86400" },
        { "hostname = { name = \"h\"; };\n", "1: \"hostname\" must be a string, not a group" },
        { "log_level = { level = \"info\"; };\n", "1: \"log_level\" must be one of: error, warning, info, debug" },
        { "\nspool = 5;\n", "2: \"spool\" must be a group { ... }, not an integer" },
        { "collector = ( \"tcp://a:1\" );\n", "1: \"collector\" must be a group { ... }, not a list" },
};

static void test_errors(void **state)
{
        struct fixture *f = *state;

        for (size_t i = 0; i < FL_ARRAY_SIZE(error_cases); i++) {
                _cleanup_free_ char *want = fl_asprintf("%s:%s", f->path, error_cases[i].error);
                char *err = NULL;
                struct fl_agent_config c;
                int r;

                write_text(f->path, error_cases[i].text);
                fl_agent_config_defaults(&c);
                r = fl_agent_config_load(&c, f->path, &err);
                if (r != -EINVAL || !err || strcmp(err, want) != 0)
                        fail_msg("case %zu:\n%s\ngave %d \"%s\"\nexpected \"%s\"", i, error_cases[i].text, r,
                                 err ? err : "(no message)", want);
                free(err);
                fl_agent_config_free(&c);
        }
}

static void test_missing_file(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *path = fl_asprintf("%s/does-not-exist.conf", f->dir);
        _cleanup_free_ char *want = NULL;
        _cleanup_free_ char *err = NULL;
        struct fl_agent_config c;

        want = fl_asprintf("could not open configuration file \"%s\": No such file or directory", path);
        fl_agent_config_defaults(&c);
        assert_int_equal(fl_agent_config_load(&c, path, &err), -ENOENT);
        assert_non_null(err);
        assert_string_equal(err, want);
        /* nothing changed */
        assert_defaults_except_collector(&c);
        fl_agent_config_free(&c);
}

/* Reached when something in the child calls exit(): report it as such
 * before a sanitizer's exit hooks can change the status. */
static void exited_from_library(void)
{
        _exit(6);
}

/*
 * A path that names a directory (an easy slip: -c /etc/faultline) must be
 * refused with a message naming it, like any unreadable file. It runs in a
 * child process because a failure here may take the process down.
 */
static void test_directory(void **state)
{
        struct fixture *f = *state;
        int status = 0;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                _cleanup_free_ char *quoted = fl_asprintf("\"%s\"", f->dir);
                char *err = NULL;
                struct fl_agent_config c;
                int r;

                /* libconfig's scanner complains on stderr */
                if (!freopen("/dev/null", "w", stderr) || atexit(exited_from_library) != 0)
                        _exit(5);
                fl_agent_config_defaults(&c);
                r = fl_agent_config_load(&c, f->dir, &err);
                if (r >= 0)
                        _exit(3);
                if (!err || !strstr(err, quoted))
                        _exit(4);
                _exit(0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status))
                fail_msg("loading a directory killed the process with signal %d", WTERMSIG(status));
        switch (WEXITSTATUS(status)) {
        case 0:
                break;
        case 3:
                fail_msg("loading a directory succeeded");
        case 4:
                fail_msg("the error for a directory does not name it");
        case 6:
                fail_msg("loading a directory exited the process (libconfig: \"input in flex scanner failed\")");
        default:
                fail_msg("child exited with %d", WEXITSTATUS(status));
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_minimal),
                cmocka_unit_test(test_load_over),
                cmocka_unit_test_setup_teardown(test_values, setup, teardown),
                cmocka_unit_test_setup_teardown(test_large_integers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_log_levels, setup, teardown),
                cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_directory, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
