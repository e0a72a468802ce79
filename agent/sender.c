/* SPDX-License-Identifier: MIT */
#include "sender.h"

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <poll.h>

#include "faultline.pb-c.h"
#include "log.h"

#define ACK_MAX_BYTES (64 * 1024)
#define NOT_CONNECTED_WAIT_US (200 * 1000ull)

struct fl_sender {
        int sock;
        int rcvfd;
        struct fl_spool *spool;
        struct fl_keypair kp;
        struct fl_session session;
        uint64_t epoch;
        uint64_t next_seq;
        uint64_t ack_timeout_us;
        uint64_t max_message_bytes;

        bool inflight;
        uint64_t in_epoch, in_seq;
        uint64_t sent_at_us;
        uint64_t hold_until_us;

        struct fl_sender_stats stats;
        struct fl_complain send_complaint;
        struct fl_complain spool_complaint;
        struct fl_complain drop_complaint;

        /* The last batch sealed, kept in memory: in the steady state it is
         * the only one in the spool, and sending it needs no read back. */
        uint8_t *last_frame;
        size_t last_len;
        uint64_t last_epoch, last_seq;
};

/* A new boot epoch on every start, persisted so it only ever grows even if
 * the clock steps back: max(last + 1, seconds since 1970). */
static int next_epoch(const char *state_dir, uint64_t *ret)
{
        _cleanup_free_ char *path = fl_asprintf("%s/epoch", state_dir);
        _cleanup_free_ char *text = NULL;
        uint64_t last = 0, e;
        char buf[32];
        int r;

        r = fl_read_file(path, 64, &text, NULL);
        if (r >= 0) {
                char *nl = strchr(text, '\n');
                if (nl)
                        *nl = '\0';
                if (fl_safe_atou64(text, &last) < 0) {
                        fl_warning("state file \"%s\" is damaged; starting a new epoch from the clock", path);
                        last = 0;
                }
        } else if (r != -ENOENT) {
                fl_error("could not read state file \"%s\": %s", path, strerror(-r));
                return r;
        }
        e = FL_MAX(last + 1, fl_now_us() / 1000000u);
        snprintf(buf, sizeof(buf), "%" PRIu64 "\n", e);
        r = fl_write_file_atomic(path, buf, strlen(buf), 0600);
        if (r < 0) {
                fl_error("could not write state file \"%s\": %s", path, strerror(-r));
                return r;
        }
        *ret = e;
        return 0;
}

int fl_sender_new(const struct fl_agent_config *cfg, const struct fl_keypair *kp,
                  const uint8_t collector_pk[FL_KEY_BYTES], struct fl_sender **ret)
{
        struct fl_sender *s = fl_new0(struct fl_sender, 1);
        _cleanup_free_ char *spool_dir = fl_asprintf("%s/spool", cfg->state_dir);
        int r, ivl, maxsz;
        size_t sz = sizeof(s->rcvfd);

        s->sock = -1;
        s->kp = *kp;
        s->ack_timeout_us = cfg->ack_timeout_us;
        s->max_message_bytes = cfg->max_message_bytes;
        r = fl_session_agent(kp, collector_pk, &s->session);
        if (r < 0) {
                fl_error("could not derive session keys: the collector public key is not usable");
                goto fail;
        }
        r = fl_mkdir_p(cfg->state_dir, 0700);
        if (r < 0) {
                fl_error("could not create state directory \"%s\": %s", cfg->state_dir, strerror(-r));
                goto fail;
        }
        r = next_epoch(cfg->state_dir, &s->epoch);
        if (r < 0)
                goto fail;
        s->next_seq = 1;
        r = fl_spool_open(spool_dir, cfg->spool_max_bytes, &s->spool);
        if (r < 0) {
                fl_error("could not open spool \"%s\": %s", spool_dir, strerror(-r));
                goto fail;
        }
        struct fl_spool_stats st;
        fl_spool_get_stats(s->spool, &st);
        if (st.corrupt > 0)
                fl_warning("removed %" PRIu64 " damaged batches from spool \"%s\"", st.corrupt, spool_dir);
        if (st.count > 0)
                fl_info("spool \"%s\" holds %" PRIu64 " unacknowledged batches (%" PRIu64 " bytes); resending",
                        spool_dir, st.count, st.bytes);

        s->sock = nn_socket(AF_SP, NN_REQ);
        if (s->sock < 0) {
                r = -nn_errno();
                fl_error("could not create request socket: %s", nn_strerror(nn_errno()));
                goto fail;
        }
        ivl = (int)FL_MIN(cfg->ack_timeout_us / 1000, (uint64_t)INT32_MAX);
        nn_setsockopt(s->sock, NN_REQ, NN_REQ_RESEND_IVL, &ivl, sizeof(ivl));
        maxsz = ACK_MAX_BYTES;
        nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsz, sizeof(maxsz));
        for (size_t i = 0; i < cfg->endpoints.n; i++)
                if (nn_connect(s->sock, cfg->endpoints.v[i]) < 0) {
                        r = -nn_errno();
                        fl_error("invalid collector endpoint \"%s\": %s", cfg->endpoints.v[i], nn_strerror(nn_errno()));
                        goto fail;
                }
        if (nn_getsockopt(s->sock, NN_SOL_SOCKET, NN_RCVFD, &s->rcvfd, &sz) < 0) {
                r = -nn_errno();
                goto fail;
        }
        *ret = s;
        return 0;
