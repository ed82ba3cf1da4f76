/*
 * Router (see router.h): bus_consumer -> bus_message -> mc_pool per pool,
 * failures -> spool per (pool, server), replay when a server answers again.
 */
#include "invalidator/router.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "core/state_file.h"
#include "core/strbuf.h"
#include "bus/bus_consumer.h"
#include "bus/bus_message.h"
#include "bus/seq_tracker.h"
#include "invalidator/audit.h"
#include "invalidator/mc_pool.h"
#include "invalidator/pool_flush.h"
#include "invalidator/spool.h"
#include "invalidator/marker_clearer.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 100
#define CONSUMER_LAG_EVERY_US 1000000
#define LAG_PARTITIONS 1024 /* partitions with a consumer lag gauge */
#define REPLAY_EVERY_US 500000
#define REPLAY_CHUNK 4096
#define FLUSH_TIMEOUT_MS 2000 /* per server, for flush_all after a gap */
/* Probes of a server that does not answer back off from 0.5 s to 30 s (a
 * probe of a stalled server blocks the router for its timeout). */
#define PROBE_FIRST_US 500000
#define PROBE_MAX_US 30000000

typedef struct router_pool {
    const mcsq_pool_config *cfg; /* (ref) */
    mc_pool *mc;
    spool **spools; /* per server, opened when first needed */
    size_t nservers;
    metrics_series *confirmed;
    metrics_series *spooled;
    metrics_series *invalid;
    metrics_series **unsupported; /* per server: older than memcached 1.6 */
    metrics_series *flushed;      /* servers flushed after a gap */
    metrics_series *flush_failed; /* servers that did not answer flush_all */
    int64_t last_probe_us;
    int64_t probe_every_us; /* backs off while probes fail */
} router_pool;

struct router {
    const mcsq_config *cfg; /* (ref) */
    bus_consumer *consumer;
    bus_message msg;
    router_pool *pools;
    size_t npools;
    uint8_t *outcome; /* per key of the current batch */
    uint8_t *held;    /* per key of the current message: a delete of it was spooled */
    uint32_t *server;
    mcsq_key *scratch; /* keys of one server, to spool or replay */
    size_t cap;
    int deadletter_fd;
    metrics_series *consumed;
    metrics_series *poison;
    metrics_series *gaps;
    metrics_series *spool_keys;
    metrics_series *inv_lag;
    metrics_series *pipe_lag;
    metrics_family *consumer_lag;                  /* (ref) */
    metrics_series *partition_lag[LAG_PARTITIONS]; /* created when first assigned */
    int64_t last_consumer_lag_us;
    router_pool *regional;   /* (ref) the pool that holds markers; NULL: none */
    marker_clearer *markers; /* NULL without a regional pool */
    metrics_series *markers_cleared;
    metrics_series *markers_key_spooled;
    metrics_series *markers_spooled;
    metrics_series *markers_no_pool;
    metrics_series *marker_age;
    int64_t last_replay_us;
    _Atomic int64_t done_offset;
    seq_tracker *seqs; /* the sources' message numbers ("seq") */
    audit *audit;      /* NULL when auditing is off */
    readiness *ready;  /* (ref) may be NULL */
};

/* [router] on_gap = flush: flush_all on the cluster's own pools, never on
 * the regional one (it holds the remote markers). */
static void flush_after_gap(router *r)
{
    for (size_t i = 0; i < r->npools; i++) {
        router_pool *p = &r->pools[i];
        if (p->cfg->role == MCSQ_POOL_REGIONAL)
            continue;
        char err[512] = "";
        size_t ok = pool_flush_all(p->cfg, FLUSH_TIMEOUT_MS, err, sizeof(err));
        size_t failed = p->cfg->servers.n - ok;
        metrics_counter_add(p->flushed, ok);
        metrics_counter_add(p->flush_failed, failed);
        if (failed == 0)
            log_error("bus: on_gap = flush: flushed pool %s (%zu server(s))", p->cfg->name, ok);
        else
            log_error("bus: on_gap = flush: pool %s: %zu of %zu server(s) flushed; %s",
                      p->cfg->name, ok, p->cfg->servers.n, err);
    }
}

/* Messages the bus lost (what: a sentence on where, for the log): counted,
 * logged loudly and, with on_gap = flush, followed by one flush of the
 * cluster's pools. */
