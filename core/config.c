/*
 * Loading the configuration (see config.h): defaults from the table, then the
 * INI file through libinih, then a separate validation pass. Every problem is
 * collected, never just the first, as "FILE:LINE: message".
 *
 * libinih (as packaged) does not pass line numbers to its handler, so the
 * file is fed to ini_parse_stream() by our own line reader, which counts
 * lines, recognizes section headers (so that empty and unknown sections are
 * seen too) and notices lines inih rejected without calling the handler.
 * Indented lines continue the previous key's value (inih's multi-line
 * values); only list values may do that.
 *
 * Also here: conversion of each value type, and the two writers that walk
 * the table: the Markdown reference and the effective configuration.
 */
#include "core/config.h"
#include "mcsqueal/error.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define WHY_LEN 320
#define PASSWORD_MAX 4096

/* ---------------------------------------------------------------- errors */

void mcsq_config_errors_init(mcsq_config_errors *errs)
{
    memset(errs, 0, sizeof(*errs));
}

void mcsq_config_errors_deinit(mcsq_config_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        free(errs->v[i].text);
    free(errs->v);
    memset(errs, 0, sizeof(*errs));
}

void mcsq_config_errors_print(const mcsq_config_errors *errs, FILE *out)
{
    for (size_t i = 0; i < errs->n; i++)
        fprintf(out, "%s\n", errs->v[i].text);
    if (errs->dropped > 0)
        fprintf(out, "(%zu more errors not shown)\n", errs->dropped);
}

static void errors_add(mcsq_config_errors *errs, const char *path, int line, const char *msg)
{
    char *text = NULL;
    int n;
    if (errs->n >= MCSQ_CONFIG_MAX_ERRORS) {
        errs->dropped++;
        return;
    }
    if (line > 0)
        n = asprintf(&text, "%s:%d: %s", path, line, msg);
    else
        n = asprintf(&text, "%s: %s", path, msg);
    mcsq_config_error *v = n < 0 ? NULL : realloc(errs->v, (errs->n + 1) * sizeof(*v));
    if (v == NULL) {
        free(n < 0 ? NULL : text);
        errs->dropped++;
        return;
    }
    errs->v = v;
    errs->v[errs->n++] = (mcsq_config_error){line, text};
}

/* Orders the errors from index first on by line, keeping the order of
 * errors on one line (insertion sort: the list is short). */
static void errors_sort(mcsq_config_errors *errs, size_t first)
{
    for (size_t i = first + 1; i < errs->n; i++) {
        mcsq_config_error e = errs->v[i];
        size_t j = i;
        for (; j > first && errs->v[j - 1].line > e.line; j--)
            errs->v[j] = errs->v[j - 1];
        errs->v[j] = e;
    }
}

/* ------------------------------------------------------------ value types */

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
static void size_format(int64_t v, char *buf, size_t len)
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
        size_format(row->min, lo, sizeof(lo));
        size_format(row->max, hi, sizeof(hi));
        size_format(v, val, sizeof(val));
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
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_' &&
            !(bracketed && (c == ':' || c == '%')))
            return false;
    }
    return n > 0;
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
    mcsq_hostport hp = {NULL, 0};
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

/* Appends the entries of text (separated by whitespace or commas). */
static int hostport_list_append(mcsq_hostport_list *list, const char *text, char *why, size_t len)
{
    static const char seps[] = " \t\v\f\r,";
    for (const char *p = text + strspn(text, seps); *p != '\0'; p += strspn(p, seps)) {
        size_t n = strcspn(p, seps);
        mcsq_hostport *v = realloc(list->v, (list->n + 1) * sizeof(*v));
        if (v == NULL)
            return MCSQ_ERR_NOMEM;
        list->v = v;
        int rc = mcsq_hostport_parse(p, n, &list->v[list->n], why, len);
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
    release_hostport_list(field);
    return hostport_list_append(field, text, why, len);
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

static void release_none(void *field) {}

static void format_value(const mcsq_config_row *row, const void *field, FILE *out)
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
        size_format(*(const int64_t *)field, buf, sizeof(buf));
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
        for (size_t i = 0; i < list->n; i++)
            fprintf(out, strchr(list->v[i].host, ':') ? "%s[%s]:%d" : "%s%s:%d", i ? " " : "",
                    list->v[i].host, list->v[i].port);
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
                                 "`host:port` entries separated by spaces or commas",
                                 parse_hostport_list, release_hostport_list},
    [MCSQ_CONF_PROPS] = {"properties", "`prefix.<name> = <value>` lines", NULL, release_props},
};

/* -------------------------------------------------------------- the table */

static bool row_is_pool(const mcsq_config_row *row)
{
    return strcmp(row->section, "pool") == 0;
}

static void *row_field(const mcsq_config_row *row, void *base)
{
    return (char *)base + row->offset;
}

static const void *row_cfield(const mcsq_config_row *row, const void *base)
{
    return (const char *)base + row->offset;
}

static int row_set_default(const mcsq_config_row *row, void *base)
{
    char why[WHY_LEN];
    const char *def = row->def;
    if (def == NULL && row->type != MCSQ_CONF_STRING)
        return MCSQ_OK; /* zeroed: empty list */
    int rc = types[row->type].parse(row, def ? def : "", row_field(row, base), why, sizeof(why));
    assert(rc != MCSQ_ERR_CONFIG && "a default in the table does not parse");
    return rc;
}

