/*
 * The auditor's part of `mcsqueal status`: per pool, the share of sampled
 * invalidations that held after each delay over the last 10 minutes, what
 * could not be decided, and the servers with survivors (docs/audit.md).
 */
#ifndef MCSQ_CLI_STATUS_AUDIT_H
#define MCSQ_CLI_STATUS_AUDIT_H

#include "core/prom_text.h"

#include <stdio.h>

/* Writes the audit lines of the scrape now to out; nothing when the daemon
 * runs no auditor. */
void status_audit(FILE *out, const prom_doc *now);

#endif
