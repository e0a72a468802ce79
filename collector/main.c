/* SPDX-License-Identifier: MIT */
/*
 * faultline-collector: receives agents' batches, verifies them, writes them
 * to PostgreSQL and acknowledges them after the commit.
 */
#include <getopt.h>
#include <signal.h>

#include "config.h"
#include "envelope.h"
#include "ingest.h"
#include "log.h"
#include "propagate.h"
#include "store.h"

static void usage(FILE *f)
{
        fprintf(f, "usage: faultline-collector [OPTIONS]\n"
                   "\n"
                   "Receives batches from faultline agents and writes them to PostgreSQL.\n"
                   "\n"
                   "  -c, --config FILE      configuration file (default /etc/faultline/collector.conf)\n"
                   "  -d, --database CONNINFO  libpq connection string (default: PG* environment)\n"
                   "  -l, --listen URL       nanomsg endpoint to listen on (repeatable)\n"
                   "      --key-file FILE    the collector's key file\n"
                   "      --migrate-only     create or upgrade the schema and exit\n"
                   "      --keygen           create the collector's key pair and print the public key\n"
                   "      --print-public-key print the public key of the key file\n"
                   "  -v, --verbose          log debug messages\n"
                   "      --version          print the version\n"
                   "  -h, --help             this text\n");
}

static int connect_and_migrate(const struct fl_collector_config *cfg, volatile sig_atomic_t *stop)
{
        _cleanup_store_ struct fl_store *s = NULL;
        uint64_t delay = 500000;
        struct fl_complain c = { 0 };
        int r;

        /* Start even when PostgreSQL is not up yet: wait for it. */
        while (!*stop) {
                r = fl_store_connect(cfg->database, &s);
                if (r >= 0)
                        break;
                if (r != -ENOTCONN)
                        return r;
                fl_complain(&c, FL_LOG_WARNING, "waiting for the database");
                usleep((useconds_t)delay);
                delay = FL_MIN(delay * 2, 10 * 1000000ull);
        }
        if (!s)
                return -EINTR;
        return fl_store_migrate(s);
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
        (void)sig;
        stop_requested = 1;
}

int main(int argc, char **argv)
{
        enum { OPT_KEY_FILE = 0x100, OPT_MIGRATE, OPT_KEYGEN, OPT_PRINT_PK, OPT_VERSION };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "database", required_argument, NULL, 'd' },
                { "listen", required_argument, NULL, 'l' },
                { "key-file", required_argument, NULL, OPT_KEY_FILE },
                { "migrate-only", no_argument, NULL, OPT_MIGRATE },
                { "keygen", no_argument, NULL, OPT_KEYGEN },
                { "print-public-key", no_argument, NULL, OPT_PRINT_PK },
                { "verbose", no_argument, NULL, 'v' },
                { "version", no_argument, NULL, OPT_VERSION },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *config_path = NULL, *o_database = NULL, *o_key_file = NULL;
        struct fl_strv o_listen = { 0 };
        bool migrate_only = false, keygen = false, print_pk = false, verbose = false;
        struct fl_collector_config cfg;
        struct fl_keypair kp;
        struct fl_ingest *in = NULL;
        struct fl_propagator *prop = NULL;
        int c, r, ret = 1;

        fl_log_setup("faultline-collector", FL_LOG_INFO);
        while ((c = getopt_long(argc, argv, "c:d:l:vh", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case 'd':
                        o_database = optarg;
                        break;
                case 'l':
                        fl_strv_add(&o_listen, optarg);
                        break;
                case OPT_KEY_FILE:
                        o_key_file = optarg;
                        break;
                case OPT_MIGRATE:
                        migrate_only = true;
                        break;
                case OPT_KEYGEN:
                        keygen = true;
                        break;
                case OPT_PRINT_PK:
                        print_pk = true;
                        break;
                case 'v':
                        verbose = true;
                        break;
                case OPT_VERSION:
                        printf("faultline-collector %s\n", FL_VERSION);
                        return 0;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fl_error("unexpected argument \"%s\"", argv[optind]);
                return 2;
        }

        fl_collector_config_defaults(&cfg);
        if (!config_path && access("/etc/faultline/collector.conf", F_OK) == 0)
                config_path = "/etc/faultline/collector.conf";
        if (config_path) {
                _cleanup_free_ char *err = NULL;
                if (fl_collector_config_load(&cfg, config_path, &err) < 0) {
                        fl_error("%s", err);
                        goto out;
                }
        }
        fl_log_set_level(verbose ? FL_LOG_DEBUG : (enum fl_log_level)cfg.log_level);
        if (o_database) {
                free(cfg.database);
                cfg.database = fl_strdup(o_database);
        }
        if (o_key_file) {
                free(cfg.key_file);
                cfg.key_file = fl_strdup(o_key_file);
        }
        if (o_listen.n) {
                fl_strv_free(&cfg.listen);
                cfg.listen = o_listen;
                o_listen = (struct fl_strv){ 0 };
        }
        if (fl_envelope_init() < 0) {
                fl_error("could not initialise libsodium");
                goto out;
        }

        if (keygen) {
                char text[FL_KEY_TEXT_BYTES];
                if (access(cfg.key_file, F_OK) == 0) {
                        fl_error("key file \"%s\" already exists; remove it first to replace the key", cfg.key_file);
                        goto out;
                }
                fl_keypair_generate(&kp);
                r = fl_keypair_save(cfg.key_file, &kp);
                fl_key_to_text(kp.pk, text);
                fl_keypair_wipe(&kp);
                if (r < 0) {
                        fl_error("could not write key file \"%s\": %s", cfg.key_file, strerror(-r));
                        goto out;
                }
                printf("%s\n", text);
                ret = 0;
                goto out;
        }

        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (migrate_only) {
                ret = connect_and_migrate(&cfg, &stop_requested) < 0;
                goto out;
        }

        r = fl_keypair_load(cfg.key_file, &kp);
        if (r < 0) {
                fl_error("could not load key file \"%s\": %s", cfg.key_file,
                         r == -EPERM ? "it is readable by other users (chmod 600)" : strerror(-r));
                goto out;
        }
        if (print_pk) {
                char text[FL_KEY_TEXT_BYTES];
                fl_key_to_text(kp.pk, text);
                fl_keypair_wipe(&kp);
                printf("%s\n", text);
                ret = 0;
                goto out;
        }
        if (connect_and_migrate(&cfg, &stop_requested) < 0)
                goto out;
        r = fl_ingest_start(&cfg, &kp, &in);
        fl_keypair_wipe(&kp);
        if (r < 0)
                goto out;
        if (fl_propagator_start(cfg.database, (int)cfg.silent_intervals, &prop) < 0) {
                fl_error("could not start the propagation thread");
                fl_ingest_stop(in);
                goto out;
        }
        fl_info("collector \"%s\" ready", cfg.name);
        while (!stop_requested)
                pause();
        fl_info("stopping; batches not yet committed will be resent by their agents");
        fl_propagator_stop(prop);
        fl_ingest_stop(in);
        ret = 0;
out:
        fl_strv_free(&o_listen);
        fl_collector_config_free(&cfg);
        return ret;
}
