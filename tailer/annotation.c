/*
 * Annotation parser (see annotation.h and DESIGN.md "Annotation grammar").
 *
 * Runs on every statement of every binlog, so it is built for speed. A
 * statement without "mcsqueal:" is dismissed by one search for the last tag
 * (tag_find_last(), testing 16 positions per step). Otherwise a quote- and
 * comment-aware scan jumps between the few bytes that can change the lexer
 * state (quotes, '-', '#', '/') 16 bytes at a time, skips string literals and
 * comments with memchr(), and stops once it is past the last tag. Nothing is
 * allocated.
 *
 * Lexing follows the MySQL lexer: '...' and "..." strings (backslash escapes
 * unless NO_BACKSLASH_ESCAPES, doubled quotes always), `...` identifiers (and
 * "..." under ANSI_QUOTES: doubled quotes only), "-- " and "#" comments to
 * the end of the line, and block comments to the first star-slash. Byte-wise
 * scanning is right for ASCII-compatible character sets whose multibyte
 * sequences hold no ASCII bytes (utf8mb3/utf8mb4, latin1, ...).
 *
 * When the statement's sql_mode is presumed or unknown and a backslash
 * comes before the last tag, the text is lexed under the candidate modes
 * (a lexing that ends inside a string or comment is impossible), and where
 * several remain, the lexers advance in step and an annotation comment
 * counts only if none of them has it inside a string literal: user data
 * never becomes an annotation, whichever mode the session used.
 */
#include "tailer/annotation.h"

#include "core/cache_key.h"
#include "core/name_rule.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ANNOTATION_TAG "mcsqueal:"
#define ANNOTATION_TAG_LEN (sizeof(ANNOTATION_TAG) - 1)
#define LOG_PREFIX_MAX 48 /* bytes of a rejected token shown in the log */

/* What a byte means to the scanner outside strings and comments. */
enum byte_class { BC_PLAIN = 0, BC_QUOTE, BC_DASH, BC_HASH, BC_SLASH };

static const uint8_t top_class[256] = {
    ['\''] = BC_QUOTE, ['"'] = BC_QUOTE, ['`'] = BC_QUOTE,
    ['-'] = BC_DASH,   ['#'] = BC_HASH,  ['/'] = BC_SLASH,
};

/* ASCII whitespace: separates annotation tokens. */
static const bool ascii_space[256] = {
    [' '] = true, ['\t'] = true, ['\n'] = true, ['\v'] = true, ['\f'] = true, ['\r'] = true,
};

/* 16-byte vectors (GCC/Clang vector extensions: SSE2 on x86-64, NEON on
 * arm64, portable code elsewhere) let the searches below test 16 bytes per
 * step instead of one. */
typedef uint8_t vec16 __attribute__((vector_size(16)));
typedef int8_t vmask16 __attribute__((vector_size(16)));

