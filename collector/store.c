/* SPDX-License-Identifier: MIT */
#include "store.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <poll.h>
#include <libpq-fe.h>

#include "log.h"
#include "migrations.h"
#include "strmap.h"

/* PostgreSQL's epoch is 2000-01-01, ours is 1970-01-01. */
#define PG_EPOCH_OFFSET_US 946684800000000LL

struct fl_store {
        PGconn *conn;
        char *conninfo;
        bool quiet;
        char last_error[512];
};

static void pqclearp(PGresult **r)
{
        if (*r)
                PQclear(*r);
}
#define _cleanup_pgresult_ _cleanup_(pqclearp)

static void set_error(struct fl_store *s, const char *msg)
{
        snprintf(s->last_error, sizeof(s->last_error), "%s", msg ? msg : "");
        size_t n = strlen(s->last_error);
        while (n > 0 && (s->last_error[n - 1] == '\n' || s->last_error[n - 1] == ' '))
                s->last_error[--n] = '\0';
}

/* Translates a failed result once, here: -ENOTCONN when the connection is
 * gone, -EEXIST on a unique violation, else -EIO. */
static int fail(struct fl_store *s, PGresult *res, const char *what)
{
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

        set_error(s, res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn));
        if (!s->last_error[0])
                set_error(s, PQerrorMessage(s->conn));
        if (PQstatus(s->conn) != CONNECTION_OK) {
                if (!s->quiet)
                        fl_warning("lost the database connection while %s: %s", what, s->last_error);
                return -ENOTCONN;
        }
        if (state && strcmp(state, "23505") == 0)
                return -EEXIST;
        if (!s->quiet)
                fl_error("database error while %s: %s", what, s->last_error);
        return -EIO;
}

static int expect(struct fl_store *s, PGresult *res, ExecStatusType want, const char *what)
{
        if (!res || PQresultStatus(res) != want)
                return fail(s, res, what);
        return 0;
}

const char *fl_store_last_error(struct fl_store *s)
{
        return s->last_error;
}

void fl_store_set_quiet(struct fl_store *s, bool quiet)
{
        s->quiet = quiet;
}

static void notice_quiet(void *arg, const char *msg)
{
        (void)arg;
        fl_debug("database notice: %s", msg);
}

static int open_conn(struct fl_store *s)
{
        if (s->conn)
                PQfinish(s->conn);
        s->conn = PQconnectdb(s->conninfo);
        if (!s->conn)
                fl_oom();
        if (PQstatus(s->conn) != CONNECTION_OK) {
                set_error(s, PQerrorMessage(s->conn));
                if (!s->quiet)
                        fl_error("could not connect to the database: %s", s->last_error);
                return -ENOTCONN;
        }
        PQsetNoticeProcessor(s->conn, notice_quiet, NULL);
        _cleanup_pgresult_ PGresult *r = PQexec(s->conn, "SET client_min_messages = warning; SET TIME ZONE 'UTC'");
        return expect(s, r, PGRES_COMMAND_OK, "setting up the session");
}

