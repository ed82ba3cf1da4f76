/*
 * Configuration values (see config_private.h): one parser, releaser and
 * formatter per type of the table (string, integer, duration, size, boolean,
 * enum, host:port, host:port list, properties), with range checks and the
 * host:port syntax, including the public mcsq_hostport_parse(). The loader
 * and the writers call them through config_private.h.
 */
#include "core/config_private.h"
#include "core/name_rule.h"
#include "mcsqueal/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool text_to_int64(const char *text, int64_t *out)
{
    char *end;
    if (*text == '\0' || isspace((unsigned char)*text))
        return false;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* Formats a byte count with the largest exact suffix (k, M, G). */
void config_value_size_format(int64_t v, char *buf, size_t len)
{
    static const char suffix[] = "GMk";
    for (int i = 0; i < 3; i++) {
        int64_t unit = (int64_t)1 << (10 * (3 - i));
        if (v != 0 && v % unit == 0) {
            snprintf(buf, len, "%lld%c", (long long)(v / unit), suffix[i]);
            return;
        }
    }
    snprintf(buf, len, "%lld", (long long)v);
}

static int range_check(const mcsq_config_row *row, int64_t v, char *why, size_t len)
{
    char lo[32], hi[32], val[32];
    if (v >= row->min && v <= row->max)
        return MCSQ_OK;
    if (row->type == MCSQ_CONF_SIZE) {
        config_value_size_format(row->min, lo, sizeof(lo));
        config_value_size_format(row->max, hi, sizeof(hi));
        config_value_size_format(v, val, sizeof(val));
    } else {
        snprintf(lo, sizeof(lo), "%lld", (long long)row->min);
        snprintf(hi, sizeof(hi), "%lld", (long long)row->max);
        snprintf(val, sizeof(val), "%lld", (long long)v);
    }
    snprintf(why, len, "%s is out of range (%s..%s%s)", val, lo, hi,
             row->type == MCSQ_CONF_DURATION ? " ms" : "");
    return MCSQ_ERR_CONFIG;
}

static int parse_string(const mcsq_config_row *row, const char *text, void *field, char *why,
                        size_t len)
{
    (void)row;
    (void)why;
    (void)len;
    char *copy = strdup(text);
    if (copy == NULL)
        return MCSQ_ERR_NOMEM;
    free(*(char **)field);
    *(char **)field = copy;
    return MCSQ_OK;
}

static int parse_int(const mcsq_config_row *row, const char *text, void *field, char *why,
                     size_t len)
{
    int64_t v;
    if (!text_to_int64(text, &v)) {
        snprintf(why, len, "\"%s\" is not %s", text,
                 row->type == MCSQ_CONF_DURATION ? "a whole number of milliseconds" : "an integer");
        return MCSQ_ERR_CONFIG;
    }
    if (range_check(row, v, why, len) != MCSQ_OK)
        return MCSQ_ERR_CONFIG;
    *(int64_t *)field = v;
    return MCSQ_OK;
}

/* Bytes: digits with an optional suffix k, M or G (powers of 1024). */
static int parse_size(const mcsq_config_row *row, const char *text, void *field, char *why,
                      size_t len)
{
    static const char units[] = "kKmMgG";
    size_t digits = strspn(text, "0123456789");
    const char *suffix = text + digits;
    const char *unit = *suffix ? strchr(units, *suffix) : NULL;
    int shift = unit ? 10 * (1 + (int)(unit - units) / 2) : 0;
    uint64_t v = 0;
    bool ok = digits > 0 && digits <= 18 && (*suffix == '\0' || (shift && suffix[1] == '\0'));
    for (size_t i = 0; ok && i < digits; i++)
        v = v * 10 + (uint64_t)(text[i] - '0');
    if (!ok || v > ((uint64_t)INT64_MAX >> shift)) {
        snprintf(why, len, "\"%s\" is not a size in bytes (a number, optionally with k, M or G)",
                 text);
        return MCSQ_ERR_CONFIG;
    }
    if (range_check(row, (int64_t)(v << shift), why, len) != MCSQ_OK)
        return MCSQ_ERR_CONFIG;
    *(int64_t *)field = (int64_t)(v << shift);
    return MCSQ_OK;
}

static int parse_bool(const mcsq_config_row *row, const char *text, void *field, char *why,
                      size_t len)
{
    (void)row;
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
            *(bool *)field = strcasecmp(text, yes[i]) == 0;
            return MCSQ_OK;
        }
    }
    snprintf(why, len, "\"%s\" is not a boolean (true/false, yes/no, on/off, 1/0)", text);
    return MCSQ_ERR_CONFIG;
}