static inline vec16 vec_load(const char *p)
{
    vec16 v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline bool vec_any(vmask16 m)
{
    uint64_t w[2];
    memcpy(w, &m, sizeof(w));
    return (w[0] | w[1]) != 0;
}

/* Index of the first non-zero lane of a non-zero mask (lane 0 is the
 * lowest-addressed byte, whichever the byte order). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
static inline int vec_first(vmask16 m)
{
    uint64_t w[2];
    memcpy(w, &m, sizeof(w));
    return w[0] ? __builtin_clzll(w[0]) / 8 : 8 + __builtin_clzll(w[1]) / 8;
}

static inline int vec_last(vmask16 m)
{
    uint64_t w[2];
    memcpy(w, &m, sizeof(w));
    return w[1] ? 15 - __builtin_ctzll(w[1]) / 8 : 7 - __builtin_ctzll(w[0]) / 8;
}
#else
static inline int vec_first(vmask16 m)
{
    uint64_t w[2];
    memcpy(w, &m, sizeof(w));
    return w[0] ? __builtin_ctzll(w[0]) / 8 : 8 + __builtin_ctzll(w[1]) / 8;
}

/* Index of the last non-zero lane of a non-zero mask. */
static inline int vec_last(vmask16 m)
{
    uint64_t w[2];
    memcpy(w, &m, sizeof(w));
    return w[1] ? 15 - __builtin_clzll(w[1]) / 8 : 7 - __builtin_clzll(w[0]) / 8;
}
#endif

/* Whether the tag starts at s; s must have ANNOTATION_TAG_LEN bytes. */
static inline bool tag_at(const char *s)
{
    return memcmp(s, ANNOTATION_TAG, ANNOTATION_TAG_LEN) == 0;
}

/* Last ANNOTATION_TAG in text[0..n), or NULL. Searching from the end finds
 * the usual trailing annotation at once, and the scan can stop as soon as it
 * passes the last tag. Each step tests 16 start positions on the tag's first
 * and last byte; only those matching both are compared in full. */
static const char *tag_find_last(const char *text, size_t n)
{
    if (n < ANNOTATION_TAG_LEN)
        return NULL;
    ptrdiff_t i = (ptrdiff_t)(n - ANNOTATION_TAG_LEN); /* highest start left to test */
    for (; i >= 15; i -= 16) {
        const char *b = text + i - 15;
        vec16 first = vec_load(b), last = vec_load(b + ANNOTATION_TAG_LEN - 1);
        vmask16 m = (vmask16)(first == 'm') & (vmask16)(last == ':');
        while (vec_any(m)) { /* the candidates, highest first */
            int k = vec_last(m);
            if (tag_at(b + k))
                return b + k;
            m[k] = 0;
        }
    }
    for (; i >= 0; i--) {
        if (text[i] == 'm' && tag_at(text + i))
            return text + i;
    }
    return NULL;
}

/* First byte in [p, end) that top_class marks, or end. */
static const char *special_find(const char *p, const char *end)
{
    while (end - p >= 16) {
        vec16 v = vec_load(p);
        vmask16 m = (vmask16)(v == '\'') | (vmask16)(v == '"') | (vmask16)(v == '`') |
                    (vmask16)(v == '-') | (vmask16)(v == '#') | (vmask16)(v == '/');
        if (vec_any(m))
            return p + vec_first(m);
        p += 16;
    }
    while (p < end && top_class[(uint8_t)*p] == BC_PLAIN)
        p++;
    return p;
}

/* Lanes of v holding ASCII whitespace (space, \t \n \v \f \r). */
static inline vmask16 space_mask(vec16 v)
{
    return (vmask16)(v == ' ') | ((vmask16)(v >= '\t') & (vmask16)(v <= '\r'));
}

/* The first whitespace byte in [p, end), or end: a token's end, 16 bytes
 * per step. */
static const char *token_end(const char *p, const char *end)
{
    while (end - p >= 16) {
        vmask16 m = space_mask(vec_load(p));
        if (vec_any(m))
            return p + vec_first(m);
        p += 16;
    }
    while (p < end && !ascii_space[(uint8_t)*p])
        p++;
    return p;
}

typedef int8_t svec16 __attribute__((vector_size(16)));

static const vec16 lane_index = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* Lanes of v that are not printable ASCII (0x21..0x7e): whitespace, other
 * controls, DEL and the bytes of multibyte UTF-8 (negative when signed). */
static inline vmask16 not_plain_mask(vec16 v)
{
    return (vmask16)((svec16)v <= (int8_t)0x20) | (vmask16)(v == 0x7f);
}

static inline bool byte_plain(char c)
{
    return (uint8_t)((uint8_t)c - 0x21) < 0x5e;
}

/* The end of the token at p (a non-whitespace byte) in [p, end): the first
 * whitespace byte, or end. *plain tells whether all its bytes are printable
 * ASCII, which makes it a valid key unless it is too long (the common case:
 * no second pass of cache_key_check()). 16 bytes per step; near the end of
 * the body, the 16 bytes before end are loaded when they lie inside the text
 * (at or after lo), instead of going byte by byte. */
static const char *token_scan(const char *p, const char *end, const char *lo, bool *plain)
{
    for (;;) {
        size_t rem = (size_t)(end - p);
        if (rem >= 16) {
            vmask16 m = not_plain_mask(vec_load(p));
            if (!vec_any(m)) {
                p += 16;
                continue;
            }
            p += vec_first(m);
            break;
        }
        if (rem == 0) {
            *plain = true;
            return end;
        }
        if (end - lo >= 16) {
            const char *b = end - 16;
            vmask16 m = not_plain_mask(vec_load(b)) & (vmask16)(lane_index >= (uint8_t)(16 - rem));
            if (!vec_any(m)) {
                *plain = true;
                return end;
            }
            p = b + vec_first(m);
            break;
        }
        while (p < end && byte_plain(*p))
            p++;
        if (p == end) {
            *plain = true;
            return end;
        }
        break;
    }
    if (ascii_space[(uint8_t)*p]) {
        *plain = true;
        return p;
    }
    *plain = false;
    return token_end(p, end);
}

/* The first star-slash in [p, end), or NULL. */
static const char *close_find(const char *p, const char *end)
{
    for (;;) {
        const char *star = memchr(p, '*', (size_t)(end - p));
        if (star == NULL || star + 1 >= end)
            return NULL;
        if (star[1] == '/')
            return star;
        p = star + 1;
    }
}

/* One annotation_parse() call. */
typedef struct scanner {
    const char *start; /* of the text */
    const char *end;
    const char *last_tag;        /* the last "mcsqueal:" in the text */
    const annotation_handler *h; /* (ref) */
    annotation_stats *stats;     /* (ref) */
    size_t delivered;
} scanner;

/* The @marker of one comment. */
typedef struct marker_ref {
    const char *ptr;
    size_t len;
} marker_ref;

static const char *const reject_names[ANNOTATION_REJECT_COUNT] = {
    "empty", "too_long", "control_char", "invalid_utf8", "bad_directive", "unterminated",
};

const char *annotation_reject_name(annotation_reject reason)
{
    if ((unsigned)reason >= ANNOTATION_REJECT_COUNT)
        return "unknown";
    return reject_names[reason];
}

void annotation_stats_init(annotation_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    stats->log_limit = (log_ratelimit)LOG_RATELIMIT_INIT(10, 10);
}

/* Writes a printable, quoted-string-safe copy of the first LOG_PREFIX_MAX
 * bytes of s into out (at least 4 * LOG_PREFIX_MAX + 1 bytes). */
static void escape_prefix(char *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = len < LOG_PREFIX_MAX ? len : LOG_PREFIX_MAX;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c > 0x20 && c < 0x7f && c != '\\' && c != '"') {
            *out++ = (char)c;
            continue;
        }
        *out++ = '\\';
        *out++ = 'x';
        *out++ = hex[c >> 4];
        *out++ = hex[c & 0xf];
    }
    *out = '\0';
}

