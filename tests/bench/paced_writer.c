/*
 * paced_writer: a paced workload of annotated transactions for the end-to-end
 * benchmark (tests/bench/bench_e2e.sh).
 *
 * Several connections (threads) share one schedule: transaction g (counted
 * over all threads) is due at start + g / rate, and thread j sends the
 * transactions g = j, j + T, j + 2T, ... (open loop: a thread that falls
 * behind sends at once, without sleeping, until it is on time again). Each
 * transaction is one auto-committed InnoDB statement,
 *
 *   UPDATE bench_users SET v = v + 1, note = 'paced G probe <unix us>' WHERE id = N
 *   /<star> mcsqueal: user:N profile:N @probe=<unix us> <star>/
 *
 * where the probe is CLOCK_REALTIME read just before the statement is sent
 * (never a whole second: mcsqueal would take that for a header timestamp):
 * the commit happens after it, so mcsqueal's invalidation lag (commit_us
 * from the probe -> delete confirmed) is measured exactly, or a little long
 * by the statement's own execution, never short. The probe is in the row
 * too, for a reader that sees rows but not the statement (Debezium's MySQL
 * connector on MariaDB, in bench_debezium.sh).
 *
 * --setup creates the table (ids 1..--rows) and exits. Otherwise the run
 * prints one line of key=value pairs: transactions committed, seconds, the
 * achieved rate, how many were sent late (more than 1 ms after they were
 * due) and the worst lateness, errors, and the client's round-trip time per
 * statement (p50, p99, max).
 *
 * Usage: paced_writer [-h HOST] [-P PORT] [-S SOCKET] [-u USER] [-p PASSWORD]
 *                     [-D DATABASE] [--rate N] [--seconds S] [--threads T]
 *                     [--rows N] [--seed N] [--setup]
 * Exit code: 0 when the run completed without SQL errors, 1 otherwise, 2 on
 * usage errors.
 */
#include <mysql.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 64
#define LATE_NS 1000000 /* sent more than 1 ms after it was due */

typedef struct writer_options {
    const char *host;
    unsigned port;
    const char *socket;
    const char *user;
    const char *password;
    const char *database;
    double rate;
    double seconds;
    unsigned threads;
    unsigned rows;
    uint64_t seed;
    int setup;
} writer_options;

