/*
 * Configuration: the INI file every mcsqueal command reads (--config FILE).
 *
 * One table (core/config_table.c) lists every key with its section, type,
 * place in struct mcsq_config, range, default and description, in the manner
 * of librdkafka's rdkafka_conf.c. Loading fills the struct from the table's
 * defaults, then from the file (parsed by libinih), then runs a separate
 * validation pass; every problem found is collected as "FILE:LINE: message".
 * docs/CONFIGURATION.md is generated from the same table
 * (`mcsqueal check-config --reference`), so it cannot drift from the code.
 *
 * Adding a key: one field in struct mcsq_config (or mcsq_pool_config), one
 * row in the table.
 */
#ifndef MCSQ_CORE_CONFIG_H
#define MCSQ_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Environment variable holding the MySQL password when mysql.password_file
 * is empty. */
#define MCSQ_CONFIG_PASSWORD_ENV "MCSQUEAL_MYSQL_PASSWORD"

/* Environment variable holding the Kafka SASL password when
 * bus.sasl_password_file is empty. */
#define MCSQ_CONFIG_KAFKA_PASSWORD_ENV "MCSQUEAL_KAFKA_PASSWORD"

/* Most errors one load collects; later ones are counted, not stored. */
#define MCSQ_CONFIG_MAX_ERRORS 200

typedef struct mcsq_hostport {
    char *host; /* NULL when unset (an empty value) */
    int port;
    int weight; /* pool servers' `host:port:weight`; 0 when not written (weight 1) */
} mcsq_hostport;

/* The largest server weight (`host:port:weight`). */
#define MCSQ_SERVER_WEIGHT_MAX 1000

typedef struct mcsq_hostport_list {
    mcsq_hostport *v;
    size_t n;
} mcsq_hostport_list;

/* One `kafka.<name> = value` pass-through property, in file order. */
typedef struct mcsq_config_prop {
    char *name; /* the librdkafka property, without "kafka." */
    char *value;
    int line; /* line it was set on */
} mcsq_config_prop;

typedef struct mcsq_config_props {
    mcsq_config_prop *v;
    size_t n;
} mcsq_config_props;

typedef enum mcsq_on_purged {
    MCSQ_ON_PURGED_STOP = 0,
    MCSQ_ON_PURGED_EARLIEST = 1,
} mcsq_on_purged;

typedef enum mcsq_on_diverged {
    MCSQ_ON_DIVERGED_STOP = 0,
    MCSQ_ON_DIVERGED_CONTINUE = 1,
} mcsq_on_diverged;

/* [router] on_gap: what a router does when the bus lost messages. */
typedef enum mcsq_on_gap {
    MCSQ_ON_GAP_WARN = 0,  /* count, log, alert */
    MCSQ_ON_GAP_FLUSH = 1, /* and flush the cluster and gutter pools */
} mcsq_on_gap;

typedef enum mcsq_ssl_mode {
    MCSQ_SSL_DISABLED = 0,
    MCSQ_SSL_PREFERRED,
    MCSQ_SSL_REQUIRED,
    MCSQ_SSL_VERIFY_CA,
    MCSQ_SSL_VERIFY_IDENTITY,
} mcsq_ssl_mode;

typedef enum mcsq_pool_role {
    MCSQ_POOL_CLUSTER = 0,
    MCSQ_POOL_GUTTER,
    MCSQ_POOL_REGIONAL,
} mcsq_pool_role;

/* [pool NAME] invalidate. */
typedef enum mcsq_pool_invalidate {
    MCSQ_POOL_INVALIDATE_DELETE = 0,
    MCSQ_POOL_INVALIDATE_STALE,
} mcsq_pool_invalidate;

typedef enum mcsq_start_kind {
    MCSQ_START_END = 0,
    MCSQ_START_BEGIN,
    MCSQ_START_GTID,
    MCSQ_START_FILE,
} mcsq_start_kind;

/* mysql.start, parsed. */
typedef struct mcsq_start {
    mcsq_start_kind kind;
    char *gtid;   /* MCSQ_START_GTID: the GTID list as written */
    char *file;   /* MCSQ_START_FILE: binlog file name */
    uint64_t pos; /* MCSQ_START_FILE: byte position, >= 4 */
} mcsq_start;

/* One [pool NAME] section. */
typedef struct mcsq_pool_config {
    char *name;
    mcsq_hostport_list servers;
    int role; /* mcsq_pool_role */
    char *prefix;
    int invalidate;        /* mcsq_pool_invalidate */
    int64_t stale_ttl_s;   /* seconds; used with invalidate = stale */
    int placement;         /* key_placement_mode (core/key_placement_mode.h) */
    int64_t ketama_points; /* cache-memcached-fast: its ketama_points option */
    int line;              /* line of the [pool NAME] header */
} mcsq_pool_config;

