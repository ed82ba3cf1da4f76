/*
 * Auditor (see audit.h). Two sides share an inbox under a mutex:
 *
 *   router thread   audit_batch(): picks samples (a geometric skip count per
 *                   pool, so unsampled keys cost a decrement), admits them
 *                   through a token bucket of max_checks_per_s and a cap on
 *                   the bytes waiting, copies each admitted key into a
 *                   sample and appends it to the inbox.
 *   auditor thread  every 100 ms a watermark round (one `ms` per server);
 *                   samples from the inbox wait for the first round sent
 *                   after their confirmation, which gives both watermarks,
 *                   then join the queue of their first delay; a due sample is
 *                   looked up on every server of its pool (pipelined per
 *                   server), counted, and moves to the next delay's queue
 *                   or is freed. Every queue stays in due order, as every
 *                   sample waits the same delay in it.
 */
#include "invalidator/audit.h"

#include "core/clock.h"
#include "core/errstr.h"
#include "core/key_placement_mode.h"
#include "core/log.h"
#include "invalidator/audit_conn.h"
#include "mcsqueal/error.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONN_TIMEOUT_MS 1000
#define WATERMARK_EVERY_US 100000
#define WATERMARK_RING 64 /* 6.4 s of watermarks per server */
#define LOOP_WAIT_MS 20
#define CHECK_ROUNDS_PER_LOOP 8
#define DOWN_FIRST_US 1000000
#define DOWN_MAX_US 30000000
#define WINDOW_BUCKET_US 10000000LL
#define WINDOW_BUCKETS 60 /* 10 minutes */
#define GAUGES_EVERY_US 1000000
#define PENDING_MAX_BYTES (64u << 20)
#define NDECIDED 4 /* results counted in the window: held .. unreachable */

/* One watermark of one server. */
typedef struct watermark {
    int64_t sent_us, answered_us;
    uint64_t cas;
    uint32_t epoch;
} watermark;

typedef struct sample {
    struct sample *next;
    int64_t sent_us, confirm_us, due_us;
    size_t bytes;
    uint32_t pool;
    uint32_t owner;
    uint32_t delay; /* index of the next check's delay */
    uint32_t keylen;
    audit_marks *marks; /* per server of the pool, in this allocation */
    char *key;          /* keylen bytes, in this allocation after the marks */
} sample;

typedef struct queue {
    sample *head, *tail;
} queue;

typedef struct window {
    int64_t bucket[WINDOW_BUCKETS]; /* the bucket number each slot counts */
    uint32_t counts[WINDOW_BUCKETS][NDECIDED];
} window;

typedef struct audit_server {
    audit_conn *conn;
    watermark ring[WATERMARK_RING];
    size_t nring, next; /* entries held; slot of the next one */
    bool down;
    int64_t retry_us, backoff_us;
    metrics_series *survivors[2]; /* owner "false", "true" */
} audit_server;

typedef struct audit_pool {
    const mcsq_pool_config *cfg; /* (ref) */
    audit_server *servers;
    size_t nservers;
    uint64_t skip; /* router thread: confirmed keys until the next sample */
    metrics_series *checks[MCSQ_AUDIT_DELAYS_MAX][AUDIT_NRESULTS];
    metrics_series *ratio[MCSQ_AUDIT_DELAYS_MAX];
    metrics_series *in_window[MCSQ_AUDIT_DELAYS_MAX][NDECIDED];
    window win[MCSQ_AUDIT_DELAYS_MAX];
} audit_pool;

struct audit {
    double rate;
    int64_t delays_us[MCSQ_AUDIT_DELAYS_MAX];
    size_t ndelays;
    double max_per_s;
    audit_pool *pools;
    size_t npools;
    /* router thread only */
    uint64_t rng;
    double tokens;
    int64_t tokens_us;
    /* shared */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    queue inbox; /* under lock */
    bool stop;   /* under lock */
    _Atomic size_t pending_bytes;
    pthread_t thread;
    bool started;
    /* auditor thread only */
    queue awaiting; /* for the first watermark round after their confirmation */
    queue due[MCSQ_AUDIT_DELAYS_MAX];
    int64_t round_us; /* start of the last watermark round */
    int64_t gauges_us;
    sample *batch[AUDIT_CONN_LOOKUP_MAX];
    mcsq_key keys[AUDIT_CONN_LOOKUP_MAX];
    audit_item items[AUDIT_CONN_LOOKUP_MAX];
    uint8_t verdict[AUDIT_CONN_LOOKUP_MAX];
};

