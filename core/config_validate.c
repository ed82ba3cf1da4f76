/*
 * Validation of a loaded configuration, separate from parsing: string
 * lengths and checks, list sizes and duplicates, required values, at most
 * one regional pool, the mysql.start position. It also derives the defaults
 * that depend on other keys (mcsqueal.name, bus.topic) and reads the MySQL
 * password. Problems are reported at the line that set the key.
 */
#include "core/config_private.h"
#include "core/key_placement_mode.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PASSWORD_MAX 4096

static int string_check(const mcsq_config_row *row, const char *value, char *why, size_t len)
{
    size_t n = strlen(value);
    if ((int64_t)n < row->min) {
        snprintf(why, len, "must not be empty");
        return MCSQ_ERR_CONFIG;
    }
    if (row->max > 0 && (int64_t)n > row->max) {
        snprintf(why, len, "\"%.40s...\" is longer than %lld bytes", value, (long long)row->max);
        return MCSQ_ERR_CONFIG;
    }
    return n > 0 && row->check != NULL ? row->check(value, why, len) : MCSQ_OK;
}

static int list_check(const mcsq_config_row *row, const mcsq_hostport_list *list, char *why,
                      size_t len)
{
    if ((int64_t)list->n < row->min) {
        snprintf(why, len, "required: at least %lld host:port", (long long)row->min);
        return MCSQ_ERR_CONFIG;
    }
    if ((int64_t)list->n > row->max) {
        snprintf(why, len, "more than %lld entries", (long long)row->max);
        return MCSQ_ERR_CONFIG;
    }
    for (size_t i = 0; i < list->n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (list->v[i].port == list->v[j].port &&
                strcmp(list->v[i].host, list->v[j].host) == 0) {
                snprintf(why, len, "%s:%d is listed twice", list->v[i].host, list->v[i].port);
                return MCSQ_ERR_CONFIG;
            }
        }
    }
    return MCSQ_OK;
}

static int row_check(const mcsq_config_row *row, const void *field, char *why, size_t len)
{
    switch (row->type) {
    case MCSQ_CONF_STRING:
        return string_check(row, *(char *const *)field, why, len);
    case MCSQ_CONF_HOSTPORT_LIST:
        return list_check(row, field, why, len);
    case MCSQ_CONF_HOSTPORT:
        if (row->min > 0 && ((const mcsq_hostport *)field)->host == NULL) {
            snprintf(why, len, "must not be empty");
            return MCSQ_ERR_CONFIG;
        }
        return MCSQ_OK;
    default:
        return MCSQ_OK;
    }
}

/* Checks the rows of one slot: 0 the global rows, 1 + i those of pool i. */
static void validate_slot(config_run *run, size_t slot)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    const mcsq_pool_config *pool = slot > 0 ? &run->cfg->pools[slot - 1] : NULL;
    const void *base = pool ? (const void *)pool : (const void *)run->cfg;
    char label[128], why[CONFIG_WHY_LEN];
    for (size_t i = 0; i < n; i++) {
        if (config_row_is_pool(&rows[i]) != (pool != NULL))
            continue;
        if (row_check(&rows[i], config_row_cfield(&rows[i], base), why, sizeof(why)) == MCSQ_OK)
            continue;
        int line = *config_run_key_line(run, slot, &rows[i]);
        config_row_label(label, sizeof(label), pool, &rows[i], rows[i].name);
        config_run_error(run, line ? line : pool ? pool->line : 0, "%s: %s", label, why);
    }
}

static int replace_string(char **field, const char *value)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return MCSQ_ERR_NOMEM;
    free(*field);
    *field = copy;
    return MCSQ_OK;
}

