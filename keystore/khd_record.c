#include "khd_record.h"

#include <string.h>
#include <openssl/crypto.h>

static const char khd_record_label[] = "keyholder/record/v1";

/* AAD = label || NUL || metadata bytes. */
static int khd_record_aad(const uint8_t *meta, size_t metalen,
                          struct kh_buf *aad)
{
    int r;

    if ((r = kh_buf_put_bytes(aad, khd_record_label,
                              sizeof(khd_record_label))) != 0 ||
        (r = kh_buf_put_bytes(aad, meta, metalen)) != 0) {
        return r;
    }
    return KH_OK;
}

int khd_record_seal(const struct khd_kek *kek, const struct kh_key_info *meta,
                    const uint8_t *priv, size_t privlen, struct kh_buf *out)
{
    struct kh_buf m, aad, wrapped;
    int r;

    kh_buf_init_writer(&m, KHD_RECORD_MAX_LEN);
    kh_buf_init_writer(&aad, KHD_RECORD_MAX_LEN);
    kh_buf_init_writer(&wrapped, KHD_RECORD_MAX_LEN);
    if ((r = kh_key_info_encode(&m, meta)) != 0 ||
        (r = khd_record_aad(kh_buf_data(&m), kh_buf_size(&m), &aad)) != 0 ||
        (r = khd_wrap(kek, kh_buf_data(&aad), kh_buf_size(&aad), priv,
                      privlen, &wrapped)) != 0 ||
        (r = kh_buf_put_u32(out, KHD_RECORD_MAGIC)) != 0 ||
        (r = kh_buf_put_str(out, kh_buf_data(&m), kh_buf_size(&m))) != 0 ||
        (r = kh_buf_put_str(out, kh_buf_data(&wrapped),
                            kh_buf_size(&wrapped))) != 0) {
        goto out;
    }
out:
    kh_buf_free(&m);
    kh_buf_free(&aad);
    kh_buf_free(&wrapped);
    return r;
}

int khd_record_open(const struct khd_kek *kek, const uint8_t *rec, size_t len,
                    const char *name, uint32_t version,
                    struct kh_key_info *meta, uint8_t **priv, size_t *privlen)
{
    struct kh_buf b, mb, aad;
    const uint8_t *mp, *wp;
    size_t mlen, wlen, plen = 0;
    uint8_t *plain = NULL;
    uint32_t magic;
    int r;

    if (priv != NULL) {
        *priv = NULL;
        *privlen = 0;
    }
    kh_buf_init_writer(&aad, KHD_RECORD_MAX_LEN);
    kh_buf_init_reader(&b, rec, len);
    if (kh_buf_get_u32(&b, &magic) != 0 || magic != KHD_RECORD_MAGIC ||
        kh_buf_get_str(&b, &mp, &mlen, KHD_RECORD_MAX_LEN) != 0 ||
        kh_buf_get_str(&b, &wp, &wlen, KHD_RECORD_MAX_LEN) != 0 ||
        kh_buf_expect_end(&b) != 0) {
        r = KH_ERR_TAMPERED;
        goto out;
    }
    kh_buf_init_reader(&mb, mp, mlen);
    if (kh_key_info_decode(&mb, meta) != 0 || kh_buf_expect_end(&mb) != 0) {
        r = KH_ERR_TAMPERED;
        goto out;
    }
    /* The AAD covers the metadata; the LMDB key must agree with it. */
    if ((r = khd_record_aad(mp, mlen, &aad)) != 0) {
        goto out;
    }
    if ((r = khd_unwrap(kek, kh_buf_data(&aad), kh_buf_size(&aad), wp, wlen,
                        &plain, &plen)) != 0) {
        goto out;
    }
    if (strcmp(meta->name, name) != 0 || meta->version != version) {
        r = KH_ERR_TAMPERED;
        goto out;
    }
    if (priv != NULL) {
        *priv = plain;
        *privlen = plen;
        plain = NULL;
    }
    r = KH_OK;
out:
    if (plain != NULL) {
        OPENSSL_secure_clear_free(plain, plen);
    }
    kh_buf_free(&aad);
    return r;
}
