// Annotation parser: finds the cache keys that applications embed in SQL
// statement text as comments, exactly per the contract in DESIGN.md:
//
//     /* mcsqueal: <token> [<token> ...] */
//
// Quote- and comment-aware: text inside '...', "..." and `...`, inside
// "-- " and "#" line comments, and inside executable comments (/*! */,
// /*M! */) and optimizer hints (/*+ */) never counts. Tokens starting with
// '@' are directives (@marker=<region>, @probe=<unix us>); unknown directives
// are counted and ignored. Every other token is a key, checked with
// cache_key_check(); a key that breaks the rules is counted by reason, logged
// (rate-limited) and never delivered.
#ifndef MCSQ_TAILER_ANNOTATION_H
#define MCSQ_TAILER_ANNOTATION_H

#include "core/log.h"

#include <stddef.h>
#include <stdint.h>

/* Why a token or comment was rejected; the names are metric labels. */
typedef enum annotation_reject {
    /* "empty": cannot come from whitespace splitting; kept for the router */
    ANNOTATION_REJECT_EMPTY = 0,
    ANNOTATION_REJECT_TOO_LONG,      /* "too_long": key over 250 bytes */
    ANNOTATION_REJECT_CONTROL_CHAR,  /* "control_char": control byte inside a key */
    ANNOTATION_REJECT_INVALID_UTF8,  /* "invalid_utf8": key bytes are not UTF-8 */
    ANNOTATION_REJECT_BAD_DIRECTIVE, /* "bad_directive": bad @marker= or @probe= value */
    ANNOTATION_REJECT_UNTERMINATED,  /* "unterminated": mcsqueal comment never closed */
    ANNOTATION_REJECT_COUNT
} annotation_reject;

/* Metric label of a reason, e.g. "too_long"; "unknown" outside the enum. */
const char *annotation_reject_name(annotation_reject reason);

/* Counters, summed by the owner; plain integers, one writer. */
typedef struct annotation_stats {
    /* mcsqueal comments found; an unterminated one counts only in
     * rejected[ANNOTATION_REJECT_UNTERMINATED] */
    uint64_t comments;
    uint64_t keys; /* keys delivered (before per-transaction de-duplication) */
    uint64_t rejected[ANNOTATION_REJECT_COUNT];
    uint64_t unknown_directives; /* @name=value with an unknown name */
    log_ratelimit log_limit;     /* for rejection messages */
} annotation_stats;

/* Initialises stats to zero with a rate limit of 10 messages per 10 s. */
void annotation_stats_init(annotation_stats *stats);

/* Receives what the parser finds; all pointers are borrowed, valid only
 * during the call. `marker`/`marker_len` is the @marker region of the
 * comment holding the key (NULL/0 when that comment has none). */
typedef struct annotation_handler {
    void (*on_key)(void *ctx, const char *key, size_t key_len, const char *marker,
                   size_t marker_len);
    void (*on_probe)(void *ctx, int64_t probe_us); /* may be NULL */
    void *ctx;
} annotation_handler;

/* The statement ran with sql_mode NO_BACKSLASH_ESCAPES: a backslash inside a
 * string literal is an ordinary character. */
#define ANNOTATION_NO_BACKSLASH_ESCAPES 0x1u
/* The statement ran with sql_mode ANSI_QUOTES: "..." quotes an identifier,
 * so, as inside `...`, only a doubled "" escapes and a backslash is an
 * ordinary character. */
#define ANNOTATION_ANSI_QUOTES 0x2u
/* The two flags above are presumed, not known: the mode the statement's
 * transaction started with (row-format text carries no sql_mode of its
 * own). If the text does not lex completely under them (it ends inside a
 * string literal or comment, which the server would have refused), the
 * session changed its sql_mode, and the text is parsed as with
 * ANNOTATION_MODE_UNKNOWN. */
#define ANNOTATION_MODE_PRESUMED 0x4u
/* The statement's sql_mode is not known (the two flags above are ignored).
 * Annotations count only where no data can have put them: the text is
 * lexed under each mode that changes string literals (none, ANSI_QUOTES,
 * NO_BACKSLASH_ESCAPES); the lexings that end inside a string literal or
 * comment are dropped (the server accepted the statement, so it ran under
 * another); an annotation comment of one of the lexings left counts unless
 * another has it inside a string literal or quoted identifier. So a string
 * never becomes an annotation. A real annotation can be missed only when a
 * backslash comes before it and a quote character after it: one before
 * every backslash or after the last quote is always found. */
#define ANNOTATION_MODE_UNKNOWN 0x8u

/* Parses one statement's text (borrowed; not NUL-terminated; may hold any
 * bytes) lexed per flags (above; 0: the default sql_mode). Calls h->on_key
 * for each valid key in order of appearance and h->on_probe for each valid
 * @probe; a comment's directives are handled before its keys. Text after an
 * unterminated string literal or comment is ignored (the server would not
 * have accepted it). Returns the number of keys delivered. Never fails and
 * never allocates: bad input is counted in stats and skipped. h, h->on_key
 * and stats must not be NULL. The modes can only disagree about annotations
 * when a backslash comes before the last "mcsqueal:": without one, the text
 * is lexed once whatever the flags. */
size_t annotation_parse(const char *sql, size_t len, unsigned flags, const annotation_handler *h,
                        annotation_stats *stats);

#endif