/* mcsqueal.name defaults to the host name, bus.topic to mcsqueal.<region>. */
static void derive_defaults(config_run *run)
{
    mcsq_config *cfg = run->cfg;
    char buf[300], why[CONFIG_WHY_LEN];
    if (cfg->mcsqueal.name[0] == '\0') {
        int rc = gethostname(buf, 256);
        buf[255] = '\0';
        if (rc != 0 || buf[0] == '\0')
            config_run_error(run, 0, "[mcsqueal] name: not set, and the host name is unknown");
        else if (replace_string(&cfg->mcsqueal.name, buf) != MCSQ_OK)
            run->nomem = true;
    }
    const mcsq_config_row *region = config_row_find("mcsqueal", "region");
    if (cfg->bus.topic[0] != '\0' || row_check(region, &cfg->mcsqueal.region, why, sizeof(why)))
        return; /* a bad region is reported once, as itself */
    snprintf(buf, sizeof(buf), "mcsqueal.%s", cfg->mcsqueal.region);
    if (replace_string(&cfg->bus.topic, buf) != MCSQ_OK)
        run->nomem = true;
}

static bool servers_weighted(const mcsq_hostport_list *servers)
{
    for (size_t i = 0; i < servers->n; i++)
        if (servers->v[i].weight > 1)
            return true;
    return false;
}

/* The placement settings of pool slot (1 + index) that cannot work together. */
static void validate_placement(config_run *run, size_t slot)
{
    const mcsq_pool_config *pool = &run->cfg->pools[slot - 1];
    key_placement_mode mode = (key_placement_mode)pool->placement;
    const char *name = key_placement_mode_name(mode);
    const mcsq_config_row *placement = config_row_find("pool", "placement");
    int line = *config_run_key_line(run, slot, placement);
    line = line ? line : pool->line;
    if (servers_weighted(&pool->servers) && !key_placement_mode_has_weights(mode))
        config_run_error(run, *config_run_key_line(run, slot, config_row_find("pool", "servers")),
                         "[pool %s] servers: weights (host:port:weight) do not exist for "
                         "placement = %s (its client has none)",
                         pool->name, name);
    if (pool->ketama_points > 0 && mode != KEY_PLACEMENT_CACHE_MEMCACHED_FAST)
        config_run_error(
            run, *config_run_key_line(run, slot, config_row_find("pool", "ketama_points")),
            "[pool %s] ketama_points: only for placement = cache-memcached-fast, not %s",
            pool->name, name);
    if (pool->invalidate == MCSQ_POOL_INVALIDATE_STALE && mode == KEY_PLACEMENT_PROXY)
        config_run_error(run, line,
                         "[pool %s] placement: invalidate = stale needs the meta protocol, and "
                         "proxies such as twemproxy speak only the text protocol; use "
                         "invalidate = delete with placement = proxy",
                         pool->name);
    if (run->cfg->router.on_gap == MCSQ_ON_GAP_FLUSH && mode == KEY_PLACEMENT_PROXY &&
        pool->role != MCSQ_POOL_REGIONAL)
        config_run_error(run, line,
                         "[pool %s] placement: [router] on_gap = flush sends flush_all to the "
                         "pool's servers, and proxies such as twemproxy close the connection on "
                         "it; use on_gap = warn and flush the servers behind the proxies "
                         "yourself after a gap",
                         pool->name);
    if (pool->role == MCSQ_POOL_REGIONAL && mode != KEY_PLACEMENT_LIBMEMCACHED &&
        mode != KEY_PLACEMENT_ALL)
        config_run_error(run, line,
                         "[pool %s] placement: a regional pool holds the remote markers, which "
                         "the marker library places with libmemcached's rule: use "
                         "libmemcached or all, not %s",
                         pool->name, name);
}

static void validate_pools(config_run *run)
{
    for (size_t i = 0; i < run->cfg->npools; i++)
        validate_placement(run, 1 + i);
    const mcsq_config *cfg = run->cfg;
    const mcsq_pool_config *regional = NULL;
    const mcsq_config_row *role = config_row_find("pool", "role");
    for (size_t i = 0; i < cfg->npools; i++) {
        if (cfg->pools[i].role != MCSQ_POOL_REGIONAL)
            continue;
        if (regional != NULL)
            config_run_error(
                run, *config_run_key_line(run, 1 + i, role),
                "[pool %s] role: a second regional pool (the first is [pool %s] on line "
                "%d); at most one is allowed",
                cfg->pools[i].name, regional->name, regional->line);
        else
            regional = &cfg->pools[i];
    }
}

