/*
 * libFuzzer target for the annotation parser (tailer/annotation.c). The
 * first input byte selects the sql_mode flags (a known, presumed or unknown
 * mode), the rest is the statement text. Every delivered key must pass
 * cache_key_check(), lie inside the input and carry a valid marker or none;
 * the return value must equal the number of keys delivered.
 *
 * Built and run as docs/fuzzing.md describes; the grammar's tokens are in
 * tests/fuzz/dict/fuzz_annotation.dict.
 */
#include "tailer/annotation.h"

#include "core/cache_key.h"
#include "core/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What one input produced; checked after each call. */
typedef struct fuzz_ctx {
    const char *text; /* (ref) */
    size_t len;
    size_t keys;
} fuzz_ctx;

static int inside(const fuzz_ctx *c, const char *p, size_t n)
{
    return p >= c->text && n <= c->len && (size_t)(p - c->text) <= c->len - n;
}

static int region_ok(const char *m, size_t n)
{
    if (n < 1 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = m[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '.' || ch == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

static void on_key(void *ctx, const char *key, size_t key_len, const char *marker,
                   size_t marker_len)
{
    fuzz_ctx *c = ctx;
    if (!inside(c, key, key_len) || cache_key_check(key, key_len) != CACHE_KEY_OK || key[0] == '@')
        abort();
    if (marker == NULL ? marker_len != 0
                       : (!inside(c, marker, marker_len) || !region_ok(marker, marker_len)))
        abort();
    c->keys++;
}

static void on_probe(void *ctx, int64_t probe_us)
{
    (void)ctx;
    if (probe_us <= 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Keep the rejection messages (and their escaping) but not the noise. */
    log_open("/dev/null");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned flags = data[0] & (ANNOTATION_NO_BACKSLASH_ESCAPES | ANNOTATION_ANSI_QUOTES |
                                ANNOTATION_MODE_PRESUMED | ANNOTATION_MODE_UNKNOWN);
    size_t len = size - 1;
    /* A private copy of exactly len bytes, so any over-read is caught. */
    char *text = malloc(len ? len : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, len);

    fuzz_ctx c = {text, len, 0};
    annotation_stats stats;
    annotation_stats_init(&stats);
    annotation_handler h = {on_key, on_probe, &c};
    size_t n = annotation_parse(text, len, flags, &h, &stats);
    if (n != c.keys || stats.keys != c.keys)
        abort();
    free(text);
    return 0;
}
