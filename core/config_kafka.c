/*
 * The usual mistakes of the bus's security settings, caught when the
 * configuration loads (and so by check-config) rather than when the bus
 * connects: a certificate or key file that does not exist, SASL without a
 * mechanism, a user name or a password, SASL or SSL settings that the chosen
 * security.protocol ignores, the SASL password given twice.
 */
#include "core/config_private.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The kafka.* property named name, or NULL. */
static const mcsq_config_prop *prop(const mcsq_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->bus.kafka.n; i++) {
        if (strcmp(cfg->bus.kafka.v[i].name, name) == 0)
            return &cfg->bus.kafka.v[i];
    }
    return NULL;
}

/* librdkafka knows sasl.mechanism as an alias of sasl.mechanisms. */
static const mcsq_config_prop *mechanism(const mcsq_config *cfg)
{
    const mcsq_config_prop *p = prop(cfg, "sasl.mechanisms");
    return p != NULL ? p : prop(cfg, "sasl.mechanism");
}

/* Files librdkafka reads; "probe" is ssl.ca.location's request to look in
 * the system's usual places. */
static void check_files(config_run *run)
{
    static const char *const names[] = {"ssl.ca.location",    "ssl.certificate.location",
                                        "ssl.key.location",   "ssl.keystore.location",
                                        "ssl.crl.location",   "sasl.kerberos.keytab",
                                        "ssl.engine.location"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const mcsq_config_prop *p = prop(run->cfg, names[i]);
        if (p == NULL || p->value[0] == '\0')
            continue;
        if (strcmp(names[i], "ssl.ca.location") == 0 && strcmp(p->value, "probe") == 0)
            continue;
        if (access(p->value, R_OK) != 0)
            config_run_error(run, p->line, "[bus] kafka.%s: cannot read \"%s\": %s", names[i],
                             p->value, strerror(errno));
    }
}

static bool uses_password(const char *mech)
{
    return strcasecmp(mech, "PLAIN") == 0 || strncasecmp(mech, "SCRAM-", 6) == 0;
}

void config_validate_kafka_security(config_run *run)
{
    const mcsq_config *cfg = run->cfg;
    check_files(run);
    const mcsq_config_prop *proto = prop(cfg, "security.protocol");
    const char *protocol = proto != NULL ? proto->value : "plaintext";
    bool sasl = strncasecmp(protocol, "sasl_", 5) == 0;
    bool ssl = strcasecmp(protocol, "ssl") == 0 || strcasecmp(protocol, "sasl_ssl") == 0;
    const mcsq_config_prop *mech = mechanism(cfg);
    const mcsq_config_prop *inline_pw = prop(cfg, "sasl.password");

    if (sasl && mech == NULL)
        config_run_error(run, proto->line,
                         "[bus] kafka.security.protocol = %s needs kafka.sasl.mechanisms "
                         "(SCRAM-SHA-256, SCRAM-SHA-512, PLAIN, GSSAPI or OAUTHBEARER)",
                         protocol);
    if (!sasl && mech != NULL)
        config_run_error(run, mech->line,
                         "[bus] kafka.%s is ignored unless kafka.security.protocol is "
                         "sasl_ssl or sasl_plaintext (it is %s)",
                         mech->name, protocol);
    if (sasl && mech != NULL && uses_password(mech->value)) {
        if (prop(cfg, "sasl.username") == NULL)
            config_run_error(run, mech->line, "[bus] kafka.%s = %s needs kafka.sasl.username",
                             mech->name, mech->value);
        if (cfg->bus.sasl_password == NULL && inline_pw == NULL)
            config_run_error(run, mech->line,
                             "[bus] kafka.%s = %s needs a password: [bus] sasl_password_file "
                             "or the environment variable " MCSQ_CONFIG_KAFKA_PASSWORD_ENV,
                             mech->name, mech->value);
    }
    if (inline_pw != NULL && cfg->bus.sasl_password != NULL)
        config_run_error(run, inline_pw->line,
                         "[bus] kafka.sasl.password and %s both give the SASL password; keep "
                         "one (sasl_password_file keeps it out of the configuration)",
                         cfg->bus.sasl_password_file[0] != '\0' ? "[bus] sasl_password_file"
                                                                : MCSQ_CONFIG_KAFKA_PASSWORD_ENV);
    if (!ssl) {
        for (size_t i = 0; i < cfg->bus.kafka.n; i++) {
            const mcsq_config_prop *p = &cfg->bus.kafka.v[i];
            if (strncmp(p->name, "ssl.", 4) == 0 && strcmp(p->name, "ssl.engine.id") != 0)
                config_run_error(run, p->line,
                                 "[bus] kafka.%s is ignored unless kafka.security.protocol is "
                                 "ssl or sasl_ssl (it is %s)",
                                 p->name, protocol);
        }
    }
}
