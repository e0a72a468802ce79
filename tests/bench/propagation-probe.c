/* SPDX-License-Identifier: MIT */
/*
 * propagation-probe: the client side of the propagation benchmark
 * (tests/bench/propagation). One libpq connection, no psql in the timed
 * path, CLOCK_MONOTONIC around every step.
 *
 *   propagation-probe burst --database C --changes FILE [--batch 100]
 *                     --sentinel SERVICE [--timeout 600]
 *       FILE: "key state" lines, sent as UPDATEs of --batch rows each, one
 *       transaction each, as fast as the server takes them. The last line
 *       is a sentinel disk under SERVICE: when SERVICE turns critical the
 *       leader has written the round that held the last batch, so every
 *       earlier round too. A batch that loses a deadlock is sent again.
 *       Prints "RESULT changes=.. batches=.. retries=.. submit_s=..
 *       done_s=.." (from the first UPDATE sent).
 *
 *   propagation-probe latency --database C --pairs FILE [--timeout 10]
 *                     [--max-seconds S]
 *       FILE: "disk service" lines. For each: the disk turns critical
 *       (UPDATE, committed), then polls the service's effective state
 *       until it is not ok, then root_cause_of(service) until it names
 *       the disk; then the disk is repaired and the service waited for,
 *       untimed. Prints "SAMPLE eff_us=.. rc_us=.." per pair, from the
 *       commit of the UPDATE. --max-seconds: no new pair after that.
 *
 *   propagation-probe query --database C --function root_cause_of|impact_of
 *                     --key KEY [--count 200] [--max-seconds S]
 *       Times the function for KEY, each call its own transaction as a
 *       client would run it. Prints "SAMPLE us=.. rows=..". --max-seconds:
 *       no new call after that.
 *
 * Exit status 0, 1 when a wait timed out, 2 on bad usage or a database
 * error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define POLL_SLEEP_US 200

static PGconn *conn;

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        fputs("propagation-probe: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        if (conn)
                PQfinish(conn);
        conn = NULL;
        return 2;
}

static double elapsed_s(uint64_t since_us)
{
        return (double)(fl_mono_us() - since_us) / 1e6;
}

/* Runs a parameterised statement; NULL (and a message) on error. The
 * caller clears the result. */
static PGresult *run(const char *sql, int n, const char *const *params)
{
        PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(r);

        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                fprintf(stderr, "propagation-probe: %s", PQerrorMessage(conn));
                PQclear(r);
                return NULL;
        }
        return r;
}

/* A batch that lost a deadlock (or a serialisation failure) is sent
 * again, as an agent resends a batch whose commit failed; any other error
 * is fatal. Returns false on a fatal error. */
static bool run_retrying(const char *sql, int n, const char *const *params, size_t *retries)
{
        for (;;) {
                PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
                ExecStatusType st = PQresultStatus(r);
                const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                bool retry =
                        st == PGRES_FATAL_ERROR && code && (strcmp(code, "40P01") == 0 || strcmp(code, "40001") == 0);

                if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                        PQclear(r);
                        return true;
                }
                if (!retry)
                        fprintf(stderr, "propagation-probe: %s", PQerrorMessage(conn));
                PQclear(r);
                if (!retry)
                        return false;
                (*retries)++;
        }
}

/* The first column of the first row, copied into buf ("" when none). */
static bool first_value(const char *sql, int n, const char *const *params, char *buf, size_t len)
{
        PGresult *r = run(sql, n, params);

        if (!r)
                return false;
        snprintf(buf, len, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
        PQclear(r);
        return true;
}

struct pair {
        char *a, *b;
};

/* Reads "word word" lines. */
static int read_pairs(const char *path, struct pair **ret, size_t *ret_n)
{
        FILE *f = fopen(path, "re");
        struct pair *v = NULL;
        size_t n = 0, cap = 0;
        char line[1024];

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                char *save = NULL;
                char *a = strtok_r(line, " \t\n", &save);
                char *b = a ? strtok_r(NULL, " \t\n", &save) : NULL;
                if (!a || !b)
                        continue;
                v = fl_grow(v, &cap, n + 1, sizeof(*v));
                v[n++] = (struct pair){ fl_strdup(a), fl_strdup(b) };
        }
        fclose(f);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* Appends s to a text[] literal that starts with "{", quoted. */
static void array_add(char **buf, size_t *len, size_t *cap, const char *s)
{
        *buf = fl_grow(*buf, cap, *len + 2 * strlen(s) + 5, 1);
        if (*len > 1)
                (*buf)[(*len)++] = ',';
        (*buf)[(*len)++] = '"';
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        (*buf)[(*len)++] = '\\';
                (*buf)[(*len)++] = *s;
        }
        (*buf)[(*len)++] = '"';
        (*buf)[*len] = '\0';
}

