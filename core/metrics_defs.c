/*
 * Registration of the metrics declared in metrics_defs.h.
 */
#include "core/metrics_defs.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

const metrics_def metrics_def_table[] = {
#define METRICS_DEFS_ROW_(field, type, labels, help)                                               \
    {METRICS_DEFS_PREFIX #field, METRICS_##type, labels, help},
    METRICS_DEFS(METRICS_DEFS_ROW_)
#undef METRICS_DEFS_ROW_
};
const size_t metrics_def_count = sizeof(metrics_def_table) / sizeof(metrics_def_table[0]);

static int register_row(metrics_registry *reg, const metrics_def *def, metrics_family **out,
                        char *errstr, size_t errstr_size)
{
    metrics_family_spec spec = {def->type, def->name, def->help, def->labels, NULL, 0};
    return metrics_family_new(reg, &spec, out, errstr, errstr_size);
}

int metrics_defs_register(metrics_registry *reg, const char *version, metrics_defs *out,
                          char *errstr, size_t errstr_size)
{
    size_t i = 0;
    int rc = MCSQ_OK;
#define METRICS_DEFS_REGISTER_(field, type, labels, help)                                          \
    if (rc == MCSQ_OK)                                                                             \
        rc = register_row(reg, &metrics_def_table[i++], &out->field, errstr, errstr_size);
    METRICS_DEFS(METRICS_DEFS_REGISTER_)
#undef METRICS_DEFS_REGISTER_
    if (rc != MCSQ_OK)
        return rc;
    metrics_series *build = metrics_series_get1(out->build_info, version);
    if (build == NULL)
        return MCSQ_ERR_NOMEM;
    metrics_gauge_set(build, 1);
    metrics_gauge_set(metrics_series_get0(out->up), 1);
    return MCSQ_OK;
}
