/* SPDX-License-Identifier: MIT */
/* Queries for the CLI: part of the store module, the only libpq user. */
#include "store-query.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stddef.h>

#include "log.h"

/* The lock faultline.declare_edge() takes (deploy/sql/002_propagation.sql). */
#define DECLARATIONS_LOCK "7411003"

/* Times are shown as ISO 8601 in UTC, the session's time zone (set at
 * connection): to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'). Ages are whole
 * seconds by the database's clock. An operator's moment is $base plus
 * $offset seconds (struct fl_query_time). */

struct fl_store_query {
        PGconn *conn;
        char error[512];
};

static void pqclearp(PGresult **r)
{
        if (*r)
                PQclear(*r);
}
#define _cleanup_pgresult_ _cleanup_(pqclearp)

static void set_error(struct fl_store_query *q, const char *msg)
{
        snprintf(q->error, sizeof(q->error), "%s", msg ? msg : "");
        size_t n = strlen(q->error);
        while (n > 0 && (q->error[n - 1] == '\n' || q->error[n - 1] == ' '))
                q->error[--n] = '\0';
}

const char *fl_store_query_last_error(struct fl_store_query *q)
{
        return q->error;
}

/* Translates a failure once, here. Refusals the caller expects (a cycle,
 * a malformed time, a missing node) are not logged: the caller knows what
 * the operator asked for and says so; anything else is. */
static int fail(struct fl_store_query *q, PGresult *res, const char *what)
{
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

        set_error(q, primary ? primary : PQerrorMessage(q->conn));
        if (PQstatus(q->conn) != CONNECTION_OK) {
                fl_error("lost the database connection while %s: %s", what, q->error);
                return -ENOTCONN;
        }
        if (state) {
                if (strcmp(state, "23505") == 0)
                        return -EEXIST;
                /* check_violation (cycles, self-dependencies, key syntax),
                 * datetime formats and ranges, invalid parameters */
                if (strcmp(state, "23514") == 0 || strcmp(state, "22007") == 0 || strcmp(state, "22008") == 0 ||
                    strcmp(state, "22023") == 0 || strcmp(state, "22009") == 0)
                        return -EINVAL;
                if (strcmp(state, "P0002") == 0) /* no_data_found */
                        return -ENOENT;
        }
        const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
        fl_error("database error while %s: %s%s%s", what, q->error, detail ? ": " : "", detail ? detail : "");
        return -EIO;
}

static int expect(struct fl_store_query *q, PGresult *res, ExecStatusType want, const char *what)
{
        if (!res || PQresultStatus(res) != want)
                return fail(q, res, what);
        return 0;
}

static void notice_quiet(void *arg, const char *msg)
{
        (void)arg;
        fl_debug("database notice: %s", msg);
}

int fl_store_query_connect(const char *conninfo, struct fl_store_query **ret)
{
        /* dbname is expanded as a connection string; the application name
         * tells operators in pg_stat_activity which sessions are ours. */
        static const char *const keywords[] = { "dbname", "fallback_application_name", NULL };
        const char *values[] = { conninfo ? conninfo : "", "faultline", NULL };
        struct fl_store_query *q = fl_new0(struct fl_store_query, 1);

        q->conn = PQconnectdbParams(keywords, values, 1);
        if (!q->conn)
                fl_oom();
        if (PQstatus(q->conn) != CONNECTION_OK) {
                set_error(q, PQerrorMessage(q->conn));
                fl_error("could not connect to the database: %s", q->error);
                fl_store_query_free(q);
                return -ENOTCONN;
        }
        PQsetNoticeProcessor(q->conn, notice_quiet, NULL);
        _cleanup_pgresult_ PGresult *r = PQexec(q->conn, "SET client_min_messages = warning; SET TIME ZONE 'UTC'");
        int k = expect(q, r, PGRES_COMMAND_OK, "setting up the session");
        if (k < 0) {
                fl_store_query_free(q);
                return k;
        }
        *ret = q;
        return 0;
}

void fl_store_query_free(struct fl_store_query *q)
{
        if (!q)
                return;
        if (q->conn)
                PQfinish(q->conn);
        free(q);
}

