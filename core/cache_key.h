/*
 * The cache key rules of the annotation contract (memcached's key rules plus
 * UTF-8, since keys travel in UTF-8 JSON): 1-250 bytes, no ASCII control
 * characters (0x00-0x1f, 0x7f), no whitespace, valid UTF-8. Checked where
 * keys enter (annotation parser, marker client) and again where they leave
 * (router), so an invalid key never reaches memcached.
 */
#ifndef MCSQ_CORE_CACHE_KEY_H
#define MCSQ_CORE_CACHE_KEY_H

#include <stddef.h>

#define CACHE_KEY_MAX_LEN 250

typedef enum cache_key_verdict {
    CACHE_KEY_OK = 0,
    CACHE_KEY_EMPTY,        /* zero bytes */
    CACHE_KEY_TOO_LONG,     /* more than CACHE_KEY_MAX_LEN bytes */
    CACHE_KEY_CONTROL_CHAR, /* a control character or whitespace byte */
    CACHE_KEY_INVALID_UTF8, /* bytes that are not UTF-8 */
} cache_key_verdict;

/* Checks key (len bytes, borrowed, need not be NUL-terminated) against the
 * rules. Returns CACHE_KEY_OK, or the first rule broken in the order the enum
 * lists them (a key with both a control byte and bad UTF-8 is CONTROL_CHAR,
 * wherever the bytes are). Only ASCII bytes count as control or whitespace. */
cache_key_verdict cache_key_check(const char *key, size_t len);

/* Metric label for a verdict: "ok", "empty", "too_long", "control_char",
 * "invalid_utf8"; "unknown" for a value outside the enum. Static string. */
const char *cache_key_verdict_name(cache_key_verdict v);

#endif
