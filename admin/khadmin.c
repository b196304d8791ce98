/*
 * khadmin - the Keyholder operators' tool. Every command is a request to a
 * running keyholderd over its socket.
 *
 *   khadmin [--socket PATH] [--json] COMMAND [ARGS]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "kha.h"

static const struct kha_command kha_commands[] = {
    { NULL, "init", kha_cmd_init,
      "init --threshold M --custodian NAME=PUB.pem... --admin NAME=PUB.pem...\n"
      "       [--auditor|--approver NAME=PUB.pem]... [--witness NAME]... "
      "[--location TEXT]\n"
      "       [--note TEXT] --out DIR   (the key ceremony)\n"
      "  init --dev   (INSECURE: master key on disk, demos and tests)" },
    { NULL, "status", kha_cmd_status, "status [--json]" },
    { NULL, "seal", kha_cmd_seal, "seal" },
    { NULL, "unseal", kha_cmd_unseal,
      "unseal --share FILE [--as NAME] --key KEY [--for rekey|rotate-master]"
      " | --reset | --dev" },
    { "key", "generate", kha_cmd_key_generate,
      "key generate NAME --type TYPE [--allow-user USER]... "
      "[--allow-group GROUP]... [--audit sync|batched] [--json]\n"
      "  TYPE: rsa:2048 rsa:3072 rsa:4096 ec:P-256 ec:P-384 ec:secp256k1 "
      "ed25519" },
    { "key", "list", kha_cmd_key_list, "key list [--json]" },
    { "key", "show", kha_cmd_key_show,
      "key show NAME [--version N] [--json]" },
    { "key", "pub", kha_cmd_key_pub, "key pub NAME [--version N]" },
    { "key", "sign", kha_cmd_key_sign,
      "key sign NAME --in FILE [--digest sha256|sha384|sha512] [--pss] "
      "[--version N] --out SIG" },
    { "key", "ref", kha_cmd_key_ref, "key ref NAME [--version N]" },
    { "cert", "import", kha_cmd_cert_import, "cert import NAME FILE" },
    { "cert", "show", kha_cmd_cert_show, "cert show NAME [--pem] [--json]" },
    { NULL, "rekey", kha_cmd_rekey,
      "rekey --threshold M --custodian NAME=PUB.pem... --out DIR "
      "[--prepare-only] | --commit | --abort" },
    { NULL, "rotate-master", kha_cmd_rotate_master,
      "rotate-master [--threshold M --custodian NAME=PUB.pem...] --out DIR "
      "[--prepare-only] | --commit | --abort\n"
      "  (first M custodians: unseal --for rekey|rotate-master --share FILE "
      "--key KEY)" },
    { "operator", "add", kha_cmd_operator_add,
      "operator add NAME --role ROLE [--role ROLE]... --pubkey FILE.pem\n"
      "  ROLE: admin approver custodian auditor; key: EC P-256 or P-384" },
    { "operator", "list", kha_cmd_operator_list, "operator list [--json]" },
    { "operator", "remove", kha_cmd_operator_remove, "operator remove NAME" },
    { "ceremony", "sign", kha_cmd_ceremony_sign,
      "ceremony sign --record FILE --as NAME --key KEY [--pass SPEC]" },
    { "ceremony", "verify", kha_cmd_ceremony_verify,
      "ceremony verify --record FILE [--offline] [--json]" },
    { "audit", "verify", kha_cmd_audit_verify,
      "audit verify [--from SEQ] [--archive FILE]... [--json]\n"
      "  audit verify --file EXPORT.jsonl... --pubkey AUDIT.pem (offline)" },
    { "audit", "export", kha_cmd_audit_export,
      "audit export [--since SEQ] [--follow]   (JSON lines)" },
    { "audit", "archive", kha_cmd_audit_archive,
      "audit archive --before SEQ --out FILE" },
    { "audit", "pubkey", kha_cmd_audit_pubkey, "audit pubkey   (PEM)" },
};

#define KHA_N_COMMANDS (sizeof(kha_commands) / sizeof(kha_commands[0]))

static void kha_usage(FILE *f)
{
    fprintf(f, "usage: khadmin [--socket PATH] [--json] [--as NAME --key KEY "
               "[--pass SPEC]]\n"
               "               COMMAND [ARGS]\n"
               "operator: --as/$KHADMIN_AS, --key/$KHADMIN_KEY (PEM file or URI), "
               "--pass/$KHADMIN_KEY_PASS\n"
               "  (pass:TEXT, env:VAR or file:PATH)\n"
               "commands:\n");
    for (size_t i = 0; i < KHA_N_COMMANDS; i++) {
        fprintf(f, "  %s\n", kha_commands[i].usage);
    }
    fprintf(f, "socket: --socket, else $KEYHOLDER_SOCKET, else %s\n"
               "exit: 0 ok, 1 refused or failed, 2 usage\n",
            KH_DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "socket", required_argument, NULL, 's' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "as", required_argument, NULL, 'a' },
        { "key", required_argument, NULL, 'k' },
        { "pass", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    struct kha_globals g = { 0 };
    int c, rc;

    g.as = getenv("KHADMIN_AS");
    g.key = getenv("KHADMIN_KEY");
    g.pass = getenv("KHADMIN_KEY_PASS");

    /* "+": stop at the command; its own options are parsed by it. */
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            g.socket_path = optarg;
            break;
        case 'j':
            g.json = 1;
            break;
        case 'a':
            g.as = optarg;
            break;
        case 'k':
            g.key = optarg;
            break;
        case 'p':
            g.pass = optarg;
            break;
        case 'h':
            kha_usage(stdout);
            return KHA_OK;
        case 'V':
            printf("khadmin %s\n", KH_VERSION);
            return KHA_OK;
        default:
            kha_usage(stderr);
            return KHA_USAGE;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 1) {
        kha_usage(stderr);
        return KHA_USAGE;
    }
    for (size_t i = 0; i < KHA_N_COMMANDS; i++) {
        const struct kha_command *cmd = &kha_commands[i];

        if (cmd->group == NULL && strcmp(argv[0], cmd->name) == 0) {
            optind = 0;
            rc = cmd->fn(&g, argc, argv);
            EVP_PKEY_free(g.opkey);
            return rc;
        }
        if (cmd->group != NULL && strcmp(argv[0], cmd->group) == 0 &&
            argc >= 2 && strcmp(argv[1], cmd->name) == 0) {
            optind = 0;
            rc = cmd->fn(&g, argc - 1, argv + 1);
            EVP_PKEY_free(g.opkey);
            return rc;
        }
    }
    fprintf(stderr, "khadmin: unknown command '%s%s%s'\n", argv[0],
            argc >= 2 ? " " : "", argc >= 2 ? argv[1] : "");
    kha_usage(stderr);
    return KHA_USAGE;
}
