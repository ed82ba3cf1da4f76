/*
 * The configuration table: every section and key mcsqueal reads, with type,
 * place in the struct, range, default and description (see config.h). The
 * loader, the validator, `check-config --print` and the generated reference
 * (docs/CONFIGURATION.md) all walk this one table, in the manner of
 * librdkafka's rdkafka_conf.c. Also here: the rules of the values whose
 * syntax is their own (mysql.start, bus.brokers, names and identifiers).
 */
#include "core/config.h"
#include "core/key_placement_mode.h"
#include "core/log.h"
#include "core/name_rule.h"
#include "core/sql_ident.h"
#include "mcsqueal/error.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(LOG_LEVEL_ERROR == 0 && LOG_LEVEL_WARN == 1 && LOG_LEVEL_INFO == 2 &&
                   LOG_LEVEL_DEBUG == 3,
               "log_level words follow enum log_level");

static const char *const log_level_words[] = {"error", "warn", "info", "debug", NULL};
static const char *const on_purged_words[] = {"stop", "earliest", NULL};
static const char *const on_diverged_words[] = {"stop", "continue", NULL};
static const char *const on_gap_words[] = {"warn", "flush", NULL};
static const char *const ssl_mode_words[] = {"disabled",  "preferred",       "required",
                                             "verify_ca", "verify_identity", NULL};
static const char *const pool_role_words[] = {"cluster", "gutter", "regional", NULL};
static const char *const pool_invalidate_words[] = {"delete", "stale", NULL};

/* Name, region, cluster and topic: safe in topics, group ids and JSON. */
static int check_word(const char *value, char *err, size_t errlen)
{
    if (name_rule_word(value, strlen(value)))
        return MCSQ_OK;
    snprintf(err, errlen, "\"%s\": only letters, digits, '.', '_' and '-' are allowed", value);
    return MCSQ_ERR_CONFIG;
}

/* heartbeat.table: "table" or "database.table". */
static int check_sql_table(const char *value, char *err, size_t errlen)
{
    const char *dot = strchr(value, '.');
    bool ok = dot != NULL && sql_identifier_ok(value, (size_t)(dot - value)) &&
              sql_identifier_ok(dot + 1, strlen(dot + 1));
    if (ok)
        return MCSQ_OK;
    snprintf(err, errlen,
             "\"%s\" is not database.table, each 1-64 of A-Z a-z 0-9 _ $ and not digits "
             "only (mcsqueal heartbeat connects without a default database)",
             value);
    return MCSQ_ERR_CONFIG;
}

/* pool.prefix: no whitespace or control characters (memcached key rules). */
static int check_key_prefix(const char *value, char *err, size_t errlen)
{
    for (const char *p = value; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f) {
            snprintf(err, errlen, "must not contain whitespace or control characters");
            return MCSQ_ERR_CONFIG;
        }
    }
    return MCSQ_OK;
}

/* bus.brokers: "embedded" or host:port entries separated by commas. */
static int check_brokers(const char *value, char *err, size_t errlen)
{
    if (strcmp(value, "embedded") == 0)
        return MCSQ_OK;
    const char *p = value;
    for (;;) {
        size_t n = strcspn(p, ",");
        while (n > 0 && isspace((unsigned char)*p))
            p++, n--;
        size_t len = n;
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
        char why[160];
        if (mcsq_hostport_parse(p, len, NULL, why, sizeof(why)) != MCSQ_OK) {
            snprintf(err, errlen, "expected \"embedded\" or host:port[,host:port...]: %s", why);
            return MCSQ_ERR_CONFIG;
        }
        if (p[n] == '\0')
            return MCSQ_OK;
        p += n + 1;
    }
}

static int check_start(const char *value, char *err, size_t errlen)
{
    return mcsq_start_parse(value, NULL, err, errlen);
}

static int check_sample_rate(const char *value, char *err, size_t errlen)
{
    return mcsq_audit_sample_rate_parse(value, NULL, err, errlen);
}

static int check_delays(const char *value, char *err, size_t errlen)
{
    return mcsq_audit_delays_parse(value, NULL, NULL, err, errlen);
}

#define CFG(field) offsetof(mcsq_config, field)
#define POOL(field) offsetof(mcsq_pool_config, field)
#define WORD_CHARS "`A-Z a-z 0-9 . _ -`"

