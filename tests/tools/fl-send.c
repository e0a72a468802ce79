/* SPDX-License-Identifier: MIT */
/*
 * fl-send: sends one hand-made message to a collector, the way an agent, a
 * forger or a replaying attacker would, and prints what came back. Used by
 * the integration tests to check that every kind of bad message is refused.
 *
 *   fl-send ENDPOINT COLLECTOR_PK MODE [KEY_FILE] [EPOCH SEQ] [ARG]
 *
 * MODE: valid, unknown-key, bad-auth, tamper, oversized, malformed,
 * garbage-payload, replay. With valid, ARG names a file the sent frame is
 * saved to; with replay, ARG names such a file, whose frame is sent again
 * byte for byte.
 * Prints "ack committed|duplicate|retry|stale|invalid" or "no reply".
 */
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "envelope.h"
#include "faultline.pb-c.h"

static int die(const char *msg)
{
        fprintf(stderr, "fl-send: %s\n", msg);
        return 2;
}

static void make_payload(uint8_t **ret, size_t *ret_len, size_t samples)
{
        Faultline__Payload p = FAULTLINE__PAYLOAD__INIT;
        Faultline__Heartbeat h = FAULTLINE__HEARTBEAT__INIT;
        Faultline__Metrics m = FAULTLINE__METRICS__INIT;
        Faultline__Series s = FAULTLINE__SERIES__INIT;
        Faultline__Series *sp = &s;

        h.time_us = (int64_t)fl_now_us();
        h.interval_ms = 1000;
        h.hostname = (char *)"forged";
        p.heartbeat = &h;
        if (samples > 0) {
                s.node_key = (char *)"disk:forged/sda";
                s.metric = (char *)"disk.write_iops";
                m.n_series = 1;
                m.series = &sp;
                m.base_time_us = (int64_t)fl_now_us();
                m.n_series_index = m.n_time_delta_us = m.n_value = samples;
                m.series_index = calloc(samples, sizeof(uint32_t));
                m.time_delta_us = calloc(samples, sizeof(int64_t));
                m.value = calloc(samples, sizeof(double));
                for (size_t i = 0; i < samples; i++)
                        m.time_delta_us[i] = (int64_t)i;
                p.metrics = &m;
        }
        *ret_len = faultline__payload__get_packed_size(&p);
        *ret = fl_malloc(*ret_len);
        faultline__payload__pack(&p, *ret);
}

int main(int argc, char **argv)
{
        uint8_t collector_pk[FL_KEY_BYTES];
        struct fl_keypair kp, other;
        struct fl_session sess;
        struct fl_header h = { .kind = FL_ENVELOPE_PAYLOAD };
        uint8_t *payload = NULL, *frame = NULL;
        size_t payload_len = 0, frame_len = 0;
        const char *mode;
        uint64_t epoch = 1, seq = 1;

        if (argc < 4)
                return die("usage: fl-send ENDPOINT COLLECTOR_PK MODE [KEY_FILE] [EPOCH SEQ] [ARG]");
        if (fl_envelope_init() < 0 || fl_key_from_text(argv[2], collector_pk) < 0)
                return die("bad collector public key");
        mode = argv[3];
        if (argc >= 7 && (fl_safe_atou64(argv[5], &epoch) < 0 || fl_safe_atou64(argv[6], &seq) < 0))
                return die("bad epoch or sequence");
        h.boot_epoch = epoch;
        h.sequence = seq;

        if (strcmp(mode, "malformed") == 0) {
                frame_len = 200;
                frame = fl_malloc(frame_len);
                randombytes_buf(frame, frame_len);
        } else if (strcmp(mode, "replay") == 0) {
                char *text = NULL;
                size_t len = 0;
                if (argc < 8 || fl_read_file(argv[7], 64 << 20, &text, &len) < 0 || len == 0)
                        return die("replay needs a readable frame file");
                frame_len = len;
                frame = fl_malloc(frame_len);
                memcpy(frame, text, frame_len);
                free(text);
        } else {
                if (strcmp(mode, "unknown-key") == 0)
                        fl_keypair_generate(&kp);
                else if (argc < 5 || fl_keypair_load(argv[4], &kp) < 0)
                        return die("this mode needs the agent's key file");
                memcpy(h.agent_pk, kp.pk, FL_KEY_BYTES);
                if (strcmp(mode, "bad-auth") == 0) {
                        /* Someone who knows the agent's public key, not its secret. */
                        fl_keypair_generate(&other);
                        fl_session_agent(&other, collector_pk, &sess);
                } else
                        fl_session_agent(&kp, collector_pk, &sess);
                if (strcmp(mode, "garbage-payload") == 0) {
                        payload_len = 64;
                        payload = fl_malloc(payload_len);
                        memset(payload, 0xff, payload_len);
                } else
                        make_payload(&payload, &payload_len, strcmp(mode, "oversized") == 0 ? 120000 : 10);
                fl_envelope_seal(&h, sess.tx, payload, payload_len, &frame, &frame_len);
                if (strcmp(mode, "tamper") == 0)
                        frame[frame_len - 20] ^= 0x01;
                if (strcmp(mode, "valid") == 0 && argc >= 8 &&
                    fl_write_file_atomic(argv[7], frame, frame_len, 0600) < 0)
                        return die("could not save the frame");
        }

        int sock = nn_socket(AF_SP, NN_REQ), timeout = 3000, maxsz = 1 << 20;
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout, sizeof(timeout));
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &timeout, sizeof(timeout));
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsz, sizeof(maxsz));
        if (nn_connect(sock, argv[1]) < 0 || nn_send(sock, frame, frame_len, 0) < 0)
                return die("could not send");
        void *buf = NULL;
        int n = nn_recv(sock, &buf, NN_MSG, 0);
        if (n < 0) {
                printf("no reply\n");
                nn_close(sock);
                return 0;
        }
        /* The reply must verify with this agent's session key. */
        struct fl_header rh;
        uint8_t plain[4096];
        size_t plain_len = 0;
        if (strcmp(mode, "replay") == 0) {
                printf("reply %d bytes\n", n);
        } else if ((size_t)n > sizeof(plain) + FL_ENVELOPE_OVERHEAD ||
                   fl_envelope_open(buf, (size_t)n, sess.rx, &rh, plain, &plain_len) < 0) {
                printf("unverifiable reply\n");
        } else {
                Faultline__Ack *ack = faultline__ack__unpack(NULL, plain_len, plain);
                static const char *const names[] = { "committed", "duplicate", "retry", "stale", "invalid" };
                if (!ack || ack->status > 4)
                        printf("undecodable reply\n");
                else
                        printf("ack %s\n", names[ack->status]);
                if (ack)
                        faultline__ack__free_unpacked(ack, NULL);
        }
        nn_freemsg(buf);
        nn_close(sock);
        return 0;
}
