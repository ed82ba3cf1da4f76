/*
 * The continuum (see placement_continuum.h).
 */
#include "marker/placement_continuum.h"
#include "mcsqueal/error.h"

#include <stdlib.h>

int placement_continuum_init(placement_continuum *c, size_t cap)
{
    c->n = 0;
    c->cap = cap;
    c->value = malloc((cap ? cap : 1) * sizeof(*c->value));
    c->server = malloc((cap ? cap : 1) * sizeof(*c->server));
    if (c->value == NULL || c->server == NULL) {
        placement_continuum_deinit(c);
        return MCSQ_ERR_NOMEM;
    }
    return MCSQ_OK;
}

void placement_continuum_deinit(placement_continuum *c)
{
    free(c->value);
    free(c->server);
    c->value = c->server = NULL;
    c->n = c->cap = 0;
}

void placement_continuum_add(placement_continuum *c, uint32_t value, uint32_t server)
{
    c->value[c->n] = value;
    c->server[c->n] = server;
    c->n++;
}

static int point_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int placement_continuum_sort(placement_continuum *c)
{
    uint64_t *points = malloc((c->n ? c->n : 1) * sizeof(*points));
    if (points == NULL)
        return MCSQ_ERR_NOMEM;
    for (size_t i = 0; i < c->n; i++)
        points[i] = (uint64_t)c->value[i] << 32 | c->server[i];
    qsort(points, c->n, sizeof(*points), point_cmp);
    for (size_t i = 0; i < c->n; i++) {
        c->value[i] = (uint32_t)(points[i] >> 32);
        c->server[i] = (uint32_t)points[i];
    }
    free(points);
    return MCSQ_OK;
}

void placement_continuum_keep_last(placement_continuum *c)
{
    size_t out = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (i + 1 < c->n && c->value[i + 1] == c->value[i])
            continue;
        c->value[out] = c->value[i];
        c->server[out] = c->server[i];
        out++;
    }
    c->n = out;
}
