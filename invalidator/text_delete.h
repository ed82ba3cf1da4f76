/*
 * Text-protocol deletes: the framing of memcached's classic text `delete`,
 * the one invalidation proxies such as twemproxy (and mcrouter) forward.
 * A request is `delete <key>\r\n`; the proxy answers each request with one
 * line, in the order the requests came: `DELETED`, `NOT_FOUND`, or an error
 * (`ERROR`, `CLIENT_ERROR <text>`, `SERVER_ERROR <text>`, twemproxy's answer
 * when the memcached behind it fails). There is no batch end and no opaque:
 * a pipeline is confirmed by counting its answers. Used by the pool deleter
 * for placement = proxy (mc_pool.h).
 */
#ifndef MCSQ_INVALIDATOR_TEXT_DELETE_H
#define MCSQ_INVALIDATOR_TEXT_DELETE_H

#include <stddef.h>

/* Bytes of a request besides the key: "delete " and "\r\n". */
#define TEXT_DELETE_OVERHEAD 9

/* What one answer line says about its request. */
typedef enum text_delete_reply {
    TEXT_DELETE_DELETED = 0, /* "DELETED": the key was removed */
    TEXT_DELETE_NOT_FOUND,   /* "NOT_FOUND": the key was not there (a success too) */
    TEXT_DELETE_ERROR,       /* "ERROR", "CLIENT_ERROR ...", "SERVER_ERROR ...": this delete
                                failed; the connection is still in step */
    TEXT_DELETE_UNEXPECTED,  /* anything else: not an answer to `delete` (the connection
                                is out of step and must be closed) */
} text_delete_reply;

/* Writes "delete <prefix><key>\r\n" at p, which has room for
 * TEXT_DELETE_OVERHEAD + prefix_len + key_len bytes; returns the bytes
 * written. The key must already satisfy the memcached key rules. */
size_t text_delete_put(char *p, const char *prefix, size_t prefix_len, const char *key,
                       size_t key_len);

/* Classifies one answer line (len bytes, without its "\r\n"; borrowed). */
text_delete_reply text_delete_reply_parse(const char *line, size_t len);

/* Whether the reply counts as a confirmed invalidation. */
static inline int text_delete_confirmed(text_delete_reply r)
{
    return r == TEXT_DELETE_DELETED || r == TEXT_DELETE_NOT_FOUND;
}

#endif
