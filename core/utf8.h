/*
 * UTF-8 well-formedness, the one rule for every place that checks it: cache
 * keys (cache_key.c), strings of bus messages (json_reader.c) and text shown
 * in diagnostics (strbuf.c). Unicode Table 3-7: no overlong forms, no UTF-16
 * surrogates, nothing above U+10FFFF, no truncated sequences.
 */
#ifndef MCSQ_CORE_UTF8_H
#define MCSQ_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the well-formed UTF-8 sequence at s[0..n) (n >= 1), or 0
 * when none starts there. An ASCII byte is a sequence of 1. Inline: the JSON
 * reader calls it for every multibyte character of a bus message. */
static inline size_t utf8_sequence_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    size_t len;
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

/* Whether the n bytes at s (borrowed) are all well-formed UTF-8 (true for
 * n == 0). */
bool utf8_valid(const unsigned char *s, size_t n);

#endif
