/*
 * The cache key rules (see cache_key.h): length, then forbidden bytes, then
 * UTF-8 well-formedness per Unicode Table 3-7 (no overlong forms, no UTF-16
 * surrogates, nothing above U+10FFFF, no truncated sequences). Keys are at
 * most 250 bytes, so two short passes are cheaper than clever code.
 */
#include "core/cache_key.h"

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

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0 if there is none. */
static size_t utf8_sequence_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80; /* E0: no overlongs */
        hi = c == 0xed ? 0x9f : 0xbf; /* ED: no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80; /* F0: no overlongs */
        hi = c == 0xf4 ? 0x8f : 0xbf; /* F4: nothing above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return len;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t len = utf8_sequence_len(s + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

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
