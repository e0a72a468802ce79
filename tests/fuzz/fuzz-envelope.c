/* SPDX-License-Identifier: MIT */
/*
 * The envelope as a collector meets it: peek at the cleartext header, then
 * verify and decrypt with a fixed session key. Seeds in corpus/envelope are
 * sealed with that key (bytes 0, 1, ..., 31), so mutations start from
 * frames that authenticate.
 */
#include "envelope.h"
#include "fuzz.h"

static const uint8_t fuzz_key[crypto_kx_SESSIONKEYBYTES] = {
        0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
        16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
};

static bool known_error(int r)
{
        return r == -EBADMSG || r == -EMSGSIZE || r == -EPROTONOSUPPORT;
}

static bool same_header(const struct fl_header *a, const struct fl_header *b)
{
        return a->version == b->version && a->kind == b->kind && memcmp(a->agent_pk, b->agent_pk, FL_KEY_BYTES) == 0 &&
               a->boot_epoch == b->boot_epoch && a->sequence == b->sequence;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static bool initialised;
        struct fl_header peeked, opened;
        _cleanup_free_ uint8_t *plain = NULL;
        size_t plain_len = 0;
        int p, r;

        if (!initialised) {
                if (fl_envelope_init() < 0)
                        abort();
                initialised = true;
        }

        p = fl_envelope_peek(data, size, &peeked);
        if (p < 0 && !known_error(p))
                abort();

        /* exactly what the contract asks for: len - FL_ENVELOPE_OVERHEAD */
        plain = fl_malloc(size > FL_ENVELOPE_OVERHEAD ? size - FL_ENVELOPE_OVERHEAD : 0);
        r = fl_envelope_open(data, size, fuzz_key, &opened, plain, &plain_len);
        if (r < 0 && !known_error(r))
                abort();
        /* open refuses at least what peek refuses, for the same reason */
        if (p < 0 && r != p)
                abort();
        if (r < 0)
                return 0;

        if (p != 0 || !same_header(&peeked, &opened) || plain_len != size - FL_ENVELOPE_OVERHEAD ||
            opened.version != FL_ENVELOPE_VERSION)
                abort();

        /* what opened seals again into a frame that opens to the same */
        {
                _cleanup_free_ uint8_t *frame = NULL, *again = NULL;
                struct fl_header h2;
                size_t frame_len = 0, again_len = 0;

                if (fl_envelope_seal(&opened, fuzz_key, plain, plain_len, &frame, &frame_len) < 0 ||
                    frame_len != size || memcmp(frame, data, FL_HEADER_BYTES) != 0)
                        abort();
                again = fl_malloc(plain_len);
                if (fl_envelope_open(frame, frame_len, fuzz_key, &h2, again, &again_len) < 0 ||
                    again_len != plain_len || memcmp(again, plain, plain_len) != 0 || !same_header(&h2, &opened))
                        abort();
        }
        return 0;
}