static const mcsq_config_section sections[] = {
    {"mcsqueal", false, "Identity of this process, where it keeps its state, and logging."},
    {"mysql", false,
     "The MySQL or MariaDB server whose binlog the tailer reads; mcsqueal connects to it as a "
     "replica."},
    {"bus", false,
     "The Kafka topic that carries committed transactions' keys from tailers to routers: one "
     "topic per region."},
    {"router", false,
     "The router deletes the keys it reads from the bus in the memcached pools of one front-end "
     "cluster."},
    {"pool", true,
     "One `[pool NAME]` section per memcached pool of this router's cluster; `NAME` is 1-64 of "
     "`A-Z a-z 0-9 _ -` and unique in the file. Any number of pools; a file without pools is "
     "valid for `mcsqueal tail`. At most one pool has role `regional`."},
    {"metrics", false, "The Prometheus endpoint."},
    {"heartbeat", false,
     "`mcsqueal heartbeat` writes `@probe` heartbeats to the primary, so lag is measured "
     "exactly even when no application writes."},
    {"marker", false,
     "Remote markers (docs/markers.md): `mcsqueal marker` sets them in the `regional` pool, "
     "routers clear them; applications configure the client library the same way."},
    {"audit", false,
     "The router's auditor (docs/audit.md) checks, for a sample of the invalidations it "
     "confirmed, that no copy stored before the delete is left on any server of the pool, "
     "after each delay."},
};

