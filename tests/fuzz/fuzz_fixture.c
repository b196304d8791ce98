/*
 * fuzz_fixture.c - fixed keys for fuzz_khd_dispatch and its seed corpus.
 *
 * TEST KEYS ONLY: they are public in this repository. Each was made with
 * `openssl genpkey` and is stored as PKCS#8 PEM, so the dispatcher fuzzer
 * starts from the same keys every run and the seed corpus can carry a
 * certificate that matches one of them.
 */
#include "fuzz_fixture.h"

#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static const char FUZZ_PEM_RSA2048[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCg8RW0Ls/uP668\n"
    "dblR170jGi5AOZUOVAtTd1ILr2bNmgvYCpztA0vou+Ez4r08xEMJktPtRhPed4Qg\n"
    "jNCT8tCdOIv/JZznW9+EYMER+pSvWC70luIOUvnunHAiykMh2bRPxdXoGXHaxWfd\n"
    "7ifQp+x1RScqiDY6v3Fn0Qk4lfqe5oKmFkei3hL1/2JO66uHy5vB5IwvMpj4P6sz\n"
    "RFNvbj61zxKUZ/L3T0p8QdpMy3lewk+pdmwMJidi4cqKNfgLFv94LC/sWLxl6CtF\n"
    "V40dS99+5YdaJU1+Ua2X339DiC1cQDMRpIlTF8m0ALHvkhT8bP+2RXvBzw530v/A\n"
    "U75A2SnhAgMBAAECggEAAqtc/8sS+dGmlUuikj/wzCdAAyKxXTZ5pZ3CB52WJ+zZ\n"
    "K3EpnyjB1o9fMdwd5Wcf8YW07CeQZs02rM+JGhsZ6LGqaMX370Jv16M/MIwmcS4W\n"
    "QUpLX49yw8lmdr1CFcqlmfkfDiV15PoHOgAcOvK+EkfeWW8+7wSD3gPykjSynnYP\n"
    "jR07uxd0UIo3bUAjm0Uzs7smNro9+y5y3HyswRW13PJVkQ8BK6M0QJqt+nDEbgmx\n"
    "EP+Vc6UUL4qMwPaQBp97RejL/trmw1wf/x4wucyxtM3gx8DPPcutyBtTOBR+EKUm\n"
    "vQAWgcUMkOpD+DVvyjT161C/k3mKQsLGlrrBxF13/QKBgQDcXYSjsGdm+tq8yPEU\n"
    "HBJiqSwBX22sTrgVlrwO/GBoANgl9pmxb+XB11F7pvpsQyhCd2vQdMlWcGUJn1m0\n"
    "H8d1eEAF/tTAedhpgzSzcZKPwic7pNFXdjVeN8q8GVaOI1xApweVeRrQw1mAbH99\n"
    "mxScoGhu4sTEMhiwA3JZsI6nlwKBgQC695qgVoMO5ZYrp4YMIzs7O2A9H0OyoHqf\n"
    "DAm9y0LXQjlz8UcE2fz9RGVIAqrt1K85Es0IlC0MJlynmNQGaD9QNSGlpx9GhHaX\n"
    "Tym3hi3FI8Jls4pdg4lzdXzIA9+hTzaFVt8C9S0sSi/RE5SX72q6KMhZ1KZ+9LQb\n"
    "GZcXDUqpRwKBgFGK/XkA3tJ5gxWWmbbiSF9f0FvVrySyoGXEuGQnOZlirpklrmu9\n"
    "R1y6S3mhKUuEclJeFHQ3swUcZBbyc2Q22jz6uV4+lQWAUPeCSK8aGKy/oHrum1Rs\n"
    "9oSdypReH+xK42k9JY5HGQglMWpXO7oD99WZeeuGWF9tVjtTmy3bKn6TAoGBAIXT\n"
    "BrVvVt2JzYQvo436hcHuzQLS5wTrQvmmhy53V7914mOvtpKtaRzrIMd7SVd0XXsv\n"
    "jtxuGxRQPQ+lH1X6th61+QB177fsxmmlOwnmm8o4v0NGUGqA5RhkZs1PoHj4luC3\n"
    "/mZCkXPbIgC30Cs0LiNTX5yUzhufEW84UOIqHF+vAoGBAI3aZs7fJ0l8jUaHTRQR\n"
    "RbLz0c1nWm404PfFY4MHm7RU7UOFFKk161q0rCxF57lQN/fqIqhhcKa8BK4PsUDd\n"
    "gFT0SLX6kntZlItoR5nAcR1qOQ1xLDs9piNYGXnSEb3hDOBWs/cgPoWaHwTCLTwU\n"
    "13x86TU10WN0WbsMioarA0TA\n"
    "-----END PRIVATE KEY-----\n";

