/* SPDX-License-Identifier: MIT */
/*
 * faultline: the operator's command-line tool. It talks to PostgreSQL
 * directly, through the store module, with a libpq connection string or the
 * standard PG* environment variables.
 */
#include <getopt.h>
#include <jansson.h>
#include <langinfo.h>
#include <libconfig.h>
#include <locale.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>

#include "conf.h"
#include "envelope.h"
#include "log.h"
#include "store-query.h"
#include "store.h"

static const char *database = NULL;
static bool json_output = false;

/* Tree and arrow glyphs: box drawing on a UTF-8 terminal, ASCII otherwise. */
static struct {
        const char *branch, *last, *pipe, *space, *arrow;
} glyph = { "|- ", "`- ", "|  ", "   ", "->" };

static void usage(FILE *f)
{
        fprintf(f, "usage: faultline [-d CONNINFO] [--json] COMMAND [ARGS]\n"
                   "\n"
                   "Agents:\n"
                   "  agent add NAME [--public-key KEY | --key-file FILE]\n"
                   "                        register an agent; without --public-key a key pair is\n"
                   "                        created and its secret written to FILE (mode 0600,\n"
                   "                        default ./NAME.key)\n"
                   "  agent list [--all]    registered agents (--all: revoked ones too)\n"
                   "  agent remove NAME     revoke an agent's key\n"
                   "\n"
                   "States:\n"
                   "  status [--kind K] [--not-ok]\n"
                   "                        nodes with their effective and own state, services\n"
                   "                        first, then worst first\n"
                   "  why KEY               the paths from KEY down to each root cause\n"
                   "  impact KEY            the nodes KEY makes worse, services first\n"
                   "  watch [--count N] [--timeout S]\n"
                   "                        print every state change as it happens\n"
                   "\n"
                   "Services and dependencies (declared by operators):\n"
                   "  service add NAME --needs KEY[,KEY...] [--min-ok K] [--description TEXT]\n"
                   "  service remove NAME\n"
                   "  service list\n"
                   "  depend A B [--type T] A depends on B (type: depends_on unless given)\n"
                   "  undepend A B [--type T]\n"
                   "                        A no longer depends on B (declared edges only)\n"
                   "  apply FILE [--dry-run]\n"
                   "                        make the declared services equal to FILE\n"
                   "\n"
                   "Maintenance and availability:\n"
                   "  maintenance add KEY [--from TIME] --until TIME --reason TEXT\n"
                   "  maintenance list [--all]\n"
                   "  maintenance remove ID\n"
                   "  sla KEY --from TIME [--to TIME]\n"
                   "                        uptime, downtime, blind spots and maintenance\n"
                   "  TIME: ISO 8601 (2024-05-01T12:00:00Z; UTC without an offset), \"now\", or\n"
                   "  an offset from now such as \"+2h\", \"-30m\", \"+1d12h\" (units s m h d w)\n"
                   "\n"
                   "Options:\n"
                   "  -d, --database CONNINFO  libpq connection string (default: $FAULTLINE_DATABASE,\n"
                   "                        then the PG* environment variables)\n"
                   "      --json            machine-readable output\n"
                   "  -h, --help            this text\n");
}

static int open_store(struct fl_store **ret)
{
        int r = fl_store_connect(database ? database : "", ret);
        if (r < 0)
                fl_error("set the connection with -d CONNINFO, FAULTLINE_DATABASE or PGHOST/PGDATABASE");
        return r;
}

static int open_query(struct fl_store_query **ret)
{
        int r = fl_store_query_connect(database ? database : "", ret);
        if (r < 0)
                fl_error("set the connection with -d CONNINFO, FAULTLINE_DATABASE or PGHOST/PGDATABASE");
        return r;
}

static void print_json(json_t *j)
{
        /* 15 digits: what PostgreSQL's numeric text said, without binary
         * noise (92.5532, not 92.553200000000004). */
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15));
        fputc('\n', stdout);
        json_decref(j);
}

static void format_time(int64_t us, char *buf, size_t size)
{
        time_t t = (time_t)(us / 1000000);
        struct tm tm;

        if (us <= 0) {
                snprintf(buf, size, "never");
                return;
        }
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "45 s", "3 min", "2 h 5 min", "3 d 4 h": precise enough to read, short
 * enough for a column. */
static void format_age(int64_t s, char *buf, size_t size)
{
        if (s < 0)
                s = 0;
        if (s < 60)
                snprintf(buf, size, "%" PRId64 " s", s);
        else if (s < 3600)
                snprintf(buf, size, "%" PRId64 " min", s / 60);
        else if (s < 86400 && (s % 3600) / 60)
                snprintf(buf, size, "%" PRId64 " h %" PRId64 " min", s / 3600, (s % 3600) / 60);
        else if (s < 86400)
                snprintf(buf, size, "%" PRId64 " h", s / 3600);
        else if ((s % 86400) / 3600)
                snprintf(buf, size, "%" PRId64 " d %" PRId64 " h", s / 86400, (s % 86400) / 3600);
        else
                snprintf(buf, size, "%" PRId64 " d", s / 86400);
}

static const char *str_or(const char *s, const char *otherwise)
{
        return s ? s : otherwise;
}

static json_t *json_int_or_null(int64_t v)
{
        return v < 0 ? json_null() : json_integer((json_int_t)v);
}

/* PostgreSQL's numeric text as a JSON number; NULL as null. */
static json_t *json_number_text(const char *s)
{
        double d;
        if (!s || fl_safe_atod(s, &d) < 0)
                return json_null();
        return json_real(d);
}

/* Columns on a terminal: UTF-8 continuation bytes take no room. */
static size_t display_width(const char *s)
{
        size_t w = 0;
        for (; *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        w++;
        return w;
}

/* A table row: printf without the trailing blanks of an empty last
 * column. */
_printf_(1, 2) static void print_row(const char *fmt, ...)
{
        _cleanup_free_ char *line = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&line, fmt, ap) < 0)
                fl_oom();
        va_end(ap);
        size_t n = strlen(line);
        bool newline = n > 0 && line[n - 1] == '\n';
        if (newline)
                line[--n] = '\0';
        while (n > 0 && line[n - 1] == ' ')
                line[--n] = '\0';
        fputs(line, stdout);
        if (newline)
                fputc('\n', stdout);
}

/* What the nodes table accepts (CHECK key ~ '^[a-z]+:.+'), checked here
 * so that the operator is told what a key looks like. */
static bool key_valid(const char *key)
{
        const char *p = key;
        while (*p >= 'a' && *p <= 'z')
                p++;
        return p > key && p[0] == ':' && p[1] != '\0';
}

static bool check_key(const char *key)
{
        if (key_valid(key))
                return true;
        fl_error("invalid node key \"%s\": expected KIND:NAME with a lowercase kind, such as \"vm:hv01/web01\"", key);
        return false;
}

/* A service is named NAME or service:NAME: printable, no spaces or
 * commas (commas separate keys in --needs). */
static bool service_name_valid(const char *name)
{
        if (fl_startswith(name, "service:"))
                name += strlen("service:");
        if (name[0] == '\0')
                return false;
        for (const char *p = name; *p; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == ',')
                        return false;
        return true;
}

/* Returns the key of service NAME, or NULL after saying what is wrong. */
static char *service_key(const char *name)
{
        if (!service_name_valid(name)) {
                fl_error("invalid service name \"%s\": use printable characters without spaces or commas", name);
                return NULL;
        }
        return fl_asprintf("service:%s", fl_startswith(name, "service:") ? name + strlen("service:") : name);
}

static void warn_placeholder(const char *where, const char *key)
{
        fl_warning("%s%s\"%s\" is not known yet; kept as a placeholder", str_or(where, ""), where ? ": " : "", key);
}