int fl_store_connect(const char *conninfo, struct fl_store **ret)
{
        struct fl_store *s = fl_new0(struct fl_store, 1);
        int r;

        s->conninfo = fl_strdup(conninfo ? conninfo : "");
        r = open_conn(s);
        if (r < 0) {
                fl_store_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

void fl_store_free(struct fl_store *s)
{
        if (!s)
                return;
        if (s->conn)
                PQfinish(s->conn);
        free(s->conninfo);
        free(s);
}

bool fl_store_connected(struct fl_store *s)
{
        return s->conn && PQstatus(s->conn) == CONNECTION_OK;
}

int fl_store_reconnect(struct fl_store *s)
{
        return open_conn(s);
}

static int exec_simple(struct fl_store *s, const char *literal_sql, const char *what)
{
        _cleanup_pgresult_ PGresult *r = PQexec(s->conn, literal_sql);
        return expect(s, r, PGRES_COMMAND_OK, what);
}

int fl_store_begin(struct fl_store *s)
{
        return exec_simple(s, "BEGIN", "starting a transaction");
}

int fl_store_commit(struct fl_store *s)
{
        return exec_simple(s, "COMMIT", "committing");
}

void fl_store_rollback(struct fl_store *s)
{
        if (fl_store_connected(s)) {
                PGresult *r = PQexec(s->conn, "ROLLBACK");
                PQclear(r);
        }
}

static int64_t parse_i64(const char *v)
{
        int64_t x = 0;
        if (v && *v)
                (void)fl_safe_atoi64(v, &x);
        return x;
}

int fl_store_migrate(struct fl_store *s)
{
        int r, current = 0;

        r = fl_store_begin(s);
        if (r < 0)
                return r;
        /* Several collectors may start at once: one migrates, the others wait. */
        r = exec_simple(s,
                        "SELECT pg_advisory_xact_lock(7411001);"
                        "CREATE SCHEMA IF NOT EXISTS faultline;"
                        "CREATE TABLE IF NOT EXISTS faultline.schema_migrations ("
                        " version integer PRIMARY KEY, name text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now())",
                        "preparing migrations");
        if (r < 0)
                goto fail;
        {
                _cleanup_pgresult_ PGresult *res =
                        PQexec(s->conn, "SELECT coalesce(max(version), 0) FROM faultline.schema_migrations");
                r = expect(s, res, PGRES_TUPLES_OK, "reading the schema version");
                if (r < 0)
                        goto fail;
                current = (int)parse_i64(PQgetvalue(res, 0, 0));
        }
        if (current > fl_migrations[fl_migrations_count - 1].version) {
                fl_error("the database schema is at version %d, newer than this collector knows (%d); "
                         "upgrade faultline",
                         current, fl_migrations[fl_migrations_count - 1].version);
                r = -EPROTONOSUPPORT;
                goto fail;
        }
        for (size_t i = 0; i < fl_migrations_count; i++) {
                const struct fl_migration *m = &fl_migrations[i];
                char version[16];
                const char *params[2] = { version, m->name };

                if (m->version <= current)
                        continue;
                fl_info("applying schema migration %03d \"%s\"", m->version, m->name);
                {
                        _cleanup_pgresult_ PGresult *res = PQexec(s->conn, m->sql);
                        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
                                r = fail(s, res, "applying a schema migration");
                                goto fail;
                        }
                }
                snprintf(version, sizeof(version), "%d", m->version);
                _cleanup_pgresult_ PGresult *res =
                        PQexecParams(s->conn, "INSERT INTO faultline.schema_migrations (version, name) VALUES ($1, $2)",
                                     2, NULL, params, NULL, NULL, 0);
                r = expect(s, res, PGRES_COMMAND_OK, "recording a schema migration");
                if (r < 0)
                        goto fail;
        }
        return fl_store_commit(s);
fail:
        fl_store_rollback(s);
        return r;
}

int fl_store_agents(struct fl_store *s, bool include_revoked, struct fl_agent_row **ret, size_t *ret_n)
{
        const char *params[1] = { include_revoked ? "t" : "f" };
        _cleanup_pgresult_ PGresult *res =
                PQexecParams(s->conn,
                             "SELECT id, name, encode(public_key, 'base64'), revoked_at IS NOT NULL,"
                             " (extract(epoch FROM created_at) * 1000000)::bigint,"
                             " coalesce((extract(epoch FROM last_seen) * 1000000)::bigint, 0),"
                             " coalesce(hostname, ''), coalesce(version, ''), coalesce(spool_bytes, 0),"
                             " coalesce(dropped_batches, 0), coalesce(interval_ms, 0)"
                             " FROM faultline.agents WHERE $1::boolean OR revoked_at IS NULL ORDER BY name, id",
                             1, NULL, params, NULL, NULL, 0);
        int r = expect(s, res, PGRES_TUPLES_OK, "reading agents");
        if (r < 0)
                return r;
        size_t n = (size_t)PQntuples(res);
        struct fl_agent_row *rows = fl_new0(struct fl_agent_row, n);
        for (size_t i = 0; i < n; i++) {
                struct fl_agent_row *a = &rows[i];
                a->id = (int)parse_i64(PQgetvalue(res, (int)i, 0));
                snprintf(a->name, sizeof(a->name), "%s", PQgetvalue(res, (int)i, 1));
                if (fl_key_from_text(PQgetvalue(res, (int)i, 2), a->public_key) < 0)
                        memset(a->public_key, 0, sizeof(a->public_key));
                a->revoked = PQgetvalue(res, (int)i, 3)[0] == 't';
                a->created_us = parse_i64(PQgetvalue(res, (int)i, 4));
                a->last_seen_us = parse_i64(PQgetvalue(res, (int)i, 5));
                snprintf(a->hostname, sizeof(a->hostname), "%s", PQgetvalue(res, (int)i, 6));
                snprintf(a->version, sizeof(a->version), "%s", PQgetvalue(res, (int)i, 7));
                a->spool_bytes = parse_i64(PQgetvalue(res, (int)i, 8));
                a->dropped_batches = parse_i64(PQgetvalue(res, (int)i, 9));
                a->interval_ms = parse_i64(PQgetvalue(res, (int)i, 10));
        }
        *ret = rows;
        *ret_n = n;
        return 0;
}

int fl_store_agent_add(struct fl_store *s, const char *name, const uint8_t pk[FL_KEY_BYTES])
{
        const char *params[2] = { name, (const char *)pk };
        const int lengths[2] = { 0, FL_KEY_BYTES };
        const int formats[2] = { 0, 1 };
        _cleanup_pgresult_ PGresult *res =
                PQexecParams(s->conn, "INSERT INTO faultline.agents (name, public_key) VALUES ($1, $2)", 2, NULL,
                             params, lengths, formats, 0);
        if (res && PQresultStatus(res) != PGRES_COMMAND_OK) {
                const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
                if (state && strcmp(state, "23505") == 0)
                        return -EEXIST;
                if (state && strcmp(state, "23514") == 0)
                        return -EINVAL;
        }
        return expect(s, res, PGRES_COMMAND_OK, "registering an agent");
}

int fl_store_agent_revoke(struct fl_store *s, const char *name)
{
        const char *params[1] = { name };
        _cleanup_pgresult_ PGresult *res = PQexecParams(
                s->conn, "UPDATE faultline.agents SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL", 1,
                NULL, params, NULL, NULL, 0);
        int r = expect(s, res, PGRES_COMMAND_OK, "revoking an agent");
        if (r < 0)
                return r;
        return strcmp(PQcmdTuples(res), "0") == 0 ? -ENOENT : 0;
}

/* Builds a PostgreSQL array literal of integers; values are ours, not input. */
static char *int_array(const uint64_t *v, const int *iv, size_t n)
{
        size_t cap = 2 + n * 22, len = 0;
        char *buf = fl_malloc(cap + 1);

        buf[len++] = '{';
        for (size_t i = 0; i < n; i++) {
                int w = iv ? snprintf(buf + len, cap - len, "%s%d", i ? "," : "", iv[i])
                           : snprintf(buf + len, cap - len, "%s%" PRIu64, i ? "," : "", v[i]);
                len += (size_t)w;
        }
        buf[len++] = '}';
        buf[len] = '\0';
        return buf;
}

/* Array literal of text values, quoted and escaped for array input syntax.
 * It is passed as a parameter, never spliced into SQL. */
static char *text_array(const char *const *v, size_t n)
{
        size_t cap = 64, len = 0;
        char *buf = fl_malloc(cap);

        buf[len++] = '{';
        for (size_t i = 0; i < n; i++) {
                const char *p = v[i];
                size_t need = len + 8 + (p ? 2 * strlen(p) : 4);
                buf = fl_grow(buf, &cap, need + 2, 1);
                if (i)
                        buf[len++] = ',';
                if (!p) {
                        memcpy(buf + len, "NULL", 4);
                        len += 4;
                        continue;
                }
                buf[len++] = '"';
                for (; *p; p++) {
                        if (*p == '"' || *p == '\\')
                                buf[len++] = '\\';
                        buf[len++] = *p;
                }
                buf[len++] = '"';
        }
        buf = fl_grow(buf, &cap, len + 2, 1);
        buf[len++] = '}';
        buf[len] = '\0';
        return buf;
}

int fl_store_claim(struct fl_store *s, const int *agent, const uint64_t *epoch, const uint64_t *seq, size_t n,
                   enum fl_claim *ret_verdicts)
{
        _cleanup_free_ char *a = int_array(NULL, agent, n), *e = int_array(epoch, NULL, n),
                            *q = int_array(seq, NULL, n);
        const char *params[3] = { a, e, q };
        _cleanup_pgresult_ PGresult *res =
                PQexecParams(s->conn, "SELECT idx, verdict FROM faultline.claim_batches($1, $2, $3)", 3, NULL, params,
                             NULL, NULL, 0);
        int r = expect(s, res, PGRES_TUPLES_OK, "checking sequence numbers");
        if (r < 0)
                return r;
        if ((size_t)PQntuples(res) != n) {
                set_error(s, "sequence check returned the wrong number of rows");
                fl_error("database error while checking sequence numbers: %s", s->last_error);
                return -EIO;
        }
        for (size_t i = 0; i < n; i++) {
                int64_t idx = parse_i64(PQgetvalue(res, (int)i, 0));
                const char *v = PQgetvalue(res, (int)i, 1);
                if (idx < 1 || (size_t)idx > n)
                        return -EIO;
                ret_verdicts[idx - 1] = strcmp(v, "ok") == 0          ? FL_CLAIM_OK
                                        : strcmp(v, "duplicate") == 0 ? FL_CLAIM_DUPLICATE
                                                                      : FL_CLAIM_STALE;
        }
        return 0;
}

static int apply_doc(struct fl_store *s, const char *sql, int agent, const char *json, const char *what)
{
        char id[16];
        const char *params[2] = { id, json };

        snprintf(id, sizeof(id), "%d", agent);
        _cleanup_pgresult_ PGresult *res = PQexecParams(s->conn, sql, 2, NULL, params, NULL, NULL, 0);
        return expect(s, res, PGRES_TUPLES_OK, what);
}

int fl_store_apply_inventory(struct fl_store *s, int agent, const char *json)
{
        return apply_doc(s, "SELECT faultline.apply_inventory($1, $2::jsonb)", agent, json, "storing an inventory");
}

int fl_store_apply_states(struct fl_store *s, int agent, const char *json)
{
        return apply_doc(s, "SELECT faultline.apply_states($1, $2::jsonb)", agent, json, "storing states");
}

int fl_store_apply_heartbeats(struct fl_store *s, const struct fl_heartbeat_row *rows, size_t n)
{
        _cleanup_free_ int *agents = fl_new0(int, n), *intervals = fl_new0(int, n);
        _cleanup_free_ uint64_t *times = fl_new0(uint64_t, n), *spool = fl_new0(uint64_t, n),
                                *dropped = fl_new0(uint64_t, n);
        _cleanup_free_ const char **hosts = fl_new0(const char *, n), **versions = fl_new0(const char *, n);

        if (n == 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                agents[i] = rows[i].agent;
                intervals[i] = rows[i].interval_ms;
                times[i] = (uint64_t)FL_MAX(rows[i].time_us, (int64_t)0);
                spool[i] = (uint64_t)FL_MAX(rows[i].spool_bytes, (int64_t)0);
                dropped[i] = (uint64_t)FL_MAX(rows[i].dropped, (int64_t)0);
                hosts[i] = rows[i].hostname;
                versions[i] = rows[i].version;
        }
        _cleanup_free_ char *pa = int_array(NULL, agents, n), *pt = int_array(times, NULL, n),
                            *pi = int_array(NULL, intervals, n), *ph = text_array(hosts, n),
                            *pv = text_array(versions, n), *ps = int_array(spool, NULL, n),
                            *pd = int_array(dropped, NULL, n);
        const char *params[7] = { pa, pt, pi, ph, pv, ps, pd };
        _cleanup_pgresult_ PGresult *res =
                PQexecParams(s->conn, "SELECT faultline.apply_heartbeats($1, $2, $3, $4, $5, $6, $7)", 7, NULL, params,
                             NULL, NULL, 0);
        return expect(s, res, PGRES_TUPLES_OK, "storing heartbeats");
}

int fl_store_resolve_series(struct fl_store *s, const char *const *keys, const char *const *metrics,
                            const char *const *units, size_t n, int64_t *ret_ids)
{
        _cleanup_free_ char *k = text_array(keys, n), *m = text_array(metrics, n), *u = text_array(units, n);
        const char *params[3] = { k, m, u };
        _cleanup_pgresult_ PGresult *res =
                PQexecParams(s->conn, "SELECT idx, series_id FROM faultline.resolve_series($1, $2, $3)", 3, NULL,
                             params, NULL, NULL, 0);
        int r = expect(s, res, PGRES_TUPLES_OK, "resolving series");
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                ret_ids[i] = -1;
        for (int i = 0; i < PQntuples(res); i++) {
                int64_t idx = parse_i64(PQgetvalue(res, i, 0));
                if (idx >= 1 && (size_t)idx <= n)
                        ret_ids[idx - 1] = parse_i64(PQgetvalue(res, i, 1));
        }
        for (size_t i = 0; i < n; i++)
                if (ret_ids[i] < 0) {
                        set_error(s, "a series could not be resolved");
                        fl_error("database error while resolving series: no id for \"%s\" \"%s\"", keys[i], metrics[i]);
                        return -EIO;
                }
        return 0;
}

static void put16(uint8_t *p, uint16_t v)
{
        v = htons(v);
        memcpy(p, &v, 2);
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

void fl_copy_begin(uint8_t **buf, size_t *len, size_t *cap)
{
        static const uint8_t sig[11] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0 };

        *buf = fl_grow(*buf, cap, 19, 1);
        memcpy(*buf, sig, sizeof(sig));
        memset(*buf + 11, 0, 8); /* flags, header extension length */
        *len = 19;
}

void fl_copy_row(uint8_t **buf, size_t *len, size_t *cap, int64_t series, int64_t time_us, double value)
{
        uint8_t *p;
        uint64_t bits;

        *buf = fl_grow(*buf, cap, *len + FL_COPY_ROW_BYTES, 1);
        p = *buf + *len;
        put16(p, 3);
        put32(p + 2, 8);
        put64(p + 6, (uint64_t)series);
        put32(p + 14, 8);
        put64(p + 18, (uint64_t)(time_us - PG_EPOCH_OFFSET_US));
        put32(p + 26, 8);
        memcpy(&bits, &value, 8);
        put64(p + 30, bits);
        *len += FL_COPY_ROW_BYTES;
}

void fl_copy_end(uint8_t **buf, size_t *len, size_t *cap)
{
        *buf = fl_grow(*buf, cap, *len + 2, 1);
        put16(*buf + *len, 0xffff);
        *len += 2;
}

int fl_store_copy_samples(struct fl_store *s, const uint8_t *buf, size_t len)
{
        int r;
        {
                _cleanup_pgresult_ PGresult *res =
                        PQexec(s->conn, "COPY faultline.samples (series_id, ts, value) FROM STDIN (FORMAT binary)");
                r = expect(s, res, PGRES_COPY_IN, "starting to copy samples");
                if (r < 0)
                        return r;
        }
        /* Large COPYs go in chunks so libpq never doubles a huge buffer. */
        for (size_t off = 0; off < len;) {
                size_t chunk = FL_MIN(len - off, (size_t)(1 << 20));
                if (PQputCopyData(s->conn, (const char *)buf + off, (int)chunk) != 1)
                        return fail(s, NULL, "copying samples");
                off += chunk;
        }
        if (PQputCopyEnd(s->conn, NULL) != 1)
                return fail(s, NULL, "copying samples");
        _cleanup_pgresult_ PGresult *res = PQgetResult(s->conn);
        r = expect(s, res, PGRES_COMMAND_OK, "copying samples");
        /* Drain so the connection is ready for the next command. */
        for (PGresult *extra; (extra = PQgetResult(s->conn));)
                PQclear(extra);
        return r;
}

int fl_store_add_rejections(struct fl_store *s, const char *collector, const char *const *reasons,
                            const int64_t *counts, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                char count[24];
                const char *params[3] = { collector, reasons[i], count };

                if (counts[i] <= 0)
                        continue;
                snprintf(count, sizeof(count), "%" PRId64, counts[i]);
                _cleanup_pgresult_ PGresult *res = PQexecParams(
                        s->conn,
                        "INSERT INTO faultline.rejections AS r (collector, reason, count) VALUES ($1, $2, $3)"
                        " ON CONFLICT (collector, reason) DO UPDATE SET count = r.count + excluded.count,"
                        " last_at = now()",
                        3, NULL, params, NULL, NULL, 0);
                int r = expect(s, res, PGRES_COMMAND_OK, "counting rejections");
                if (r < 0)
                        return r;
        }
        return 0;
}

