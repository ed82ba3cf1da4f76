/*
 * Audit lines of `mcsqueal status` (see status_audit.h), read from the
 * gauges mcsqueal_audit_pool_audited, mcsqueal_audit_window_checks and
 * mcsqueal_audit_consistency_ratio and the counter
 * mcsqueal_audit_survivors_total, e.g.
 *
 *   consistency, pool main: 99.9997% of 31,204 sampled invalidations held after 1 s,
 *     100% after 60 s
 */
#include "cli/status_audit.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define P "mcsqueal_"
#define MAX_DELAYS 16

typedef struct delay {
    const char *label; /* (ref) "1s", "200ms" */
    double ms;
} delay;

static double label_ms(const char *label)
{
    char *end;
    double v = strtod(label, &end);
    return strcmp(end, "ms") == 0 ? v : v * 1000;
}

/* The delays of pool's window series, shortest first. */
static size_t delays_of(const prom_doc *d, const char *pool, delay *out)
{
    size_t n = 0;
    for (size_t i = 0; i < d->nsamples; i++) {
        const prom_sample *s = &d->samples[i];
        const char *p = prom_sample_label(s, "pool"), *l = prom_sample_label(s, "delay");
        if (p == NULL || l == NULL || strcmp(s->name, P "audit_consistency_ratio") != 0 ||
            strcmp(p, pool) != 0 || n == MAX_DELAYS)
            continue;
        size_t at = n++;
        while (at > 0 && out[at - 1].ms > label_ms(l)) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = (delay){l, label_ms(l)};
    }
    return n;
}

/* The sum of name's series with the given pool, delay and result labels
 * (NULL: any). */
static double sum(const prom_doc *d, const char *name, const char *pool, const char *dl,
                  const char *result)
{
    double v = 0;
    for (size_t i = 0; i < d->nsamples; i++) {
        const prom_sample *s = &d->samples[i];
        const char *p = prom_sample_label(s, "pool"), *l = prom_sample_label(s, "delay"),
                   *r = prom_sample_label(s, "result");
        if (strcmp(s->name, name) != 0 || p == NULL || strcmp(p, pool) != 0 ||
            (dl != NULL && (l == NULL || strcmp(l, dl) != 0)) ||
            (result != NULL && (r == NULL || strcmp(r, result) != 0)))
            continue;
        v += s->value;
    }
    return v;
}

/* 31204 as "31,204". */
static void print_thousands(FILE *out, double v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%.0f", v);
    size_t len = strlen(buf);
    for (size_t i = 0; i < len; i++) {
        fputc(buf[i], out);
        if (i + 1 < len && (len - i - 1) % 3 == 0)
            fputc(',', out);
    }
}

/* 1 as "100%", 0.999997 as "99.9997%": as many digits as the nines need. */
static void print_percent(FILE *out, double ratio)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%.4f", ratio * 100);
    char *end = buf + strlen(buf) - 1;
    while (*end == '0')
        *end-- = '\0';
    if (*end == '.')
        *end = '\0';
    if (ratio < 1 && strcmp(buf, "100") == 0)
        snprintf(buf, sizeof(buf), "99.9999");
    fprintf(out, "%s%%", buf);
}

static void print_delay(FILE *out, const delay *d)
{
    if (d->ms < 1000 || fmod(d->ms, 1000) != 0)
        fprintf(out, "%.0f ms", d->ms);
    else
        fprintf(out, "%.0f s", d->ms / 1000);
}

static void consistency_line(FILE *out, const prom_doc *now, const char *pool)
{
    delay ds[MAX_DELAYS];
    size_t n = delays_of(now, pool, ds);
    double undecided = 0;
    fprintf(out, "consistency, pool %s: ", pool);
    for (size_t i = 0; i < n; i++) {
        const char *w = P "audit_window_checks";
        double held = sum(now, w, pool, ds[i].label, "held");
        double decided = held + sum(now, w, pool, ds[i].label, "survived");
        undecided += sum(now, w, pool, ds[i].label, "ambiguous") +
                     sum(now, w, pool, ds[i].label, "unreachable");
        fprintf(out, "%s", i == 0 ? "" : ", ");
        if (decided == 0) {
            fprintf(out, "no sampled invalidation checked after ");
        } else {
            print_percent(out, held / decided);
            if (i == 0) {
                fprintf(out, " of ");
                print_thousands(out, decided);
                fprintf(out, " sampled invalidations held");
            }
            fprintf(out, " after ");
        }
        print_delay(out, &ds[i]);
    }
    fprintf(out, " (last 10 min)\n");
    if (undecided > 0) {
        fprintf(out, "  undecided: ");
        print_thousands(out, undecided);
        fprintf(out, " checks (ambiguous or unreachable; see docs/audit.md)\n");
    }
}

static void survivors_line(FILE *out, const prom_doc *now, const char *pool)
{
    bool any = false;
    for (size_t i = 0; i < now->nsamples; i++) {
        const prom_sample *s = &now->samples[i];
        const char *p = prom_sample_label(s, "pool"), *server = prom_sample_label(s, "server"),
                   *owner = prom_sample_label(s, "owner");
        if (strcmp(s->name, P "audit_survivors_total") != 0 || p == NULL || server == NULL ||
            owner == NULL || strcmp(p, pool) != 0 || !(s->value > 0))
            continue;
        fprintf(out, "%s%s (%s) %.0f", any ? ", " : "  survivors since start: ", server,
                strcmp(owner, "true") == 0 ? "owner: deletes lost"
                                           : "not the owner: placement differs",
                s->value);
        any = true;
    }
    if (any)
        fprintf(out, "\n");
}

void status_audit(FILE *out, const prom_doc *now)
{
    bool any = false;
    for (size_t i = 0; i < now->nsamples; i++) {
        const prom_sample *s = &now->samples[i];
        const char *pool = prom_sample_label(s, "pool");
        if (strcmp(s->name, P "audit_pool_audited") != 0 || pool == NULL)
            continue;
        any = true;
        if (s->value > 0) {
            consistency_line(out, now, pool);
            survivors_line(out, now, pool);
        } else {
            fprintf(out,
                    "consistency, pool %s: not audited (placement = proxy: per-server CAS "
                    "means nothing behind a proxy)\n",
                    pool);
        }
    }
    if (any)
        fprintf(out, "\n");
}
