/*
 * Internal to core/config*.c, not part of any public API: what the pieces of
 * the configuration code share. config_value.c converts values of each type
 * (parse, release, format), config.c loads the file and walks the table,
 * config_validate.c checks the loaded configuration, config_writer.c writes
 * the reference and the effective configuration.
 */
#ifndef MCSQ_CORE_CONFIG_PRIVATE_H
#define MCSQ_CORE_CONFIG_PRIVATE_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Size of a buffer for the reason a value was rejected. */
#define CONFIG_WHY_LEN 320

/* The longest line the reader takes, in bytes (inih's line buffer less the
 * newline and NUL); what `check-config --print` writes fits it too. */
#define CONFIG_LINE_MAX 198

/* ------------------------------------------------- values (config_value.c) */

/* Parses text as row's type into field (a place in the config, owned by it).
 * Not for MCSQ_CONF_PROPS rows. Returns 0, MCSQ_ERR_CONFIG (reason in why)
 * or MCSQ_ERR_NOMEM. On error a list keeps the entries before the bad one;
 * a field of any other type keeps its old value. */
int config_value_parse(const mcsq_config_row *row, const char *text, void *field, char *why,
                       size_t len);

/* Frees what field (of row's type) owns and zeroes it. Cannot fail. */
void config_value_release(const mcsq_config_row *row, void *field);

/* Writes field (of row's type) as the file would set it; nothing for
 * MCSQ_CONF_PROPS and empty values. Write errors are left in out's error
 * flag; returns nothing. */
void config_value_format(const mcsq_config_row *row, const void *field, FILE *out);

/* Appends the host:port entries of text (separated by whitespace or commas)
 * to list (owned entries). Returns 0, MCSQ_ERR_CONFIG (reason in why) or
 * MCSQ_ERR_NOMEM; entries before the bad one stay appended. */
int config_value_hostport_list_append(mcsq_hostport_list *list, const char *text, char *why,
                                      size_t len);

/* Formats a byte count with the largest exact suffix (k, M, G) into buf.
 * Cannot fail (truncates to len). */
void config_value_size_format(int64_t v, char *buf, size_t len);

/* Returns the type's name for the reference (static). Cannot fail. */
const char *config_value_type_name(mcsq_config_type type);

/* Returns the type's syntax for the reference (static). Cannot fail. */
const char *config_value_type_syntax(mcsq_config_type type);

/* ------------------------------------------------------ rows (config.c) */

/* Returns whether row lives in mcsq_pool_config rather than mcsq_config.
 * Cannot fail. */
bool config_row_is_pool(const mcsq_config_row *row);

/* Returns row's field inside base (a mcsq_config, or a mcsq_pool_config for
 * pool rows; borrowed). Cannot fail. */
const void *config_row_cfield(const mcsq_config_row *row, const void *base);

/* Returns the row of key name in section (borrowed), or NULL when there is
 * none. */
const mcsq_config_row *config_row_find(const char *section, const char *name);

/* Writes "[section] name", or "[pool NAME] name" when pool is not NULL, into
 * buf for messages and returns buf. Cannot fail (truncates to len). */
const char *config_row_label(char *buf, size_t len, const mcsq_pool_config *pool,
                             const mcsq_config_row *row, const char *name);

/* ------------------------------------------ one load (config.c) */

/* What loading hands on to validation: the configuration being filled, where
 * problems go, and the line every key was set on. */
typedef struct config_run {
    mcsq_config *cfg;         /* (ref) */
    mcsq_config_errors *errs; /* (ref) NULL: errors only counted */
    const char *path;         /* (ref) */
    size_t nrows;             /* rows in the table */
    int *key_line;            /* per slot (0: global, 1 + i: pool i) and row */
    size_t nerrors;
    bool nomem;
} config_run;

/* Records a problem at line (0: none) of the file. Cannot fail: one that
 * cannot be stored is counted as dropped in run->errs. */
void config_run_error(config_run *run, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records rc of setting a key: MCSQ_ERR_NOMEM sets run->nomem, any other
 * error becomes "label: why" at line. Cannot fail. */
void config_run_rc(config_run *run, int rc, int line, const char *label, const char *why);

/* Returns where the line that set row in slot (0: global, 1 + i: pool i) is
 * kept (0: not set); borrowed from run. Cannot fail. */
int *config_run_key_line(config_run *run, size_t slot, const mcsq_config_row *row);

/* ------------------------------------------ validation (config_validate.c) */

/* Checks the loaded run->cfg, derives name and topic and reads the MySQL
 * password. Returns nothing: problems go to run, lack of memory sets
 * run->nomem. */
void config_validate(config_run *run);

/* The usual mistakes of the bus's security settings (core/config_kafka.c). */
void config_validate_kafka_security(config_run *run);

#endif