int fl_store_maintain_partitions(struct fl_store *s, int keep_days)
{
        char keep[16];
        const char *params[1] = { keep };

        snprintf(keep, sizeof(keep), "%d", keep_days);
        _cleanup_pgresult_ PGresult *res = PQexecParams(
                s->conn, "SELECT faultline.ensure_sample_partitions(1, 3), faultline.drop_old_sample_partitions($1)", 1,
                NULL, params, NULL, NULL, 0);
        return expect(s, res, PGRES_TUPLES_OK, "maintaining sample partitions");
}

int fl_store_try_leader(struct fl_store *s, bool *ret_leader)
{
        _cleanup_pgresult_ PGresult *res = PQexec(s->conn, "SELECT pg_try_advisory_lock(7411100)");
        int r = expect(s, res, PGRES_TUPLES_OK, "asking for the propagation lock");
        if (r < 0)
                return r;
        *ret_leader = PQgetvalue(res, 0, 0)[0] == 't';
        return 0;
}

int fl_store_listen_dirty(struct fl_store *s)
{
        return exec_simple(s, "LISTEN faultline_dirty", "listening for changes");
}

int fl_store_wait_notify(struct fl_store *s, int timeout_ms)
{
        int got = 0;
        PGnotify *n;

        if (PQconsumeInput(s->conn) != 1)
                return fail(s, NULL, "waiting for changes");
        while ((n = PQnotifies(s->conn))) {
                got = 1;
                PQfreemem(n);
        }
        if (got)
                return 1;
        int fd = PQsocket(s->conn);
        if (fd < 0)
                return fail(s, NULL, "waiting for changes");
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int r = poll(&pfd, 1, timeout_ms);
        if (r < 0)
                return errno == EINTR ? 0 : -errno;
        if (r == 0)
                return 0;
        if (PQconsumeInput(s->conn) != 1)
                return fail(s, NULL, "waiting for changes");
        while ((n = PQnotifies(s->conn))) {
                got = 1;
                PQfreemem(n);
        }
        return got;
}

