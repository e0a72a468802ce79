/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>

#include "envelope.h"
#include "util.h"

/* One agent and one collector with their session keys, and a scratch
 * directory for key files. */
struct fixture {
        struct fl_keypair agent, collector;
        struct fl_session agent_sess, collector_sess;
        char dir[64];
};

static int setup(void **state)
{
        struct fixture *f = fl_new0(struct fixture, 1);
        const char *tmp = getenv("TMPDIR");

        if (fl_envelope_init() < 0)
                return -1;
        fl_keypair_generate(&f->agent);
        fl_keypair_generate(&f->collector);
        if (fl_session_agent(&f->agent, f->collector.pk, &f->agent_sess) < 0 ||
            fl_session_collector(&f->collector, f->agent.pk, &f->collector_sess) < 0)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "%s/fl-envelope-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
        if (!mkdtemp(f->dir))
                return -1;
        *state = f;
        return 0;
}

static void unlink_in(const char *dir, const char *name)
{
        _cleanup_free_ char *p = fl_asprintf("%s/%s", dir, name);
        unlink(p);
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        unlink_in(f->dir, "agent.key");
        unlink_in(f->dir, "link.key");
        rmdir(f->dir);
        free(f);
        return 0;
}

static struct fl_header make_header(const struct fixture *f, uint8_t kind)
{
        struct fl_header h = {
                .version = FL_ENVELOPE_VERSION,
                .kind = kind,
                .boot_epoch = UINT64_C(0x0102030405060708),
                .sequence = UINT64_C(0xfffffffffffffffe),
        };

        memcpy(h.agent_pk, f->agent.pk, FL_KEY_BYTES);
        return h;
}

static const char plain_text[] = "a faultline payload, any bytes will do";

/* Seals plain_text from the agent to the collector. */
static void seal_agent(const struct fixture *f, uint8_t **ret, size_t *ret_len)
{
        struct fl_header h = make_header(f, FL_ENVELOPE_PAYLOAD);

        assert_int_equal(fl_envelope_seal(&h, f->agent_sess.tx, plain_text, sizeof(plain_text), ret, ret_len), 0);
        assert_int_equal(*ret_len, sizeof(plain_text) + FL_ENVELOPE_OVERHEAD);
}

/* Opens buf and checks that a failure left every output alone. */
static int open_checked(const void *buf, size_t len, const uint8_t *key)
{
        struct fl_header h;
        uint8_t plain[sizeof(plain_text) + 64];
        size_t plain_len = 4242;
        int r;

        memset(&h, 0xa5, sizeof(h));
        assert_true(len <= sizeof(plain) + FL_ENVELOPE_OVERHEAD);
        r = fl_envelope_open(buf, len, key, &h, plain, &plain_len);
        if (r < 0) {
                struct fl_header untouched;
                memset(&untouched, 0xa5, sizeof(untouched));
                assert_memory_equal(&h, &untouched, sizeof(h));
                assert_int_equal(plain_len, 4242);
        }
        return r;
}

/* Round trips */

static void test_agent_to_collector(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ uint8_t *frame = NULL;
        size_t len = 0, plain_len = 0;
        struct fl_header h = { 0 }, peeked = { 0 };
        uint8_t plain[sizeof(plain_text)];

        seal_agent(f, &frame, &len);
        assert_int_equal(fl_envelope_open(frame, len, f->collector_sess.rx, &h, plain, &plain_len), 0);
        assert_int_equal(plain_len, sizeof(plain_text));
        assert_memory_equal(plain, plain_text, sizeof(plain_text));

        assert_int_equal(h.version, FL_ENVELOPE_VERSION);
        assert_int_equal(h.kind, FL_ENVELOPE_PAYLOAD);
        assert_memory_equal(h.agent_pk, f->agent.pk, FL_KEY_BYTES);
        assert_true(h.boot_epoch == UINT64_C(0x0102030405060708));
        assert_true(h.sequence == UINT64_C(0xfffffffffffffffe));

        /* peek sees the same header without the key */
        assert_int_equal(fl_envelope_peek(frame, len, &peeked), 0);
        assert_int_equal(peeked.version, h.version);
        assert_int_equal(peeked.kind, h.kind);
        assert_memory_equal(peeked.agent_pk, h.agent_pk, FL_KEY_BYTES);
        assert_true(peeked.boot_epoch == h.boot_epoch);
        assert_true(peeked.sequence == h.sequence);
}