fail:
        fl_sender_free(s);
        return r;
}

void fl_sender_free(struct fl_sender *s)
{
        if (!s)
                return;
        if (s->sock >= 0)
                nn_close(s->sock);
        fl_spool_close(s->spool);
        fl_keypair_wipe(&s->kp);
        sodium_memzero(&s->session, sizeof(s->session));
        free(s->last_frame);
        free(s);
}

struct fl_spool *fl_sender_spool(struct fl_sender *s)
{
        return s->spool;
}

void fl_sender_get_stats(const struct fl_sender *s, struct fl_sender_stats *ret)
{
        *ret = s->stats;
        ret->epoch = s->epoch;
        ret->sequence = s->next_seq - 1;
}

int fl_sender_submit(struct fl_sender *s, const void *payload, size_t len, enum fl_spool_class cls)
{
        struct fl_header h = { .kind = FL_ENVELOPE_PAYLOAD, .boot_epoch = s->epoch, .sequence = s->next_seq };
        _cleanup_free_ uint8_t *frame = NULL;
        size_t frame_len;
        int r;

        if (len + FL_ENVELOPE_OVERHEAD > s->max_message_bytes) {
                fl_error("batch of %zu bytes is over the message limit of %" PRIu64 " bytes; not sent", len,
                         s->max_message_bytes);
                return -EMSGSIZE;
        }
        memcpy(h.agent_pk, s->kp.pk, FL_KEY_BYTES);
        fl_envelope_seal(&h, s->session.tx, payload, len, &frame, &frame_len);
        struct fl_spool_stats before, after;
        fl_spool_get_stats(s->spool, &before);
        r = fl_spool_append(s->spool, s->epoch, s->next_seq, cls, frame, frame_len);
        fl_spool_get_stats(s->spool, &after);
        if (after.dropped > before.dropped)
                fl_complain(&s->drop_complaint, FL_LOG_WARNING,
                            "spool full (%" PRIu64 " bytes): dropped %" PRIu64
                            " oldest metric batches to make room, %" PRIu64 " in all",
                            after.max_bytes, after.dropped - before.dropped, after.dropped);
        if (r < 0) {
                fl_complain(&s->spool_complaint, FL_LOG_ERROR, "could not spool batch %" PRIu64 ": %s", s->next_seq,
                            r == -ENOSPC ? "the spool is full of inventory and states" : strerror(-r));
                return r;
        }
        fl_complain_release(&s->spool_complaint, "spooling batches again");
        free(s->last_frame);
        s->last_frame = TAKE_PTR(frame);
        s->last_len = frame_len;
        s->last_epoch = s->epoch;
        s->last_seq = s->next_seq;
        s->next_seq++;
        s->stats.sealed++;
        return 0;
}

static int send_head(struct fl_sender *s)
{
        struct fl_spool_entry e;
        _cleanup_free_ void *data = NULL;
        const void *frame;
        int r;

        r = fl_spool_head(s->spool, &e);
        if (r < 0)
                return r; /* -ENOENT: nothing to send */
        if (s->last_frame && e.boot_epoch == s->last_epoch && e.sequence == s->last_seq && e.size == s->last_len)
                frame = s->last_frame;
        else {
                r = fl_spool_peek(s->spool, &e, &data);
                if (r < 0)
                        return r;
                frame = data;
        }
        if (nn_send(s->sock, frame, e.size, NN_DONTWAIT) < 0) {
                r = -nn_errno();
                fl_complain(&s->send_complaint, FL_LOG_WARNING, "could not send batch %" PRIu64 ": %s", e.sequence,
                            nn_strerror(-r));
                return r;
        }
        s->inflight = true;
        s->in_epoch = e.boot_epoch;
        s->in_seq = e.sequence;
        s->sent_at_us = fl_mono_us();
        return 0;
}