static int cmd_burst(const char *changes, size_t batch, const char *sentinel, double timeout)
{
        struct pair *v = NULL;
        size_t n = 0, batches = 0, retries = 0;
        char state[64];

        if (read_pairs(changes, &v, &n) < 0 || n == 0)
                return die("could not read changes from \"%s\"", changes);
        uint64_t t0 = fl_mono_us();
        for (size_t i = 0; i < n; i += batch) {
                size_t m = FL_MIN(batch, n - i);
                size_t kl = 1, kc = 0, sl = 1, sc = 0;
                char *keys = NULL, *states = NULL;
                keys = fl_grow(keys, &kc, 2, 1);
                states = fl_grow(states, &sc, 2, 1);
                keys[0] = states[0] = '{';
                for (size_t j = 0; j < m; j++) {
                        array_add(&keys, &kl, &kc, v[i + j].a);
                        array_add(&states, &sl, &sc, v[i + j].b);
                }
                keys = fl_grow(keys, &kc, kl + 2, 1);
                states = fl_grow(states, &sc, sl + 2, 1);
                memcpy(keys + kl, "}", 2);
                memcpy(states + sl, "}", 2);
                const char *params[2] = { keys, states };
                bool ok = run_retrying("UPDATE faultline.nodes n SET own_state = v.s::faultline.state,"
                                       " reason = 'propagation benchmark', since = now()"
                                       " FROM unnest($1::text[], $2::text[]) AS v (k, s) WHERE n.key = v.k",
                                       2, params, &retries);
                free(keys);
                free(states);
                if (!ok)
                        return die("a batch failed");
                batches++;
        }
        double submit = elapsed_s(t0);
        const char *params[1] = { sentinel };
        for (;;) {
                if (!first_value("SELECT effective_state::text FROM faultline.nodes WHERE key = $1", 1, params, state,
                                 sizeof(state)))
                        return die("polling the sentinel failed");
                if (strcmp(state, "critical") == 0)
                        break;
                if (elapsed_s(t0) > timeout) {
                        fprintf(stderr, "propagation-probe: the sentinel %s is still %s after %.0f s\n", sentinel,
                                state, timeout);
                        return 1;
                }
                usleep(POLL_SLEEP_US);
        }
        double done = elapsed_s(t0);
        printf("RESULT changes=%zu batches=%zu retries=%zu submit_s=%.6f done_s=%.6f\n", n, batches, retries, submit,
               done);
        return 0;
}

/* Polls sql(params) until its first value equals want; the time of the
 * reply that did, or 0 on timeout or error. */
static uint64_t poll_until(const char *sql, int np, const char *const *params, const char *want, uint64_t deadline)
{
        char got[256];

        for (;;) {
                if (!first_value(sql, np, params, got, sizeof(got)))
                        return 0;
                uint64_t t = fl_mono_us();
                if (strcmp(got, want) == 0)
                        return t;
                if (t > deadline)
                        return 0;
                usleep(POLL_SLEEP_US);
        }
}

static int cmd_latency(const char *pairs, double timeout, double max_seconds)
{
        struct pair *v = NULL;
        size_t n = 0;
        uint64_t start = fl_mono_us();

        if (read_pairs(pairs, &v, &n) < 0 || n == 0)
                return die("could not read pairs from \"%s\"", pairs);
        for (size_t i = 0; i < n && elapsed_s(start) < max_seconds; i++) {
                const char *disk[1] = { v[i].a }, *svc[1] = { v[i].b }, *both[2] = { v[i].b, v[i].a };
                PGresult *r = run("UPDATE faultline.nodes SET own_state = 'critical', reason = 'latency probe',"
                                  " since = now() WHERE key = $1",
                                  1, disk);
                if (!r)
                        return die("failing %s failed", v[i].a);
                PQclear(r);
                uint64_t t0 = fl_mono_us(), deadline = t0 + (uint64_t)(timeout * 1e6);
                uint64_t t_eff = poll_until("SELECT effective_state <> 'ok' FROM faultline.nodes WHERE key = $1", 1,
                                            svc, "t", deadline);
                uint64_t t_rc = t_eff ? poll_until("SELECT count(*) FROM faultline.root_cause_of($1)"
                                                   " WHERE cause_key = $2",
                                                   2, both, "1", deadline)
                                      : 0;
                if (!t_eff || !t_rc) {
                        fprintf(stderr, "propagation-probe: %s did not show %s as its cause within %.0f s\n", v[i].b,
                                v[i].a, timeout);
                        return 1;
                }
                printf("SAMPLE eff_us=%" PRIu64 " rc_us=%" PRIu64 "\n", t_eff - t0, t_rc - t0);
                fflush(stdout);
                r = run("UPDATE faultline.nodes SET own_state = 'ok', reason = NULL, since = now() WHERE key = $1", 1,
                        disk);
                if (!r)
                        return die("repairing %s failed", v[i].a);
                PQclear(r);
                deadline = fl_mono_us() + (uint64_t)(timeout * 1e6);
                if (!poll_until("SELECT effective_state::text FROM faultline.nodes WHERE key = $1", 1, svc, "ok",
                                deadline)) {
                        fprintf(stderr, "propagation-probe: %s did not recover\n", v[i].b);
                        return 1;
                }
        }
        return 0;
}

