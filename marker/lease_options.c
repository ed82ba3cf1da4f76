/*
 * Lease client options by name (see include/mcsqueal/lease.h): one table of
 * names, each with its setter; values are checked here, once.
 */
#include "marker/lease_options.h"
#include "core/errstr.h"
#include "marker/marker_servers.h"

#include <stdlib.h>
#include <string.h>

int mcsq_lease_options_new(mcsq_lease_options **out)
{
    mcsq_lease_options *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return MCSQ_ERR_NOMEM;
    o->timeout_ms = MCSQ_LEASE_TIMEOUT_DEFAULT_MS;
    o->lease_ttl_s = MCSQ_LEASE_TTL_DEFAULT_S;
    *out = o;
    return MCSQ_OK;
}

void mcsq_lease_options_destroy(mcsq_lease_options *o)
{
    if (o == NULL)
        return;
    free(o->servers);
    free(o);
}

/* A decimal integer in [min, max]; -1 otherwise. */
static long parse_range(const char *v, long min, long max)
{
    long x = 0;
    if (*v == '\0')
        return -1;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9' || (x = x * 10 + (*v - '0')) > max)
            return -1;
    }
    return x >= min ? x : -1;
}

static int count_server(void *ctx, const char *host, unsigned port, unsigned weight)
{
    (void)host, (void)port, (void)weight;
    ++*(int *)ctx;
    return 0;
}

static int set_servers(mcsq_lease_options *o, const char *v, char *errstr, size_t errstr_size)
{
    char why[256];
    int n = 0;
    if (marker_servers_parse(v, count_server, &n, why, sizeof(why)) < 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "servers: %s", why);
    if (n == 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "servers: none given");
    char *copy = strdup(v);
    if (copy == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    free(o->servers);
    o->servers = copy;
    return MCSQ_OK;
}

static int set_prefix(mcsq_lease_options *o, const char *v, char *errstr, size_t errstr_size)
{
    if (strlen(v) > KEY_PLACEMENT_PREFIX_MAX)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "prefix: longer than %d bytes",
                          KEY_PLACEMENT_PREFIX_MAX);
    for (const char *p = v; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                              "prefix: contains whitespace or a control character");
    }
    strcpy(o->prefix, v);
    return MCSQ_OK;
}

static int set_timeout_ms(mcsq_lease_options *o, const char *v, char *errstr, size_t errstr_size)
{
    long x = parse_range(v, 1, 600000);
    if (x < 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "timeout_ms: \"%.32s\" is not a number from 1 to 600000", v);
    o->timeout_ms = (int)x;
    return MCSQ_OK;
}

static int set_lease_ttl_s(mcsq_lease_options *o, const char *v, char *errstr, size_t errstr_size)
{
    long x = parse_range(v, 1, 3600);
    if (x < 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "lease_ttl_s: \"%.32s\" is not a number from 1 to 3600", v);
    o->lease_ttl_s = (unsigned)x;
    return MCSQ_OK;
}

typedef int (*option_setter)(mcsq_lease_options *o, const char *v, char *errstr,
                             size_t errstr_size);

/* The pool's `placement`: one owner per key, so not `all` nor `proxy`. */
static int set_placement(mcsq_lease_options *o, const char *v, char *errstr, size_t errstr_size)
{
    key_placement_mode m;
    if (key_placement_mode_parse(v, &m) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "placement: \"%.64s\" is not a placement (docs/memcached.md)", v);
    if (m == KEY_PLACEMENT_ALL || m == KEY_PLACEMENT_PROXY)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "placement: a lease needs one owner per key; %s has none", v);
    o->placement = m;
    return MCSQ_OK;
}

static int set_ketama_points(mcsq_lease_options *o, const char *v, char *errstr, size_t errstr_size)
{
    long n = parse_range(v, 0, KEY_PLACEMENT_KETAMA_POINTS_MAX);
    if (n < 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "ketama_points: not a number from 0 to %d",
                          KEY_PLACEMENT_KETAMA_POINTS_MAX);
    o->ketama_points = (unsigned)n;
    return MCSQ_OK;
}

static const struct {
    const char *name;
    option_setter set;
} options[] = {
    {"servers", set_servers},       {"prefix", set_prefix},
    {"timeout_ms", set_timeout_ms}, {"lease_ttl_s", set_lease_ttl_s},
    {"placement", set_placement},   {"ketama_points", set_ketama_points},
};

int mcsq_lease_options_set(mcsq_lease_options *o, const char *name, const char *value, char *errstr,
                           size_t errstr_size)
{
    if (name == NULL || value == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "option name or value missing");
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        if (strcmp(options[i].name, name) == 0)
            return options[i].set(o, value, errstr, errstr_size);
    }
    return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                      "unknown option \"%.64s\" (servers, prefix, timeout_ms, lease_ttl_s, "
                      "placement, ketama_points)",
                      name);
}
