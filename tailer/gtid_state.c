/*
 * MariaDB GTID state (see gtid_state.h): a small array kept sorted by
 * domain; one transaction updates one entry.
 */
#include "tailer/gtid_state.h"
#include "core/strbuf.h"
#include "mcsqueal/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses the decimal number at *p (advancing it): at least one digit, at
 * most max. strtoull() would also take signs and spaces, and costs more
 * than the rest of a transaction's GTID bookkeeping. */
static int parse_number(const char **p, uint64_t max, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return MCSQ_ERR_INVALID;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (max - d) / 10)
            return MCSQ_ERR_INVALID;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return MCSQ_OK;
}

/* Parses one "d-s-n" at *p (advancing it). */
static int parse_one(const char **p, gtid_entry *e)
{
    uint64_t v[3];
    for (int i = 0; i < 3; i++) {
        if (parse_number(p, i < 2 ? UINT32_MAX : UINT64_MAX, &v[i]) != MCSQ_OK)
            return MCSQ_ERR_INVALID;
        if (i < 2 && *(*p)++ != '-')
            return MCSQ_ERR_INVALID;
    }
    *e = (gtid_entry){(uint32_t)v[0], (uint32_t)v[1], v[2]};
    return MCSQ_OK;
}

int gtid_entry_parse(const char **p, gtid_entry *e)
{
    return parse_one(p, e);
}

static int set_entry(gtid_state *st, const gtid_entry *e)
{
    size_t i = 0;
    while (i < st->n && st->v[i].domain < e->domain)
        i++;
    if (i < st->n && st->v[i].domain == e->domain) {
        st->v[i] = *e;
        return MCSQ_OK;
    }
    if (st->n == GTID_STATE_MAX_DOMAINS)
        return MCSQ_ERR_LIMIT;
    memmove(&st->v[i + 1], &st->v[i], (st->n - i) * sizeof(st->v[0]));
    st->v[i] = *e;
    st->n++;
    return MCSQ_OK;
}

int gtid_state_parse(gtid_state *st, const char *text)
{
    st->n = 0;
    const char *p = text;
    while (*p == ' ')
        p++;
    while (*p != '\0') {
        gtid_entry e;
        if (parse_one(&p, &e) != MCSQ_OK)
            return MCSQ_ERR_INVALID;
        int rc = set_entry(st, &e);
        if (rc != MCSQ_OK)
            return MCSQ_ERR_INVALID;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return MCSQ_OK;
}

int gtid_state_update(gtid_state *st, const char *gtid)
{
    gtid_entry e;
    const char *p = gtid;
    if (parse_one(&p, &e) != MCSQ_OK || *p != '\0')
        return MCSQ_ERR_INVALID;
    return set_entry(st, &e);
}

size_t gtid_state_format(const gtid_state *st, char *out, size_t size)
{
    char entry[64]; /* "domain-server-seq," at most 10+1+10+1+20+1 */
    size_t len = 0;
    for (size_t i = 0; i < st->n; i++) {
        char *p = entry;
        if (i > 0)
            *p++ = ',';
        p = strbuf_put_u64(p, st->v[i].domain);
        *p++ = '-';
        p = strbuf_put_u64(p, st->v[i].server);
        *p++ = '-';
        p = strbuf_put_u64(p, st->v[i].seq);
        size_t n = (size_t)(p - entry);
        if (len + n < size)
            memcpy(out + len, entry, n);
        len += n;
    }
    if (size > 0)
        out[len < size ? len : size - 1] = '\0';
    return len;
}
