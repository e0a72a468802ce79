/* SPDX-License-Identifier: MIT */
#include "ingest.h"

#include <jansson.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <pthread.h>
#include <time.h>

#include "faultline.pb-c.h"
#include "log.h"
#include "store.h"
#include "strmap.h"

/* Ceilings on what one authentic batch may carry. */
#define MAX_NODES 100000
#define MAX_EDGES 400000
#define MAX_ATTRS 64
#define MAX_KEY_LEN 512
#define MAX_TEXT_LEN 4096
#define MAX_SERIES 100000
#define MAX_SAMPLES 2000000
#define MAX_STATES 100000

#define SERIES_CACHE_MAX 2000000
#define RETRY_AFTER_MS 1000
#define RECONNECT_MAX_US (30 * 1000000ull)
#define REJECTIONS_FLUSH_US (2 * 1000000ull)
#define PARTITIONS_EVERY_US (3600 * 1000000ull)

static const char *const reject_names[_FL_REJECT_MAX] = {
        [FL_REJECT_MALFORMED] = "malformed",         [FL_REJECT_OVERSIZED] = "oversized",
        [FL_REJECT_UNKNOWN_AGENT] = "unknown_agent", [FL_REJECT_BAD_AUTH] = "bad_auth",
        [FL_REJECT_UNDECODABLE] = "undecodable",     [FL_REJECT_OVER_LIMIT] = "over_limit",
        [FL_REJECT_DUPLICATE] = "duplicate",         [FL_REJECT_STALE] = "stale",
        [FL_REJECT_REFUSED] = "refused_by_database",
};

const char *fl_reject_to_string(enum fl_reject r)
{
        return r < _FL_REJECT_MAX ? reject_names[r] : "unknown";
}

struct agent_key {
        uint8_t pk[FL_KEY_BYTES];
        int id;
        char name[256];
        struct fl_session session;
};

/* One verified, decoded batch waiting to be written. */
struct item {
        struct item *next;
        int agent;
        char agent_name[256];
        struct fl_header header;
        uint8_t tx[crypto_kx_SESSIONKEYBYTES]; /* to seal the ack */
        void *control; /* nanomsg routing header for the reply */
        Faultline__Payload *payload;
        size_t n_samples;
        size_t bytes;
};

struct fl_ingest {
        struct fl_collector_config cfg;
        struct fl_keypair kp;
        int sock;
        pthread_t receiver, writer;
        bool receiver_started, writer_started;
        volatile int stop;

        /* Agent keys, owned by the receiver thread. */
        struct agent_key *keys;
        size_t n_keys;
        uint64_t keys_loaded_us;
        struct fl_store *key_store;
        struct fl_complain key_complaint;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct item *head, *tail;
        size_t queued, queued_bytes;

        uint64_t rejections[_FL_REJECT_MAX]; /* under lock */
        uint64_t rejections_flushed[_FL_REJECT_MAX];
        struct fl_complain reject_complaint[_FL_REJECT_MAX];

        /* Writer thread state. */
        struct fl_store *store;
        struct fl_strmap series_cache;
        uint8_t *copy_buf;
        size_t copy_cap;
};