static void words_join(const char *const *words, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; words[i] != NULL && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", words[i]);
}

static int parse_enum(const mcsq_config_row *row, const char *text, void *field, char *why,
                      size_t len)
{
    char list[160];
    for (int i = 0; row->words[i] != NULL; i++) {
        if (strcasecmp(text, row->words[i]) == 0) {
            *(int *)field = i;
            return MCSQ_OK;
        }
    }
    words_join(row->words, list, sizeof(list));
    snprintf(why, len, "\"%s\" is not one of: %s", text, list);
    return MCSQ_ERR_CONFIG;
}

static bool host_chars_ok(const char *s, size_t n, bool bracketed)
{
    return n > 0 && name_rule_chars(s, n, bracketed ? "._-:%" : "._-");
}

/* Splits s into host and port text; false when the shape is wrong. */
static bool hostport_split(const char *s, size_t len, const char **host, size_t *hostlen,
                           const char **port, bool *bracketed)
{
    const char *colon;
    *bracketed = s[0] == '[';
    if (*bracketed) {
        const char *rb = memchr(s, ']', len);
        if (rb == NULL || (size_t)(rb - s) + 1 >= len || rb[1] != ':')
            return false;
        *host = s + 1;
        *hostlen = (size_t)(rb - *host);
        *port = rb + 2;
        return true;
    }
    colon = memrchr(s, ':', len);
    if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
        return false;
    *host = s;
    *hostlen = (size_t)(colon - s);
    *port = colon + 1;
    return true;
}

int mcsq_hostport_parse(const char *s, size_t len, mcsq_hostport *out, char *err, size_t errlen)
{
    const char *host, *port;
    size_t hostlen;
    bool bracketed;
    int64_t p = 0;
    char ptext[8] = "";
    if (len == 0 || !hostport_split(s, len, &host, &hostlen, &port, &bracketed)) {
        snprintf(err, errlen, "\"%.*s\" is not host:port (IPv6 as [address]:port)", (int)len, s);
        return MCSQ_ERR_CONFIG;
    }
    size_t plen = len - (size_t)(port - s);
    if (!host_chars_ok(host, hostlen, bracketed)) {
        snprintf(err, errlen, "\"%.*s\": bad host \"%.*s\"", (int)len, s, (int)hostlen, host);
        return MCSQ_ERR_CONFIG;
    }
    if (plen < sizeof(ptext))
        memcpy(ptext, port, plen), ptext[plen] = '\0';
    if (plen == 0 || plen >= sizeof(ptext) || strspn(ptext, "0123456789") != plen ||
        !text_to_int64(ptext, &p) || p < 1 || p > 65535) {
        snprintf(err, errlen, "\"%.*s\": port must be a number in 1..65535", (int)len, s);
        return MCSQ_ERR_CONFIG;
    }
    if (out == NULL)
        return MCSQ_OK;
    out->port = (int)p;
    out->weight = 0;
    out->host = strndup(host, hostlen);
    return out->host ? MCSQ_OK : MCSQ_ERR_NOMEM;
}

static void release_hostport(void *field)
{
    mcsq_hostport *hp = field;
    free(hp->host);
    memset(hp, 0, sizeof(*hp));
}