static int exec_params(struct fl_store_query *q, const char *sql, int n, const char *const *params, ExecStatusType want,
                       const char *what, PGresult **ret)
{
        PGresult *res = PQexecParams(q->conn, sql, n, NULL, params, NULL, NULL, 0);
        int r = expect(q, res, want, what);
        if (r < 0) {
                PQclear(res);
                return r;
        }
        *ret = res;
        return 0;
}

static int command(struct fl_store_query *q, const char *literal_sql, const char *what)
{
        _cleanup_pgresult_ PGresult *r = PQexec(q->conn, literal_sql);
        return expect(q, r, PGRES_COMMAND_OK, what);
}

int fl_store_query_begin(struct fl_store_query *q)
{
        return command(q, "BEGIN", "starting a transaction");
}

int fl_store_query_commit(struct fl_store_query *q)
{
        return command(q, "COMMIT", "committing");
}

void fl_store_query_rollback(struct fl_store_query *q)
{
        if (PQstatus(q->conn) == CONNECTION_OK)
                PQclear(PQexec(q->conn, "ROLLBACK"));
}

int fl_store_query_lock_declarations(struct fl_store_query *q)
{
        _cleanup_pgresult_ PGresult *r = PQexec(q->conn, "SELECT pg_advisory_xact_lock(" DECLARATIONS_LOCK ")");
        return expect(q, r, PGRES_TUPLES_OK, "waiting for other declarations");
}

/*
 * Rows from a table: each column of the result goes to a field of the row
 * struct, as the table says. The strings are copied behind the rows, in
 * the same allocation.
 */
enum col_type {
        COL_TEXT, /* const char *; NULL for SQL NULL */
        COL_INT, /* int64_t; -1 for SQL NULL */
        COL_BOOL, /* bool */
};

struct col {
        enum col_type type;
        size_t offset;
};

#define TEXT(type, field)                       \
        {                                       \
                COL_TEXT, offsetof(type, field) \
        }
#define INT(type, field)                       \
        {                                      \
                COL_INT, offsetof(type, field) \
        }
#define BOOL(type, field)                       \
        {                                       \
                COL_BOOL, offsetof(type, field) \
        }

static void *fill_rows(PGresult *res, const struct col *cols, size_t n_cols, size_t row_size, size_t *ret_n)
{
        size_t n = (size_t)PQntuples(res), strings = 0;

        for (size_t i = 0; i < n; i++)
                for (size_t c = 0; c < n_cols; c++)
                        if (cols[c].type == COL_TEXT && !PQgetisnull(res, (int)i, (int)c))
                                strings += (size_t)PQgetlength(res, (int)i, (int)c) + 1;
        char *block = fl_malloc0(row_size * n + strings);
        char *text = block + row_size * n;
        for (size_t i = 0; i < n; i++) {
                char *row = block + row_size * i;
                for (size_t c = 0; c < n_cols; c++) {
                        const char *v = PQgetvalue(res, (int)i, (int)c);
                        bool null = PQgetisnull(res, (int)i, (int)c);
                        void *field = row + cols[c].offset;
                        switch (cols[c].type) {
                        case COL_TEXT: {
                                const char *s = NULL;
                                if (!null) {
                                        size_t len = (size_t)PQgetlength(res, (int)i, (int)c);
                                        memcpy(text, v, len + 1);
                                        s = text;
                                        text += len + 1;
                                }
                                memcpy(field, &s, sizeof(s));
                                break;
                        }
                        case COL_INT: {
                                int64_t x = -1;
                                if (!null && fl_safe_atoi64(v, &x) < 0)
                                        x = -1;
                                memcpy(field, &x, sizeof(x));
                                break;
                        }
                        case COL_BOOL: {
                                bool b = !null && v[0] == 't';
                                memcpy(field, &b, sizeof(b));
                                break;
                        }
                        }
                }
        }
        *ret_n = n;
        return block;
}