static const mcsq_config_row table[] = {
    /* [mcsqueal] */
    {.section = "mcsqueal",
     .name = "name",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(mcsqueal.name),
     .max = 255,
     .def_doc = "the host name",
     .check = check_word,
     .allowed_doc = WORD_CHARS,
     .desc = "Source name of this tailer: the bus message key and the `source` of each "
             "message, so one source's messages stay in order. Unique among a region's "
             "tailers. Empty means the host name."},
    {.section = "mcsqueal",
     .name = "region",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(mcsqueal.region),
     .min = 1,
     .max = NAME_RULE_REGION_MAX,
     .def = "default",
     .check = check_word,
     .allowed_doc = WORD_CHARS,
     .desc = "Region this process serves. Names the default bus topic, the routers' consumer "
             "groups and the region in `@marker=<region>` annotations."},
    {.section = "mcsqueal",
     .name = "state_dir",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(mcsqueal.state_dir),
     .min = 1,
     .def = "/var/lib/mcsqueal",
     .desc = "Directory for the checkpoint, the retry spool and the embedded bus address; "
             "must be writable by the daemon."},
    {.section = "mcsqueal",
     .name = "checkpoint_interval_ms",
     .type = MCSQ_CONF_DURATION,
     .offset = CFG(mcsqueal.checkpoint_interval_ms),
     .min = 10,
     .max = 3600000,
     .def = "1000",
     .desc = "How often the tailer writes its checkpoint (when it moved). After a crash it "
             "resumes there, so invalidations of up to this long are published twice: "
             "harmless, as deletes are idempotent."},
    {.section = "mcsqueal",
     .name = "queue_max_bytes",
     .type = MCSQ_CONF_SIZE,
     .offset = CFG(mcsqueal.queue_max_bytes),
     .min = 65536,
     .max = 1073741824,
     .def = "8M",
     .desc = "Memory for committed transactions waiting to be published. When it is full "
             "the tailer stops reading the binlog until the bus catches up."},
    {.section = "mcsqueal",
     .name = "txn_memory_max",
     .type = MCSQ_CONF_SIZE,
     .offset = CFG(mcsqueal.txn_memory_max),
     .min = 65536,
     .max = 1073741824,
     .def = "8M",
     .desc = "Memory for the keys of one open transaction. A larger transaction spills its "
             "keys to a file under `state_dir` (keys are then de-duplicated per chunk only)."},
    {.section = "mcsqueal",
     .name = "log_level",
     .type = MCSQ_CONF_ENUM,
     .offset = CFG(mcsqueal.log_level),
     .def = "info",
     .words = log_level_words,
     .desc = "Least severe level that is logged."},
    {.section = "mcsqueal",
     .name = "log_file",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(mcsqueal.log_file),
     .def = "",
     .desc = "Log file, appended to and reopened on SIGHUP. Empty logs to stderr."},

    /* [mysql] */
    {.section = "mysql",
     .name = "host",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(mysql.host),
     .min = 1,
     .max = 255,
     .def = "127.0.0.1",
     .desc = "Server to read the binlog from: host name or IP address. Unused when `socket` "
             "is set."},
    {.section = "mysql",
     .name = "port",
     .type = MCSQ_CONF_INT,
     .offset = CFG(mysql.port),
     .min = 1,
     .max = 65535,
     .def = "3306",
     .desc = "TCP port of the server."},
    {.section = "mysql",
     .name = "socket",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(mysql.socket),
     .def = "",
     .desc = "Unix socket of a local server; when set, used instead of host and port."},
    {.section = "mysql",
     .name = "user",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(mysql.user),
     .min = 1,
     .max = 80,
     .def = "mcsqueal",
     .desc = "User to connect as; needs the REPLICATION SLAVE and REPLICATION CLIENT "
             "privileges (MariaDB: also SLAVE MONITOR, so that a replica is recognised "
             "exactly; see docs/mysql.md)."},
    {.section = "mysql",
     .name = "password_file",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(mysql.password_file),
     .def = "",
     .desc = "File holding the user's password (trailing newlines are stripped), read at "
             "load time. When empty, the password comes from the environment variable "
             "`" MCSQ_CONFIG_PASSWORD_ENV "` if it is set, else none is used. The password "
             "itself is never a configuration key and is never printed."},
    {.section = "mysql",
     .name = "server_id",
     .type = MCSQ_CONF_INT,
     .offset = CFG(mysql.server_id),
     .min = 1,
     .max = 4294967295LL,
     .def = "4242",
     .desc = "Server id this tailer registers with as a replica; must differ from the id of "
             "every server and replica in the replication topology."},
    {.section = "mysql",
     .name = "start",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(mysql.start),
     .min = 1,
     .def = "end",
     .check = check_start,
     .allowed_doc = "`end`, `begin`, `gtid:<list>`, `file:<name>:<pos>`",
     .desc = "Where to start reading when state_dir holds no checkpoint: `end` (the binlog's "
             "current end), `begin` (the oldest binlog the server still has), `gtid:<list>` "
             "(after the transactions of a MariaDB GTID list such as `0-1-42,1-2-7` or a MySQL "
             "GTID set such as `3e11fa47-71ca-11e1-9e33-c80aa9429562:1-42`) or "
             "`file:<name>:<pos>` (a binlog file and byte position, at least 4). Ignored once a "
             "checkpoint exists."},
    {.section = "mysql",
     .name = "heartbeat_ms",
     .type = MCSQ_CONF_DURATION,
     .offset = CFG(mysql.heartbeat_ms),
     .min = 10,
     .max = 3600000,
     .def = "1000",
     .desc = "Heartbeat period asked of the server: an idle binlog stream still shows that it "
             "is alive and current this often."},
    {.section = "mysql",
     .name = "on_purged",
     .type = MCSQ_CONF_ENUM,
     .offset = CFG(mysql.on_purged),
     .def = "stop",
     .words = on_purged_words,
     .desc = "When the checkpoint's position is no longer on the server (its binlogs were "
             "purged): `stop` with an error (the default: the operator decides, e.g. by "
             "flushing the caches), or `earliest`: go on from the oldest binlog still there, "
             "accepting that the invalidations in between are lost (logged and counted)."},
    {.section = "mysql",
     .name = "on_diverged",
     .type = MCSQ_CONF_ENUM,
     .offset = CFG(mysql.on_diverged),
     .def = "stop",
     .words = on_diverged_words,
     .desc = "When the server lacks transactions the tailer already published (MariaDB GTIDs; "
             "a failover to a replica that was behind lost them with the old primary): `stop` "
             "with exit code 1, naming the missing GTIDs (the default: the operator decides), "
             "or `continue`: go on from the last GTID the server and the checkpoint have in "
             "common, accepting that caches may hold values of the lost transactions (logged, "
             "and `mcsqueal_source_diverged` is 1). See docs/operations.md, \"Failover\"."},
    {.section = "mysql",
     .name = "connect_timeout_ms",
     .type = MCSQ_CONF_DURATION,
     .offset = CFG(mysql.connect_timeout_ms),
     .min = 100,
     .max = 600000,
     .def = "5000",
     .desc = "Timeout of one connection attempt."},
    {.section = "mysql",
     .name = "reconnect_max_ms",
     .type = MCSQ_CONF_DURATION,
     .offset = CFG(mysql.reconnect_max_ms),
     .min = 100,
     .max = 3600000,
     .def = "30000",
     .desc = "Longest wait between reconnection attempts (the wait grows exponentially up to "
             "this)."},
    {.section = "mysql",
     .name = "ssl_mode",
     .type = MCSQ_CONF_ENUM,
     .offset = CFG(mysql.ssl_mode),
     .def = "preferred",
     .words = ssl_mode_words,
     .desc = "TLS to the server, as the mysql client's `--ssl-mode`: `disabled`; `preferred` "
             "(TLS when the server offers it); `required`; `verify_ca` (also verify the "
             "server's certificate); `verify_identity` (also verify its host name)."},
    {.section = "mysql",
     .name = "ssl_ca",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(mysql.ssl_ca),
     .def = "",
     .desc = "CA certificate file (PEM) to verify the server's certificate with."},
    {.section = "mysql",
     .name = "ssl_cert",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(mysql.ssl_cert),
     .def = "",
     .desc = "Client certificate file (PEM), for servers that require one."},
    {.section = "mysql",
     .name = "ssl_key",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(mysql.ssl_key),
     .def = "",
     .desc = "Private key file (PEM) of `ssl_cert`."},
    {.section = "mysql",
     .name = "verify_checksum",
     .type = MCSQ_CONF_BOOL,
     .offset = CFG(mysql.verify_checksum),
     .def = "true",
     .desc = "Verify the CRC32 checksum of every binlog event that carries one; a mismatch "
             "stops the stream with an error."},

    /* [bus] */
    {.section = "bus",
     .name = "brokers",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(bus.brokers),
     .min = 1,
     .def = "embedded",
     .check = check_brokers,
     .allowed_doc = "`embedded` or `host:port[,host:port...]`",
     .desc = "Kafka bootstrap servers, or `embedded` for the built-in Kafka-protocol mock "
             "cluster (one-machine setups and tests)."},
    {.section = "bus",
     .name = "topic",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(bus.topic),
     .max = 249,
     .def_doc = "`mcsqueal.<region>`",
     .check = check_word,
     .allowed_doc = WORD_CHARS,
     .desc = "Kafka topic of this region's invalidations. Empty means `mcsqueal.<region>`."},
    {.section = "bus",
     .name = "batch_max_keys",
     .type = MCSQ_CONF_INT,
     .offset = CFG(bus.batch_max_keys),
     .min = 1,
     .max = 1000000,
     .def = "10000",
     .desc = "Most cache keys in one bus message."},
    {.section = "bus",
     .name = "batch_max_bytes",
     .type = MCSQ_CONF_SIZE,
     .offset = CFG(bus.batch_max_bytes),
     .min = 1024,
     .max = 1000000000,
     .def = "900k",
     .desc = "Largest bus message. Keep it below the producer's `message.max.bytes` "
             "(librdkafka's default is 1000000) and the topic's `max.message.bytes`."},
    {.section = "bus",
     .name = "linger_ms",
     .type = MCSQ_CONF_DURATION,
     .offset = CFG(bus.linger_ms),
     .min = 0,
     .max = 900000,
     .def = "2",
     .desc = "How long a batch waits for more transactions before it is sent; 0 sends every "
             "commit at once."},
    {.section = "bus",
     .name = "sasl_password_file",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(bus.sasl_password_file),
     .def = "",
     .desc = "File holding the Kafka SASL password (librdkafka's `sasl.password`; trailing "
             "newlines are stripped), read at load time. When empty, the password comes from "
             "the environment variable `" MCSQ_CONFIG_KAFKA_PASSWORD_ENV "` if it is set, else "
             "none is used. Never printed or logged; see docs/kafka.md for SASL/SCRAM."},
    {.section = "bus",
     .name = "kafka.*",
     .type = MCSQ_CONF_PROPS,
     .offset = CFG(bus.kafka),
     .def_doc = "none",
     .allowed_doc = "`kafka.<property> = <value>`",
     .desc = "Passes a librdkafka property to the producer and consumer, e.g. "
             "`kafka.security.protocol = ssl`; any number, kept in file order. Names are not "
             "checked here (librdkafka rejects unknown ones when the bus starts); values must "
             "not be empty."},

    /* [router] */
    {.section = "router",
     .name = "cluster",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(router.cluster),
     .min = 1,
     .max = 64,
     .def = "default",
     .check = check_word,
     .allowed_doc = WORD_CHARS,
     .desc = "Front-end cluster this router serves. Its consumer group is "
             "`mcsqueal.<region>.<cluster>`, so every cluster receives every invalidation and "
             "the routers of one cluster share the work."},
    {.section = "router",
     .name = "instance",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(router.instance),
     .max = 249,
     .def = "",
     .check = check_word,
     .allowed_doc = WORD_CHARS,
     .desc = "Makes this router a static member of its consumer group (Kafka's "
             "`group.instance.id`): unique per router of the cluster and stable across "
             "restarts, e.g. the host name. A static member restarted within the session "
             "timeout (6 s, `kafka.session.timeout.ms`) gets its partitions back at once, "
             "without a rebalance; one that stops, also with SIGTERM, does not leave the group, "
             "so its partitions wait for the session timeout before they move. Ignored by a "
             "`mcsqueal run` that hosts the embedded bus (it takes every partition itself)."},
    {.section = "router",
     .name = "on_gap",
     .type = MCSQ_CONF_ENUM,
     .offset = CFG(router.on_gap),
     .def = "warn",
     .words = on_gap_words,
     .desc = "What the router does when the bus lost messages it had not read yet (a "
             "partition's next message is further on than the one expected: retention ran out "
             "while no router read it, offsets were reset): `warn` counts them in "
             "`mcsqueal_bus_messages_total{result=\"lost\"}`, logs an error, and `status` and "
             "the alert rules report it; `flush` also sends `flush_all` to every server of the "
             "cluster's `cluster` and `gutter` pools once per gap (counted in "
             "`mcsqueal_pool_flushes_total`), the only way to be consistent again. The "
             "`regional` pool, which holds the remote markers, is never flushed."},

    /* [pool NAME] */
    {.section = "pool",
     .name = "servers",
     .type = MCSQ_CONF_HOSTPORT_LIST,
     .offset = POOL(servers),
     .min = 1,
     .max = 1024,
     .def_doc = "none (required)",
     .desc = "memcached servers of the pool, separated by spaces (or commas). A long list "
             "continues on the following lines when they are indented."},
    {.section = "pool",
     .name = "role",
     .type = MCSQ_CONF_ENUM,
     .offset = POOL(role),
     .def = "cluster",
     .words = pool_role_words,
     .desc = "`cluster`: a pool of the cluster's cache; `gutter`: the cluster's gutter pool; "
             "`regional`: the region's shared pool, which also holds the remote markers."},
    {.section = "pool",
     .name = "prefix",
     .type = MCSQ_CONF_STRING,
     .offset = POOL(prefix),
     .max = 128,
     .def = "",
     .check = check_key_prefix,
     .allowed_doc = "no whitespace or control characters",
     .desc = "Prefix put before every key deleted in this pool."},
    {.section = "pool",
     .name = "invalidate",
     .type = MCSQ_CONF_ENUM,
     .offset = POOL(invalidate),
     .def = "delete",
     .words = pool_invalidate_words,
     .desc = "How the router invalidates a key (memcached meta protocol, docs/memcached.md). "
             "WARNING: `stale` is only right for a pool whose readers ALL read through meta "
             "`mg` (the lease API or an equivalent client): a plain `get` returns an item "
             "marked stale as if it were fresh, until `stale_ttl_s` ends. `delete` (the "
             "default, `md <key> q`): the item is removed; right for every client. `stale` "
             "(`md <key> I T<stale_ttl_s> q`): the item stays, marked stale; one meta reader "
             "wins its refill while the others keep the old value, so a hot key causes no "
             "herd on the database. Remote markers are always deleted."},
    {.section = "pool",
     .name = "stale_ttl_s",
     .type = MCSQ_CONF_INT,
     .offset = POOL(stale_ttl_s),
     .min = 1,
     .max = 2592000,
     .def = "30",
     .desc = "With `invalidate = stale`: seconds a stale item may still be served (its new "
             "expiry, memcached's `T` flag) before it is gone. Ignored with `delete`."},
    {.section = "pool",
     .name = "placement",
     .type = MCSQ_CONF_ENUM,
     .offset = POOL(placement),
     .def = "libmemcached",
     .words = key_placement_mode_words,
     .desc = "How the applications' memcached client places keys on the servers, so that "
             "every delete and marker reaches the server holding the key: `libmemcached` "
             "(weighted ketama, `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`; php-memcached with "
             "`OPT_LIBKETAMA_COMPATIBLE`), `libmemcached-modula` (libmemcached and "
             "php-memcached defaults), `pymemcache` (`HashClient` defaults), "
             "`python-memcached`, `dalli`, `cache-memcached-fast`, `spymemcached` "
             "(`KetamaConnectionFactory`), `all` (every delete goes to every server) or "
             "`proxy` (the servers are proxies such as twemproxy or mcrouter that place keys "
             "themselves; each delete goes to one answering proxy). Weights "
             "(`host:port:weight` in `servers`) apply to `libmemcached`, `python-memcached`, "
             "`dalli`, `cache-memcached-fast` and `spymemcached` (`libmemcached-modula` "
             "takes and ignores them, as libmemcached does). docs/memcached.md lists the "
             "client settings "
             "of each mode."},
    {.section = "pool",
     .name = "ketama_points",
     .type = MCSQ_CONF_INT,
     .offset = POOL(ketama_points),
     .min = 0,
     .max = 10000,
     .def = "0",
     .desc = "`placement = cache-memcached-fast` only: the client's `ketama_points` option "
             "(0, its default, places keys by CRC32 buckets; above 0, on its ketama "
             "continuum with that many points per server)."},

    /* [metrics] */
    {.section = "metrics",
     .name = "listen",
     .type = MCSQ_CONF_HOSTPORT,
     .offset = CFG(metrics.listen),
     .def = "127.0.0.1:9187",
     .desc = "Address of the Prometheus endpoint, served at `/metrics`. Empty disables it."},

    /* [heartbeat] */
    {.section = "heartbeat",
     .name = "interval_ms",
     .type = MCSQ_CONF_DURATION,
     .offset = CFG(heartbeat.interval_ms),
     .min = 100,
     .max = 3600000,
     .def = "1000",
     .desc = "How often `mcsqueal heartbeat` writes a probe. Tailers also use it: while "
             "probes arrive (at least one per two intervals) they alone set the binlog lag."},
    {.section = "heartbeat",
     .name = "table",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(heartbeat.table),
     .min = 1,
     .max = 129,
     .def = "mcsqueal.heartbeat",
     .check = check_sql_table,
     .allowed_doc = "`database.table`, unquoted identifiers",
     .desc = "Table the probes are written to, one row per source. `mcsqueal heartbeat` "
             "creates the database and the table when they are missing and it may; with "
             "both created beforehand it needs only INSERT and UPDATE on the table."},

    /* [marker] */
    {.section = "marker",
     .name = "ttl_s",
     .type = MCSQ_CONF_INT,
     .offset = CFG(marker.ttl_s),
     .min = 1,
     .max = 2592000,
     .def = "300",
     .desc = "Lifetime of a marker `mcsqueal marker set` sets, in seconds: a safety net for a "
             "marker nobody clears (reads of its key go to the master until it expires). Keep "
             "it longer than any replication delay you would wait for."},

    /* [audit] */
    {.section = "audit",
     .name = "sample_rate",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(audit.sample_rate),
     .min = 1,
     .max = 32,
     .def = "0.001",
     .check = check_sample_rate,
     .allowed_doc = "a decimal fraction, 0..1",
     .desc = "Fraction of the deletes confirmed by memcached that the auditor checks, decided "
             "key by key in each pool. 0 turns the auditor off; 1 checks every key."},
    {.section = "audit",
     .name = "delays_ms",
     .type = MCSQ_CONF_STRING,
     .offset = CFG(audit.delays_ms),
     .min = 1,
     .max = 128,
     .def = "1000 60000",
     .check = check_delays,
     .allowed_doc = "1-8 increasing whole milliseconds, 100..86400000, separated by spaces",
     .desc = "When a sampled key is checked on every server of its pool, counted from the "
             "moment memcached confirmed its delete: one check per delay (the `delay` label "
             "of the audit metrics)."},
    {.section = "audit",
     .name = "max_checks_per_s",
     .type = MCSQ_CONF_INT,
     .offset = CFG(audit.max_checks_per_s),
     .min = 1,
     .max = 100000,
     .def = "100",
     .desc = "Most checks per second (a check is one key on every server of one pool after "
             "one delay). Samples beyond it are dropped and counted as "
             "`mcsqueal_audit_checks_total{result=\"dropped\"}`, never queued."},
};