static int parse_hostport(const mcsq_config_row *row, const char *text, void *field, char *why,
                          size_t len)
{
    (void)row;
    mcsq_hostport hp = {NULL, 0, 0};
    if (*text != '\0') {
        int rc = mcsq_hostport_parse(text, strlen(text), &hp, why, len);
        if (rc != MCSQ_OK)
            return rc;
    }
    release_hostport(field);
    *(mcsq_hostport *)field = hp;
    return MCSQ_OK;
}

static void release_hostport_list(void *field)
{
    mcsq_hostport_list *list = field;
    for (size_t i = 0; i < list->n; i++)
        free(list->v[i].host);
    free(list->v);
    memset(list, 0, sizeof(*list));
}

/* Whether s (n bytes) is `host:port:weight` or `[address]:port:weight`. */
static bool server_has_weight(const char *s, size_t n)
{
    const char *rb = s[0] == '[' ? memchr(s, ']', n) : NULL;
    if (rb != NULL) {
        size_t after = n - (size_t)(rb - s) - 1;
        return after > 1 && memchr(rb + 2, ':', after - 1) != NULL;
    }
    size_t colons = 0;
    for (size_t i = 0; i < n; i++)
        colons += s[i] == ':';
    return colons == 2;
}

/* One `host:port[:weight]` entry of a server list. */
static int server_parse(const char *s, size_t n, mcsq_hostport *out, char *why, size_t len)
{
    bool weighted = server_has_weight(s, n);
    const char *last = memrchr(s, ':', n);
    size_t hp_len = weighted ? (size_t)(last - s) : n;
    int rc = mcsq_hostport_parse(s, hp_len, out, why, len);
    out->weight = 0;
    if (rc != MCSQ_OK || !weighted)
        return rc;
    char wtext[8] = "";
    size_t wlen = n - hp_len - 1;
    int64_t w = 0;
    if (wlen < sizeof(wtext))
        memcpy(wtext, last + 1, wlen), wtext[wlen] = '\0';
    if (wlen == 0 || wlen >= sizeof(wtext) || strspn(wtext, "0123456789") != wlen ||
        !text_to_int64(wtext, &w) || w < 1 || w > MCSQ_SERVER_WEIGHT_MAX) {
        snprintf(why, len, "\"%.*s\": weight must be a number in 1..%d", (int)n, s,
                 MCSQ_SERVER_WEIGHT_MAX);
        free(out->host);
        out->host = NULL;
        return MCSQ_ERR_CONFIG;
    }
    out->weight = (int)w;
    return MCSQ_OK;
}

/* Appends the entries of text (separated by whitespace or commas). */
int config_value_hostport_list_append(mcsq_hostport_list *list, const char *text, char *why,
                                      size_t len)
{
    static const char seps[] = " \t\v\f\r,";
    for (const char *p = text + strspn(text, seps); *p != '\0'; p += strspn(p, seps)) {
        size_t n = strcspn(p, seps);
        mcsq_hostport *v = realloc(list->v, (list->n + 1) * sizeof(*v));
        if (v == NULL)
            return MCSQ_ERR_NOMEM;
        list->v = v;
        int rc = server_parse(p, n, &list->v[list->n], why, len);
        if (rc != MCSQ_OK)
            return rc;
        list->n++;
        p += n;
    }
    return MCSQ_OK;
}

static int parse_hostport_list(const mcsq_config_row *row, const char *text, void *field, char *why,
                               size_t len)
{
    (void)row;
    release_hostport_list(field);
    return config_value_hostport_list_append(field, text, why, len);
}

static void release_string(void *field)
{
    free(*(char **)field);
    *(char **)field = NULL;
}

static void release_props(void *field)
{
    mcsq_config_props *props = field;
    for (size_t i = 0; i < props->n; i++) {
        free(props->v[i].name);
        free(props->v[i].value);
    }
    free(props->v);
    memset(props, 0, sizeof(*props));
}