/* Reads n digits at *p. */
static bool take_digits(const char **p, int n, int *ret)
{
        int v = 0;
        for (int i = 0; i < n; i++) {
                if ((*p)[i] < '0' || (*p)[i] > '9')
                        return false;
                v = v * 10 + ((*p)[i] - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

/* ISO 8601 as PostgreSQL reads it: YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]]
 * [Z|±HH[:MM]|±HHMM]. Only the shape is checked here; the database checks
 * that the day exists. */
static bool iso8601_valid(const char *s)
{
        int y, mo, d, h, mi, sec, oh, om;

        if (!take_digits(&s, 4, &y) || *s++ != '-' || !take_digits(&s, 2, &mo) || *s++ != '-' ||
            !take_digits(&s, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
                return false;
        if (*s == '\0')
                return true;
        if (*s != 'T' && *s != ' ')
                return false;
        s++;
        if (!take_digits(&s, 2, &h) || *s++ != ':' || !take_digits(&s, 2, &mi) || h > 23 || mi > 59)
                return false;
        if (*s == ':') {
                s++;
                if (!take_digits(&s, 2, &sec) || sec > 60)
                        return false;
                if (*s == '.') {
                        s++;
                        if (*s < '0' || *s > '9')
                                return false;
                        while (*s >= '0' && *s <= '9')
                                s++;
                }
        }
        if (*s == 'Z')
                return s[1] == '\0';
        if (*s == '\0')
                return true;
        if (*s != '+' && *s != '-')
                return false;
        s++;
        if (!take_digits(&s, 2, &oh) || oh > 14)
                return false;
        if (*s == ':')
                s++;
        if (*s && (!take_digits(&s, 2, &om) || om > 59))
                return false;
        return *s == '\0';
}

/* "+2h", "-30m", "+1d12h": an offset in seconds, at most 100 years. */
static bool offset_valid(const char *s, int64_t *ret)
{
        static const int64_t max = 100LL * 366 * 86400;
        int64_t sign = s[0] == '-' ? -1 : 1, total = 0;

        if (s[0] != '+' && s[0] != '-')
                return false;
        s++;
        if (*s == '\0')
                return false;
        while (*s) {
                char num[16];
                size_t k = 0;
                uint64_t v, unit;
                while (*s >= '0' && *s <= '9' && k < sizeof(num) - 1)
                        num[k++] = *s++;
                num[k] = '\0';
                if (k == 0 || fl_safe_atou64(num, &v) < 0)
                        return false;
                switch (*s++) {
                case 's':
                        unit = 1;
                        break;
                case 'm':
                        unit = 60;
                        break;
                case 'h':
                        unit = 3600;
                        break;
                case 'd':
                        unit = 86400;
                        break;
                case 'w':
                        unit = 7 * 86400;
                        break;
                default:
                        return false;
                }
                if (v > (uint64_t)max / unit || total + (int64_t)(v * unit) > max)
                        return false;
                total += (int64_t)(v * unit);
        }
        *ret = sign * total;
        return true;
}

static bool parse_time(const char *option, const char *text, struct fl_query_time *ret)
{
        int64_t off;

        if (strcmp(text, "now") == 0) {
                *ret = (struct fl_query_time){ .base = "now", .offset_s = 0 };
                return true;
        }
        if (offset_valid(text, &off)) {
                *ret = (struct fl_query_time){ .base = "now", .offset_s = off };
                return true;
        }
        if (iso8601_valid(text)) {
                *ret = (struct fl_query_time){ .base = text, .offset_s = 0 };
                return true;
        }
        fl_error("invalid time \"%s\" for --%s: expected ISO 8601 (2024-05-01T12:00:00Z), \"now\", or an offset "
                 "such as \"+2h\" or \"-30m\"",
                 text, option);
        return false;
}

/* getopt's complaints name the word before the options ("add:"); these
 * name the command. */
static int bad_option(const char *command, int c, char **argv)
{
        char short_opt[3] = { '-', (char)optopt, '\0' };
        /* A missing value names the option as written; an unknown short
         * option may sit inside a cluster ("-xk"), so it is named alone. */
        const char *arg = c == '?' && optopt > 0 && optopt < 128 ? short_opt : argv[optind - 1];
        if (c == ':')
                fl_error("option \"%s\" of \"faultline %s\" needs a value", arg, command);
        else
                fl_error("unknown option \"%s\" for \"faultline %s\"; see faultline --help", arg, command);
        return 2;
}

static int cmd_agent_add(int argc, char **argv)
{
        static const struct option options[] = {
                { "public-key", required_argument, NULL, 'p' },
                { "key-file", required_argument, NULL, 'k' },
                {},
        };
        const char *pk_text = NULL, *key_file = NULL;
        _cleanup_free_ char *default_file = NULL;
        _cleanup_store_ struct fl_store *s = NULL;
        uint8_t pk[FL_KEY_BYTES];
        struct fl_keypair kp;
        bool generated = false;
        int c, r;

        optind = 0; /* glibc: reinitialise, after the global "+" parse */
        while ((c = getopt_long(argc, argv, "p:k:", options, NULL)) >= 0) {
                if (c == 'p')
                        pk_text = optarg;
                else if (c == 'k')
                        key_file = optarg;
                else
                        return 2;
        }
        if (optind != argc - 1) {
                fl_error("usage: faultline agent add NAME [--public-key KEY | --key-file FILE]");
                return 2;
        }
        const char *name = argv[optind];
        if (pk_text && key_file) {
                fl_error("give either --public-key or --key-file, not both");
                return 2;
        }
        if (pk_text) {
                if (fl_key_from_text(pk_text, pk) < 0) {
                        fl_error("invalid public key \"%s\": expected 44 characters of base64 as printed by "
                                 "faultline-agent --keygen",
                                 pk_text);
                        return 2;
                }
        } else {
                if (!key_file)
                        key_file = default_file = fl_asprintf("%s.key", name);
                if (access(key_file, F_OK) == 0) {
                        fl_error("key file \"%s\" already exists; give its public key with --public-key instead",
                                 key_file);
                        return 1;
                }
                generated = true;
        }
        if (open_store(&s) < 0)
                return 1;
        if (generated) {
                fl_keypair_generate(&kp);
                memcpy(pk, kp.pk, FL_KEY_BYTES);
        }
        r = fl_store_agent_add(s, name, pk);
        if (r == -EEXIST) {
                fl_error("an agent named \"%s\" is registered already, or this key was used before", name);
                goto fail;
        }
        if (r == -EINVAL) {
                fl_error("invalid agent name \"%s\": use letters, digits, '.', '_' and '-'", name);
                goto fail;
        }
        if (r < 0)
                goto fail;
        if (generated) {
                r = fl_keypair_save(key_file, &kp);
                fl_keypair_wipe(&kp);
                if (r < 0) {
                        fl_error("could not write key file \"%s\": %s; revoking the new agent", key_file, strerror(-r));
                        fl_store_agent_revoke(s, name);
                        return 1;
                }
        }
        char text[FL_KEY_TEXT_BYTES];
        fl_key_to_text(pk, text);
        if (json_output)
                print_json(json_pack("{s:s, s:s, s:s?}", "name", name, "public_key", text, "key_file",
                                     generated ? key_file : NULL));
        else if (generated)
                printf("registered agent \"%s\" with public key %s\nsecret key written to %s (mode 0600): copy it "
                       "to the agent's host and set key_file to it\n",
                       name, text, key_file);
        else
                printf("registered agent \"%s\" with public key %s\n", name, text);
        return 0;
fail:
        if (generated)
                fl_keypair_wipe(&kp);
        return 1;
}

static int cmd_agent_list(int argc, char **argv)
{
        _cleanup_store_ struct fl_store *s = NULL;
        _cleanup_free_ struct fl_agent_row *rows = NULL;
        bool all = argc > 1 && strcmp(argv[1], "--all") == 0;
        size_t n = 0;

        if (open_store(&s) < 0 || fl_store_agents(s, all, &rows, &n) < 0)
                return 1;
        if (json_output) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++) {
                        char text[FL_KEY_TEXT_BYTES], seen[32];
                        fl_key_to_text(rows[i].public_key, text);
                        format_time(rows[i].last_seen_us, seen, sizeof(seen));
                        json_array_append_new(arr,
                                              json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:I, s:I}", "name",
                                                        rows[i].name, "public_key", text, "revoked", rows[i].revoked,
                                                        "last_seen", seen, "hostname", rows[i].hostname, "version",
                                                        rows[i].version, "spool_bytes", (json_int_t)rows[i].spool_bytes,
                                                        "dropped_batches", (json_int_t)rows[i].dropped_batches));
                }
                print_json(arr);
                return 0;
        }
        printf("%-20s %-44s %-20s %-8s %s\n", "NAME", "PUBLIC KEY", "LAST SEEN", "VERSION", "SPOOL");
        for (size_t i = 0; i < n; i++) {
                char text[FL_KEY_TEXT_BYTES], seen[32];
                fl_key_to_text(rows[i].public_key, text);
                format_time(rows[i].last_seen_us, seen, sizeof(seen));
                printf("%-20s %-44s %-20s %-8s %" PRId64 " B%s\n", rows[i].name, text, seen,
                       rows[i].version[0] ? rows[i].version : "-", rows[i].spool_bytes,
                       rows[i].revoked ? " (revoked)" : "");
        }
        return 0;
}

static int cmd_agent_remove(int argc, char **argv)
{
        _cleanup_store_ struct fl_store *s = NULL;
        int r;

        if (argc != 2) {
                fl_error("usage: faultline agent remove NAME");
                return 2;
        }
        if (open_store(&s) < 0)
                return 1;
        r = fl_store_agent_revoke(s, argv[1]);
        if (r == -ENOENT) {
                fl_error("no active agent named \"%s\"", argv[1]);
                return 1;
        }
        if (r < 0)
                return 1;
        printf("revoked agent \"%s\": collectors refuse its messages from now on\n", argv[1]);
        return 0;
}

static json_t *status_json(const struct fl_query_status_row *r)
{
        return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:I, s:b, s:o, s:s?, s:s?, s:s?}", "key", r->key, "kind",
                         r->kind, "effective_state", r->effective_state, "own_state", r->own_state, "reason", r->reason,
                         "since", r->since, "seconds", (json_int_t)r->age_s, "in_maintenance", r->in_maintenance,
                         "min_ok", json_int_or_null(r->min_ok), "description", r->description, "last_seen",
                         r->last_seen, "agent", r->agent);
}

static int cmd_status(int argc, char **argv)
{
        static const struct option options[] = {
                { "kind", required_argument, NULL, 'k' },
                { "not-ok", no_argument, NULL, 'n' },
                {},
        };
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        _cleanup_free_ struct fl_query_status_row *rows = NULL;
        const char *kind = NULL;
        bool not_ok = false;
        size_t n = 0;
        int c;

        optind = 0; /* glibc: reinitialise, after the global "+" parse */
        while ((c = getopt_long(argc, argv, ":k:n", options, NULL)) >= 0) {
                if (c == 'k')
                        kind = optarg;
                else if (c == 'n')
                        not_ok = true;
                else
                        return bad_option("status", c, argv);
        }
        if (optind != argc) {
                fl_error("usage: faultline status [--kind K] [--not-ok]");
                return 2;
        }
        if (open_query(&q) < 0 || fl_store_query_status(q, kind, not_ok, NULL, &rows, &n) < 0)
                return 1;
        if (json_output) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(arr, status_json(&rows[i]));
                print_json(arr);
                return 0;
        }
        size_t w = strlen("NODE"), wk = strlen("KIND");
        for (size_t i = 0; i < n; i++) {
                w = FL_MAX(w, display_width(rows[i].key));
                wk = FL_MAX(wk, display_width(rows[i].kind));
        }
        printf("%-*s  %-*s  %-8s  %-8s  %-5s  %-20s  %-10s  %s\n", (int)w, "NODE", (int)wk, "KIND", "STATE", "OWN",
               "MAINT", "SINCE", "FOR", "REASON");
        for (size_t i = 0; i < n; i++) {
                const struct fl_query_status_row *r = &rows[i];
                char age[32];
                format_age(r->age_s, age, sizeof(age));
                print_row("%-*s  %-*s  %-8s  %-8s  %-5s  %-20s  %-10s  %s\n", (int)w, r->key, (int)wk, r->kind,
                          r->effective_state, r->own_state, r->in_maintenance ? "yes" : "-", r->since, age,
                          str_or(r->reason, ""));
        }
        if (n == 0)
                printf("(no nodes%s)\n", not_ok ? " that are not ok" : kind ? " of that kind" : " yet");
        return 0;
}

