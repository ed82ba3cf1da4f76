/*
 * Unquoted MySQL identifiers, for names that configuration puts into SQL
 * (heartbeat.table): checked once by the configuration and again where the
 * statement is built.
 */
#ifndef MCSQ_CORE_SQL_IDENT_H
#define MCSQ_CORE_SQL_IDENT_H

#include <stdbool.h>
#include <stddef.h>

/* Longest identifier MySQL accepts. */
#define SQL_IDENT_MAX 64

/* Whether s[0..n) is one unquoted identifier: 1-64 of A-Z a-z 0-9 _ $, and
 * not digits only. */
bool sql_identifier_ok(const char *s, size_t n);

#endif