/* Sets the defaults of the pool rows (pool) or of all other rows. */
static int fill_defaults(void *base, bool pool)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (row_is_pool(&rows[i]) != pool)
            continue;
        int rc = row_set_default(&rows[i], base);
        if (rc != MCSQ_OK)
            return rc;
    }
    return MCSQ_OK;
}

static void release_rows(void *base, bool pool)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (row_is_pool(&rows[i]) == pool)
            types[rows[i].type].release(row_field(&rows[i], base));
    }
}

int mcsq_config_defaults(mcsq_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    int rc = fill_defaults(cfg, false);
    if (rc != MCSQ_OK)
        mcsq_config_deinit(cfg);
    return rc;
}

void mcsq_config_deinit(mcsq_config *cfg)
{
    release_rows(cfg, false);
    for (size_t i = 0; i < cfg->npools; i++) {
        release_rows(&cfg->pools[i], true);
        free(cfg->pools[i].name);
    }
    free(cfg->pools);
    if (cfg->mysql.password != NULL) {
        explicit_bzero(cfg->mysql.password, strlen(cfg->mysql.password));
        free(cfg->mysql.password);
    }
    mcsq_start_deinit(&cfg->mysql.start_at);
    free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---------------------------------------------------------------- loading */

typedef enum line_kind {
    LINE_OTHER,       /* blank, comment or section header */
    LINE_KEY,         /* inih must call the handler for it */
    LINE_CONTINUATION /* indented: continues the previous key's value */
} line_kind;

typedef enum section_state {
    SECTION_NONE, /* before the first header */
    SECTION_GLOBAL,
    SECTION_POOL,
    SECTION_SKIP /* unknown or broken header, already reported */
} section_state;

typedef struct load_ctx {
    mcsq_config *cfg;
    mcsq_config_errors *errs; /* (ref) */
    const char *path;         /* (ref) */
    FILE *f;
    char *buf;
    size_t bufcap;
    int lineno;
    line_kind kind;
    bool handled;       /* the handler ran for the current line */
    bool have_prev_key; /* as inih's prev_name: indented lines continue a key */
    section_state state;
    const char *section;             /* table name of the current section */
    size_t pool;                     /* SECTION_POOL: index into cfg->pools */
    const mcsq_config_row *prev_row; /* the key an indented line continues */
    size_t nrows, nsections;
    int *section_line; /* per global section: line of its header */
    int *key_line;     /* per slot (0: global, 1 + i: pool i) and row */
    size_t nerrors;
    bool nomem;
} load_ctx;

static void ctx_error(load_ctx *ctx, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ctx_error(load_ctx *ctx, int line, const char *fmt, ...)
{
    char msg[WHY_LEN + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctx->nerrors++;
    if (ctx->errs != NULL)
        errors_add(ctx->errs, ctx->path, line, msg);
}

static void ctx_rc(load_ctx *ctx, int rc, int line, const char *label, const char *why)
{
    if (rc == MCSQ_ERR_NOMEM)
        ctx->nomem = true;
    else if (rc != MCSQ_OK)
        ctx_error(ctx, line, "%s: %s", label, why);
}

/* "[section] key" or "[pool NAME] key" for messages. */
static const char *key_label(char *buf, size_t len, const mcsq_pool_config *pool,
                             const mcsq_config_row *row, const char *name)
{
    if (pool != NULL)
        snprintf(buf, len, "[pool %s] %s", pool->name, name);
    else
        snprintf(buf, len, "[%s] %s", row->section, name);
    return buf;
}

static const mcsq_pool_config *ctx_pool(const load_ctx *ctx)
{
    return ctx->state == SECTION_POOL ? &ctx->cfg->pools[ctx->pool] : NULL;
}

static void *ctx_base(load_ctx *ctx)
{
    return ctx->state == SECTION_POOL ? (void *)&ctx->cfg->pools[ctx->pool] : (void *)ctx->cfg;
}

static int *key_line_slot(load_ctx *ctx, size_t slot, const mcsq_config_row *row)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    return &ctx->key_line[slot * ctx->nrows + (size_t)(row - rows)];
}

static int *ctx_key_line(load_ctx *ctx, const mcsq_config_row *row)
{
    return key_line_slot(ctx, ctx->state == SECTION_POOL ? 1 + ctx->pool : 0, row);
}

/* Levenshtein distance of two short names; SIZE_MAX for long ones. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), prev[65], cur[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);
            best = prev[j] + 1 < best ? prev[j] + 1 : best;
            cur[j] = cur[j - 1] + 1 < best ? cur[j - 1] + 1 : best;
        }
        memcpy(prev, cur, sizeof(prev));
    }
    return prev[lb];
}

/* Returns whichever of the candidates is within 2 edits of name, or NULL. */
static const char *suggest(const char *name, const char *candidate, const char *best)
{
    size_t d = edit_distance(name, candidate);
    if (d > 2 || d >= strlen(name))
        return best;
    if (best == NULL || d < edit_distance(name, best))
        return candidate;
    return best;
}

static bool key_matches(const mcsq_config_row *row, const char *name)
{
    if (row->type != MCSQ_CONF_PROPS)
        return strcmp(row->name, name) == 0;
    return strncmp(row->name, name, strlen(row->name) - 1) == 0; /* "kafka.*" */
}

static const mcsq_config_row *row_find(const char *section, const char *name)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].section, section) == 0 && key_matches(&rows[i], name))
            return &rows[i];
    }
    return NULL;
}

