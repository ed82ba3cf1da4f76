/*
 * librdkafka configuration (see kafka_conf.h).
 */
#include "bus/kafka_conf.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

/* Sets one property; an error names it with its value as check-config
 * prints it (<hidden> for a secret). */
static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                    size_t errstr_size)
{
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) == RD_KAFKA_CONF_OK)
        return MCSQ_OK;
    return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "bus: %s=%s: %s", name,
                      mcsq_config_prop_printed_value(name, value), err);
}

int kafka_conf_apply(rd_kafka_conf_t *conf, const kafka_setting *defaults, size_t n,
                     const mcsq_config *cfg, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < n; i++) {
        int rc = conf_set(conf, defaults[i].name, defaults[i].value, errstr, errstr_size);
        if (rc != MCSQ_OK)
            return rc;
    }
    for (size_t i = 0; i < cfg->bus.kafka.n; i++) {
        int rc = conf_set(conf, cfg->bus.kafka.v[i].name, cfg->bus.kafka.v[i].value, errstr,
                          errstr_size);
        if (rc != MCSQ_OK)
            return rc;
    }
    /* the SASL password from [bus] sasl_password_file or the environment */
    if (cfg->bus.sasl_password != NULL)
        return conf_set(conf, "sasl.password", cfg->bus.sasl_password, errstr, errstr_size);
    return MCSQ_OK;
}
