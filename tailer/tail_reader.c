/*
 * Tail reader (see tail_reader.h): the live source read through the binlog
 * stage -> owned records in the queue. The MariaDB GTID state comes from
 * committed transactions' GTIDs.
 */
#include "tailer/tail_reader.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "mcsqueal/error.h"
#include "tailer/gtid_divergence.h"
#include "tailer/txn_record.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define BACKOFF_START_MS 100
#define PENDING_MAX_TXNS 64    /* transactions per hand-off to the publisher */
#define SYNC_EVERY_EVENTS 4096 /* counts are passed on at least this often */

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Passes what the decoder and assembler counted since the last call to the
 * metric series. */
static void sync_metrics(tail_reader *r)
{
    tail_reader_synced *s = &r->synced;
    const binlog_decoder *dec = &r->stage.dec;
    const txn_assembler *a = &r->stage.assembler;
    metrics_counter_add(r->metrics.unknown_events, dec->events_unknown - s->unknown_events);
    s->unknown_events = dec->events_unknown;
    metrics_counter_add(r->metrics.incidents, a->stats.incidents - s->incidents);
    s->incidents = a->stats.incidents;
    for (int i = 0; i < ANNOTATION_REJECT_COUNT; i++) {
        metrics_counter_add(r->metrics.rejected[i], a->ann.rejected[i] - s->rejected[i]);
        s->rejected[i] = a->ann.rejected[i];
    }
}

/* Restarts decoding state for a new stream: the server sends a fake Rotate
 * (checksummed when checksums are on) before the Format_description. */
static void reset_stream(tail_reader *r)
{
    sync_metrics(r);
    memset(&r->synced, 0, sizeof(r->synced)); /* the new counters start at zero */
    binlog_stage_reset(&r->stage, r->cfg->mysql.verify_checksum);
    if (binlog_live_server_info(r->src.live)->checksum_crc32)
        r->stage.dec.fmt.checksum_alg = BINLOG_CHECKSUM_CRC32;
    txn_assembler_set_spill(&r->stage.assembler, r->cfg->mcsqueal.state_dir,
                            (size_t)r->cfg->mcsqueal.txn_memory_max);
}

/* Passes the events, transactions and keys counted since the last call on
 * to the stats and metric series, and the last event to the lag (as
 * binlog_lag_on_event() for it: this runs right after it was read, before
 * the reader waits for more). */
static void sync_counts(tail_reader *r)
{
    tail_reader_unsynced *u = &r->unsynced;
    binlog_live_seen *seen = &r->src.seen;
    if (!seen->any && u->transactions == 0)
        return;
    atomic_fetch_add(&r->stats.events, seen->events);
    metrics_counter_add(r->metrics.events, seen->events);
    atomic_fetch_add(&r->stats.transactions, u->transactions);
    metrics_counter_add(r->metrics.transactions, u->transactions);
    atomic_fetch_add(&r->stats.keys, u->keys);
    metrics_counter_add(r->metrics.keys, u->keys);
    if (seen->any) /* wall time: the lag is against the server's event timestamps */
        binlog_lag_on_event(&r->lag, clock_wall_coarse_us(),
                            seen->heartbeat ? 0 : seen->last_timestamp, seen->heartbeat);
    sync_metrics(r);
    *u = (tail_reader_unsynced){0};
    *seen = (binlog_live_seen){0};
}

/* Hands the pending transactions to the queue in one go (blocks while the
 * publisher is behind). Returns 0 or MCSQ_ERR_AGAIN (queue closed). */
static int flush_pending(tail_reader *r)
{
    sync_counts(r);
    return txn_queue_push_batch(r->queue, &r->pending);
}

/* The same while more is buffered to read: the publisher is woken only
 * once enough waits (see txn_queue_push_batch_lazy()). */
static int flush_pending_lazy(tail_reader *r)
{
    sync_counts(r);
    return txn_queue_push_batch_lazy(r->queue, &r->pending);
}

/* Queues a committed transaction with the position after it: into the
 * pending batch, handed over when full or before the reader would wait. */
