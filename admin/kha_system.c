/* khadmin init, status, seal, unseal. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kh_seal.h"

#include "kha.h"

/* SHA-256 of the audit public key (its fingerprint), or "-". */
static void kha_audit_fp(const struct kh_status_reply *st, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;

    snprintf(out, 65, "-");
    if (st->audit_spki_len > 0 &&
        EVP_Digest(st->audit_spki, st->audit_spki_len, md, &n, EVP_sha256(),
                   NULL) == 1) {
        for (unsigned i = 0; i < n && i < 32; i++) {
            snprintf(out + 2 * i, 3, "%02x", md[i]);
        }
    }
}

/* Parses only the options in |longopts| plus --json; 0 or KHA_USAGE. */
static int kha_flags(struct kha_globals *g, int argc, char **argv,
                     const char *usage, const char *flag, int *flag_set)
{
    struct option longopts[] = {
        { "json", no_argument, NULL, 'j' },
        { flag != NULL ? flag : "json", no_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'j') {
            g->json = 1;
        } else if (c == 'f' && flag != NULL) {
            *flag_set = 1;
        } else {
            return kha_usage_error(usage, "bad option");
        }
    }
    if (optind != argc) {
        return kha_usage_error(usage, "unexpected argument '%s'",
                               argv[optind]);
    }
    return KHA_OK;
}

static const char *kha_heap_name(int h)
{
    return h == 1 ? "locked" : h == 2 ? "unlocked (no mlock)" : "unavailable";
}

int kha_cmd_status(struct kha_globals *g, int argc, char **argv)
{
    char afp[65];
    struct kh_status_reply st;
    struct kh_unseal_info *ui = NULL;
    struct kh_client *c;
    int r;

    if ((r = kha_flags(g, argc, argv, "status [--json]", NULL, NULL)) != 0) {
        return r;
    }
    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    if ((r = kh_client_status(c, &st)) != 0) {
        r = kha_call_failed(c, "status", r);
        kh_client_free(c);
        return r;
    }
    if ((ui = calloc(1, sizeof(*ui))) != NULL &&
        kha_unseal_info(c, ui) != 0) {
        free(ui); /* an older keyholderd: no ceremony lines */
        ui = NULL;
    }
    kh_client_free(c);
    kha_audit_fp(&st, afp);
    if (g->json) {
        printf("{\"state\":\"%s\",\"insecure_dev\":%s,\"secure_heap\":"
               "\"%s\",\"key_versions\":%u,\"version\":",
               kh_state_name(st.state), st.insecure_dev ? "true" : "false",
               kha_heap_name(st.secure_heap), (unsigned)st.key_count);
        kha_json_str(stdout, st.version);
        kha_unseal_print_json(ui);
        printf(",\"audit_head\":%llu,\"audit_key_sha256\":\"%s\"}\n",
               (unsigned long long)st.audit_head, afp);
    } else {
        printf("state:        %s\n", kh_state_name(st.state));
        printf("mode:         %s\n",
               st.insecure_dev ? "dev (INSECURE: master key on disk)"
               : st.state == KH_STATE_UNINITIALIZED ? "-"
                                                    : "production");
        printf("secure heap:  %s\n", kha_heap_name(st.secure_heap));
        printf("key versions: %u\n", (unsigned)st.key_count);
        printf("version:      keyholderd %s\n", st.version);
        kha_unseal_print_text(ui);
        printf("audit head:   seq %llu\n", (unsigned long long)st.audit_head);
        printf("audit key:    %s%s\n", afp,
               st.audit_spki_len > 0 ? " (sha256 of the public key; "
                                       "khadmin audit pubkey)"
                                     : "");
    }
    free(ui);
    return KHA_OK;
}

int kha_cmd_seal(struct kha_globals *g, int argc, char **argv)
{
    struct kh_client *c;
    int r;

    if ((r = kha_flags(g, argc, argv, "seal", NULL, NULL)) != 0) {
        return r;
    }
    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    if ((r = kh_client_seal(c)) != 0) {
        r = kha_call_failed(c, "seal", r);
    } else {
        printf("sealed: every key wiped from keyholderd's memory\n");
    }
    kh_client_free(c);
    return r;
}
