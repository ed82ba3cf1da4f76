/*
 * The text of `mcsqueal status`: a human summary of one daemon's metrics
 * (the tailer's positions and lag, the routers' lag quantiles, rates,
 * spool, errors), from one scrape, or two for rates and recent quantiles.
 */
#ifndef MCSQ_CLI_STATUS_REPORT_H
#define MCSQ_CLI_STATUS_REPORT_H

#include "core/prom_text.h"

#include <stdio.h>

/* Writes the summary of now (a scrape of url) to out; ready (may be NULL:
 * unknown) is the answer of /ready, "ready" or why not; before (may be NULL)
 * is a scrape dt_s seconds earlier, for rates and the quantiles of the
 * latency observed between the two. Never fails on missing metrics: what
 * is absent is left out. */
void status_report(FILE *out, const char *url, const char *ready, const prom_doc *before,
                   const prom_doc *now, double dt_s);

#endif