static int queue_txn(tail_reader *r, const mcsq_txn *txn, char *errstr, size_t errstr_size)
{
    bool updated =
        r->use_gtid && txn->gtid[0] != '\0' && gtid_state_update(&r->gtids, txn->gtid) == MCSQ_OK;
    size_t flen = strlen(txn->file);
    if (flen >= sizeof(r->resume.file))
        flen = sizeof(r->resume.file) - 1;
    memcpy(r->resume.file, txn->file, flen);
    r->resume.file[flen] = '\0';
    r->resume.pos = txn->end_pos;
    r->resume.gtid[0] = '\0';
    if (updated && r->gtids.n == 1) /* one domain: the state is this GTID */
        memcpy(r->resume.gtid, txn->gtid, strlen(txn->gtid) + 1);
    else if (r->use_gtid)
        gtid_state_format(&r->gtids, r->resume.gtid, sizeof(r->resume.gtid));
    txn_record *rec = txn_record_new_in(&r->slabs, txn, r->use_gtid ? r->resume.gtid : NULL);
    key_spill *spill = txn_assembler_take_spill(&r->stage.assembler);
    if (rec == NULL) {
        key_spill_free(spill);
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    }
    rec->spill = spill;
    log_debug("binlog: transaction %s ending at %s:%llu queued with %zu key(s)",
              txn->gtid[0] != '\0' ? txn->gtid : "(no GTID)", txn->file,
              (unsigned long long)txn->end_pos, txn->nkeys + (size_t)(spill ? spill->nkeys : 0));
    binlog_lag_on_commit(&r->lag, txn->commit_us, txn->read_us, txn->commit_exact);
    r->unsynced.transactions++;
    r->unsynced.keys += txn->nkeys + (spill ? spill->nkeys : 0);
    txn_batch_add(&r->pending, rec);
    if (r->pending.count >= PENDING_MAX_TXNS || r->pending.bytes >= r->queue->max_bytes / 8)
        return flush_pending_lazy(r);
    return MCSQ_OK;
}

/* The live source's hooks: hand the pending transactions over before it
 * waits for the server; take the counts on a heartbeat and (waking the
 * publisher) after many events without a hand-off (a large transaction:
 * what was pushed lazily before is not left waiting for the next one). */
static int before_wait(void *ctx)
{
    return flush_pending(ctx);
}

static void on_sync(void *ctx, bool wake)
{
    tail_reader *r = ctx;
    sync_counts(r);
    if (wake)
        txn_queue_notify(r->queue);
}

double tail_reader_lag_seconds(void *ctx)
{
    tail_reader *r = ctx;
    return binlog_lag_seconds(&r->lag, clock_wall_coarse_us());
}

static void set_live(tail_reader *r, binlog_live *live)
{
    pthread_mutex_lock(&r->live_lock);
    binlog_live *old = r->src.live;
    r->src.live = live;
    pthread_mutex_unlock(&r->live_lock);
    binlog_live_close(old);
}

/* The position is gone from the server: stop, or (mysql.on_purged =
 * earliest) go on from the oldest binlog left, loudly. */
static int on_purged(tail_reader *r, char *errstr, size_t errstr_size)
{
    if (r->cfg->mysql.on_purged != MCSQ_ON_PURGED_EARLIEST)
        return MCSQ_ERR_LIMIT;
    mcsq_start begin = {0};
    begin.kind = MCSQ_START_BEGIN;
    log_error("binlog: %s; mysql.on_purged = earliest: continuing from the oldest binlog on "
              "the server. Invalidations in between are LOST: flush the caches if that matters",
              errstr);
    atomic_fetch_add(&r->stats.purged_gaps, 1);
    /* the refused stream cannot be restarted: start over on a new connection */
    binlog_live *live = NULL;
    int rc = binlog_live_connect(&live, r->cfg, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    set_live(r, live);
    rc = binlog_live_resolve_start(r->src.live, &begin, &r->resume, errstr, errstr_size);
    if (rc == MCSQ_OK && r->use_gtid)
        rc = gtid_state_parse(&r->gtids, r->resume.gtid) == MCSQ_OK ? MCSQ_OK : MCSQ_ERR_CONFIG;
    if (rc == MCSQ_OK) {
        binlog_live_source_set_file(&r->src, r->resume.file);
        reset_stream(r);
        rc = binlog_live_start(r->src.live, &r->resume, errstr, errstr_size);
    }
    return rc;
}

/* What the server lacks of the GTID state read (r->gtids) into *dv, its
 * gtid_binlog_state into state. */
static int find_divergence(tail_reader *r, gtid_divergence *dv, char *state, size_t state_size,
                           char *errstr, size_t errstr_size)
{
    int rc = binlog_live_gtid_binlog_state(r->src.live, state, state_size, errstr, errstr_size);
    if (rc == MCSQ_OK && gtid_divergence_find(&r->gtids, state, dv) != MCSQ_OK)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                        "the server's gtid_binlog_state \"%s\" is not a GTID list", state);
    return rc;
}

