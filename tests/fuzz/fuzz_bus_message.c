/*
 * libFuzzer target for the bus message reader (bus/bus_message.c on
 * core/json_reader.c). The first input byte picks the limits (odd: tiny
 * ones, so the limit paths run too), the rest is the payload, copied to
 * exactly its length so that any over-read is caught. Each result is
 * checked: an error has a known code and a "byte N: ..." message with N
 * inside the input; a parsed message has version 1, non-empty names, every
 * key passing cache_key_check() and lying in the payload or the arena, and
 * per-entry key and marker counts that add up.
 *
 * Built and run as docs/fuzzing.md describes; the contract's field names
 * and JSON tokens are in tests/fuzz/dict/fuzz_bus_message.dict.
 */
#include "bus/bus_message.h"

#include "mcsqueal/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(const char *p, size_t n, const char *start, size_t len)
{
    return start != NULL && p >= start && n <= len && (size_t)(p - start) <= len - n;
}

static void check_error(int rc, const char *err, size_t len)
{
    if (rc != MCSQ_ERR_CORRUPT && rc != MCSQ_ERR_UNSUPPORTED && rc != MCSQ_ERR_LIMIT)
        abort();
    if (strncmp(err, "byte ", 5) != 0 || strtoul(err + 5, NULL, 10) > len)
        abort();
}

static void check_txn(const bus_message *m, const bus_txn *t, const char *payload, size_t len)
{
    size_t marked = 0;
    if (t->file_len == 0 || t->commit_us < 0 || t->read_us < 0)
        abort();
    for (size_t k = 0; k < t->nkeys; k++) {
        const mcsq_key *key = &t->keys[k];
        if (!inside(key->data, key->len, payload, len) &&
            !inside(key->data, key->len, m->arena.buf, m->arena.len))
            abort();
        if (cache_key_check(key->data, key->len) != CACHE_KEY_OK || key->marker > 1)
            abort();
        marked += key->marker;
    }
    if (marked != t->nmarkers)
        abort();
}

static void check_message(const bus_message *m, const char *payload, size_t len)
{
    size_t nkeys = 0, nmarkers = 0;
    if (m->version != 1 || m->source_len == 0 || m->region_len == 0)
        abort();
    for (size_t i = 0; i < m->ntxns; i++) {
        const bus_txn *t = &m->txns[i];
        if (t->keys != m->keys + nkeys)
            abort();
        check_txn(m, t, payload, len);
        nkeys += t->nkeys;
        nmarkers += t->nmarkers;
    }
    if (nkeys != m->nkeys || nmarkers != m->nmarkers)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bus_message roomy, tiny; /* reused across inputs, as the router does */
    static bool ready;
    if (!ready) {
        bus_limits lim = {.max_txns = 2, .max_keys_per_txn = 3, .max_keys = 4};
        bus_message_init(&roomy, NULL);
        bus_message_init(&tiny, &lim);
        ready = true;
    }
    if (size == 0)
        return 0;
    bus_message *m = data[0] & 1 ? &tiny : &roomy;
    size_t len = size - 1;
    char *payload = malloc(len ? len : 1);
    if (payload == NULL)
        return 0;
    memcpy(payload, data + 1, len);
    char err[256] = "";
    int rc = bus_message_parse(m, payload, len, err, sizeof(err));
    if (rc == MCSQ_OK)
        check_message(m, payload, len);
    else
        check_error(rc, err, len);
    free(payload);
    return 0;
}
