/*
 * khadmin unseal --share FILE [--as NAME] --key KEY | --reset | --dev.
 *
 * A custodian's share is opened here with the custodian's own key, boxed
 * again to keyholderd's per-boot key (the AAD binds ceremony, index,
 * custodian and the request's challenge) and sent signed by the custodian:
 * no plaintext share crosses the socket or touches a disk.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kh_box.h"
#include "kh_ceremony.h"
#include "kh_seal.h"
#include "kha.h"
#include "kha_seal.h"

#define KHA_UNSEAL_USAGE                                                    \
    "unseal --share FILE [--as NAME] --key KEY [--pass SPEC] "              \
    "[--for rekey|rotate-master] | --reset | --dev"

int kha_unseal_info(struct kh_client *c, struct kh_unseal_info *out)
{
    struct kh_buf reply;
    int r;

    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if ((r = kh_client_call(c, KH_MSG_UNSEAL_INFO, NULL, 0, 1, &reply)) ==
            0 &&
        kh_unseal_info_decode(&reply, out) != 0) {
        r = KH_ERR_PROTOCOL;
    }
    kh_buf_free(&reply);
    return r;
}

void kha_unseal_print_text(const struct kh_unseal_info *ui)
{
    char id[2 * KH_SEAL_ID_LEN + 1];

    if (ui == NULL || !ui->has_ceremony) {
        return;
    }
    kh_hex(ui->id, sizeof(ui->id), id);
    printf("ceremony:     %s (threshold %u)\n", id, ui->m);
    if (ui->have > 0) {
        printf("%s progress: %u of %u (", kh_purpose_name(ui->purpose),
               ui->have, ui->m);
        for (unsigned i = 0; i < ui->have; i++) {
            printf("%s%s", i > 0 ? ", " : "", ui->who[i]);
        }
        printf("), expires in %u s\n", (unsigned)ui->seconds_left);
    } else if (ui->state == KH_STATE_SEALED) {
        printf("unseal progress: 0 of %u\n", ui->m);
    }
    if (ui->pending != 0) {
        printf("pending:      a prepared %s (khadmin %s --commit or "
               "--abort)\n", kh_purpose_name(ui->pending),
               kh_purpose_name(ui->pending));
    }
}

void kha_unseal_print_json(const struct kh_unseal_info *ui)
{
    char id[2 * KH_SEAL_ID_LEN + 1];

    if (ui == NULL || !ui->has_ceremony) {
        return;
    }
    kh_hex(ui->id, sizeof(ui->id), id);
    printf(",\"ceremony_id\":\"%s\",\"threshold\":%u,\"collecting\":\"%s\","
           "\"shares_submitted\":%u,\"submitted_by\":[", id, ui->m,
           kh_purpose_name(ui->purpose), ui->have);
    for (unsigned i = 0; i < ui->have; i++) {
        printf("%s", i > 0 ? "," : "");
        kha_json_str(stdout, ui->who[i]);
    }
    printf("],\"pending\":\"%s\"", kh_purpose_name(ui->pending));
}

/* What the request builder needs once the challenge is known. */
struct kha_share_req {
    EVP_PKEY *boot;
    const struct kh_share_file *sf;
    const char *as;
    const uint8_t *y;
    size_t ylen;
    int purpose;
};

static int kha_share_build(void *arg, const uint8_t nonce[32],
                           struct kh_buf *body)
{
    struct kha_share_req *q = arg;
    struct kh_unseal_share m = { .purpose = (uint8_t)q->purpose,
                                 .x = q->sf->index };
    struct kh_buf aad, box;
    int r;

    memcpy(m.id, q->sf->ceremony_id, sizeof(m.id));
    kh_buf_init_writer(&aad, 256);
    kh_buf_init_writer(&box, KH_SEAL_MAX_BOX);
    if ((r = kh_unseal_aad(&aad, m.id, m.x, q->as, nonce)) == 0 &&
        (r = kh_box_seal(q->boot, KH_UNSEAL_LABEL, kh_buf_data(&aad),
                         kh_buf_size(&aad), q->y, q->ylen, &box)) == 0) {
        m.box = kh_buf_data(&box);
        m.box_len = kh_buf_size(&box);
        r = kh_unseal_share_encode(body, &m);
    }
    kh_buf_free(&aad);
    kh_buf_free(&box);
    return r;
}

/* Reads and opens share file |path| with the operator key into |*y|. */
static int kha_share_open(struct kha_globals *g, const char *path,
                          struct kh_share_file *sf, uint8_t **y,
                          size_t *ylen)
{
    struct kh_buf aad;
    EVP_PKEY *key;
    uint8_t *d;
    size_t len = 0;
    int r;

    if ((d = kha_read_file(path, KH_SHARE_FILE_MAX, &len)) == NULL) {
        return KHA_FAIL;
    }
    r = kh_share_file_decode(d, len, sf);
    free(d);
    if (r != 0) {
        fprintf(stderr, "khadmin: %s is not a valid share file (%s)\n", path,
                kh_errname(r));
        return KHA_FAIL;
    }
    if (g->as == NULL) {
        g->as = sf->custodian; /* the share says whose it is */
    }
    if (g->key == NULL) {
        return kha_usage_error(KHA_UNSEAL_USAGE, "--key KEY is needed to "
                               "open the share");
    }
    if ((key = kha_operator_key(g)) == NULL) {
        return KHA_FAIL;
    }
    kh_buf_init_writer(&aad, 256);
    if ((r = kh_share_aad(sf->ceremony_id, sf->index, sf->custodian, &aad)) ==
        0) {
        r = kh_box_open(key, KH_SHARE_BOX_LABEL, kh_buf_data(&aad),
                        kh_buf_size(&aad), sf->box, sf->box_len, y, ylen);
    }
    kh_buf_free(&aad);
    ERR_clear_error();
    if (r != 0) {
        fprintf(stderr, "khadmin: %s: share %u of custodian '%s' does not "
                        "open with this key (%s)\n", path, sf->index,
                sf->custodian, kh_errname(r));
        return KHA_FAIL;
    }
    return KHA_OK;
}

