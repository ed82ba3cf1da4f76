/*
 * librdkafka configuration shared by the bus producer and consumer: the
 * component's defaults first, then the operator's bus.kafka.* properties,
 * which therefore override them.
 */
#ifndef MCSQ_BUS_KAFKA_CONF_H
#define MCSQ_BUS_KAFKA_CONF_H

#include "core/config.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

typedef struct kafka_setting {
    const char *name;
    const char *value;
} kafka_setting;

/* Sets the n defaults, then cfg's bus.kafka.* list, then the SASL password
 * that bus.sasl_password_file or the environment gave, on conf. Returns 0 or
 * MCSQ_ERR_CONFIG with errstr naming the property librdkafka refused. */
int kafka_conf_apply(rd_kafka_conf_t *conf, const kafka_setting *defaults, size_t n,
                     const mcsq_config *cfg, char *errstr, size_t errstr_size);

#endif