/* Counts a rejection and logs it (rate-limited) with an escaped prefix. */
static void reject(annotation_stats *stats, annotation_reject reason, const char *what,
                   const char *s, size_t len)
{
    char shown[4 * LOG_PREFIX_MAX + 1];
    stats->rejected[reason]++;
    escape_prefix(shown, s, len);
    log_ratelimited(&stats->log_limit, LOG_LEVEL_WARN,
                    "annotation: rejected %s (%s, %zu bytes): \"%s\"%s", what,
                    annotation_reject_name(reason), len, shown, len > LOG_PREFIX_MAX ? "..." : "");
}

/* The rejection reason of a failed key check. */
static annotation_reject reject_of_verdict(cache_key_verdict v)
{
    switch (v) {
    case CACHE_KEY_TOO_LONG:
        return ANNOTATION_REJECT_TOO_LONG;
    case CACHE_KEY_CONTROL_CHAR:
        return ANNOTATION_REJECT_CONTROL_CHAR;
    case CACHE_KEY_INVALID_UTF8:
        return ANNOTATION_REJECT_INVALID_UTF8;
    default:
        return ANNOTATION_REJECT_EMPTY;
    }
}

/* Whether name[0..len) is the NUL-terminated want. */
static bool name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* Parses decimal digits into a positive int64; false if empty, not all
 * digits, zero or too large. */
static bool probe_parse(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return v > 0;
}

/* Applies one '@' token; a valid @marker replaces *marker. */
static void directive_apply(scanner *sc, const char *tok, size_t len, marker_ref *marker)
{
    const char *eq = memchr(tok, '=', len);
    if (eq == NULL) {
        sc->stats->unknown_directives++;
        return;
    }
    const char *name = tok + 1, *value = eq + 1;
    size_t name_len = (size_t)(eq - name), value_len = (size_t)(tok + len - value);
    int64_t probe_us;

    if (name_is(name, name_len, "marker")) {
        if (!name_rule_region(value, value_len)) {
            reject(sc->stats, ANNOTATION_REJECT_BAD_DIRECTIVE, "directive", tok, len);
            return;
        }
        marker->ptr = value;
        marker->len = value_len;
    } else if (name_is(name, name_len, "probe")) {
        if (!probe_parse(value, value_len, &probe_us)) {
            reject(sc->stats, ANNOTATION_REJECT_BAD_DIRECTIVE, "directive", tok, len);
            return;
        }
        if (sc->h->on_probe != NULL)
            sc->h->on_probe(sc->h->ctx, probe_us);
    } else {
        sc->stats->unknown_directives++;
    }
}

