/*
 * Server connections with the [mysql] settings (see db_conn.h): options,
 * TLS, and the one-time initialization of Connector/C.
 */
#include "tailer/db_conn.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <mysql.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#define MAX_PACKET (1ul << 30) /* Connector/C's own ceiling for max_allowed_packet */

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_rc;

/* mysql_library_init() is not thread-safe; mysql_init() would call it
 * implicitly on first use. */
static void library_init(void)
{
    library_rc = mysql_library_init(0, NULL, NULL);
}

static bool is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

unsigned db_conn_seconds(int64_t ms)
{
    int64_t s = (ms + 999) / 1000;
    return s < 1 ? 1 : (unsigned)s;
}

void db_conn_endpoint(const mcsq_config *cfg, char *buf, size_t size)
{
    if (is_set(cfg->mysql.socket))
        snprintf(buf, size, "%s", cfg->mysql.socket);
    else
        snprintf(buf, size, "%s:%lld", cfg->mysql.host ? cfg->mysql.host : "",
                 (long long)cfg->mysql.port);
}

/* TLS options for ssl_mode (docs/mysql.md). */
static int tls_options(MYSQL *m, const mcsq_config *cfg, char *errstr, size_t errstr_size)
{
    int mode = cfg->mysql.ssl_mode;
    my_bool on = 1, verify_host = mode == MCSQ_SSL_VERIFY_IDENTITY;
    if (mode == MCSQ_SSL_DISABLED)
        return MCSQ_OK;
    if (mode == MCSQ_SSL_VERIFY_CA && !is_set(cfg->mysql.ssl_ca))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "mysql.ssl_mode = verify_ca needs mysql.ssl_ca (the CA certificate "
                          "to verify the server with)");
    if (is_set(cfg->mysql.ssl_ca))
        mysql_optionsv(m, MYSQL_OPT_SSL_CA, cfg->mysql.ssl_ca);
    if (is_set(cfg->mysql.ssl_cert))
        mysql_optionsv(m, MYSQL_OPT_SSL_CERT, cfg->mysql.ssl_cert);
    if (is_set(cfg->mysql.ssl_key))
        mysql_optionsv(m, MYSQL_OPT_SSL_KEY, cfg->mysql.ssl_key);
    mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
    mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify_host);
    return MCSQ_OK;
}

static void set_options(MYSQL *m, const mcsq_config *cfg, unsigned timeout_s)
{
    unsigned connect_s = db_conn_seconds(cfg->mysql.connect_timeout_ms);
    unsigned long max_packet = MAX_PACKET;
    unsigned int no_infile = 0;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
    mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &timeout_s);
    mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout_s);
    mysql_optionsv(m, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
    mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &no_infile);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
}

int db_conn_open(const mcsq_config *cfg, unsigned timeout_s, struct st_mysql **out, char *errstr,
                 size_t errstr_size)
{
    char endpoint[512];
    pthread_once(&library_once, library_init);
    if (library_rc != 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "mysql_library_init failed");
    MYSQL *m = mysql_init(NULL);
    if (m == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "mysql_init: out of memory");
    db_conn_endpoint(cfg, endpoint, sizeof(endpoint));
    set_options(m, cfg, timeout_s);
    int rc = tls_options(m, cfg, errstr, errstr_size);
    if (rc != MCSQ_OK)
        goto err;
    const char *sock = is_set(cfg->mysql.socket) ? cfg->mysql.socket : NULL;
    if (mysql_real_connect(m, sock ? "localhost" : cfg->mysql.host, cfg->mysql.user,
                           cfg->mysql.password, NULL, sock ? 0 : (unsigned)cfg->mysql.port, sock,
                           0) == NULL) {
        /* Connector/C's and the server's messages never carry the password. */
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT,
                        "cannot connect to %s as user '%s': %s (error %u)", endpoint,
                        cfg->mysql.user, mysql_error(m), mysql_errno(m));
        goto err;
    }
    if (cfg->mysql.ssl_mode >= MCSQ_SSL_REQUIRED && mysql_get_ssl_cipher(m) == NULL) {
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT,
                        "%s does not offer TLS, which mysql.ssl_mode requires", endpoint);
        goto err;
    }
    *out = m;
    return MCSQ_OK;
err:
    mysql_close(m);
    return rc;
}
