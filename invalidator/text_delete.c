/*
 * Text-protocol delete framing (see text_delete.h).
 */
#include "invalidator/text_delete.h"

#include <stdbool.h>
#include <string.h>

size_t text_delete_put(char *p, const char *prefix, size_t prefix_len, const char *key,
                       size_t key_len)
{
    char *start = p;
    memcpy(p, "delete ", 7);
    p += 7;
    memcpy(p, prefix, prefix_len);
    p += prefix_len;
    memcpy(p, key, key_len);
    p += key_len;
    memcpy(p, "\r\n", 2);
    return (size_t)(p + 2 - start);
}

/* Whether line is word alone, or word, a space and a text. */
static bool is_word(const char *line, size_t len, const char *word, bool text)
{
    size_t n = strlen(word);
    if (len < n || memcmp(line, word, n) != 0)
        return false;
    return len == n || (text && line[n] == ' ');
}

text_delete_reply text_delete_reply_parse(const char *line, size_t len)
{
    if (is_word(line, len, "DELETED", false))
        return TEXT_DELETE_DELETED;
    if (is_word(line, len, "NOT_FOUND", false))
        return TEXT_DELETE_NOT_FOUND;
    if (is_word(line, len, "ERROR", true) || is_word(line, len, "CLIENT_ERROR", true) ||
        is_word(line, len, "SERVER_ERROR", true))
        return TEXT_DELETE_ERROR;
    return TEXT_DELETE_UNEXPECTED;
}
