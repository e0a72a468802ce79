/* SPDX-License-Identifier: MIT */
/*
 * ingest-load: the load generator of the ingest benchmark (tests/bench/ingest).
 * Simulates many agents, each with its own key pair, boot epoch, sequence
 * and nanomsg REQ socket, that send sealed metric batches to a collector and
 * wait for the sealed, verified Ack of each before sending the next.
 *
 *   ingest-load keygen DIR N
 *       writes N agent key files DIR/benchNNNN.key (0600) and prints one
 *       "benchNNNN<TAB>public key in base64" line per agent, ready to be
 *       registered with one SQL statement.
 *
 *   ingest-load run --endpoint URL --collector-pk KEY --keys DIR [OPTIONS]
 *       --agents N             agents to simulate (default 200); key files
 *                              DIR/bench0000.key .. are used
 *       --samples-per-batch S  samples per batch (default 500)
 *       --series K             series per agent, declared in every batch
 *                              (default 50: S/K timestamps per batch)
 *       --seconds T            send new batches for T seconds (default 30)
 *       --batches B            or: send B batches per agent
 *       --threads P            threads driving the sockets (default 1)
 *       --drain-timeout T      after the last send, wait at most T seconds
 *                              for outstanding acks (default 60)
 *
 * Every agent has one batch in flight at most, like the real agent. A RETRY
 * ack is honoured: the same batch is sent again after retry_after_ms. The
 * samples counted are those acknowledged as committed. At the end it prints
 * a human readable summary on stderr and one machine readable line on
 * stdout:
 *
 *   RESULT acked_samples=.. acked_batches=.. duplicate_batches=..
 *          retries=.. failed_batches=.. bad_acks=.. unanswered=.. elapsed_s=..
 *          samples_per_s=.. first_send_us=.. last_ack_us=.. cpu_user_s=..
 *          cpu_sys_s=.. latency_p50_ms=.. latency_p99_ms=..
 *
 * (first_send_us and last_ack_us are CLOCK_REALTIME microseconds; cpu_* is
 * the generator's own CPU time, all its threads including nanomsg's.)
 */
#include <inttypes.h>
#include <getopt.h>
#include <math.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/resource.h>

#include "envelope.h"
#include "faultline.pb-c.h"

#define ACK_PLAIN_MAX 4096

struct series_def {
        const char *kind, *dev, *metric, *unit;
};

/* What a hypervisor's agent reports: disks, RAID, NICs,
 * filesystems, the host. Cycled through until --series are declared. */