static void test_collector_to_agent(void **state)
{
        struct fixture *f = *state;
        struct fl_header h = make_header(f, FL_ENVELOPE_ACK), got = { 0 };
        _cleanup_free_ uint8_t *frame = NULL;
        uint8_t plain[sizeof(plain_text)];
        size_t len = 0, plain_len = 0;

        h.boot_epoch = 0;
        h.sequence = 1;
        assert_int_equal(fl_envelope_seal(&h, f->collector_sess.tx, plain_text, sizeof(plain_text), &frame, &len), 0);
        assert_int_equal(fl_envelope_open(frame, len, f->agent_sess.rx, &got, plain, &plain_len), 0);
        assert_int_equal(got.kind, FL_ENVELOPE_ACK);
        assert_true(got.boot_epoch == 0);
        assert_true(got.sequence == 1);
        assert_memory_equal(got.agent_pk, f->agent.pk, FL_KEY_BYTES);
        assert_int_equal(plain_len, sizeof(plain_text));
        assert_memory_equal(plain, plain_text, sizeof(plain_text));
}

/* The two directions use different keys: a frame reflected back to its
 * sender must not verify. */
static void test_directions_differ(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ uint8_t *frame = NULL;
        size_t len = 0;

        assert_memory_equal(f->agent_sess.tx, f->collector_sess.rx, sizeof(f->agent_sess.tx));
        assert_memory_equal(f->agent_sess.rx, f->collector_sess.tx, sizeof(f->agent_sess.rx));
        assert_memory_not_equal(f->agent_sess.tx, f->agent_sess.rx, sizeof(f->agent_sess.tx));

        seal_agent(f, &frame, &len);
        assert_int_equal(open_checked(frame, len, f->agent_sess.rx), -EBADMSG);
        assert_int_equal(open_checked(frame, len, f->agent_sess.tx), 0);
}

