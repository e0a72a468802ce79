/* SPDX-License-Identifier: MIT */
/*
 * ingest-copy: the baseline of the ingest benchmark (tests/bench/ingest).
 * Plain COPY BINARY of (series_id, ts, value) rows into faultline.samples
 * with libpq, each COPY of K rows its own transaction, for several K; the
 * rows have the shape the collector writes: existing series ids (agents x
 * series of them), each agent's batches timestamp-major, batches of the
 * agents one after the other, timestamps in today's (UTC) partition.
 *
 *   ingest-copy --database CONNINFO --rows R [--agents N] [--series K]
 *               [--samples-per-batch S] [--k 1000,10000,100000]
 *               [--truncate] [--checkpoint] [--max-seconds T]
 *
 * --truncate empties faultline.samples before each K (every K starts from
 * the same empty table), --checkpoint runs CHECKPOINT after that, so that
 * no K pays for the previous one's dirty pages. Each K copies R rows, or
 * stops after --max-seconds (default 300) and reports what it did.
 *
 * Prints per K: "RESULT k=.. rows=.. copies=.. seconds=.. rows_per_s=..
 * backend_cpu_s=.. client_cpu_s=.." (the CPU time of the PostgreSQL backend
 * and of this program) and at the end "BEST k=.. rows_per_s=..".
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define PG_EPOCH_OFFSET_US 946684800000000LL
#define ROW_BYTES 38
#define DAY_US (86400LL * 1000000LL)

static PGconn *conn;

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("ingest-copy: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        if (conn)
                PQfinish(conn);
        return 2;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double self_cpu_s(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               (double)ru.ru_stime.tv_usec / 1e6;
}

static bool result_ok(PGresult *r, const char *sql)
{
        ExecStatusType st = PQresultStatus(r);
        bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
        if (!ok)
                fprintf(stderr, "ingest-copy: %s: %s", sql, PQerrorMessage(conn));
        PQclear(r);
        return ok;
}
/* SQL text is a literal, never built (the "" forces it at compile time). */
#define exec_ok(sql) result_ok(PQexec(conn, "" sql ""), sql)

/* utime + stime of a process, seconds; -1 when unreadable. */
static double proc_cpu_s(int pid)
{
        char path[64], buf[2048], *save = NULL, *tok;
        FILE *f;
        size_t n;
        uint64_t ut = 0, st = 0;

        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        if (!p)
                return -1;
        /* After "(comm)": state is field 3, utime 14, stime 15. */
        tok = strtok_r(p + 1, " ", &save);
        for (int field = 3; tok && field < 14; field++)
                tok = strtok_r(NULL, " ", &save);
        if (!tok || fl_safe_atou64(tok, &ut) < 0)
                return -1;
        tok = strtok_r(NULL, " ", &save);
        if (!tok || fl_safe_atou64(tok, &st) < 0)
                return -1;
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void put32(uint8_t *p, uint32_t v)
{
        v = htonl(v);
        memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
        put32(p, (uint32_t)(v >> 32));
        put32(p + 4, (uint32_t)v);
}

static void put_row(uint8_t *p, int64_t series, int64_t time_us, double value)
{
        uint64_t bits;
        uint16_t nf = htons(3);

        memcpy(p, &nf, 2);
        put32(p + 2, 8);
        put64(p + 6, (uint64_t)series);
        put32(p + 14, 8);
        put64(p + 18, (uint64_t)(time_us - PG_EPOCH_OFFSET_US));
        put32(p + 26, 8);
        memcpy(&bits, &value, 8);
        put64(p + 30, bits);
}

/* The row stream: round r, agent a, timestamp t, series s, as the
 * collector's COPY lays out a group of batches. */
struct stream {
        const int64_t *ids;
        size_t agents, series, samples; /* samples per batch */
        int64_t t0_us, step_us;
        uint64_t pos; /* rows produced */
        uint32_t rng;
};

static void stream_row(struct stream *st, uint8_t *p)
{
        uint64_t batch = st->pos / st->samples, within = st->pos % st->samples;
        uint64_t round = batch / st->agents, agent = batch % st->agents;
        uint64_t steps = (st->samples + st->series - 1) / st->series;
        uint64_t s = within % st->series, t = within / st->series;
        uint32_t x = st->rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        st->rng = x;
        put_row(p, st->ids[agent * st->series + s], st->t0_us + (int64_t)(round * steps + t) * st->step_us,
                (double)(x % 100000) / 100.0);
        st->pos++;
}

static int copy_once(struct stream *st, size_t k, uint8_t *buf)
{
        static const uint8_t sig[11] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0 };
        size_t len = 0;
        PGresult *r;

        memcpy(buf, sig, sizeof(sig));
        memset(buf + 11, 0, 8);
        len = 19;
        for (size_t i = 0; i < k; i++, len += ROW_BYTES)
                stream_row(st, buf + len);
        buf[len++] = 0xff;
        buf[len++] = 0xff;

        if (!exec_ok("BEGIN"))
                return -1;
        r = PQexec(conn, "COPY faultline.samples (series_id, ts, value) FROM STDIN (FORMAT binary)");
        if (PQresultStatus(r) != PGRES_COPY_IN) {
                fprintf(stderr, "ingest-copy: COPY: %s", PQerrorMessage(conn));
                PQclear(r);
                return -1;
        }
        PQclear(r);
        for (size_t off = 0; off < len;) {
                size_t chunk = len - off < (1u << 20) ? len - off : (1u << 20);
                if (PQputCopyData(conn, (const char *)buf + off, (int)chunk) != 1) {
                        fprintf(stderr, "ingest-copy: COPY data: %s", PQerrorMessage(conn));
                        return -1;
                }
                off += chunk;
        }
        if (PQputCopyEnd(conn, NULL) != 1) {
                fprintf(stderr, "ingest-copy: COPY end: %s", PQerrorMessage(conn));
                return -1;
        }
        bool ok = true;
        while ((r = PQgetResult(conn))) {
                if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                        fprintf(stderr, "ingest-copy: COPY: %s", PQresultErrorMessage(r));
                        ok = false;
                }
                PQclear(r);
        }
        if (!ok || !exec_ok("COMMIT"))
                return -1;
        return 0;
}

