/*
 * Tail reader (see tail_reader.h): live events -> decoder -> assembler ->
 * owned records in the queue. Positions come from the event headers
 * (log_pos minus the event size); the file name from Rotate events; the
 * MariaDB GTID state from committed transactions' GTIDs.
 */
#include "tailer/tail_reader.h"
#include "core/errstr.h"
#include "core/log.h"
#include "mcsqueal/error.h"
#include "tailer/txn_record.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG_EVENT_ARTIFICIAL_F 0x20
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
    metrics_counter_add(r->metrics.unknown_events, r->dec.events_unknown - s->unknown_events);
    s->unknown_events = r->dec.events_unknown;
    metrics_counter_add(r->metrics.incidents, r->assembler.stats.incidents - s->incidents);
    s->incidents = r->assembler.stats.incidents;
    for (int i = 0; i < ANNOTATION_REJECT_COUNT; i++) {
        metrics_counter_add(r->metrics.rejected[i], r->assembler.ann.rejected[i] - s->rejected[i]);
        s->rejected[i] = r->assembler.ann.rejected[i];
    }
}

/* Restarts decoding state for a new stream: the server sends a fake Rotate
 * (checksummed when checksums are on) before the Format_description. */
static void reset_stream(tail_reader *r)
{
    sync_metrics(r);
    memset(&r->synced, 0, sizeof(r->synced)); /* the new counters start at zero */
    binlog_decoder_deinit(&r->dec);
    binlog_decoder_init(&r->dec);
    r->dec.verify_checksums = r->cfg->mysql.verify_checksum;
    if (binlog_live_server_info(r->live)->checksum_crc32)
        r->dec.fmt.checksum_alg = BINLOG_CHECKSUM_CRC32;
    txn_assembler_deinit(&r->assembler);
    txn_assembler_init(&r->assembler, r->cfg->mcsqueal.region);
    txn_assembler_set_spill(&r->assembler, r->cfg->mcsqueal.state_dir,
                            (size_t)r->cfg->mcsqueal.txn_memory_max);
}

/* A coarse clock (a few ms): the lag is in seconds. */
static int64_t coarse_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Passes the events, transactions and keys counted since the last call on
 * to the stats and metric series, and the last event to the lag (as
 * binlog_lag_on_event() for it: this runs right after it was read, before
 * the reader waits for more). */
static void sync_counts(tail_reader *r)
{
    tail_reader_unsynced *u = &r->unsynced;
    if (!u->any && u->transactions == 0)
        return;
    atomic_fetch_add(&r->stats.events, u->events);
    metrics_counter_add(r->metrics.events, u->events);
    atomic_fetch_add(&r->stats.transactions, u->transactions);
    metrics_counter_add(r->metrics.transactions, u->transactions);
    atomic_fetch_add(&r->stats.keys, u->keys);
    metrics_counter_add(r->metrics.keys, u->keys);
    if (u->any)
        binlog_lag_on_event(&r->lag, coarse_now_us(), u->heartbeat ? 0 : u->last_timestamp,
                            u->heartbeat);
    sync_metrics(r);
    *u = (tail_reader_unsynced){0};
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
    key_spill *spill = txn_assembler_take_spill(&r->assembler);
    if (rec == NULL) {
        key_spill_free(spill);
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    }
    rec->spill = spill;
    binlog_lag_on_commit(&r->lag, txn->commit_us, txn->read_us, txn->commit_exact);
    r->unsynced.transactions++;
    r->unsynced.keys += txn->nkeys + (spill ? spill->nkeys : 0);
    txn_batch_add(&r->pending, rec);
    if (r->pending.count >= PENDING_MAX_TXNS || r->pending.bytes >= r->queue->max_bytes / 8)
        return flush_pending_lazy(r);
    return MCSQ_OK;
}

static int feed(tail_reader *r, const binlog_event *ev, const binlog_pos *pos, char *errstr,
                size_t errstr_size)
{
    const mcsq_txn *txn;
    int rc = txn_assembler_feed(&r->assembler, ev, pos, &txn, errstr, errstr_size);
    if (rc == 1)
        return queue_txn(r, txn, errstr, errstr_size);
    return rc;
}

