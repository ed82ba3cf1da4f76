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
 * Also here: the error list, the table helpers that fill and free a
 * configuration, and small queries on a loaded one. Values are converted by
 * config_value.c, checked by config_validate.c and written by
 * config_writer.c (declarations shared among them: config_private.h).
 */
#include "core/config_private.h"
#include "core/name_rule.h"
#include "mcsqueal/error.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

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

/* -------------------------------------------------------------- the table */

bool config_row_is_pool(const mcsq_config_row *row)
{
    return strcmp(row->section, "pool") == 0;
}

static void *row_field(const mcsq_config_row *row, void *base)
{
    return (char *)base + row->offset;
}

const void *config_row_cfield(const mcsq_config_row *row, const void *base)
{
    return (const char *)base + row->offset;
}

static int row_set_default(const mcsq_config_row *row, void *base)
{
    char why[CONFIG_WHY_LEN];
    const char *def = row->def;
    if (def == NULL && row->type != MCSQ_CONF_STRING)
        return MCSQ_OK; /* zeroed: empty list */
    int rc = config_value_parse(row, def ? def : "", row_field(row, base), why, sizeof(why));
    assert(rc != MCSQ_ERR_CONFIG && "a default in the table does not parse");
    return rc;
}

/* Sets the defaults of the pool rows (pool) or of all other rows. */
static int fill_defaults(void *base, bool pool)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (config_row_is_pool(&rows[i]) != pool)
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
        if (config_row_is_pool(&rows[i]) == pool)
            config_value_release(&rows[i], row_field(&rows[i], base));
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
    if (cfg->bus.sasl_password != NULL) {
        explicit_bzero(cfg->bus.sasl_password, strlen(cfg->bus.sasl_password));
        free(cfg->bus.sasl_password);
    }
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
    config_run run; /* what validation gets */
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
    size_t nsections;
    int *section_line; /* per global section: line of its header */
} load_ctx;

void config_run_error(config_run *run, int line, const char *fmt, ...)
{
    char msg[CONFIG_WHY_LEN + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    run->nerrors++;
    if (run->errs != NULL)
        errors_add(run->errs, run->path, line, msg);
}

void config_run_rc(config_run *run, int rc, int line, const char *label, const char *why)
{
    if (rc == MCSQ_ERR_NOMEM)
        run->nomem = true;
    else if (rc != MCSQ_OK)
        config_run_error(run, line, "%s: %s", label, why);
}

/* "[section] key" or "[pool NAME] key" for messages. */
const char *config_row_label(char *buf, size_t len, const mcsq_pool_config *pool,
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
    return ctx->state == SECTION_POOL ? &ctx->run.cfg->pools[ctx->pool] : NULL;
}

static void *ctx_base(load_ctx *ctx)
{
    return ctx->state == SECTION_POOL ? (void *)&ctx->run.cfg->pools[ctx->pool]
                                      : (void *)ctx->run.cfg;
}

int *config_run_key_line(config_run *run, size_t slot, const mcsq_config_row *row)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    return &run->key_line[slot * run->nrows + (size_t)(row - rows)];
}

static int *ctx_key_line(load_ctx *ctx, const mcsq_config_row *row)
{
    return config_run_key_line(&ctx->run, ctx->state == SECTION_POOL ? 1 + ctx->pool : 0, row);
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

const mcsq_config_row *config_row_find(const char *section, const char *name)
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
    config_run_error(&ctx->run, ctx->lineno, "%s: unknown key \"%s\"%s", label, name, hint);
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
    config_row_label(label, sizeof(label), ctx_pool(ctx), row, name);
    if (*prop == '\0') {
        config_run_error(&ctx->run, ctx->lineno, "%s: property name missing", label);
        return;
    }
    if (*value == '\0') {
        config_run_error(&ctx->run, ctx->lineno, "%s: value must not be empty", label);
        return;
    }
    if (strlen(name) + strlen(" = ") + strlen(mcsq_config_prop_printed_value(prop, value)) >
        CONFIG_LINE_MAX) {
        /* `check-config --print` writes it back as `name = value`: it must load again */
        config_run_error(&ctx->run, ctx->lineno,
                         "%s: name and value take more than the %d bytes of one line when "
                         "written as `name = value`",
                         label, CONFIG_LINE_MAX);
        return;
    }
    for (size_t i = 0; i < props->n; i++) {
        if (strcmp(props->v[i].name, prop) == 0) {
            config_run_error(&ctx->run, ctx->lineno, "%s: set twice (first on line %d)", label,
                             props->v[i].line);
            return;
        }
    }
    if (props_add(props, prop, value, ctx->lineno) != MCSQ_OK)
        ctx->run.nomem = true;
}