/* Sends an opened share for |purpose|; prints the progress. */
int kha_share_submit(struct kha_globals *g, const char *path, int purpose)
{
    struct kh_share_file *sf = calloc(1, sizeof(*sf));
    struct kh_unseal_info *ui = calloc(1, sizeof(*ui));
    struct kha_share_req q = { .purpose = purpose };
    struct kh_unseal_progress pr;
    struct kh_client *c = NULL;
    const unsigned char *p;
    struct kh_buf reply;
    uint8_t *y = NULL;
    size_t ylen = 0;
    int r;

    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if (sf == NULL || ui == NULL) {
        r = KHA_FAIL;
        goto out;
    }
    if ((r = kha_share_open(g, path, sf, &y, &ylen)) != KHA_OK ||
        (c = kha_client(g)) == NULL) {
        r = r != KHA_OK ? r : KHA_FAIL;
        goto out;
    }
    if ((r = kha_unseal_info(c, ui)) != 0) {
        r = kha_call_failed(c, "unseal", r);
        goto out;
    }
    p = ui->spki;
    if ((q.boot = d2i_PUBKEY(NULL, &p, (long)ui->spki_len)) == NULL) {
        fprintf(stderr, "khadmin: keyholderd's per-boot key is malformed\n");
        r = KHA_FAIL;
        goto out;
    }
    q.sf = sf;
    q.as = g->as;
    q.y = y;
    q.ylen = ylen;
    if ((r = kh_client_call_bound(c, KH_MSG_UNSEAL_SHARE, kha_share_build,
                                  &q, &reply)) != 0) {
        r = kha_call_failed(c, "unseal", r);
        goto out;
    }
    if (kh_unseal_progress_decode(&reply, &pr) != 0) {
        fprintf(stderr, "khadmin: unseal: malformed reply\n");
        r = KHA_FAIL;
        goto out;
    }
    if (pr.done) {
        printf("share %u accepted: %u of %u; %s\n", sf->index, pr.have, pr.m,
               purpose == KH_PURPOSE_UNSEAL ? "unsealed"
                                            : "threshold reached");
    } else {
        printf("share %u accepted: %u of %u\n", sf->index, pr.have, pr.m);
    }
    r = KHA_OK;
out:
    if (y != NULL) {
        OPENSSL_secure_clear_free(y, ylen);
    }
    EVP_PKEY_free(q.boot);
    kh_buf_free(&reply);
    kh_client_free(c);
    free(sf);
    free(ui);
    return r;
}

static int kha_unseal_simple(struct kha_globals *g, uint8_t type,
                             const char *what, const char *done)
{
    int r = kha_call_empty(g, type, NULL, 0, what);

    if (r == KHA_OK) {
        printf("%s\n", done);
    }
    return r;
}

int kha_cmd_unseal(struct kha_globals *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "share", required_argument, NULL, 's' },
        { "reset", no_argument, NULL, 'r' },
        { "dev", no_argument, NULL, 'd' },
        { "as", required_argument, NULL, 'a' },
        { "key", required_argument, NULL, 'k' },
        { "pass", required_argument, NULL, 'p' },
        { "for", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    const char *share = NULL;
    int reset = 0, dev = 0, c, purpose = KH_PURPOSE_UNSEAL;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': share = optarg; break;
        case 'r': reset = 1; break;
        case 'd': dev = 1; break;
        case 'a': g->as = optarg; break;
        case 'k': g->key = optarg; break;
        case 'p': g->pass = optarg; break;
        case 'f':
            if (strcmp(optarg, "rekey") == 0) {
                purpose = KH_PURPOSE_REKEY;
            } else if (strcmp(optarg, "rotate-master") == 0) {
                purpose = KH_PURPOSE_ROTATE;
            } else {
                return kha_usage_error(KHA_UNSEAL_USAGE, "--for rekey or "
                                       "rotate-master");
            }
            break;
        default: return kha_usage_error(KHA_UNSEAL_USAGE, "bad option");
        }
    }
    if (optind != argc || (share != NULL) + reset + dev != 1) {
        return kha_usage_error(KHA_UNSEAL_USAGE, "give exactly one of "
                               "--share FILE, --reset, --dev");
    }
    if (dev) {
        return kha_unseal_simple(g, KH_MSG_UNSEAL_DEV, "unseal --dev",
                                 "unsealed");
    }
    if (reset) {
        return kha_unseal_simple(g, KH_MSG_UNSEAL_RESET, "unseal --reset",
                                 "submitted shares wiped");
    }
    return kha_share_submit(g, share, purpose);
}
