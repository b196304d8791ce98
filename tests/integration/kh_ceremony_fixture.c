/*
 * kh_ceremony_fixture - writes an unsigned ceremony record for the
 * ceremony sign/verify tests, standing in for `khadmin init` (issue 5
 * part B):
 *
 *   kh_ceremony_fixture OUT M NAME:ROLES:PUBKEY.pem...
 *
 * ROLES is a comma list of admin, approver, custodian, auditor;
 * custodians get share indexes 1, 2, ... in argument order, so N is their
 * count. Commitments are random: nothing here holds a real share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "kh_ceremony.h"

static int fixture_fail(const char *what)
{
    fprintf(stderr, "kh_ceremony_fixture: %s\n", what);
    return 1;
}

static unsigned fixture_roles(char *list)
{
    static const char *const names[] = { "admin", "approver", "custodian",
                                         "auditor" };
    unsigned roles = 0;

    for (char *t = strtok(list, ","); t != NULL; t = strtok(NULL, ",")) {
        for (unsigned b = 0; b < 4; b++) {
            if (strcmp(t, names[b]) == 0) {
                roles |= 1u << b;
            }
        }
    }
    return roles;
}

static int fixture_spki(const char *path, struct kh_ceremony_participant *p)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *k;
    uint8_t *der = NULL;
    int n;

    if (f == NULL) {
        return -1;
    }
    k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (k == NULL || (n = i2d_PUBKEY(k, &der)) <= 0 ||
        (size_t)n > sizeof(p->spki)) {
        EVP_PKEY_free(k);
        return -1;
    }
    memcpy(p->spki, der, (size_t)n);
    p->spki_len = (size_t)n;
    OPENSSL_free(der);
    EVP_PKEY_free(k);
    return 0;
}

int main(int argc, char **argv)
{
    struct kh_ceremony_record *rec;
    struct kh_buf out;
    FILE *f;

    if (argc < 4) {
        fprintf(stderr, "usage: %s OUT M NAME:ROLES:PUBKEY.pem...\n",
                argv[0]);
        return 2;
    }
    if ((rec = kh_ceremony_record_new()) == NULL) {
        return fixture_fail("out of memory");
    }
    if (RAND_bytes(rec->ceremony_id, KH_CEREMONY_ID_LEN) != 1) {
        return fixture_fail("RNG");
    }
    rec->kind = KH_CEREMONY_INIT;
    kh_ceremony_format_time(1795359600, rec->time);
    strcpy(rec->location, "Test lab");
    strcpy(rec->khd_version, KH_VERSION);
    rec->threshold = (unsigned)atoi(argv[2]);
    for (int i = 3; i < argc; i++) {
        struct kh_ceremony_participant *p =
            &rec->participants[rec->n_participants++];
        char *name = argv[i], *roles = strchr(name, ':'), *pub;

        if (roles == NULL || (pub = strchr(roles + 1, ':')) == NULL) {
            return fixture_fail("participant: NAME:ROLES:PUBKEY.pem");
        }
        *roles++ = '\0';
        *pub++ = '\0';
        snprintf(p->name, sizeof(p->name), "%s", name);
        p->roles = fixture_roles(roles);
        if (fixture_spki(pub, p) != 0) {
            return fixture_fail("cannot read a public key");
        }
        if (p->roles & KH_ROLE_CUSTODIAN) {
            p->share_index = (uint8_t)++rec->count;
            if (RAND_bytes(p->commitment, KH_COMMITMENT_LEN) != 1) {
                return fixture_fail("RNG");
            }
        }
    }
    kh_buf_init_writer(&out, KH_CEREMONY_FILE_MAX);
    if (kh_ceremony_encode(rec, &out) != 0) {
        return fixture_fail("the record breaks a rule");
    }
    if ((f = fopen(argv[1], "wb")) == NULL ||
        fwrite(kh_buf_data(&out), 1, kh_buf_size(&out), f) !=
            kh_buf_size(&out) ||
        fclose(f) != 0) {
        return fixture_fail("cannot write OUT");
    }
    kh_buf_free(&out);
    kh_ceremony_record_free(rec);
    return 0;
}