void audit_delay_label(int64_t ms, char *buf, size_t size)
{
    if (ms % 1000 == 0)
        snprintf(buf, size, "%llds", (long long)(ms / 1000));
    else
        snprintf(buf, size, "%lldms", (long long)ms);
}

/* ---- queues ---- */

static void queue_push(queue *q, sample *s)
{
    s->next = NULL;
    if (q->tail != NULL)
        q->tail->next = s;
    else
        q->head = s;
    q->tail = s;
}

static sample *queue_pop(queue *q)
{
    sample *s = q->head;
    if (s != NULL && (q->head = s->next) == NULL)
        q->tail = NULL;
    return s;
}

static void sample_free(audit *a, sample *s)
{
    atomic_fetch_sub(&a->pending_bytes, s->bytes);
    free(s);
}

static void queue_free(audit *a, queue *q)
{
    sample *s;
    while ((s = queue_pop(q)) != NULL)
        sample_free(a, s);
}

/* ---- the router's side ---- */

/* xorshift64*: a uniform double in (0, 1]. */
static double rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0 +
           1.0 / 9007199254740992.0;
}

/* Confirmed keys until the next sample: geometric with mean 1/rate. */
static uint64_t next_skip(audit *a)
{
    if (a->rate >= 1.0)
        return 1;
    double k = floor(log(rng_next(&a->rng)) / log1p(-a->rate));
    return k < 1e15 ? 1 + (uint64_t)k : (uint64_t)1e15;
}

/* Takes ndelays tokens when max_checks_per_s leaves them (a burst of at
 * most a tenth of a second's checks). */
static bool tokens_take(audit *a, int64_t now)
{
    double cap = a->max_per_s / 10 > (double)a->ndelays ? a->max_per_s / 10 : (double)a->ndelays;
    a->tokens += (double)(now - a->tokens_us) * a->max_per_s / 1e6;
    a->tokens_us = now;
    if (a->tokens > cap)
        a->tokens = cap;
    if (a->tokens < (double)a->ndelays)
        return false;
    a->tokens -= (double)a->ndelays;
    return true;
}

static void count_dropped(audit_pool *p, size_t ndelays)
{
    for (size_t d = 0; d < ndelays; d++)
        metrics_counter_inc(p->checks[d][AUDIT_DROPPED]);
}

static void admit(audit *a, size_t pool, const mcsq_key *k, uint32_t owner, int64_t sent_us,
                  int64_t now)
{
    audit_pool *p = &a->pools[pool];
    size_t bytes = sizeof(sample) + p->nservers * sizeof(audit_marks) + k->len;
    if (!tokens_take(a, now) || atomic_load(&a->pending_bytes) + bytes > PENDING_MAX_BYTES) {
        count_dropped(p, a->ndelays);
        return;
    }
    sample *s = malloc(bytes);
    if (s == NULL) {
        count_dropped(p, a->ndelays);
        return;
    }
    *s = (sample){.sent_us = sent_us,
                  .confirm_us = now,
                  .bytes = bytes,
                  .pool = (uint32_t)pool,
                  .owner = owner,
                  .keylen = k->len};
    s->marks = (audit_marks *)(void *)(s + 1);
    s->key = (char *)(s->marks + p->nservers);
    memcpy(s->key, k->data, k->len);
    atomic_fetch_add(&a->pending_bytes, bytes);
    pthread_mutex_lock(&a->lock);
    queue_push(&a->inbox, s);
    pthread_mutex_unlock(&a->lock);
}

void audit_batch(audit *a, size_t pool, const mcsq_key *keys, const uint32_t *owner,
                 const uint8_t *outcome, uint8_t confirmed, size_t n, int64_t sent_us)
{
    if (a == NULL || pool >= a->npools || a->pools[pool].servers == NULL)
        return;
    audit_pool *p = &a->pools[pool];
    int64_t now = 0;
    for (size_t i = 0; i < n; i++) {
        if (outcome[i] != confirmed)
            continue;
        if (p->skip > 1) {
            p->skip--;
            continue;
        }
        p->skip = next_skip(a);
        now = now != 0 ? now : clock_mono_us();
        admit(a, pool, &keys[i], owner[i], sent_us, now);
    }
}