static const struct series_def series_defs[] = {
        { "disk", "sda", "disk.read_iops", "1/s" },
        { "disk", "sda", "disk.write_iops", "1/s" },
        { "disk", "sda", "disk.read_bytes_per_s", "B/s" },
        { "disk", "sda", "disk.write_bytes_per_s", "B/s" },
        { "disk", "sda", "disk.util_pct", "%" },
        { "disk", "sda", "disk.await_ms", "ms" },
        { "disk", "sdb", "disk.read_iops", "1/s" },
        { "disk", "sdb", "disk.write_iops", "1/s" },
        { "disk", "sdb", "disk.read_bytes_per_s", "B/s" },
        { "disk", "sdb", "disk.write_bytes_per_s", "B/s" },
        { "disk", "sdb", "disk.util_pct", "%" },
        { "disk", "sdb", "disk.await_ms", "ms" },
        { "disk", "sdc", "disk.read_iops", "1/s" },
        { "disk", "sdc", "disk.write_iops", "1/s" },
        { "disk", "sdc", "disk.read_bytes_per_s", "B/s" },
        { "disk", "sdc", "disk.write_bytes_per_s", "B/s" },
        { "disk", "sdc", "disk.util_pct", "%" },
        { "disk", "sdc", "disk.await_ms", "ms" },
        { "disk", "sdd", "disk.read_iops", "1/s" },
        { "disk", "sdd", "disk.write_iops", "1/s" },
        { "disk", "sdd", "disk.read_bytes_per_s", "B/s" },
        { "disk", "sdd", "disk.write_bytes_per_s", "B/s" },
        { "disk", "sdd", "disk.util_pct", "%" },
        { "disk", "sdd", "disk.await_ms", "ms" },
        { "raid", "md0", "raid.degraded_disks", NULL },
        { "raid", "md0", "raid.sync_pct", "%" },
        { "nic", "eth0", "nic.rx_bytes_per_s", "B/s" },
        { "nic", "eth0", "nic.tx_bytes_per_s", "B/s" },
        { "nic", "eth0", "nic.rx_packets_per_s", "1/s" },
        { "nic", "eth0", "nic.tx_packets_per_s", "1/s" },
        { "nic", "eth0", "nic.rx_errors_per_s", "1/s" },
        { "nic", "eth0", "nic.tx_errors_per_s", "1/s" },
        { "nic", "eth0", "nic.rx_drops_per_s", "1/s" },
        { "nic", "eth1", "nic.rx_bytes_per_s", "B/s" },
        { "nic", "eth1", "nic.tx_bytes_per_s", "B/s" },
        { "nic", "eth1", "nic.rx_packets_per_s", "1/s" },
        { "nic", "eth1", "nic.tx_packets_per_s", "1/s" },
        { "nic", "eth1", "nic.rx_errors_per_s", "1/s" },
        { "nic", "eth1", "nic.tx_errors_per_s", "1/s" },
        { "nic", "eth1", "nic.rx_drops_per_s", "1/s" },
        { "filesystem", "var/lib/libvirt/images", "fs.used_pct", "%" },
        { "filesystem", "var/lib/libvirt/images", "fs.inodes_used_pct", "%" },
        { "filesystem", "var/log", "fs.used_pct", "%" },
        { "filesystem", "var/log", "fs.inodes_used_pct", "%" },
        { "host", NULL, "host.load1", NULL },
        { "host", NULL, "host.cpu_pct", "%" },
        { "host", NULL, "host.mem_used_pct", "%" },
        { "host", NULL, "host.swap_used_pct", "%" },
        { "host", NULL, "host.ctx_switches_per_s", "1/s" },
        { "host", NULL, "host.uptime_s", "s" },
};
#define N_SERIES_DEFS FL_ARRAY_SIZE(series_defs)

enum agent_state {
        AGENT_IDLE, /* may send its next batch */
        AGENT_WAITING, /* a batch is in flight */
        AGENT_BACKOFF, /* told to retry; resends at due_us */
        AGENT_DONE,
};

struct agent {
        int index;
        char name[32];
        struct fl_keypair kp;
        struct fl_session sess;
        int sock;
        uint64_t epoch, seq;
        enum agent_state state;
        uint64_t due_us, sent_us;
        int64_t sim_time_us; /* base time of the next batch */
        uint64_t batches_sent;

        /* The batch being built / in flight. */
        Faultline__Series *series;
        Faultline__Series **series_ptrs;
        char **keys;
        uint32_t *series_index;
        int64_t *time_delta;
        double *value, *level;
        uint8_t *plain;
        size_t plain_cap;
        uint8_t *frame;
        size_t frame_len;
        size_t frame_samples;
        uint32_t rng;
};

struct options {
        const char *endpoint, *keys_dir;
        uint8_t collector_pk[FL_KEY_BYTES];
        size_t agents, samples, series, threads;
        double seconds, drain_timeout;
        uint64_t batches; /* 0: by time */
};

struct stats {
        uint64_t acked_samples, acked_batches, duplicate_batches, retries, failed_batches, bad_acks, unanswered,
                send_errors;
        uint64_t first_send_us, last_ack_us; /* realtime */
        uint32_t *lat_ms_hist; /* latency histogram, 1 ms buckets, LAT_BUCKETS */
};
#define LAT_BUCKETS 60001

struct worker {
        pthread_t thread;
        const struct options *o;
        struct agent *agents;
        size_t n;
        uint64_t start_mono, send_until_mono, hard_deadline_mono;
        struct stats st;
};

static void usage(FILE *f)
{
        fprintf(f, "usage: ingest-load keygen DIR N\n"
                   "       ingest-load run --endpoint URL --collector-pk KEY --keys DIR [--agents N]\n"
                   "                       [--samples-per-batch S] [--series K] [--seconds T | --batches B]\n"
                   "                       [--threads P] [--drain-timeout T]\n");
}

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("ingest-load: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        return 2;
}

