/*
 * One connection to one memcached server speaking the meta protocol, one
 * request at a time: send a request, read its reply header line and, for
 * "VA", its value. The connection opens on first use; any failure, timeout
 * or unexpected answer closes it (the next call reconnects), so a reply can
 * never be taken for another request's. A connection reused from an earlier
 * call that turns out dead (the server restarted) is reconnected and the
 * request sent again, once. Internal to the marker library.
 */
#ifndef MCSQ_MARKER_META_CONN_H
#define MCSQ_MARKER_META_CONN_H

#include "marker/meta_reply.h"

#include <stddef.h>
#include <stdint.h>

typedef struct meta_conn {
    const char *host; /* (ref) */
    unsigned port;
    int fd; /* -1: closed */
    char *buf;
    size_t cap, len;
} meta_conn;

/* Readies c for host:port (borrowed, must outlive c); no I/O. */
void meta_conn_init(meta_conn *c, const char *host, unsigned port);

/* Closes the connection and frees the buffer. */
void meta_conn_deinit(meta_conn *c);

/* Sends req (len bytes, complete with "\r\n" and any data block) and reads
 * the reply before deadline_ms (clock_mono_ms()). For "VA", *value points at
 * the value (r->value_len bytes, in c's buffer, valid until the next call).
 * Returns 0 (r set; error replies included: the caller judges them),
 * MCSQ_ERR_CONNECT (connect, send or receive failed or timed out),
 * MCSQ_ERR_CORRUPT (not a meta reply) or MCSQ_ERR_LIMIT (value above
 * value_max), MCSQ_ERR_NOMEM; errstr names host:port. */
int meta_conn_call(meta_conn *c, const char *req, size_t len, int64_t deadline_ms, size_t value_max,
                   meta_reply *r, const char **value, char *errstr, size_t errstr_size);

#endif
