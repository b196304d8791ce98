/*
 * kha_seal.h - khadmin's ceremony pieces shared by init, unseal, rekey and
 * rotate-master (kha_init.c, kha_unseal.c).
 */
#ifndef KHA_SEAL_H
#define KHA_SEAL_H

#include <sys/types.h>

#include "kh_ceremony.h"
#include "kh_seal.h"
#include "kha.h"

/* The participants and facts of a ceremony as given on the command line. */
struct kha_init {
    struct kh_ceremony_init_request req;
    const char *out;
    const char *location;
    const char *note;
    const char *witnesses[KH_CEREMONY_MAX_WITNESSES];
    unsigned n_witnesses;
    int threshold;
    int dev;
};
/* Adds NAME=PUB.pem with |role| to |in| (merging one person's roles). */
int kha_init_add(struct kha_init *in, const char *arg, uint32_t role);

/* Writes |len| bytes to DIR/NAME (a new file, |mode|), fsynced. */
int kha_write_new_file(const char *dir, const char *name, const void *p,
                       size_t len, mode_t mode);
int kha_sync_dir(const char *dir);
/* DIR/share-NAME.json (0600) for every share of |rep|, fsynced. */
int kha_write_shares(const char *dir,
                     const struct kh_ceremony_init_reply *rep);
/* The (unsigned) ceremony record of |rep| for participants |req|. */
void kha_record_fill(struct kh_ceremony_record *rec, int kind,
                     const struct kh_ceremony_init_request *req,
                     const struct kh_ceremony_init_reply *rep,
                     const char *location, const char *note,
                     const char *const *witnesses, unsigned n_witnesses);
/* DIR/ceremony.json, fsynced. */
int kha_write_record(const char *dir, const struct kh_ceremony_record *rec);
/* Opens share file |path| with --key and submits it for |purpose|. */
int kha_share_submit(struct kha_globals *g, const char *path, int purpose);

#endif /* KHA_SEAL_H */