static void set_key(load_ctx *ctx, const char *name, const char *value)
{
    const mcsq_config_row *row = config_row_find(ctx->section, name);
    char label[128], why[CONFIG_WHY_LEN];
    if (row == NULL) {
        report_unknown_key(ctx, name);
        return;
    }
    config_row_label(label, sizeof(label), ctx_pool(ctx), row, name);
    if (value[0] == ';') {
        /* `name =;x` holds ";x", but `check-config --print` writes `name = ;x`,
         * whose ";" starts a comment: refused so that the printed file loads */
        config_run_error(&ctx->run, ctx->lineno, "%s: a value must not start with ';'", label);
        return;
    }
    if (row->type == MCSQ_CONF_PROPS) {
        set_prop(ctx, row, name, value);
        return;
    }
    int *line = ctx_key_line(ctx, row);
    if (*line != 0) {
        config_run_error(&ctx->run, ctx->lineno, "%s: set twice (first on line %d)", label, *line);
        return;
    }
    *line = ctx->lineno;
    ctx->prev_row = row;
    int rc = config_value_parse(row, value, row_field(row, ctx_base(ctx)), why, sizeof(why));
    config_run_rc(&ctx->run, rc, ctx->lineno, label, why);
}

/* An indented line: appends to a list, anything else is an error. */
static void continue_key(load_ctx *ctx, const char *value)
{
    const mcsq_config_row *row = ctx->prev_row;
    char label[128], why[CONFIG_WHY_LEN];
    if (ctx->state == SECTION_SKIP)
        return;
    if (row == NULL || row->type != MCSQ_CONF_HOSTPORT_LIST) {
        config_run_error(&ctx->run, ctx->lineno,
                         "indented line continues the previous key's value, which must be a list; "
                         "do not indent keys");
        ctx->prev_row = NULL;
        return;
    }
    config_row_label(label, sizeof(label), ctx_pool(ctx), row, row->name);
    int rc =
        config_value_hostport_list_append(row_field(row, ctx_base(ctx)), value, why, sizeof(why));
    config_run_rc(&ctx->run, rc, ctx->lineno, label, why);
}

/* inih's handler: called for every key line and every continuation line. */
static int on_ini_value(void *user, const char *section, const char *name, const char *value)
{
    (void)section;
    load_ctx *ctx = user;
    ctx->handled = true;
    if (ctx->kind == LINE_CONTINUATION) {
        continue_key(ctx, value);
        return 1;
    }
    ctx->have_prev_key = name[0] != '\0'; /* inih's test of prev_name */
    ctx->prev_row = NULL;
    if (ctx->state == SECTION_NONE)
        config_run_error(&ctx->run, ctx->lineno, "key \"%s\" is outside any [section]", name);
    else if (ctx->state != SECTION_SKIP)
        set_key(ctx, name, value);
    return 1; /* errors are collected here, not counted by inih */
}

static bool pool_name_ok(const char *s, size_t n)
{
    return n > 0 && n <= 64 && name_rule_chars(s, n, "_-");
}