static char *i64_array(const int64_t *v, size_t n)
{
        size_t cap = 2 + n * 21 + 1, len = 0;
        char *buf = fl_malloc(cap);

        buf[len++] = '{';
        for (size_t i = 0; i < n; i++)
                len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64, i ? "," : "", v[i]);
        buf[len++] = '}';
        buf[len] = '\0';
        return buf;
}

static int stream_rows(struct fl_store *s, const char *sql, const char *param, void (*row_fn)(PGresult *, void *),
                       void *userdata, const char *what)
{
        const char *params[1] = { param };

        /* A NULL param is SQL NULL: the queries treat it as "all". */
        if (!PQsendQueryParams(s->conn, sql, 1, NULL, params, NULL, NULL, 0))
                return fail(s, NULL, what);
        PQsetSingleRowMode(s->conn);
        int r = 0;
        for (PGresult *res; (res = PQgetResult(s->conn));) {
                ExecStatusType st = PQresultStatus(res);
                if (st == PGRES_SINGLE_TUPLE)
                        row_fn(res, userdata);
                else if (st != PGRES_TUPLES_OK && r == 0)
                        r = fail(s, res, what);
                PQclear(res);
        }
        return r;
}

struct node_stream {
        fl_store_node_fn fn;
        void *userdata;
};

