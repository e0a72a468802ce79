/* SPDX-License-Identifier: MIT */
/*
 * faultline-agent: collects, detects, discovers and ships batches to the
 * collectors; keeps what is not yet acknowledged in its spool.
 */
#include <getopt.h>
#include <signal.h>
#include <sys/resource.h>

#include "batch.h"
#include "collector.h"
#include "config.h"
#include "dump.h"
#include "envelope.h"
#include "identity.h"
#include "log.h"
#include "sender.h"

#define BACKOFF_MAX_CYCLES 64

struct running_collector {
        const struct fl_collector *c;
        void *state;
        bool initialised;
        uint64_t skip; /* cycles left to skip while backing off */
        uint64_t backoff; /* current backoff in cycles */
        struct fl_complain complaint;
};

static volatile int stop_requested;

static void on_signal(int sig)
{
        (void)sig;
        stop_requested = 1;
}

static void usage(FILE *f)
{
        fprintf(f, "usage: faultline-agent [OPTIONS]\n"
                   "\n"
                   "Collects disk, network and host facts, detects faults and ships them to\n"
                   "faultline collectors. Batches wait in an on-disk spool until acknowledged.\n"
                   "\n"
                   "  -c, --config FILE      configuration file (default /etc/faultline/agent.conf)\n"
                   "      --once             run one cycle (two readings, for rates), deliver it, exit\n"
                   "      --cycles N         run N cycles, deliver everything spooled, exit\n"
                   "      --drain-timeout S  how long --once/--cycles wait for acks (default 30)\n"
                   "      --dump             print the cycle as JSON on stdout, send nothing; with\n"
                   "                         --cycles N, one JSON object per line and cycle\n"
                   "      --interval S       seconds between cycles (overrides the configuration)\n"
                   "      --step-on-input    with --dump: each cycle after the first waits for a line on\n"
                   "                         standard input (to replay captured trees step by step)\n"
                   "      --clock-step S     with --dump: the clock of cycle i is start + i*S seconds, so\n"
                   "                         that replays of captured trees give the same output\n"
                   "      --hostname NAME    scope of every node key (default: detected)\n"
                   "      --rootfs DIR       root for /etc files (default /)\n"
                   "      --procfs DIR       root of /proc (default ROOTFS/proc)\n"
                   "      --sysfs DIR        root of /sys (default ROOTFS/sys)\n"
                   "      --devfs DIR        root of /dev (default ROOTFS/dev)\n"
                   "      --keygen           create this agent's key pair in the key file and\n"
                   "                         print the public key\n"
                   "      --print-public-key print the public key of the key file\n"
                   "      --key-file FILE    key file (overrides the configuration)\n"
                   "  -v, --verbose          log debug messages\n"
                   "      --version          print the version\n"
                   "  -h, --help             this text\n");
}

static char *under_root(const char *rootfs, const char *dir)
{
        if (strcmp(rootfs, "/") == 0)
                return fl_asprintf("/%s", dir);
        return fl_asprintf("%s/%s", rootfs, dir);
}

static void run_collectors(struct running_collector *rc, size_t n, const struct fl_agent_ctx *ctx, struct fl_emit *e)
{
        for (size_t i = 0; i < n; i++) {
                struct running_collector *r = &rc[i];
                int ret;

                if (r->skip > 0) {
                        r->skip--;
                        continue;
                }
                if (!r->initialised && r->c->init) {
                        ret = r->c->init(r->state, ctx);
                        if (ret < 0) {
                                fl_complain(&r->complaint, FL_LOG_WARNING,
                                            "collector \"%s\" could not start: %s; retrying later", r->c->name,
                                            strerror(-ret));
                                r->backoff = FL_MIN(FL_MAX(r->backoff * 2, (uint64_t)1), BACKOFF_MAX_CYCLES);
                                r->skip = r->backoff;
                                continue;
                        }
                }
                r->initialised = true;
                ret = r->c->collect(r->state, ctx, e);
                if (ret < 0) {
                        /* A failing collector backs off instead of spamming:
                         * its interval doubles up to 64 cycles. */
                        r->backoff = FL_MIN(FL_MAX(r->backoff * 2, (uint64_t)1), BACKOFF_MAX_CYCLES);
                        r->skip = r->backoff;
                        fl_complain(&r->complaint, FL_LOG_WARNING,
                                    "collector \"%s\" failed: %s; next try in %" PRIu64 " cycles", r->c->name,
                                    strerror(-ret), r->backoff);
                } else {
                        r->backoff = 0;
                        fl_complain_release(&r->complaint, "collector \"%s\" works again", r->c->name);
                }
        }
}