/* Appends a pool with its defaults and makes it the current section. */
static int pool_add(load_ctx *ctx, const char *name, size_t len)
{
    mcsq_config *cfg = ctx->run.cfg;
    size_t slots = cfg->npools + 2;
    int *lines = realloc(ctx->run.key_line, slots * ctx->run.nrows * sizeof(*lines));
    if (lines == NULL)
        return MCSQ_ERR_NOMEM;
    ctx->run.key_line = lines;
    memset(lines + (slots - 1) * ctx->run.nrows, 0, ctx->run.nrows * sizeof(*lines));
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
    const mcsq_config *cfg = ctx->run.cfg;
    if (!pool_name_ok(name, len)) {
        config_run_error(&ctx->run, ctx->lineno,
                         "[pool %.*s]: expected [pool NAME], NAME 1-64 of A-Z a-z 0-9 _ -",
                         (int)len, name);
        return;
    }
    for (size_t i = 0; i < cfg->npools; i++) {
        if (strlen(cfg->pools[i].name) == len && memcmp(cfg->pools[i].name, name, len) == 0) {
            config_run_error(&ctx->run, ctx->lineno,
                             "duplicate section [pool %.*s] (first on line %d)", (int)len, name,
                             cfg->pools[i].line);
            return;
        }
    }
    if (pool_add(ctx, name, len) != MCSQ_OK)
        ctx->run.nomem = true;
}

static void open_global(load_ctx *ctx, const mcsq_config_section *sec, size_t index)
{
    if (ctx->section_line[index] != 0) {
        config_run_error(&ctx->run, ctx->lineno, "duplicate section [%s] (first on line %d)",
                         sec->name, ctx->section_line[index]);
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
    config_run_error(&ctx->run, ctx->lineno, "unknown section [%.*s]%s", (int)len, name, hint);
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
            config_run_error(&ctx->run, ctx->lineno, "[%.*s]: section [%s] takes no name", (int)len,
                             name, secs[i].name);
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
        config_run_error(&ctx->run, ctx->lineno, "%s",
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
        config_run_error(&ctx->run, ctx->lineno,
                         "expected \"key = value\", \"[section]\" or a comment");
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
            config_run_error(&ctx->run, 0, "read error: %s", strerror(errno ? errno : EIO));
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
        config_run_error(&ctx->run, ctx->lineno, "line contains a NUL byte");
        line[0] = '\0', len = 0;
    } else if (len + 2 > num) {
        config_run_error(&ctx->run, ctx->lineno,
                         "line is longer than %d bytes (a long list continues on indented lines)",
                         num - 2);
        line[0] = '\0', len = 0;
    }
    classify_line(ctx, line);
    memcpy(str, line, (size_t)len);
    memcpy(str + len, "\n", 2);
    return str;
}

/* -------------------------------------------------------------- load */

static int ctx_init(load_ctx *ctx, mcsq_config *cfg, const char *path, mcsq_config_errors *errs)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->run.cfg = cfg;
    ctx->run.errs = errs;
    ctx->run.path = path;
    mcsq_config_table(&ctx->run.nrows);
    mcsq_config_sections(&ctx->nsections);
    ctx->run.key_line = calloc(ctx->run.nrows, sizeof(int));
    ctx->section_line = calloc(ctx->nsections, sizeof(int));
    return ctx->run.key_line && ctx->section_line ? MCSQ_OK : MCSQ_ERR_NOMEM;
}

static void ctx_deinit(load_ctx *ctx)
{
    if (ctx->f != NULL)
        fclose(ctx->f);
    free(ctx->buf);
    free(ctx->run.key_line);
    free(ctx->section_line);
}

/* Parses the open file; returns 0 or MCSQ_ERR_NOMEM (errors are collected). */
static int parse_file(load_ctx *ctx)
{
    size_t before = ctx->run.nerrors;
    int rc = ini_parse_stream(ini_read, ctx, on_ini_value, ctx);
    if (rc == -2 || ctx->run.nomem)
        return MCSQ_ERR_NOMEM;
    if (rc > 0 && ctx->run.nerrors == before) /* inih saw something we did not */
        config_run_error(&ctx->run, rc, "syntax error");
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
        config_run_error(&ctx.run, 0, "cannot open: %s", strerror(errno));
    } else if ((rc = parse_file(&ctx)) == MCSQ_OK) {
        config_validate(&ctx.run);
        rc = ctx.run.nomem ? MCSQ_ERR_NOMEM : MCSQ_OK;
    }
    if (rc == MCSQ_OK && ctx.run.nerrors > 0)
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
