/*
 * A reference UTF-8 validator for the tests: decodes by bit patterns and
 * arithmetic, then applies the limits (no overlong forms, no surrogates,
 * nothing above U+10FFFF), independently of core/utf8.c's table-driven one.
 */
#ifndef MCSQ_TESTS_UTF8_REFERENCE_H
#define MCSQ_TESTS_UTF8_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool utf8_reference_valid(const uint8_t *s, size_t n)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len = (c & 0x80) == 0      ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (len == 0 || i + len > n)
            return false;
        uint32_t cp = len == 1 ? c : (uint32_t)(c & (0x7f >> len));
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len > 1 && cp < min_cp[len]) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        i += len;
    }
    return true;
}

#endif