static void report_unknown_key(load_ctx *ctx, const char *name)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    const char *best = NULL;
    char label[128], hint[128] = "";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].section, ctx->section) == 0 && rows[i].type != MCSQ_CONF_PROPS)
            best = suggest(name, rows[i].name, best);
    }
    if (best != NULL)
        snprintf(hint, sizeof(hint), " (did you mean \"%s\"?)", best);
    if (ctx->state == SECTION_POOL)
        snprintf(label, sizeof(label), "[pool %s]", ctx_pool(ctx)->name);
    else
        snprintf(label, sizeof(label), "[%s]", ctx->section);
    ctx_error(ctx, ctx->lineno, "%s: unknown key \"%s\"%s", label, name, hint);
}

static int props_add(mcsq_config_props *props, const char *name, const char *value, int line)
{
    mcsq_config_prop *v = realloc(props->v, (props->n + 1) * sizeof(*v));
    if (v == NULL)
        return MCSQ_ERR_NOMEM;
    props->v = v;
    mcsq_config_prop prop = {strdup(name), strdup(value), line};
    if (prop.name == NULL || prop.value == NULL) {
        free(prop.name);
        free(prop.value);
        return MCSQ_ERR_NOMEM;
    }
    props->v[props->n++] = prop;
    return MCSQ_OK;
}

static void set_prop(load_ctx *ctx, const mcsq_config_row *row, const char *name, const char *value)
{
    mcsq_config_props *props = row_field(row, ctx_base(ctx));
    const char *prop = name + strlen(row->name) - 1;
    char label[128];
    key_label(label, sizeof(label), ctx_pool(ctx), row, name);
    if (*prop == '\0') {
        ctx_error(ctx, ctx->lineno, "%s: property name missing", label);
        return;
    }
    if (*value == '\0') {
        ctx_error(ctx, ctx->lineno, "%s: value must not be empty", label);
        return;
    }
    for (size_t i = 0; i < props->n; i++) {
        if (strcmp(props->v[i].name, prop) == 0) {
            ctx_error(ctx, ctx->lineno, "%s: set twice (first on line %d)", label,
                      props->v[i].line);
            return;
        }
    }
    if (props_add(props, prop, value, ctx->lineno) != MCSQ_OK)
        ctx->nomem = true;
}

static void set_key(load_ctx *ctx, const char *name, const char *value)
{
    const mcsq_config_row *row = row_find(ctx->section, name);
    char label[128], why[WHY_LEN];
    if (row == NULL) {
        report_unknown_key(ctx, name);
        return;
    }
    if (row->type == MCSQ_CONF_PROPS) {
        set_prop(ctx, row, name, value);
        return;
    }
    key_label(label, sizeof(label), ctx_pool(ctx), row, name);
    int *line = ctx_key_line(ctx, row);
    if (*line != 0) {
        ctx_error(ctx, ctx->lineno, "%s: set twice (first on line %d)", label, *line);
        return;
    }
    *line = ctx->lineno;
    ctx->prev_row = row;
    int rc = types[row->type].parse(row, value, row_field(row, ctx_base(ctx)), why, sizeof(why));
    ctx_rc(ctx, rc, ctx->lineno, label, why);
}

/* An indented line: appends to a list, anything else is an error. */
static void continue_key(load_ctx *ctx, const char *value)
{
    const mcsq_config_row *row = ctx->prev_row;
    char label[128], why[WHY_LEN];
    if (ctx->state == SECTION_SKIP)
        return;
    if (row == NULL || row->type != MCSQ_CONF_HOSTPORT_LIST) {
        ctx_error(ctx, ctx->lineno,
                  "indented line continues the previous key's value, which must be a list; "
                  "do not indent keys");
        ctx->prev_row = NULL;
        return;
    }
    key_label(label, sizeof(label), ctx_pool(ctx), row, row->name);
    int rc = hostport_list_append(row_field(row, ctx_base(ctx)), value, why, sizeof(why));
    ctx_rc(ctx, rc, ctx->lineno, label, why);
}

/* inih's handler: called for every key line and every continuation line. */
static int on_ini_value(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *ctx = user;
    ctx->handled = true;
    if (ctx->kind == LINE_CONTINUATION) {
        continue_key(ctx, value);
        return 1;
    }
    ctx->have_prev_key = name[0] != '\0'; /* inih's test of prev_name */
    ctx->prev_row = NULL;
    if (ctx->state == SECTION_NONE)
        ctx_error(ctx, ctx->lineno, "key \"%s\" is outside any [section]", name);
    else if (ctx->state != SECTION_SKIP)
        set_key(ctx, name, value);
    return 1; /* errors are collected here, not counted by inih */
}

static bool pool_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return false;
    }
    return true;
}