static void node_row(PGresult *res, void *u)
{
        struct node_stream *ns = u;
        struct fl_node_row row = {
                .id = parse_i64(PQgetvalue(res, 0, 0)),
                .key = PQgetvalue(res, 0, 1),
                .own_state = PQgetvalue(res, 0, 2),
                .effective_state = PQgetvalue(res, 0, 3),
                .removed = PQgetvalue(res, 0, 4)[0] == 't',
                .min_ok = PQgetisnull(res, 0, 5) ? -1 : (int)parse_i64(PQgetvalue(res, 0, 5)),
        };
        ns->fn(ns->userdata, &row);
}

int fl_store_load_nodes(struct fl_store *s, const int64_t *ids, size_t n, fl_store_node_fn fn, void *userdata)
{
        struct node_stream ns = { fn, userdata };
        _cleanup_free_ char *arr = ids ? i64_array(ids, n) : NULL;

        return stream_rows(s,
                           "SELECT id, key, faultline.own_effective(own_state, stale)::text, effective_state::text,"
                           " removed_at IS NOT NULL, min_ok FROM faultline.nodes"
                           " WHERE $1::bigint[] IS NULL OR id = ANY ($1::bigint[])",
                           arr, node_row, &ns, "loading nodes");
}

struct edge_stream {
        fl_store_edge_fn fn;
        void *userdata;
};