static uint32_t xorshift(uint32_t *s)
{
        uint32_t x = *s;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        return *s = x;
}

static void key_path(const char *dir, size_t i, char *buf, size_t sz)
{
        snprintf(buf, sz, "%s/bench%04zu.key", dir, i);
}

static int cmd_keygen(int argc, char **argv)
{
        uint64_t n;

        if (argc != 4 || fl_safe_atou64(argv[3], &n) < 0 || n == 0 || n > 100000)
                return die("usage: ingest-load keygen DIR N (1..100000)");
        if (fl_mkdir_p(argv[2], 0700) < 0)
                return die("could not create %s: %m", argv[2]);
        for (size_t i = 0; i < n; i++) {
                struct fl_keypair kp;
                char path[4096], text[FL_KEY_TEXT_BYTES];
                int r;

                key_path(argv[2], i, path, sizeof(path));
                fl_keypair_generate(&kp);
                r = fl_keypair_save(path, &kp);
                fl_key_to_text(kp.pk, text);
                fl_keypair_wipe(&kp);
                if (r < 0)
                        return die("could not write %s: %s", path, strerror(-r));
                printf("bench%04zu\t%s\n", i, text);
        }
        return 0;
}

/* ---- batches ------------------------------------------------------------ */

static void agent_prepare(struct agent *a, const struct options *o)
{
        char host[32];

        snprintf(host, sizeof(host), "bench%04d", a->index);
        a->series = fl_new0(Faultline__Series, o->series);
        a->series_ptrs = fl_new0(Faultline__Series *, o->series);
        a->keys = fl_new0(char *, o->series);
        a->level = fl_new0(double, o->series);
        for (size_t j = 0; j < o->series; j++) {
                const struct series_def *d = &series_defs[j % N_SERIES_DEFS];
                size_t round = j / N_SERIES_DEFS; /* beyond the table: more devices */
                faultline__series__init(&a->series[j]);
                if (!d->dev)
                        a->keys[j] = round ? fl_asprintf("%s:%s-%zu", d->kind, host, round)
                                           : fl_asprintf("%s:%s", d->kind, host);
                else
                        a->keys[j] = round ? fl_asprintf("%s:%s/%s-%zu", d->kind, host, d->dev, round)
                                           : fl_asprintf("%s:%s/%s", d->kind, host, d->dev);
                a->series[j].node_key = a->keys[j];
                a->series[j].metric = (char *)d->metric;
                a->series[j].unit = (char *)d->unit;
                a->series_ptrs[j] = &a->series[j];
                a->level[j] = 10.0 + (double)(j * 7 % 90);
        }
        a->series_index = fl_new0(uint32_t, o->samples);
        a->time_delta = fl_new0(int64_t, o->samples);
        a->value = fl_new0(double, o->samples);
        a->rng = 2463534242u ^ (uint32_t)(a->index * 2654435761u);
        if (!a->rng)
                a->rng = 1;
}

/* Builds and seals the agent's next batch: timestamp-major (every series
 * at one time, then the next time), as a real agent's cycles come out. */
static void agent_build(struct agent *a, const struct options *o)
{
        Faultline__Payload p = FAULTLINE__PAYLOAD__INIT;
        Faultline__Metrics m = FAULTLINE__METRICS__INIT;
        struct fl_header h = { .kind = FL_ENVELOPE_PAYLOAD };
        const int64_t step_us = 1000000; /* one cycle a second */
        size_t steps = (o->samples + o->series - 1) / o->series;

        for (size_t i = 0; i < o->samples; i++) {
                size_t s = i % o->series, t = i / o->series;
                a->level[s] += ((double)(xorshift(&a->rng) % 2001) - 1000.0) / 1000.0;
                if (a->level[s] < 0)
                        a->level[s] = -a->level[s];
                a->series_index[i] = (uint32_t)s;
                a->time_delta[i] = (int64_t)t * step_us + (int64_t)(xorshift(&a->rng) % 1000);
                a->value[i] = a->level[s];
        }
        m.n_series = o->series;
        m.series = a->series_ptrs;
        m.base_time_us = a->sim_time_us;
        m.n_series_index = m.n_time_delta_us = m.n_value = o->samples;
        m.series_index = a->series_index;
        m.time_delta_us = a->time_delta;
        m.value = a->value;
        p.metrics = &m;
        a->sim_time_us += (int64_t)steps * step_us;

        size_t len = faultline__payload__get_packed_size(&p);
        a->plain = fl_grow(a->plain, &a->plain_cap, len, 1);
        faultline__payload__pack(&p, a->plain);

        a->seq++;
        memcpy(h.agent_pk, a->kp.pk, FL_KEY_BYTES);
        h.boot_epoch = a->epoch;
        h.sequence = a->seq;
        free(a->frame);
        fl_envelope_seal(&h, a->sess.tx, a->plain, len, &a->frame, &a->frame_len);
        a->frame_samples = o->samples;
}