typedef struct writer_thread {
    const writer_options *opt;
    unsigned index;
    int64_t start_ns; /* CLOCK_MONOTONIC start of the shared schedule */
    uint64_t due;     /* transactions this thread sends */
    MYSQL *conn;
    pthread_t tid;
    /* results */
    uint64_t done;
    uint64_t late;
    uint64_t errors;
    int64_t late_max_ns;
    int64_t last_ns;  /* when the last statement returned */
    uint32_t *rtt_us; /* per statement */
    char err[512];
} writer_thread;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_until_ns(int64_t t)
{
    struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static MYSQL *connect_db(const writer_options *opt, const char *database, char *err,
                         size_t err_size)
{
    MYSQL *conn = mysql_init(NULL);
    if (conn == NULL) {
        snprintf(err, err_size, "mysql_init failed");
        return NULL;
    }
    if (mysql_real_connect(conn, opt->socket ? NULL : opt->host, opt->user, opt->password, database,
                           opt->port, opt->socket, 0) == NULL) {
        snprintf(err, err_size, "connect: %s", mysql_error(conn));
        mysql_close(conn);
        return NULL;
    }
    return conn;
}

static int run_sql(MYSQL *conn, const char *sql, char *err, size_t err_size)
{
    if (mysql_query(conn, sql) != 0) {
        snprintf(err, err_size, "%.80s: %s", sql, mysql_error(conn));
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(conn);
    mysql_free_result(res);
    return 0;
}

/* Creates the database and the table with rows 1..opt->rows. */
static int setup(const writer_options *opt)
{
    char err[1024], sql[256];
    MYSQL *conn = connect_db(opt, NULL, err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "paced_writer: %s\n", err);
        return 1;
    }
    snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS `%s`", opt->database);
    int rc = run_sql(conn, sql, err, sizeof(err));
    if (rc == 0 && mysql_select_db(conn, opt->database) != 0) {
        snprintf(err, sizeof(err), "USE %s: %s", opt->database, mysql_error(conn));
        rc = -1;
    }
    if (rc == 0)
        rc = run_sql(conn, "DROP TABLE IF EXISTS bench_users", err, sizeof(err));
    if (rc == 0)
        rc = run_sql(conn,
                     "CREATE TABLE bench_users (id INT PRIMARY KEY, v BIGINT NOT NULL DEFAULT 0, "
                     "note VARCHAR(64) NOT NULL DEFAULT '') ENGINE=InnoDB",
                     err, sizeof(err));
    for (unsigned id = 1; rc == 0 && id <= opt->rows; id += 1000) {
        char buf[1000 * 16 + 64];
        size_t len = (size_t)snprintf(buf, sizeof(buf), "INSERT INTO bench_users (id) VALUES ");
        for (unsigned k = id; k < id + 1000 && k <= opt->rows; k++)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s(%u)", k == id ? "" : ",", k);
        rc = run_sql(conn, buf, err, sizeof(err));
    }
    if (rc != 0)
        fprintf(stderr, "paced_writer: setup: %s\n", err);
    mysql_close(conn);
    return rc == 0 ? 0 : 1;
}

static void *writer_main(void *arg)
{
    writer_thread *w = arg;
    const writer_options *opt = w->opt;
    uint64_t rng = opt->seed * 1000003 + w->index;
    double ns_per_txn = 1e9 / opt->rate;
    char sql[512];
    for (uint64_t i = 0; i < w->due; i++) {
        uint64_t g = i * opt->threads + w->index;
        int64_t due_ns = w->start_ns + (int64_t)((double)g * ns_per_txn);
        int64_t now = mono_ns();
        if (now < due_ns) {
            sleep_until_ns(due_ns);
            now = mono_ns();
        }
        int64_t late = now - due_ns;
        if (late > LATE_NS)
            w->late++;
        if (late > w->late_max_ns)
            w->late_max_ns = late;
        unsigned id = 1 + (unsigned)(rng_next(&rng) % opt->rows);
        /* mcsqueal takes a whole-second commit time for a header timestamp
         * and leaves it out of the lag histogram; the schedule's fixed phase
         * makes such probes far likelier than 1 in 10^6 (seen: 4 in 100,000),
         * so move them 1 us earlier (the lag is then 1 us long, never short) */
        int64_t probe = real_us();
        if (probe % 1000000 == 0)
            probe--;
        int len = snprintf(sql, sizeof(sql),
                           "UPDATE bench_users SET v = v + 1, note = 'paced %" PRIu64
                           " probe %" PRId64 "' WHERE id = %u /* mcsqueal: user:%u profile:%u "
                           "@probe=%" PRId64 " */",
                           g, probe, id, id, id, probe);
        int64_t t0 = mono_ns();
        if (mysql_real_query(w->conn, sql, (unsigned long)len) != 0) {
            if (w->errors++ == 0)
                snprintf(w->err, sizeof(w->err), "%s", mysql_error(w->conn));
            continue;
        }
        w->last_ns = mono_ns();
        int64_t rtt = (w->last_ns - t0) / 1000;
        w->rtt_us[w->done++] = rtt > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt;
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: paced_writer [-h HOST] [-P PORT] [-S SOCKET] [-u USER] [-p PASSWORD]\n"
               "                    [-D DATABASE] [--rate N] [--seconds S] [--threads T]\n"
               "                    [--rows N] [--seed N] [--setup]\n"
               "Writes annotated transactions carrying @probe=<unix us> at a fixed rate\n"
               "(default 5000/s for 20 s over 4 connections) and prints what it did;\n"
               "--setup creates DATABASE.bench_users (default database mcsq_bench) first\n"
               "and exits.\n");
}

static int parse_args(int argc, char **argv, writer_options *opt)
{
    static const struct option longopts[] = {
        {"rate", required_argument, NULL, 'r'},    {"seconds", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'}, {"rows", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 'e'},    {"setup", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'H'},          {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h:P:S:u:p:D:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            opt->host = optarg;
            break;
        case 'P':
            opt->port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'S':
            opt->socket = optarg;
            break;
        case 'u':
            opt->user = optarg;
            break;
        case 'p':
            opt->password = optarg;
            break;
        case 'D':
            opt->database = optarg;
            break;
        case 'r':
            opt->rate = strtod(optarg, NULL);
            break;
        case 's':
            opt->seconds = strtod(optarg, NULL);
            break;
        case 't':
            opt->threads = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            opt->rows = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'e':
            opt->seed = strtoull(optarg, NULL, 10);
            break;
        case 'x':
            opt->setup = 1;
            break;
        case 'H':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || opt->rate <= 0 || opt->seconds <= 0 || opt->threads == 0 ||
        opt->threads > MAX_THREADS || opt->rows == 0) {
        usage(stderr);
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    writer_options opt = {.host = "127.0.0.1",
                          .port = 3306,
                          .user = "root",
                          .database = "mcsq_bench",
                          .rate = 5000,
                          .seconds = 20,
                          .threads = 4,
                          .rows = 10000,
                          .seed = 1};
    int rc = parse_args(argc, argv, &opt);
    if (rc >= 0)
        return rc;
    if (opt.setup)
        return setup(&opt);

    uint64_t total = (uint64_t)(opt.rate * opt.seconds + 0.5);
    writer_thread th[MAX_THREADS];
    memset(th, 0, sizeof(th));
    for (unsigned j = 0; j < opt.threads; j++) {
        writer_thread *w = &th[j];
        w->opt = &opt;
        w->index = j;
        w->due = total / opt.threads + (j < total % opt.threads);
        w->rtt_us = malloc((w->due ? w->due : 1) * sizeof(*w->rtt_us));
        w->conn = connect_db(&opt, opt.database, w->err, sizeof(w->err));
        if (w->rtt_us == NULL || w->conn == NULL) {
            fprintf(stderr, "paced_writer: %s\n", w->rtt_us ? w->err : "out of memory");
            return 1;
        }
    }
    int64_t start = mono_ns() + 20000000; /* 20 ms: every thread is waiting by then */
    for (unsigned j = 0; j < opt.threads; j++) {
        th[j].start_ns = start;
        if (pthread_create(&th[j].tid, NULL, writer_main, &th[j]) != 0) {
            fprintf(stderr, "paced_writer: cannot start a thread\n");
            return 1;
        }
    }
    uint64_t done = 0, late = 0, errors = 0;
    int64_t late_max = 0, last = start;
    for (unsigned j = 0; j < opt.threads; j++) {
        pthread_join(th[j].tid, NULL);
        done += th[j].done;
        late += th[j].late;
        errors += th[j].errors;
        late_max = th[j].late_max_ns > late_max ? th[j].late_max_ns : late_max;
        last = th[j].last_ns > last ? th[j].last_ns : last;
        if (th[j].errors > 0)
            fprintf(stderr, "paced_writer: thread %u: %" PRIu64 " errors, first: %s\n", j,
                    th[j].errors, th[j].err);
    }
    uint32_t *rtt = malloc((done ? done : 1) * sizeof(*rtt));
    if (rtt == NULL) {
        fprintf(stderr, "paced_writer: out of memory\n");
        return 1;
    }
    size_t n = 0;
    for (unsigned j = 0; j < opt.threads; j++) {
        memcpy(rtt + n, th[j].rtt_us, th[j].done * sizeof(*rtt));
        n += th[j].done;
        free(th[j].rtt_us);
        mysql_close(th[j].conn);
    }
    qsort(rtt, n, sizeof(*rtt), cmp_u32);
    double secs = (double)(last - start) / 1e9;
    printf("txns=%" PRIu64 " target_rate=%.0f seconds=%.3f rate=%.0f threads=%u late=%" PRIu64
           " late_max_ms=%.1f errors=%" PRIu64 " rtt_p50_ms=%.3f rtt_p99_ms=%.3f rtt_max_ms=%.3f\n",
           done, opt.rate, secs, secs > 0 ? (double)done / secs : 0.0, opt.threads, late,
           (double)late_max / 1e6, errors, n ? rtt[n / 2] / 1e3 : 0.0,
           n ? rtt[(size_t)((double)(n - 1) * 0.99)] / 1e3 : 0.0, n ? rtt[n - 1] / 1e3 : 0.0);
    free(rtt);
    return errors == 0 ? 0 : 1;
}