static void edge_row(PGresult *res, void *u)
{
        struct edge_stream *es = u;
        es->fn(es->userdata, parse_i64(PQgetvalue(res, 0, 0)), parse_i64(PQgetvalue(res, 0, 1)),
               PQgetvalue(res, 0, 2)[0] == 't');
}

int fl_store_load_edges(struct fl_store *s, const int64_t *from_ids, size_t n, fl_store_edge_fn fn, void *userdata)
{
        struct edge_stream es = { fn, userdata };
        _cleanup_free_ char *arr = from_ids ? i64_array(from_ids, n) : NULL;

        return stream_rows(s,
                           "SELECT from_id, to_id, type = 'part_of' FROM faultline.edges"
                           " WHERE $1::bigint[] IS NULL OR from_id = ANY ($1::bigint[]) ORDER BY from_id",
                           arr, edge_row, &es, "loading edges");
}

int fl_store_take_dirty(struct fl_store *s, int64_t **ret_ids, bool **ret_graph, size_t *ret_n)
{
        _cleanup_pgresult_ PGresult *res = PQexec(s->conn, "DELETE FROM faultline.dirty RETURNING node_id, graph");
        int r = expect(s, res, PGRES_TUPLES_OK, "taking changed nodes");
        if (r < 0)
                return r;
        size_t n = (size_t)PQntuples(res);
        int64_t *ids = fl_new0(int64_t, n);
        bool *graph = fl_new0(bool, n);
        for (size_t i = 0; i < n; i++) {
                ids[i] = parse_i64(PQgetvalue(res, (int)i, 0));
                graph[i] = PQgetvalue(res, (int)i, 1)[0] == 't';
        }
        *ret_ids = ids;
        *ret_graph = graph;
        *ret_n = n;
        return 0;
}

