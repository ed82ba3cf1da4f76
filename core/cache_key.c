/*
 * The cache key rules (see cache_key.h): length, then forbidden bytes, then
 * UTF-8 well-formedness (core/utf8.h). Keys are at most 250 bytes, so two
 * short passes are cheaper than clever code.
 */
#include "core/cache_key.h"
#include "core/utf8.h"

#include <stdbool.h>
#include <stdint.h>

/* Per byte: KEY_FORBIDDEN for ASCII controls and space, KEY_HIGH for the
 * bytes of multibyte UTF-8 sequences (validated separately), else 0. */
enum { KEY_FORBIDDEN = 1, KEY_HIGH = 2 };

#define ROW16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
// clang-format off
static const uint8_t key_byte_class[256] = {
    ROW16(KEY_FORBIDDEN), ROW16(KEY_FORBIDDEN), /* 0x00-0x1f */
    [' '] = KEY_FORBIDDEN,
    [0x7f] = KEY_FORBIDDEN,
    [0x80] = ROW16(KEY_HIGH), ROW16(KEY_HIGH), ROW16(KEY_HIGH), ROW16(KEY_HIGH),
    ROW16(KEY_HIGH), ROW16(KEY_HIGH), ROW16(KEY_HIGH), ROW16(KEY_HIGH), /* 0x80-0xff */
};
// clang-format on
#undef ROW16

cache_key_verdict cache_key_check(const char *key, size_t len)
{
    const uint8_t *s = (const uint8_t *)key;
    uint8_t seen = 0; /* OR of the classes of all bytes */

    if (len == 0)
        return CACHE_KEY_EMPTY;
    if (len > CACHE_KEY_MAX_LEN)
        return CACHE_KEY_TOO_LONG;
    for (size_t i = 0; i < len; i++)
        seen |= key_byte_class[s[i]];
    if (seen & KEY_FORBIDDEN)
        return CACHE_KEY_CONTROL_CHAR;
    if ((seen & KEY_HIGH) && !utf8_valid(s, len))
        return CACHE_KEY_INVALID_UTF8;
    return CACHE_KEY_OK;
}

const char *cache_key_verdict_name(cache_key_verdict v)
{
    switch (v) {
    case CACHE_KEY_OK:
        return "ok";
    case CACHE_KEY_EMPTY:
        return "empty";
    case CACHE_KEY_TOO_LONG:
        return "too_long";
    case CACHE_KEY_CONTROL_CHAR:
        return "control_char";
    case CACHE_KEY_INVALID_UTF8:
        return "invalid_utf8";
    }
    return "unknown";
}