/* Stops on a diverged source: the whole diagnosis in the log, a short
 * one in errstr. lacks names the missing GTIDs, state the server's. */
static int diverged_stop(tail_reader *r, const char *lacks, const char *state, char *errstr,
                         size_t errstr_size)
{
    metrics_gauge_set(r->metrics.diverged, 1);
    r->diverged = true;
    log_error("binlog: source diverged: the server lacks transactions whose keys were already "
              "published: %s. The tailer's GTID state is %s; the server has %s. They were lost "
              "with the old primary (a failover to a replica that was behind). Caches may hold "
              "their values: delete their keys (the bus messages with these gtid values, or "
              "`mcsqueal scan` of the old primary's binlogs) or flush the caches. Then set "
              "mysql.on_diverged = continue and restart to go on from this server's state "
              "(docs/operations.md, \"Failover\")",
              lacks, r->resume.gtid, state[0] ? state : "no GTID");
    return errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT,
                      "source diverged: the server lacks %s, already published; not streaming "
                      "from it (mysql.on_diverged = stop)",
                      lacks);
}

/* The server lacks transactions already read (a failover to a replica that
 * was behind lost them): stop, or (mysql.on_diverged = continue) go on from
 * the last GTIDs the server has in common with them, loudly. */
static int on_diverged(tail_reader *r, const gtid_divergence *dv, const char *state, char *errstr,
                       size_t errstr_size)
{
    char lacks[1024];
    gtid_divergence_format(dv, lacks, sizeof(lacks));
    if (r->cfg->mysql.on_diverged != MCSQ_ON_DIVERGED_CONTINUE)
        return diverged_stop(r, lacks, state, errstr, errstr_size);
    metrics_gauge_set(r->metrics.diverged, 1);
    gtid_divergence_continue_state(dv, &r->gtids);
    gtid_state_format(&r->gtids, r->resume.gtid, sizeof(r->resume.gtid));
    log_error("binlog: source diverged: the server lacks transactions whose keys were already "
              "published: %s; mysql.on_diverged = continue: continuing from GTID state '%s'. "
              "Caches may hold values of the lost transactions: delete their keys or flush them",
              lacks, r->resume.gtid);
    if (r->gtids.n > 0)
        return MCSQ_OK;
    mcsq_start begin = {0}; /* nothing in common: everything the server has */
    begin.kind = MCSQ_START_BEGIN;
    int rc = binlog_live_resolve_start(r->src.live, &begin, &r->resume, errstr, errstr_size);
    if (rc == MCSQ_OK && gtid_state_parse(&r->gtids, r->resume.gtid) != MCSQ_OK)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED, "bad GTID state \"%s\"",
                        r->resume.gtid);
    return rc;
}

/* Before streaming from a GTID state: the server must have every GTID of it. */
static int check_source(tail_reader *r, char *errstr, size_t errstr_size)
{
    char state[BINLOG_GTID_STATE_MAX];
    gtid_divergence dv;
    if (!r->use_gtid || r->gtids.n == 0)
        return MCSQ_OK;
    int rc = find_divergence(r, &dv, state, sizeof(state), errstr, errstr_size);
    if (rc == MCSQ_OK && dv.n > 0)
        rc = on_diverged(r, &dv, state, errstr, errstr_size);
    return rc;
}

/* The server refused the GTID state as not in its binlog although
 * check_source() passed (the server changed in between): the same
 * diagnosis, and a stop. */