static void lost_messages(router *r, uint64_t n, const char *what)
{
    bool flush = r->cfg->router.on_gap == MCSQ_ON_GAP_FLUSH;
    metrics_counter_add(r->gaps, n);
    log_error("bus: %s: %llu message(s) are gone from the bus and their invalidations are "
              "LOST; %s",
              what, (unsigned long long)n,
              flush ? "flushing the cluster and gutter pools (on_gap = flush)"
                    : "the caches may serve stale values until their TTL (on_gap = warn; "
                      "flush = flush_all the cluster's pools)");
    if (flush)
        flush_after_gap(r);
}

static void on_gap(void *ctx, int32_t partition, int64_t from, int64_t to)
{
    router *r = ctx;
    char what[160];
    snprintf(what, sizeof(what),
             "partition %d jumped from offset %lld to %lld (retention, or offsets reset)",
             partition, (long long)from, (long long)to);
    seq_tracker_forget_partition(r->seqs, partition); /* one report per gap */
    lost_messages(r, (uint64_t)(to - from), what);
}

/* Checks the message's "seq" against its source's last one (seq_tracker.h). */
static void check_seq(router *r, const bus_record *rec)
{
    const bus_message *m = &r->msg;
    if (m->seq == 0) /* a writer that does not number its messages */
        return;
    seq_result res =
        seq_tracker_check(r->seqs, m->source, m->source_len, m->seq, rec->partition, rec->offset);
    int len = m->source_len > 128 ? 128 : (int)m->source_len;
    if (res.verdict == SEQ_GAP) {
        char what[320];
        snprintf(what, sizeof(what),
                 "source %.*s: message %llu where %llu was expected (partition %d offset %lld; "
                 "a topic deleted and created again?)",
                 len, m->source, (unsigned long long)m->seq, (unsigned long long)res.expected,
                 (int)rec->partition, (long long)rec->offset);
        lost_messages(r, res.lost, what);
    } else if (res.verdict == SEQ_REWIND) {
        static log_ratelimit limit = LOG_RATELIMIT_INIT(10, 20);
        log_ratelimited(&limit, LOG_LEVEL_INFO,
                        "bus: source %.*s sends again from message %llu (%llu was expected): "
                        "a restart from its checkpoint; the repeated messages are duplicates",
                        len, m->source, (unsigned long long)m->seq,
                        (unsigned long long)res.expected);
    }
}

/* ---- group membership, for readiness ---- */

static void on_assign(void *ctx, int partitions)
{
    router *r = ctx;
    (void)partitions; /* none: a standby, ready to take over */
    seq_tracker_reassigned(r->seqs);
    readiness_set(r->ready, READINESS_ROUTER, true, NULL);
}

static void on_revoke(void *ctx)
{
    router *r = ctx;
    readiness_set(r->ready, READINESS_ROUTER, false,
                  "router: partitions revoked, the consumer group is rebalancing");
}

static int reserve(router *r, size_t n)
{
    if (n <= r->cap)
        return MCSQ_OK;
    size_t cap = r->cap ? r->cap : 1024;
    while (cap < n)
        cap *= 2;
    uint8_t *o = realloc(r->outcome, cap);
    if (o != NULL)
        r->outcome = o;
    uint8_t *h = realloc(r->held, cap);
    if (h != NULL)
        r->held = h;
    uint32_t *s = realloc(r->server, cap * sizeof(*s));
    if (s != NULL)
        r->server = s;
    mcsq_key *k = realloc(r->scratch, cap * sizeof(*k));
    if (k != NULL)
        r->scratch = k;
    if (o == NULL || h == NULL || s == NULL || k == NULL)
        return MCSQ_ERR_NOMEM;
    r->cap = cap;
    return MCSQ_OK;
}

/* ---- pools ---- */