/* What this run did, for operators and scripts: state_dir/stats.json. */
static void write_stats(const char *state_dir, struct fl_sender *sender, uint64_t cycles, uint64_t metric_batches,
                        uint64_t samples)
{
        struct fl_sender_stats st;
        struct fl_spool_stats ss;
        _cleanup_free_ char *path = fl_asprintf("%s/stats.json", state_dir);
        _cleanup_free_ char *text = NULL;

        fl_sender_get_stats(sender, &st);
        fl_spool_get_stats(fl_sender_spool(sender), &ss);
        text = fl_asprintf("{\"boot_epoch\": %" PRIu64 ", \"last_sequence\": %" PRIu64 ", \"cycles\": %" PRIu64
                           ", \"metric_batches\": %" PRIu64 ", \"samples\": %" PRIu64 ", \"committed\": %" PRIu64
                           ", \"duplicate\": %" PRIu64 ", \"stale\": %" PRIu64 ", \"invalid\": %" PRIu64
                           ", \"retry\": %" PRIu64 ", \"bad_acks\": %" PRIu64 ", \"spool_count\": %" PRIu64
                           ", \"spool_bytes\": %" PRIu64 ", \"spool_dropped\": %" PRIu64 "}\n",
                           st.epoch, st.sequence, cycles, metric_batches, samples, st.committed, st.duplicate, st.stale,
                           st.invalid, st.retry, st.bad_acks, ss.count, ss.bytes, ss.dropped);
        int r = fl_write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                fl_warning("could not write \"%s\": %s", path, strerror(-r));
}

static int do_keygen(const char *key_file)
{
        struct fl_keypair kp;
        char text[FL_KEY_TEXT_BYTES];
        int r;

        if (access(key_file, F_OK) == 0) {
                fl_error("key file \"%s\" already exists; remove it first to replace the key", key_file);
                return -EEXIST;
        }
        fl_keypair_generate(&kp);
        r = fl_keypair_save(key_file, &kp);
        if (r < 0) {
                fl_error("could not write key file \"%s\": %s", key_file, strerror(-r));
                fl_keypair_wipe(&kp);
                return r;
        }
        fl_key_to_text(kp.pk, text);
        fl_keypair_wipe(&kp);
        printf("%s\n", text);
        fprintf(stderr,
                "wrote secret key to \"%s\"; register this agent on the collector side with:\n"
                "  faultline agent add NAME --public-key %s\n",
                key_file, text);
        return 0;
}

static int load_key(const char *key_file, struct fl_keypair *ret)
{
        int r = fl_keypair_load(key_file, ret);
        if (r == -EPERM)
                fl_error("key file \"%s\" is readable by other users; run: chmod 600 %s", key_file, key_file);
        else if (r == -EBADMSG)
                fl_error("key file \"%s\" does not hold a key (expected one base64 line)", key_file);
        else if (r < 0)
                fl_error("could not read key file \"%s\": %s (create one with --keygen)", key_file, strerror(-r));
        return r;
}

