/*
 * The SQL that `mcsqueal heartbeat` sends, built from configuration values
 * and checked again here so that no value can change a statement's shape:
 * the table is `[database.]table` of unquoted identifiers (written
 * backquoted), the source name is 1-255 of A-Z a-z 0-9 . _ -.
 *
 * The probe is one auto-committed statement on a one-row-per-source table,
 *
 *   INSERT INTO `db`.`t` (name, probe_us) VALUES ('db-east-1', 1763669000123456)
 *   ON DUPLICATE KEY UPDATE probe_us = 1763669000123456
 *   /+ mcsqueal: mcsqueal:hb:db-east-1 @probe=1763669000123456 +/
 *
 * (with real comment markers), so it needs only INSERT and UPDATE on that
 * table, its row changes every time (a statement that changes nothing may
 * not reach a row-format binlog), and the table never grows.
 */
#ifndef MCSQ_TAILER_HEARTBEAT_SQL_H
#define MCSQ_TAILER_HEARTBEAT_SQL_H

#include <stddef.h>
#include <stdint.h>

/* The cache key of a source's probes is this prefix followed by its name. */
#define HEARTBEAT_KEY_PREFIX "mcsqueal:hb:"

/* Room for any statement below (table <= 129 bytes, name <= 255). */
#define HEARTBEAT_SQL_MAX 1024

/* Writes the probe key of source `name` into buf. Returns 0, or
 * MCSQ_ERR_INVALID when name breaks the rules or the key would break the
 * cache key rules (longer than 250 bytes), with errstr. */
int heartbeat_key(char *buf, size_t size, const char *name, char *errstr, size_t errstr_size);

/* CREATE TABLE IF NOT EXISTS for table. Returns 0 or MCSQ_ERR_INVALID
 * (a table name that breaks the rules, or buf too small), with errstr. */
int heartbeat_sql_create(char *buf, size_t size, const char *table, char *errstr,
                         size_t errstr_size);

/* CREATE DATABASE IF NOT EXISTS for table's database. Returns as
 * heartbeat_sql_create(). */
int heartbeat_sql_create_database(char *buf, size_t size, const char *table, char *errstr,
                                  size_t errstr_size);

/* A statement that fails unless table exists and may be read
 * (SELECT ... LIMIT 0). Returns as heartbeat_sql_create(). */
int heartbeat_sql_exists(char *buf, size_t size, const char *table, char *errstr,
                         size_t errstr_size);

/* The annotated upsert of source name's row with probe_us (unix
 * microseconds, >= 0). Returns 0 or MCSQ_ERR_INVALID with errstr. */
int heartbeat_sql_probe(char *buf, size_t size, const char *table, const char *name,
                        int64_t probe_us, char *errstr, size_t errstr_size);

#endif