static void handle_reply(struct fl_sender *s, const uint8_t *buf, size_t len)
{
        struct fl_header h;
        _cleanup_free_ uint8_t *plain = NULL;
        size_t plain_len = 0;
        Faultline__Ack *ack;

        if (len < FL_ENVELOPE_OVERHEAD || len > ACK_MAX_BYTES) {
                s->stats.bad_acks++;
                return;
        }
        plain = fl_malloc(len);
        /* An ack that does not verify is ignored: it cannot make us drop
         * anything from the spool. */
        if (fl_envelope_open(buf, len, s->session.rx, &h, plain, &plain_len) < 0 || h.kind != FL_ENVELOPE_ACK ||
            memcmp(h.agent_pk, s->kp.pk, FL_KEY_BYTES) != 0 || h.boot_epoch != s->in_epoch || h.sequence != s->in_seq) {
                s->stats.bad_acks++;
                fl_debug("ignored a reply that is not a valid ack for batch %" PRIu64, s->in_seq);
                return;
        }
        ack = faultline__ack__unpack(NULL, plain_len, plain);
        if (!ack || ack->sequence != s->in_seq) {
                s->stats.bad_acks++;
                if (ack)
                        faultline__ack__free_unpacked(ack, NULL);
                return;
        }
        s->inflight = false;
        switch (ack->status) {
        case FAULTLINE__ACK_STATUS__ACK_COMMITTED:
                s->stats.committed++;
                break;
        case FAULTLINE__ACK_STATUS__ACK_DUPLICATE:
                s->stats.duplicate++;
                break;
        case FAULTLINE__ACK_STATUS__ACK_STALE:
                s->stats.stale++;
                fl_warning("collector refused batch %" PRIu64 "/%" PRIu64 " as older than what it accepted%s%s",
                           s->in_epoch, s->in_seq, ack->detail ? ": " : "", ack->detail ? ack->detail : "");
                break;
        case FAULTLINE__ACK_STATUS__ACK_INVALID:
                s->stats.invalid++;
                fl_error("collector refused batch %" PRIu64 " as invalid%s%s", s->in_seq, ack->detail ? ": " : "",
                         ack->detail ? ack->detail : "");
                break;
        default: /* RETRY, and any status this agent does not know */
                s->stats.retry++;
                s->hold_until_us = fl_mono_us() + (ack->has_retry_after_ms ? ack->retry_after_ms : 1000) * 1000ull;
                fl_debug("collector asked to retry batch %" PRIu64 " later", s->in_seq);
                faultline__ack__free_unpacked(ack, NULL);
                return;
        }
        fl_complain_release(&s->send_complaint, "collector reachable again");
        fl_spool_remove(s->spool, s->in_epoch, s->in_seq);
        faultline__ack__free_unpacked(ack, NULL);
}

int fl_sender_pump(struct fl_sender *s, uint64_t deadline_mono_us, volatile int *stop)
{
        for (;;) {
                uint64_t now = fl_mono_us();
                uint64_t wake = deadline_mono_us;
                struct pollfd pfd = { .fd = s->rcvfd, .events = POLLIN };
                int r;

                if (*stop || now >= deadline_mono_us)
                        return 0;
                if (!s->inflight && now >= s->hold_until_us) {
                        r = send_head(s);
                        if (r == -EAGAIN)
                                s->hold_until_us = now + NOT_CONNECTED_WAIT_US;
                }
                if (!s->inflight && s->hold_until_us > now)
                        wake = FL_MIN(wake, s->hold_until_us);
                if (s->inflight && now > s->sent_at_us && now - s->sent_at_us > s->ack_timeout_us * 4)
                        /* nanomsg resends by itself; this only notes a long silence. */
                        fl_complain(&s->send_complaint, FL_LOG_WARNING,
                                    "no acknowledgement from any collector for %" PRIu64
                                    " s; batches stay in the spool",
                                    (now - s->sent_at_us) / 1000000u);
                int timeout_ms = (int)FL_MIN((wake - now + 999) / 1000, (uint64_t)INT32_MAX);
                if (!s->inflight && s->hold_until_us <= now)
                        timeout_ms = (int)FL_MIN((deadline_mono_us - now + 999) / 1000, (uint64_t)INT32_MAX);
                r = poll(&pfd, 1, timeout_ms);
                if (r < 0 && errno != EINTR)
                        return -errno;
                for (;;) {
                        void *buf = NULL;
                        int n = nn_recv(s->sock, &buf, NN_MSG, NN_DONTWAIT);
                        if (n < 0)
                                break;
                        if (s->inflight)
                                handle_reply(s, buf, (size_t)n);
                        nn_freemsg(buf);
                }
        }
}
