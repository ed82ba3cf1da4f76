/*
 * Builds the annotation comment of a write (the contract grammar of
 * DESIGN.md): "mcsqueal:", the keys, and an optional @marker directive,
 * between comment delimiters. Every key is checked so that the tailer will
 * read back exactly the keys given: a key that cannot be expressed is an
 * error, never dropped.
 */
#include "core/cache_key.h"
#include "core/errstr.h"
#include "core/name_rule.h"
#include "marker/marker_internal.h"
#include "mcsqueal/marker.h"

#include <stdbool.h>
#include <string.h>

bool marker_region_valid(const char *s)
{
    return s != NULL && name_rule_region(s, strlen(s));
}

/* Why key cannot go into a comment, or NULL when it can. */
static const char *key_problem(const char *key, size_t len)
{
    if (key == NULL)
        return "is NULL";
    switch (cache_key_check(key, len)) {
    case CACHE_KEY_OK:
        break;
    case CACHE_KEY_EMPTY:
        return "is empty";
    case CACHE_KEY_TOO_LONG:
        return "is longer than 250 bytes";
    case CACHE_KEY_CONTROL_CHAR:
        return "holds whitespace or a control character";
    default:
        return "is not valid UTF-8";
    }
    if (key[0] == '@')
        return "starts with '@', which makes it a directive";
    for (size_t i = 0; i + 1 < len; i++) {
        if (key[i] == '*' && key[i + 1] == '/')
            return "holds a star followed by a slash, which would end the comment";
        if (key[i] == '/' && key[i + 1] == '*')
            return "holds a slash followed by a star, which would open a nested comment";
    }
    return NULL;
}

typedef struct out_buf {
    char *p;
    size_t size, len;
    bool full;
} out_buf;

static void put(out_buf *b, const char *s, size_t n)
{
    if (b->full || b->len + n >= b->size) {
        b->full = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

int mcsq_annotation_build(const char *const *keys, const size_t *lens, size_t nkeys,
                          const char *marker_region, char *out, size_t out_size, size_t *out_len,
                          char *errstr, size_t errstr_size)
{
    if (nkeys > 0 && (keys == NULL || lens == NULL))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID, "keys or lens is NULL");
    for (size_t i = 0; i < nkeys; i++) {
        const char *why = key_problem(keys[i], lens[i]);
        if (why != NULL)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                              "key %zu of %zu cannot be annotated: it %s", i + 1, nkeys, why);
    }
    if (marker_region != NULL && !marker_region_valid(marker_region))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "region \"%.64s\" is not 1-64 bytes of letters, digits, '_', '.', '-'",
                          marker_region);
    out_buf b = {out, out != NULL ? out_size : 0, 0, false};
    put(&b, "/* mcsqueal:", 12);
    for (size_t i = 0; i < nkeys; i++) {
        put(&b, " ", 1);
        put(&b, keys[i], lens[i]);
    }
    if (marker_region != NULL) {
        put(&b, " @marker=", 9);
        put(&b, marker_region, strlen(marker_region));
    }
    put(&b, " */", 3);
    if (b.full)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT,
                          "the annotation does not fit in %zu bytes", out_size);
    out[b.len] = '\0';
    if (out_len != NULL)
        *out_len = b.len;
    return MCSQ_OK;
}
