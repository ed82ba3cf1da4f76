/*
 * Heartbeat statements (see heartbeat_sql.h): validation of the two values
 * that go into them, and the formatting.
 */
#include "tailer/heartbeat_sql.h"
#include "core/cache_key.h"
#include "core/errstr.h"
#include "core/name_rule.h"
#include "core/sql_ident.h"
#include "mcsqueal/error.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define IDENT_MAX SQL_IDENT_MAX
#define NAME_MAX_LEN 255

/* Writes table as `db`.`t` or `t` into out (2 * IDENT_MAX + 6 bytes). */
static int quote_table(char *out, size_t size, const char *table, char *errstr, size_t errstr_size)
{
    const char *dot = strchr(table, '.');
    size_t n1 = dot ? (size_t)(dot - table) : strlen(table);
    bool ok = sql_identifier_ok(table, n1) &&
              (dot == NULL || sql_identifier_ok(dot + 1, strlen(dot + 1)));
    if (!ok)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "heartbeat.table \"%s\" is not [database.]table of unquoted "
                          "identifiers",
                          table);
    if (dot == NULL)
        snprintf(out, size, "`%s`", table);
    else
        snprintf(out, size, "`%.*s`.`%s`", (int)n1, table, dot + 1);
    return MCSQ_OK;
}

static int check_name(const char *name, char *errstr, size_t errstr_size)
{
    size_t n = strlen(name);
    if (n == 0 || n > NAME_MAX_LEN || !name_rule_word(name, n))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "source name \"%s\" is not 1-255 of A-Z a-z 0-9 . _ -", name);
    return MCSQ_OK;
}

/* snprintf into buf, MCSQ_ERR_INVALID when it does not fit. */
static int fits(int n, size_t size, char *errstr, size_t errstr_size)
{
    if (n < 0 || (size_t)n >= size)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "heartbeat statement longer than %zu bytes", size);
    return MCSQ_OK;
}

int heartbeat_key(char *buf, size_t size, const char *name, char *errstr, size_t errstr_size)
{
    int rc = check_name(name, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    int n = snprintf(buf, size, "%s%s", HEARTBEAT_KEY_PREFIX, name);
    if ((rc = fits(n, size, errstr, errstr_size)) != MCSQ_OK)
        return rc;
    if (cache_key_check(buf, (size_t)n) != CACHE_KEY_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "the probe key (%s and a %zu-byte name) would be longer than %d "
                          "bytes: shorten [mcsqueal] name",
                          HEARTBEAT_KEY_PREFIX, strlen(name), CACHE_KEY_MAX_LEN);
    return MCSQ_OK;
}

int heartbeat_sql_create(char *buf, size_t size, const char *table, char *errstr,
                         size_t errstr_size)
{
    char q[2 * IDENT_MAX + 8];
    int rc = quote_table(q, sizeof(q), table, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    int n = snprintf(buf, size,
                     "CREATE TABLE IF NOT EXISTS %s (name VARCHAR(255) NOT NULL PRIMARY KEY, "
                     "probe_us BIGINT NOT NULL)",
                     q);
    return fits(n, size, errstr, errstr_size);
}

int heartbeat_sql_create_database(char *buf, size_t size, const char *table, char *errstr,
                                  size_t errstr_size)
{
    char q[2 * IDENT_MAX + 8];
    int rc = quote_table(q, sizeof(q), table, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    const char *dot = strchr(table, '.');
    if (dot == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "heartbeat.table \"%s\" names no database", table);
    int n = snprintf(buf, size, "CREATE DATABASE IF NOT EXISTS `%.*s`", (int)(dot - table), table);
    return fits(n, size, errstr, errstr_size);
}

int heartbeat_sql_exists(char *buf, size_t size, const char *table, char *errstr,
                         size_t errstr_size)
{
    char q[2 * IDENT_MAX + 8];
    int rc = quote_table(q, sizeof(q), table, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    return fits(snprintf(buf, size, "SELECT name, probe_us FROM %s LIMIT 0", q), size, errstr,
                errstr_size);
}

int heartbeat_sql_probe(char *buf, size_t size, const char *table, const char *name,
                        int64_t probe_us, char *errstr, size_t errstr_size)
{
    char q[2 * IDENT_MAX + 8], key[NAME_MAX_LEN + sizeof(HEARTBEAT_KEY_PREFIX)];
    int rc = quote_table(q, sizeof(q), table, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = heartbeat_key(key, sizeof(key), name, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    if (probe_us < 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID, "negative probe time");
    int n = snprintf(buf, size,
                     "INSERT INTO %s (name, probe_us) VALUES ('%s', %" PRId64 ") "
                     "ON DUPLICATE KEY UPDATE probe_us = %" PRId64
                     " /* mcsqueal: %s @probe=%" PRId64 " */",
                     q, name, probe_us, probe_us, key, probe_us);
    return fits(n, size, errstr, errstr_size);
}
