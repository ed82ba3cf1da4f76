/*
 * Key set: the de-duplicated cache keys of one transaction, in order of
 * first appearance, with a per-key marker flag. Keys are copied into
 * fixed-size arena blocks (pointers stay valid while the set grows); an
 * open-addressing table of indices finds duplicates. reset() keeps a small
 * amount of memory for reuse and frees the rest, so one huge transaction
 * does not pin its memory forever.
 */
#ifndef MCSQ_TAILER_KEY_SET_H
#define MCSQ_TAILER_KEY_SET_H

#include "mcsqueal/key.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct key_block key_block;

typedef struct key_set {
    mcsq_key *keys; /* in order of first appearance */
    size_t nkeys;
    size_t nmarkers;
    size_t keys_cap;
    uint32_t *slots; /* index + 1 into keys; 0 = empty */
    uint32_t *hashes;
    size_t nslots;     /* power of two */
    bool indexed;      /* slots hold every key; else (few keys) keys is searched */
    key_block *blocks; /* arena, newest first */
    size_t bytes;      /* key bytes held */
} key_set;

void key_set_init(key_set *ks);
void key_set_deinit(key_set *ks);

/* Adds a key (copied); a duplicate only ORs in the marker flag. Returns 0
 * or MCSQ_ERR_NOMEM. */
int key_set_add(key_set *ks, const char *key, size_t len, int marker);

/* Memory the set holds: key bytes, descriptors and hash table (inline: the
 * assembler checks it after every key). */
static inline size_t key_set_memory(const key_set *ks)
{
    return ks->bytes + ks->keys_cap * sizeof(mcsq_key) +
           ks->nslots * (sizeof(*ks->slots) + sizeof(*ks->hashes));
}

/* Empties the set, keeping modest capacity for the next transaction. */
void key_set_reset(key_set *ks);

#endif