const mcsq_config_row *mcsq_config_table(size_t *n)
{
    *n = sizeof(table) / sizeof(table[0]);
    return table;
}

const mcsq_config_section *mcsq_config_sections(size_t *n)
{
    *n = sizeof(sections) / sizeof(sections[0]);
    return sections;
}

/* Parses n decimal digits (n > 0) into *out; false on anything else. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]) || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* MariaDB GTID: domain-server-sequence, 32-, 32- and 64-bit numbers. */
static bool mariadb_gtid_ok(const char *s, size_t n)
{
    const char *d1 = memchr(s, '-', n);
    if (d1 == NULL)
        return false;
    const char *rest = d1 + 1;
    size_t rn = n - (size_t)(rest - s);
    const char *d2 = memchr(rest, '-', rn);
    if (d2 == NULL)
        return false;
    uint64_t domain, server, seq;
    return parse_u64(s, (size_t)(d1 - s), &domain) && domain <= UINT32_MAX &&
           parse_u64(rest, (size_t)(d2 - rest), &server) && server <= UINT32_MAX &&
           parse_u64(d2 + 1, n - (size_t)(d2 + 1 - s), &seq);
}

static bool uuid_ok(const char *s)
{
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* A MySQL GTID interval: N or N-M with 1 <= N <= M. */
static bool gtid_interval_ok(const char *s, size_t n)
{
    const char *dash = memchr(s, '-', n);
    uint64_t lo, hi;
    if (dash == NULL)
        return parse_u64(s, n, &lo) && lo >= 1;
    return parse_u64(s, (size_t)(dash - s), &lo) &&
           parse_u64(dash + 1, n - (size_t)(dash + 1 - s), &hi) && lo >= 1 && hi >= lo;
}

/* A MySQL 8.3+ GTID tag: [A-Za-z_][A-Za-z0-9_]{0,31}. */
static bool gtid_tag_ok(const char *s, size_t n)
{
    return n > 0 && n <= 32 && !name_rule_digit(s[0]) && name_rule_chars(s, n, "_");
}

/* MySQL GTID set element: uuid, then ':'-separated intervals and tags. */
static bool mysql_gtid_ok(const char *s, size_t n)
{
    bool interval = false;
    if (n < 38 || !uuid_ok(s) || s[36] != ':')
        return false;
    for (size_t i = 37; i <= n;) {
        size_t j = i;
        while (j < n && s[j] != ':')
            j++;
        if (gtid_interval_ok(s + i, j - i))
            interval = true;
        else if (!gtid_tag_ok(s + i, j - i))
            return false;
        i = j + 1;
    }
    return interval;
}

/* Checks one element of a GTID list; *flavor is 0 (unknown yet), 1 MariaDB
 * or 2 MySQL and must stay the same across the list. */
static int gtid_element_check(const char *s, size_t n, int *flavor, char *err, size_t errlen)
{
    int f = mariadb_gtid_ok(s, n) ? 1 : mysql_gtid_ok(s, n) ? 2 : 0;
    if (f == 0) {
        snprintf(err, errlen,
                 "gtid: \"%.*s\" is neither a MariaDB GTID (domain-server-sequence) nor a MySQL "
                 "GTID set element (uuid:interval)",
                 (int)n, s);
        return MCSQ_ERR_CONFIG;
    }
    if (*flavor != 0 && *flavor != f) {
        snprintf(err, errlen, "gtid: the list mixes MariaDB and MySQL GTIDs");
        return MCSQ_ERR_CONFIG;
    }
    *flavor = f;
    return MCSQ_OK;
}

static int gtid_list_check(const char *list, char *err, size_t errlen)
{
    int flavor = 0;
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        while (n > 0 && isspace((unsigned char)*p))
            p++, n--;
        size_t len = n;
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
        if (gtid_element_check(p, len, &flavor, err, errlen) != MCSQ_OK)
            return MCSQ_ERR_CONFIG;
        if (p[n] == '\0')
            return MCSQ_OK;
        p += n + 1;
    }
}