static int on_refused(tail_reader *r, char *errstr, size_t errstr_size)
{
    char state[BINLOG_GTID_STATE_MAX], lacks[BINLOG_GTID_STATE_MAX + 64];
    gtid_divergence dv = {0};
    log_error("binlog: %s", errstr);
    if (find_divergence(r, &dv, state, sizeof(state), errstr, errstr_size) != MCSQ_OK)
        snprintf(state, sizeof(state), "unknown");
    if (dv.n > 0)
        gtid_divergence_format(&dv, lacks, sizeof(lacks));
    else
        snprintf(lacks, sizeof(lacks), "GTID state %s (refused by the server)", r->resume.gtid);
    return diverged_stop(r, lacks, state, errstr, errstr_size);
}

/* Starts the stream at the resume position on the current connection. */
static int start_stream(tail_reader *r, char *errstr, size_t errstr_size)
{
    int rc = check_source(r, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    reset_stream(r);
    binlog_live_source_set_file(&r->src, r->resume.file);
    rc = binlog_live_start(r->src.live, &r->resume, errstr, errstr_size);
    if (rc == MCSQ_ERR_LIMIT && r->use_gtid && gtid_divergence_refused(errstr))
        return on_refused(r, errstr, errstr_size);
    return rc == MCSQ_ERR_LIMIT ? on_purged(r, errstr, errstr_size) : rc;
}

/* Tells readiness that the stream is closed, and why. */
static void not_streaming(tail_reader *r, const char *what, const char *why)
{
    char reason[1024]; /* readiness keeps the first READINESS_REASON_MAX - 1 bytes */
    snprintf(reason, sizeof(reason), "tailer: %s: %s", what, why);
    readiness_set(r->metrics.ready, READINESS_TAILER, false, reason);
}

/* Opens a stream at the resume position, retrying with capped exponential
 * backoff while the server is unreachable. */
static int reconnect(tail_reader *r, char *errstr, size_t errstr_size)
{
    int64_t backoff = BACKOFF_START_MS;
    for (;;) {
        set_live(r, NULL);
        if (atomic_load(&r->stop))
            return MCSQ_ERR_AGAIN;
        binlog_live *live = NULL;
        int rc = binlog_live_connect(&live, r->cfg, errstr, errstr_size);
        if (rc == MCSQ_OK) {
            set_live(r, live);
            if (atomic_load(&r->stop)) /* an interrupt may have missed the new handle */
                return MCSQ_ERR_AGAIN;
            rc = start_stream(r, errstr, errstr_size);
        }
        if (rc == MCSQ_OK) {
            log_info("binlog: reconnected at %s:%llu", r->resume.file,
                     (unsigned long long)r->resume.pos);
            readiness_set(r->metrics.ready, READINESS_TAILER, true, NULL);
            return MCSQ_OK;
        }
        if (rc != MCSQ_ERR_CONNECT)
            return rc;
        not_streaming(r, "MySQL unreachable", errstr);
        log_warn("binlog: %s; retrying in %lld ms", errstr, (long long)backoff);
        sleep_ms(backoff);
        backoff = backoff * 2 < r->cfg->mysql.reconnect_max_ms ? backoff * 2
                                                               : r->cfg->mysql.reconnect_max_ms;
    }
}

/* Reads up to the next committed transaction and queues it (the source
 * hands the pending ones over first when it may wait for the server). */
static int read_one(tail_reader *r, char *errstr, size_t errstr_size)
{
    const mcsq_txn *txn;
    int rc = binlog_stage_next(&r->stage, &txn, errstr, errstr_size);
    return rc == MCSQ_OK ? queue_txn(r, txn, errstr, errstr_size) : rc;
}

static void *reader_main(void *arg)
{
    tail_reader *r = arg;
    char err[512];
    pthread_setname_np(pthread_self(), "binlog-reader");
    int rc = MCSQ_OK;
    while (!atomic_load(&r->stop)) {
        rc = read_one(r, err, sizeof(err));
        if (rc == MCSQ_ERR_CONNECT) {
            log_warn("binlog: %s; reconnecting", err);
            not_streaming(r, "reconnecting to MySQL", err);
            atomic_fetch_add(&r->stats.reconnects, 1);
            if (flush_pending(r) == MCSQ_OK) /* resume is after the pending ones */
                rc = reconnect(r, err, sizeof(err));
            else
                rc = MCSQ_ERR_AGAIN;
        }
        if (rc == MCSQ_ERR_AGAIN && atomic_load(&r->stop))
            rc = MCSQ_OK;
        if (rc != MCSQ_OK)
            break;
    }
    if (flush_pending(r) != MCSQ_OK) /* every transaction read reaches the publisher */
        txn_batch_clear(&r->pending);
    if (rc != MCSQ_OK) {
        r->result = rc;
        snprintf(r->error, sizeof(r->error), "%s", err);
        log_error("binlog: stopped: %s", err);
        not_streaming(r, "stopped", err);
    } else {
        not_streaming(r, "stopping", "asked to stop");
    }
    txn_queue_close(r->queue); /* the publisher drains what is queued */
    return NULL;
}

static int initial_position(tail_reader *r, const binlog_position *from, char *errstr,
                            size_t errstr_size)
{
    memset(&r->resume, 0, sizeof(r->resume));
    if (from == NULL)
        return binlog_live_resolve_start(r->src.live, &r->cfg->mysql.start_at, &r->resume, errstr,
                                         errstr_size);
    binlog_position_copy(&r->resume, from);
    return MCSQ_OK;
}

int tail_reader_start(tail_reader *r, const mcsq_config *cfg, txn_queue *queue,
                      const binlog_position *from, const tail_reader_metrics *metrics, char *errstr,
                      size_t errstr_size)
{
    memset(r, 0, sizeof(*r));
    if (metrics != NULL)
        r->metrics = *metrics;
    r->cfg = cfg;
    r->queue = queue;
    /* exact probes rule for two heartbeat intervals (one may be late); a
     * stream without even a replication heartbeat for two of its periods
     * and a second is stopped */
    binlog_lag_init(&r->lag, 2 * cfg->heartbeat.interval_ms * 1000 + 1000000,
                    2 * cfg->mysql.heartbeat_ms * 1000 + 1000000);
    pthread_mutex_init(&r->live_lock, NULL);
    binlog_live_source_hooks hooks = {before_wait, on_sync, r};
    binlog_live_source_init(&r->src, &hooks, SYNC_EVERY_EVENTS);
    binlog_source src = binlog_live_source_as_source(&r->src);
    binlog_stage_init(&r->stage, &src, cfg->mcsqueal.region);
    int rc = binlog_live_connect(&r->src.live, cfg, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = initial_position(r, from, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    const binlog_live_server *srv = binlog_live_server_info(r->src.live);
    r->use_gtid = srv->mariadb && srv->gtid_available;
    if (r->use_gtid && gtid_state_parse(&r->gtids, r->resume.gtid) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "bad GTID state \"%s\"",
                          r->resume.gtid);
    rc = start_stream(r, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    log_info("binlog: streaming from %s:%llu%s%s", r->resume.file,
             (unsigned long long)r->resume.pos, r->resume.gtid[0] ? " gtid " : "", r->resume.gtid);
    readiness_set(r->metrics.ready, READINESS_TAILER, true, NULL); /* before the thread's own */
    if (pthread_create(&r->thread, NULL, reader_main, r) != 0) {
        not_streaming(r, "stopped", "cannot start the reader thread");
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "cannot start the reader thread");
    }
    r->running = true;
    return MCSQ_OK;
}

void tail_reader_request_stop(tail_reader *r)
{
    atomic_store(&r->stop, 1);
    txn_queue_close(r->queue); /* unblocks a push waiting for room */
    pthread_mutex_lock(&r->live_lock);
    if (r->src.live != NULL)
        binlog_live_interrupt(r->src.live);
    pthread_mutex_unlock(&r->live_lock);
}

int tail_reader_stop(tail_reader *r)
{
    if (!r->running)
        return r->result;
    tail_reader_request_stop(r);
    pthread_join(r->thread, NULL);
    r->running = false;
    return r->result;
}

bool tail_reader_failed(tail_reader *r)
{
    return r->result != MCSQ_OK;
}

bool tail_reader_diverged(const tail_reader *r)
{
    return r->diverged;
}

void tail_reader_deinit(tail_reader *r)
{
    if (r->running)
        tail_reader_stop(r);
    binlog_live_close(r->src.live);
    r->src.live = NULL;
    pthread_mutex_destroy(&r->live_lock);
    binlog_stage_deinit(&r->stage);
    txn_batch_clear(&r->pending);
    txn_slab_pool_deinit(&r->slabs);
}