static bool agent_send(struct worker *w, struct agent *a)
{
        if (nn_send(a->sock, a->frame, a->frame_len, NN_DONTWAIT) < 0) {
                int e = nn_errno();
                if (e != EAGAIN)
                        w->st.send_errors++;
                /* Not connected yet or busy: try again shortly. */
                a->state = AGENT_BACKOFF;
                a->due_us = fl_mono_us() + 5000;
                return false;
        }
        if (!w->st.first_send_us)
                w->st.first_send_us = fl_now_us();
        a->state = AGENT_WAITING;
        a->sent_us = fl_mono_us();
        return true;
}

/* Verifies the Ack the way an agent must: sealed with this agent's session,
 * kind ACK, this agent's key, this batch's epoch and sequence. */
static void agent_receive(struct worker *w, struct agent *a)
{
        void *buf = NULL;
        int n = nn_recv(a->sock, &buf, NN_MSG, NN_DONTWAIT);
        struct fl_header rh;
        uint8_t plain[ACK_PLAIN_MAX];
        size_t plain_len = 0;
        Faultline__Ack *ack = NULL;

        if (n < 0)
                return;
        if ((size_t)n > sizeof(plain) + FL_ENVELOPE_OVERHEAD ||
            fl_envelope_open(buf, (size_t)n, a->sess.rx, &rh, plain, &plain_len) < 0 || rh.kind != FL_ENVELOPE_ACK ||
            memcmp(rh.agent_pk, a->kp.pk, FL_KEY_BYTES) != 0 || rh.boot_epoch != a->epoch || rh.sequence != a->seq ||
            !(ack = faultline__ack__unpack(NULL, plain_len, plain)) || ack->sequence != a->seq) {
                nn_freemsg(buf);
                if (ack)
                        faultline__ack__free_unpacked(ack, NULL);
                w->st.bad_acks++;
                a->state = AGENT_DONE; /* a collector we cannot trust: stop this agent */
                return;
        }
        nn_freemsg(buf);

        uint64_t now = fl_mono_us(), lat = (now - a->sent_us) / 1000;
        switch (ack->status) {
        case FAULTLINE__ACK_STATUS__ACK_COMMITTED:
        case FAULTLINE__ACK_STATUS__ACK_DUPLICATE:
                if (ack->status == FAULTLINE__ACK_STATUS__ACK_COMMITTED) {
                        w->st.acked_samples += a->frame_samples;
                        w->st.acked_batches++;
                } else
                        w->st.duplicate_batches++;
                w->st.lat_ms_hist[FL_MIN(lat, (uint64_t)LAT_BUCKETS - 1)]++;
                w->st.last_ack_us = fl_now_us();
                a->state = AGENT_IDLE;
                break;
        case FAULTLINE__ACK_STATUS__ACK_RETRY:
                w->st.retries++;
                a->state = AGENT_BACKOFF;
                a->due_us = now + (ack->has_retry_after_ms ? ack->retry_after_ms : 1000) * 1000ull;
                break;
        default: /* stale or invalid: never written, never will be */
                w->st.failed_batches++;
                a->state = AGENT_IDLE;
                break;
        }
        faultline__ack__free_unpacked(ack, NULL);
}

