/*
 * GTID divergence (see gtid_divergence.h): the server's gtid_binlog_state
 * is parsed entry by entry (it may hold several server ids per domain) and
 * looked up per domain and server id of the state read.
 */
#include "tailer/gtid_divergence.h"
#include "mcsqueal/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The server's last sequence number of (domain, server) in state, 0 if it
 * has none. Returns 0 or MCSQ_ERR_INVALID. */
static int server_seq(const char *state, uint32_t domain, uint32_t server, uint64_t *seq)
{
    const char *p = state;
    *seq = 0;
    while (*p == ' ' || *p == ',')
        p++;
    while (*p != '\0') {
        gtid_entry e;
        if (gtid_entry_parse(&p, &e) != MCSQ_OK)
            return MCSQ_ERR_INVALID;
        if (e.domain == domain && e.server == server && e.seq > *seq)
            *seq = e.seq;
        if (*p != '\0' && *p != ',' && *p != ' ')
            return MCSQ_ERR_INVALID;
        while (*p == ' ' || *p == ',')
            p++;
    }
    return MCSQ_OK;
}

int gtid_divergence_find(const gtid_state *read, const char *server_state, gtid_divergence *out)
{
    out->n = 0;
    for (size_t i = 0; i < read->n; i++) {
        const gtid_entry *e = &read->v[i];
        uint64_t have;
        if (server_seq(server_state, e->domain, e->server, &have) != MCSQ_OK)
            return MCSQ_ERR_INVALID;
        if (have < e->seq)
            out->v[out->n++] = (gtid_lack){e->domain, e->server, have, e->seq};
    }
    return MCSQ_OK;
}

void gtid_divergence_continue_state(const gtid_divergence *dv, gtid_state *st)
{
    for (size_t i = 0; i < dv->n; i++) {
        const gtid_lack *l = &dv->v[i];
        for (size_t j = 0; j < st->n; j++) {
            if (st->v[j].domain != l->domain)
                continue;
            if (l->have > 0) {
                st->v[j].seq = l->have;
            } else {
                memmove(&st->v[j], &st->v[j + 1], (st->n - j - 1) * sizeof(st->v[0]));
                st->n--;
            }
            break;
        }
    }
}

/* One lack: "0-1-34 to 0-1-38 (its last of server 1 in domain 0: 0-1-33)",
 * or "up to 0-1-38 (it has none of server 1 in domain 0)". */
static void lack_format(const gtid_lack *l, char *out, size_t size)
{
    if (l->have == 0) {
        snprintf(out, size,
                 "up to %" PRIu32 "-%" PRIu32 "-%" PRIu64 " (it has none of server %" PRIu32
                 " in domain %" PRIu32 ")",
                 l->domain, l->server, l->want, l->server, l->domain);
        return;
    }
    char from[64] = "";
    if (l->have + 1 < l->want)
        snprintf(from, sizeof(from), "%" PRIu32 "-%" PRIu32 "-%" PRIu64 " to ", l->domain,
                 l->server, l->have + 1);
    snprintf(out, size,
             "%s%" PRIu32 "-%" PRIu32 "-%" PRIu64 " (its last of server %" PRIu32
             " in domain %" PRIu32 ": %" PRIu32 "-%" PRIu32 "-%" PRIu64 ")",
             from, l->domain, l->server, l->want, l->server, l->domain, l->domain, l->server,
             l->have);
}

size_t gtid_divergence_format(const gtid_divergence *dv, char *out, size_t size)
{
    size_t len = 0;
    if (size > 0)
        out[0] = '\0';
    for (size_t i = 0; i < dv->n; i++) {
        char one[192];
        lack_format(&dv->v[i], one, sizeof(one));
        int n = snprintf(len < size ? out + len : NULL, len < size ? size - len : 0, "%s%s",
                         i > 0 ? "; " : "", one);
        len += n > 0 ? (size_t)n : 0;
    }
    return len;
}

bool gtid_divergence_refused(const char *message)
{
    return strstr(message, "not in the master's binlog") != NULL ||
           strstr(message, "is missing the GTID") != NULL;
}