/* Looks one node up; says so when there is none. */
static int get_node(struct fl_store_query *q, const char *key, struct fl_query_status_row **ret)
{
        _cleanup_free_ struct fl_query_status_row *rows = NULL;
        size_t n = 0;
        int r = fl_store_query_status(q, NULL, false, key, &rows, &n);
        if (r < 0)
                return r;
        if (n == 0) {
                fl_error("no node \"%s\"", key);
                return -ENOENT;
        }
        *ret = TAKE_PTR(rows);
        return 0;
}

/*
 * The paths of "why", merged on their common prefixes. Rows come cause by
 * cause, each path root first; a node's children keep the order in which
 * the causes came (worst first).
 */
struct why_node {
        const struct fl_query_path_row *row; /* where the node was first seen */
        const struct fl_query_path_row *cause; /* set when it is a root cause */
        const char *edge; /* type(s) of the edge from its parent */
        size_t first_child, last_child, next;
};

#define WHY_NONE SIZE_MAX

static size_t why_child(struct why_node *t, size_t *n, size_t parent, const struct fl_query_path_row *row,
                        const char *edge)
{
        for (size_t c = t[parent].first_child; c != WHY_NONE; c = t[c].next)
                if (strcmp(t[c].row->key, row->key) == 0)
                        return c;
        size_t c = (*n)++;
        t[c] = (struct why_node){
                .row = row, .edge = edge, .first_child = WHY_NONE, .last_child = WHY_NONE, .next = WHY_NONE
        };
        if (t[parent].last_child == WHY_NONE)
                t[parent].first_child = c;
        else
                t[t[parent].last_child].next = c;
        t[parent].last_child = c;
        return c;
}

struct why_line {
        char *left;
        const struct why_node *node;
};

static void why_lines(const struct why_node *t, size_t at, const char *indent, bool last, bool root,
                      struct why_line *out, size_t *n)
{
        const struct why_node *x = &t[at];
        if (root)
                out[*n].left = fl_strdup(x->row->key);
        else
                out[*n].left = fl_asprintf("%s%s%s%s%s", indent, last ? glyph.last : glyph.branch, str_or(x->edge, ""),
                                           x->edge ? " " : "", x->row->key);
        out[*n].node = x;
        (*n)++;
        _cleanup_free_ char *sub = root ? fl_strdup("") : fl_asprintf("%s%s", indent, last ? glyph.space : glyph.pipe);
        for (size_t c = x->first_child; c != WHY_NONE; c = t[c].next)
                why_lines(t, c, sub, t[c].next == WHY_NONE, false, out, n);
}

static json_t *why_json(const struct fl_query_status_row *node, const struct fl_query_path_row *rows, size_t n)
{
        json_t *causes = json_array(), *path = NULL;
        for (size_t i = 0; i < n; i++) {
                const struct fl_query_path_row *r = &rows[i];
                if (r->position == 1) {
                        path = json_array();
                        json_array_append_new(causes, json_pack("{s:s, s:s, s:s?, s:s, s:I, s:o}", "key", r->cause_key,
                                                                "own_state", r->cause_state, "reason", r->cause_reason,
                                                                "since", r->cause_since, "seconds",
                                                                (json_int_t)r->cause_age_s, "path", path));
                }
                json_array_append_new(path, json_pack("{s:s, s:s, s:s, s:I, s:s?}", "key", r->key, "effective_state",
                                                      r->effective_state, "since", r->since, "seconds",
                                                      (json_int_t)r->age_s, "edge_type", r->edge_types));
        }
        return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:I, s:o}", "key", node->key, "effective_state",
                         node->effective_state, "own_state", node->own_state, "reason", node->reason, "since",
                         node->since, "seconds", (json_int_t)node->age_s, "causes", causes);
}

static int cmd_why(int argc, char **argv)
{
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        _cleanup_free_ struct fl_query_status_row *node = NULL;
        _cleanup_free_ struct fl_query_path_row *rows = NULL;
        _cleanup_free_ struct why_node *tree = NULL;
        _cleanup_free_ struct why_line *lines = NULL;
        size_t n = 0, n_tree = 0, n_lines = 0;

        if (argc != 2 || argv[1][0] == '-') {
                fl_error("usage: faultline why KEY");
                return 2;
        }
        const char *key = argv[1];
        if (open_query(&q) < 0 || get_node(q, key, &node) < 0)
                return 1;
        if (strcmp(node->effective_state, "ok") == 0) {
                if (json_output)
                        print_json(why_json(node, NULL, 0));
                else
                        printf("%s is ok\n", key);
                return 0;
        }
        if (fl_store_query_root_causes(q, key, &rows, &n) < 0)
                return 1;
        if (json_output) {
                print_json(why_json(node, rows, n));
                return 0;
        }
        if (n == 0) {
                /* The effective state is written by the propagation
                 * leader, the own states by agents: for a moment they
                 * can disagree. */
                printf("%s is %s, but no node below it has failed on its own (yet); propagation may be catching "
                       "up\n",
                       key, node->effective_state);
                return 0;
        }
        tree = fl_new0(struct why_node, n + 1);
        tree[0] =
                (struct why_node){ .row = &rows[0], .first_child = WHY_NONE, .last_child = WHY_NONE, .next = WHY_NONE };
        n_tree = 1;
        for (size_t i = 0, at = 0; i < n; i++) {
                if (rows[i].position == 1)
                        at = 0;
                else
                        at = why_child(tree, &n_tree, at, &rows[i], rows[i - 1].edge_types);
                bool last_of_path = i + 1 == n || rows[i + 1].position == 1;
                if (last_of_path)
                        tree[at].cause = &rows[i];
        }
        lines = fl_new0(struct why_line, n_tree);
        why_lines(tree, 0, "", true, true, lines, &n_lines);
        size_t w = 0;
        for (size_t i = 0; i < n_lines; i++)
                w = FL_MAX(w, display_width(lines[i].left));
        for (size_t i = 0; i < n_lines; i++) {
                const struct why_node *x = lines[i].node;
                bool interior = x->cause && strcmp(x->cause->cause_state, x->row->effective_state) != 0;
                _cleanup_free_ char *note = NULL;
                char age[32], own_age[32];
                /* how long: a cause's own failure; above it, and for a
                 * cause made worse from below, the effective state */
                format_age(x->cause && !interior ? x->cause->cause_age_s : x->row->age_s, age, sizeof(age));
                if (interior) {
                        format_age(x->cause->cause_age_s, own_age, sizeof(own_age));
                        note = fl_asprintf("own state %s for %s: %s", x->cause->cause_state, own_age,
                                           str_or(x->cause->cause_reason, "no reason given"));
                } else if (x->cause)
                        note = fl_strdup(str_or(x->cause->cause_reason, "(no reason given)"));
                print_row("%s%*s  %-8s  %-10s  %s\n", lines[i].left, (int)(w - display_width(lines[i].left)), "",
                          x->row->effective_state, age, str_or(note, ""));
                free(lines[i].left);
        }
        return 0;
}

static int cmd_impact(int argc, char **argv)
{
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        _cleanup_free_ struct fl_query_status_row *node = NULL;
        _cleanup_free_ struct fl_query_impact_row *rows = NULL;
        size_t n = 0;

        if (argc != 2 || argv[1][0] == '-') {
                fl_error("usage: faultline impact KEY");
                return 2;
        }
        const char *key = argv[1];
        if (open_query(&q) < 0 || get_node(q, key, &node) < 0 || fl_store_query_impact(q, key, &rows, &n) < 0)
                return 1;
        if (json_output) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I}", "key", rows[i].key, "kind",
                                                             rows[i].kind, "effective_state", rows[i].effective_state,
                                                             "depth", (json_int_t)rows[i].depth));
                print_json(json_pack("{s:s, s:s, s:s?, s:o}", "key", key, "own_state", node->own_state, "reason",
                                     node->reason, "impact", arr));
                return 0;
        }
        if (strcmp(node->own_state, "ok") == 0) {
                printf("%s is ok itself: it makes nothing worse\n", key);
                return 0;
        }
        if (n == 0) {
                printf("%s is %s (%s), but nothing that depends on it is worse for it\n", key, node->own_state,
                       str_or(node->reason, "no reason given"));
                return 0;
        }
        printf("%s is %s (%s); it makes %zu node%s worse:\n\n", key, node->own_state,
               str_or(node->reason, "no reason given"), n, n == 1 ? "" : "s");
        size_t w = strlen("NODE"), wk = strlen("KIND");
        for (size_t i = 0; i < n; i++) {
                w = FL_MAX(w, display_width(rows[i].key));
                wk = FL_MAX(wk, display_width(rows[i].kind));
        }
        printf("%-*s  %-*s  %-8s  %s\n", (int)w, "NODE", (int)wk, "KIND", "STATE", "DEPTH");
        for (size_t i = 0; i < n; i++)
                printf("%-*s  %-*s  %-8s  %" PRId64 "\n", (int)w, rows[i].key, (int)wk, rows[i].kind,
                       rows[i].effective_state, rows[i].depth);
        return 0;
}

/* Splits "a,b,c" into v (appended); empty items are refused. */
static bool split_keys(const char *list, struct fl_strv *v)
{
        _cleanup_free_ char *copy = fl_strdup(list);
        char *save = NULL;

        if (list[0] == '\0' || list[strlen(list) - 1] == ',' || strstr(list, ",,") || list[0] == ',') {
                fl_error("invalid list \"%s\": expected KEY[,KEY...]", list);
                return false;
        }
        for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save))
                fl_strv_add(v, k);
        return true;
}

