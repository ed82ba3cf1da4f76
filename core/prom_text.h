/*
 * Prometheus text format 0.0.4 parser, for reading a metrics endpoint
 * (`mcsqueal status`) and in tests. It keeps the samples (name, labels,
 * value) and the families' TYPE lines; HELP and other comments are
 * checked for shape and skipped.
 *
 * Strict where the format is (names, quoting and escapes of label values,
 * numbers, one sample per line), bounded in memory (a copy of the input and
 * at most max_samples samples of at most PROM_MAX_LABELS labels), and it
 * never reads outside the input. A bad line fails the whole parse with its
 * line number: a scrape is all or nothing.
 */
#ifndef MCSQ_CORE_PROM_TEXT_H
#define MCSQ_CORE_PROM_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define PROM_MAX_LABELS 16
#define PROM_MAX_SAMPLES_DEFAULT 100000

typedef struct prom_label {
    const char *name;  /* (ref) into the document */
    const char *value; /* (ref) unescaped */
} prom_label;

typedef struct prom_sample {
    const char *name; /* (ref) with its suffix: "x_bucket", "x_sum", ... */
    size_t nlabels;
    prom_label labels[PROM_MAX_LABELS];
    double value;
    int64_t timestamp_ms; /* 0 when absent */
} prom_sample;

typedef struct prom_family {
    const char *name; /* (ref) */
    const char *type; /* (ref) counter, gauge, histogram, summary or untyped */
} prom_family;

typedef struct prom_doc {
    prom_sample *samples;
    size_t nsamples;
    prom_family *families;
    size_t nfamilies;
    /* private */
    char *text;
    size_t sample_cap;
    size_t family_cap;
} prom_doc;

/* Parses len bytes of text (borrowed; copied) into doc, which is
 * initialized here. max_samples 0 means PROM_MAX_SAMPLES_DEFAULT. Returns
 * 0, MCSQ_ERR_CORRUPT (errstr: "line N: ..."), MCSQ_ERR_LIMIT (more
 * samples or labels than allowed) or MCSQ_ERR_NOMEM; on error doc holds
 * nothing (prom_doc_free is still safe). Caller frees with prom_doc_free. */
int prom_text_parse(prom_doc *doc, const char *text, size_t len, size_t max_samples, char *errstr,
                    size_t errstr_size);

void prom_doc_free(prom_doc *doc);

/* The value of label `name` of s, or NULL. */
const char *prom_sample_label(const prom_sample *s, const char *name);

/* Whether s is named `name` and has label `label` = `value` (label NULL:
 * any labels). */
int prom_sample_match(const prom_sample *s, const char *name, const char *label, const char *value);

/* The first sample that matches (as prom_sample_match), or NULL. */
const prom_sample *prom_doc_find(const prom_doc *doc, const char *name, const char *label,
                                 const char *value);

/* Sum of the values of the matching samples; NaN when none matches. */
double prom_doc_sum(const prom_doc *doc, const char *name, const char *label, const char *value);

/* The TYPE of family `name`, or NULL when it has no TYPE line. */
const char *prom_doc_type(const prom_doc *doc, const char *name);

/* Collects the buckets of histogram `name` (its `name`_bucket samples) with
 * label = value (label NULL: all series, added up per bound) into bounds
 * and cumulative counts sorted by bound, the form metrics_quantile() takes.
 * At most max buckets; *n receives their number. Returns 0, MCSQ_ERR_EOF
 * (no bucket matches), MCSQ_ERR_LIMIT (more than max bounds) or
 * MCSQ_ERR_CORRUPT (an le that is not a number). */
int prom_doc_histogram(const prom_doc *doc, const char *name, const char *label, const char *value,
                       double *bounds, uint64_t *cumulative, size_t max, size_t *n);

#endif