static const char FUZZ_PEM_P256[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgcRG9PZDwkyW0i9SO\n"
    "K+RblxQKwIl3OMs78Qj+oOn0bFyhRANCAATnpcqy2DbTk6M9hklGs6g6XC7RB2X/\n"
    "cBIhQNC4Mn2w6LrclwaeOjWxTbyNnR8SXSveZeqoKB/79q3Ttrf2MO03\n"
    "-----END PRIVATE KEY-----\n";

static const char FUZZ_PEM_P384[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDAwo1tm+WLbpRrBdIBX\n"
    "Ap2TkX4NQuRQG+tNrJgsJIeuV75VZBjdmcC5e7nLBp/QS66hZANiAARsEkwbiPoE\n"
    "umwSYFGDTEtN4jdZbSWWbEVv1QYK0JeidfOdrDDCEEHHGaS/1JmhI9y5icJ+wrfX\n"
    "eXodBPJrJgUGn6ZB94nFaBGhjliS/2KUkPGZ4+hjWKiIv0sLJ9QWlJM=\n"
    "-----END PRIVATE KEY-----\n";

static const char FUZZ_PEM_ED25519[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIAootONfxswrFyAzPigC06BlUVHok/srNwlKN4oY/YGi\n"
    "-----END PRIVATE KEY-----\n";

/* Any scalar below the group order will do. */
static const uint8_t fuzz_k1_secret[32] = {
    0x4b, 0x48, 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x6b, 0x31, 0x2d, 0x73,
    0x65, 0x63, 0x72, 0x65, 0x74, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
    0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
};

#define ROOT (1u << FUZZ_PEER_ROOT)
#define OWNER (1u << FUZZ_PEER_OWNER)
#define MEMBER (1u << FUZZ_PEER_MEMBER)

const struct fuzz_key fuzz_keys[] = {
    { "p256", KH_KEY_P256, 1, KH_KEY_ACTIVE, FUZZ_UID_OWNER, FUZZ_UID_MEMBER,
      0, FUZZ_PEM_P256, ROOT | OWNER | MEMBER },
    { "p384", KH_KEY_P384, 2, KH_KEY_ACTIVE, FUZZ_UID_OWNER, 0, 0,
      FUZZ_PEM_P384, ROOT | OWNER },
    { "k1", KH_KEY_SECP256K1, 1, KH_KEY_ACTIVE, 0, 0, FUZZ_GID_MEMBER, NULL,
      ROOT | MEMBER },
    { "ed", KH_KEY_ED25519, 1, KH_KEY_RETIRED, FUZZ_UID_OWNER, 0, 0,
      FUZZ_PEM_ED25519, ROOT | OWNER },
    { "ed", KH_KEY_ED25519, 2, KH_KEY_ACTIVE, FUZZ_UID_OWNER, 0, 0,
      FUZZ_PEM_ED25519, ROOT | OWNER },
    { "rsa", KH_KEY_RSA2048, 1, KH_KEY_ACTIVE, FUZZ_UID_OWNER,
      FUZZ_UID_MEMBER, 0, FUZZ_PEM_RSA2048, ROOT | OWNER | MEMBER },
};
const size_t fuzz_n_keys = sizeof(fuzz_keys) / sizeof(fuzz_keys[0]);

const struct fuzz_key *fuzz_key_find(const char *name)
{
    const struct fuzz_key *found = NULL;

    for (size_t i = 0; i < fuzz_n_keys; i++) {
        if (strcmp(fuzz_keys[i].name, name) == 0) {
            found = &fuzz_keys[i]; /* the last one is the newest */
        }
    }
    return found;
}

int fuzz_key_private(const struct fuzz_key *k, uint8_t **der, size_t *len)
{
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long n = 0;
    BIO *bio;
    int ok = 0;

    *der = NULL;
    *len = 0;
    if (k->pem == NULL) {
        if ((*der = OPENSSL_memdup(fuzz_k1_secret,
                                   sizeof(fuzz_k1_secret))) == NULL) {
            return 0;
        }
        *len = sizeof(fuzz_k1_secret);
        return 1;
    }
    if ((bio = BIO_new_mem_buf(k->pem, -1)) == NULL) {
        return 0;
    }
    /* The PEM body is the PKCS#8 DER that khd_key_import_private reads. */
    if (PEM_read_bio(bio, &name, &header, &data, &n) == 1 && n > 0 &&
        strcmp(name, "PRIVATE KEY") == 0) {
        *der = data;
        *len = (size_t)n;
        data = NULL;
        ok = 1;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(data, n > 0 ? (size_t)n : 0);
    BIO_free(bio);
    return ok;
}

int fuzz_key_cert(const struct fuzz_key *k, uint8_t **der, size_t *len)
{
    EVP_PKEY *pkey = NULL;
    X509_NAME *subj;
    X509 *x = NULL;
    BIO *bio = NULL;
    unsigned char *out = NULL;
    int n, ok = 0;

    *der = NULL;
    *len = 0;
    if (k->pem == NULL || (bio = BIO_new_mem_buf(k->pem, -1)) == NULL ||
        (pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL ||
        (x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
        ASN1_TIME_set(X509_getm_notBefore(x), (time_t)1735689600) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)4102444800) == NULL ||
        (subj = X509_get_subject_name(x)) == NULL ||
        !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
                                    (const unsigned char *)k->name, -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, subj) || !X509_set_pubkey(x, pkey) ||
        X509_sign(x, pkey,
                  EVP_PKEY_is_a(pkey, "ED25519") ? NULL : EVP_sha256()) <=
            0 ||
        (n = i2d_X509(x, &out)) <= 0) {
        goto out;
    }
    *der = out;
    *len = (size_t)n;
    ok = 1;
out:
    X509_free(x);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return ok;
}
