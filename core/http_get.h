/*
 * A minimal HTTP/1.0 GET client for `mcsqueal status`: reads a metrics
 * endpoint over plain TCP (loopback or a trusted network; no TLS, no
 * redirects, no proxies). One request per connection ("Connection:
 * close"), a deadline for the whole exchange, and a cap on the response
 * size, so a wrong address or a misbehaving server can only cost time up to
 * the deadline and memory up to the cap.
 */
#ifndef MCSQ_CORE_HTTP_GET_H
#define MCSQ_CORE_HTTP_GET_H

#include "core/strbuf.h"

#include <stddef.h>

#define HTTP_URL_HOST_MAX 256
#define HTTP_URL_PATH_MAX 1024

typedef struct http_url {
    char host[HTTP_URL_HOST_MAX]; /* without brackets for IPv6 */
    int port;
    char path[HTTP_URL_PATH_MAX]; /* starts with '/' */
} http_url;

/* Parses "http://host[:port][/path]" (host may be "[v6]"; port defaults to
 * 80, path to "/"). Returns 0 or MCSQ_ERR_INVALID with errstr. */
int http_url_parse(const char *url, http_url *out, char *errstr, size_t errstr_size);

/* GETs url and appends the body of a 200 answer to body. timeout_ms bounds
 * connecting, sending and receiving together; max_bytes the whole
 * response. Returns 0, MCSQ_ERR_CONNECT (nothing listens, unreachable,
 * timed out; errstr says which), MCSQ_ERR_CORRUPT (not an HTTP answer, or
 * a status other than 200), MCSQ_ERR_LIMIT (larger than max_bytes),
 * MCSQ_ERR_INVALID (a bad URL) or MCSQ_ERR_NOMEM, with errstr. */
int http_get(const char *url, int timeout_ms, size_t max_bytes, strbuf *body, char *errstr,
             size_t errstr_size);

/* Like http_get(), but any HTTP status is an answer: *status receives it
 * and body the body. Returns 0, or http_get()'s errors except that a
 * status other than 200 is not one. */
int http_get_any(const char *url, int timeout_ms, size_t max_bytes, int *status, strbuf *body,
                 char *errstr, size_t errstr_size);

#endif