/* Appends a pool with its defaults and makes it the current section. */
static int pool_add(load_ctx *ctx, const char *name, size_t len)
{
    mcsq_config *cfg = ctx->cfg;
    size_t slots = cfg->npools + 2;
    int *lines = realloc(ctx->key_line, slots * ctx->nrows * sizeof(*lines));
    if (lines == NULL)
        return MCSQ_ERR_NOMEM;
    ctx->key_line = lines;
    memset(lines + (slots - 1) * ctx->nrows, 0, ctx->nrows * sizeof(*lines));
    mcsq_pool_config *pools = realloc(cfg->pools, (cfg->npools + 1) * sizeof(*pools));
    if (pools == NULL)
        return MCSQ_ERR_NOMEM;
    cfg->pools = pools;
    mcsq_pool_config *pool = &pools[cfg->npools];
    memset(pool, 0, sizeof(*pool));
    pool->line = ctx->lineno;
    pool->name = strndup(name, len);
    if (pool->name == NULL || fill_defaults(pool, true) != MCSQ_OK) {
        release_rows(pool, true);
        free(pool->name);
        return MCSQ_ERR_NOMEM;
    }
    ctx->pool = cfg->npools++;
    ctx->state = SECTION_POOL;
    ctx->section = "pool";
    return MCSQ_OK;
}

static void open_pool(load_ctx *ctx, const char *name, size_t len)
{
    const mcsq_config *cfg = ctx->cfg;
    if (!pool_name_ok(name, len)) {
        ctx_error(ctx, ctx->lineno,
                  "[pool %.*s]: expected [pool NAME], NAME 1-64 of A-Z a-z 0-9 _ -", (int)len,
                  name);
        return;
    }
    for (size_t i = 0; i < cfg->npools; i++) {
        if (strlen(cfg->pools[i].name) == len && memcmp(cfg->pools[i].name, name, len) == 0) {
            ctx_error(ctx, ctx->lineno, "duplicate section [pool %.*s] (first on line %d)",
                      (int)len, name, cfg->pools[i].line);
            return;
        }
    }
    if (pool_add(ctx, name, len) != MCSQ_OK)
        ctx->nomem = true;
}

static void open_global(load_ctx *ctx, const mcsq_config_section *sec, size_t index)
{
    if (ctx->section_line[index] != 0) {
        ctx_error(ctx, ctx->lineno, "duplicate section [%s] (first on line %d)", sec->name,
                  ctx->section_line[index]);
        return;
    }
    ctx->section_line[index] = ctx->lineno;
    ctx->state = SECTION_GLOBAL;
    ctx->section = sec->name;
}

static void report_unknown_section(load_ctx *ctx, const char *name, size_t len)
{
    size_t n;
    const mcsq_config_section *secs = mcsq_config_sections(&n);
    char word[65] = "", hint[96] = "";
    const char *best = NULL;
    if (len < sizeof(word))
        memcpy(word, name, len), word[len] = '\0';
    for (size_t i = 0; i < n && word[0] != '\0'; i++)
        best = suggest(word, secs[i].name, best);
    if (best != NULL)
        snprintf(hint, sizeof(hint), " (did you mean [%s]?)", best);
    ctx_error(ctx, ctx->lineno, "unknown section [%.*s]%s", (int)len, name, hint);
}

/* A "[name]" or "[name NAME]" header; name/len is the trimmed text. */
static void open_section(load_ctx *ctx, const char *name, size_t len)
{
    size_t n, word = 0;
    const mcsq_config_section *secs = mcsq_config_sections(&n);
    while (word < len && !isspace((unsigned char)name[word]))
        word++;
    const char *rest = name + word;
    size_t restlen = len - word;
    while (restlen > 0 && isspace((unsigned char)*rest))
        rest++, restlen--;
    ctx->have_prev_key = false;
    ctx->prev_row = NULL;
    ctx->state = SECTION_SKIP;
    for (size_t i = 0; i < n; i++) {
        if (strlen(secs[i].name) != word || memcmp(secs[i].name, name, word) != 0)
            continue;
        if (secs[i].named)
            open_pool(ctx, rest, restlen);
        else if (restlen > 0)
            ctx_error(ctx, ctx->lineno, "[%.*s]: section [%s] takes no name", (int)len, name,
                      secs[i].name);
        else
            open_global(ctx, &secs[i], i);
        return;
    }
    report_unknown_section(ctx, name, len);
}