int main(int argc, char **argv)
{
        enum { O_DB = 0x100, O_ROWS, O_AGENTS, O_SERIES, O_SAMPLES, O_K, O_TRUNCATE, O_CHECKPOINT, O_MAX };
        static const struct option opts[] = {
                { "database", required_argument, NULL, O_DB },
                { "rows", required_argument, NULL, O_ROWS },
                { "agents", required_argument, NULL, O_AGENTS },
                { "series", required_argument, NULL, O_SERIES },
                { "samples-per-batch", required_argument, NULL, O_SAMPLES },
                { "k", required_argument, NULL, O_K },
                { "truncate", no_argument, NULL, O_TRUNCATE },
                { "checkpoint", no_argument, NULL, O_CHECKPOINT },
                { "max-seconds", required_argument, NULL, O_MAX },
                {},
        };
        const char *db = "", *klist = "1000,10000,100000";
        uint64_t rows = 0, agents = 200, series = 50, samples = 500;
        bool truncate = false, checkpoint = false;
        double max_seconds = 300;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                int r = 0;
                switch (c) {
                case O_DB:
                        db = optarg;
                        break;
                case O_ROWS:
                        r = fl_safe_atou64(optarg, &rows);
                        break;
                case O_AGENTS:
                        r = fl_safe_atou64(optarg, &agents);
                        break;
                case O_SERIES:
                        r = fl_safe_atou64(optarg, &series);
                        break;
                case O_SAMPLES:
                        r = fl_safe_atou64(optarg, &samples);
                        break;
                case O_K:
                        klist = optarg;
                        break;
                case O_TRUNCATE:
                        truncate = true;
                        break;
                case O_CHECKPOINT:
                        checkpoint = true;
                        break;
                case O_MAX:
                        r = fl_safe_atod(optarg, &max_seconds);
                        break;
                default:
                        fprintf(stderr, "usage: ingest-copy --database CONNINFO --rows R [--agents N] [--series K]\n"
                                        "       [--samples-per-batch S] [--k 1000,10000,100000] [--truncate]\n"
                                        "       [--checkpoint] [--max-seconds T]\n");
                        return 2;
                }
                if (r < 0)
                        return die("bad number \"%s\"", optarg);
        }
        if (rows == 0 || agents == 0 || series == 0 || samples == 0 || !(max_seconds > 0))
                return die("--rows, --agents, --series, --samples-per-batch and --max-seconds must be positive");
        if (agents > 1000000 || series > 1000000 || samples > 10000000)
                return die("--agents, --series or --samples-per-batch out of range");
        if (series > samples)
                series = samples;

        conn = PQconnectdb(db);
        if (PQstatus(conn) != CONNECTION_OK)
                return die("could not connect: %s", PQerrorMessage(conn));
        if (!exec_ok("SET client_min_messages = warning; SET TIME ZONE 'UTC'"))
                return die("session setup failed");
        int backend = PQbackendPID(conn);

        /* Series ids that exist, as many as the agents declared. */
        size_t need = agents * series;
        PGresult *r = PQexec(conn, "SELECT id FROM faultline.series ORDER BY id");
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
                return die("reading series: %s", PQerrorMessage(conn));
        if ((size_t)PQntuples(r) < need)
                return die("faultline.series has %d series, %zu needed (agents x series); run the end-to-end "
                           "part first",
                           PQntuples(r), need);
        int64_t *ids = fl_new0(int64_t, need);
        for (size_t i = 0; i < need; i++)
                if (fl_safe_atoi64(PQgetvalue(r, (int)i, 0), &ids[i]) < 0)
                        return die("bad series id \"%s\"", PQgetvalue(r, (int)i, 0));
        PQclear(r);
        if (!exec_ok("SELECT faultline.ensure_sample_partitions(1, 3)"))
                return die("could not create today's partition");

        /* Today's UTC day, one sample per series per step, all within it. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
        int64_t day0 = now_us / DAY_US * DAY_US;
        uint64_t per_series = rows / need + 2;
        int64_t step = 1000000;
        if ((int64_t)per_series * step > DAY_US - 2000000)
                step = (DAY_US - 2000000) / (int64_t)per_series;

        size_t kmax = 0, nk = 0;
        size_t ks[32];
        _cleanup_free_ char *kcopy = fl_strdup(klist);
        char *save = NULL;
        for (char *tok = strtok_r(kcopy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                uint64_t v;
                if (nk == FL_ARRAY_SIZE(ks) || fl_safe_atou64(tok, &v) < 0 || v == 0 || v > 10000000)
                        return die("bad --k list \"%s\"", klist);
                ks[nk++] = (size_t)v;
                kmax = FL_MAX(kmax, (size_t)v);
        }
        uint8_t *buf = fl_malloc(21 + kmax * ROW_BYTES);

        double best = 0;
        size_t best_k = 0;
        for (size_t i = 0; i < nk; i++) {
                size_t k = ks[i];
                struct stream st = { .ids = ids,
                                     .agents = agents,
                                     .series = series,
                                     .samples = samples,
                                     .t0_us = day0 + 1000000,
                                     .step_us = step,
                                     .rng = 2463534242u };
                if (truncate && !exec_ok("TRUNCATE faultline.samples"))
                        return die("TRUNCATE failed");
                if (checkpoint && !exec_ok("CHECKPOINT"))
                        return die("CHECKPOINT failed");
                double cpu0 = proc_cpu_s(backend), self0 = self_cpu_s(), t0 = now_s(), t = t0;
                uint64_t done = 0, copies = 0;
                while (done < rows && t - t0 < max_seconds) {
                        size_t n = rows - done < k ? (size_t)(rows - done) : k;
                        if (copy_once(&st, n, buf) < 0)
                                return die("COPY of %zu rows failed", n);
                        done += n;
                        copies++;
                        t = now_s();
                }
                double cpu = proc_cpu_s(backend) - cpu0, rate = (double)done / (t - t0);
                fprintf(stderr,
                        "ingest-copy: K=%zu: %" PRIu64 " rows in %" PRIu64 " COPYs in %.2f s = %.0f rows/s "
                        "(backend CPU %.2f s)\n",
                        k, done, copies, t - t0, rate, cpu);
                printf("RESULT k=%zu rows=%" PRIu64 " copies=%" PRIu64
                       " seconds=%.6f rows_per_s=%.1f backend_cpu_s=%.2f client_cpu_s=%.2f\n",
                       k, done, copies, t - t0, rate, cpu0 < 0 ? -1.0 : cpu, self_cpu_s() - self0);
                fflush(stdout);
                if (rate > best) {
                        best = rate;
                        best_k = k;
                }
        }
        printf("BEST k=%zu rows_per_s=%.1f\n", best_k, best);
        free(buf);
        free(ids);
        PQfinish(conn);
        return 0;
}