/* Checks one key token and delivers it, or counts and logs its rejection.
 * plain: all its bytes are printable ASCII (see token_scan()). */
static void key_offer(scanner *sc, const char *tok, size_t len, bool plain,
                      const marker_ref *marker)
{
    cache_key_verdict v =
        plain && len <= CACHE_KEY_MAX_LEN ? CACHE_KEY_OK : cache_key_check(tok, len);
    if (v != CACHE_KEY_OK) {
        reject(sc->stats, reject_of_verdict(v), "key", tok, len);
        return;
    }
    sc->h->on_key(sc->h->ctx, tok, len, marker->ptr, marker->len);
    sc->stats->keys++;
    sc->delivered++;
}

/* Applies the directives of the annotation body [p, end): the tokens that
 * start with '@', found with memchr() since most comments have none. */
static void directives_apply(scanner *sc, const char *p, const char *end, marker_ref *marker)
{
    const char *at = p;
    while ((at = memchr(at, '@', (size_t)(end - at))) != NULL) {
        if (at != p && !ascii_space[(uint8_t)at[-1]]) {
            at++; /* inside a key */
            continue;
        }
        const char *tok = at;
        while (at < end && !ascii_space[(uint8_t)*at])
            at++;
        directive_apply(sc, tok, (size_t)(at - tok), marker);
    }
}

/* Handles the tokens of one terminated annotation, body [p, end): directives
 * first, since @marker applies to every key of the comment wherever it is. */
static void annotation_body(scanner *sc, const char *p, const char *end)
{
    marker_ref marker = {NULL, 0};

    sc->stats->comments++;
    directives_apply(sc, p, end, &marker);
    while (p < end) {
        if (ascii_space[(uint8_t)*p]) {
            p++;
            continue;
        }
        const char *tok = p;
        bool plain;
        p = token_scan(p, end, sc->start, &plain);
        if (tok[0] != '@')
            key_offer(sc, tok, (size_t)(p - tok), plain, &marker);
    }
}

/* The byte after the tag of the annotation comment opening at p ("/" "*"),
 * or NULL when the comment's body does not start with the tag. Executable
 * comments ("/" "*!", "/" "*M!") and optimizer hints ("/" "*+") need no
 * case of their own: their body does not start with the tag. */
static const char *annotation_tag_end(const scanner *sc, const char *p)
{
    const char *t = p + 2, *end = sc->end;
    while (t < end && ascii_space[(uint8_t)*t])
        t++;
    if ((size_t)(end - t) < ANNOTATION_TAG_LEN || !tag_at(t))
        return NULL;
    return t + ANNOTATION_TAG_LEN;
}

/* Parses the annotation comment opening at p. Returns the position after
 * it, or NULL if it runs to the end of the text (rejected as unterminated). */
static const char *annotation_take(scanner *sc, const char *p)
{
    const char *body = annotation_tag_end(sc, p);
    const char *close = close_find(body, sc->end);
    if (close == NULL) {
        reject(sc->stats, ANNOTATION_REJECT_UNTERMINATED, "comment", p, (size_t)(sc->end - p));
        return NULL;
    }
    annotation_body(sc, body, close);
    return close + 2;
}

/* Skips the annotation comment opening at p without parsing it; NULL if it
 * runs to the end of the text. */
static const char *annotation_skip(const scanner *sc, const char *p)
{
    const char *close = close_find(annotation_tag_end(sc, p), sc->end);
    return close ? close + 2 : NULL;
}

/* Skips a quoted string or identifier whose opening quote is p[-1]. With
 * `backslash`, a quote after an odd run of backslashes is escaped. A doubled
 * quote needs no case of its own: closing the string and opening the next at
 * once leaves the scan where the lexer's escaped quote would. Returns the
 * position after the closing quote, or NULL if it is unterminated. */
static const char *quoted_skip(const char *p, const char *end, char quote, bool backslash)
{
    const char *start = p;
    for (;;) {
        const char *c = memchr(p, quote, (size_t)(end - p));
        if (c == NULL)
            return NULL;
        const char *b = c;
        while (backslash && b > start && b[-1] == '\\')
            b--;
        if ((c - b) % 2 == 0)
            return c + 1;
        p = c + 1;
    }
}

/* Whether quote opens a string with backslash escapes under flags. */
static bool quote_has_backslash(unsigned flags, char quote)
{
    if (quote == '`' || (flags & ANNOTATION_NO_BACKSLASH_ESCAPES))
        return false;
    return !(quote == '"' && (flags & ANNOTATION_ANSI_QUOTES));
}