static int start_gtid(const char *list, mcsq_start *out, char *err, size_t errlen)
{
    if (*list == '\0') {
        snprintf(err, errlen, "gtid: empty GTID list (start = begin reads from the oldest binlog)");
        return MCSQ_ERR_CONFIG;
    }
    if (gtid_list_check(list, err, errlen) != MCSQ_OK)
        return MCSQ_ERR_CONFIG;
    if (out == NULL)
        return MCSQ_OK;
    out->kind = MCSQ_START_GTID;
    out->gtid = strdup(list);
    return out->gtid ? MCSQ_OK : MCSQ_ERR_NOMEM;
}

static int start_file(const char *spec, mcsq_start *out, char *err, size_t errlen)
{
    const char *colon = strrchr(spec, ':');
    uint64_t pos = 0;
    size_t namelen = colon ? (size_t)(colon - spec) : 0;
    if (colon == NULL || namelen == 0 || strcspn(spec, "/ \t") < namelen) {
        snprintf(err, errlen,
                 "file: expected file:<name>:<pos>, with a binlog file name "
                 "(no '/' or whitespace)");
        return MCSQ_ERR_CONFIG;
    }
    if (!parse_u64(colon + 1, strlen(colon + 1), &pos) || pos < 4 || pos > INT64_MAX) {
        snprintf(err, errlen, "file: position \"%s\" is not a number >= 4", colon + 1);
        return MCSQ_ERR_CONFIG;
    }
    if (out == NULL)
        return MCSQ_OK;
    out->kind = MCSQ_START_FILE;
    out->pos = pos;
    out->file = strndup(spec, namelen);
    return out->file ? MCSQ_OK : MCSQ_ERR_NOMEM;
}

