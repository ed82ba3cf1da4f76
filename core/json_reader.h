/*
 * JSON reader: the tokens of RFC 8259 for a recursive-descent reader that
 * knows the shape it expects (the bus message contract sits on top of it).
 * The caller walks objects and arrays with json_object_next() and
 * json_array_next() and reads the values it wants; json_skip_value()
 * validates and skips any other value.
 *
 *   - UTF-8 only: full string escapes (surrogate pairs joined, lone
 *     surrogates rejected), raw control bytes and bad UTF-8 rejected,
 *     whitespace anywhere, values nested at most max_depth deep.
 *   - Strings point into the text; only strings with escapes are decoded,
 *     into a json_arena that grows to the largest text seen (decoding never
 *     lengthens a string, so a text of n bytes needs at most n).
 *   - Every error fills errstr as "byte N: <where>: <what>", where N is the
 *     byte offset in the text and <where> what the caller's where function
 *     says (e.g. "txns[3].keys[7]"), left out when it says nothing:
 *         "byte 1234: txns[3].keys[7]: expected a string, got number"
 *
 * Functions return 0 (json_array_next() and json_object_next(): 1 or 0) or
 * a negative mcsq_err: MCSQ_ERR_CORRUPT for text that is not JSON or not
 * what the caller expected, MCSQ_ERR_NOMEM; errstr is then filled.
 */
#ifndef MCSQ_CORE_JSON_READER_H
#define MCSQ_CORE_JSON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of a string or name (ref), not NUL-terminated. */
typedef struct json_span {
    const char *ptr;
    size_t len;
} json_span;

/* Decoded strings (those that held escapes); reused from text to text.
 * Zero-initialized is empty. */
typedef struct json_arena {
    char *buf;
    size_t cap;
    size_t len; /* bytes handed out for the current text */
} json_arena;

/* Writes where the caller is reading into out (size bytes, NUL-terminated;
 * "" for nowhere in particular). */
typedef void (*json_where_fn)(const void *ctx, char *out, size_t size);

typedef struct json_reader {
    const unsigned char *start; /* (ref) the text */
    const unsigned char *p;     /* next byte to read */
    const unsigned char *end;
    json_arena *arena; /* (ref) */
    int max_depth;     /* nesting of arrays and objects, the outermost included */
    char *errstr;      /* (ref) may be NULL */
    size_t errstr_size;
    json_where_fn where;   /* may be NULL */
    const void *where_ctx; /* (ref) */
} json_reader;

/* Starts reading text (len bytes, borrowed, need not be NUL-terminated; NULL
 * is empty) at its first byte. Empties arena (borrowed). where is unset. */
void json_reader_init(json_reader *r, const char *text, size_t len, json_arena *arena,
                      int max_depth, char *errstr, size_t errstr_size);

/* Frees the arena's buffer. */
void json_arena_deinit(json_arena *a);

/* Fills errstr with the message for the byte at `at`; returns err. */
__attribute__((format(printf, 4, 5))) int json_fail(json_reader *r, const unsigned char *at,
                                                    int err, const char *fmt, ...);

/* Fails at p with "expected <what>, got <what is there>"; returns
 * MCSQ_ERR_CORRUPT. */
int json_expected(json_reader *r, const char *what);

static inline void json_skip_ws(json_reader *r)
{
    const unsigned char *p = r->p;
    while (p < r->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    r->p = p;
}

static inline bool json_at(const json_reader *r, unsigned char c)
{
    return r->p < r->end && *r->p == c;
}

/* Steps into the object ('{') or array ('[') at p. */
int json_open(json_reader *r, unsigned char open);

/* Moves to element `count` of the array being read: 1 with p at it, 0 after
 * the closing ']', or an error. */
int json_array_next(json_reader *r, size_t count);

/* Moves to field `count` of the object being read: 1 with its name read
 * into *name and p at its value, 0 after the closing '}', or an error.
 * *name_at: the name's opening quote. */
int json_object_next(json_reader *r, size_t count, json_span *name, const unsigned char **name_at);

/* Reads the string at p into *out (into the text, or the arena when it
 * held escapes). */
int json_read_string(json_reader *r, json_span *out);

/* Reads an integer in [min, INT64_MAX] (no fraction or exponent). */
int json_read_int(json_reader *r, int64_t min, int64_t *out);

/* Reads true or false. */
int json_read_bool(json_reader *r, bool *out);

/* Validates and skips any value at p, inside a container at nesting level
 * depth (the outermost container is level 1). */
int json_skip_value(json_reader *r, int depth);

/* Checks that nothing but whitespace is left. */
int json_end(json_reader *r);

#endif