/* Returns the position after the line comment starting at p (to '\n', or
 * the end of the text). */
static const char *line_comment(const scanner *sc, const char *p)
{
    const char *nl = memchr(p, '\n', (size_t)(sc->end - p));
    return nl ? nl + 1 : sc->end;
}

/* "--" starts a comment only before whitespace, a control byte or the end. */
static bool dash_comment_at(const scanner *sc, const char *p)
{
    if (p + 1 >= sc->end || p[1] != '-')
        return false;
    if (p + 2 == sc->end)
        return true;
    uint8_t c = (uint8_t)p[2];
    return c <= 0x20 || c == 0x7f;
}

/* Skips what the special byte at p opens under flags (a string literal, an
 * identifier, a comment other than an annotation) or the byte itself;
 * returns where scanning resumes, or NULL when that runs to the end of the
 * text. */
static const char *special_skip(const scanner *sc, unsigned flags, const char *p)
{
    const char *close;
    switch ((enum byte_class)top_class[(uint8_t)*p]) {
    case BC_QUOTE:
        return quoted_skip(p + 1, sc->end, *p, quote_has_backslash(flags, *p));
    case BC_DASH:
        return dash_comment_at(sc, p) ? line_comment(sc, p + 2) : p + 1;
    case BC_HASH:
        return line_comment(sc, p + 1);
    case BC_SLASH:
        if (p + 1 >= sc->end || p[1] != '*')
            return p + 1;
        close = close_find(p + 2, sc->end);
        return close ? close + 2 : NULL;
    case BC_PLAIN:
        break;
    }
    return p + 1;
}

/* One lexing of the text: where it has got to, under which flags. */
typedef struct lexer {
    const char *p;  /* where scanning resumes; NULL: the text ended inside a
                       string literal or comment */
    unsigned flags; /* ANNOTATION_NO_BACKSLASH_ESCAPES, ANNOTATION_ANSI_QUOTES */
} lexer;

/* Advances lx to the next annotation comment that opens at or before stop
 * and returns its position (lx->p stays on it). Returns NULL when there is
 * none; lx->p is then sc->end (or past stop, where the scan gave up), or
 * NULL when the text ended inside a string literal or comment. */
static const char *lex_next(const scanner *sc, lexer *lx, const char *stop)
{
    const char *p = lx->p, *end = sc->end;
    while (p != NULL && p < end) {
        p = special_find(p, end);
        if (p == end || p > stop)
            break;
        if (*p == '/' && p + 1 < end && p[1] == '*' && annotation_tag_end(sc, p) != NULL) {
            lx->p = p;
            return p;
        }
        p = special_skip(sc, lx->flags, p);
    }
    lx->p = p;
    return NULL;
}

/* Parses the annotations of the text lexed under flags. The scan stops once
 * it is past the last tag: no annotation can open there or later. */
static void parse_lexing(scanner *sc, unsigned flags)
{
    lexer lx = {sc->start, flags};
    const char *c;
    while ((c = lex_next(sc, &lx, sc->last_tag)) != NULL)
        lx.p = annotation_take(sc, c);
}

/* Whether the text lexes completely under flags: it does not end inside a
 * string literal or comment, which the server would have refused. */
static bool lexes_completely(const scanner *sc, unsigned flags)
{
    lexer lx = {sc->start, flags};
    const char *c;
    while ((c = lex_next(sc, &lx, sc->end)) != NULL)
        lx.p = annotation_skip(sc, c);
    return lx.p != NULL;
}

/* The lexings a statement can have had: the sql_modes that change how
 * string literals end (NO_BACKSLASH_ESCAPES with ANSI_QUOTES lexes as
 * NO_BACKSLASH_ESCAPES alone). */
#define LEXINGS 3
static const unsigned lexing_flags[LEXINGS] = {0, ANNOTATION_ANSI_QUOTES,
                                               ANNOTATION_NO_BACKSLASH_ESCAPES};

/* Where a position lies in one lexing. */
enum lex_place { LEX_TOP, LEX_COMMENT, LEX_QUOTED };

/* Advances lx up to p, a position at or after lx->p, and tells whether p
 * is at top level, inside a comment, or inside a string literal or quoted
 * identifier under lx->flags. lx->p stays at or before p. */