static int feed_payload(tail_reader *r, const binlog_event *ev, const binlog_pos *pos, char *errstr,
                        size_t errstr_size)
{
    int rc = payload_reader_open(&r->payload, &ev->u.payload, errstr, errstr_size);
    uint8_t saved = r->dec.fmt.checksum_alg;
    r->dec.fmt.checksum_alg = BINLOG_CHECKSUM_OFF;
    const uint8_t *buf;
    size_t len;
    while (rc == MCSQ_OK &&
           (rc = payload_reader_next(&r->payload, &buf, &len, errstr, errstr_size)) == MCSQ_OK) {
        binlog_event inner;
        rc = binlog_event_decode(&r->dec, buf, len, &inner, errstr, errstr_size);
        if (rc == MCSQ_OK)
            rc = feed(r, &inner, pos, errstr, errstr_size);
    }
    r->dec.fmt.checksum_alg = saved;
    return rc == MCSQ_ERR_EOF ? MCSQ_OK : rc;
}

/* Tracks the current file name from Rotate events. */
static void on_rotate(tail_reader *r, const binlog_event *ev)
{
    size_t n = ev->u.rotate.next_file.len;
    if (n >= sizeof(r->file))
        n = sizeof(r->file) - 1;
    memcpy(r->file, ev->u.rotate.next_file.ptr, n);
    r->file[n] = '\0';
}

/* Counts an event; the lag is computed from the last one at the next sync. */
static void note_event(tail_reader *r, const binlog_event *ev)
{
    tail_reader_unsynced *u = &r->unsynced;
    u->events++;
    u->any = true;
    if (ev->hdr.type == BINLOG_HEARTBEAT_EVENT) {
        u->heartbeat = true;
        sync_counts(r); /* an idle stream still passes its counts on */
        return;
    }
    if (ev->hdr.timestamp != 0) {
        u->last_timestamp = ev->hdr.timestamp;
        u->heartbeat = false;
    }
    if (u->events >= SYNC_EVERY_EVENTS) {
        sync_counts(r);
        /* no hand-off for that long (a large transaction): what was
         * pushed lazily before is not left waiting for the next one */
        txn_queue_notify(r->queue);
    }
}

double tail_reader_lag_seconds(void *ctx)
{
    tail_reader *r = ctx;
    return binlog_lag_seconds(&r->lag, coarse_now_us());
}

/* Handles one raw event. Returns 0 or an error that stops the stream. */
static int handle_event(tail_reader *r, const uint8_t *buf, size_t len, char *errstr,
                        size_t errstr_size)
{
    binlog_event ev;             /* not zeroed whole: 360 bytes per event were 4% of a tail's CPU */
    ev.hdr = (binlog_header){0}; /* named in errors, even when decoding failed */
    char err[512];
    int rc = binlog_event_decode(&r->dec, buf, len, &ev, err, sizeof(err));
    if (rc != MCSQ_OK)
        return errstr_set(errstr, errstr_size, rc, "%s: event ending at offset %u: %s", r->file,
                          ev.hdr.next_pos, err);
    note_event(r, &ev);
    if (ev.hdr.type == BINLOG_ROTATE_EVENT) {
        on_rotate(r, &ev);
        return MCSQ_OK;
    }
    if ((ev.hdr.flags & LOG_EVENT_ARTIFICIAL_F) || ev.hdr.type == BINLOG_HEARTBEAT_EVENT ||
        ev.hdr.next_pos < len)
        return MCSQ_OK; /* not part of the binlog's content */
    binlog_pos pos = {r->file, ev.hdr.next_pos - len, ev.hdr.next_pos};
    if (ev.hdr.type == BINLOG_TRANSACTION_PAYLOAD_EVENT)
        return feed_payload(r, &ev, &pos, errstr, errstr_size);
    return feed(r, &ev, &pos, errstr, errstr_size);
}

static void set_live(tail_reader *r, binlog_live *live)
{
    pthread_mutex_lock(&r->live_lock);
    binlog_live *old = r->live;
    r->live = live;
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
    rc = binlog_live_resolve_start(r->live, &begin, &r->resume, errstr, errstr_size);
    if (rc == MCSQ_OK && r->use_gtid)
        rc = gtid_state_parse(&r->gtids, r->resume.gtid) == MCSQ_OK ? MCSQ_OK : MCSQ_ERR_CONFIG;
    if (rc == MCSQ_OK) {
        snprintf(r->file, sizeof(r->file), "%s", r->resume.file);
        reset_stream(r);
        rc = binlog_live_start(r->live, &r->resume, errstr, errstr_size);
    }
    return rc;
}