/* The cleartext header layout of proto/faultline.proto, byte for byte. */
static void test_wire_layout(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ uint8_t *frame = NULL;
        static const uint8_t epoch_be[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
        static const uint8_t seq_be[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe };
        size_t len = 0;

        assert_int_equal(FL_HEADER_BYTES, 56);
        assert_int_equal(FL_ENVELOPE_OVERHEAD, 56 + 24 + 16);
        seal_agent(f, &frame, &len);
        assert_memory_equal(frame, "FLT1", 4);
        assert_int_equal(frame[4], 1);
        assert_int_equal(frame[5], FL_ENVELOPE_PAYLOAD);
        assert_int_equal(frame[6], 0);
        assert_int_equal(frame[7], 0);
        assert_memory_equal(frame + 8, f->agent.pk, FL_KEY_BYTES);
        assert_memory_equal(frame + 40, epoch_be, 8);
        assert_memory_equal(frame + 48, seq_be, 8);
        /* the plaintext does not appear in the frame */
        assert_null(memmem(frame, len, "faultline payload", strlen("faultline payload")));
}

static void test_empty_plaintext(void **state)
{
        struct fixture *f = *state;
        struct fl_header h = make_header(f, FL_ENVELOPE_PAYLOAD), got = { 0 };
        _cleanup_free_ uint8_t *frame = NULL;
        uint8_t plain[1] = { 0x77 };
        size_t len = 0, plain_len = 99;

        assert_int_equal(fl_envelope_seal(&h, f->agent_sess.tx, "", 0, &frame, &len), 0);
        assert_int_equal(len, FL_ENVELOPE_OVERHEAD);
        assert_int_equal(fl_envelope_open(frame, len, f->collector_sess.rx, &got, plain, &plain_len), 0);
        assert_int_equal(plain_len, 0);
        assert_int_equal(plain[0], 0x77);
        assert_true(got.sequence == h.sequence);

        /* an empty message is authenticated too */
        frame[len - 1] ^= 0x01;
        assert_int_equal(open_checked(frame, len, f->collector_sess.rx), -EBADMSG);
}

static void test_random_nonce(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ uint8_t *a = NULL, *b = NULL;
        size_t a_len = 0, b_len = 0;

        seal_agent(f, &a, &a_len);
        seal_agent(f, &b, &b_len);
        assert_int_equal(a_len, b_len);
        /* same header, different nonce and therefore ciphertext */
        assert_memory_equal(a, b, FL_HEADER_BYTES);
        assert_memory_not_equal(a + FL_HEADER_BYTES, b + FL_HEADER_BYTES, FL_NONCE_BYTES);
        assert_memory_not_equal(a + FL_HEADER_BYTES + FL_NONCE_BYTES, b + FL_HEADER_BYTES + FL_NONCE_BYTES,
                                a_len - FL_HEADER_BYTES - FL_NONCE_BYTES);
}

/* Tampering and malformed frames */

/* What a frame with byte i changed must give: the version byte is checked
 * before authentication and reported as such, everything else is a
 * malformed or unauthentic frame. */
static int expected_flip_error(size_t i, uint8_t mask)
{
        if (i == 4 && (FL_ENVELOPE_VERSION ^ mask) != FL_ENVELOPE_VERSION)
                return -EPROTONOSUPPORT;
        return -EBADMSG;
}

static void test_flip_every_byte(void **state)
{
        static const uint8_t masks[] = { 0x01, 0x03, 0x80, 0xff };
        struct fixture *f = *state;
        _cleanup_free_ uint8_t *frame = NULL;
        size_t len = 0;

        seal_agent(f, &frame, &len);
        for (size_t i = 0; i < len; i++) {
                for (size_t m = 0; m < FL_ARRAY_SIZE(masks); m++) {
                        int r;

                        frame[i] ^= masks[m];
                        r = open_checked(frame, len, f->collector_sess.rx);
                        if (r != expected_flip_error(i, masks[m]))
                                fail_msg("byte %zu ^ 0x%02x: got %d, expected %d", i, masks[m], r,
                                         expected_flip_error(i, masks[m]));
                        frame[i] ^= masks[m];
                }
        }
        /* and untouched it still opens */
        assert_int_equal(open_checked(frame, len, f->collector_sess.rx), 0);
}

static void test_wrong_key(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ uint8_t *frame = NULL;
        struct fl_keypair other;
        struct fl_session s;
        size_t len = 0;

        seal_agent(f, &frame, &len);
        /* another collector, and an impostor agent knowing only the public key */
        fl_keypair_generate(&other);
        assert_int_equal(fl_session_collector(&other, f->agent.pk, &s), 0);
        assert_int_equal(open_checked(frame, len, s.rx), -EBADMSG);
        assert_int_equal(fl_session_agent(&other, f->collector.pk, &s), 0);
        assert_int_equal(open_checked(frame, len, s.tx), -EBADMSG);
        /* the collector's own transmit key */
        assert_int_equal(open_checked(frame, len, f->collector_sess.tx), -EBADMSG);
}

static void test_short_frames(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ uint8_t *frame = NULL;
        struct fl_header h;
        size_t len = 0;

        seal_agent(f, &frame, &len);
        /* with the magic there, any length up to the overhead is too short */
        for (size_t n = 4; n < FL_ENVELOPE_OVERHEAD; n++) {
                assert_int_equal(fl_envelope_peek(frame, n, &h), -EMSGSIZE);
                assert_int_equal(open_checked(frame, n, f->collector_sess.rx), -EMSGSIZE);
        }
        /* too short to hold even the magic: refused either way */
        for (size_t n = 0; n < 4; n++) {
                int r = open_checked(frame, n, f->collector_sess.rx);
                assert_true(r == -EBADMSG || r == -EMSGSIZE);
        }
        /* one byte cut from the tag */
        assert_int_equal(open_checked(frame, len - 1, f->collector_sess.rx), -EBADMSG);
        /* bytes appended */
        {
                _cleanup_free_ uint8_t *longer = fl_malloc(len + 1);
                memcpy(longer, frame, len);
                longer[len] = 0;
                assert_int_equal(open_checked(longer, len + 1, f->collector_sess.rx), -EBADMSG);
        }
}

static void test_bad_header(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ uint8_t *frame = NULL;
        struct fl_header h;
        size_t len = 0;

        seal_agent(f, &frame, &len);

        memcpy(frame, "FLT2", 4);
        assert_int_equal(fl_envelope_peek(frame, len, &h), -EBADMSG);
        assert_int_equal(open_checked(frame, len, f->collector_sess.rx), -EBADMSG);
        memcpy(frame, "FLT1", 4);

        frame[4] = 2;
        assert_int_equal(fl_envelope_peek(frame, len, &h), -EPROTONOSUPPORT);
        assert_int_equal(open_checked(frame, len, f->collector_sess.rx), -EPROTONOSUPPORT);
        frame[4] = 0;
        assert_int_equal(fl_envelope_peek(frame, len, &h), -EPROTONOSUPPORT);
        frame[4] = 1;

        for (unsigned kind = 0; kind < 256; kind++) {
                if (kind == FL_ENVELOPE_PAYLOAD || kind == FL_ENVELOPE_ACK)
                        continue;
                frame[5] = (uint8_t)kind;
                assert_int_equal(fl_envelope_peek(frame, len, &h), -EBADMSG);
                assert_int_equal(open_checked(frame, len, f->collector_sess.rx), -EBADMSG);
        }
        frame[5] = FL_ENVELOPE_PAYLOAD;

        frame[6] = 1;
        assert_int_equal(fl_envelope_peek(frame, len, &h), -EBADMSG);
        frame[6] = 0;
        frame[7] = 0x80;
        assert_int_equal(fl_envelope_peek(frame, len, &h), -EBADMSG);
        frame[7] = 0;

        assert_int_equal(open_checked(frame, len, f->collector_sess.rx), 0);
}

/* A valid ack kind in a payload frame passes the header check but not
 * authentication: the kind is bound in. */
static void test_kind_is_authenticated(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ uint8_t *frame = NULL;
        struct fl_header h;
        size_t len = 0;

        seal_agent(f, &frame, &len);
        frame[5] = FL_ENVELOPE_ACK;
        assert_int_equal(fl_envelope_peek(frame, len, &h), 0);
        assert_int_equal(h.kind, FL_ENVELOPE_ACK);
        assert_int_equal(open_checked(frame, len, f->collector_sess.rx), -EBADMSG);
}

static void test_session_low_order_key(void **state)
{
        struct fixture *f = *state;
        static const uint8_t zero[FL_KEY_BYTES] = { 0 };
        struct fl_session s;

        /* an all-zero public key gives an all-zero shared secret */
        assert_int_equal(fl_session_agent(&f->agent, zero, &s), -EINVAL);
        assert_int_equal(fl_session_collector(&f->collector, zero, &s), -EINVAL);
}

/* Key text */

static void key_text_of(const uint8_t *bin, size_t n, char *ret, size_t ret_size)
{
        sodium_bin2base64(ret, ret_size, bin, n, sodium_base64_VARIANT_ORIGINAL);
}

static void assert_key_text_refused(const char *text)
{
        uint8_t key[FL_KEY_BYTES];

        memset(key, 0x5a, sizeof(key));
        if (fl_key_from_text(text, key) != -EINVAL)
                fail_msg("key text \"%s\" was not refused", text);
        for (size_t i = 0; i < sizeof(key); i++)
                assert_int_equal(key[i], 0x5a);
}

static void test_key_text(void **state)
{
        struct fixture *f = *state;
        char text[FL_KEY_TEXT_BYTES], buf[128];
        uint8_t key[FL_KEY_BYTES], raw[48];

        fl_key_to_text(f->agent.pk, text);
        assert_int_equal(strlen(text), 44);
        assert_int_equal(text[43], '=');
        assert_int_equal(fl_key_from_text(text, key), 0);
        assert_memory_equal(key, f->agent.pk, FL_KEY_BYTES);

        /* a fixed key and its well-known text */
        for (size_t i = 0; i < sizeof(raw); i++)
                raw[i] = (uint8_t)i;
        fl_key_to_text(raw, text);
        assert_string_equal(text, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");

        /* the newline of a key file line is fine */
        snprintf(buf, sizeof(buf), "%s\n", text);
        memset(key, 0, sizeof(key));
        assert_int_equal(fl_key_from_text(buf, key), 0);
        assert_memory_equal(key, raw, FL_KEY_BYTES);

        /* wrong length: 31, 33, 48 bytes and nothing */
        key_text_of(raw, 31, buf, sizeof(buf));
        assert_key_text_refused(buf);
        key_text_of(raw, 33, buf, sizeof(buf));
        assert_key_text_refused(buf);
        key_text_of(raw, 48, buf, sizeof(buf));
        assert_key_text_refused(buf);
        assert_key_text_refused("");
        /* padding missing */
        snprintf(buf, sizeof(buf), "%.43s", text);
        assert_key_text_refused(buf);

        /* not base64, or the URL-safe alphabet */
        assert_key_text_refused("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=");
        /* 0xfb 0xff 0xbf is "+/+/" in base64 */
        for (size_t i = 0; i < FL_KEY_BYTES; i++)
                raw[i] = (uint8_t[]){ 0xfb, 0xff, 0xbf }[i % 3];
        key_text_of(raw, FL_KEY_BYTES, buf, sizeof(buf));
        assert_non_null(strpbrk(buf, "+/"));
        assert_int_equal(fl_key_from_text(buf, key), 0);
        for (char *c = buf; *c; c++)
                *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
        assert_key_text_refused(buf);

        /* trailing garbage */
        snprintf(buf, sizeof(buf), "%sx", text);
        assert_key_text_refused(buf);
        snprintf(buf, sizeof(buf), "%s junk", text);
        assert_key_text_refused(buf);
        snprintf(buf, sizeof(buf), "%s\n%s\n", text, text);
        assert_key_text_refused(buf);
}

/* Key files */

static void write_file(const char *path, const char *text, mode_t mode)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
}

static void test_keypair_file(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *path = fl_asprintf("%s/agent.key", f->dir);
        _cleanup_free_ char *text = NULL;
        char pk_text[FL_KEY_TEXT_BYTES];
        struct fl_keypair loaded;
        struct stat st;
        size_t len = 0;

        assert_int_equal(fl_keypair_save(path, &f->agent), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        /* one base64 line holding the secret key, never the public one */
        assert_int_equal(fl_read_file(path, 4096, &text, &len), 0);
        assert_int_equal(len, 45);
        assert_int_equal(text[44], '\n');
        fl_key_to_text(f->agent.pk, pk_text);
        assert_null(strstr(text, pk_text));

        memset(&loaded, 0, sizeof(loaded));
        assert_int_equal(fl_keypair_load(path, &loaded), 0);
        assert_memory_equal(loaded.pk, f->agent.pk, FL_KEY_BYTES);
        assert_memory_equal(loaded.sk, f->agent.sk, FL_KEY_BYTES);

        /* and the loaded pair talks to the collector */
        {
                struct fl_session s;
                assert_int_equal(fl_session_agent(&loaded, f->collector.pk, &s), 0);
                assert_memory_equal(s.tx, f->agent_sess.tx, sizeof(s.tx));
        }

        fl_keypair_wipe(&loaded);
        for (size_t i = 0; i < sizeof(loaded); i++)
                assert_int_equal(((uint8_t *)&loaded)[i], 0);
}

static void assert_load_fails(const char *path, int r)
{
        struct fl_keypair kp;

        memset(&kp, 0x5a, sizeof(kp));
        assert_int_equal(fl_keypair_load(path, &kp), r);
        for (size_t i = 0; i < sizeof(kp); i++)
                assert_int_equal(((uint8_t *)&kp)[i], 0x5a);
}

static void test_keypair_file_errors(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *path = fl_asprintf("%s/agent.key", f->dir);
        _cleanup_free_ char *link = fl_asprintf("%s/link.key", f->dir);
        char text[FL_KEY_TEXT_BYTES + 1];

        assert_load_fails(path, -ENOENT);

        assert_int_equal(fl_keypair_save(path, &f->agent), 0);
        assert_int_equal(chmod(path, 0644), 0);
        assert_load_fails(path, -EPERM);
        assert_int_equal(chmod(path, 0640), 0);
        assert_load_fails(path, -EPERM);
        assert_int_equal(chmod(path, 0604), 0);
        assert_load_fails(path, -EPERM);
        assert_int_equal(chmod(path, 0400), 0);
        {
                struct fl_keypair kp;
                assert_int_equal(fl_keypair_load(path, &kp), 0);
                assert_memory_equal(kp.pk, f->agent.pk, FL_KEY_BYTES);
        }

        /* a symbolic link is not followed */
        assert_int_equal(symlink(path, link), 0);
        assert_load_fails(link, -ELOOP);

        /* a directory is not a key file */
        assert_load_fails(f->dir, -EINVAL);

        unlink(path);
        write_file(path, "this is not a key\n", 0600);
        assert_load_fails(path, -EBADMSG);
        write_file(path, "", 0600);
        assert_load_fails(path, -EBADMSG);
        /* base64, but of 31 bytes */
        {
                uint8_t raw[31] = { 1 };
                key_text_of(raw, sizeof(raw), text, sizeof(text));
                write_file(path, text, 0600);
                assert_load_fails(path, -EBADMSG);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_agent_to_collector, setup, teardown),
                cmocka_unit_test_setup_teardown(test_collector_to_agent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_directions_differ, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wire_layout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_empty_plaintext, setup, teardown),
                cmocka_unit_test_setup_teardown(test_random_nonce, setup, teardown),
                cmocka_unit_test_setup_teardown(test_flip_every_byte, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_short_frames, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kind_is_authenticated, setup, teardown),
                cmocka_unit_test_setup_teardown(test_session_low_order_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_key_text, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keypair_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keypair_file_errors, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