static void *worker_main(void *arg)
{
        struct worker *w = arg;
        const struct options *o = w->o;
        struct nn_pollfd *pfd = fl_new0(struct nn_pollfd, w->n);
        struct agent **pa = fl_new0(struct agent *, w->n);

        for (;;) {
                uint64_t now = fl_mono_us();
                bool sending = o->batches ? true : now < w->send_until_mono;
                size_t np = 0, active = 0;
                uint64_t next_due = now + 100000;

                if (now >= w->hard_deadline_mono)
                        break;
                for (size_t i = 0; i < w->n; i++) {
                        struct agent *a = &w->agents[i];
                        if (a->state == AGENT_IDLE) {
                                bool more = sending && (!o->batches || a->batches_sent < o->batches);
                                if (!more) {
                                        a->state = AGENT_DONE;
                                        continue;
                                }
                                agent_build(a, o);
                                a->batches_sent++;
                                agent_send(w, a);
                        } else if (a->state == AGENT_BACKOFF && now >= a->due_us)
                                agent_send(w, a); /* the same batch, same sequence */
                        if (a->state == AGENT_WAITING) {
                                pfd[np].fd = a->sock;
                                pfd[np].events = NN_POLLIN;
                                pfd[np].revents = 0;
                                pa[np++] = a;
                        } else if (a->state == AGENT_BACKOFF)
                                next_due = FL_MIN(next_due, a->due_us);
                        if (a->state != AGENT_DONE)
                                active++;
                }
                if (active == 0)
                        break;
                if (!sending && o->batches == 0 && now >= w->hard_deadline_mono)
                        break;
                int timeout = (int)FL_MIN((next_due > now ? next_due - now : 0) / 1000, (uint64_t)100);
                if (!o->batches && sending)
                        timeout = (int)FL_MIN((uint64_t)timeout,
                                              (w->send_until_mono > now ? w->send_until_mono - now : 0) / 1000 + 1);
                if (np == 0) {
                        usleep((useconds_t)FL_MAX(timeout, 1) * 1000);
                        continue;
                }
                int r = nn_poll(pfd, (int)np, timeout);
                if (r < 0) {
                        if (nn_errno() == EINTR)
                                continue;
                        fprintf(stderr, "ingest-load: nn_poll: %s\n", nn_strerror(nn_errno()));
                        break;
                }
                for (size_t i = 0; i < np && r > 0; i++)
                        if (pfd[i].revents & NN_POLLIN)
                                agent_receive(w, pa[i]);
        }
        for (size_t i = 0; i < w->n; i++)
                if (w->agents[i].state == AGENT_WAITING || w->agents[i].state == AGENT_BACKOFF)
                        w->st.unanswered++;
        free(pfd);
        free(pa);
        return NULL;
}

static double percentile(const uint32_t *hist, uint64_t total, double q)
{
        uint64_t want = (uint64_t)ceil(q * (double)total), seen = 0;
        if (total == 0)
                return 0;
        for (size_t i = 0; i < LAT_BUCKETS; i++) {
                seen += hist[i];
                if (seen >= want)
                        return (double)i;
        }
        return LAT_BUCKETS - 1;
}

static int parse_size(const char *s, size_t *ret, size_t min, size_t max)
{
        uint64_t v;
        if (fl_safe_atou64(s, &v) < 0 || v < min || v > max)
                return -EINVAL;
        *ret = (size_t)v;
        return 0;
}

