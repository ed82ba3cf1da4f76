/*
 * Connections to the MySQL/MariaDB server with the [mysql] settings of the
 * configuration: host and port or socket, user, password (password_file or
 * MCSQUEAL_MYSQL_PASSWORD, already read by the config loader), TLS
 * (ssl_mode, ssl_ca, ssl_cert, ssl_key) and the connect timeout. Shared by
 * the live binlog source (tailer/binlog_live.c) and the heartbeat writer
 * (tailer/heartbeat.c), so that both reach the server the same way.
 */
#ifndef MCSQ_TAILER_DB_CONN_H
#define MCSQ_TAILER_DB_CONN_H

#include "core/config.h"

#include <stddef.h>
#include <stdint.h>

struct st_mysql;

/* Whole seconds of ms, rounded up, at least 1 (Connector/C's timeout unit). */
unsigned db_conn_seconds(int64_t ms);

/* Writes "host:port" or the socket path of cfg into buf. */
void db_conn_endpoint(const mcsq_config *cfg, char *buf, size_t size);

/* Opens a connection with cfg's [mysql] settings and a read/write timeout
 * of timeout_s seconds, character set utf8mb4, LOCAL INFILE off, and no
 * default database. ssl_mode `required` and stricter are enforced after
 * connecting (Connector/C would fall back to plaintext). Returns 0 with
 * *out (caller closes with mysql_close), MCSQ_ERR_CONNECT (unreachable,
 * TLS, authentication: the caller may retry), MCSQ_ERR_CONFIG (TLS
 * settings that cannot work) or MCSQ_ERR_NOMEM, with an errstr that names
 * the endpoint and user and never contains the password. Thread-safe. */
int db_conn_open(const mcsq_config *cfg, unsigned timeout_s, struct st_mysql **out, char *errstr,
                 size_t errstr_size);

#endif
