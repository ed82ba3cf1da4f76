/*
 * Parsing a meta protocol reply header line (see meta_reply.h).
 */
#include "marker/meta_reply.h"

#include <string.h>

/* Decimal digits [s, s+len) into *v; -1 when empty, not digits or > 2^64-1. */
static int parse_u64(const char *s, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    if (len == 0 || len > 20)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

/* The t flag: "-1" (never expires) or seconds left. */
static int parse_ttl(const char *s, size_t len, meta_reply *r)
{
    uint64_t v;
    if (len == 2 && s[0] == '-' && s[1] == '1')
        r->ttl_s = -1;
    else if (parse_u64(s, len, &v) == 0 && v <= INT64_MAX)
        r->ttl_s = (int64_t)v;
    else
        return -1;
    r->has_ttl = true;
    return 0;
}

static int code_of(const char *tok, size_t len, meta_reply_code *code)
{
    static const struct {
        const char *name;
        meta_reply_code code;
    } codes[] = {{"VA", META_VA},
                 {"HD", META_HD},
                 {"EN", META_EN},
                 {"EX", META_EX},
                 {"NF", META_NF},
                 {"NS", META_NS},
                 {"MN", META_MN},
                 {"ERROR", META_ERROR},
                 {"CLIENT_ERROR", META_CLIENT_ERROR},
                 {"SERVER_ERROR", META_SERVER_ERROR}};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (strlen(codes[i].name) == len && memcmp(codes[i].name, tok, len) == 0) {
            *code = codes[i].code;
            return 0;
        }
    }
    return -1;
}

/* One flag token: a letter and its argument. */
static int flag_apply(const char *tok, size_t len, meta_reply *r)
{
    switch (tok[0]) {
    case 'c':
        return parse_u64(tok + 1, len - 1, &r->cas);
    case 't':
        return parse_ttl(tok + 1, len - 1, r);
    case 'W':
        r->win = true;
        return 0;
    case 'X':
        r->stale = true;
        return 0;
    case 'Z':
        r->won_elsewhere = true;
        return 0;
    default:
        return (tok[0] >= 'a' && tok[0] <= 'z') || (tok[0] >= 'A' && tok[0] <= 'Z') ? 0 : -1;
    }
}

/* The next space-separated token of [*p, end) into tok/len; false at the end. */
static bool next_token(const char **p, const char *end, const char **tok, size_t *len)
{
    while (*p < end && **p == ' ')
        (*p)++;
    if (*p == end)
        return false;
    *tok = *p;
    while (*p < end && **p != ' ')
        (*p)++;
    *len = (size_t)(*p - *tok);
    return true;
}

int meta_reply_parse(const char *line, size_t len, meta_reply *r)
{
    const char *p = line, *end = line + len, *tok;
    size_t tlen;
    memset(r, 0, sizeof(*r));
    if (!next_token(&p, end, &tok, &tlen) || code_of(tok, tlen, &r->code) != 0)
        return -1;
    if (r->code == META_CLIENT_ERROR || r->code == META_SERVER_ERROR || r->code == META_ERROR) {
        while (p < end && *p == ' ')
            p++;
        r->text = p;
        r->text_len = (size_t)(end - p);
        return 0;
    }
    if (r->code == META_VA &&
        (!next_token(&p, end, &tok, &tlen) || parse_u64(tok, tlen, &r->value_len) != 0))
        return -1;
    while (next_token(&p, end, &tok, &tlen)) {
        if (flag_apply(tok, tlen, r) != 0)
            return -1;
    }
    return 0;
}
