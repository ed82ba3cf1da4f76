/*
 * The placement modes of a memcached pool (`[pool NAME] placement`): which
 * client's rule decides the server of a key. The names are the configuration
 * words; marker/key_placement.c implements each mode.
 */
#ifndef MCSQ_CORE_KEY_PLACEMENT_MODE_H
#define MCSQ_CORE_KEY_PLACEMENT_MODE_H

#include <stdbool.h>

typedef enum key_placement_mode {
    KEY_PLACEMENT_LIBMEMCACHED,         /* weighted ketama, MD5 (the default) */
    KEY_PLACEMENT_LIBMEMCACHED_MODULA,  /* libmemcached defaults: one-at-a-time % n */
    KEY_PLACEMENT_PYMEMCACHE,           /* pymemcache HashClient: rendezvous, murmur3 */
    KEY_PLACEMENT_PYTHON_MEMCACHED,     /* python-memcached: crc32 buckets by weight */
    KEY_PLACEMENT_DALLI,                /* Dalli: SHA1 ring points, CRC32 keys */
    KEY_PLACEMENT_CACHE_MEMCACHED_FAST, /* Cache::Memcached::Fast: CRC32 buckets or ketama */
    KEY_PLACEMENT_SPYMEMCACHED,         /* spymemcached KetamaConnectionFactory */
    KEY_PLACEMENT_ALL,                  /* every server */
    KEY_PLACEMENT_PROXY,                /* any one proxy (twemproxy, mcrouter) */
    KEY_PLACEMENT_MODE_COUNT
} key_placement_mode;

/* The configuration words, in enum order, NULL-terminated. */
extern const char *const key_placement_mode_words[];

/* The word of mode ("?" when out of range). */
const char *key_placement_mode_name(key_placement_mode mode);

/* Whether the mode's client takes server weights (`host:port:weight`);
 * libmemcached's modula distribution takes them and, like the client,
 * places keys without them. */
bool key_placement_mode_has_weights(key_placement_mode mode);

/* Sets *out to the mode named name; returns 0, or MCSQ_ERR_CONFIG when no
 * mode has that name. */
int key_placement_mode_parse(const char *name, key_placement_mode *out);

#endif