/* As inih's ini_find_chars_or_comment(s, "]"): the ']' or an inline comment. */
static const char *find_bracket(const char *s)
{
    bool was_space = false;
    while (*s != '\0' && *s != ']' && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

static void section_header(load_ctx *ctx, const char *start)
{
    const char *end = find_bracket(start + 1);
    const char *after = end + (*end == ']');
    after += strspn(after, " \t\v\f\r");
    if (*end != ']' || (*after != '\0' && *after != ';' && *after != '#')) {
        ctx_error(ctx, ctx->lineno, "%s",
                  *end != ']' ? "section header without ']'" : "unexpected text after ']'");
        ctx->state = SECTION_SKIP;
        return;
    }
    const char *name = start + 1;
    while (name < end && isspace((unsigned char)*name))
        name++;
    size_t len = (size_t)(end - name);
    while (len > 0 && isspace((unsigned char)name[len - 1]))
        len--;
    open_section(ctx, name, len);
}

/* Classifies a line the way inih will treat it. */
static void classify_line(load_ctx *ctx, const char *line)
{
    const char *start = line;
    while (isspace((unsigned char)*start))
        start++;
    ctx->kind = LINE_OTHER;
    if (*start == '\0' || *start == ';' || *start == '#')
        return;
    if (start > line && ctx->have_prev_key)
        ctx->kind = LINE_CONTINUATION;
    else if (*start == '[')
        section_header(ctx, start);
    else
        ctx->kind = LINE_KEY;
}

/* Called before each read: a key line inih did not hand over was malformed. */
static void check_line_handled(load_ctx *ctx)
{
    if (ctx->kind != LINE_OTHER && !ctx->handled)
        ctx_error(ctx, ctx->lineno, "expected \"key = value\", \"[section]\" or a comment");
    ctx->kind = LINE_OTHER;
    ctx->handled = false;
}

/* Reads one physical line into ctx->buf; returns its length without the
 * line end, or -1 at the end of the file. */
static ssize_t read_line(load_ctx *ctx)
{
    errno = 0;
    ssize_t len = getline(&ctx->buf, &ctx->bufcap, ctx->f);
    if (len < 0) {
        if (ferror(ctx->f))
            ctx_error(ctx, 0, "read error: %s", strerror(errno ? errno : EIO));
        return -1;
    }
    ctx->lineno++;
    if (len > 0 && ctx->buf[len - 1] == '\n')
        ctx->buf[--len] = '\0';
    if (len > 0 && ctx->buf[len - 1] == '\r')
        ctx->buf[--len] = '\0';
    return len;
}

/* inih's fgets-style reader: one line per call, with its number counted. */
static char *ini_read(char *str, int num, void *stream)
{
    load_ctx *ctx = stream;
    check_line_handled(ctx);
    ssize_t len = read_line(ctx);
    if (len < 0)
        return NULL;
    char *line = ctx->buf;
    if (ctx->lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3, len -= 3;
    if ((ssize_t)strlen(line) != len) {
        ctx_error(ctx, ctx->lineno, "line contains a NUL byte");
        line[0] = '\0', len = 0;
    } else if (len + 2 > num) {
        ctx_error(ctx, ctx->lineno,
                  "line is longer than %d bytes (a long list continues on indented lines)",
                  num - 2);
        line[0] = '\0', len = 0;
    }
    classify_line(ctx, line);
    memcpy(str, line, (size_t)len);
    memcpy(str + len, "\n", 2);
    return str;
}

/* ------------------------------------------------------------- validation */

static int string_check(const mcsq_config_row *row, const char *value, char *why, size_t len)
{
    size_t n = strlen(value);
    if ((int64_t)n < row->min) {
        snprintf(why, len, "must not be empty");
        return MCSQ_ERR_CONFIG;
    }
    if (row->max > 0 && (int64_t)n > row->max) {
        snprintf(why, len, "\"%.40s...\" is longer than %lld bytes", value, (long long)row->max);
        return MCSQ_ERR_CONFIG;
    }
    return n > 0 && row->check != NULL ? row->check(value, why, len) : MCSQ_OK;
}

static int list_check(const mcsq_config_row *row, const mcsq_hostport_list *list, char *why,
                      size_t len)
{
    if ((int64_t)list->n < row->min) {
        snprintf(why, len, "required: at least %lld host:port", (long long)row->min);
        return MCSQ_ERR_CONFIG;
    }
    if ((int64_t)list->n > row->max) {
        snprintf(why, len, "more than %lld entries", (long long)row->max);
        return MCSQ_ERR_CONFIG;
    }
    for (size_t i = 0; i < list->n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (list->v[i].port == list->v[j].port &&
                strcmp(list->v[i].host, list->v[j].host) == 0) {
                snprintf(why, len, "%s:%d is listed twice", list->v[i].host, list->v[i].port);
                return MCSQ_ERR_CONFIG;
            }
        }
    }
    return MCSQ_OK;
}

static int row_check(const mcsq_config_row *row, const void *field, char *why, size_t len)
{
    switch (row->type) {
    case MCSQ_CONF_STRING:
        return string_check(row, *(char *const *)field, why, len);
    case MCSQ_CONF_HOSTPORT_LIST:
        return list_check(row, field, why, len);
    case MCSQ_CONF_HOSTPORT:
        if (row->min > 0 && ((const mcsq_hostport *)field)->host == NULL) {
            snprintf(why, len, "must not be empty");
            return MCSQ_ERR_CONFIG;
        }
        return MCSQ_OK;
    default:
        return MCSQ_OK;
    }
}

/* Checks the rows of one slot: 0 the global rows, 1 + i those of pool i. */
static void validate_slot(load_ctx *ctx, size_t slot)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    const mcsq_pool_config *pool = slot > 0 ? &ctx->cfg->pools[slot - 1] : NULL;
    const void *base = pool ? (const void *)pool : (const void *)ctx->cfg;
    char label[128], why[WHY_LEN];
    for (size_t i = 0; i < n; i++) {
        if (row_is_pool(&rows[i]) != (pool != NULL))
            continue;
        if (row_check(&rows[i], row_cfield(&rows[i], base), why, sizeof(why)) == MCSQ_OK)
            continue;
        int line = *key_line_slot(ctx, slot, &rows[i]);
        key_label(label, sizeof(label), pool, &rows[i], rows[i].name);
        ctx_error(ctx, line ? line : pool ? pool->line : 0, "%s: %s", label, why);
    }
}

static int replace_string(char **field, const char *value)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return MCSQ_ERR_NOMEM;
    free(*field);
    *field = copy;
    return MCSQ_OK;
}

