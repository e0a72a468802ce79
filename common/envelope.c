/* SPDX-License-Identifier: MIT */
#include "envelope.h"

#include <fcntl.h>
#include <sys/stat.h>

int fl_envelope_init(void)
{
        if (sodium_init() < 0)
                return -EIO;
        return 0;
}

void fl_keypair_generate(struct fl_keypair *ret)
{
        crypto_kx_keypair(ret->pk, ret->sk);
}

void fl_keypair_wipe(struct fl_keypair *kp)
{
        sodium_memzero(kp, sizeof(*kp));
}

void fl_key_to_text(const uint8_t key[FL_KEY_BYTES], char ret[FL_KEY_TEXT_BYTES])
{
        sodium_bin2base64(ret, FL_KEY_TEXT_BYTES, key, FL_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
}

int fl_key_from_text(const char *text, uint8_t ret[FL_KEY_BYTES])
{
        uint8_t key[FL_KEY_BYTES];
        size_t len = 0;
        const char *end = NULL;

        if (sodium_base642bin(key, sizeof(key), text, strlen(text), " \t\r\n", &len, &end,
                              sodium_base64_VARIANT_ORIGINAL) < 0)
                return -EINVAL;
        if (len != FL_KEY_BYTES || (end && *end))
                return -EINVAL;
        memcpy(ret, key, FL_KEY_BYTES);
        return 0;
}

int fl_keypair_load(const char *path, struct fl_keypair *ret)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char text[128];
        struct stat st;
        struct fl_keypair kp;
        ssize_t n;
        int r;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (st.st_mode & 0077)
                return -EPERM; /* a secret readable by others is not a secret */
        n = read(fd, text, sizeof(text) - 1);
        if (n < 0)
                return -errno;
        text[n] = '\0';
        r = fl_key_from_text(text, kp.sk);
        sodium_memzero(text, sizeof(text));
        if (r < 0)
                return -EBADMSG;
        if (crypto_scalarmult_base(kp.pk, kp.sk) < 0)
                return -EBADMSG;
        *ret = kp;
        sodium_memzero(&kp, sizeof(kp));
        return 0;
}

int fl_keypair_save(const char *path, const struct fl_keypair *kp)
{
        char text[FL_KEY_TEXT_BYTES + 1];
        int r;

        fl_key_to_text(kp->sk, text);
        text[FL_KEY_TEXT_BYTES - 1] = '\n';
        text[FL_KEY_TEXT_BYTES] = '\0';
        r = fl_write_file_atomic(path, text, FL_KEY_TEXT_BYTES, 0600);
        sodium_memzero(text, sizeof(text));
        return r;
}

int fl_session_agent(const struct fl_keypair *agent, const uint8_t collector_pk[FL_KEY_BYTES], struct fl_session *ret)
{
        if (crypto_kx_client_session_keys(ret->rx, ret->tx, agent->pk, agent->sk, collector_pk) < 0)
                return -EINVAL;
        return 0;
}

int fl_session_collector(const struct fl_keypair *collector, const uint8_t agent_pk[FL_KEY_BYTES],
                         struct fl_session *ret)
{
        if (crypto_kx_server_session_keys(ret->rx, ret->tx, collector->pk, collector->sk, agent_pk) < 0)
                return -EINVAL;
        return 0;
}

static void put_be64(uint8_t *p, uint64_t v)
{
        for (int i = 7; i >= 0; i--) {
                p[i] = (uint8_t)v;
                v >>= 8;
        }
}

static uint64_t get_be64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = (v << 8) | p[i];
        return v;
}

static void write_header(uint8_t *p, const struct fl_header *h)
{
        memcpy(p, FL_ENVELOPE_MAGIC, 4);
        p[4] = FL_ENVELOPE_VERSION;
        p[5] = h->kind;
        p[6] = p[7] = 0;
        memcpy(p + 8, h->agent_pk, FL_KEY_BYTES);
        put_be64(p + 40, h->boot_epoch);
        put_be64(p + 48, h->sequence);
}

int fl_envelope_peek(const void *buf, size_t len, struct fl_header *ret)
{
        const uint8_t *p = buf;

        if (len < 4 || memcmp(p, FL_ENVELOPE_MAGIC, 4) != 0)
                return -EBADMSG;
        if (len < FL_ENVELOPE_OVERHEAD)
                return -EMSGSIZE;
        if (p[4] != FL_ENVELOPE_VERSION)
                return -EPROTONOSUPPORT;
        if ((p[5] != FL_ENVELOPE_PAYLOAD && p[5] != FL_ENVELOPE_ACK) || p[6] || p[7])
                return -EBADMSG;
        ret->version = p[4];
        ret->kind = p[5];
        memcpy(ret->agent_pk, p + 8, FL_KEY_BYTES);
        ret->boot_epoch = get_be64(p + 40);
        ret->sequence = get_be64(p + 48);
        return 0;
}

int fl_envelope_seal(const struct fl_header *h, const uint8_t key[crypto_kx_SESSIONKEYBYTES], const void *plain,
                     size_t plain_len, uint8_t **ret, size_t *ret_len)
{
        size_t len = plain_len + FL_ENVELOPE_OVERHEAD;
        uint8_t *buf = fl_malloc(len);
        uint8_t *nonce = buf + FL_HEADER_BYTES;
        unsigned long long clen = 0;

        write_header(buf, h);
        randombytes_buf(nonce, FL_NONCE_BYTES);
        crypto_aead_xchacha20poly1305_ietf_encrypt(buf + FL_HEADER_BYTES + FL_NONCE_BYTES, &clen, plain, plain_len, buf,
                                                   FL_HEADER_BYTES, NULL, nonce, key);
        *ret = buf;
        *ret_len = FL_HEADER_BYTES + FL_NONCE_BYTES + (size_t)clen;
        return 0;
}

int fl_envelope_open(const void *buf, size_t len, const uint8_t key[crypto_kx_SESSIONKEYBYTES],
                     struct fl_header *ret_header, uint8_t *ret_plain, size_t *ret_plain_len)
{
        const uint8_t *p = buf;
        struct fl_header h;
        unsigned long long plen = 0;
        int r;

        r = fl_envelope_peek(buf, len, &h);
        if (r < 0)
                return r;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(ret_plain, &plen, NULL, p + FL_HEADER_BYTES + FL_NONCE_BYTES,
                                                       len - FL_HEADER_BYTES - FL_NONCE_BYTES, p, FL_HEADER_BYTES,
                                                       p + FL_HEADER_BYTES, key) < 0)
                return -EBADMSG;
        *ret_header = h;
        *ret_plain_len = (size_t)plen;
        return 0;
}