/* ---- watermarks ---- */

static void server_failed(const audit_pool *p, audit_server *sv, const char *what, const char *err,
                          int64_t now)
{
    if (!sv->down)
        log_warn("audit: pool %s: memcached %s: %s: %s; its checks count as unreachable",
                 p->cfg->name, audit_conn_name(sv->conn), what, err);
    sv->down = true;
    sv->backoff_us = sv->backoff_us == 0                ? DOWN_FIRST_US
                     : sv->backoff_us * 2 < DOWN_MAX_US ? sv->backoff_us * 2
                                                        : DOWN_MAX_US;
    sv->retry_us = clock_mono_us() + sv->backoff_us;
    (void)now;
}

static void server_answered(const audit_pool *p, audit_server *sv)
{
    if (sv->down)
        log_info("audit: pool %s: memcached %s answers again", p->cfg->name,
                 audit_conn_name(sv->conn));
    sv->down = false;
    sv->backoff_us = 0;
}

static void watermark_take(const audit_pool *p, audit_server *sv, int64_t now)
{
    char err[256];
    uint64_t cas;
    if (sv->down && now < sv->retry_us)
        return;
    int64_t sent = clock_mono_us();
    if (audit_conn_watermark(sv->conn, &cas, err, sizeof(err)) != MCSQ_OK) {
        server_failed(p, sv, "watermark", err, now);
        return;
    }
    server_answered(p, sv);
    sv->ring[sv->next] = (watermark){sent, clock_mono_us(), cas, audit_conn_epoch(sv->conn)};
    sv->next = (sv->next + 1) % WATERMARK_RING;
    sv->nring += sv->nring < WATERMARK_RING;
}

static void watermark_round(audit *a)
{
    a->round_us = clock_mono_us();
    for (size_t i = 0; i < a->npools; i++) {
        audit_pool *p = &a->pools[i];
        for (size_t s = 0; p->servers != NULL && s < p->nservers; s++)
            watermark_take(p, &p->servers[s], a->round_us);
    }
}

/* Fills m from sv's ring: the last watermark answered before sent_us, the
 * first one sent after confirm_us. */
static void marks_resolve(const audit_server *sv, int64_t sent_us, int64_t confirm_us,
                          audit_marks *m)
{
    *m = (audit_marks){0};
    int64_t best_before = INT64_MIN, best_after = INT64_MAX;
    for (size_t i = 0; i < sv->nring; i++) {
        const watermark *w = &sv->ring[i];
        if (w->answered_us < sent_us && w->answered_us > best_before) {
            best_before = w->answered_us;
            m->before = w->cas;
            m->before_epoch = w->epoch;
        }
        if (w->sent_us > confirm_us && w->sent_us < best_after) {
            best_after = w->sent_us;
            m->after = w->cas;
            m->after_epoch = w->epoch;
        }
    }
}

/* Samples whose confirmation came before the last round started have both
 * watermarks: they join the first delay's queue. */
static void awaiting_resolve(audit *a)
{
    while (a->awaiting.head != NULL && a->awaiting.head->confirm_us < a->round_us) {
        sample *s = queue_pop(&a->awaiting);
        const audit_pool *p = &a->pools[s->pool];
        for (size_t i = 0; i < p->nservers; i++)
            marks_resolve(&p->servers[i], s->sent_us, s->confirm_us, &s->marks[i]);
        s->delay = 0;
        s->due_us = s->confirm_us + a->delays_us[0];
        queue_push(&a->due[0], s);
    }
}

static void inbox_take(audit *a)
{
    pthread_mutex_lock(&a->lock);
    queue in = a->inbox;
    a->inbox = (queue){0};
    pthread_mutex_unlock(&a->lock);
    sample *s;
    while ((s = queue_pop(&in)) != NULL)
        queue_push(&a->awaiting, s);
}

/* ---- checks ---- */