#define _cleanup_strv_ _cleanup_(fl_strv_free)

static json_t *json_strv(char *const *v, size_t n)
{
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, json_string(v[i]));
        return arr;
}

static int cmd_service_add(int argc, char **argv)
{
        static const struct option options[] = {
                { "needs", required_argument, NULL, 'n' },
                { "min-ok", required_argument, NULL, 'm' },
                { "description", required_argument, NULL, 'D' },
                {},
        };
        _cleanup_strv_ struct fl_strv needs = { 0 }, placeholders = { 0 };
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        _cleanup_free_ struct fl_query_edge_row *existing = NULL;
        _cleanup_free_ char *key = NULL;
        _cleanup_free_ bool *known = NULL;
        const char *description = NULL, *min_ok_text = NULL;
        int64_t min_ok = -1;
        size_t n_existing = 0;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":n:m:D:", options, NULL)) >= 0) {
                if (c == 'n') {
                        if (!split_keys(optarg, &needs))
                                return 2;
                } else if (c == 'm')
                        min_ok_text = optarg;
                else if (c == 'D')
                        description = optarg;
                else
                        return bad_option("service add", c, argv);
        }
        if (optind != argc - 1) {
                fl_error("usage: faultline service add NAME --needs KEY[,KEY...] [--min-ok K] [--description TEXT]");
                return 2;
        }
        key = service_key(argv[optind]);
        if (!key)
                return 2;
        if (needs.n == 0) {
                fl_error("a service needs at least one dependency: give --needs KEY[,KEY...]");
                return 2;
        }
        for (size_t i = 0; i < needs.n; i++) {
                if (!check_key(needs.v[i]))
                        return 2;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(needs.v[i], needs.v[j]) == 0) {
                                fl_error("\"%s\" is given twice in --needs", needs.v[i]);
                                return 2;
                        }
        }
        if (min_ok_text) {
                uint64_t v;
                if (fl_safe_atou64(min_ok_text, &v) < 0 || v > needs.n) {
                        fl_error("invalid --min-ok \"%s\": expected a number from 0 to %zu, the number of "
                                 "dependencies given",
                                 min_ok_text, needs.n);
                        return 2;
                }
                min_ok = (int64_t)v;
        }
        if (open_query(&q) < 0)
                return 1;
        /* One transaction: the service and all of its edges, or nothing. */
        r = fl_store_query_begin(q);
        if (r >= 0)
                r = fl_store_query_lock_declarations(q);
        if (r >= 0)
                r = fl_store_query_edges(q, (const char *const *)&key, 1, NULL, false, &existing, &n_existing);
        if (r < 0)
                goto fail;
        if (n_existing > 0) {
                fl_error("service \"%s\" exists already; change it with faultline depend and undepend, or with "
                         "faultline apply",
                         key);
                fl_store_query_rollback(q);
                return 1;
        }
        known = fl_new0(bool, needs.n);
        r = fl_store_query_known(q, (const char *const *)needs.v, needs.n, known);
        if (r >= 0)
                r = fl_store_query_service_put(q, key, min_ok, description);
        for (size_t i = 0; r >= 0 && i < needs.n; i++) {
                r = fl_store_query_declare_edge(q, key, needs.v[i], "depends_on");
                if (r == -EINVAL) {
                        fl_error("could not add service \"%s\": %s", key, fl_store_query_last_error(q));
                        goto fail;
                }
        }
        if (r >= 0)
                r = fl_store_query_commit(q);
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < needs.n; i++)
                if (!known[i]) {
                        warn_placeholder(NULL, needs.v[i]);
                        fl_strv_add(&placeholders, needs.v[i]);
                }
        if (json_output) {
                print_json(json_pack("{s:s, s:o, s:o, s:s?, s:o}", "key", key, "needs", json_strv(needs.v, needs.n),
                                     "min_ok", json_int_or_null(min_ok), "description", description, "placeholders",
                                     json_strv(placeholders.v, placeholders.n)));
                return 0;
        }
        printf("added %s, needing ", key);
        for (size_t i = 0; i < needs.n; i++)
                printf("%s%s", i ? ", " : "", needs.v[i]);
        if (min_ok >= 0)
                printf(" (at least %" PRId64 " ok or warning)\n", min_ok);
        else
                printf(" (all of them)\n");
        return 0;
fail:
        fl_store_query_rollback(q);
        return 1;
}

static int cmd_service_remove(int argc, char **argv)
{
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        _cleanup_free_ struct fl_query_edge_row *parents = NULL, *deps = NULL;
        _cleanup_free_ char *key = NULL;
        size_t n_parents = 0, n_deps = 0;
        int r;

        if (argc != 2 || argv[1][0] == '-') {
                fl_error("usage: faultline service remove NAME");
                return 2;
        }
        key = service_key(argv[1]);
        if (!key)
                return 2;
        if (open_query(&q) < 0)
                return 1;
        r = fl_store_query_begin(q);
        if (r >= 0)
                r = fl_store_query_lock_declarations(q);
        if (r >= 0)
                r = fl_store_query_edges(q, NULL, 0, key, false, &parents, &n_parents);
        if (r >= 0)
                r = fl_store_query_edges(q, (const char *const *)&key, 1, NULL, false, &deps, &n_deps);
        if (r < 0)
                goto fail;
        /* Removing it would silently drop what others declared on it. */
        if (n_parents > 0) {
                fl_error("service \"%s\" is needed by \"%s\"%s; remove that first (faultline undepend %s %s)", key,
                         parents[0].from, n_parents > 1 ? " and others" : "", parents[0].from, key);
                goto fail;
        }
        r = fl_store_query_service_remove(q, key);
        if (r == -ENOENT) {
                fl_error("no service \"%s\"", key);
                goto fail;
        }
        if (r >= 0)
                r = fl_store_query_commit(q);
        if (r < 0)
                goto fail;
        if (json_output)
                print_json(json_pack("{s:s, s:I}", "removed", key, "dependencies", (json_int_t)n_deps));
        else
                printf("removed %s and its %zu dependenc%s\n", key, n_deps, n_deps == 1 ? "y" : "ies");
        return 0;
fail:
        fl_store_query_rollback(q);
        return 1;
}

static int cmd_service_list(int argc, char **argv)
{
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        _cleanup_free_ struct fl_query_status_row *rows = NULL;
        _cleanup_free_ struct fl_query_edge_row *edges = NULL;
        _cleanup_free_ const char **keys = NULL;
        size_t n = 0, n_edges = 0;

        (void)argv;
        if (argc != 1) {
                fl_error("usage: faultline service list");
                return 2;
        }
        if (open_query(&q) < 0 || fl_store_query_status(q, "service", false, NULL, &rows, &n) < 0)
                return 1;
        keys = fl_new0(const char *, n);
        for (size_t i = 0; i < n; i++)
                keys[i] = rows[i].key;
        if (fl_store_query_edges(q, keys, n, NULL, false, &edges, &n_edges) < 0)
                return 1;
        /* Services by name; edges are ordered by their source too. */
        if (json_output) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++) {
                        json_t *needs = json_array();
                        for (size_t e = 0; e < n_edges; e++)
                                if (strcmp(edges[e].from, rows[i].key) == 0)
                                        json_array_append_new(needs,
                                                              json_pack("{s:s, s:s, s:b}", "key", edges[e].to, "type",
                                                                        edges[e].type, "declared", edges[e].declared));
                        json_t *o = status_json(&rows[i]);
                        json_object_set_new(o, "needs", needs);
                        json_array_append_new(arr, o);
                }
                print_json(arr);
                return 0;
        }
        /* NEEDS: the service's dependencies, joined, as wide as the
         * widest list */
        char **needs = fl_new0(char *, n);
        size_t w = strlen("SERVICE"), wn = strlen("NEEDS");
        for (size_t i = 0; i < n; i++) {
                needs[i] = fl_strdup("");
                for (size_t e = 0; e < n_edges; e++)
                        if (strcmp(edges[e].from, rows[i].key) == 0) {
                                char *more = fl_asprintf("%s%s%s", needs[i], needs[i][0] ? ", " : "", edges[e].to);
                                free(needs[i]);
                                needs[i] = more;
                        }
                w = FL_MAX(w, display_width(rows[i].key));
                wn = FL_MAX(wn, display_width(needs[i]));
        }
        printf("%-*s  %-8s  %-6s  %-*s  %s\n", (int)w, "SERVICE", "STATE", "MIN OK", (int)wn, "NEEDS", "DESCRIPTION");
        for (size_t i = 0; i < n; i++) {
                char min_ok[24];
                if (rows[i].min_ok >= 0)
                        snprintf(min_ok, sizeof(min_ok), "%" PRId64, rows[i].min_ok);
                else
                        snprintf(min_ok, sizeof(min_ok), "all");
                print_row("%-*s  %-8s  %-6s  %-*s  %s\n", (int)w, rows[i].key, rows[i].effective_state, min_ok, (int)wn,
                          needs[i], str_or(rows[i].description, ""));
                free(needs[i]);
        }
        free(needs);
        if (n == 0)
                printf("(no services yet: add one with faultline service add)\n");
        return 0;
}

