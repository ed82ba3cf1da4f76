/*
 * UTF-8 validation of a whole buffer (see utf8.h): ASCII runs are skipped a
 * byte at a time, multibyte sequences checked by utf8_sequence_len().
 */
#include "core/utf8.h"

bool utf8_valid(const unsigned char *s, size_t n)
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