int mcsq_start_parse(const char *text, mcsq_start *out, char *err, size_t errlen)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (strcmp(text, "end") == 0 || strcmp(text, "begin") == 0) {
        if (out != NULL)
            out->kind = text[0] == 'e' ? MCSQ_START_END : MCSQ_START_BEGIN;
        return MCSQ_OK;
    }
    if (strncmp(text, "gtid:", 5) == 0)
        return start_gtid(text + 5, out, err, errlen);
    if (strncmp(text, "file:", 5) == 0)
        return start_file(text + 5, out, err, errlen);
    snprintf(err, errlen, "\"%s\": expected end, begin, gtid:<list> or file:<name>:<pos>", text);
    return MCSQ_ERR_CONFIG;
}

void mcsq_start_deinit(mcsq_start *start)
{
    free(start->gtid);
    free(start->file);
    memset(start, 0, sizeof(*start));
}

int mcsq_audit_sample_rate_parse(const char *text, double *out, char *err, size_t errlen)
{
    size_t n = strspn(text, "0123456789.");
    char *end = NULL;
    double v = n > 0 && text[n] == '\0' && strchr(text, '.') == strrchr(text, '.')
                   ? strtod(text, &end)
                   : -1;
    if (end == NULL || *end != '\0' || !(v >= 0 && v <= 1)) {
        snprintf(err, errlen, "\"%s\" is not a decimal fraction from 0 to 1 (e.g. 0.001)", text);
        return MCSQ_ERR_CONFIG;
    }
    if (out != NULL)
        *out = v;
    return MCSQ_OK;
}