static void survivor_log(const audit_pool *p, const sample *s, const audit_server *sv, bool owner,
                         const audit_item *it)
{
    static log_ratelimit limit = LOG_RATELIMIT_INIT(60, 5);
    log_ratelimited(
        &limit, LOG_LEVEL_WARN,
        "audit: pool %s: key \"%.*s\" survived its invalidation on %s (CAS %llu, TTL %lld s), "
        "which %s; %s",
        p->cfg->name, (int)s->keylen, s->key, audit_conn_name(sv->conn),
        (unsigned long long)it->cas, (long long)it->ttl_s,
        owner ? "owns it under the router's placement"
              : "does not own it under the router's placement",
        owner ? "the delete did not hold there: look for restarts, a full spool or lost "
                "messages (docs/audit.md)"
              : "the application stores keys where the router does not delete them: compare "
                "its client's hash, distribution, prefix, server list, order and weights with "
                "the pool's servers, prefix and placement (docs/audit.md)");
}

/* Looks up the batch's keys of pool p on server si and merges the verdicts. */
static void check_server(audit *a, audit_pool *p, size_t si, size_t n)
{
    audit_server *sv = &p->servers[si];
    char err[256];
    int rc = MCSQ_ERR_CONNECT;
    if (!sv->down || clock_mono_us() >= sv->retry_us) {
        rc = audit_conn_lookup(sv->conn, p->cfg->prefix, a->keys, n, a->items, err, sizeof(err));
        if (rc != MCSQ_OK)
            server_failed(p, sv, "lookup", err, 0);
        else
            server_answered(p, sv);
    }
    uint32_t epoch = audit_conn_epoch(sv->conn);
    for (size_t i = 0; i < n; i++) {
        sample *s = a->batch[i];
        const audit_item *it = &a->items[i];
        audit_result r = rc != MCSQ_OK ? AUDIT_UNREACHABLE
                                       : audit_verdict(&s->marks[si], it->present, it->cas, epoch);
        a->verdict[i] = (uint8_t)audit_verdict_merge((audit_result)a->verdict[i], r);
        if (r != AUDIT_SURVIVED)
            continue;
        bool owner = s->owner == si || s->owner >= p->nservers;
        metrics_counter_inc(sv->survivors[owner]);
        survivor_log(p, s, sv, owner, &a->items[i]);
    }
}

static void window_add(window *w, audit_result r, int64_t now)
{
    int64_t b = now / WINDOW_BUCKET_US;
    size_t slot = (size_t)(b % WINDOW_BUCKETS);
    if (w->bucket[slot] != b) {
        w->bucket[slot] = b;
        memset(w->counts[slot], 0, sizeof(w->counts[slot]));
    }
    w->counts[slot][r]++;
}

/* Counts the batch's results and sends each sample on to its next delay. */
static void batch_finish(audit *a, audit_pool *p, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        sample *s = a->batch[i];
        metrics_counter_inc(p->checks[s->delay][a->verdict[i]]);
        window_add(&p->win[s->delay], (audit_result)a->verdict[i], now);
        if (++s->delay == a->ndelays) {
            sample_free(a, s);
            continue;
        }
        s->due_us = s->confirm_us + a->delays_us[s->delay];
        queue_push(&a->due[s->delay], s);
    }
}

/* Checks up to AUDIT_CONN_LOOKUP_MAX due samples of queue q that belong to
 * the pool of its head. Returns false when nothing was due. */
static bool check_round(audit *a, queue *q, int64_t now)
{
    if (q->head == NULL || q->head->due_us > now)
        return false;
    uint32_t pool = q->head->pool;
    audit_pool *p = &a->pools[pool];
    size_t n = 0;
    queue keep = {0};
    while (n < AUDIT_CONN_LOOKUP_MAX && q->head != NULL && q->head->due_us <= now) {
        sample *s = queue_pop(q);
        if (s->pool != pool) {
            queue_push(&keep, s); /* another pool's: stays due, in order */
            continue;
        }
        a->batch[n] = s;
        a->keys[n] = (mcsq_key){.data = s->key, .len = s->keylen};
        a->verdict[n++] = AUDIT_HELD;
    }
    if (keep.head != NULL) { /* put the other pools' samples back in front */
        keep.tail->next = q->head;
        if (q->head == NULL)
            q->tail = keep.tail;
        q->head = keep.head;
    }
    for (size_t si = 0; si < p->nservers; si++)
        check_server(a, p, si, n);
    batch_finish(a, p, n, clock_mono_us());
    return true;
}