/* mcsqueal.name defaults to the host name, bus.topic to mcsqueal.<region>. */
static void derive_defaults(load_ctx *ctx)
{
    mcsq_config *cfg = ctx->cfg;
    char buf[300], why[WHY_LEN];
    if (cfg->mcsqueal.name[0] == '\0') {
        int rc = gethostname(buf, 256);
        buf[255] = '\0';
        if (rc != 0 || buf[0] == '\0')
            ctx_error(ctx, 0, "[mcsqueal] name: not set, and the host name is unknown");
        else if (replace_string(&cfg->mcsqueal.name, buf) != MCSQ_OK)
            ctx->nomem = true;
    }
    const mcsq_config_row *region = row_find("mcsqueal", "region");
    if (cfg->bus.topic[0] != '\0' || row_check(region, &cfg->mcsqueal.region, why, sizeof(why)))
        return; /* a bad region is reported once, as itself */
    snprintf(buf, sizeof(buf), "mcsqueal.%s", cfg->mcsqueal.region);
    if (replace_string(&cfg->bus.topic, buf) != MCSQ_OK)
        ctx->nomem = true;
}

static void validate_pools(load_ctx *ctx)
{
    const mcsq_config *cfg = ctx->cfg;
    const mcsq_pool_config *regional = NULL;
    const mcsq_config_row *role = row_find("pool", "role");
    for (size_t i = 0; i < cfg->npools; i++) {
        if (cfg->pools[i].role != MCSQ_POOL_REGIONAL)
            continue;
        if (regional != NULL)
            ctx_error(ctx, *key_line_slot(ctx, 1 + i, role),
                      "[pool %s] role: a second regional pool (the first is [pool %s] on line "
                      "%d); at most one is allowed",
                      cfg->pools[i].name, regional->name, regional->line);
        else
            regional = &cfg->pools[i];
    }
}

static void validate_start(load_ctx *ctx)
{
    char why[WHY_LEN];
    mcsq_config *cfg = ctx->cfg;
    int rc = mcsq_start_parse(cfg->mysql.start, &cfg->mysql.start_at, why, sizeof(why));
    if (rc == MCSQ_ERR_NOMEM)
        ctx->nomem = true; /* a syntax error was reported by the row's check */
}

/* Reads a password file: at most PASSWORD_MAX bytes, trailing newlines cut. */
static int read_password_file(const char *path, char **out, char *why, size_t len)
{
    char buf[PASSWORD_MAX + 1];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(why, len, "cannot open \"%s\": %s", path, strerror(errno));
        return MCSQ_ERR_CONFIG;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    bool failed = ferror(f) != 0, too_big = n > PASSWORD_MAX;
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    const char *problem = failed                 ? "cannot be read"
                          : too_big              ? "is larger than 4096 bytes"
                          : n == 0               ? "is empty"
                          : memchr(buf, '\0', n) ? "contains a NUL byte"
                                                 : NULL;
    if (problem == NULL)
        *out = strndup(buf, n);
    explicit_bzero(buf, sizeof(buf));
    if (problem != NULL) {
        snprintf(why, len, "\"%s\" %s", path, problem);
        return MCSQ_ERR_CONFIG;
    }
    return *out != NULL ? MCSQ_OK : MCSQ_ERR_NOMEM;
}

/* The password: from password_file, else from the environment, else none. */
static void load_password(load_ctx *ctx)
{
    mcsq_config *cfg = ctx->cfg;
    char why[WHY_LEN];
    if (cfg->mysql.password_file[0] == '\0') {
        const char *env = getenv(MCSQ_CONFIG_PASSWORD_ENV);
        if (env != NULL && *env != '\0' && (cfg->mysql.password = strdup(env)) == NULL)
            ctx->nomem = true;
        return;
    }
    int rc = read_password_file(cfg->mysql.password_file, &cfg->mysql.password, why, sizeof(why));
    int line = *key_line_slot(ctx, 0, row_find("mysql", "password_file"));
    ctx_rc(ctx, rc, line, "[mysql] password_file", why);
}

static void validate(load_ctx *ctx)
{
    derive_defaults(ctx);
    for (size_t slot = 0; slot <= ctx->cfg->npools; slot++)
        validate_slot(ctx, slot);
    validate_pools(ctx);
    validate_start(ctx);
    load_password(ctx);
}

/* -------------------------------------------------------------- load */

static int ctx_init(load_ctx *ctx, mcsq_config *cfg, const char *path, mcsq_config_errors *errs)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->cfg = cfg;
    ctx->errs = errs;
    ctx->path = path;
    mcsq_config_table(&ctx->nrows);
    mcsq_config_sections(&ctx->nsections);
    ctx->key_line = calloc(ctx->nrows, sizeof(int));
    ctx->section_line = calloc(ctx->nsections, sizeof(int));
    return ctx->key_line && ctx->section_line ? MCSQ_OK : MCSQ_ERR_NOMEM;
}

static void ctx_deinit(load_ctx *ctx)
{
    if (ctx->f != NULL)
        fclose(ctx->f);
    free(ctx->buf);
    free(ctx->key_line);
    free(ctx->section_line);
}