static void release_none(void *field)
{
    (void)field;
}

void config_value_format(const mcsq_config_row *row, const void *field, FILE *out)
{
    char buf[32];
    switch (row->type) {
    case MCSQ_CONF_STRING:
        fputs(*(char *const *)field, out);
        break;
    case MCSQ_CONF_INT:
    case MCSQ_CONF_DURATION:
        fprintf(out, "%lld", (long long)*(const int64_t *)field);
        break;
    case MCSQ_CONF_SIZE:
        config_value_size_format(*(const int64_t *)field, buf, sizeof(buf));
        fputs(buf, out);
        break;
    case MCSQ_CONF_BOOL:
        fputs(*(const bool *)field ? "true" : "false", out);
        break;
    case MCSQ_CONF_ENUM:
        fputs(row->words[*(const int *)field], out);
        break;
    case MCSQ_CONF_HOSTPORT: {
        const mcsq_hostport *hp = field;
        if (hp->host != NULL)
            fprintf(out, strchr(hp->host, ':') ? "[%s]:%d" : "%s:%d", hp->host, hp->port);
        break;
    }
    case MCSQ_CONF_HOSTPORT_LIST: {
        const mcsq_hostport_list *list = field;
        for (size_t i = 0; i < list->n; i++) {
            fprintf(out, strchr(list->v[i].host, ':') ? "%s[%s]:%d" : "%s%s:%d", i ? " " : "",
                    list->v[i].host, list->v[i].port);
            if (list->v[i].weight > 0)
                fprintf(out, ":%d", list->v[i].weight);
        }
        break;
    }
    case MCSQ_CONF_PROPS:
    case MCSQ_CONF_NTYPES:
        break;
    }
}

typedef struct type_ops {
    const char *name;   /* for the reference */
    const char *syntax; /* for the reference */
    int (*parse)(const mcsq_config_row *row, const char *text, void *field, char *why, size_t len);
    void (*release)(void *field);
} type_ops;

static const type_ops types[MCSQ_CONF_NTYPES] = {
    [MCSQ_CONF_STRING] = {"string", "the rest of the line, without quotes", parse_string,
                          release_string},
    [MCSQ_CONF_INT] = {"integer", "a decimal number", parse_int, release_none},
    [MCSQ_CONF_BOOL] = {"boolean", "`true`/`false`, `yes`/`no`, `on`/`off` or `1`/`0`", parse_bool,
                        release_none},
    [MCSQ_CONF_ENUM] = {"enum", "one of the listed words", parse_enum, release_none},
    [MCSQ_CONF_DURATION] = {"duration", "a whole number of milliseconds", parse_int, release_none},
    [MCSQ_CONF_SIZE] = {"size", "bytes: a number with an optional suffix `k`, `M` or `G` (x1024)",
                        parse_size, release_none},
    [MCSQ_CONF_HOSTPORT] = {"host:port", "`host:port`, IPv6 addresses as `[address]:port`",
                            parse_hostport, release_hostport},
    [MCSQ_CONF_HOSTPORT_LIST] = {"host:port list",
                                 "`host:port` or `host:port:weight` entries separated by spaces "
                                 "or commas",
                                 parse_hostport_list, release_hostport_list},
    [MCSQ_CONF_PROPS] = {"properties", "`prefix.<name> = <value>` lines", NULL, release_props},
};

int config_value_parse(const mcsq_config_row *row, const char *text, void *field, char *why,
                       size_t len)
{
    return types[row->type].parse(row, text, field, why, len);
}

void config_value_release(const mcsq_config_row *row, void *field)
{
    types[row->type].release(field);
}

const char *config_value_type_name(mcsq_config_type type)
{
    return types[type].name;
}

const char *config_value_type_syntax(mcsq_config_type type)
{
    return types[type].syntax;
}