static int cmd_query(const char *function, const char *key, long count, double max_seconds)
{
        uint64_t start = fl_mono_us();

        const char *sql;
        const char *params[1] = { key };

        if (strcmp(function, "root_cause_of") == 0)
                sql = "SELECT * FROM faultline.root_cause_of($1)";
        else if (strcmp(function, "impact_of") == 0)
                sql = "SELECT * FROM faultline.impact_of($1)";
        else
                return die("unknown function \"%s\"", function);
        for (long i = 0; i < count && elapsed_s(start) < max_seconds; i++) {
                uint64_t t0 = fl_mono_us();
                PGresult *r = run(sql, 1, params);
                uint64_t t1 = fl_mono_us();
                if (!r)
                        return die("%s failed", function);
                printf("SAMPLE us=%" PRIu64 " rows=%d\n", t1 - t0, PQntuples(r));
                PQclear(r);
        }
        return 0;
}

static void usage(FILE *f)
{
        fputs("usage: propagation-probe burst --database C --changes FILE [--batch N] --sentinel SERVICE "
              "[--timeout S]\n"
              "       propagation-probe latency --database C --pairs FILE [--timeout S] [--max-seconds S]\n"
              "       propagation-probe query --database C --function root_cause_of|impact_of --key KEY "
              "[--count N] [--max-seconds S]\n",
              f);
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "database", required_argument, NULL, 'd' }, { "changes", required_argument, NULL, 'c' },
                { "batch", required_argument, NULL, 'b' },    { "sentinel", required_argument, NULL, 's' },
                { "timeout", required_argument, NULL, 't' },  { "pairs", required_argument, NULL, 'p' },
                { "function", required_argument, NULL, 'f' }, { "key", required_argument, NULL, 'k' },
                { "count", required_argument, NULL, 'n' },    { "max-seconds", required_argument, NULL, 'm' },
                { "help", no_argument, NULL, 'h' },           {},
        };
        const char *database = NULL, *changes = NULL, *sentinel = NULL, *pairs = NULL, *function = NULL, *key = NULL;
        uint64_t batch = 100, count = 200;
        double timeout = -1, max_seconds = 1e9;
        int c;

        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        const char *cmd = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'd':
                        database = optarg;
                        break;
                case 'c':
                        changes = optarg;
                        break;
                case 'b':
                        if (fl_safe_atou64(optarg, &batch) < 0 || batch == 0)
                                return die("bad --batch \"%s\"", optarg);
                        break;
                case 's':
                        sentinel = optarg;
                        break;
                case 't':
                        if (fl_safe_atod(optarg, &timeout) < 0 || timeout <= 0)
                                return die("bad --timeout \"%s\"", optarg);
                        break;
                case 'm':
                        if (fl_safe_atod(optarg, &max_seconds) < 0 || max_seconds <= 0)
                                return die("bad --max-seconds \"%s\"", optarg);
                        break;
                case 'p':
                        pairs = optarg;
                        break;
                case 'f':
                        function = optarg;
                        break;
                case 'k':
                        key = optarg;
                        break;
                case 'n':
                        if (fl_safe_atou64(optarg, &count) < 0)
                                return die("bad --count \"%s\"", optarg);
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (!database)
                return die("--database is required");
        conn = PQconnectdb(database);
        if (PQstatus(conn) != CONNECTION_OK)
                return die("could not connect: %s", PQerrorMessage(conn));

        int r;
        if (strcmp(cmd, "burst") == 0) {
                if (!changes || !sentinel)
                        return die("burst needs --changes and --sentinel");
                r = cmd_burst(changes, (size_t)batch, sentinel, timeout > 0 ? timeout : 600);
        } else if (strcmp(cmd, "latency") == 0) {
                if (!pairs)
                        return die("latency needs --pairs");
                r = cmd_latency(pairs, timeout > 0 ? timeout : 10, max_seconds);
        } else if (strcmp(cmd, "query") == 0) {
                if (!function || !key)
                        return die("query needs --function and --key");
                r = cmd_query(function, key, (long)count, max_seconds);
        } else {
                usage(stderr);
                r = 2;
        }
        PQfinish(conn);
        return r;
}
