/*
 * One reply header line of memcached's meta protocol (memcached 1.6
 * protocol.txt, "Meta Commands"), parsed: the return code and the flags the
 * lease client reads (c<cas>, W, X, Z). Internal to the marker library.
 */
#ifndef MCSQ_MARKER_META_REPLY_H
#define MCSQ_MARKER_META_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest reply header line accepted (codes and flags are short). */
#define META_REPLY_LINE_MAX 2048

typedef enum meta_reply_code {
    META_VA,           /* "VA <size> <flags>*": a value of <size> bytes follows */
    META_HD,           /* "HD <flags>*": success without a value */
    META_EN,           /* "EN": miss */
    META_EX,           /* "EX": the CAS did not match */
    META_NF,           /* "NF": not found */
    META_NS,           /* "NS": not stored */
    META_MN,           /* "MN": end of a pipeline (`mn`) */
    META_ERROR,        /* "ERROR": unknown command (a server without meta) */
    META_CLIENT_ERROR, /* "CLIENT_ERROR <text>" */
    META_SERVER_ERROR, /* "SERVER_ERROR <text>" */
} meta_reply_code;

typedef struct meta_reply {
    meta_reply_code code;
    uint64_t value_len; /* VA only */
    uint64_t cas;       /* the c flag; 0 when absent */
    int64_t ttl_s;      /* the t flag: seconds left, -1 when it never expires */
    bool has_ttl;       /* a t flag was there */
    bool win;           /* W: this client won the right to fill */
    bool stale;         /* X: the item is marked stale */
    bool won_elsewhere; /* Z: another client already won */
    const char *text;   /* (ref) the error's text, for *_ERROR */
    size_t text_len;
} meta_reply;

/* Parses line (len bytes, without "\r\n"; borrowed: r->text points into
 * it). Unknown flags are skipped. Returns 0, or -1 when the line is not a
 * meta reply (unknown code, bad size or CAS, a flag that is not a token). */
int meta_reply_parse(const char *line, size_t len, meta_reply *r);

#endif