static int query_rows(struct fl_store_query *q, const char *sql, int n_params, const char *const *params,
                      const struct col *cols, size_t n_cols, size_t row_size, const char *what, void **ret,
                      size_t *ret_n)
{
        _cleanup_pgresult_ PGresult *res = NULL;
        int r = exec_params(q, sql, n_params, params, PGRES_TUPLES_OK, what, &res);
        if (r < 0)
                return r;
        if ((size_t)PQnfields(res) != n_cols) {
                set_error(q, "unexpected number of columns");
                fl_error("database error while %s: %s", what, q->error);
                return -EIO;
        }
        *ret = fill_rows(res, cols, n_cols, row_size, ret_n);
        return 0;
}

/* Array literal of text values, quoted and escaped for array input syntax.
 * It is passed as a parameter, never spliced into SQL. */
static char *text_array(const char *const *v, size_t n)
{
        size_t cap = 64, len = 0;
        char *buf = fl_malloc(cap);

        buf[len++] = '{';
        for (size_t i = 0; i < n; i++) {
                buf = fl_grow(buf, &cap, len + 2 * strlen(v[i]) + 8, 1);
                if (i)
                        buf[len++] = ',';
                buf[len++] = '"';
                for (const char *p = v[i]; *p; p++) {
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

/* Ordered by the qualified columns: an unqualified name would pick the
 * text output column of the same name, and sort states alphabetically. */
static const char status_sql[] =
        "SELECT s.key, s.kind, s.own_state::text, s.effective_state::text, s.reason,"
        " to_char(s.since, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), greatest(extract(epoch FROM now() - s.since), 0)::bigint,"
        " s.in_maintenance, s.min_ok, s.attributes ->> 'description',"
        " to_char(s.last_seen, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), s.agent"
        " FROM faultline.status s"
        " WHERE ($1::text IS NULL OR s.kind = $1) AND (NOT $2::boolean OR s.effective_state <> 'ok')"
        " AND ($3::text IS NULL OR s.key = $3)"
        " ORDER BY s.kind = 'service' DESC, s.effective_state DESC, s.own_state DESC, s.key";

int fl_store_query_status(struct fl_store_query *q, const char *kind, bool not_ok, const char *key,
                          struct fl_query_status_row **ret, size_t *ret_n)
{
        static const struct col cols[] = {
                TEXT(struct fl_query_status_row, key),       TEXT(struct fl_query_status_row, kind),
                TEXT(struct fl_query_status_row, own_state), TEXT(struct fl_query_status_row, effective_state),
                TEXT(struct fl_query_status_row, reason),    TEXT(struct fl_query_status_row, since),
                INT(struct fl_query_status_row, age_s),      BOOL(struct fl_query_status_row, in_maintenance),
                INT(struct fl_query_status_row, min_ok),     TEXT(struct fl_query_status_row, description),
                TEXT(struct fl_query_status_row, last_seen), TEXT(struct fl_query_status_row, agent),
        };
        const char *params[3] = { kind, not_ok ? "t" : "f", key };

        return query_rows(q, status_sql, 3, params, cols, FL_ARRAY_SIZE(cols), sizeof(struct fl_query_status_row),
                          "reading node status", (void **)ret, ret_n);
}

int fl_store_query_known(struct fl_store_query *q, const char *const *keys, size_t n, bool *ret_known)
{
        _cleanup_free_ char *arr = text_array(keys, n);
        _cleanup_free_ bool *known = fl_new0(bool, n);
        const char *params[1] = { arr };
        _cleanup_pgresult_ PGresult *res = NULL;
        int r = exec_params(q,
                            "SELECT k.ord, EXISTS (SELECT 1 FROM faultline.nodes n WHERE n.key = k.key)"
                            " FROM unnest($1::text[]) WITH ORDINALITY AS k (key, ord)",
                            1, params, PGRES_TUPLES_OK, "looking nodes up", &res);
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(res); i++) {
                int64_t ord;
                if (fl_safe_atoi64(PQgetvalue(res, i, 0), &ord) < 0 || ord < 1 || (size_t)ord > n)
                        return -EIO;
                known[ord - 1] = PQgetvalue(res, i, 1)[0] == 't';
        }
        memcpy(ret_known, known, sizeof(bool) * n);
        return 0;
}

/* The function's order is kept (worst cause first, then the shortest
 * path); the edge types between neighbours on a path come from
 * faultline.edges. */
static const char root_causes_sql[] =
        "SELECT r.rank, r.cause_key, r.cause_state::text, r.cause_reason,"
        " to_char(r.cause_since, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " greatest(extract(epoch FROM now() - r.cause_since), 0)::bigint,"
        " p.ord, p.key, n.effective_state::text,"
        " to_char(n.effective_since, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " greatest(extract(epoch FROM now() - n.effective_since), 0)::bigint,"
        " (SELECT string_agg(e.type, ',' ORDER BY e.type)"
        "    FROM faultline.edges e JOIN faultline.nodes t ON t.id = e.to_id"
        "   WHERE e.from_id = n.id AND t.key = r.path[p.ord::integer + 1])"
        " FROM faultline.root_cause_of($1) WITH ORDINALITY"
        "      AS r (node_key, node_state, cause_key, cause_state, cause_reason, cause_since, path, rank)"
        " CROSS JOIN LATERAL unnest(r.path) WITH ORDINALITY AS p (key, ord)"
        " JOIN faultline.nodes n ON n.key = p.key"
        " ORDER BY r.rank, p.ord";

int fl_store_query_root_causes(struct fl_store_query *q, const char *key, struct fl_query_path_row **ret, size_t *ret_n)
{
        static const struct col cols[] = {
                INT(struct fl_query_path_row, cause),
                TEXT(struct fl_query_path_row, cause_key),
                TEXT(struct fl_query_path_row, cause_state),
                TEXT(struct fl_query_path_row, cause_reason),
                TEXT(struct fl_query_path_row, cause_since),
                INT(struct fl_query_path_row, cause_age_s),
                INT(struct fl_query_path_row, position),
                TEXT(struct fl_query_path_row, key),
                TEXT(struct fl_query_path_row, effective_state),
                TEXT(struct fl_query_path_row, since),
                INT(struct fl_query_path_row, age_s),
                TEXT(struct fl_query_path_row, edge_types),
        };
        const char *params[1] = { key };

        return query_rows(q, root_causes_sql, 1, params, cols, FL_ARRAY_SIZE(cols), sizeof(struct fl_query_path_row),
                          "looking for root causes", (void **)ret, ret_n);
}

int fl_store_query_impact(struct fl_store_query *q, const char *key, struct fl_query_impact_row **ret, size_t *ret_n)
{
        static const struct col cols[] = {
                TEXT(struct fl_query_impact_row, key),
                TEXT(struct fl_query_impact_row, kind),
                TEXT(struct fl_query_impact_row, effective_state),
                INT(struct fl_query_impact_row, depth),
        };
        const char *params[1] = { key };

        return query_rows(
                q,
                "SELECT node_key, node_kind, node_state::text, depth FROM faultline.impact_of($1) WITH ORDINALITY AS i"
                " ORDER BY i.ordinality",
                1, params, cols, FL_ARRAY_SIZE(cols), sizeof(struct fl_query_impact_row), "looking for impact",
                (void **)ret, ret_n);
}

static const char edges_sql[] =
        "SELECT f.key, t.key, e.type, e.agent_id IS NULL, a.name"
        "  FROM faultline.edges e"
        "  JOIN faultline.nodes f ON f.id = e.from_id"
        "  JOIN faultline.nodes t ON t.id = e.to_id"
        "  LEFT JOIN faultline.agents a ON a.id = e.agent_id"
        " WHERE ($1::text[] IS NULL OR f.key = ANY ($1::text[])) AND ($2::text IS NULL OR t.key = $2)"
        "   AND (NOT $3::boolean OR e.agent_id IS NULL)"
        " ORDER BY f.key, t.key, e.type";

int fl_store_query_edges(struct fl_store_query *q, const char *const *from_keys, size_t n_from, const char *to_key,
                         bool declared_only, struct fl_query_edge_row **ret, size_t *ret_n)
{
        static const struct col cols[] = {
                TEXT(struct fl_query_edge_row, from),  TEXT(struct fl_query_edge_row, to),
                TEXT(struct fl_query_edge_row, type),  BOOL(struct fl_query_edge_row, declared),
                TEXT(struct fl_query_edge_row, agent),
        };
        _cleanup_free_ char *arr = from_keys ? text_array(from_keys, n_from) : NULL;
        const char *params[3] = { arr, to_key, declared_only ? "t" : "f" };

        return query_rows(q, edges_sql, 3, params, cols, FL_ARRAY_SIZE(cols), sizeof(struct fl_query_edge_row),
                          "reading dependencies", (void **)ret, ret_n);
}

int fl_store_query_declare_edge(struct fl_store_query *q, const char *from, const char *to, const char *type)
{
        const char *params[3] = { from, to, type ? type : "depends_on" };
        _cleanup_pgresult_ PGresult *res = NULL;

        return exec_params(q, "SELECT faultline.declare_edge($1, $2, $3)", 3, params, PGRES_TUPLES_OK,
                           "declaring a dependency", &res);
}

int fl_store_query_undeclare_edge(struct fl_store_query *q, const char *from, const char *to, const char *type)
{
        const char *params[3] = { from, to, type };
        _cleanup_pgresult_ PGresult *res = NULL;
        int64_t removed;
        int r;

        /* Without a type, the schema's own function; with one, only that
         * edge (which the function cannot tell apart). */
        if (!type)
                r = exec_params(q, "SELECT faultline.undeclare_edge($1, $2)", 2, params, PGRES_TUPLES_OK,
                                "removing a dependency", &res);
        else
                r = exec_params(q,
                                "WITH d AS (DELETE FROM faultline.edges e USING faultline.nodes f, faultline.nodes t"
                                " WHERE e.from_id = f.id AND e.to_id = t.id AND f.key = $1 AND t.key = $2"
                                " AND e.type = $3 AND e.agent_id IS NULL RETURNING 1)"
                                " SELECT count(*) FROM d",
                                3, params, PGRES_TUPLES_OK, "removing a dependency", &res);
        if (r < 0)
                return r;
        if (PQntuples(res) != 1 || fl_safe_atoi64(PQgetvalue(res, 0, 0), &removed) < 0 || removed < 0)
                return -EIO;
        return (int)FL_MIN(removed, (int64_t)INT32_MAX);
}

/* Creates the service, or updates it only where it differs, so that
 * declaring what is declared already writes nothing. */
static const char service_put_sql[] =
        "INSERT INTO faultline.nodes AS n (key, kind, declared, min_ok, attributes)"
        " VALUES ($1, 'service', true, $2::integer,"
        "         CASE WHEN $3::text IS NULL THEN '{}' ELSE jsonb_build_object('description', $3::text) END)"
        " ON CONFLICT (key) DO UPDATE"
        "   SET min_ok = excluded.min_ok, declared = true, removed_at = NULL,"
        "       attributes = CASE WHEN $3::text IS NULL THEN n.attributes - 'description'"
        "                    ELSE n.attributes || jsonb_build_object('description', $3::text) END"
        " WHERE n.min_ok IS DISTINCT FROM excluded.min_ok OR NOT n.declared OR n.removed_at IS NOT NULL"
        "    OR n.attributes ->> 'description' IS DISTINCT FROM $3::text";

int fl_store_query_service_put(struct fl_store_query *q, const char *key, int64_t min_ok, const char *description)
{
        char k[24];
        const char *params[3] = { key, min_ok >= 0 ? k : NULL, description };
        _cleanup_pgresult_ PGresult *res = NULL;

        snprintf(k, sizeof(k), "%" PRId64, min_ok);
        int r = exec_params(q, service_put_sql, 3, params, PGRES_COMMAND_OK, "declaring a service", &res);
        if (r < 0)
                return r;
        return strcmp(PQcmdTuples(res), "0") != 0;
}

int fl_store_query_service_remove(struct fl_store_query *q, const char *key)
{
        const char *params[1] = { key };
        _cleanup_pgresult_ PGresult *res = NULL;

        /* Its own edges go with it (ON DELETE CASCADE). */
        int r = exec_params(q, "DELETE FROM faultline.nodes WHERE key = $1 AND kind = 'service' AND agent_id IS NULL",
                            1, params, PGRES_COMMAND_OK, "removing a service", &res);
        if (r < 0)
                return r;
        return strcmp(PQcmdTuples(res), "0") == 0 ? -ENOENT : 0;
}

static const struct col maintenance_cols[] = {
        INT(struct fl_query_maintenance_row, id),      TEXT(struct fl_query_maintenance_row, key),
        TEXT(struct fl_query_maintenance_row, starts), TEXT(struct fl_query_maintenance_row, ends),
        TEXT(struct fl_query_maintenance_row, reason), BOOL(struct fl_query_maintenance_row, active),
        BOOL(struct fl_query_maintenance_row, past),
};

/* The window is inserted only when it ends after it starts, so that an
 * empty result tells the two refusals apart by a second look. */
static const char maintenance_add_sql[] =
        "WITH w AS (SELECT ($2::timestamptz + $3::bigint * interval '1 second') AS s,"
        "                  ($4::timestamptz + $5::bigint * interval '1 second') AS e),"
        " m AS (INSERT INTO faultline.maintenance (node_id, starts, ends, reason)"
        "       SELECT n.id, w.s, w.e, $6 FROM faultline.nodes n, w WHERE n.key = $1 AND w.e > w.s"
        "       RETURNING id, node_id, starts, ends, reason)"
        " SELECT m.id, $1, to_char(m.starts, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " to_char(m.ends, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), m.reason,"
        " now() >= m.starts AND now() < m.ends, m.ends <= now() FROM m";

int fl_store_query_maintenance_add(struct fl_store_query *q, const char *key, const struct fl_query_time *from,
                                   const struct fl_query_time *until, const char *reason,
                                   struct fl_query_maintenance_row **ret)
{
        char off_from[24], off_until[24];
        const char *params[6] = { key, from->base, off_from, until->base, off_until, reason };
        _cleanup_free_ struct fl_query_maintenance_row *rows = NULL;
        size_t n = 0;
        int r;

        snprintf(off_from, sizeof(off_from), "%" PRId64, from->offset_s);
        snprintf(off_until, sizeof(off_until), "%" PRId64, until->offset_s);
        r = query_rows(q, maintenance_add_sql, 6, params, maintenance_cols, FL_ARRAY_SIZE(maintenance_cols),
                       sizeof(struct fl_query_maintenance_row), "adding a maintenance window", (void **)&rows, &n);
        if (r < 0)
                return r;
        if (n == 0) {
                bool known = false;
                r = fl_store_query_known(q, &key, 1, &known);
                if (r < 0)
                        return r;
                return known ? -ERANGE : -ENOENT;
        }
        *ret = TAKE_PTR(rows);
        return 0;
}

static const char maintenance_list_sql[] = "SELECT m.id, n.key, to_char(m.starts, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                                           " to_char(m.ends, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), m.reason,"
                                           " now() >= m.starts AND now() < m.ends, m.ends <= now()"
                                           "  FROM faultline.maintenance m JOIN faultline.nodes n ON n.id = m.node_id"
                                           " WHERE $1::boolean OR m.ends > now()"
                                           " ORDER BY m.starts, m.id";

int fl_store_query_maintenance_list(struct fl_store_query *q, bool all, struct fl_query_maintenance_row **ret,
                                    size_t *ret_n)
{
        const char *params[1] = { all ? "t" : "f" };

        return query_rows(q, maintenance_list_sql, 1, params, maintenance_cols, FL_ARRAY_SIZE(maintenance_cols),
                          sizeof(struct fl_query_maintenance_row), "reading maintenance windows", (void **)ret, ret_n);
}

int fl_store_query_maintenance_remove(struct fl_store_query *q, int64_t id)
{
        char text[24];
        const char *params[1] = { text };
        _cleanup_pgresult_ PGresult *res = NULL;

        snprintf(text, sizeof(text), "%" PRId64, id);
        int r = exec_params(q, "DELETE FROM faultline.maintenance WHERE id = $1::bigint", 1, params, PGRES_COMMAND_OK,
                            "removing a maintenance window", &res);
        if (r < 0)
                return r;
        return strcmp(PQcmdTuples(res), "0") == 0 ? -ENOENT : 0;
}

static const char availability_sql[] =
        "SELECT a.node_key, to_char(p.f, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " to_char(p.t, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " a.period_minutes::text, a.down_minutes::text, a.blind_minutes::text, a.maintenance_minutes::text,"
        " a.down_outside_maintenance_minutes::text, a.uptime_pct::text, a.uptime_excluding_maintenance_pct::text"
        "  FROM (SELECT ($2::timestamptz + $3::bigint * interval '1 second') AS f,"
        "               ($4::timestamptz + $5::bigint * interval '1 second') AS t) p,"
        "       faultline.availability($1, p.f, p.t) a";

int fl_store_query_availability(struct fl_store_query *q, const char *key, const struct fl_query_time *from,
                                const struct fl_query_time *to, struct fl_query_sla_row **ret)
{
        static const struct col cols[] = {
                TEXT(struct fl_query_sla_row, key),
                TEXT(struct fl_query_sla_row, from),
                TEXT(struct fl_query_sla_row, to),
                TEXT(struct fl_query_sla_row, period_minutes),
                TEXT(struct fl_query_sla_row, down_minutes),
                TEXT(struct fl_query_sla_row, blind_minutes),
                TEXT(struct fl_query_sla_row, maintenance_minutes),
                TEXT(struct fl_query_sla_row, down_outside_maintenance_minutes),
                TEXT(struct fl_query_sla_row, uptime_pct),
                TEXT(struct fl_query_sla_row, uptime_excluding_maintenance_pct),
        };
        char off_from[24], off_to[24];
        const char *params[5] = { key, from->base, off_from, to->base, off_to };
        _cleanup_free_ struct fl_query_sla_row *rows = NULL;
        size_t n = 0;

        snprintf(off_from, sizeof(off_from), "%" PRId64, from->offset_s);
        snprintf(off_to, sizeof(off_to), "%" PRId64, to->offset_s);
        int r = query_rows(q, availability_sql, 5, params, cols, FL_ARRAY_SIZE(cols), sizeof(struct fl_query_sla_row),
                           "computing availability", (void **)&rows, &n);
        if (r < 0)
                return r;
        if (n != 1) {
                set_error(q, "availability returned no row");
                fl_error("database error while computing availability: %s", q->error);
                return -EIO;
        }
        *ret = TAKE_PTR(rows);
        return 0;
}

int fl_store_query_listen_changes(struct fl_store_query *q)
{
        return command(q, "LISTEN faultline_state", "listening for state changes");
}

/* Hands queued notices to fn; returns how many. */
static int drain(struct fl_store_query *q, fl_store_query_change_fn fn, void *userdata)
{
        int handed = 0;
        bool more = true;

        for (PGnotify *n; (n = PQnotifies(q->conn));) {
                if (more) {
                        more = fn(userdata, n->extra ? n->extra : "");
                        handed++;
                }
                PQfreemem(n);
        }
        return handed;
}

int fl_store_query_wait_changes(struct fl_store_query *q, int wake_fd, int timeout_ms, fl_store_query_change_fn fn,
                                void *userdata)
{
        int handed;

        if (PQconsumeInput(q->conn) != 1)
                return fail(q, NULL, "waiting for state changes");
        handed = drain(q, fn, userdata);
        if (handed > 0)
                return handed;
        int sock = PQsocket(q->conn);
        if (sock < 0)
                return fail(q, NULL, "waiting for state changes");
        struct pollfd pfd[2] = {
                { .fd = sock, .events = POLLIN },
                { .fd = wake_fd, .events = POLLIN },
        };
        int r = poll(pfd, wake_fd >= 0 ? 2 : 1, timeout_ms);
        if (r < 0)
                return errno == EINTR ? 0 : -errno;
        if (wake_fd >= 0 && (pfd[1].revents & POLLIN))
                return -EINTR;
        if (r == 0)
                return 0;
        if (PQconsumeInput(q->conn) != 1)
                return fail(q, NULL, "waiting for state changes");
        return drain(q, fn, userdata);
}
