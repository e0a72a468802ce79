/* SPDX-License-Identifier: MIT */
/*
 * faultline: the operator's command-line tool. It talks to PostgreSQL
 * directly, through the store module, with a libpq connection string or the
 * standard PG* environment variables.
 */
#include <getopt.h>
#include <jansson.h>
#include <time.h>

#include "envelope.h"
#include "log.h"
#include "store.h"

static const char *database = NULL;
static bool json_output = false;

static void usage(FILE *f)
{
        fprintf(f, "usage: faultline [-d CONNINFO] COMMAND [ARGS]\n"
                   "\n"
                   "Commands:\n"
                   "  agent add NAME [--public-key KEY | --key-file FILE]\n"
                   "                        register an agent; without --public-key a key pair is\n"
                   "                        created and its secret written to FILE (mode 0600,\n"
                   "                        default ./NAME.key)\n"
                   "  agent list [--all]    registered agents (--all: revoked ones too)\n"
                   "  agent remove NAME     revoke an agent's key\n"
                   "  status [--kind K] [--not-ok]\n"
                   "                        nodes and their state\n"
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

static void print_json(json_t *j)
{
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
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

static int cmd_status(int argc, char **argv)
{
        static const struct option options[] = {
                { "kind", required_argument, NULL, 'k' },
                { "not-ok", no_argument, NULL, 'n' },
                {},
        };
        _cleanup_store_ struct fl_store *s = NULL;
        struct fl_status_row *rows = NULL;
        const char *kind = NULL;
        bool not_ok = false;
        size_t n = 0;
        int c;

        optind = 0; /* glibc: reinitialise, after the global "+" parse */
        while ((c = getopt_long(argc, argv, "k:n", options, NULL)) >= 0) {
                if (c == 'k')
                        kind = optarg;
                else if (c == 'n')
                        not_ok = true;
                else
                        return 2;
        }
        if (open_store(&s) < 0 || fl_store_status(s, kind, not_ok, &rows, &n) < 0)
                return 1;
        if (json_output) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "key", rows[i].key,
                                                             "kind", rows[i].kind, "state", rows[i].state, "reason",
                                                             rows[i].reason, "since", rows[i].since, "last_seen",
                                                             rows[i].last_seen, "agent", rows[i].agent));
                print_json(arr);
        } else {
                size_t w = 4;
                for (size_t i = 0; i < n; i++)
                        w = FL_MAX(w, strlen(rows[i].key));
                printf("%-*s %-10s %-8s %-20s %s\n", (int)w, "NODE", "KIND", "STATE", "SINCE", "REASON");
                for (size_t i = 0; i < n; i++)
                        printf("%-*s %-10s %-8s %-20s %s\n", (int)w, rows[i].key, rows[i].kind, rows[i].state,
                               rows[i].since, rows[i].reason);
                if (n == 0)
                        printf("(no nodes%s)\n", not_ok ? " that are not ok" : " yet");
        }
        fl_status_rows_free(rows, n);
        return 0;
}

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
        if (strcmp(argv[0], "agent") == 0 && argc >= 2) {
                if (strcmp(argv[1], "add") == 0)
                        return cmd_agent_add(argc - 1, argv + 1);
                if (strcmp(argv[1], "list") == 0)
                        return cmd_agent_list(argc - 1, argv + 1);
                if (strcmp(argv[1], "remove") == 0)
                        return cmd_agent_remove(argc - 1, argv + 1);
        }
        if (strcmp(argv[0], "status") == 0)
                return cmd_status(argc, argv);
        fl_error("unknown command \"%s\"", argv[0]);
        usage(stderr);
        return 2;
}
