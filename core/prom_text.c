/*
 * Prometheus text parser (see prom_text.h). The input is copied once; names
 * and label values are cut out of the copy in place (an unescaped value is
 * never longer than its escaped form), so samples point into it. One
 * function per line kind; a cursor never passes the end of its line.
 */
#include "core/prom_text.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cursor {
    char *p;   /* next byte */
    char *end; /* end of the line (its '\n' or the end of input) */
    size_t line;
    char *errstr;
    size_t errstr_size;
} cursor;

__attribute__((format(printf, 3, 4))) static int fail(cursor *c, int err, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return errstr_set(c->errstr, c->errstr_size, err, "line %zu: %s", c->line, msg);
}

static void skip_blank(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static bool name_start(char ch, bool colon)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
           (colon && ch == ':');
}

static bool name_char(char ch, bool colon)
{
    return name_start(ch, colon) || (ch >= '0' && ch <= '9');
}

/* Reads a metric (colon) or label name; returns its start, NUL-terminated
 * later by the caller's cut, or NULL. *len receives its length. */
static char *read_name(cursor *c, bool colon, size_t *len)
{
    char *start = c->p;
    if (c->p >= c->end || !name_start(*c->p, colon))
        return NULL;
    while (c->p < c->end && name_char(*c->p, colon))
        c->p++;
    *len = (size_t)(c->p - start);
    return start;
}

/* Reads a quoted label value at p, unescaping in place; the result is
 * NUL-terminated where the closing quote was (or before). */
static int read_label_value(cursor *c, char **out)
{
    if (c->p >= c->end || *c->p != '"')
        return fail(c, MCSQ_ERR_CORRUPT, "expected '\"' to open a label value");
    char *dst = ++c->p;
    *out = dst;
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if (ch == '\\') {
            if (c->p >= c->end)
                break;
            ch = *c->p++;
            if (ch == 'n')
                ch = '\n';
            else if (ch != '\\' && ch != '"')
                return fail(c, MCSQ_ERR_CORRUPT, "invalid escape \\%c in a label value", ch);
        }
        *dst++ = ch;
    }
    if (c->p >= c->end)
        return fail(c, MCSQ_ERR_CORRUPT, "unterminated label value");
    c->p++;
    *dst = '\0'; /* dst <= the closing quote's place */
    return MCSQ_OK;
}

/* One name="value" pair at p. The name is cut at its '=' (or blank). */
static int read_label(cursor *c, prom_sample *s)
{
    size_t n;
    char *name = read_name(c, false, &n);
    if (name == NULL)
        return fail(c, MCSQ_ERR_CORRUPT, "expected a label name");
    skip_blank(c);
    if (c->p >= c->end || *c->p != '=')
        return fail(c, MCSQ_ERR_CORRUPT, "expected '=' after label %.*s", (int)n, name);
    c->p++;
    name[n] = '\0'; /* over the '=' or a blank before it */
    skip_blank(c);
    if (s->nlabels == PROM_MAX_LABELS)
        return fail(c, MCSQ_ERR_LIMIT, "more than %d labels", PROM_MAX_LABELS);
    for (size_t i = 0; i < s->nlabels; i++) {
        if (strcmp(s->labels[i].name, name) == 0)
            return fail(c, MCSQ_ERR_CORRUPT, "label %s given twice", name);
    }
    s->labels[s->nlabels].name = name;
    int rc = read_label_value(c, (char **)&s->labels[s->nlabels].value);
    if (rc == MCSQ_OK)
        s->nlabels++;
    return rc;
}

/* {a="1",b="2"} at p ('{' already seen); a trailing comma is allowed. */
static int read_labels(cursor *c, prom_sample *s)
{
    c->p++;
    for (;;) {
        skip_blank(c);
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            return MCSQ_OK;
        }
        int rc = read_label(c, s);
        if (rc != MCSQ_OK)
            return rc;
        skip_blank(c);
        if (c->p < c->end && *c->p == ',')
            c->p++;
        else if (c->p >= c->end || *c->p != '}')
            return fail(c, MCSQ_ERR_CORRUPT, "expected ',' or '}' after a label");
    }
}

/* Cuts the next blank-separated token; NULL at the end of the line. */
static char *next_token(cursor *c)
{
    skip_blank(c);
    if (c->p >= c->end)
        return NULL;
    char *start = c->p;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\t')
        c->p++;
    if (c->p < c->end)
        *c->p++ = '\0';
    else
        *c->p = '\0'; /* the line's '\n', or the copy's terminator */
    return start;
}