static int cmd_depend(int argc, char **argv)
{
        static const struct option options[] = {
                { "type", required_argument, NULL, 't' },
                {},
        };
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        const char *type = "depends_on";
        bool known[2];
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":t:", options, NULL)) >= 0) {
                if (c == 't')
                        type = optarg;
                else
                        return bad_option("depend", c, argv);
        }
        if (optind != argc - 2) {
                fl_error("usage: faultline depend A B [--type T]   (A depends on B)");
                return 2;
        }
        const char *keys[2] = { argv[optind], argv[optind + 1] };
        if (!check_key(keys[0]) || !check_key(keys[1]))
                return 2;
        if (type[0] == '\0') {
                fl_error("the type of a dependency cannot be empty");
                return 2;
        }
        if (open_query(&q) < 0)
                return 1;
        r = fl_store_query_begin(q);
        if (r >= 0)
                r = fl_store_query_known(q, keys, 2, known);
        if (r >= 0) {
                r = fl_store_query_declare_edge(q, keys[0], keys[1], type);
                if (r == -EINVAL)
                        fl_error("could not declare that \"%s\" depends on \"%s\": %s", keys[0], keys[1],
                                 fl_store_query_last_error(q));
        }
        if (r >= 0)
                r = fl_store_query_commit(q);
        if (r < 0) {
                fl_store_query_rollback(q);
                return 1;
        }
        json_t *placeholders = json_array();
        for (size_t i = 0; i < 2; i++)
                if (!known[i]) {
                        warn_placeholder(NULL, keys[i]);
                        json_array_append_new(placeholders, json_string(keys[i]));
                }
        if (json_output)
                print_json(json_pack("{s:s, s:s, s:s, s:o}", "from", keys[0], "to", keys[1], "type", type,
                                     "placeholders", placeholders));
        else {
                json_decref(placeholders);
                printf("%s depends on %s (%s)\n", keys[0], keys[1], type);
        }
        return 0;
}

static int cmd_undepend(int argc, char **argv)
{
        static const struct option options[] = {
                { "type", required_argument, NULL, 't' },
                {},
        };
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        _cleanup_free_ struct fl_query_edge_row *edges = NULL;
        const char *type = NULL;
        bool known[2];
        size_t n = 0;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":t:", options, NULL)) >= 0) {
                if (c == 't')
                        type = optarg;
                else
                        return bad_option("undepend", c, argv);
        }
        if (optind != argc - 2) {
                fl_error("usage: faultline undepend A B [--type T]");
                return 2;
        }
        const char *keys[2] = { argv[optind], argv[optind + 1] };
        if (!check_key(keys[0]) || !check_key(keys[1]))
                return 2;
        if (open_query(&q) < 0 || fl_store_query_known(q, keys, 2, known) < 0)
                return 1;
        for (size_t i = 0; i < 2; i++)
                if (!known[i]) {
                        fl_error("no node \"%s\"", keys[i]);
                        return 1;
                }
        r = fl_store_query_undeclare_edge(q, keys[0], keys[1], type);
        if (r < 0)
                return 1;
        if (r == 0) {
                /* Nothing declared: say why, since a discovered edge is
                 * there to be seen in status and why. */
                if (fl_store_query_edges(q, keys, 1, keys[1], false, &edges, &n) < 0)
                        return 1;
                for (size_t i = 0; i < n; i++)
                        if (!type || strcmp(edges[i].type, type) == 0) {
                                fl_error("the dependency of \"%s\" on \"%s\" (%s) was discovered by agent \"%s\", "
                                         "not declared: it goes away when the agent no longer reports it",
                                         keys[0], keys[1], edges[i].type, str_or(edges[i].agent, "?"));
                                return 1;
                        }
                if (type)
                        fl_error("\"%s\" does not depend on \"%s\" with type \"%s\"", keys[0], keys[1], type);
                else
                        fl_error("\"%s\" does not depend on \"%s\"", keys[0], keys[1]);
                return 1;
        }
        if (json_output)
                print_json(
                        json_pack("{s:s, s:s, s:s?, s:i}", "from", keys[0], "to", keys[1], "type", type, "removed", r));
        else
                printf("%s no longer depends on %s\n", keys[0], keys[1]);
        return 0;
}

/*
 * faultline apply FILE: services and dependencies declared in a file. For
 * every service the file names, the declared graph is made equal to the
 * file (its min_ok, description and declared edges; edges it no longer
 * lists are removed); dependencies from nodes that are not services of the
 * file are only added. Only the differences are written, so applying the
 * same file twice changes nothing the second time.
 */
struct apply_service {
        char *key;
        int64_t min_ok; /* -1: every dependency required */
        char *description;
        unsigned line, min_ok_line;
};

struct apply_edge {
        char *from, *to, *type;
        unsigned line;
};

struct apply_doc {
        const char *file;
        struct apply_service *services;
        size_t n_services, cap_services;
        struct apply_edge *edges;
        size_t n_edges, cap_edges;
};

static void apply_doc_free(struct apply_doc *d)
{
        for (size_t i = 0; i < d->n_services; i++) {
                free(d->services[i].key);
                free(d->services[i].description);
        }
        for (size_t i = 0; i < d->n_edges; i++) {
                free(d->edges[i].from);
                free(d->edges[i].to);
                free(d->edges[i].type);
        }
        free(d->services);
        free(d->edges);
}

_printf_(3, 4) static int doc_error(const struct apply_doc *d, unsigned line, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                fl_oom();
        va_end(ap);
        fl_error("%s:%u: %s", d->file, line, msg);
        return -EINVAL;
}

static unsigned line_of(const config_setting_t *s)
{
        return config_setting_source_line(s);
}

static int doc_string(const struct apply_doc *d, const config_setting_t *s, const char **ret)
{
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return doc_error(d, line_of(s), "\"%s\" must be a string in double quotes", config_setting_name(s));
        *ret = config_setting_get_string(s);
        return 0;
}

static int doc_key(const struct apply_doc *d, unsigned line, const char *key)
{
        if (!key_valid(key))
                return doc_error(d, line,
                                 "invalid node key \"%s\": expected KIND:NAME with a lowercase kind, such as "
                                 "\"vm:hv01/web01\"",
                                 key);
        return 0;
}

static int doc_add_edge(struct apply_doc *d, const char *from, const char *to, const char *type, unsigned line)
{
        int r = doc_key(d, line, to);
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->n_edges; i++) {
                const struct apply_edge *e = &d->edges[i];
                if (strcmp(e->from, from) == 0 && strcmp(e->to, to) == 0 && strcmp(e->type, type) == 0)
                        return doc_error(d, line,
                                         "the dependency of \"%s\" on \"%s\" (%s) is listed twice (first at "
                                         "line %u)",
                                         from, to, type, e->line);
        }
        d->edges = fl_grow(d->edges, &d->cap_edges, d->n_edges + 1, sizeof(*d->edges));
        d->edges[d->n_edges++] = (struct apply_edge){
                .from = fl_strdup(from), .to = fl_strdup(to), .type = fl_strdup(type), .line = line
        };
        return 0;
}

static int parse_service(struct apply_doc *d, const config_setting_t *g)
{
        const char *name = NULL, *description = NULL;
        const config_setting_t *needs = NULL, *min_ok = NULL;
        int r = 0;

        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
                return doc_error(d, line_of(g), "each service must be a group { name = \"...\"; needs = [...]; }");
        for (int i = 0; r >= 0 && i < config_setting_length(g); i++) {
                const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
                const char *n = config_setting_name(m);
                if (strcmp(n, "name") == 0)
                        r = doc_string(d, m, &name);
                else if (strcmp(n, "description") == 0)
                        r = doc_string(d, m, &description);
                else if (strcmp(n, "needs") == 0)
                        needs = m;
                else if (strcmp(n, "min_ok") == 0)
                        min_ok = m;
                else
                        r = doc_error(d, line_of(m),
                                      "unknown setting \"%s\" in a service; expected name, needs, min_ok and "
                                      "description",
                                      n);
        }
        if (r < 0)
                return r;
        if (!name)
                return doc_error(d, line_of(g), "a service needs a name");
        if (!service_name_valid(name))
                return doc_error(d, line_of(g),
                                 "invalid service name \"%s\": use printable characters without "
                                 "spaces or commas",
                                 name);
        _cleanup_free_ char *key =
                fl_asprintf("service:%s", fl_startswith(name, "service:") ? name + strlen("service:") : name);
        for (size_t i = 0; i < d->n_services; i++)
                if (strcmp(d->services[i].key, key) == 0)
                        return doc_error(d, line_of(g), "service \"%s\" is named twice (first at line %u)", key,
                                         d->services[i].line);
        if (needs && config_setting_type(needs) == CONFIG_TYPE_STRING)
                r = doc_add_edge(d, key, config_setting_get_string(needs), "depends_on", line_of(needs));
        else if (needs && config_setting_type(needs) != CONFIG_TYPE_ARRAY &&
                 config_setting_type(needs) != CONFIG_TYPE_LIST)
                return doc_error(d, line_of(needs), "\"needs\" must be a list of node keys [\"vm:hv01/web01\", ...]");
        for (int i = 0;
             r >= 0 && needs && config_setting_type(needs) != CONFIG_TYPE_STRING && i < config_setting_length(needs);
             i++) {
                const config_setting_t *e = config_setting_get_elem(needs, (unsigned)i);
                if (config_setting_type(e) != CONFIG_TYPE_STRING)
                        return doc_error(d, line_of(e), "\"needs\" must hold node keys in double quotes only");
                r = doc_add_edge(d, key, config_setting_get_string(e), "depends_on", line_of(e));
        }
        if (r < 0)
                return r;
        int64_t k = -1;
        if (min_ok) {
                int t = config_setting_type(min_ok);
                if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
                        return doc_error(d, line_of(min_ok), "\"min_ok\" must be a whole number");
                k = config_setting_get_int64(min_ok);
                if (k < 0)
                        return doc_error(d, line_of(min_ok), "\"min_ok\" cannot be negative");
        }
        d->services = fl_grow(d->services, &d->cap_services, d->n_services + 1, sizeof(*d->services));
        d->services[d->n_services++] = (struct apply_service){
                .key = TAKE_PTR(key),
                .min_ok = k,
                .description = description ? fl_strdup(description) : NULL,
                .line = line_of(g),
                .min_ok_line = min_ok ? line_of(min_ok) : 0,
        };
        return 0;
}