static void checks_run(audit *a, int64_t now)
{
    for (size_t d = 0; d < a->ndelays; d++) {
        for (int r = 0; r < CHECK_ROUNDS_PER_LOOP && check_round(a, &a->due[d], now); r++)
            ;
    }
}

/* ---- gauges ---- */

static void gauges_update(audit *a, int64_t now)
{
    int64_t oldest = now / WINDOW_BUCKET_US - (WINDOW_BUCKETS - 1);
    for (size_t i = 0; i < a->npools; i++) {
        audit_pool *p = &a->pools[i];
        for (size_t d = 0; p->servers != NULL && d < a->ndelays; d++) {
            uint64_t sum[NDECIDED] = {0};
            for (size_t b = 0; b < WINDOW_BUCKETS; b++) {
                for (size_t r = 0; r < NDECIDED && p->win[d].bucket[b] >= oldest; r++)
                    sum[r] += p->win[d].counts[b][r];
            }
            for (size_t r = 0; r < NDECIDED; r++)
                metrics_gauge_set(p->in_window[d][r], (double)sum[r]);
            uint64_t decided = sum[AUDIT_HELD] + sum[AUDIT_SURVIVED];
            metrics_gauge_set(p->ratio[d],
                              decided ? (double)sum[AUDIT_HELD] / (double)decided : NAN);
        }
    }
}

/* ---- the thread ---- */

static bool wait_stop(audit *a, int ms)
{
    struct timespec until = clock_mono_deadline(ms);
    pthread_mutex_lock(&a->lock);
    if (!a->stop)
        pthread_cond_timedwait(&a->wake, &a->lock, &until);
    bool stop = a->stop;
    pthread_mutex_unlock(&a->lock);
    return stop;
}

static void *audit_main(void *arg)
{
    audit *a = arg;
    pthread_setname_np(pthread_self(), "audit");
    do {
        int64_t now = clock_mono_us();
        if (clock_due(a->round_us, WATERMARK_EVERY_US, now))
            watermark_round(a);
        inbox_take(a);
        awaiting_resolve(a);
        checks_run(a, clock_mono_us());
        now = clock_mono_us();
        if (clock_due(a->gauges_us, GAUGES_EVERY_US, now)) {
            a->gauges_us = now;
            gauges_update(a, now);
        }
    } while (!wait_stop(a, LOOP_WAIT_MS));
    return NULL;
}

/* ---- creation ---- */

static int pool_metrics(audit *a, audit_pool *p, metrics_defs *defs)
{
    const char *name = p->cfg->name;
    metrics_gauge_set(metrics_series_get1(defs->audit_pool_audited, name), p->servers != NULL);
    for (size_t d = 0; p->servers != NULL && d < a->ndelays; d++) {
        char delay[32];
        audit_delay_label(a->delays_us[d] / 1000, delay, sizeof(delay));
        for (size_t r = 0; r < AUDIT_NRESULTS; r++)
            p->checks[d][r] = metrics_series_get3(defs->audit_checks_total, name,
                                                  audit_result_name((audit_result)r), delay);
        for (size_t r = 0; r < NDECIDED; r++)
            p->in_window[d][r] = metrics_series_get3(defs->audit_window_checks, name, delay,
                                                     audit_result_name((audit_result)r));
        p->ratio[d] = metrics_series_get2(defs->audit_consistency_ratio, name, delay);
        metrics_gauge_set(p->ratio[d], NAN);
    }
    for (size_t s = 0; p->servers != NULL && s < p->nservers; s++) {
        const char *server = audit_conn_name(p->servers[s].conn);
        p->servers[s].survivors[0] =
            metrics_series_get3(defs->audit_survivors_total, name, server, "false");
        p->servers[s].survivors[1] =
            metrics_series_get3(defs->audit_survivors_total, name, server, "true");
    }
    return MCSQ_OK;
}

/* Whether the auditor can check pool cfg: per-server CAS means nothing
 * behind a proxy. */
