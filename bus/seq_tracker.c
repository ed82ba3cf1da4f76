/*
 * Sequence tracker (see seq_tracker.h): a fixed array of sources found
 * through an open-addressing hash of their names. Eviction (only when more
 * sources than the bound appear) takes the least recently seen source and
 * rebuilds the hash: rare, so kept simple.
 */
#include "bus/seq_tracker.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct source_entry {
    char *name; /* owned */
    size_t len;
    uint64_t hash;
    uint64_t expected; /* the number after the last one seen */
    int64_t offset;    /* where the last one was; -1: nothing to compare (forgotten) */
    int32_t partition;
    uint64_t gen;  /* t->gen when the last one was seen */
    uint64_t used; /* t->clock when the last one was seen */
} source_entry;

struct seq_tracker {
    source_entry *entries;
    size_t n, max;
    uint32_t *slots; /* entry index + 1; 0: empty */
    size_t mask;
    uint64_t gen;
    uint64_t clock;
};

static uint64_t name_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
    return h ^ (h >> 29);
}

seq_tracker *seq_tracker_new(size_t max_sources)
{
    seq_tracker *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->max = max_sources > 0 ? max_sources : SEQ_TRACKER_SOURCES;
    size_t cap = 16;
    while (cap < 2 * t->max)
        cap *= 2;
    t->entries = calloc(t->max, sizeof(*t->entries));
    t->slots = calloc(cap, sizeof(*t->slots));
    if (t->entries == NULL || t->slots == NULL) {
        seq_tracker_free(t);
        return NULL;
    }
    t->mask = cap - 1;
    t->gen = 1;
    return t;
}

void seq_tracker_free(seq_tracker *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->entries[i].name);
    free(t->entries);
    free(t->slots);
    free(t);
}

/* The slot of name: where it is, or the empty one where it would go. */
static uint32_t *slot_of(seq_tracker *t, const char *name, size_t len, uint64_t hash)
{
    size_t i = (size_t)hash & t->mask;
    for (;;) {
        uint32_t s = t->slots[i];
        if (s == 0)
            return &t->slots[i];
        const source_entry *e = &t->entries[s - 1];
        if (e->hash == hash && e->len == len && memcmp(e->name, name, len) == 0)
            return &t->slots[i];
        i = (i + 1) & t->mask;
    }
}

/* Drops the least recently seen source (t is full) and rebuilds the hash. */
static void evict_oldest(seq_tracker *t)
{
    size_t oldest = 0;
    for (size_t i = 1; i < t->n; i++)
        if (t->entries[i].used < t->entries[oldest].used)
            oldest = i;
    free(t->entries[oldest].name);
    t->entries[oldest] = t->entries[--t->n];
    memset(t->slots, 0, (t->mask + 1) * sizeof(*t->slots));
    for (size_t i = 0; i < t->n; i++) {
        source_entry *e = &t->entries[i];
        *slot_of(t, e->name, e->len, e->hash) = (uint32_t)(i + 1);
    }
}

/* The entry of a source not seen yet, or NULL when out of memory. */
static source_entry *add(seq_tracker *t, const char *name, size_t len, uint64_t hash)
{
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, name, len);
    copy[len] = '\0';
    if (t->n == t->max)
        evict_oldest(t);
    source_entry *e = &t->entries[t->n];
    *e = (source_entry){.name = copy, .len = len, .hash = hash};
    *slot_of(t, name, len, hash) = (uint32_t)(++t->n);
    return e;
}

/* Whether the message continues the line of e's last one (see the header). */
static bool in_line(const seq_tracker *t, const source_entry *e, int32_t partition, int64_t offset)
{
    if (e->partition != partition || e->offset < 0)
        return false;
    return e->gen == t->gen || offset <= e->offset;
}

seq_result seq_tracker_check(seq_tracker *t, const char *source, size_t len, uint64_t seq,
                             int32_t partition, int64_t offset)
{
    seq_result r = {SEQ_FIRST, 0, 0};
    uint64_t hash = name_hash(source, len);
    uint32_t s = *slot_of(t, source, len, hash);
    source_entry *e = s != 0 ? &t->entries[s - 1] : add(t, source, len, hash);
    if (e == NULL)
        return r;
    if (s != 0 && in_line(t, e, partition, offset)) {
        r.expected = e->expected;
        if (seq == e->expected)
            r.verdict = SEQ_OK;
        else if (seq > e->expected) {
            r.verdict = SEQ_GAP;
            r.lost = seq - e->expected;
        } else
            r.verdict = SEQ_REWIND;
    }
    e->expected = seq + 1;
    e->offset = offset;
    e->partition = partition;
    e->gen = t->gen;
    e->used = ++t->clock;
    return r;
}

void seq_tracker_reassigned(seq_tracker *t)
{
    t->gen++;
}

void seq_tracker_forget_partition(seq_tracker *t, int32_t partition)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->entries[i].partition == partition)
            t->entries[i].offset = -1;
}

size_t seq_tracker_size(const seq_tracker *t)
{
    return t->n;
}
