/*
 * Audit connection: the auditor's own small memcached meta-protocol client,
 * one blocking TCP connection to one server, every step bounded by a
 * timeout. It never shares a connection with the router's deletes, so a
 * check can never delay or reorder them.
 *
 * Two requests:
 *   - a CAS watermark: `ms <probe> 1 b c T600` stores the probe key and
 *     answers `HD c<cas>`, the server's CAS counter now. Every item stored
 *     before it has a lower CAS, every item stored after it a higher one.
 *     The probe key is the 25 bytes 0x01 "mcsqueal.audit.watermark", sent
 *     base64-encoded (the `b` flag): a key with a control character, which no
 *     text-protocol client and no annotation can name, so it never collides
 *     with an application's key.
 *   - a lookup: `mg <key> c t u` per key, pipelined, answers the item's CAS
 *     and remaining TTL, or EN when absent, without bumping the item in the
 *     LRU or setting its fetched flag (`u`).
 *
 * Restarts: every new connection reads `stats` (pid, uptime, time). When the
 * server turns out to be another process than the last connection's (pid or
 * start time differ), or a watermark is lower than the previous one, the
 * connection's epoch grows: CAS values of two epochs cannot be compared.
 * A TCP connection that stays up is one process, so its answers all belong
 * to one epoch.
 *
 * Thread-safety: none; one thread uses a connection.
 */
#ifndef MCSQ_INVALIDATOR_AUDIT_CONN_H
#define MCSQ_INVALIDATOR_AUDIT_CONN_H

#include "mcsqueal/key.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The probe key, as sent (base64 of 0x01 "mcsqueal.audit.watermark"). */
#define AUDIT_CONN_PROBE_KEY_B64 "AW1jc3F1ZWFsLmF1ZGl0LndhdGVybWFyaw=="

/* Keys one lookup request may carry at most. */
#define AUDIT_CONN_LOOKUP_MAX 128

typedef struct audit_conn audit_conn;

/* One key's state on the server. */
typedef struct audit_item {
    bool present;
    uint64_t cas;  /* present: its CAS (0 when the server runs with -C) */
    int64_t ttl_s; /* present: seconds left, -1 when it never expires */
} audit_item;

/* Creates a connection to host:port (host copied); connects on first use.
 * timeout_ms bounds the connect and every wait for the server (> 0).
 * Returns 0 or MCSQ_ERR_NOMEM. */
int audit_conn_new(audit_conn **out, const char *host, int port, int timeout_ms);

/* Closes and frees. NULL is a no-op. */
void audit_conn_destroy(audit_conn *c);

/* "host:port" (owned by the connection). */
const char *audit_conn_name(const audit_conn *c);

/* The server process's epoch: 1 for the first one this connection met, one
 * more each time it found a restarted server. */
uint32_t audit_conn_epoch(const audit_conn *c);

/* Takes a watermark into *cas (0 when the server runs with -C). Connects
 * when needed. Returns 0, or MCSQ_ERR_CONNECT, MCSQ_ERR_AGAIN (timeout),
 * MCSQ_ERR_CORRUPT (unexpected answer) with err; the connection is closed
 * after any failure. */
int audit_conn_watermark(audit_conn *c, uint64_t *cas, char *err, size_t errlen);

/* Looks up n keys (n <= AUDIT_CONN_LOOKUP_MAX; each prefix + key at most 250
 * bytes, valid memcached keys: the caller checked) under prefix (borrowed, ""
 * for none) and fills items[0..n). Returns 0 or an error as
 * audit_conn_watermark(). */
int audit_conn_lookup(audit_conn *c, const char *prefix, const mcsq_key *keys, size_t n,
                      audit_item *items, char *err, size_t errlen);

#endif