static void count_reject(struct fl_ingest *in, enum fl_reject r, const char *detail_fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void count_reject(struct fl_ingest *in, enum fl_reject r, const char *detail_fmt, ...)
{
        char detail[256];
        va_list ap;

        va_start(ap, detail_fmt);
        vsnprintf(detail, sizeof(detail), detail_fmt, ap);
        va_end(ap);
        pthread_mutex_lock(&in->lock);
        in->rejections[r]++;
        pthread_mutex_unlock(&in->lock);
        fl_complain(&in->reject_complaint[r], FL_LOG_WARNING, "rejected a message (%s): %s", reject_names[r], detail);
}

void fl_ingest_get_rejections(struct fl_ingest *in, uint64_t ret[_FL_REJECT_MAX])
{
        pthread_mutex_lock(&in->lock);
        memcpy(ret, in->rejections, sizeof(in->rejections));
        pthread_mutex_unlock(&in->lock);
}

static void key_prefix(const uint8_t pk[FL_KEY_BYTES], char ret[16])
{
        char text[FL_KEY_TEXT_BYTES];
        fl_key_to_text(pk, text);
        snprintf(ret, 16, "%.12s", text);
}

/* ---- replies ---------------------------------------------------------- */

static void reply(struct fl_ingest *in, void **control, const struct fl_header *req,
                  const uint8_t tx[crypto_kx_SESSIONKEYBYTES], Faultline__AckStatus status, const char *detail)
{
        Faultline__Ack ack = FAULTLINE__ACK__INIT;
        struct fl_header h = *req;
        uint8_t plain[512];
        _cleanup_free_ uint8_t *frame = NULL;
        size_t frame_len;
        struct nn_msghdr hdr = { 0 };
        struct nn_iovec iov;

        ack.sequence = req->sequence;
        ack.status = status;
        if (status == FAULTLINE__ACK_STATUS__ACK_RETRY) {
                ack.has_retry_after_ms = true;
                ack.retry_after_ms = RETRY_AFTER_MS;
        }
        ack.detail = (char *)detail;
        size_t n = faultline__ack__get_packed_size(&ack);
        if (n > sizeof(plain)) {
                ack.detail = NULL;
                n = faultline__ack__get_packed_size(&ack);
        }
        faultline__ack__pack(&ack, plain);
        h.kind = FL_ENVELOPE_ACK;
        fl_envelope_seal(&h, tx, plain, n, &frame, &frame_len);

        iov.iov_base = frame;
        iov.iov_len = frame_len;
        hdr.msg_iov = &iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = control;
        hdr.msg_controllen = NN_MSG;
        if (nn_sendmsg(in->sock, &hdr, NN_DONTWAIT) < 0) {
                /* The agent went away; it will resend and get its answer then. */
                fl_debug("could not send an ack: %s", nn_strerror(nn_errno()));
                nn_freemsg(*control);
        }
        *control = NULL;
}

/* ---- agent keys --------------------------------------------------------- */

static int cmp_key(const void *a, const void *b)
{
        return memcmp(((const struct agent_key *)a)->pk, ((const struct agent_key *)b)->pk, FL_KEY_BYTES);
}

static int refresh_keys(struct fl_ingest *in)
{
        struct fl_agent_row *rows = NULL;
        size_t n = 0;
        int r;

        in->keys_loaded_us = fl_mono_us();
        if (!in->key_store) {
                fl_store_connect(in->cfg.database, &in->key_store);
                if (!in->key_store)
                        return -ENOTCONN;
                fl_store_set_quiet(in->key_store, true);
        }
        r = fl_store_agents(in->key_store, false, &rows, &n);
        if (r == -ENOTCONN)
                r = fl_store_reconnect(in->key_store) < 0 ? r : fl_store_agents(in->key_store, false, &rows, &n);
        if (r < 0) {
                fl_complain(&in->key_complaint, FL_LOG_WARNING,
                            "could not refresh agent keys: %s; using the %zu keys known",
                            fl_store_last_error(in->key_store), in->n_keys);
                return r;
        }
        fl_complain_release(&in->key_complaint, "agent keys refreshed again");
        struct agent_key *keys = fl_new0(struct agent_key, n);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                struct agent_key *a = &keys[k];
                memcpy(a->pk, rows[i].public_key, FL_KEY_BYTES);
                a->id = rows[i].id;
                snprintf(a->name, sizeof(a->name), "%s", rows[i].name);
                if (fl_session_collector(&in->kp, a->pk, &a->session) < 0)
                        continue; /* a degenerate key can never authenticate */
                k++;
        }
        qsort(keys, k, sizeof(*keys), cmp_key);
        sodium_memzero(in->keys, sizeof(*in->keys) * in->n_keys);
        free(in->keys);
        in->keys = keys;
        in->n_keys = k;
        free(rows);
        return 0;
}

static const struct agent_key *find_key(struct fl_ingest *in, const uint8_t pk[FL_KEY_BYTES])
{
        struct agent_key probe;
        const struct agent_key *a;

        memcpy(probe.pk, pk, FL_KEY_BYTES);
        a = bsearch(&probe, in->keys, in->n_keys, sizeof(*in->keys), cmp_key);
        /* A key registered a moment ago: look again, at most once a second,
         * so a flood of unknown keys cannot hammer the database. */
        if (!a && fl_mono_us() - in->keys_loaded_us > 1000000u) {
                refresh_keys(in);
                a = bsearch(&probe, in->keys, in->n_keys, sizeof(*in->keys), cmp_key);
        }
        return a;
}

/* ---- validation --------------------------------------------------------- */

static bool valid_text(const char *s, size_t max)
{
        return s && strnlen(s, max + 1) <= max;
}