int fl_store_write_effective(struct fl_store *s, const struct fl_effective_change *c, size_t n, bool *ret_written)
{
        _cleanup_free_ int64_t *ids = fl_new0(int64_t, n);
        _cleanup_free_ const char **olds = fl_new0(const char *, n), **news = fl_new0(const char *, n),
                                  **causes = fl_new0(const char *, n), **changed = fl_new0(const char *, n);
        _cleanup_free_ char *pi = NULL, *po = NULL, *pn = NULL, *pc = NULL, *pb = NULL;
        struct fl_strmap locked;
        size_t m = 0;
        int r;

        for (size_t i = 0; i < n; i++)
                ret_written[i] = false;
        if (n == 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                ids[i] = c[i].id;
        r = fl_store_begin(s);
        if (r < 0)
                return r;
        /* Rows an agent's batch holds right now are skipped, not waited
         * for: the caller writes them in a later round, and a failure
         * elsewhere is not held up behind that batch. */
        fl_strmap_init(&locked, 0);
        {
                _cleanup_free_ char *all = i64_array(ids, n);
                const char *params[1] = { all };
                _cleanup_pgresult_ PGresult *res = PQexecParams(
                        s->conn, "SELECT id FROM faultline.nodes WHERE id = ANY ($1::bigint[]) FOR UPDATE SKIP LOCKED",
                        1, NULL, params, NULL, NULL, 0);
                r = expect(s, res, PGRES_TUPLES_OK, "locking nodes for effective states");
                if (r < 0) {
                        fl_strmap_free(&locked);
                        goto fail;
                }
                for (int i = 0; i < PQntuples(res); i++)
                        fl_strmap_put(&locked, PQgetvalue(res, i, 0), 1);
        }
        for (size_t i = 0; i < n; i++) {
                char k[24];
                int64_t v;
                snprintf(k, sizeof(k), "%" PRId64, c[i].id);
                if (!fl_strmap_get(&locked, k, &v))
                        continue;
                ret_written[i] = true;
                ids[m] = c[i].id;
                olds[m] = c[i].old_state;
                news[m] = c[i].new_state;
                causes[m] = c[i].cause_key;
                changed[m] = c[i].state_changed ? "t" : "f";
                m++;
        }
        fl_strmap_free(&locked);
        pi = i64_array(ids, m);
        po = text_array(olds, m);
        pn = text_array(news, m);
        pc = text_array(causes, m);
        pb = text_array(changed, m);
        const char *params[5] = { pi, po, pn, pc, pb };
        {
                _cleanup_pgresult_ PGresult *res =
                        PQexecParams(s->conn,
                                     "WITH c AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],"
                                     " $5::boolean[]) AS c (id, old, new, cause, changed)),"
                                     " upd AS (UPDATE faultline.nodes n SET effective_state = c.new::faultline.state,"
                                     " effective_cause = c.cause,"
                                     " effective_since = CASE WHEN c.changed THEN now() ELSE n.effective_since END"
                                     " FROM c WHERE n.id = c.id RETURNING n.id)"
                                     " INSERT INTO faultline.effective_changes (node_id, old_state, new_state, cause)"
                                     " SELECT c.id, c.old::faultline.state, c.new::faultline.state, c.cause FROM c"
                                     " WHERE c.changed AND c.id IN (SELECT id FROM upd)",
                                     5, NULL, params, NULL, NULL, 0);
                r = expect(s, res, PGRES_COMMAND_OK, "storing effective states");
                if (r < 0)
                        goto fail;
        }
        {
                _cleanup_pgresult_ PGresult *res = PQexecParams(
                        s->conn,
                        "SELECT pg_notify('faultline_state', json_build_object('key', n.key, 'kind', n.kind,"
                        " 'old', c.old, 'new', c.new, 'cause', c.cause, 'at', now())::text)"
                        " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::boolean[])"
                        " AS c (id, old, new, cause, changed) JOIN faultline.nodes n ON n.id = c.id WHERE c.changed",
                        5, NULL, params, NULL, NULL, 0);
                r = expect(s, res, PGRES_TUPLES_OK, "publishing state changes");
                if (r < 0)
                        goto fail;
        }
        r = fl_store_commit(s);
        if (r >= 0)
                return 0;
fail:
        fl_store_rollback(s);
        for (size_t i = 0; i < n; i++)
                ret_written[i] = false;
        return r;
}

int fl_store_mark_silent(struct fl_store *s, int intervals)
{
        char k[16];
        const char *params[1] = { k };

        snprintf(k, sizeof(k), "%d", intervals);
        _cleanup_pgresult_ PGresult *res =
                PQexecParams(s->conn, "SELECT faultline.mark_silent_agents($1)", 1, NULL, params, NULL, NULL, 0);
        return expect(s, res, PGRES_TUPLES_OK, "marking silent agents");
}
