/*
 * Key set (see key_set.h): arena of 64 KiB blocks plus a linear-probing
 * hash table kept under 50% load. Most transactions carry a handful of
 * keys: up to SMALL_KEYS the key array itself is searched (comparing
 * lengths first) and the table is neither filled nor cleared.
 */
#include "tailer/key_set.h"
#include "mcsqueal/error.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_SIZE (64 * 1024)
#define KEEP_SLOTS 4096 /* table size kept across reset */
#define KEEP_KEYS 2048
#define SMALL_KEYS 16 /* searched without the table up to this many keys */

struct key_block {
    key_block *next;
    size_t used;
    char data[BLOCK_SIZE];
};

void key_set_init(key_set *ks)
{
    memset(ks, 0, sizeof(*ks));
}

static void free_blocks(key_block *b)
{
    while (b != NULL) {
        key_block *next = b->next;
        free(b);
        b = next;
    }
}

void key_set_deinit(key_set *ks)
{
    free(ks->keys);
    free(ks->slots);
    free(ks->hashes);
    free_blocks(ks->blocks);
    memset(ks, 0, sizeof(*ks));
}

void key_set_reset(key_set *ks)
{
    if (ks->blocks != NULL) {
        free_blocks(ks->blocks->next);
        ks->blocks->next = NULL;
        ks->blocks->used = 0;
    }
    if (ks->nslots > KEEP_SLOTS) {
        free(ks->slots);
        free(ks->hashes);
        ks->slots = NULL;
        ks->hashes = NULL;
        ks->nslots = 0;
    } else if (ks->indexed) {
        memset(ks->slots, 0, ks->nslots * sizeof(*ks->slots));
    }
    ks->indexed = false;
    if (ks->keys_cap > KEEP_KEYS) {
        free(ks->keys);
        ks->keys = NULL;
        ks->keys_cap = 0;
    }
    ks->nkeys = ks->nmarkers = ks->bytes = 0;
}

/* Multiply-xorshift over 8-byte words; keys are short and not adversarial
 * enough to need more (a collision costs a comparison, not correctness). */
static uint32_t hash_key(const char *key, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, key + i, len - i);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    }
    h ^= h >> 29;
    return (uint32_t)h;
}

static int rehash(key_set *ks, size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof(*slots));
    uint32_t *hashes = malloc(nslots * sizeof(*hashes));
    if (slots == NULL || hashes == NULL) {
        free(slots);
        free(hashes);
        return MCSQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < ks->nslots; i++) {
        if (ks->slots[i] == 0)
            continue;
        size_t j = ks->hashes[i] & (nslots - 1);
        while (slots[j] != 0)
            j = (j + 1) & (nslots - 1);
        slots[j] = ks->slots[i];
        hashes[j] = ks->hashes[i];
    }
    free(ks->slots);
    free(ks->hashes);
    ks->slots = slots;
    ks->hashes = hashes;
    ks->nslots = nslots;
    return MCSQ_OK;
}

static char *arena_copy(key_set *ks, const char *key, size_t len)
{
    key_block *b = ks->blocks;
    if (b == NULL || BLOCK_SIZE - b->used < len) {
        b = malloc(sizeof(*b));
        if (b == NULL)
            return NULL;
        b->used = 0;
        b->next = ks->blocks;
        ks->blocks = b;
    }
    char *p = b->data + b->used;
    memcpy(p, key, len);
    b->used += len;
    return p;
}

static int append_key(key_set *ks, const char *key, size_t len, int marker)
{
    if (ks->nkeys == ks->keys_cap) {
        size_t cap = ks->keys_cap ? ks->keys_cap * 2 : 64;
        mcsq_key *k = realloc(ks->keys, cap * sizeof(*k));
        if (k == NULL)
            return MCSQ_ERR_NOMEM;
        ks->keys = k;
        ks->keys_cap = cap;
    }
    char *copy = arena_copy(ks, key, len);
    if (copy == NULL)
        return MCSQ_ERR_NOMEM;
    ks->keys[ks->nkeys] = (mcsq_key){copy, (uint32_t)len, marker ? 1u : 0u};
    ks->nkeys++;
    ks->nmarkers += marker ? 1 : 0;
    ks->bytes += len;
    return MCSQ_OK;
}

/* Marks k as to be cleared when marker is set. */
static void or_marker(key_set *ks, mcsq_key *k, int marker)
{
    if (marker && !k->marker) {
        k->marker = 1;
        ks->nmarkers++;
    }
}

/* Puts key number idx (0-based) of hash h into the table, which has room. */
static void slot_put(key_set *ks, uint32_t idx, uint32_t h)
{
    size_t j = h & (ks->nslots - 1);
    while (ks->slots[j] != 0)
        j = (j + 1) & (ks->nslots - 1);
    ks->slots[j] = idx + 1;
    ks->hashes[j] = h;
}

/* Fills the table with the keys so far (past SMALL_KEYS). */
static int index_keys(key_set *ks)
{
    size_t want = 256;
    while (want < (ks->nkeys + 1) * 2)
        want *= 2;
    if (want > ks->nslots) {
        free(ks->slots);
        free(ks->hashes);
        ks->slots = NULL;
        ks->hashes = NULL;
        ks->nslots = 0;
        if (rehash(ks, want) != MCSQ_OK)
            return MCSQ_ERR_NOMEM;
    } else {
        memset(ks->slots, 0, ks->nslots * sizeof(*ks->slots));
    }
    for (size_t i = 0; i < ks->nkeys; i++)
        slot_put(ks, (uint32_t)i, hash_key(ks->keys[i].data, ks->keys[i].len));
    ks->indexed = true;
    return MCSQ_OK;
}

/* key_set_add() while there are few keys: a search of the array. */
static int add_small(key_set *ks, const char *key, size_t len, int marker)
{
    for (size_t i = 0; i < ks->nkeys; i++) {
        mcsq_key *k = &ks->keys[i];
        if (k->len == len && memcmp(k->data, key, len) == 0) {
            or_marker(ks, k, marker);
            return MCSQ_OK;
        }
    }
    return append_key(ks, key, len, marker);
}

int key_set_add(key_set *ks, const char *key, size_t len, int marker)
{
    if (!ks->indexed && ks->nkeys < SMALL_KEYS)
        return add_small(ks, key, len, marker);
    if (!ks->indexed && index_keys(ks) != MCSQ_OK)
        return MCSQ_ERR_NOMEM;
    if ((ks->nkeys + 1) * 2 > ks->nslots && rehash(ks, ks->nslots * 2) != MCSQ_OK)
        return MCSQ_ERR_NOMEM;
    uint32_t h = hash_key(key, len);
    size_t j = h & (ks->nslots - 1);
    for (; ks->slots[j] != 0; j = (j + 1) & (ks->nslots - 1)) {
        mcsq_key *k = &ks->keys[ks->slots[j] - 1];
        if (ks->hashes[j] != h || k->len != len || memcmp(k->data, key, len) != 0)
            continue;
        or_marker(ks, k, marker);
        return MCSQ_OK;
    }
    int rc = append_key(ks, key, len, marker);
    if (rc != MCSQ_OK)
        return rc;
    ks->slots[j] = (uint32_t)ks->nkeys;
    ks->hashes[j] = h;
    return MCSQ_OK;
}
