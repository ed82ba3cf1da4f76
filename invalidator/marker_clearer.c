/*
 * Router-side marker clearing (see marker_clearer.h).
 */
#include "invalidator/marker_clearer.h"
#include "core/errstr.h"
#include "core/log.h"
#include "marker/marker_internal.h"
#include "invalidator/marker_pool.h"
#include "mcsqueal/marker.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct marker_clearer {
    mcsq_marker_client *client;
    size_t prefix_len;
    char *names;     /* cap * (MCSQ_MARKER_KEY_MAX + 1) bytes: the marker keys */
    mcsq_key *mkeys; /* cap */
    int64_t *set_us; /* cap */
    size_t cap;
};

int marker_clearer_new(marker_clearer **out, const mcsq_pool_config *regional, const char *region,
                       int timeout_ms, char *errstr, size_t errstr_size)
{
    marker_clearer *mc = calloc(1, sizeof(*mc));
    if (mc == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    int rc =
        marker_pool_client_new(&mc->client, regional, region, 0, timeout_ms, errstr, errstr_size);
    if (rc != MCSQ_OK) {
        free(mc);
        return rc;
    }
    mc->prefix_len = marker_client_prefix_len(mc->client);
    *out = mc;
    return MCSQ_OK;
}

void marker_clearer_destroy(marker_clearer *mc)
{
    if (mc == NULL)
        return;
    mcsq_marker_client_destroy(mc->client);
    free(mc->names);
    free(mc->mkeys);
    free(mc->set_us);
    free(mc);
}

static int reserve(marker_clearer *mc, size_t n)
{
    if (n <= mc->cap)
        return MCSQ_OK;
    size_t cap = mc->cap ? mc->cap : 64;
    while (cap < n)
        cap *= 2;
    char *names = realloc(mc->names, cap * (MCSQ_MARKER_KEY_MAX + 1));
    if (names != NULL)
        mc->names = names;
    mcsq_key *k = realloc(mc->mkeys, cap * sizeof(*k));
    if (k != NULL)
        mc->mkeys = k;
    int64_t *t = realloc(mc->set_us, cap * sizeof(*t));
    if (t != NULL)
        mc->set_us = t;
    if (names == NULL || k == NULL || t == NULL)
        return MCSQ_ERR_NOMEM;
    mc->cap = cap;
    return MCSQ_OK;
}

int marker_clearer_prepare(marker_clearer *mc, const mcsq_key *keys, size_t n, const uint8_t *held,
                           bool read_set_times, const mcsq_key **out, size_t *nout, size_t *nheld)
{
    size_t want = 0, m = 0;
    *nout = *nheld = 0;
    for (size_t i = 0; i < n; i++)
        want += keys[i].marker ? 1 : 0;
    if (reserve(mc, want) != MCSQ_OK)
        return MCSQ_ERR_NOMEM;
    bool reading = read_set_times;
    for (size_t i = 0; i < n; i++) {
        if (!keys[i].marker)
            continue;
        if (held[i]) {
            (*nheld)++;
            continue;
        }
        char *name = mc->names + m * (MCSQ_MARKER_KEY_MAX + 1);
        size_t len;
        /* keys reached here through the router's key check, so they are valid */
        if (mcsq_marker_key(keys[i].data, keys[i].len, mc->prefix_len, name,
                            MCSQ_MARKER_KEY_MAX + 1, &len) != MCSQ_OK)
            continue;
        mc->mkeys[m] = (mcsq_key){name, (uint32_t)len, 1};
        mc->set_us[m] = 0;
        if (reading) {
            char err[256];
            int64_t t = 0;
            if (marker_client_read(mc->client, name, len, &t, err, sizeof(err)) != MCSQ_OK) {
                static log_ratelimit limit = LOG_RATELIMIT_INIT(60, 3);
                log_ratelimited(&limit, LOG_LEVEL_WARN,
                                "markers: %s (marker ages of this batch are not measured)", err);
                reading = false;
            }
            mc->set_us[m] = t > 0 ? t : 0;
        }
        m++;
    }
    *out = mc->mkeys;
    *nout = m;
    return MCSQ_OK;
}

int64_t marker_clearer_set_us(const marker_clearer *mc, size_t i)
{
    return i < mc->cap ? mc->set_us[i] : 0;
}
