/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The envelope: a fixed cleartext header followed by an XChaCha20-Poly1305
 * ciphertext, the header bound in as additional data. Layout and rules are
 * in proto/faultline.proto. Nothing here logs; failures are -errno codes the
 * caller maps to a rejection reason.
 */

#include <sodium.h>
#include <stdint.h>

#include "util.h"

#define FL_ENVELOPE_MAGIC "FLT1"
#define FL_ENVELOPE_VERSION 1
#define FL_KEY_BYTES 32
#define FL_NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define FL_TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define FL_HEADER_BYTES 56
#define FL_ENVELOPE_OVERHEAD (FL_HEADER_BYTES + FL_NONCE_BYTES + FL_TAG_BYTES)

enum fl_envelope_kind {
        FL_ENVELOPE_PAYLOAD = 1,
        FL_ENVELOPE_ACK = 2,
};

struct fl_keypair {
        uint8_t pk[FL_KEY_BYTES];
        uint8_t sk[FL_KEY_BYTES];
};

/* Directional session keys shared by one agent and the collectors. */
struct fl_session {
        uint8_t rx[crypto_kx_SESSIONKEYBYTES];
        uint8_t tx[crypto_kx_SESSIONKEYBYTES];
};

struct fl_header {
        uint8_t version;
        uint8_t kind;
        uint8_t agent_pk[FL_KEY_BYTES];
        uint64_t boot_epoch;
        uint64_t sequence;
};

int fl_envelope_init(void);

void fl_keypair_generate(struct fl_keypair *ret);
/* Key files hold one line: the secret key in base64. The public key is
 * derived from it. Files must not be readable by group or others. */
int fl_keypair_load(const char *path, struct fl_keypair *ret);
int fl_keypair_save(const char *path, const struct fl_keypair *kp);
/* Base64 text of a public key (44 characters plus NUL) and back. */
#define FL_KEY_TEXT_BYTES 45
void fl_key_to_text(const uint8_t key[FL_KEY_BYTES], char ret[FL_KEY_TEXT_BYTES]);
int fl_key_from_text(const char *text, uint8_t ret[FL_KEY_BYTES]);
void fl_keypair_wipe(struct fl_keypair *kp);

int fl_session_agent(const struct fl_keypair *agent, const uint8_t collector_pk[FL_KEY_BYTES], struct fl_session *ret);
int fl_session_collector(const struct fl_keypair *collector, const uint8_t agent_pk[FL_KEY_BYTES],
                         struct fl_session *ret);

/* Parses the cleartext header only (no allocation); -EBADMSG on a bad
 * magic, -EPROTONOSUPPORT on an unknown version, -EMSGSIZE when too short. */
int fl_envelope_peek(const void *buf, size_t len, struct fl_header *ret);

/* Seals plain into a new buffer of plain_len + FL_ENVELOPE_OVERHEAD bytes. */
int fl_envelope_seal(const struct fl_header *h, const uint8_t key[crypto_kx_SESSIONKEYBYTES], const void *plain,
                     size_t plain_len, uint8_t **ret, size_t *ret_len);

/* Verifies and decrypts; the plaintext is written into ret_plain, which must
 * hold len - FL_ENVELOPE_OVERHEAD bytes. -EBADMSG when authentication fails. */
int fl_envelope_open(const void *buf, size_t len, const uint8_t key[crypto_kx_SESSIONKEYBYTES],
                     struct fl_header *ret_header, uint8_t *ret_plain, size_t *ret_plain_len);