static int cmd_run(int argc, char **argv)
{
        enum {
                O_ENDPOINT = 0x100,
                O_PK,
                O_KEYS,
                O_AGENTS,
                O_SAMPLES,
                O_SERIES,
                O_SECONDS,
                O_BATCHES,
                O_THREADS,
                O_DRAIN
        };
        static const struct option opts[] = {
                { "endpoint", required_argument, NULL, O_ENDPOINT },
                { "collector-pk", required_argument, NULL, O_PK },
                { "keys", required_argument, NULL, O_KEYS },
                { "agents", required_argument, NULL, O_AGENTS },
                { "samples-per-batch", required_argument, NULL, O_SAMPLES },
                { "series", required_argument, NULL, O_SERIES },
                { "seconds", required_argument, NULL, O_SECONDS },
                { "batches", required_argument, NULL, O_BATCHES },
                { "threads", required_argument, NULL, O_THREADS },
                { "drain-timeout", required_argument, NULL, O_DRAIN },
                {},
        };
        struct options o = {
                .agents = 200, .samples = 500, .series = 50, .threads = 1, .seconds = 30, .drain_timeout = 60
        };
        bool have_pk = false;
        int c;

        optind = 2;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case O_ENDPOINT:
                        o.endpoint = optarg;
                        break;
                case O_PK:
                        if (fl_key_from_text(optarg, o.collector_pk) < 0)
                                return die("bad collector public key");
                        have_pk = true;
                        break;
                case O_KEYS:
                        o.keys_dir = optarg;
                        break;
                case O_AGENTS:
                        if (parse_size(optarg, &o.agents, 1, 100000) < 0)
                                return die("bad --agents");
                        break;
                case O_SAMPLES:
                        if (parse_size(optarg, &o.samples, 1, 1000000) < 0)
                                return die("bad --samples-per-batch");
                        break;
                case O_SERIES:
                        if (parse_size(optarg, &o.series, 1, 100000) < 0)
                                return die("bad --series");
                        break;
                case O_SECONDS:
                        if (fl_safe_atod(optarg, &o.seconds) < 0 || !(o.seconds > 0) || o.seconds > 86400)
                                return die("bad --seconds");
                        break;
                case O_BATCHES:
                        if (fl_safe_atou64(optarg, &o.batches) < 0 || o.batches == 0)
                                return die("bad --batches");
                        break;
                case O_THREADS:
                        if (parse_size(optarg, &o.threads, 1, 64) < 0)
                                return die("bad --threads");
                        break;
                case O_DRAIN:
                        if (fl_safe_atod(optarg, &o.drain_timeout) < 0 || o.drain_timeout < 0 || o.drain_timeout > 3600)
                                return die("bad --drain-timeout");
                        break;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (!o.endpoint || !have_pk || !o.keys_dir) {
                usage(stderr);
                return 2;
        }
        if (o.series > o.samples)
                o.series = o.samples;
        o.threads = FL_MIN(o.threads, o.agents);

        struct agent *agents = fl_new0(struct agent, o.agents);
        uint64_t epoch = fl_now_us();
        int64_t sim_start = (int64_t)fl_now_us() - 60 * 1000000ll;
        for (size_t i = 0; i < o.agents; i++) {
                struct agent *a = &agents[i];
                char path[4096];
                int r, resend = 3600 * 1000, maxsz = 1 << 20, linger = 0;

                a->index = (int)i;
                snprintf(a->name, sizeof(a->name), "bench%04zu", i);
                key_path(o.keys_dir, i, path, sizeof(path));
                r = fl_keypair_load(path, &a->kp);
                if (r < 0)
                        return die("could not load %s: %s", path, strerror(-r));
                if (fl_session_agent(&a->kp, o.collector_pk, &a->sess) < 0)
                        return die("could not derive the session of %s", a->name);
                a->epoch = epoch;
                a->sim_time_us = sim_start;
                agent_prepare(a, &o);
                a->sock = nn_socket(AF_SP, NN_REQ);
                if (a->sock < 0)
                        return die("nn_socket: %s (too many sockets? nanomsg allows 512 per process)",
                                   nn_strerror(nn_errno()));
                /* No REQ-level resends: we wait for the ack of what we sent. */
                nn_setsockopt(a->sock, NN_REQ, NN_REQ_RESEND_IVL, &resend, sizeof(resend));
                nn_setsockopt(a->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsz, sizeof(maxsz));
                nn_setsockopt(a->sock, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger));
                if (nn_connect(a->sock, o.endpoint) < 0)
                        return die("nn_connect %s: %s", o.endpoint, nn_strerror(nn_errno()));
        }
        /* Let the connections come up before the clock starts. */
        usleep(300000);

        struct worker *w = fl_new0(struct worker, o.threads);
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        uint64_t start = fl_mono_us();
        size_t per = o.agents / o.threads, extra = o.agents % o.threads, off = 0;
        for (size_t t = 0; t < o.threads; t++) {
                w[t].o = &o;
                w[t].agents = agents + off;
                w[t].n = per + (t < extra);
                off += w[t].n;
                w[t].start_mono = start;
                w[t].send_until_mono = start + (uint64_t)(o.seconds * 1e6);
                w[t].hard_deadline_mono = (o.batches ? start + (uint64_t)(86400 * 1e6) : w[t].send_until_mono) +
                                          (uint64_t)(o.drain_timeout * 1e6);
                w[t].st.lat_ms_hist = fl_new0(uint32_t, LAT_BUCKETS);
                if (pthread_create(&w[t].thread, NULL, worker_main, &w[t]) != 0)
                        return die("pthread_create failed");
        }
        struct stats st = { .lat_ms_hist = fl_new0(uint32_t, LAT_BUCKETS) };
        for (size_t t = 0; t < o.threads; t++) {
                pthread_join(w[t].thread, NULL);
                st.acked_samples += w[t].st.acked_samples;
                st.acked_batches += w[t].st.acked_batches;
                st.duplicate_batches += w[t].st.duplicate_batches;
                st.retries += w[t].st.retries;
                st.failed_batches += w[t].st.failed_batches;
                st.bad_acks += w[t].st.bad_acks;
                st.unanswered += w[t].st.unanswered;
                st.send_errors += w[t].st.send_errors;
                if (w[t].st.first_send_us && (!st.first_send_us || w[t].st.first_send_us < st.first_send_us))
                        st.first_send_us = w[t].st.first_send_us;
                st.last_ack_us = FL_MAX(st.last_ack_us, w[t].st.last_ack_us);
                for (size_t i = 0; i < LAT_BUCKETS; i++)
                        st.lat_ms_hist[i] += w[t].st.lat_ms_hist[i];
        }
        getrusage(RUSAGE_SELF, &ru1);

        double elapsed = st.last_ack_us > st.first_send_us ? (double)(st.last_ack_us - st.first_send_us) / 1e6 : 0;
        double user = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                      (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
        double sys = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                     (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
        uint64_t answered = st.acked_batches + st.duplicate_batches;
        double rate = elapsed > 0 ? (double)st.acked_samples / elapsed : 0;

        fprintf(stderr,
                "ingest-load: %zu agents, %zu samples/batch (%zu series), %zu thread(s): %" PRIu64
                " samples in %" PRIu64 " batches acked as committed in %.2f s = %.0f samples/s; %" PRIu64
                " retries, %" PRIu64 " unanswered, %" PRIu64 " bad acks; generator CPU %.2f s user + %.2f s sys"
                " (%.0f%% of one core)\n",
                o.agents, o.samples, o.series, o.threads, st.acked_samples, st.acked_batches, elapsed, rate, st.retries,
                st.unanswered, st.bad_acks, user, sys, elapsed > 0 ? 100 * (user + sys) / elapsed : 0);
        printf("RESULT acked_samples=%" PRIu64 " acked_batches=%" PRIu64 " duplicate_batches=%" PRIu64
               " retries=%" PRIu64 " failed_batches=%" PRIu64 " bad_acks=%" PRIu64 " unanswered=%" PRIu64
               " send_errors=%" PRIu64 " elapsed_s=%.6f samples_per_s=%.1f first_send_us=%" PRIu64
               " last_ack_us=%" PRIu64 " cpu_user_s=%.3f cpu_sys_s=%.3f latency_p50_ms=%.0f latency_p99_ms=%.0f\n",
               st.acked_samples, st.acked_batches, st.duplicate_batches, st.retries, st.failed_batches, st.bad_acks,
               st.unanswered, st.send_errors, elapsed, rate, st.first_send_us, st.last_ack_us, user, sys,
               percentile(st.lat_ms_hist, answered, 0.50), percentile(st.lat_ms_hist, answered, 0.99));
        fflush(stdout);

        for (size_t i = 0; i < o.agents; i++) {
                nn_close(agents[i].sock);
                fl_keypair_wipe(&agents[i].kp);
        }
        return st.bad_acks || st.acked_batches == 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
        if (fl_envelope_init() < 0)
                return die("could not initialise libsodium");
        if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
                return cmd_keygen(argc, argv);
        if (argc >= 2 && strcmp(argv[1], "run") == 0)
                return cmd_run(argc, argv);
        usage(stderr);
        return 2;
}
