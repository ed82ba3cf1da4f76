/*
 * GTID divergence: which transactions the tailer already read (its GTID
 * state, e.g. the checkpoint's) a MariaDB server does not have. After a
 * failover to a replica that was behind, the transactions the old primary
 * committed last may be lost: the tailer published their keys, the new
 * primary never saw them, and its own next transactions reuse their
 * sequence numbers. Streaming from such a server must not silently go on
 * (nor hang), so the tailer compares its state with the server's
 * @@gtid_binlog_state (the last GTID of every domain and server id in its
 * binlog) before it streams.
 */
#ifndef MCSQ_TAILER_GTID_DIVERGENCE_H
#define MCSQ_TAILER_GTID_DIVERGENCE_H

#include "tailer/gtid_state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One domain whose GTID the server lacks: it has the GTIDs of `server` in
 * `domain` up to sequence number `have` (0: none), the tailer read up to
 * `want`, so `domain-server-(have+1)` to `domain-server-want` are missing. */
typedef struct gtid_lack {
    uint32_t domain;
    uint32_t server;
    uint64_t have;
    uint64_t want;
} gtid_lack;

typedef struct gtid_divergence {
    gtid_lack v[GTID_STATE_MAX_DOMAINS];
    size_t n; /* 0: the server has everything */
} gtid_divergence;

/* Compares the state read (one GTID per domain) with the server's
 * gtid_binlog_state text ("d-s-n,..." with one entry per domain and server
 * id) and fills *out with every domain whose GTID the server lacks.
 * Returns 0 or MCSQ_ERR_INVALID (server_state is not a GTID list). */
int gtid_divergence_find(const gtid_state *read, const char *server_state, gtid_divergence *out);

/* Rewrites st, the state dv was found for, into the state to continue from
 * on the server: each lacking domain goes back to the last GTID the server
 * and the tailer have in common (have), or is dropped when there is none. */
void gtid_divergence_continue_state(const gtid_divergence *dv, gtid_state *st);

/* Writes the lacking GTIDs for a person, e.g. "0-1-34 to 0-1-38 (its last
 * of server 1 in domain 0: 0-1-33)", domains separated by "; ". Returns the
 * length like snprintf (cut to size). */
size_t gtid_divergence_format(const gtid_divergence *dv, char *out, size_t size);

/* Whether a server's refusal of a binlog dump (its message) says the GTID
 * state asked for is not in its binlog: diverged, not purged. */
bool gtid_divergence_refused(const char *message);

#endif