/* Parses the open file; returns 0 or MCSQ_ERR_NOMEM (errors are collected). */
static int parse_file(load_ctx *ctx)
{
    size_t before = ctx->nerrors;
    int rc = ini_parse_stream(ini_read, ctx, on_ini_value, ctx);
    if (rc == -2 || ctx->nomem)
        return MCSQ_ERR_NOMEM;
    if (rc > 0 && ctx->nerrors == before) /* inih saw something we did not */
        ctx_error(ctx, rc, "syntax error");
    return MCSQ_OK;
}

int mcsq_config_load(mcsq_config *cfg, const char *path, mcsq_config_errors *errs)
{
    load_ctx ctx;
    size_t first = errs ? errs->n : 0;
    int rc = mcsq_config_defaults(cfg);
    if (rc != MCSQ_OK)
        return rc;
    if (ctx_init(&ctx, cfg, path, errs) != MCSQ_OK || !(cfg->path = strdup(path))) {
        rc = MCSQ_ERR_NOMEM;
    } else if ((ctx.f = fopen(path, "r")) == NULL) {
        ctx_error(&ctx, 0, "cannot open: %s", strerror(errno));
    } else if ((rc = parse_file(&ctx)) == MCSQ_OK) {
        validate(&ctx);
        rc = ctx.nomem ? MCSQ_ERR_NOMEM : MCSQ_OK;
    }
    if (rc == MCSQ_OK && ctx.nerrors > 0)
        rc = MCSQ_ERR_CONFIG;
    if (errs != NULL)
        errors_sort(errs, first);
    ctx_deinit(&ctx);
    if (rc != MCSQ_OK)
        mcsq_config_deinit(cfg);
    return rc;
}

/* ---------------------------------------------------------------- helpers */

int mcsq_config_consumer_group(const mcsq_config *cfg, char *buf, size_t size)
{
    int n = snprintf(buf, size, "mcsqueal.%s.%s", cfg->mcsqueal.region, cfg->router.cluster);
    return n >= 0 && (size_t)n < size ? MCSQ_OK : MCSQ_ERR_LIMIT;
}

const mcsq_pool_config *mcsq_config_regional_pool(const mcsq_config *cfg)
{
    for (size_t i = 0; i < cfg->npools; i++) {
        if (cfg->pools[i].role == MCSQ_POOL_REGIONAL)
            return &cfg->pools[i];
    }
    return NULL;
}

/* ---------------------------------------------------------------- writers */

static int finish_output(FILE *out)
{
    return fflush(out) == 0 && !ferror(out) ? MCSQ_OK : MCSQ_ERR_IO;
}

/* Writes text for a Markdown table cell ('|' escaped). */
static void md_cell(FILE *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '|')
            fputc('\\', out);
        fputc(*p == '\n' ? ' ' : *p, out);
    }
}

static void write_range(FILE *out, const mcsq_config_row *row)
{
    char lo[32], hi[32];
    if (row->type == MCSQ_CONF_SIZE) {
        size_format(row->min, lo, sizeof(lo));
        size_format(row->max, hi, sizeof(hi));
        fprintf(out, "%s..%s", lo, hi);
    } else {
        fprintf(out, "%lld..%lld%s", (long long)row->min, (long long)row->max,
                row->type == MCSQ_CONF_DURATION ? " ms" : "");
    }
}

static void write_string_limits(FILE *out, const mcsq_config_row *row)
{
    const char *sep = row->allowed_doc ? "; " : "";
    if (row->min > 0 && row->max > 0)
        fprintf(out, "%s%lld..%lld bytes", sep, (long long)row->min, (long long)row->max);
    else if (row->max > 0)
        fprintf(out, "%sat most %lld bytes", sep, (long long)row->max);
    else if (row->min > 0)
        fprintf(out, "%snot empty", sep);
}

static void write_allowed(FILE *out, const mcsq_config_row *row)
{
    if (row->allowed_doc != NULL)
        md_cell(out, row->allowed_doc);
    switch (row->type) {
    case MCSQ_CONF_INT:
    case MCSQ_CONF_DURATION:
    case MCSQ_CONF_SIZE:
        write_range(out, row);
        break;
    case MCSQ_CONF_STRING:
        write_string_limits(out, row);
        break;
    case MCSQ_CONF_ENUM:
        for (size_t i = 0; row->words[i] != NULL; i++)
            fprintf(out, "%s`%s`", i ? ", " : "", row->words[i]);
        break;
    case MCSQ_CONF_BOOL:
        fputs("`true`, `false`", out);
        break;
    case MCSQ_CONF_HOSTPORT:
        fputs(row->min > 0 ? "`host:port`" : "`host:port` or empty", out);
        break;
    case MCSQ_CONF_HOSTPORT_LIST:
        fprintf(out, "%lld..%lld entries", (long long)row->min, (long long)row->max);
        break;
    default:
        break;
    }
}

static void write_default(FILE *out, const mcsq_config_row *row)
{
    if (row->def == NULL)
        md_cell(out, row->def_doc ? row->def_doc : "none");
    else if (row->def[0] == '\0')
        fputs("empty", out);
    else
        fprintf(out, "`%s`", row->def);
}