static int pool_init(router_pool *p, const mcsq_pool_config *cfg, metrics_defs *defs, char *errstr,
                     size_t errstr_size)
{
    mc_pool_options opts;
    mc_pool_options_init(&opts);
    opts.invalidate = cfg->invalidate == MCSQ_POOL_INVALIDATE_STALE ? MC_POOL_INVALIDATE_STALE
                                                                    : MC_POOL_INVALIDATE_DELETE;
    opts.stale_ttl_s = (int)cfg->stale_ttl_s;
    p->cfg = cfg;
    int rc = mc_pool_new(&p->mc, cfg, &opts, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    p->nservers = mc_pool_server_count(p->mc);
    p->spools = calloc(p->nservers, sizeof(*p->spools));
    p->unsupported = calloc(p->nservers, sizeof(*p->unsupported));
    if (p->spools == NULL || p->unsupported == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    if (defs != NULL) {
        p->confirmed = metrics_series_get2(defs->deletes_total, cfg->name, "confirmed");
        p->spooled = metrics_series_get2(defs->deletes_total, cfg->name, "spooled");
        p->invalid = metrics_series_get2(defs->deletes_total, cfg->name, "invalid");
        p->flushed = metrics_series_get2(defs->pool_flushes_total, cfg->name, "flushed");
        p->flush_failed = metrics_series_get2(defs->pool_flushes_total, cfg->name, "failed");
    }
    for (size_t s = 0; defs != NULL && s < p->nservers; s++) {
        mc_pool_server_info info;
        mc_pool_server_info_get(p->mc, s, &info);
        p->unsupported[s] =
            metrics_series_get2(defs->memcached_version_unsupported, cfg->name, info.name);
        metrics_gauge_set(p->unsupported[s], 0);
    }
    return MCSQ_OK;
}

/* Refreshes the gauge of servers older than memcached 1.6 (known once a
 * connection to them asked their version). */
static void pool_update_unsupported(router_pool *p)
{
    for (size_t s = 0; s < p->nservers; s++) {
        mc_pool_server_info info;
        mc_pool_server_info_get(p->mc, s, &info);
        metrics_gauge_set(p->unsupported[s], info.unsupported ? 1 : 0);
    }
}

static spool *pool_spool(router *r, router_pool *p, size_t server, char *errstr, size_t errstr_size)
{
    if (p->spools[server] != NULL)
        return p->spools[server];
    mc_pool_server_info info;
    mc_pool_server_info_get(p->mc, server, &info);
    if (spool_open(&p->spools[server], r->cfg->mcsqueal.state_dir, p->cfg->name, info.name, NULL,
                   errstr, errstr_size) != MCSQ_OK)
        return NULL;
    return p->spools[server];
}

/* Deletes waiting in every spool (kept by the spools themselves). */
static uint64_t spool_total(const router *r)
{
    uint64_t n = 0;
    for (size_t i = 0; i < r->npools; i++) {
        for (size_t s = 0; s < r->pools[i].nservers; s++)
            n += r->pools[i].spools[s] ? spool_depth(r->pools[i].spools[s]) : 0;
    }
    return n;
}

static void update_spool_gauge(router *r)
{
    metrics_gauge_set(r->spool_keys, (double)spool_total(r));
}

/* The spool of the keys that every server holds (placement = all) and that
 * failed: the first server that left keys of the batch unconfirmed, else
 * the first server. Their replay goes to every server again. */
static size_t every_server_spool(const router_pool *p)
{
    for (size_t s = 0; s < p->nservers; s++) {
        mc_pool_server_info info;
        mc_pool_server_info_get(p->mc, s, &info);
        if (info.batch_confirmed < info.batch_keys)
            return s;
    }
    return 0;
}

/* Spools the keys of batch [keys, n) that failed on server s. */
static int spool_failed(router *r, router_pool *p, const mcsq_key *keys, size_t n, size_t s,
                        char *errstr, size_t errstr_size)
{
    size_t m = 0;
    bool every_here = every_server_spool(p) == s;
    for (size_t i = 0; i < n; i++) {
        if (r->outcome[i] == MC_POOL_FAILED &&
            (r->server[i] == s || (r->server[i] == MC_POOL_EVERY_SERVER && every_here)))
            r->scratch[m++] = keys[i];
    }
    if (m == 0)
        return MCSQ_OK;
    spool *sp = pool_spool(r, p, s, errstr, errstr_size);
    if (sp == NULL)
        return MCSQ_ERR_IO;
    int rc = spool_append(sp, r->scratch, m, errstr, errstr_size);
    if (rc != MCSQ_OK) /* LIMIT (spool full) or IO: the message is not done */
        return rc;
    metrics_counter_add(p->spooled, m);
    return MCSQ_OK;
}

/* Deletes keys in pool p; what is not confirmed is spooled. Returns 0, or
 * MCSQ_ERR_IO when the spool cannot take them (the message is not done). */
static int pool_delete(router *r, router_pool *p, const mcsq_key *keys, size_t n, char *errstr,
                       size_t errstr_size)
{
    mc_pool_results res = {r->outcome, r->server, 0, 0, 0};
    mc_pool_delete_batch(p->mc, keys, n, &res);
    pool_update_unsupported(p);
    metrics_counter_add(p->confirmed, res.confirmed);
    metrics_counter_add(p->invalid, res.invalid);
    for (size_t s = 0; res.failed > 0 && s < p->nservers; s++) {
        int rc = spool_failed(r, p, keys, n, s, errstr, errstr_size);
        if (rc != MCSQ_OK)
            return rc;
    }
    return MCSQ_OK;
}

/* ---- dead letters ---- */

static void deadletter(router *r, const bus_record *rec, const char *why)
{
    static log_ratelimit limit = LOG_RATELIMIT_INIT(10, 5);
    strbuf sb;
    strbuf_init(&sb);
    strbuf_lit(&sb, "{\"partition\":");
    strbuf_append_i64(&sb, rec->partition);
    strbuf_lit(&sb, ",\"offset\":");
    strbuf_append_i64(&sb, rec->offset);
    strbuf_lit(&sb, ",\"error\":");
    strbuf_append_json_text(&sb, why, strlen(why));
    strbuf_lit(&sb, ",\"payload\":");
    strbuf_append_json_text(&sb, rec->payload ? rec->payload : "", rec->len);
    strbuf_lit(&sb, "}\n");
    int ok = !sb.nomem && state_write_all(r->deadletter_fd, sb.buf, sb.len) == MCSQ_OK &&
             fsync(r->deadletter_fd) == 0;
    strbuf_deinit(&sb);
    metrics_counter_inc(r->poison);
    log_ratelimited(&limit, LOG_LEVEL_ERROR,
                    "bus: poison message at partition %d offset %lld: %s (%s)", rec->partition,
                    (long long)rec->offset, why,
                    ok ? "kept in the dead-letter file" : "and the dead-letter file failed");
}

/* ---- messages ---- */

static void observe_lag(router *r, int64_t now)
{
    for (size_t i = 0; i < r->msg.ntxns; i++) {
        const bus_txn *t = &r->msg.txns[i];
        if (t->read_us > 0)
            metrics_histogram_observe(r->pipe_lag, (double)(now - t->read_us) / 1e6);
        /* only exact commit times (@probe or a MySQL 8 GTID), which the tailer
         * marks "commit_exact"; a whole second would add up to 1 s of noise */
        if (t->commit_exact && t->commit_us > 0)
            metrics_histogram_observe(r->inv_lag, (double)(now - t->commit_us) / 1e6);
    }
}

/* Deletes, in the regional pool, the markers of the message's keys, now that
 * the keys are deleted in every pool: never before. A marker whose key still
 * waits in a spool stays (its TTL ends it); a marker delete that fails is
 * spooled like any delete. */
static int clear_markers(router *r, char *errstr, size_t errstr_size)
{
    if (r->markers == NULL) {
        static log_ratelimit limit = LOG_RATELIMIT_INIT(300, 1);
        metrics_counter_add(r->markers_no_pool, r->msg.nmarkers);
        log_ratelimited(&limit, LOG_LEVEL_WARN,
                        "markers: messages name remote markers to clear, but no [pool] has "
                        "role = regional; the markers stay until their TTL");
        return MCSQ_OK;
    }
    /* the ages are read only while every regional server answers: a read
     * of a server that is down waits for the timeout, per message */
    bool answering = true;
    for (size_t s = 0; s < r->regional->nservers; s++) {
        mc_pool_server_info info;
        mc_pool_server_info_get(r->regional->mc, s, &info);
        answering = answering && !info.down;
    }
    const mcsq_key *mkeys;
    size_t n, nheld;
    if (marker_clearer_prepare(r->markers, r->msg.keys, r->msg.nkeys, r->held, answering, &mkeys,
                               &n, &nheld) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory clearing markers");
    metrics_counter_add(r->markers_key_spooled, nheld);
    if (n == 0)
        return MCSQ_OK;
    int rc = pool_delete(r, r->regional, mkeys, n, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    int64_t now = clock_wall_us(); /* the markers' set times are wall times */
    for (size_t i = 0; i < n; i++) {
        if (r->outcome[i] != MC_POOL_CONFIRMED) {
            metrics_counter_add(r->markers_spooled, r->outcome[i] == MC_POOL_FAILED);
            continue;
        }
        metrics_counter_inc(r->markers_cleared);
        int64_t set_us = marker_clearer_set_us(r->markers, i);
        if (set_us > 0)
            metrics_histogram_observe(r->marker_age,
                                      (double)(now > set_us ? now - set_us : 0) / 1e6);
    }
    return MCSQ_OK;
}

static int handle(router *r, bus_record *rec, char *errstr, size_t errstr_size)
{
    char why[256];
    metrics_counter_inc(r->consumed);
    int rc = bus_message_parse(&r->msg, rec->payload, rec->len, why, sizeof(why));
    if (rc == MCSQ_ERR_NOMEM) /* says nothing about the message: not poison */
        return errstr_set(errstr, errstr_size, rc, "out of memory parsing a bus message");
    if (rc != MCSQ_OK) {
        deadletter(r, rec, why);
        return MCSQ_OK;
    }
    check_seq(r, rec);
    if (reserve(r, r->msg.nkeys) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    memset(r->held, 0, r->msg.nkeys);
    for (size_t i = 0; i < r->npools; i++) {
        int64_t sent_us = clock_mono_us();
        rc = pool_delete(r, &r->pools[i], r->msg.keys, r->msg.nkeys, errstr, errstr_size);
        if (rc != MCSQ_OK)
            return rc;
        audit_batch(r->audit, i, r->msg.keys, r->server, r->outcome, MC_POOL_CONFIRMED,
                    r->msg.nkeys, sent_us);
        for (size_t k = 0; k < r->msg.nkeys; k++)
            r->held[k] |= r->outcome[k] == MC_POOL_FAILED;
    }
    if (r->msg.nmarkers > 0 && (rc = clear_markers(r, errstr, errstr_size)) != MCSQ_OK)
        return rc;
    update_spool_gauge(r);
    observe_lag(r, clock_wall_us()); /* against commit_us and read_us */
    log_debug("route: message at offset %lld of partition %d done: %zu key(s)",
              (long long)rec->offset, (int)rec->partition, r->msg.nkeys);
    return MCSQ_OK;
}

/* ---- replay ---- */

/* Replays one chunk of server s's spool; returns whether it made progress. */
static bool replay_chunk(router *r, router_pool *p, size_t s)
{
    char err[512];
    spool *sp = p->spools[s];
    size_t n = 0;
    if (reserve(r, REPLAY_CHUNK) != MCSQ_OK)
        return false;
    if (spool_replay_next(sp, r->scratch, REPLAY_CHUNK, &n, err, sizeof(err)) != MCSQ_OK) {
        static log_ratelimit limit = LOG_RATELIMIT_INIT(60, 3);
        log_ratelimited(&limit, LOG_LEVEL_ERROR, "spool %s: %s", spool_path(sp), err);
        return false;
    }
    if (n == 0)
        return false;
    mc_pool_results res = {r->outcome, r->server, 0, 0, 0};
    mc_pool_delete_batch(p->mc, r->scratch, n, &res);
    if (res.failed > 0) {
        spool_replay_rewind(sp); /* the server failed again: later */
        return false;
    }
    if (spool_replay_commit(sp, err, sizeof(err)) != MCSQ_OK) {
        log_error("spool %s: %s", spool_path(sp), err);
        return false;
    }
    metrics_counter_add(p->confirmed, res.confirmed);
    return true;
}

static void replay_pool(router *r, router_pool *p, int64_t now)
{
    if (p->probe_every_us == 0)
        p->probe_every_us = PROBE_FIRST_US;
    bool probe_due = clock_due(p->last_probe_us, p->probe_every_us, now);
    bool probed = false, answered = false;
    for (size_t s = 0; s < p->nservers; s++) {
        if (p->spools[s] == NULL || spool_depth(p->spools[s]) == 0)
            continue;
        if (!mc_pool_reachable(p->mc, s)) {
            if (!probe_due)
                continue;
            probed = true;
            bool ok = mc_pool_revive(p->mc, s);
            pool_update_unsupported(p);
            if (!ok)
                continue;
            answered = true;
        }
        for (int chunks = 0; chunks < 16 && replay_chunk(r, p, s); chunks++)
            ;
    }
    if (!probed)
        return;
    p->last_probe_us = clock_mono_us(); /* from the end: a probe may have waited for its timeout */
    p->probe_every_us =
        answered ? PROBE_FIRST_US
                 : (p->probe_every_us * 2 < PROBE_MAX_US ? p->probe_every_us * 2 : PROBE_MAX_US);
}

static void replay(router *r)
{
    int64_t now = clock_mono_us();
    if (!clock_due(r->last_replay_us, REPLAY_EVERY_US, now) || spool_total(r) == 0)
        return;
    for (size_t i = 0; i < r->npools; i++)
        replay_pool(r, &r->pools[i], now);
    r->last_replay_us = clock_mono_us(); /* from the end, as replaying may have waited */
    update_spool_gauge(r);
}

/* Opens the spools left by an earlier run, so their keys are replayed. */
static int open_existing_spools(router *r, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < r->npools; i++) {
        router_pool *p = &r->pools[i];
        for (size_t s = 0; s < p->nservers; s++) {
            if (pool_spool(r, p, s, errstr, errstr_size) == NULL)
                return MCSQ_ERR_IO;
        }
    }
    uint64_t waiting = spool_total(r);
    if (waiting > 0)
        log_info("spool: %llu deletes waiting from an earlier run", (unsigned long long)waiting);
    update_spool_gauge(r);
    return MCSQ_OK;
}

/* ---- lifecycle ---- */

static int open_deadletter(router *r, char *errstr, size_t errstr_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/deadletter.jsonl", r->cfg->mcsqueal.state_dir);
    r->deadletter_fd = state_file_open(path, O_WRONLY | O_APPEND);
    if (r->deadletter_fd < 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: %s", path, strerror(errno));
    return MCSQ_OK;
}

static void router_metrics(router *r, metrics_defs *defs)
{
    if (defs == NULL)
        return;
    const char *cluster = r->cfg->router.cluster;
    r->consumed = metrics_series_get1(defs->bus_messages_total, "consumed");
    r->poison = metrics_series_get1(defs->bus_messages_total, "poison");
    r->gaps = metrics_series_get1(defs->bus_messages_total, "lost");
    r->spool_keys = metrics_series_get0(defs->spool_keys);
    r->inv_lag = metrics_series_get1(defs->invalidation_lag_seconds, cluster);
    r->pipe_lag = metrics_series_get1(defs->pipeline_latency_seconds, cluster);
    r->consumer_lag = defs->bus_consumer_lag_messages;
    r->markers_cleared = metrics_series_get0(defs->markers_cleared_total);
    r->markers_key_spooled = metrics_series_get1(defs->markers_not_cleared_total, "key_spooled");
    r->markers_spooled = metrics_series_get1(defs->markers_not_cleared_total, "marker_spooled");
    r->markers_no_pool = metrics_series_get1(defs->markers_not_cleared_total, "no_regional_pool");
    r->marker_age = metrics_series_get1(defs->marker_age_seconds, cluster);
}

/* The regional pool, where markers live, and its marker clearer. */
static int markers_init(router *r, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < r->npools; i++) {
        if (r->pools[i].cfg->role == MCSQ_POOL_REGIONAL)
            r->regional = &r->pools[i];
    }
    if (r->regional == NULL)
        return MCSQ_OK;
    return marker_clearer_new(&r->markers, r->regional->cfg, r->cfg->mcsqueal.region,
                              MC_POOL_TIMEOUT_DEFAULT_MS, errstr, errstr_size);
}

/* ---- consumer lag ---- */

static void set_partition_lag(void *ctx, int32_t partition, int64_t lag)
{
    router *r = ctx;
    if (partition < 0 || partition >= LAG_PARTITIONS)
        return;
    if (r->partition_lag[partition] == NULL) {
        char label[16];
        snprintf(label, sizeof(label), "%d", (int)partition);
        r->partition_lag[partition] = metrics_series_get1(r->consumer_lag, label);
    }
    metrics_gauge_set(r->partition_lag[partition], (double)lag);
}

/* Refreshes the per-partition consumer lag gauges once a second. */
static void update_consumer_lag(router *r)
{
    int64_t now = clock_mono_us();
    if (r->consumer_lag == NULL || !clock_due(r->last_consumer_lag_us, CONSUMER_LAG_EVERY_US, now))
        return;
    r->last_consumer_lag_us = now;
    bus_consumer_lag_each(r->consumer, set_partition_lag, r);
}

/* Joins the group (or takes every partition: opts->direct). */
static int consumer_start(router *r, const char *bootstrap, const router_options *opts,
                          char *errstr, size_t errstr_size)
{
    char group[512], reason[600];
    if (mcsq_config_consumer_group(r->cfg, group, sizeof(group)) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "consumer group name too long");
    snprintf(reason, sizeof(reason), "router: joining consumer group %s", group);
    readiness_require(r->ready, READINESS_ROUTER, reason);
    bus_consumer_opts copts = {group, opts != NULL && opts->direct, on_gap, on_assign, on_revoke,
                               r};
    int rc = bus_consumer_new(&r->consumer, r->cfg, bootstrap, &copts, errstr, errstr_size);
    if (rc == MCSQ_OK)
        log_info("router: cluster %s, group %s%s, %zu pool(s)", r->cfg->router.cluster, group,
                 copts.direct ? " (every partition, directly)" : "", r->npools);
    return rc;
}

int router_new(router **out, const mcsq_config *cfg, const char *bootstrap, metrics_defs *defs,
               const router_options *opts, char *errstr, size_t errstr_size)
{
    router *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    r->cfg = cfg;
    r->ready = opts != NULL ? opts->ready : NULL;
    r->deadletter_fd = -1;
    atomic_store(&r->done_offset, -1);
    bus_message_init(&r->msg, NULL);
    router_metrics(r, defs);
    r->seqs = seq_tracker_new(SEQ_TRACKER_SOURCES);
    r->pools = calloc(cfg->npools ? cfg->npools : 1, sizeof(*r->pools));
    int rc = r->pools && r->seqs ? MCSQ_OK : MCSQ_ERR_NOMEM;
    for (size_t i = 0; rc == MCSQ_OK && i < cfg->npools; i++, r->npools++)
        rc = pool_init(&r->pools[i], &cfg->pools[i], defs, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = markers_init(r, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = audit_new(&r->audit, cfg, defs, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = open_deadletter(r, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = open_existing_spools(r, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = consumer_start(r, bootstrap, opts, errstr, errstr_size);
    if (rc != MCSQ_OK) {
        router_destroy(r);
        return rc;
    }
    *out = r;
    return MCSQ_OK;
}

int router_run(router *r, const atomic_bool *stop, char *errstr, size_t errstr_size)
{
    int rc = MCSQ_OK;
    while (!atomic_load(stop) && rc == MCSQ_OK) {
        bus_record rec;
        rc = bus_consumer_poll(r->consumer, &rec, POLL_MS, errstr, errstr_size);
        if (rc == MCSQ_ERR_AGAIN) {
            rc = MCSQ_OK;
        } else if (rc == MCSQ_OK) {
            rc = handle(r, &rec, errstr, errstr_size);
            if (rc == MCSQ_OK && rec.partition == 0)
                atomic_store(&r->done_offset, rec.offset + 1);
            if (rc == MCSQ_OK)
                bus_consumer_done(r->consumer, &rec);
            else
                bus_consumer_release(r->consumer, &rec); /* not done: read again later */
        }
        replay(r);
        update_consumer_lag(r);
    }
    readiness_set(r->ready, READINESS_ROUTER, false,
                  rc == MCSQ_OK ? "router: stopping" : "router: stopped on an error");
    if (bus_consumer_commit(r->consumer) != MCSQ_OK)
        log_warn("bus: final offset commit failed; the last messages are processed again");
    return rc;
}

int64_t router_done_offset(router *r)
{
    return atomic_load(&r->done_offset);
}

void router_destroy(router *r)
{
    if (r == NULL)
        return;
    bus_consumer_destroy(r->consumer);
    audit_destroy(r->audit);
    for (size_t i = 0; i < r->npools; i++) {
        router_pool *p = &r->pools[i];
        for (size_t s = 0; p->spools != NULL && s < p->nservers; s++)
            spool_close(p->spools[s]);
        free(p->spools);
        free(p->unsupported);
        mc_pool_destroy(p->mc);
    }
    free(r->pools);
    bus_message_deinit(&r->msg);
    seq_tracker_free(r->seqs);
    free(r->outcome);
    free(r->held);
    marker_clearer_destroy(r->markers);
    free(r->server);
    free(r->scratch);
    if (r->deadletter_fd >= 0)
        close(r->deadletter_fd);
    free(r);
}