/* kind:rest, kind in [a-z]+, no control characters. */
static bool valid_key(const char *k)
{
        const char *p = k;

        if (!valid_text(k, MAX_KEY_LEN))
                return false;
        while (*p >= 'a' && *p <= 'z')
                p++;
        if (p == k || *p != ':' || !p[1])
                return false;
        for (; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

static const char *validate(const Faultline__Payload *p, size_t *ret_samples)
{
        *ret_samples = 0;
        if (p->inventory) {
                const Faultline__Inventory *inv = p->inventory;
                if (inv->n_nodes > MAX_NODES || inv->n_edges > MAX_EDGES)
                        return "inventory has too many nodes or edges";
                for (size_t i = 0; i < inv->n_nodes; i++) {
                        const Faultline__Node *n = inv->nodes[i];
                        if (!valid_key(n->key) || !valid_text(n->kind, 32))
                                return "invalid node key or kind";
                        if (n->n_attributes > MAX_ATTRS)
                                return "node has too many attributes";
                        for (size_t j = 0; j < n->n_attributes; j++)
                                if (!valid_text(n->attributes[j]->key, 128) ||
                                    !valid_text(n->attributes[j]->value, MAX_TEXT_LEN))
                                        return "attribute too long";
                        if (n->has_min_ok && n->min_ok > 1000000)
                                return "min_ok out of range";
                }
                for (size_t i = 0; i < inv->n_edges; i++)
                        if (!valid_key(inv->edges[i]->from) || !valid_key(inv->edges[i]->to) ||
                            !valid_text(inv->edges[i]->type, 64))
                                return "invalid edge";
        }
        if (p->states) {
                if (p->states->n_states > MAX_STATES)
                        return "too many states";
                for (size_t i = 0; i < p->states->n_states; i++) {
                        const Faultline__NodeState *s = p->states->states[i];
                        if (!valid_key(s->key) || (s->reason && !valid_text(s->reason, MAX_TEXT_LEN)))
                                return "invalid state";
                        if (s->state > FAULTLINE__STATE__STATE_CRITICAL)
                                return "invalid state value";
                }
        }
        if (p->metrics) {
                const Faultline__Metrics *m = p->metrics;
                if (m->n_series > MAX_SERIES || m->n_series_index > MAX_SAMPLES)
                        return "too many series or samples";
                if (m->n_series_index != m->n_time_delta_us || m->n_series_index != m->n_value)
                        return "sample arrays differ in length";
                for (size_t i = 0; i < m->n_series; i++)
                        if (!valid_key(m->series[i]->node_key) || !valid_text(m->series[i]->metric, 128) ||
                            (m->series[i]->unit && !valid_text(m->series[i]->unit, 32)))
                                return "invalid series";
                for (size_t i = 0; i < m->n_series_index; i++)
                        if (m->series_index[i] >= m->n_series)
                                return "sample refers to an undeclared series";
                *ret_samples = m->n_series_index;
        }
        if (p->heartbeat) {
                const Faultline__Heartbeat *h = p->heartbeat;
                if ((h->hostname && !valid_text(h->hostname, 253)) || (h->version && !valid_text(h->version, 63)))
                        return "invalid heartbeat";
        }
        return NULL;
}

/* ---- receiving ---------------------------------------------------------- */

static void free_item(struct item *it)
{
        if (!it)
                return;
        if (it->control)
                nn_freemsg(it->control);
        if (it->payload)
                faultline__payload__free_unpacked(it->payload, NULL);
        sodium_memzero(it->tx, sizeof(it->tx));
        free(it);
}

static void handle_message(struct fl_ingest *in, uint8_t *body, size_t len, void **control)
{
        struct fl_header h;
        const struct agent_key *a;
        _cleanup_free_ uint8_t *plain = NULL;
        size_t plain_len = 0, n_samples = 0;
        char kp[16];
        int r;

        if (len > in->cfg.max_message_bytes) {
                count_reject(in, FL_REJECT_OVERSIZED, "%zu bytes, the limit is %" PRIu64, len,
                             in->cfg.max_message_bytes);
                return;
        }
        r = fl_envelope_peek(body, len, &h);
        if (r < 0 || h.kind != FL_ENVELOPE_PAYLOAD) {
                count_reject(in, FL_REJECT_MALFORMED, "%s",
                             r == -EPROTONOSUPPORT ? "unsupported protocol version" : "not a faultline batch");
                return;
        }
        key_prefix(h.agent_pk, kp);
        a = find_key(in, h.agent_pk);
        if (!a) {
                count_reject(in, FL_REJECT_UNKNOWN_AGENT, "no registered agent has key %s...", kp);
                return;
        }
        plain = fl_malloc(len);
        if (fl_envelope_open(body, len, a->session.rx, &h, plain, &plain_len) < 0) {
                count_reject(in, FL_REJECT_BAD_AUTH, "message claiming to be agent \"%s\" did not verify", a->name);
                return;
        }
        /* Authentic from here on: protobuf-c sees only verified bytes. */
        Faultline__Payload *p = faultline__payload__unpack(NULL, plain_len, plain);
        if (!p) {
                count_reject(in, FL_REJECT_UNDECODABLE, "batch %" PRIu64 " of agent \"%s\" is not a valid payload",
                             h.sequence, a->name);
                reply(in, control, &h, a->session.tx, FAULTLINE__ACK_STATUS__ACK_INVALID, "undecodable payload");
                return;
        }
        const char *why = validate(p, &n_samples);
        if (why) {
                count_reject(in, FL_REJECT_OVER_LIMIT, "batch %" PRIu64 " of agent \"%s\": %s", h.sequence, a->name,
                             why);
                reply(in, control, &h, a->session.tx, FAULTLINE__ACK_STATUS__ACK_INVALID, why);
                faultline__payload__free_unpacked(p, NULL);
                return;
        }

        struct item *it = fl_new0(struct item, 1);
        it->agent = a->id;
        snprintf(it->agent_name, sizeof(it->agent_name), "%s", a->name);
        it->header = h;
        memcpy(it->tx, a->session.tx, sizeof(it->tx));
        it->payload = p;
        it->n_samples = n_samples;
        it->bytes = len;

        pthread_mutex_lock(&in->lock);
        if (in->queued >= in->cfg.queue_max_batches || in->queued_bytes + len > in->cfg.queue_max_bytes) {
                pthread_mutex_unlock(&in->lock);
                /* Full: the database is slow or away. Tell the agent to come
                 * back later; it keeps the batch in its spool meanwhile. */
                reply(in, control, &h, a->session.tx, FAULTLINE__ACK_STATUS__ACK_RETRY, "collector busy");
                free_item(it);
                return;
        }
        it->control = TAKE_PTR(*control);
        if (in->tail)
                in->tail->next = it;
        else
                in->head = it;
        in->tail = it;
        in->queued++;
        in->queued_bytes += len;
        pthread_cond_signal(&in->cond);
        pthread_mutex_unlock(&in->lock);
}

static void *receiver_main(void *arg)
{
        struct fl_ingest *in = arg;

        refresh_keys(in);
        while (!in->stop) {
                void *body = NULL, *control = NULL;
                struct nn_iovec iov = { &body, NN_MSG };
                struct nn_msghdr hdr = {
                        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = NN_MSG
                };
                int n = nn_recvmsg(in->sock, &hdr, 0);

                if (n < 0) {
                        int e = nn_errno();
                        if (e == ETIMEDOUT || e == EINTR || e == EAGAIN)
                                goto periodic;
                        if (e == EBADF || e == ETERM)
                                break;
                        fl_warning("could not receive: %s", nn_strerror(e));
                        continue;
                }
                handle_message(in, body, (size_t)n, &control);
                nn_freemsg(body);
                if (control)
                        nn_freemsg(control); /* refused without an answer */
periodic:
                /* Revoked agents stop being accepted within key_refresh. */
                if (fl_mono_us() - in->keys_loaded_us > in->cfg.key_refresh_us)
                        refresh_keys(in);
        }
        return NULL;
}

/* ---- writing ------------------------------------------------------------ */

static json_t *inventory_json(const Faultline__Inventory *inv)
{
        json_t *doc = json_object(), *nodes = json_array(), *edges = json_array();

        json_object_set_new(doc, "full", json_boolean(inv->full));
        for (size_t i = 0; i < inv->n_nodes; i++) {
                const Faultline__Node *n = inv->nodes[i];
                json_t *o = json_object(), *attrs = json_object();
                json_object_set_new(o, "key", json_string(n->key));
                json_object_set_new(o, "kind", json_string(n->kind));
                if (n->has_min_ok)
                        json_object_set_new(o, "min_ok", json_integer(n->min_ok));
                for (size_t j = 0; j < n->n_attributes; j++)
                        json_object_set_new(attrs, n->attributes[j]->key, json_string(n->attributes[j]->value));
                json_object_set_new(o, "attributes", attrs);
                json_array_append_new(nodes, o);
        }
        for (size_t i = 0; i < inv->n_edges; i++)
                json_array_append_new(edges, json_pack("{s:s, s:s, s:s}", "from", inv->edges[i]->from, "to",
                                                       inv->edges[i]->to, "type", inv->edges[i]->type));
        json_object_set_new(doc, "nodes", nodes);
        json_object_set_new(doc, "edges", edges);
        return doc;
}

static const char *state_name(Faultline__State s)
{
        switch (s) {
        case FAULTLINE__STATE__STATE_OK:
                return "ok";
        case FAULTLINE__STATE__STATE_WARNING:
                return "warning";
        case FAULTLINE__STATE__STATE_CRITICAL:
                return "critical";
        default:
                return "unknown";
        }
}

static json_t *states_json(const Faultline__States *st)
{
        json_t *doc = json_object(), *arr = json_array();

        json_object_set_new(doc, "full", json_boolean(st->full));
        for (size_t i = 0; i < st->n_states; i++) {
                const Faultline__NodeState *s = st->states[i];
                json_t *o = json_pack("{s:s, s:s}", "key", s->key, "state", state_name(s->state));
                if (s->reason)
                        json_object_set_new(o, "reason", json_string(s->reason));
                if (s->has_since_us)
                        json_object_set_new(o, "since_us", json_integer(s->since_us));
                json_array_append_new(arr, o);
        }
        json_object_set_new(doc, "states", arr);
        return doc;
}

static int store_doc(struct fl_store *s, int agent, json_t *doc, bool inventory)
{
        _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (!text)
                return -ENOMEM;
        return inventory ? fl_store_apply_inventory(s, agent, text) : fl_store_apply_states(s, agent, text);
}

static char *series_key(const char *node_key, const char *metric)
{
        return fl_asprintf("%s\x1f%s", node_key, metric);
}

struct pending_series {
        const char **keys, **metrics, **units;
        char **cache_keys;
        int64_t *ids;
        size_t n, cap;
        struct fl_strmap index; /* cache key → position, to ask once per group */
};

/* Writes one group in one transaction. Verdicts and the outcome for every
 * item are returned; the caller sends the acks. */
static int write_group(struct fl_ingest *in, struct item **items, size_t n, enum fl_claim *verdicts)
{
        struct fl_store *s = in->store;
        _cleanup_free_ int *agents = fl_new0(int, n);
        _cleanup_free_ uint64_t *epochs = fl_new0(uint64_t, n), *seqs = fl_new0(uint64_t, n);
        _cleanup_free_ struct fl_heartbeat_row *hb = fl_new0(struct fl_heartbeat_row, n);
        struct pending_series ps = { 0 };
        size_t n_hb = 0, copy_len = 0, rows = 0;
        int r;

        for (size_t i = 0; i < n; i++) {
                agents[i] = items[i]->agent;
                epochs[i] = items[i]->header.boot_epoch;
                seqs[i] = items[i]->header.sequence;
        }
        fl_strmap_init(&ps.index, 0);

        r = fl_store_begin(s);
        if (r < 0)
                goto out;
        r = fl_store_claim(s, agents, epochs, seqs, n, verdicts);
        if (r < 0)
                goto fail;

        for (size_t i = 0; i < n; i++) {
                const Faultline__Payload *p = items[i]->payload;
                if (verdicts[i] != FL_CLAIM_OK)
                        continue;
                if (p->inventory && (r = store_doc(s, items[i]->agent, inventory_json(p->inventory), true)) < 0)
                        goto fail;
                if (p->states && (r = store_doc(s, items[i]->agent, states_json(p->states), false)) < 0)
                        goto fail;
                if (p->heartbeat)
                        hb[n_hb++] = (struct fl_heartbeat_row){
                                .agent = items[i]->agent,
                                .time_us = p->heartbeat->time_us,
                                .interval_ms = (int)FL_MIN(p->heartbeat->interval_ms, (uint32_t)INT32_MAX),
                                .hostname = p->heartbeat->hostname,
                                .version = p->heartbeat->version,
                                .spool_bytes = (int64_t)FL_MIN(p->heartbeat->spool_bytes, (uint64_t)INT64_MAX),
                                .dropped = (int64_t)FL_MIN(p->heartbeat->dropped_batches, (uint64_t)INT64_MAX),
                        };
                if (!p->metrics)
                        continue;
                /* Series this collector has not seen yet: ask for all of the
                 * group's at once. */
                for (size_t j = 0; j < p->metrics->n_series; j++) {
                        const Faultline__Series *se = p->metrics->series[j];
                        _cleanup_free_ char *ck = series_key(se->node_key, se->metric);
                        int64_t id;
                        if (fl_strmap_get(&in->series_cache, ck, &id) || fl_strmap_get(&ps.index, ck, &id))
                                continue;
                        ps.keys = fl_grow(ps.keys, &ps.cap, ps.n + 1, sizeof(*ps.keys));
                        ps.metrics = fl_realloc(ps.metrics, ps.cap * sizeof(*ps.metrics));
                        ps.units = fl_realloc(ps.units, ps.cap * sizeof(*ps.units));
                        ps.cache_keys = fl_realloc(ps.cache_keys, ps.cap * sizeof(*ps.cache_keys));
                        ps.keys[ps.n] = se->node_key;
                        ps.metrics[ps.n] = se->metric;
                        ps.units[ps.n] = se->unit;
                        ps.cache_keys[ps.n] = TAKE_PTR(ck);
                        fl_strmap_put(&ps.index, ps.cache_keys[ps.n], (int64_t)ps.n);
                        ps.n++;
                }
        }
        if (ps.n > 0) {
                ps.ids = fl_new0(int64_t, ps.n);
                r = fl_store_resolve_series(s, ps.keys, ps.metrics, ps.units, ps.n, ps.ids);
                if (r < 0)
                        goto fail;
        }

        fl_copy_begin(&in->copy_buf, &copy_len, &in->copy_cap);
        for (size_t i = 0; i < n; i++) {
                const Faultline__Metrics *m = items[i]->payload->metrics;
                if (verdicts[i] != FL_CLAIM_OK || !m || m->n_series_index == 0)
                        continue;
                _cleanup_free_ int64_t *ids = fl_new0(int64_t, m->n_series);
                for (size_t j = 0; j < m->n_series; j++) {
                        _cleanup_free_ char *ck = series_key(m->series[j]->node_key, m->series[j]->metric);
                        int64_t pos;
                        if (!fl_strmap_get(&in->series_cache, ck, &ids[j])) {
                                fl_strmap_get(&ps.index, ck, &pos);
                                ids[j] = ps.ids[pos];
                        }
                }
                for (size_t j = 0; j < m->n_series_index; j++)
                        fl_copy_row(&in->copy_buf, &copy_len, &in->copy_cap, ids[m->series_index[j]],
                                    m->base_time_us + m->time_delta_us[j], m->value[j]);
                rows += m->n_series_index;
        }
        fl_copy_end(&in->copy_buf, &copy_len, &in->copy_cap);
        if (rows > 0 && (r = fl_store_copy_samples(s, in->copy_buf, copy_len)) < 0)
                goto fail;
        if ((r = fl_store_apply_heartbeats(s, hb, n_hb)) < 0)
                goto fail;
        if ((r = fl_store_commit(s)) < 0)
                goto fail;

        /* Only committed series ids may be cached. */
        for (size_t i = 0; i < ps.n; i++)
                if (fl_strmap_put(&in->series_cache, ps.cache_keys[i], ps.ids[i]) == -E2BIG) {
                        fl_strmap_clear(&in->series_cache);
                        fl_strmap_put(&in->series_cache, ps.cache_keys[i], ps.ids[i]);
                }
        fl_debug("committed %zu batches, %zu samples", n, rows);
        r = 0;
        goto out;
fail:
        fl_store_rollback(s);
out:
        for (size_t i = 0; i < ps.n; i++)
                free(ps.cache_keys[i]);
        free(ps.keys);
        free(ps.metrics);
        free(ps.units);
        free(ps.cache_keys);
        free(ps.ids);
        fl_strmap_free(&ps.index);
        return r;
}

static void ack_items(struct fl_ingest *in, struct item **items, size_t n, const enum fl_claim *verdicts)
{
        for (size_t i = 0; i < n; i++) {
                struct item *it = items[i];
                switch (verdicts[i]) {
                case FL_CLAIM_OK:
                        reply(in, &it->control, &it->header, it->tx, FAULTLINE__ACK_STATUS__ACK_COMMITTED, NULL);
                        break;
                case FL_CLAIM_DUPLICATE:
                        count_reject(in, FL_REJECT_DUPLICATE,
                                     "batch %" PRIu64 "/%" PRIu64 " of agent \"%s\" was committed before",
                                     it->header.boot_epoch, it->header.sequence, it->agent_name);
                        reply(in, &it->control, &it->header, it->tx, FAULTLINE__ACK_STATUS__ACK_DUPLICATE, NULL);
                        break;
                case FL_CLAIM_STALE:
                        count_reject(in, FL_REJECT_STALE,
                                     "batch %" PRIu64 "/%" PRIu64 " of agent \"%s\" is from an older boot epoch",
                                     it->header.boot_epoch, it->header.sequence, it->agent_name);
                        reply(in, &it->control, &it->header, it->tx, FAULTLINE__ACK_STATUS__ACK_STALE,
                              "older boot epoch than already accepted");
                        break;
                }
        }
}

static bool wait_for_database(struct fl_ingest *in)
{
        uint64_t delay = 250000;
        struct fl_complain c = { 0 };

        fl_store_set_quiet(in->store, true);
        while (!in->stop) {
                if (fl_store_reconnect(in->store) >= 0) {
                        fl_store_set_quiet(in->store, false);
                        fl_info("database connection re-established");
                        return true;
                }
                fl_complain(&c, FL_LOG_WARNING, "database unavailable: %s; withholding acks, retrying",
                            fl_store_last_error(in->store));
                for (uint64_t slept = 0; slept < delay && !in->stop; slept += 50000)
                        usleep(50000);
                delay = FL_MIN(delay * 2, RECONNECT_MAX_US);
        }
        return false;
}

static void flush_rejections(struct fl_ingest *in)
{
        uint64_t now[_FL_REJECT_MAX];
        int64_t delta[_FL_REJECT_MAX];
        const char *names[_FL_REJECT_MAX];
        bool any = false;

        fl_ingest_get_rejections(in, now);
        for (int i = 0; i < _FL_REJECT_MAX; i++) {
                delta[i] = (int64_t)(now[i] - in->rejections_flushed[i]);
                names[i] = reject_names[i];
                any |= delta[i] > 0;
        }
        if (!any || !fl_store_connected(in->store))
                return;
        if (fl_store_add_rejections(in->store, in->cfg.name, names, delta, _FL_REJECT_MAX) >= 0)
                memcpy(in->rejections_flushed, now, sizeof(now));
}

/* Takes the whole queue up to the group ceilings. */
static size_t take_group(struct fl_ingest *in, struct item ***items, size_t *cap)
{
        size_t n = 0, samples = 0;

        while (in->head && n < in->cfg.group_max_batches &&
               (n == 0 || samples + in->head->n_samples <= in->cfg.group_max_samples)) {
                struct item *it = in->head;
                in->head = it->next;
                if (!in->head)
                        in->tail = NULL;
                in->queued--;
                in->queued_bytes -= it->bytes;
                it->next = NULL;
                *items = fl_grow(*items, cap, n + 1, sizeof(**items));
                (*items)[n++] = it;
                samples += it->n_samples;
        }
        return n;
}

static void process(struct fl_ingest *in, struct item **items, size_t n)
{
        _cleanup_free_ enum fl_claim *verdicts = fl_new0(enum fl_claim, n);
        int r;

        for (;;) {
                if (!fl_store_connected(in->store) && !wait_for_database(in))
                        return; /* stopping: the agents will resend */
                r = write_group(in, items, n, verdicts);
                if (r >= 0) {
                        ack_items(in, items, n, verdicts);
                        return;
                }
                if (r == -ENOTCONN || !fl_store_connected(in->store))
                        continue; /* keep the group, write it once the database is back */
                break;
        }
        /* The database refused the group itself. Write the batches one by
         * one so that one bad batch cannot hold back the others. */
        if (n > 1) {
                for (size_t i = 0; i < n && !in->stop; i++)
                        process(in, &items[i], 1);
                return;
        }
        count_reject(in, FL_REJECT_REFUSED, "batch %" PRIu64 " of agent \"%s\": %s", items[0]->header.sequence,
                     items[0]->agent_name, fl_store_last_error(in->store));
        reply(in, &items[0]->control, &items[0]->header, items[0]->tx, FAULTLINE__ACK_STATUS__ACK_INVALID,
              "the database refused this batch");
}

static void *writer_main(void *arg)
{
        struct fl_ingest *in = arg;
        struct item **items = NULL;
        size_t cap = 0;
        uint64_t last_flush = 0, last_partitions = 0;

        while (!in->stop) {
                size_t n;

                pthread_mutex_lock(&in->lock);
                if (!in->head) {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_nsec += 200 * 1000000L;
                        if (ts.tv_nsec >= 1000000000L) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000L;
                        }
                        pthread_cond_timedwait(&in->cond, &in->lock, &ts);
                }
                n = take_group(in, &items, &cap);
                pthread_mutex_unlock(&in->lock);

                if (n > 0) {
                        process(in, items, n);
                        for (size_t i = 0; i < n; i++)
                                free_item(items[i]);
                }
                uint64_t now = fl_mono_us();
                if (now - last_flush > REJECTIONS_FLUSH_US) {
                        if (!fl_store_connected(in->store))
                                wait_for_database(in);
                        flush_rejections(in);
                        last_flush = now;
                }
                if (now - last_partitions > PARTITIONS_EVERY_US && fl_store_connected(in->store)) {
                        if (fl_store_maintain_partitions(in->store, (int)in->cfg.retention_days) >= 0)
                                last_partitions = now;
                }
        }
        flush_rejections(in);
        free(items);
        return NULL;
}

int fl_ingest_start(const struct fl_collector_config *cfg, const struct fl_keypair *kp, struct fl_ingest **ret)
{
        struct fl_ingest *in = fl_new0(struct fl_ingest, 1);
        int timeout = 200, maxsz, r;

        in->cfg = *cfg;
        in->kp = *kp;
        pthread_mutex_init(&in->lock, NULL);
        pthread_cond_init(&in->cond, NULL);
        fl_strmap_init(&in->series_cache, SERIES_CACHE_MAX);
        in->sock = -1;

        r = fl_store_connect(cfg->database, &in->store);
        if (r < 0)
                goto fail;
        /* Not fatal: samples land in the default partition meanwhile and
         * the writer tries again every hour. */
        if (fl_store_maintain_partitions(in->store, (int)cfg->retention_days) < 0)
                fl_warning("continuing without new sample partitions for now");

        in->sock = nn_socket(AF_SP_RAW, NN_REP);
        if (in->sock < 0) {
                r = -nn_errno();
                fl_error("could not create reply socket: %s", nn_strerror(nn_errno()));
                goto fail;
        }
        /* nanomsg drops anything far over the limit before it is buffered;
         * what is between the limit and twice it is refused and counted
         * here. */
        maxsz = (int)FL_MIN(cfg->max_message_bytes * 2, (uint64_t)INT32_MAX);
        nn_setsockopt(in->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsz, sizeof(maxsz));
        nn_setsockopt(in->sock, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout, sizeof(timeout));
        for (size_t i = 0; i < cfg->listen.n; i++)
                if (nn_bind(in->sock, cfg->listen.v[i]) < 0) {
                        r = -nn_errno();
                        fl_error("could not listen on \"%s\": %s", cfg->listen.v[i], nn_strerror(nn_errno()));
                        goto fail;
                }
        if (pthread_create(&in->writer, NULL, writer_main, in) != 0) {
                r = -EAGAIN;
                goto fail;
        }
        in->writer_started = true;
        if (pthread_create(&in->receiver, NULL, receiver_main, in) != 0) {
                r = -EAGAIN;
                goto fail;
        }
        in->receiver_started = true;
        for (size_t i = 0; i < cfg->listen.n; i++)
                fl_info("listening on %s", cfg->listen.v[i]);
        *ret = in;
        return 0;
fail:
        fl_ingest_stop(in);
        return r;
}

void fl_ingest_stop(struct fl_ingest *in)
{
        if (!in)
                return;
        in->stop = 1;
        pthread_mutex_lock(&in->lock);
        pthread_cond_broadcast(&in->cond);
        pthread_mutex_unlock(&in->lock);
        if (in->receiver_started)
                pthread_join(in->receiver, NULL);
        if (in->writer_started)
                pthread_join(in->writer, NULL);
        if (in->sock >= 0)
                nn_close(in->sock);
        /* Batches still queued were never acked: their agents resend them. */
        for (struct item *it = in->head, *next; it; it = next) {
                next = it->next;
                free_item(it);
        }
        fl_store_free(in->store);
        fl_store_free(in->key_store);
        fl_strmap_free(&in->series_cache);
        free(in->copy_buf);
        sodium_memzero(in->keys, sizeof(*in->keys) * in->n_keys);
        free(in->keys);
        fl_keypair_wipe(&in->kp);
        pthread_mutex_destroy(&in->lock);
        pthread_cond_destroy(&in->cond);
        free(in);
}