/* The whole configuration. Strings are owned, never NULL after a successful
 * load ("" when empty); mcsq_config_deinit() frees everything. */
typedef struct mcsq_config {
    char *path; /* the file loaded */
    struct {
        char *name; /* defaults to the host name */
        char *region;
        char *state_dir;
        int log_level; /* log_level from core/log.h */
        char *log_file;
        int64_t checkpoint_interval_ms;
        int64_t queue_max_bytes;
        int64_t txn_memory_max;
    } mcsqueal;
    struct {
        char *host;
        int64_t port;
        char *socket;
        char *user;
        char *password_file;
        char *password; /* from password_file or the environment; NULL: none */
        int64_t server_id;
        char *start;         /* as written */
        mcsq_start start_at; /* parsed by validation */
        int64_t heartbeat_ms;
        int64_t connect_timeout_ms;
        int64_t reconnect_max_ms;
        int ssl_mode; /* mcsq_ssl_mode */
        char *ssl_ca;
        char *ssl_cert;
        char *ssl_key;
        bool verify_checksum;
        int on_purged;   /* mcsq_on_purged */
        int on_diverged; /* mcsq_on_diverged */
    } mysql;
    struct {
        char *brokers; /* "embedded" or a bootstrap list */
        char *topic;   /* defaults to "mcsqueal.<region>" */
        int64_t batch_max_keys;
        int64_t batch_max_bytes;
        int64_t linger_ms;
        char *sasl_password_file;
        char *sasl_password; /* from sasl_password_file or the environment; NULL: none */
        mcsq_config_props kafka;
    } bus;
    struct {
        char *cluster;
        char *instance; /* group.instance.id; "" for a dynamic member */
        int on_gap;     /* mcsq_on_gap */
    } router;
    mcsq_pool_config *pools;
    size_t npools;
    struct {
        mcsq_hostport listen; /* host NULL: disabled */
    } metrics;
    struct {
        int64_t interval_ms;
        char *table;
    } heartbeat;
    struct {
        int64_t ttl_s;
    } marker;
    struct {
        char *sample_rate; /* as written; mcsq_audit_sample_rate_parse() reads it */
        char *delays_ms;   /* as written; mcsq_audit_delays_parse() reads it */
        int64_t max_checks_per_s;
    } audit;
} mcsq_config;

/* One collected problem. */
typedef struct mcsq_config_error {
    int line;   /* 0 when the problem has no line (e.g. a missing file) */
    char *text; /* "FILE:LINE: message" (or "FILE: message") */
} mcsq_config_error;

typedef struct mcsq_config_errors {
    mcsq_config_error *v;
    size_t n;
    size_t dropped; /* errors past MCSQ_CONFIG_MAX_ERRORS, or lost to OOM */
} mcsq_config_errors;

/* Initializes an empty error list. */
void mcsq_config_errors_init(mcsq_config_errors *errs);

/* Frees the list's contents; errs may be reused after another init. */
void mcsq_config_errors_deinit(mcsq_config_errors *errs);

/* Prints one error per line to out, then a line for dropped errors. */
void mcsq_config_errors_print(const mcsq_config_errors *errs, FILE *out);

/* Fills cfg with the table's defaults (no file, nothing derived: name and
 * topic stay empty). Returns 0 or MCSQ_ERR_NOMEM (cfg is then empty). */
int mcsq_config_defaults(mcsq_config *cfg);

/* Loads path into cfg: defaults, then the file, then validation, which also
 * derives name and topic and reads the MySQL password. Every problem found is
 * appended to errs (initialized by the caller, borrowed; NULL: not kept),
 * ordered by line.
 * Returns 0, MCSQ_ERR_CONFIG (at least one error in errs) or MCSQ_ERR_NOMEM.
 * On error cfg is left empty (all zero); mcsq_config_deinit() on it is a
 * no-op. On success the caller frees cfg with mcsq_config_deinit(). */
int mcsq_config_load(mcsq_config *cfg, const char *path, mcsq_config_errors *errs);

/* Frees everything cfg owns (the password is wiped first) and zeroes it.
 * Safe on a zeroed struct. */
void mcsq_config_deinit(mcsq_config *cfg);

/* Writes the Markdown configuration reference generated from the table
 * (docs/CONFIGURATION.md). Returns 0 or MCSQ_ERR_IO. */
int mcsq_config_write_reference(FILE *out);

/* Writes the effective configuration of cfg as a loadable INI file, every
 * key included. The password is never written; neither are kafka.* values
 * whose names look secret. Returns 0 or MCSQ_ERR_IO. */
int mcsq_config_write(const mcsq_config *cfg, FILE *out);