static int parse_depend(struct apply_doc *d, const config_setting_t *g)
{
        const char *from = NULL, *to = NULL, *type = "depends_on";
        int r = 0;

        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
                return doc_error(d, line_of(g), "each dependency must be a group { from = \"...\"; to = \"...\"; }");
        for (int i = 0; r >= 0 && i < config_setting_length(g); i++) {
                const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
                const char *n = config_setting_name(m);
                if (strcmp(n, "from") == 0)
                        r = doc_string(d, m, &from);
                else if (strcmp(n, "to") == 0)
                        r = doc_string(d, m, &to);
                else if (strcmp(n, "type") == 0)
                        r = doc_string(d, m, &type);
                else
                        r = doc_error(d, line_of(m),
                                      "unknown setting \"%s\" in a dependency; expected from, to and type", n);
        }
        if (r < 0)
                return r;
        if (!from || !to)
                return doc_error(d, line_of(g), "a dependency needs both \"from\" and \"to\"");
        if (type[0] == '\0')
                return doc_error(d, line_of(g), "the type of a dependency cannot be empty");
        r = doc_key(d, line_of(g), from);
        if (r < 0)
                return r;
        return doc_add_edge(d, from, to, type, line_of(g));
}

static int parse_list(struct apply_doc *d, const config_setting_t *list,
                      int (*fn)(struct apply_doc *, const config_setting_t *))
{
        int t = config_setting_type(list);
        if (t != CONFIG_TYPE_LIST && !(t == CONFIG_TYPE_ARRAY && config_setting_length(list) == 0))
                return doc_error(d, line_of(list), "\"%s\" must be a list of groups ( { ... }, { ... } )",
                                 config_setting_name(list));
        for (int i = 0; i < config_setting_length(list); i++) {
                int r = fn(d, config_setting_get_elem(list, (unsigned)i));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int apply_parse(struct apply_doc *d)
{
        config_t cfg;
        struct stat st;
        _cleanup_fclose_ FILE *f = fopen(d->file, "re");
        int r = 0;

        if (!f) {
                fl_error("could not open file \"%s\": %m", d->file);
                return -errno;
        }
        /* libconfig's scanner exits the process on a read error. */
        if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
                fl_error("\"%s\" is not a regular file", d->file);
                return -EINVAL;
        }
        config_init(&cfg);
        if (!config_read(&cfg, f)) {
                /* libconfig's text is often just "syntax error" */
                const char *text = str_or(config_error_text(&cfg), "syntax error");
                r = doc_error(d, (unsigned)config_error_line(&cfg), "%s%s",
                              fl_streq(text, "syntax error") ? "" : "syntax error: ", text);
                config_destroy(&cfg);
                return r;
        }
        const config_setting_t *root = config_root_setting(&cfg);
        for (int i = 0; r >= 0 && i < config_setting_length(root); i++) {
                const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
                if (strcmp(config_setting_name(s), "services") == 0)
                        r = parse_list(d, s, parse_service);
                else if (strcmp(config_setting_name(s), "depends") == 0)
                        r = parse_list(d, s, parse_depend);
                else
                        r = doc_error(d, line_of(s),
                                      "unknown setting \"%s\"; a file holds services = ( ... ) and "
                                      "depends = ( ... )",
                                      config_setting_name(s));
        }
        /* min_ok counts the service's dependencies in the file, wherever
         * they are listed. */
        for (size_t i = 0; r >= 0 && i < d->n_services; i++) {
                const struct apply_service *s = &d->services[i];
                size_t deps = 0;
                for (size_t e = 0; e < d->n_edges; e++)
                        deps += strcmp(d->edges[e].from, s->key) == 0;
                if (s->min_ok > (int64_t)deps)
                        r = doc_error(d, s->min_ok_line, "min_ok = %" PRId64 " is more than the %zu dependenc%s of %s",
                                      s->min_ok, deps, deps == 1 ? "y" : "ies", s->key);
        }
        config_destroy(&cfg);
        return r;
}

enum change_kind {
        CHANGE_CREATE,
        CHANGE_MIN_OK,
        CHANGE_DESCRIPTION,
        CHANGE_REMOVE_EDGE,
        CHANGE_ADD_EDGE,
};

struct change {
        enum change_kind kind;
        const struct apply_service *service;
        int64_t old_min_ok;
        const char *old_description;
        const char *from, *to, *type;
        unsigned line; /* 0: not in the file (a removal) */
};

static const struct apply_service *doc_service(const struct apply_doc *d, const char *key)
{
        for (size_t i = 0; i < d->n_services; i++)
                if (strcmp(d->services[i].key, key) == 0)
                        return &d->services[i];
        return NULL;
}

static void print_change(const struct change *c)
{
        const struct apply_service *s = c->service;
        switch (c->kind) {
        case CHANGE_CREATE:
                printf("+ service %s", s->key);
                if (s->min_ok >= 0)
                        printf(" (min_ok %" PRId64 ")", s->min_ok);
                if (s->description)
                        printf(" \"%s\"", s->description);
                putchar('\n');
                break;
        case CHANGE_MIN_OK:
                printf("~ %s min_ok: ", s->key);
                if (c->old_min_ok >= 0)
                        printf("%" PRId64, c->old_min_ok);
                else
                        printf("all");
                if (s->min_ok >= 0)
                        printf(" %s %" PRId64 "\n", glyph.arrow, s->min_ok);
                else
                        printf(" %s all\n", glyph.arrow);
                break;
        case CHANGE_DESCRIPTION:
                printf("~ %s description: ", s->key);
                if (c->old_description)
                        printf("\"%s\"", c->old_description);
                else
                        printf("none");
                if (s->description)
                        printf(" %s \"%s\"\n", glyph.arrow, s->description);
                else
                        printf(" %s none\n", glyph.arrow);
                break;
        case CHANGE_REMOVE_EDGE:
        case CHANGE_ADD_EDGE:
                printf("%c %s %s %s (%s)\n", c->kind == CHANGE_ADD_EDGE ? '+' : '-', c->from, glyph.arrow, c->to,
                       c->type);
                break;
        }
}

static json_t *change_json(const struct change *c)
{
        const struct apply_service *s = c->service;
        switch (c->kind) {
        case CHANGE_CREATE:
                return json_pack("{s:s, s:s, s:o, s:s?, s:i}", "action", "create_service", "key", s->key, "min_ok",
                                 json_int_or_null(s->min_ok), "description", s->description, "line", (int)c->line);
        case CHANGE_MIN_OK:
                return json_pack("{s:s, s:s, s:o, s:o, s:i}", "action", "set_min_ok", "key", s->key, "old",
                                 json_int_or_null(c->old_min_ok), "new", json_int_or_null(s->min_ok), "line",
                                 (int)c->line);
        case CHANGE_DESCRIPTION:
                return json_pack("{s:s, s:s, s:s?, s:s?, s:i}", "action", "set_description", "key", s->key, "old",
                                 c->old_description, "new", s->description, "line", (int)c->line);
        case CHANGE_REMOVE_EDGE:
                return json_pack("{s:s, s:s, s:s, s:s}", "action", "remove_edge", "from", c->from, "to", c->to, "type",
                                 c->type);
        case CHANGE_ADD_EDGE:
                return json_pack("{s:s, s:s, s:s, s:s, s:i}", "action", "add_edge", "from", c->from, "to", c->to,
                                 "type", c->type, "line", (int)c->line);
        }
        return json_null();
}

/* Works out the changes from what is declared now, inside the transaction
 * that will carry them out. */
static int apply_plan(struct fl_store_query *q, const struct apply_doc *d, struct fl_query_status_row ***ret_current,
                      struct fl_query_edge_row **ret_edges, struct change **ret_changes, size_t *ret_n)
{
        _cleanup_free_ struct fl_query_status_row **current = fl_new0(struct fl_query_status_row *, d->n_services);
        _cleanup_free_ const char **froms = fl_new0(const char *, d->n_services + d->n_edges);
        _cleanup_free_ struct fl_query_edge_row *edges = NULL;
        _cleanup_free_ struct change *changes = NULL;
        size_t n_froms = 0, n_edges = 0, n = 0, cap = 0;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < d->n_services; i++) {
                const struct apply_service *s = &d->services[i];
                size_t k = 0;
                r = fl_store_query_status(q, NULL, false, s->key, &current[i], &k);
                if (r < 0)
                        break;
                froms[n_froms++] = s->key;
                changes = fl_grow(changes, &cap, n + 2, sizeof(*changes));
                if (k == 0) {
                        free(current[i]);
                        current[i] = NULL;
                        changes[n++] = (struct change){ .kind = CHANGE_CREATE, .service = s, .line = s->line };
                        continue;
                }
                if (current[i]->min_ok != s->min_ok)
                        changes[n++] = (struct change){ .kind = CHANGE_MIN_OK,
                                                        .service = s,
                                                        .old_min_ok = current[i]->min_ok,
                                                        .line = s->min_ok_line ? s->min_ok_line : s->line };
                if (!fl_streq(current[i]->description, s->description))
                        changes[n++] = (struct change){ .kind = CHANGE_DESCRIPTION,
                                                        .service = s,
                                                        .old_description = current[i]->description,
                                                        .line = s->line };
        }
        for (size_t e = 0; e < d->n_edges; e++)
                if (!doc_service(d, d->edges[e].from))
                        froms[n_froms++] = d->edges[e].from;
        if (r >= 0)
                r = fl_store_query_edges(q, froms, n_froms, NULL, true, &edges, &n_edges);
        if (r < 0)
                goto fail;
        /* Declared edges of the file's services that the file no longer
         * lists go. */
        for (size_t i = 0; i < n_edges; i++) {
                const struct fl_query_edge_row *x = &edges[i];
                bool wanted = false;
                if (!doc_service(d, x->from))
                        continue;
                for (size_t e = 0; e < d->n_edges && !wanted; e++)
                        wanted = strcmp(d->edges[e].from, x->from) == 0 && strcmp(d->edges[e].to, x->to) == 0 &&
                                 strcmp(d->edges[e].type, x->type) == 0;
                if (wanted)
                        continue;
                changes = fl_grow(changes, &cap, n + 1, sizeof(*changes));
                changes[n++] =
                        (struct change){ .kind = CHANGE_REMOVE_EDGE, .from = x->from, .to = x->to, .type = x->type };
        }
        for (size_t e = 0; e < d->n_edges; e++) {
                const struct apply_edge *w = &d->edges[e];
                bool there = false;
                for (size_t i = 0; i < n_edges && !there; i++)
                        there = strcmp(edges[i].from, w->from) == 0 && strcmp(edges[i].to, w->to) == 0 &&
                                strcmp(edges[i].type, w->type) == 0;
                if (there)
                        continue;
                changes = fl_grow(changes, &cap, n + 1, sizeof(*changes));
                changes[n++] = (struct change){
                        .kind = CHANGE_ADD_EDGE, .from = w->from, .to = w->to, .type = w->type, .line = w->line
                };
        }
        *ret_current = TAKE_PTR(current);
        *ret_edges = TAKE_PTR(edges);
        *ret_changes = TAKE_PTR(changes);
        *ret_n = n;
        return 0;
fail:
        for (size_t i = 0; i < d->n_services; i++)
                free(current[i]);
        return r;
}