/* A sample value as Go's ParseFloat reads it in the exposition format. */
static bool parse_value(const char *tok, double *out)
{
    if (strcmp(tok, "NaN") == 0 || strcmp(tok, "+Inf") == 0 || strcmp(tok, "-Inf") == 0 ||
        strcmp(tok, "Inf") == 0) {
        *out = tok[0] == 'N' ? NAN : tok[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (strspn(tok, "0123456789.eE+-") != strlen(tok) || strpbrk(tok, "0123456789") == NULL)
        return false;
    char *end;
    errno = 0;
    *out = strtod(tok, &end);
    return *end == '\0';
}

static bool parse_timestamp(const char *tok, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(tok, &end, 10);
    if (*end != '\0' || end == tok || errno != 0)
        return false;
    *out = v;
    return true;
}

static int push_sample(prom_doc *d, const prom_sample *s, size_t max, cursor *c)
{
    if (d->nsamples == max)
        return fail(c, MCSQ_ERR_LIMIT, "more than %zu samples", max);
    if (d->nsamples == d->sample_cap) {
        size_t cap = d->sample_cap ? d->sample_cap * 2 : 64;
        prom_sample *v = realloc(d->samples, cap * sizeof(*v));
        if (v == NULL)
            return MCSQ_ERR_NOMEM;
        d->samples = v;
        d->sample_cap = cap;
    }
    d->samples[d->nsamples++] = *s;
    return MCSQ_OK;
}

static int sample_line(prom_doc *d, cursor *c, size_t max)
{
    prom_sample s = {0};
    size_t n;
    char *name = read_name(c, true, &n);
    if (name == NULL)
        return fail(c, MCSQ_ERR_CORRUPT, "expected a metric name");
    char after = c->p < c->end ? *c->p : '\n';
    s.name = name;
    int rc = MCSQ_OK;
    if (after == '{')
        rc = read_labels(c, &s);
    else if (after == ' ' || after == '\t')
        c->p++;
    else if (after == '\n')
        return fail(c, MCSQ_ERR_CORRUPT, "expected a value after %.*s", (int)n, name);
    else
        return fail(c, MCSQ_ERR_CORRUPT, "unexpected '%c' after the metric name", after);
    if (rc != MCSQ_OK)
        return rc;
    name[n] = '\0'; /* over '{' or the blank, both already read */
    char *value = next_token(c);
    char *ts = value ? next_token(c) : NULL;
    if (value == NULL || !parse_value(value, &s.value))
        return fail(c, MCSQ_ERR_CORRUPT, "expected a number after %s", name);
    if (ts != NULL && !parse_timestamp(ts, &s.timestamp_ms))
        return fail(c, MCSQ_ERR_CORRUPT, "expected a timestamp (integer ms), got \"%s\"", ts);
    if (next_token(c) != NULL)
        return fail(c, MCSQ_ERR_CORRUPT, "unexpected text after the sample of %s", name);
    return push_sample(d, &s, max, c);
}

static int push_family(prom_doc *d, const char *name, const char *type)
{
    if (d->nfamilies == d->family_cap) {
        size_t cap = d->family_cap ? d->family_cap * 2 : 32;
        prom_family *v = realloc(d->families, cap * sizeof(*v));
        if (v == NULL)
            return MCSQ_ERR_NOMEM;
        d->families = v;
        d->family_cap = cap;
    }
    d->families[d->nfamilies++] = (prom_family){name, type};
    return MCSQ_OK;
}

/* "# TYPE name type", "# HELP name text", or any other comment. */
static int comment_line(prom_doc *d, cursor *c)
{
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    c->p++;
    char *word = next_token(c);
    bool type = word && strcmp(word, "TYPE") == 0, help = word && strcmp(word, "HELP") == 0;
    if (!type && !help)
        return MCSQ_OK;
    skip_blank(c);
    size_t n;
    char *name = read_name(c, true, &n);
    if (name == NULL || (c->p < c->end && *c->p != ' ' && *c->p != '\t'))
        return fail(c, MCSQ_ERR_CORRUPT, "expected a metric name after # %s", word);
    if (help)
        return MCSQ_OK;
    char *t = next_token(c); /* cuts the name too: it ends at a blank */
    name[n] = '\0';
    for (size_t i = 0; t != NULL && i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(t, types[i]) == 0 && next_token(c) == NULL)
            return prom_doc_type(d, name) ? fail(c, MCSQ_ERR_CORRUPT, "second TYPE for %s", name)
                                          : push_family(d, name, types[i]);
    }
    return fail(c, MCSQ_ERR_CORRUPT, "bad TYPE line for %s", name);
}

static int parse_lines(prom_doc *d, cursor *c, char *text, size_t len, size_t max)
{
    char *p = text, *end = text + len;
    int rc = MCSQ_OK;
    for (c->line = 1; rc == MCSQ_OK && p < end; c->line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        c->p = p;
        c->end = nl ? nl : end;
        skip_blank(c);
        if (c->p < c->end && *c->p == '#')
            rc = comment_line(d, c);
        else if (c->p < c->end)
            rc = sample_line(d, c, max);
        p = nl ? nl + 1 : end;
    }
    return rc;
}

int prom_text_parse(prom_doc *doc, const char *text, size_t len, size_t max_samples, char *errstr,
                    size_t errstr_size)
{
    memset(doc, 0, sizeof(*doc));
    cursor c = {.errstr = errstr, .errstr_size = errstr_size};
    if (memchr(text, '\0', len) != NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT, "NUL byte in the input");
    doc->text = malloc(len + 1);
    if (doc->text == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    memcpy(doc->text, text, len);
    doc->text[len] = '\0';
    int rc =
        parse_lines(doc, &c, doc->text, len, max_samples ? max_samples : PROM_MAX_SAMPLES_DEFAULT);
    if (rc == MCSQ_ERR_NOMEM)
        errstr_set(errstr, errstr_size, rc, "out of memory");
    if (rc != MCSQ_OK)
        prom_doc_free(doc);
    return rc;
}

void prom_doc_free(prom_doc *doc)
{
    free(doc->samples);
    free(doc->families);
    free(doc->text);
    memset(doc, 0, sizeof(*doc));
}

const char *prom_sample_label(const prom_sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++) {
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    }
    return NULL;
}

int prom_sample_match(const prom_sample *s, const char *name, const char *label, const char *value)
{
    if (strcmp(s->name, name) != 0)
        return 0;
    if (label == NULL)
        return 1;
    const char *v = prom_sample_label(s, label);
    return v != NULL && strcmp(v, value) == 0;
}

const prom_sample *prom_doc_find(const prom_doc *doc, const char *name, const char *label,
                                 const char *value)
{
    for (size_t i = 0; i < doc->nsamples; i++) {
        if (prom_sample_match(&doc->samples[i], name, label, value))
            return &doc->samples[i];
    }
    return NULL;
}

double prom_doc_sum(const prom_doc *doc, const char *name, const char *label, const char *value)
{
    double sum = NAN;
    for (size_t i = 0; i < doc->nsamples; i++) {
        if (prom_sample_match(&doc->samples[i], name, label, value))
            sum = isnan(sum) ? doc->samples[i].value : sum + doc->samples[i].value;
    }
    return sum;
}

const char *prom_doc_type(const prom_doc *doc, const char *name)
{
    for (size_t i = 0; i < doc->nfamilies; i++) {
        if (strcmp(doc->families[i].name, name) == 0)
            return doc->families[i].type;
    }
    return NULL;
}

/* Adds count at bound le to the sorted arrays (a new bound is inserted). */
static int add_bucket(double le, double count, double *bounds, uint64_t *cum, size_t max, size_t *n)
{
    size_t i = 0;
    while (i < *n && bounds[i] < le)
        i++;
    if (i == *n || bounds[i] != le) {
        if (*n == max)
            return MCSQ_ERR_LIMIT;
        memmove(bounds + i + 1, bounds + i, (*n - i) * sizeof(*bounds));
        memmove(cum + i + 1, cum + i, (*n - i) * sizeof(*cum));
        bounds[i] = le;
        cum[i] = 0;
        (*n)++;
    }
    cum[i] += count > 0 && count < 1.8e19 ? (uint64_t)count : 0;
    return MCSQ_OK;
}

int prom_doc_histogram(const prom_doc *doc, const char *name, const char *label, const char *value,
                       double *bounds, uint64_t *cumulative, size_t max, size_t *n)
{
    char bucket[256];
    *n = 0;
    if (snprintf(bucket, sizeof(bucket), "%s_bucket", name) >= (int)sizeof(bucket))
        return MCSQ_ERR_EOF;
    for (size_t i = 0; i < doc->nsamples; i++) {
        const prom_sample *s = &doc->samples[i];
        if (!prom_sample_match(s, bucket, label, value))
            continue;
        const char *le = prom_sample_label(s, "le");
        double b;
        if (le == NULL || !parse_value(le, &b) || isnan(b))
            return MCSQ_ERR_CORRUPT;
        int rc = add_bucket(b, s->value, bounds, cumulative, max, n);
        if (rc != MCSQ_OK)
            return rc;
    }
    return *n > 0 ? MCSQ_OK : MCSQ_ERR_EOF;
}