/* Writes the router's consumer group, "mcsqueal.<region>.<cluster>", into
 * buf. Returns 0 or MCSQ_ERR_LIMIT when it does not fit in size bytes. */
int mcsq_config_consumer_group(const mcsq_config *cfg, char *buf, size_t size);

/* Returns the pool with role regional (borrowed), or NULL when there is none. */
const mcsq_pool_config *mcsq_config_regional_pool(const mcsq_config *cfg);

/* Parses "host:port" or "[v6addr]:port" from the len bytes at s (borrowed).
 * out may be NULL to only check; otherwise out->host is allocated (caller
 * frees). Returns 0, MCSQ_ERR_CONFIG (reason in err) or MCSQ_ERR_NOMEM. */
int mcsq_hostport_parse(const char *s, size_t len, mcsq_hostport *out, char *err, size_t errlen);

/* Parses a mysql.start value: end | begin | gtid:<list> | file:<name>:<pos>.
 * out may be NULL to only check; otherwise its strings are allocated and
 * freed by mcsq_start_deinit(). Returns 0, MCSQ_ERR_CONFIG (reason in err)
 * or MCSQ_ERR_NOMEM. */
int mcsq_start_parse(const char *text, mcsq_start *out, char *err, size_t errlen);

/* Most delays an [audit] delays_ms list may hold. */
#define MCSQ_AUDIT_DELAYS_MAX 8

/* Parses an audit.sample_rate value: a decimal fraction in [0, 1] (0 turns
 * the auditor off). out may be NULL to only check. Returns 0 or
 * MCSQ_ERR_CONFIG (reason in err). */
int mcsq_audit_sample_rate_parse(const char *text, double *out, char *err, size_t errlen);

/* Parses an audit.delays_ms value: 1..MCSQ_AUDIT_DELAYS_MAX whole
 * milliseconds (each 100..86400000), separated by spaces or commas, strictly
 * increasing. out (MCSQ_AUDIT_DELAYS_MAX entries) and n may be NULL to only
 * check. Returns 0 or MCSQ_ERR_CONFIG (reason in err). */
int mcsq_audit_delays_parse(const char *text, int64_t *out, size_t *n, char *err, size_t errlen);

/* Frees the strings of a parsed start position and zeroes it. */
void mcsq_start_deinit(mcsq_start *start);

/*
 * The table (core/config_table.c). Internal to core/config*.c; declared here
 * so that the loader, the validator and the reference writer share it.
 */
typedef enum mcsq_config_type {
    MCSQ_CONF_STRING = 0,
    MCSQ_CONF_INT,           /* int64_t in [min, max] */
    MCSQ_CONF_BOOL,          /* bool */
    MCSQ_CONF_ENUM,          /* int: index into words */
    MCSQ_CONF_DURATION,      /* int64_t milliseconds in [min, max] */
    MCSQ_CONF_SIZE,          /* int64_t bytes in [min, max], suffixes k M G */
    MCSQ_CONF_HOSTPORT,      /* mcsq_hostport */
    MCSQ_CONF_HOSTPORT_LIST, /* mcsq_hostport_list, [min, max] entries */
    MCSQ_CONF_PROPS,         /* mcsq_config_props; row name is "prefix.*" */
    MCSQ_CONF_NTYPES
} mcsq_config_type;

typedef struct mcsq_config_row {
    const char *section; /* section name; "pool" rows live in mcsq_pool_config */
    const char *name;
    mcsq_config_type type;
    size_t offset;            /* into mcsq_config, or mcsq_pool_config for pool rows */
    int64_t min, max;         /* numbers: value range; strings: length (max 0: none) */
    const char *def;          /* default as text; NULL: none or derived at load time */
    const char *def_doc;      /* default as the reference shows it, when def is NULL */
    const char *const *words; /* MCSQ_CONF_ENUM: allowed words, NULL-terminated */
    /* Extra rules for a string value, run by validation; 0 or MCSQ_ERR_CONFIG. */
    int (*check)(const char *value, char *err, size_t errlen);
    const char *allowed_doc; /* allowed values as the reference shows them */
    const char *desc;
} mcsq_config_row;

typedef struct mcsq_config_section {
    const char *name; /* for named sections, the word before NAME */
    bool named;       /* [name NAME], any number, stored in an array */
    const char *desc;
} mcsq_config_section;

/* Returns the table of keys, in reference order, and its length in *n. */
const mcsq_config_row *mcsq_config_table(size_t *n);

/* Returns the sections, in reference order, and their number in *n. */
const mcsq_config_section *mcsq_config_sections(size_t *n);

/* The value `check-config --print` writes for kafka.<prop>, and errors
 * show: "<hidden>" when the property's name looks like a secret, else value
 * itself. */
const char *mcsq_config_prop_printed_value(const char *prop, const char *value);

#endif