/* Starts the stream at the resume position on the current connection. */
static int start_stream(tail_reader *r, char *errstr, size_t errstr_size)
{
    reset_stream(r);
    snprintf(r->file, sizeof(r->file), "%s", r->resume.file);
    int rc = binlog_live_start(r->live, &r->resume, errstr, errstr_size);
    return rc == MCSQ_ERR_LIMIT ? on_purged(r, errstr, errstr_size) : rc;
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
            return MCSQ_OK;
        }
        if (rc != MCSQ_ERR_CONNECT)
            return rc;
        log_warn("binlog: %s; retrying in %lld ms", errstr, (long long)backoff);
        sleep_ms(backoff);
        backoff = backoff * 2 < r->cfg->mysql.reconnect_max_ms ? backoff * 2
                                                               : r->cfg->mysql.reconnect_max_ms;
    }
}

/* Reads and handles the next event; first hands the pending transactions
 * over when the read may wait for the server. */
static int read_one(tail_reader *r, char *errstr, size_t errstr_size)
{
    const uint8_t *buf;
    size_t len;
    if (!binlog_live_buffered(r->live)) {
        int rc = flush_pending(r);
        if (rc != MCSQ_OK)
            return rc;
    }
    int rc = binlog_live_next(r->live, &buf, &len, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    /* read_us: when the commit arrived; one clock read per recv() */
    txn_assembler_set_read_us(&r->assembler, binlog_live_received_us(r->live));
    return handle_event(r, buf, len, errstr, errstr_size);
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
    }
    txn_queue_close(r->queue); /* the publisher drains what is queued */
    return NULL;
}

static int initial_position(tail_reader *r, const binlog_resume *from, char *errstr,
                            size_t errstr_size)
{
    memset(&r->resume, 0, sizeof(r->resume));
    if (from == NULL)
        return binlog_live_resolve_start(r->live, &r->cfg->mysql.start_at, &r->resume, errstr,
                                         errstr_size);
    snprintf(r->resume.file, sizeof(r->resume.file), "%s", from->file);
    r->resume.pos = from->pos;
    if (from->gtid != NULL)
        snprintf(r->resume.gtid, sizeof(r->resume.gtid), "%s", from->gtid);
    return MCSQ_OK;
}

int tail_reader_start(tail_reader *r, const mcsq_config *cfg, txn_queue *queue,
                      const binlog_resume *from, const tail_reader_metrics *metrics, char *errstr,
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
    binlog_decoder_init(&r->dec);
    txn_assembler_init(&r->assembler, cfg->mcsqueal.region);
    payload_reader_init(&r->payload);
    int rc = binlog_live_connect(&r->live, cfg, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = initial_position(r, from, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    const binlog_live_server *srv = binlog_live_server_info(r->live);
    r->use_gtid = srv->mariadb && srv->gtid_available;
    if (r->use_gtid && gtid_state_parse(&r->gtids, r->resume.gtid) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "bad GTID state \"%s\"",
                          r->resume.gtid);
    rc = start_stream(r, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    log_info("binlog: streaming from %s:%llu%s%s", r->resume.file,
             (unsigned long long)r->resume.pos, r->resume.gtid[0] ? " gtid " : "", r->resume.gtid);
    if (pthread_create(&r->thread, NULL, reader_main, r) != 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "cannot start the reader thread");
    r->running = true;
    return MCSQ_OK;
}

void tail_reader_request_stop(tail_reader *r)
{
    atomic_store(&r->stop, 1);
    txn_queue_close(r->queue); /* unblocks a push waiting for room */
    pthread_mutex_lock(&r->live_lock);
    if (r->live != NULL)
        binlog_live_interrupt(r->live);
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

void tail_reader_deinit(tail_reader *r)
{
    if (r->running)
        tail_reader_stop(r);
    binlog_live_close(r->live);
    r->live = NULL;
    pthread_mutex_destroy(&r->live_lock);
    binlog_decoder_deinit(&r->dec);
    txn_assembler_deinit(&r->assembler);
    payload_reader_deinit(&r->payload);
    txn_batch_clear(&r->pending);
    txn_slab_pool_deinit(&r->slabs);
}