static bool pool_auditable(const mcsq_pool_config *cfg)
{
    return cfg->placement != KEY_PLACEMENT_PROXY;
}

static int pool_init(audit *a, audit_pool *p, const mcsq_pool_config *cfg)
{
    p->cfg = cfg;
    p->skip = next_skip(a);
    if (!pool_auditable(cfg))
        return MCSQ_OK;
    p->nservers = cfg->servers.n;
    p->servers = calloc(p->nservers, sizeof(*p->servers));
    if (p->servers == NULL)
        return MCSQ_ERR_NOMEM;
    for (size_t s = 0; s < p->nservers; s++) {
        const mcsq_hostport *hp = &cfg->servers.v[s];
        if (audit_conn_new(&p->servers[s].conn, hp->host, hp->port, CONN_TIMEOUT_MS) != MCSQ_OK)
            return MCSQ_ERR_NOMEM;
    }
    return MCSQ_OK;
}

static int settings_parse(audit *a, const mcsq_config *cfg, char *errstr, size_t errstr_size)
{
    char why[200];
    int64_t ms[MCSQ_AUDIT_DELAYS_MAX];
    if (mcsq_audit_sample_rate_parse(cfg->audit.sample_rate, &a->rate, why, sizeof(why)) !=
            MCSQ_OK ||
        mcsq_audit_delays_parse(cfg->audit.delays_ms, ms, &a->ndelays, why, sizeof(why)) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "[audit]: %s", why);
    for (size_t d = 0; d < a->ndelays; d++)
        a->delays_us[d] = ms[d] * 1000;
    a->max_per_s = (double)(cfg->audit.max_checks_per_s > 0 ? cfg->audit.max_checks_per_s : 1);
    return MCSQ_OK;
}

int audit_new(audit **out, const mcsq_config *cfg, metrics_defs *defs, char *errstr,
              size_t errstr_size)
{
    *out = NULL;
    audit *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    int rc = settings_parse(a, cfg, errstr, errstr_size);
    if (rc != MCSQ_OK || a->rate <= 0 || cfg->npools == 0) {
        free(a);
        return rc;
    }
    a->rng = (uint64_t)clock_wall_us() * 0x9E3779B97F4A7C15ULL | 1;
    a->tokens_us = clock_mono_us();
    a->tokens = 0;
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    a->pools = calloc(cfg->npools, sizeof(*a->pools));
    rc = a->pools != NULL ? MCSQ_OK : MCSQ_ERR_NOMEM;
    for (size_t i = 0; rc == MCSQ_OK && i < cfg->npools; i++, a->npools++)
        rc = pool_init(a, &a->pools[i], &cfg->pools[i]);
    for (size_t i = 0; rc == MCSQ_OK && defs != NULL && i < a->npools; i++)
        rc = pool_metrics(a, &a->pools[i], defs);
    if (rc == MCSQ_OK && pthread_create(&a->thread, NULL, audit_main, a) != 0)
        rc = MCSQ_ERR_NOMEM;
    if (rc != MCSQ_OK) {
        audit_destroy(a);
        return errstr_set(errstr, errstr_size, rc, "out of memory starting the auditor");
    }
    a->started = true;
    log_info("audit: sampling %g of confirmed deletes in %zu pool(s), checks after %s ms, at most "
             "%.0f checks/s",
             a->rate, a->npools, cfg->audit.delays_ms, a->max_per_s);
    *out = a;
    return MCSQ_OK;
}

void audit_destroy(audit *a)
{
    if (a == NULL)
        return;
    if (a->started) {
        pthread_mutex_lock(&a->lock);
        a->stop = true;
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->thread, NULL);
    }
    queue_free(a, &a->inbox);
    queue_free(a, &a->awaiting);
    for (size_t d = 0; d < MCSQ_AUDIT_DELAYS_MAX; d++)
        queue_free(a, &a->due[d]);
    for (size_t i = 0; i < a->npools; i++) {
        audit_pool *p = &a->pools[i];
        for (size_t s = 0; p->servers != NULL && s < p->nservers; s++)
            audit_conn_destroy(p->servers[s].conn);
        free(p->servers);
    }
    free(a->pools);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