/* The embedded bus keeps at most 5 MiB per partition, and a message that
 * does not fit beside the previous one can vanish after being acknowledged
 * (docs/bus.md): keep its messages well below that. */
#define EMBEDDED_BATCH_MAX (2560 * 1024)

static void validate_embedded_bus(config_run *run)
{
    const mcsq_config *cfg = run->cfg;
    if (strcmp(cfg->bus.brokers, "embedded") != 0 || cfg->bus.batch_max_bytes <= EMBEDDED_BATCH_MAX)
        return;
    config_run_error(run, *config_run_key_line(run, 0, config_row_find("bus", "batch_max_bytes")),
                     "[bus] batch_max_bytes: %lld is more than the embedded bus can hold safely "
                     "(at most 2560k; it keeps 5 MiB per partition)",
                     (long long)cfg->bus.batch_max_bytes);
}

static void validate_start(config_run *run)
{
    char why[CONFIG_WHY_LEN];
    mcsq_config *cfg = run->cfg;
    int rc = mcsq_start_parse(cfg->mysql.start, &cfg->mysql.start_at, why, sizeof(why));
    if (rc == MCSQ_ERR_NOMEM)
        run->nomem = true; /* a syntax error was reported by the row's check */
}

/* Reads a password file: at most PASSWORD_MAX bytes, trailing newlines cut. */
static int read_password_file(const char *path, char **out, char *why, size_t len)
{
    char buf[PASSWORD_MAX + 1];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(why, len, "cannot open \"%s\": %s", path, strerror(errno));
        return MCSQ_ERR_CONFIG;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    bool failed = ferror(f) != 0, too_big = n > PASSWORD_MAX;
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    const char *problem = failed                 ? "cannot be read"
                          : too_big              ? "is larger than 4096 bytes"
                          : n == 0               ? "is empty"
                          : memchr(buf, '\0', n) ? "contains a NUL byte"
                                                 : NULL;
    if (problem == NULL)
        *out = strndup(buf, n);
    explicit_bzero(buf, sizeof(buf));
    if (problem != NULL) {
        snprintf(why, len, "\"%s\" %s", path, problem);
        return MCSQ_ERR_CONFIG;
    }
    return *out != NULL ? MCSQ_OK : MCSQ_ERR_NOMEM;
}

/* A password (MySQL's, Kafka's SASL one): from the file the key section.name
 * names, else from the environment variable env, else none (*out NULL). */
static void load_password(config_run *run, const char *section, const char *name, const char *file,
                          const char *env, char **out)
{
    char why[CONFIG_WHY_LEN], label[64];
    if (file[0] == '\0') {
        const char *value = getenv(env);
        if (value != NULL && *value != '\0' && (*out = strdup(value)) == NULL)
            run->nomem = true;
        return;
    }
    int rc = read_password_file(file, out, why, sizeof(why));
    int line = *config_run_key_line(run, 0, config_row_find(section, name));
    snprintf(label, sizeof(label), "[%s] %s", section, name);
    config_run_rc(run, rc, line, label, why);
}

void config_validate(config_run *run)
{
    derive_defaults(run);
    for (size_t slot = 0; slot <= run->cfg->npools; slot++)
        validate_slot(run, slot);
    validate_pools(run);
    validate_embedded_bus(run);
    validate_start(run);
    mcsq_config *cfg = run->cfg;
    load_password(run, "mysql", "password_file", cfg->mysql.password_file, MCSQ_CONFIG_PASSWORD_ENV,
                  &cfg->mysql.password);
    load_password(run, "bus", "sasl_password_file", cfg->bus.sasl_password_file,
                  MCSQ_CONFIG_KAFKA_PASSWORD_ENV, &cfg->bus.sasl_password);
    config_validate_kafka_security(run);
}
