/*
 * The `pymemcache` mode (pymemcache 3.5.2 HashClient defaults): rendezvous
 * hashing. Each server is the node "host:port" (the port always written);
 * a key goes to the node with the highest murmur3_32("node-key", seed 0),
 * a tie to the greater node name. pymemcache hashes the Python str one
 * character at a time (code point & 0xff), which for an ASCII key are its
 * bytes; the UTF-8 of other keys is decoded to characters first. HashClient
 * has no weights, and its key_prefix is not hashed.
 */
#include "core/errstr.h"
#include "marker/hash/placement_hash.h"
#include "marker/key_placement_internal.h"
#include "mcsqueal/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes the characters of UTF-8 key (code point & 0xff each) to out;
 * returns how many. A byte that starts no valid sequence counts as one
 * character. */
static size_t chars_of(const unsigned char *key, size_t len, unsigned char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        unsigned char b = key[i];
        size_t extra = b >= 0xf0 && b < 0xf8 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : 0;
        if (i + extra >= len)
            extra = 0;
        for (size_t k = 1; k <= extra; k++)
            if ((key[i + k] & 0xc0) != 0x80)
                extra = 0;
        uint32_t cp = extra == 0 ? b : b & (0x3f >> extra);
        for (size_t k = 1; k <= extra; k++)
            cp = cp << 6 | (key[i + k] & 0x3f);
        out[n++] = (unsigned char)cp;
        i += extra + 1;
    }
    return n;
}

static bool is_ascii(const char *key, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)key[i] >= 0x80)
            return false;
    return true;
}

/* Python's max() of the two node names (without the '-' kept after each). */
static bool name_greater(const key_placement *p, uint32_t a, uint32_t b)
{
    size_t la = p->name_len[a] - 1, lb = p->name_len[b] - 1;
    int c = memcmp(p->names[a], p->names[b], la < lb ? la : lb);
    return c > 0 || (c == 0 && la > lb);
}

static uint32_t best_of(const key_placement *p, const char *key, size_t len)
{
    uint32_t winner = 0;
    int64_t high = -1;
    for (uint32_t s = 0; s < p->nservers; s++) {
        int64_t score = placement_murmur3_finish(&p->node_hash[s], key, len);
        if (score > high || (score == high && name_greater(p, s, winner))) {
            high = score;
            winner = s;
        }
    }
    return winner;
}

static uint32_t lookup(const key_placement *p, const char *key, size_t len)
{
    unsigned char chars[KEY_PLACEMENT_STACK_KEY];
    unsigned char *heap = NULL;
    if (!is_ascii(key, len)) {
        unsigned char *dst = len <= sizeof(chars) ? chars : (heap = malloc(len));
        if (dst == NULL)
            return 0;
        len = chars_of((const unsigned char *)key, len, dst);
        key = (const char *)dst;
    }
    uint32_t server = best_of(p, key, len);
    free(heap);
    return server;
}

int placement_pymemcache_build(key_placement *p, const key_placement_server *servers, char *errstr,
                               size_t errstr_size)
{
    p->names = calloc(p->nservers, sizeof(*p->names));
    p->name_len = calloc(p->nservers, sizeof(*p->name_len));
    p->node_hash = calloc(p->nservers, sizeof(*p->node_hash));
    if (p->names == NULL || p->name_len == NULL || p->node_hash == NULL)
        return MCSQ_ERR_NOMEM;
    for (uint32_t i = 0; i < p->nservers; i++) {
        char name[320];
        int len = snprintf(name, sizeof(name), "%s:%u-", servers[i].host, servers[i].port);
        if (len < 0 || (size_t)len >= sizeof(name))
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "server name too long: %s",
                              servers[i].host);
        if ((p->names[i] = strdup(name)) == NULL)
            return MCSQ_ERR_NOMEM;
        p->name_len[i] = (size_t)len;
        placement_murmur3_begin(&p->node_hash[i], name, (size_t)len, 0);
    }
    p->lookup = lookup;
    return MCSQ_OK;
}