int mcsq_audit_delays_parse(const char *text, int64_t *out, size_t *n, char *err, size_t errlen)
{
    int64_t v[MCSQ_AUDIT_DELAYS_MAX];
    size_t k = 0;
    const char *p = text + strspn(text, " \t,");
    while (*p != '\0') {
        size_t len = strcspn(p, " \t,");
        uint64_t ms = 0;
        const char *why = k == MCSQ_AUDIT_DELAYS_MAX         ? "more than 8 delays"
                          : !parse_u64(p, len, &ms)          ? "not a whole number of milliseconds"
                          : ms < 100 || ms > 86400000        ? "out of range (100..86400000 ms)"
                          : k > 0 && (int64_t)ms <= v[k - 1] ? "not after the delay before it"
                                                             : NULL;
        if (why != NULL) {
            snprintf(err, errlen, "\"%.*s\": %s", (int)(len < 40 ? len : 40), p, why);
            return MCSQ_ERR_CONFIG;
        }
        v[k++] = (int64_t)ms;
        p += len;
        p += strspn(p, " \t,");
    }
    if (k == 0) {
        snprintf(err, errlen, "must name at least one delay");
        return MCSQ_ERR_CONFIG;
    }
    if (out != NULL)
        memcpy(out, v, k * sizeof(*v));
    if (n != NULL)
        *n = k;
    return MCSQ_OK;
}