/* Carries the changes out: services first (edges need their nodes),
 * removals before additions (so that a dependency moved in the file does
 * not look like a cycle on the way). */
static int apply_changes(struct fl_store_query *q, const struct apply_doc *d, const struct change *changes, size_t n)
{
        int r = 0;

        for (size_t i = 0; r >= 0 && i < d->n_services; i++) {
                const struct apply_service *s = &d->services[i];
                bool touched = false;
                for (size_t c = 0; c < n; c++)
                        touched |= changes[c].service == s;
                if (touched)
                        r = fl_store_query_service_put(q, s->key, s->min_ok, s->description);
        }
        for (size_t c = 0; r >= 0 && c < n; c++)
                if (changes[c].kind == CHANGE_REMOVE_EDGE)
                        r = fl_store_query_undeclare_edge(q, changes[c].from, changes[c].to, changes[c].type);
        for (size_t c = 0; r >= 0 && c < n; c++) {
                if (changes[c].kind != CHANGE_ADD_EDGE)
                        continue;
                r = fl_store_query_declare_edge(q, changes[c].from, changes[c].to, changes[c].type);
                if (r == -EINVAL)
                        doc_error(d, changes[c].line, "could not declare that \"%s\" depends on \"%s\": %s",
                                  changes[c].from, changes[c].to, fl_store_query_last_error(q));
        }
        return r;
}

static int cmd_apply(int argc, char **argv)
{
        static const struct option options[] = {
                { "dry-run", no_argument, NULL, 'n' },
                {},
        };
        _cleanup_(apply_doc_free) struct apply_doc d = { 0 };
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        _cleanup_free_ struct fl_query_status_row **current = NULL;
        _cleanup_free_ struct fl_query_edge_row *edges = NULL;
        _cleanup_free_ struct change *changes = NULL;
        _cleanup_strv_ struct fl_strv placeholders = { 0 };
        bool dry_run = false;
        size_t n = 0;
        int c, r, ret = 1;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":n", options, NULL)) >= 0) {
                if (c == 'n')
                        dry_run = true;
                else
                        return bad_option("apply", c, argv);
        }
        if (optind != argc - 1) {
                fl_error("usage: faultline apply FILE [--dry-run]");
                return 2;
        }
        d.file = argv[optind];
        if (apply_parse(&d) < 0)
                return 1;
        if (open_query(&q) < 0)
                return 1;
        /* One transaction, serialised with every other declaration: the
         * plan is made from what it will change. */
        r = fl_store_query_begin(q);
        if (r >= 0)
                r = fl_store_query_lock_declarations(q);
        if (r >= 0)
                r = apply_plan(q, &d, &current, &edges, &changes, &n);
        if (r < 0)
                goto out;
        /* Nodes the added edges refer to that do not exist yet (services
         * of the file are created by it, not placeholders). */
        for (size_t i = 0; i < n; i++) {
                if (changes[i].kind != CHANGE_ADD_EDGE)
                        continue;
                const char *keys[2] = { changes[i].from, changes[i].to };
                bool known[2];
                r = fl_store_query_known(q, keys, 2, known);
                if (r < 0)
                        goto out;
                for (size_t k = 0; k < 2; k++) {
                        bool seen = false;
                        for (size_t p = 0; p < placeholders.n; p++)
                                seen |= strcmp(placeholders.v[p], keys[k]) == 0;
                        if (known[k] || seen || doc_service(&d, keys[k]))
                                continue;
                        fl_strv_add(&placeholders, keys[k]);
                        _cleanup_free_ char *where = fl_asprintf("%s:%u", d.file, changes[i].line);
                        warn_placeholder(where, keys[k]);
                }
        }
        r = apply_changes(q, &d, changes, n);
        if (r < 0)
                goto out;
        if (dry_run)
                fl_store_query_rollback(q);
        else {
                r = fl_store_query_commit(q);
                if (r < 0)
                        goto out;
        }
        ret = 0;
        if (json_output) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(arr, change_json(&changes[i]));
                print_json(json_pack("{s:s, s:b, s:o, s:o}", "file", d.file, "dry_run", dry_run, "changes", arr,
                                     "placeholders", json_strv(placeholders.v, placeholders.n)));
        } else {
                for (size_t i = 0; i < n; i++)
                        print_change(&changes[i]);
                if (n == 0)
                        printf("%s: nothing to change\n", d.file);
                else if (dry_run)
                        printf("%s: %zu change%s would be made (dry run: nothing was changed)\n", d.file, n,
                               n == 1 ? "" : "s");
                else
                        printf("%s: %zu change%s made\n", d.file, n, n == 1 ? "" : "s");
        }
out:
        if (ret != 0)
                fl_store_query_rollback(q);
        for (size_t i = 0; current && i < d.n_services; i++)
                free(current[i]);
        return ret;
}

static json_t *maintenance_json(const struct fl_query_maintenance_row *m)
{
        return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)m->id, "key", m->key, "from", m->starts,
                         "until", m->ends, "reason", m->reason, "status",
                         m->active ? "active"
                         : m->past ? "past"
                                   : "planned");
}

static int cmd_maintenance_add(int argc, char **argv)
{
        static const struct option options[] = {
                { "from", required_argument, NULL, 'f' },
                { "until", required_argument, NULL, 'u' },
                { "reason", required_argument, NULL, 'r' },
                {},
        };
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        _cleanup_free_ struct fl_query_maintenance_row *m = NULL;
        const char *from_text = "now", *until_text = NULL, *reason = NULL;
        struct fl_query_time from, until;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":f:u:r:", options, NULL)) >= 0) {
                if (c == 'f')
                        from_text = optarg;
                else if (c == 'u')
                        until_text = optarg;
                else if (c == 'r')
                        reason = optarg;
                else
                        return bad_option("maintenance add", c, argv);
        }
        if (optind != argc - 1 || !until_text) {
                fl_error("usage: faultline maintenance add KEY [--from TIME] --until TIME --reason TEXT");
                return 2;
        }
        const char *key = argv[optind];
        if (!reason || reason[0] == '\0') {
                fl_error("a maintenance window needs a reason: give --reason TEXT");
                return 2;
        }
        if (!check_key(key) || !parse_time("from", from_text, &from) || !parse_time("until", until_text, &until))
                return 2;
        if (open_query(&q) < 0)
                return 1;
        r = fl_store_query_maintenance_add(q, key, &from, &until, reason, &m);
        if (r == -ENOENT)
                fl_error("no node \"%s\"", key);
        else if (r == -ERANGE)
                fl_error("the maintenance window must end after it starts (from \"%s\" until \"%s\")", from_text,
                         until_text);
        else if (r == -EINVAL)
                fl_error("invalid time: %s", fl_store_query_last_error(q));
        if (r < 0)
                return 1;
        if (json_output)
                print_json(maintenance_json(m));
        else
                printf("maintenance window %" PRId64 " for %s from %s until %s: %s\n", m->id, m->key, m->starts,
                       m->ends, m->reason);
        return 0;
}

static int cmd_maintenance_list(int argc, char **argv)
{
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        _cleanup_free_ struct fl_query_maintenance_row *rows = NULL;
        bool all = argc == 2 && strcmp(argv[1], "--all") == 0;
        size_t n = 0;

        if (argc > 2 || (argc == 2 && !all)) {
                fl_error("usage: faultline maintenance list [--all]");
                return 2;
        }
        if (open_query(&q) < 0 || fl_store_query_maintenance_list(q, all, &rows, &n) < 0)
                return 1;
        if (json_output) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(arr, maintenance_json(&rows[i]));
                print_json(arr);
                return 0;
        }
        size_t w = strlen("NODE");
        for (size_t i = 0; i < n; i++)
                w = FL_MAX(w, display_width(rows[i].key));
        printf("%-5s  %-*s  %-20s  %-20s  %-7s  %s\n", "ID", (int)w, "NODE", "FROM", "UNTIL", "STATUS", "REASON");
        for (size_t i = 0; i < n; i++)
                printf("%-5" PRId64 "  %-*s  %-20s  %-20s  %-7s  %s\n", rows[i].id, (int)w, rows[i].key, rows[i].starts,
                       rows[i].ends,
                       rows[i].active ? "active"
                       : rows[i].past ? "past"
                                      : "planned",
                       rows[i].reason);
        if (n == 0)
                printf("(no maintenance windows%s)\n", all ? "" : " now or to come");
        return 0;
}