static enum lex_place lex_place_of(const scanner *sc, lexer *lx, const char *p)
{
    while (lx->p != NULL && lx->p < p) {
        const char *q = special_find(lx->p, p);
        if (q == p) {
            lx->p = p;
            break;
        }
        const char *next = special_skip(sc, lx->flags, q);
        if (next == NULL || next > p) {
            lx->p = q; /* the construct at q holds p (and maybe later ones) */
            return top_class[(uint8_t)*q] == BC_QUOTE ? LEX_QUOTED : LEX_COMMENT;
        }
        lx->p = next;
    }
    return lx->p == NULL ? LEX_QUOTED : LEX_TOP; /* NULL: ended inside something unknown */
}

/* Parses the annotation comments that open under one of the n lexings and
 * lie inside a string literal or quoted identifier under none: text that
 * data can have put there is never an annotation, whichever lexing is the
 * session's, while text inside a comment of another lexing is still the
 * application's own. `next` finds each lexing's annotation comments,
 * `place` follows them in the others; both only move forward. */
static void parse_unquoted(scanner *sc, const unsigned *flags, size_t n)
{
    lexer next[LEXINGS], place[LEXINGS];
    const char *at[LEXINGS];
    for (size_t i = 0; i < n; i++) {
        next[i] = place[i] = (lexer){sc->start, flags[i]};
        at[i] = lex_next(sc, &next[i], sc->last_tag);
    }
    for (;;) {
        const char *p = NULL;
        for (size_t i = 0; i < n; i++)
            p = at[i] != NULL && (p == NULL || at[i] < p) ? at[i] : p;
        if (p == NULL)
            return;
        bool quoted = false;
        for (size_t i = 0; i < n; i++)
            quoted = (lex_place_of(sc, &place[i], p) == LEX_QUOTED) || quoted;
        if (quoted)
            log_ratelimited(&sc->stats->log_limit, LOG_LEVEL_WARN,
                            "annotation: ignored an annotation comment that is inside a string "
                            "literal under another sql_mode (the statement's is not known)");
        else if (annotation_take(sc, p) == NULL)
            return;
        for (size_t i = 0; i < n; i++) {
            if (at[i] == p) {
                next[i].p = annotation_skip(sc, p);
                at[i] = lex_next(sc, &next[i], sc->last_tag);
            }
        }
    }
}

/* A backslash comes before the last tag and the sql_mode is presumed or
 * unknown (see ANNOTATION_MODE_PRESUMED and ANNOTATION_MODE_UNKNOWN). */
static void parse_doubtful(scanner *sc, unsigned flags)
{
    unsigned mode = flags & (ANNOTATION_NO_BACKSLASH_ESCAPES | ANNOTATION_ANSI_QUOTES);
    if (!(flags & ANNOTATION_MODE_UNKNOWN) && lexes_completely(sc, mode)) {
        parse_lexing(sc, mode);
        return;
    }
    unsigned ok[LEXINGS];
    size_t n = 0;
    for (size_t i = 0; i < LEXINGS; i++) {
        if (lexes_completely(sc, lexing_flags[i]))
            ok[n++] = lexing_flags[i];
    }
    if (n == 0) { /* not a statement the server accepted: trust no lexing */
        memcpy(ok, lexing_flags, sizeof(ok));
        n = LEXINGS;
    }
    if (n == 1)
        parse_lexing(sc, ok[0]);
    else
        parse_unquoted(sc, ok, n);
}

size_t annotation_parse(const char *sql, size_t len, unsigned flags, const annotation_handler *h,
                        annotation_stats *stats)
{
    assert(h != NULL && h->on_key != NULL && stats != NULL);
    if (len < 2 + ANNOTATION_TAG_LEN)
        return 0;
    scanner sc = {sql, sql + len, NULL, h, stats, 0};
    sc.last_tag = tag_find_last(sql, len);
    if (sc.last_tag == NULL)
        return 0;
    /* Only a backslash before the last tag can make the modes disagree: the
     * lexer's state where a comment opens depends on the bytes before it
     * only, and where a comment closes not on backslashes. */
    if ((flags & (ANNOTATION_MODE_PRESUMED | ANNOTATION_MODE_UNKNOWN)) &&
        memchr(sql, '\\', (size_t)(sc.last_tag - sql)) != NULL)
        parse_doubtful(&sc, flags);
    else
        parse_lexing(&sc, flags & (ANNOTATION_NO_BACKSLASH_ESCAPES | ANNOTATION_ANSI_QUOTES));
    return sc.delivered;
}