static void write_reference_row(FILE *out, const mcsq_config_row *row)
{
    fprintf(out, "| `%s` | %s | ", row->name, types[row->type].name);
    write_default(out, row);
    fputs(" | ", out);
    write_allowed(out, row);
    fputs(" | ", out);
    md_cell(out, row->desc);
    fputs(" |\n", out);
}

static void write_reference_section(FILE *out, const mcsq_config_section *sec)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    fprintf(out, "\n## [%s%s]\n\n%s\n\n", sec->name, sec->named ? " NAME" : "", sec->desc);
    fputs("| Key | Type | Default | Allowed | Description |\n"
          "| --- | --- | --- | --- | --- |\n",
          out);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].section, sec->name) == 0)
            write_reference_row(out, &rows[i]);
    }
}

static void write_reference_intro(FILE *out)
{
    fputs("# Configuration reference\n\n"
          "<!-- Generated from core/config_table.c by `mcsqueal check-config --reference`; "
          "do not edit. -->\n\n"
          "Every mcsqueal command reads one INI file, named with `--config FILE`. "
          "`mcsqueal check-config --config FILE` validates a file: it prints `FILE: ok`, or "
          "every problem as `FILE:LINE: message` and exits 2. Add `--print` to see the "
          "effective configuration, defaults filled in.\n\n"
          "- `[section]` headers and `key = value` lines; every key has a default unless it "
          "says otherwise.\n"
          "- Comments: lines starting with `;` or `#`, and the rest of a line from a `;` "
          "that follows whitespace.\n"
          "- Unknown sections and keys are errors, and so are a key or a section given "
          "twice.\n"
          "- Values are not quoted; whitespace around them is removed.\n"
          "- A line holds at most 198 bytes. A list value continues on the following lines "
          "when they are indented, so do not indent keys.\n"
          "- `examples/mcsqueal.ini` is a sample with every key, commented out at its "
          "default.\n\n"
          "| Type | Syntax |\n| --- | --- |\n",
          out);
    for (int t = 0; t < MCSQ_CONF_NTYPES; t++)
        fprintf(out, "| %s | %s |\n", types[t].name, types[t].syntax);
}

int mcsq_config_write_reference(FILE *out)
{
    size_t n;
    const mcsq_config_section *secs = mcsq_config_sections(&n);
    write_reference_intro(out);
    for (size_t i = 0; i < n; i++)
        write_reference_section(out, &secs[i]);
    return finish_output(out);
}

/* kafka.* values whose names look like secrets are not printed. */
static bool prop_is_secret(const char *name)
{
    static const char *const words[] = {"password", "secret", ".pem", "oauthbearer.config",
                                        "ssl_key"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strstr(name, words[i]) != NULL)
            return true;
    }
    return false;
}

static void write_props(FILE *out, const mcsq_config_row *row, const mcsq_config_props *props)
{
    int prefix = (int)strlen(row->name) - 1;
    for (size_t i = 0; i < props->n; i++)
        fprintf(out, "%.*s%s = %s\n", prefix, row->name, props->v[i].name,
                prop_is_secret(props->v[i].name) ? "<hidden>" : props->v[i].value);
}

static void write_password_note(FILE *out, const mcsq_config *cfg)
{
    const char *source = cfg->mysql.password == NULL           ? "none"
                         : cfg->mysql.password_file[0] != '\0' ? "read from password_file (hidden)"
                                                               : "from " MCSQ_CONFIG_PASSWORD_ENV
                                                                 " (hidden)";
    fprintf(out, "; password: %s\n", source);
}

static bool value_is_empty(const mcsq_config_row *row, const void *field)
{
    switch (row->type) {
    case MCSQ_CONF_STRING:
        return **(char *const *)field == '\0';
    case MCSQ_CONF_HOSTPORT:
        return ((const mcsq_hostport *)field)->host == NULL;
    case MCSQ_CONF_HOSTPORT_LIST:
        return ((const mcsq_hostport_list *)field)->n == 0;
    default:
        return false;
    }
}

static void write_section_values(FILE *out, const char *section, const void *base)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].section, section) != 0)
            continue;
        if (rows[i].type == MCSQ_CONF_PROPS) {
            write_props(out, &rows[i], row_cfield(&rows[i], base));
            continue;
        }
        fprintf(out, "%s =%s", rows[i].name,
                value_is_empty(&rows[i], row_cfield(&rows[i], base)) ? "" : " ");
        format_value(&rows[i], row_cfield(&rows[i], base), out);
        fputc('\n', out);
    }
}

int mcsq_config_write(const mcsq_config *cfg, FILE *out)
{
    size_t n;
    const mcsq_config_section *secs = mcsq_config_sections(&n);
    fprintf(out, "; effective configuration of %s\n", cfg->path ? cfg->path : "(defaults)");
    for (size_t i = 0; i < n; i++) {
        if (secs[i].named) {
            for (size_t p = 0; p < cfg->npools; p++) {
                fprintf(out, "\n[%s %s]\n", secs[i].name, cfg->pools[p].name);
                write_section_values(out, secs[i].name, &cfg->pools[p]);
            }
            continue;
        }
        fprintf(out, "\n[%s]\n", secs[i].name);
        write_section_values(out, secs[i].name, cfg);
        if (strcmp(secs[i].name, "mysql") == 0)
            write_password_note(out, cfg);
    }
    return finish_output(out);
}