static int cmd_maintenance_remove(int argc, char **argv)
{
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        int64_t id;
        int r;

        if (argc != 2) {
                fl_error("usage: faultline maintenance remove ID");
                return 2;
        }
        if (fl_safe_atoi64(argv[1], &id) < 0 || id <= 0) {
                fl_error("invalid maintenance window id \"%s\": expected a number as shown by faultline maintenance "
                         "list",
                         argv[1]);
                return 2;
        }
        if (open_query(&q) < 0)
                return 1;
        r = fl_store_query_maintenance_remove(q, id);
        if (r == -ENOENT)
                fl_error("no maintenance window with id %" PRId64, id);
        if (r < 0)
                return 1;
        if (json_output)
                print_json(json_pack("{s:I}", "removed", (json_int_t)id));
        else
                printf("removed maintenance window %" PRId64 "\n", id);
        return 0;
}

static int cmd_sla(int argc, char **argv)
{
        static const struct option options[] = {
                { "from", required_argument, NULL, 'f' },
                { "to", required_argument, NULL, 't' },
                {},
        };
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        _cleanup_free_ struct fl_query_sla_row *a = NULL;
        const char *from_text = NULL, *to_text = "now";
        struct fl_query_time from, to;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":f:t:", options, NULL)) >= 0) {
                if (c == 'f')
                        from_text = optarg;
                else if (c == 't')
                        to_text = optarg;
                else
                        return bad_option("sla", c, argv);
        }
        if (optind != argc - 1 || !from_text) {
                fl_error("usage: faultline sla KEY --from TIME [--to TIME]");
                return 2;
        }
        const char *key = argv[optind];
        if (!check_key(key) || !parse_time("from", from_text, &from) || !parse_time("to", to_text, &to))
                return 2;
        if (open_query(&q) < 0)
                return 1;
        r = fl_store_query_availability(q, key, &from, &to, &a);
        if (r == -ENOENT)
                fl_error("no node \"%s\"", key);
        else if (r == -EINVAL)
                fl_error("could not compute the availability of \"%s\": %s", key, fl_store_query_last_error(q));
        if (r < 0)
                return 1;
        if (json_output) {
                print_json(json_pack(
                        "{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "key", a->key, "from", a->from, "to",
                        a->to, "period_minutes", json_number_text(a->period_minutes), "uptime_pct",
                        json_number_text(a->uptime_pct), "down_minutes", json_number_text(a->down_minutes),
                        "blind_minutes", json_number_text(a->blind_minutes), "maintenance_minutes",
                        json_number_text(a->maintenance_minutes), "down_outside_maintenance_minutes",
                        json_number_text(a->down_outside_maintenance_minutes), "uptime_excluding_maintenance_pct",
                        json_number_text(a->uptime_excluding_maintenance_pct)));
                return 0;
        }
        /* Percentages are NULL when the whole period was blind. */
        printf("%s from %s to %s (%s min)\n", a->key, a->from, a->to, a->period_minutes);
        printf("  uptime                          %s%s\n", str_or(a->uptime_pct, "n/a"), a->uptime_pct ? " %" : "");
        printf("  downtime                        %s min\n", a->down_minutes);
        printf("  blind spots (unknown)           %s min\n", a->blind_minutes);
        printf("  maintenance                     %s min\n", a->maintenance_minutes);
        printf("  downtime outside maintenance    %s min\n", a->down_outside_maintenance_minutes);
        printf("  uptime excluding maintenance    %s%s\n", str_or(a->uptime_excluding_maintenance_pct, "n/a"),
               a->uptime_excluding_maintenance_pct ? " %" : "");
        return 0;
}

struct watch {
        uint64_t seen, count; /* count 0: no limit */
        bool failed;
};

/* "2024-05-01T12:00:03.123456+00:00" → "2024-05-01T12:00:03Z". */
static void format_notice_time(const char *at, char *buf, size_t size)
{
        size_t len = strlen(at);
        if (len >= 19 && fl_streq(at + len - 6, "+00:00"))
                snprintf(buf, size, "%.19sZ", at);
        else
                snprintf(buf, size, "%s", at);
}

static bool on_change(void *userdata, const char *payload)
{
        struct watch *w = userdata;
        json_error_t err;
        json_t *j = json_loads(payload, 0, &err);

        if (!j || !json_is_object(j)) {
                fl_warning("could not read a state change notice: %s", j ? "not an object" : err.text);
                json_decref(j);
                return true;
        }
        if (json_output) {
                /* one line per change (JSON Lines), so it can be piped */
                json_dumpf(j, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
                fputc('\n', stdout);
        } else {
                const char *at = json_string_value(json_object_get(j, "at"));
                const char *cause = json_string_value(json_object_get(j, "cause"));
                char when[48];
                format_notice_time(str_or(at, "?"), when, sizeof(when));
                printf("%s  %s  %s %s %s  %s%s\n", when, str_or(json_string_value(json_object_get(j, "key")), "?"),
                       str_or(json_string_value(json_object_get(j, "old")), "none"), glyph.arrow,
                       str_or(json_string_value(json_object_get(j, "new")), "?"), cause ? "via " : "own state",
                       str_or(cause, ""));
        }
        fflush(stdout);
        json_decref(j);
        w->seen++;
        return w->count == 0 || w->seen < w->count;
}

static int cmd_watch(int argc, char **argv)
{
        static const struct option options[] = {
                { "count", required_argument, NULL, 'c' },
                { "timeout", required_argument, NULL, 't' },
                {},
        };
        _cleanup_store_query_ struct fl_store_query *q = NULL;
        _cleanup_close_ int sfd = -1;
        struct watch w = { 0 };
        double timeout_s = 0;
        sigset_t mask;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":c:t:", options, NULL)) >= 0) {
                if (c == 'c') {
                        if (fl_safe_atou64(optarg, &w.count) < 0 || w.count == 0) {
                                fl_error("invalid --count \"%s\": expected a positive number of changes", optarg);
                                return 2;
                        }
                } else if (c == 't') {
                        if (fl_safe_atod(optarg, &timeout_s) < 0 || !(timeout_s > 0 && timeout_s < 1e7)) {
                                fl_error("invalid --timeout \"%s\": expected a positive number of seconds", optarg);
                                return 2;
                        }
                } else
                        return bad_option("watch", c, argv);
        }
        if (optind != argc) {
                fl_error("usage: faultline watch [--count N] [--timeout S]");
                return 2;
        }
        /* SIGINT and SIGTERM arrive on a descriptor the wait watches, so
         * that one between two waits is not lost and the end is clean. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
                fl_error("could not set up signal handling: %m");
                return 1;
        }
        if (open_query(&q) < 0 || fl_store_query_listen_changes(q) < 0)
                return 1;
        uint64_t deadline = timeout_s > 0 ? fl_mono_us() + (uint64_t)(timeout_s * 1e6) : 0;
        while (w.count == 0 || w.seen < w.count) {
                int wait_ms = -1;
                if (deadline) {
                        uint64_t now = fl_mono_us();
                        if (now >= deadline)
                                break;
                        wait_ms = (int)FL_MIN((deadline - now + 999) / 1000, (uint64_t)INT32_MAX);
                }
                r = fl_store_query_wait_changes(q, sfd, wait_ms, on_change, &w);
                if (r == -EINTR)
                        return 0;
                if (r < 0)
                        return 1;
        }
        if (w.count && w.seen < w.count) {
                fl_error("timed out after %g s with %" PRIu64 " of %" PRIu64 " changes", timeout_s, w.seen, w.count);
                return 1;
        }
        return 0;
}

struct command {
        const char *verb;
        const char *object; /* NULL: a command of one word */
        int (*run)(int argc, char **argv);
};

/* argv[0] of run is the last word of the command. */
static const struct command commands[] = {
        { "agent", "add", cmd_agent_add },
        { "agent", "list", cmd_agent_list },
        { "agent", "remove", cmd_agent_remove },
        { "status", NULL, cmd_status },
        { "why", NULL, cmd_why },
        { "impact", NULL, cmd_impact },
        { "watch", NULL, cmd_watch },
        { "service", "add", cmd_service_add },
        { "service", "remove", cmd_service_remove },
        { "service", "list", cmd_service_list },
        { "depend", NULL, cmd_depend },
        { "undepend", NULL, cmd_undepend },
        { "apply", NULL, cmd_apply },
        { "maintenance", "add", cmd_maintenance_add },
        { "maintenance", "list", cmd_maintenance_list },
        { "maintenance", "remove", cmd_maintenance_remove },
        { "sla", NULL, cmd_sla },
};

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "database", required_argument, NULL, 'd' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        fl_log_setup("faultline", FL_LOG_WARNING);
        setlocale(LC_CTYPE, "");
        if (strcmp(nl_langinfo(CODESET), "UTF-8") == 0) {
                glyph.branch = "├─ ";
                glyph.last = "└─ ";
                glyph.pipe = "│  ";
                glyph.arrow = "→";
        }
        database = getenv("FAULTLINE_DATABASE");
        /* Global options come before the command; "+" stops at the first
         * non-option so that each command parses its own. */
        while ((c = getopt_long(argc, argv, "+d:jh", options, NULL)) >= 0) {
                switch (c) {
                case 'd':
                        database = optarg;
                        break;
                case 'j':
                        json_output = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        argc -= optind;
        argv += optind;
        /* --json may also follow the command. */
        for (int i = 0; i < argc; i++)
                if (strcmp(argv[i], "--json") == 0) {
                        json_output = true;
                        memmove(&argv[i], &argv[i + 1], sizeof(char *) * (size_t)(argc - i));
                        argc--;
                        i--;
                }
        if (fl_envelope_init() < 0)
                return 1;
        if (argc < 1) {
                usage(stderr);
                return 2;
        }
        for (size_t i = 0; i < FL_ARRAY_SIZE(commands); i++) {
                const struct command *cmd = &commands[i];
                if (strcmp(argv[0], cmd->verb) != 0)
                        continue;
                if (!cmd->object)
                        return cmd->run(argc, argv);
                if (argc >= 2 && strcmp(argv[1], cmd->object) == 0)
                        return cmd->run(argc - 1, argv + 1);
        }
        fl_error("unknown command \"%s%s%s\"", argv[0], argc >= 2 ? " " : "", argc >= 2 ? argv[1] : "");
        usage(stderr);
        return 2;
}