int main(int argc, char **argv)
{
        enum {
                OPT_ONCE = 0x100,
                OPT_DUMP,
                OPT_HOSTNAME,
                OPT_ROOTFS,
                OPT_PROCFS,
                OPT_SYSFS,
                OPT_DEVFS,
                OPT_KEYGEN,
                OPT_PRINT_PK,
                OPT_KEY_FILE,
                OPT_VERSION,
                OPT_CYCLES,
                OPT_DRAIN_TIMEOUT,
                OPT_INTERVAL,
                OPT_CLOCK_STEP,
                OPT_STEP_ON_INPUT,
        };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "once", no_argument, NULL, OPT_ONCE },
                { "cycles", required_argument, NULL, OPT_CYCLES },
                { "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
                { "interval", required_argument, NULL, OPT_INTERVAL },
                { "clock-step", required_argument, NULL, OPT_CLOCK_STEP },
                { "step-on-input", no_argument, NULL, OPT_STEP_ON_INPUT },
                { "dump", no_argument, NULL, OPT_DUMP },
                { "hostname", required_argument, NULL, OPT_HOSTNAME },
                { "rootfs", required_argument, NULL, OPT_ROOTFS },
                { "procfs", required_argument, NULL, OPT_PROCFS },
                { "sysfs", required_argument, NULL, OPT_SYSFS },
                { "devfs", required_argument, NULL, OPT_DEVFS },
                { "keygen", no_argument, NULL, OPT_KEYGEN },
                { "print-public-key", no_argument, NULL, OPT_PRINT_PK },
                { "key-file", required_argument, NULL, OPT_KEY_FILE },
                { "verbose", no_argument, NULL, 'v' },
                { "version", no_argument, NULL, OPT_VERSION },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *config_path = NULL;
        const char *o_hostname = NULL, *o_rootfs = NULL, *o_procfs = NULL, *o_sysfs = NULL, *o_devfs = NULL;
        const char *o_key_file = NULL;
        uint64_t max_cycles = 0, cycles = 0, drain_timeout_s = 30, samples_submitted = 0, metric_batches = 0;
        double o_interval = 0, o_clock_step = 0;
        bool step_on_input = false;
        bool once = false, dump = false, keygen = false, print_pk = false, verbose = false;
        struct fl_agent_config cfg;
        struct fl_identity id = { 0 };
        struct fl_keypair kp;
        struct fl_sender *sender = NULL;
        struct fl_batcher batcher = { 0 };
        struct fl_emit emit = { 0 }, pending = { 0 };
        uint64_t last_flush_us = 0;
        struct running_collector *rc = NULL;
        _cleanup_free_ char *procfs = NULL, *sysfs = NULL, *devfs = NULL;
        int c, r, ret = 1;

        fl_log_setup("faultline-agent", FL_LOG_INFO);
        while ((c = getopt_long(argc, argv, "c:vh", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case OPT_ONCE:
                        once = true;
                        break;
                case OPT_CYCLES:
                        if (fl_safe_atou64(optarg, &max_cycles) < 0 || max_cycles == 0) {
                                fl_error("--cycles needs a positive whole number, not \"%s\"", optarg);
                                return 2;
                        }
                        break;
                case OPT_INTERVAL:
                        if (fl_safe_atod(optarg, &o_interval) < 0 || o_interval < 0.01 || o_interval > 86400) {
                                fl_error("--interval needs a number of seconds between 0.01 and 86400, not \"%s\"",
                                         optarg);
                                return 2;
                        }
                        break;
                case OPT_STEP_ON_INPUT:
                        step_on_input = true;
                        break;
                case OPT_CLOCK_STEP:
                        if (fl_safe_atod(optarg, &o_clock_step) < 0 || o_clock_step <= 0 || o_clock_step > 86400) {
                                fl_error("--clock-step needs a number of seconds, not \"%s\"", optarg);
                                return 2;
                        }
                        break;
                case OPT_DRAIN_TIMEOUT:
                        if (fl_safe_atou64(optarg, &drain_timeout_s) < 0) {
                                fl_error("--drain-timeout needs a number of seconds, not \"%s\"", optarg);
                                return 2;
                        }
                        break;
                case OPT_DUMP:
                        dump = true;
                        break;
                case OPT_HOSTNAME:
                        o_hostname = optarg;
                        break;
                case OPT_ROOTFS:
                        o_rootfs = optarg;
                        break;
                case OPT_PROCFS:
                        o_procfs = optarg;
                        break;
                case OPT_SYSFS:
                        o_sysfs = optarg;
                        break;
                case OPT_DEVFS:
                        o_devfs = optarg;
                        break;
                case OPT_KEYGEN:
                        keygen = true;
                        break;
                case OPT_PRINT_PK:
                        print_pk = true;
                        break;
                case OPT_KEY_FILE:
                        o_key_file = optarg;
                        break;
                case 'v':
                        verbose = true;
                        break;
                case OPT_VERSION:
                        printf("faultline-agent %s\n", FL_VERSION);
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
        if ((o_clock_step > 0 || step_on_input) && !dump) {
                fl_error("--clock-step and --step-on-input are for --dump only");
                return 2;
        }
        if (dump && !once && !max_cycles) {
                fl_error("--dump needs --once or --cycles");
                return 2;
        }

        fl_agent_config_defaults(&cfg);
        if (!config_path && !dump && !keygen && !print_pk)
                config_path = "/etc/faultline/agent.conf";
        if (config_path) {
                _cleanup_free_ char *err = NULL;
                r = fl_agent_config_load(&cfg, config_path, &err);
                if (r < 0) {
                        fl_error("%s", err);
                        goto out;
                }
        }
        fl_log_set_level(verbose ? FL_LOG_DEBUG : (enum fl_log_level)cfg.log_level);
        if (o_interval > 0)
                cfg.interval_us = (uint64_t)(o_interval * 1e6);
        if (o_key_file) {
                free(cfg.key_file);
                cfg.key_file = fl_strdup(o_key_file);
        }
        if (fl_envelope_init() < 0) {
                fl_error("could not initialise libsodium");
                goto out;
        }
        if (keygen) {
                ret = do_keygen(cfg.key_file) < 0;
                goto out;
        }
        if (print_pk) {
                char text[FL_KEY_TEXT_BYTES];
                if (load_key(cfg.key_file, &kp) < 0)
                        goto out;
                fl_key_to_text(kp.pk, text);
                fl_keypair_wipe(&kp);
                printf("%s\n", text);
                ret = 0;
                goto out;
        }

        if (o_rootfs) {
                free(cfg.rootfs);
                cfg.rootfs = fl_strdup(o_rootfs);
        }
        procfs = fl_strdup(o_procfs ? o_procfs : cfg.procfs ? cfg.procfs : NULL);
        if (!o_procfs && !cfg.procfs) {
                free(procfs);
                procfs = under_root(cfg.rootfs, "proc");
        }
        sysfs = (o_sysfs || cfg.sysfs) ? fl_strdup(o_sysfs ? o_sysfs : cfg.sysfs) : under_root(cfg.rootfs, "sys");
        devfs = (o_devfs || cfg.devfs) ? fl_strdup(o_devfs ? o_devfs : cfg.devfs) : under_root(cfg.rootfs, "dev");

        r = fl_identity_read(o_hostname ? o_hostname : cfg.hostname, cfg.rootfs, procfs, sysfs, &id);
        if (r < 0) {
                fl_error("could not determine a usable host name (letters, digits, '-', '.', '_'); "
                         "set \"hostname\" in the configuration or use --hostname");
                goto out;
        }

        rc = fl_new0(struct running_collector, fl_collectors_count);
        for (size_t i = 0; i < fl_collectors_count; i++) {
                if (fl_collector_check(fl_collectors[i]) < 0) {
                        fl_error("collector %zu has an invalid descriptor; this build is broken", i);
                        goto out;
                }
                rc[i].c = fl_collectors[i];
                rc[i].state = fl_malloc0(fl_collectors[i]->state_size);
        }

        if (!dump) {
                uint8_t collector_pk[FL_KEY_BYTES];
                if (cfg.endpoints.n == 0) {
                        fl_error("%s: no collector endpoints configured (collector.endpoints)",
                                 config_path ? config_path : "configuration");
                        goto out;
                }
                if (!cfg.collector_public_key || fl_key_from_text(cfg.collector_public_key, collector_pk) < 0) {
                        fl_error("%s: \"collector.public_key\" must be the collector's base64 public key",
                                 config_path ? config_path : "configuration");
                        goto out;
                }
                if (load_key(cfg.key_file, &kp) < 0)
                        goto out;
                r = fl_sender_new(&cfg, &kp, collector_pk, &sender);
                fl_keypair_wipe(&kp);
                if (r < 0)
                        goto out;
        }

        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        batcher.full_every = cfg.inventory_every;
        fl_info("agent for host \"%s\" started: interval %.1f s, %zu collectors", id.hostname,
                (double)cfg.interval_us / 1e6, fl_collectors_count);

        uint64_t next = fl_mono_us(), start_us = fl_now_us(), iteration = 0;
        bool primed = false;
        for (;;) {
                struct fl_agent_ctx ctx = {
                        .hostname = id.hostname,
                        .rootfs = cfg.rootfs,
                        .procfs = procfs,
                        .sysfs = sysfs,
                        .devfs = devfs,
                        .now_us =
                                o_clock_step > 0 ? start_us + (uint64_t)(iteration * o_clock_step * 1e6) : fl_now_us(),
                        .interval_us = cfg.interval_us,
                        .thresholds = &cfg.thresholds,
                };

                iteration++;
                fl_emit_reset(&emit);
                fl_identity_emit(&id, &emit);
                {
                        _cleanup_free_ char *hk = fl_asprintf("host:%s", id.hostname);
                        fl_emit_state(&emit, hk, FL_STATE_OK, "agent reporting");
                }
                run_collectors(rc, fl_collectors_count, &ctx, &emit);
                fl_emit_finalize(&emit);

                if (once && !primed) {
                        /* Rates need two readings: --once takes a second one
                         * shortly after the first. */
                        primed = true;
                        usleep((useconds_t)FL_MIN(cfg.interval_us, 1000000ull));
                        continue;
                }
                if (dump && once) {
                        ret = fl_dump_json(&emit, stdout, false) < 0;
                        goto out;
                }
                if (dump) {
                        if (fl_dump_json(&emit, stdout, true) < 0)
                                goto out;
                        fflush(stdout);
                        if (++cycles >= max_cycles) {
                                ret = 0;
                                goto out;
                        }
                        if (step_on_input) {
                                char line[64];
                                if (!fgets(line, sizeof(line), stdin))
                                        break; /* input closed: done */
                                continue;
                        }
                        next += cfg.interval_us;
                        while (!stop_requested && fl_mono_us() < next)
                                usleep((useconds_t)FL_MIN(next - fl_mono_us(), 100000ull));
                        if (stop_requested)
                                break;
                        continue;
                }

                struct fl_spool_stats ss;
                struct fl_packed control, metrics;
                fl_spool_get_stats(fl_sender_spool(sender), &ss);
                struct fl_heartbeat_info hb = {
                        .hostname = id.hostname,
                        .interval_us = cfg.interval_us,
                        .spool_bytes = ss.bytes,
                        .dropped_batches = ss.dropped,
                };
                /* Samples wait in "pending" until flush_interval has passed
                 * (or the cycles end): one batch, one spool write and one
                 * round trip for several cycles when the interval is short.
                 * States and inventory changes go at once. */
                for (size_t i = 0; i < emit.n_samples; i++) {
                        const struct fl_eseries *se = &emit.series[emit.samples[i].series];
                        fl_emit_sample(&pending, se->node_key, se->metric, se->unit, emit.samples[i].time_us,
                                       emit.samples[i].value);
                }
                bool last = once || (max_cycles && cycles + 1 >= max_cycles);
                bool flush = last || pending.n_samples >= 100000 ||
                             fl_mono_us() - last_flush_us + cfg.interval_us / 2 >= cfg.flush_interval_us;
                hb.interval_us = FL_MAX(cfg.interval_us, cfg.flush_interval_us);
                fl_batch_pack_split(&batcher, &emit, flush ? &pending : NULL, &hb, ctx.now_us, &control, &metrics);
                if (control.len)
                        fl_sender_submit(sender, control.data, control.len, FL_SPOOL_KEEP);
                if (metrics.len && fl_sender_submit(sender, metrics.data, metrics.len, FL_SPOOL_METRICS) >= 0) {
                        metric_batches++;
                        samples_submitted += pending.n_samples;
                }
                if (flush) {
                        fl_emit_reset(&pending);
                        last_flush_us = fl_mono_us();
                }
                free(control.data);
                free(metrics.data);
                cycles++;

                if (once || (max_cycles && cycles >= max_cycles)) {
                        /* Deliver everything spooled, then stop. */
                        uint64_t deadline = fl_mono_us() + drain_timeout_s * 1000000u;
                        while (!stop_requested && fl_mono_us() < deadline) {
                                fl_sender_pump(sender, FL_MIN(deadline, fl_mono_us() + 100000), &stop_requested);
                                fl_spool_get_stats(fl_sender_spool(sender), &ss);
                                if (ss.count == 0)
                                        break;
                        }
                        ret = ss.count != 0;
                        if (ret)
                                fl_error("%" PRIu64 " batches not acknowledged; they stay in the spool", ss.count);
                        write_stats(cfg.state_dir, sender, cycles, metric_batches, samples_submitted);
                        goto out;
                }

                next += cfg.interval_us;
                uint64_t now = fl_mono_us();
                if (next <= now) /* we fell behind (suspend?): skip, do not burst */
                        next = now + cfg.interval_us;
                fl_sender_pump(sender, next, &stop_requested);
                if (stop_requested)
                        break;
        }
        if (pending.n_samples > 0) {
                /* Samples not flushed yet go to the spool, to be sent at the
                 * next start: stopping loses nothing either. */
                struct fl_heartbeat_info hb = { .hostname = id.hostname, .interval_us = cfg.interval_us };
                struct fl_packed control, metrics;
                fl_batch_pack_split(&batcher, &emit, &pending, &hb, fl_now_us(), &control, &metrics);
                if (control.len)
                        fl_sender_submit(sender, control.data, control.len, FL_SPOOL_KEEP);
                if (metrics.len && fl_sender_submit(sender, metrics.data, metrics.len, FL_SPOOL_METRICS) >= 0) {
                        metric_batches++;
                        samples_submitted += pending.n_samples;
                }
                free(control.data);
                free(metrics.data);
        }
        fl_info("stopping; unacknowledged batches stay in the spool");
        write_stats(cfg.state_dir, sender, cycles, metric_batches, samples_submitted);
        ret = 0;
out:
        fl_sender_free(sender);
        if (rc) {
                for (size_t i = 0; i < fl_collectors_count; i++) {
                        if (rc[i].initialised && rc[i].c->fini)
                                rc[i].c->fini(rc[i].state);
                        free(rc[i].state);
                }
                free(rc);
        }
        fl_emit_free(&emit);
        fl_emit_free(&pending);
        fl_identity_free(&id);
        fl_agent_config_free(&cfg);
        return ret;
}
