/*
 * MariaDB GTID state: the last GTID committed in each replication domain,
 * "domain-server-seq[,domain-server-seq...]" — what @slave_connect_state
 * takes to resume a binlog stream after it.
 */
#ifndef MCSQ_TAILER_GTID_STATE_H
#define MCSQ_TAILER_GTID_STATE_H

#include <stddef.h>
#include <stdint.h>

#define GTID_STATE_MAX_DOMAINS 64

typedef struct gtid_entry {
    uint32_t domain;
    uint32_t server;
    uint64_t seq;
} gtid_entry;

typedef struct gtid_state {
    gtid_entry v[GTID_STATE_MAX_DOMAINS];
    size_t n;
} gtid_state;

/* Parses "d-s-n,..." (empty text: empty state). Returns 0 or
 * MCSQ_ERR_INVALID (also for more than GTID_STATE_MAX_DOMAINS domains). */
int gtid_state_parse(gtid_state *st, const char *text);

/* Parses one "d-s-n" at *p, advancing *p past it. Returns 0 or
 * MCSQ_ERR_INVALID. */
int gtid_entry_parse(const char **p, gtid_entry *e);

/* Records "d-s-n" text as its domain's last GTID. Returns 0 or
 * MCSQ_ERR_INVALID / MCSQ_ERR_LIMIT. */
int gtid_state_update(gtid_state *st, const char *gtid);

/* Writes the state as text (sorted by domain) into out; returns the length,
 * or a value >= size when it did not fit (like snprintf). */
size_t gtid_state_format(const gtid_state *st, char *out, size_t size);

#endif
