/*
 * gen_binlog: fills a MariaDB/MySQL server's binlog with realistic annotated
 * writes, fast, for the scan benchmark (tests/bench/bench_scan.sh).
 *
 * It connects with CLIENT_MULTI_STATEMENTS, creates a small schema (users,
 * feed, counters; InnoDB, VARCHAR payloads), seeds the users table, then
 * sends batches of many transactions per round trip. Each transaction is
 * BEGIN; 1-3 INSERT/UPDATE/upsert statements, each carrying an annotation
 * comment with 1-4 cache keys (`mcsqueal: user:42 feed:42` between the
 * comment delimiters, before or after the statement); COMMIT. It
 * stops once SHOW BINARY LOGS adds up to the target size (or after a given
 * number of transactions) and prints what it wrote as key=value pairs on
 * stdout. The run is deterministic for a given --seed.
 */
#include <mysql.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TEXT_POOL_SIZE (64 * 1024)
#define MAX_TXN_KEYS 16
#define SEED_ROWS_PER_STMT 1000

typedef struct gen_options {
    const char *host;
    unsigned port;
    const char *socket;
    const char *user;
    const char *password;
    const char *database;
    const char *format; /* session binlog_format, or NULL for the server's */
    uint64_t target_bytes;
    uint64_t max_txns;
    unsigned batch;
    unsigned users;
    uint64_t seed;
    int quiet;
    int no_setup; /* the schema exists: write only the benchmark transactions */
    int flush;    /* FLUSH BINARY LOGS when done */
} gen_options;

/* A growable text buffer; aborts on allocation failure (a benchmark tool). */
typedef struct sqlbuf {
    char *buf;
    size_t len;
    size_t cap;
} sqlbuf;

typedef struct gen_stats {
    uint64_t txns;
    uint64_t statements;
    uint64_t key_tokens;  /* keys written, counting repeats */
    uint64_t unique_keys; /* keys de-duplicated per transaction, as a scanner emits them */
    uint64_t seed_txns;
} gen_stats;

/* One key of the transaction being built, for per-transaction de-duplication. */
typedef struct txn_key {
    char text[48];
} txn_key;

typedef struct generator {
    MYSQL *conn;
    const gen_options *opt;
    uint64_t rng;
    char text_pool[TEXT_POOL_SIZE];
    sqlbuf sql;
    gen_stats stats;
    txn_key keys[MAX_TXN_KEYS];
    size_t nkeys;
} generator;

static const char *const words[] = {
    "the",    "cache", "memcache", "invalidation", "region", "replica", "lorem",    "ipsum",
    "dolor",  "sit",   "amet",     "photo",        "status", "update",  "friend",   "comment",
    "like",   "share", "event",    "group",        "page",   "profile", "story",    "video",
    "link",   "note",  "message",  "thread",       "reply",  "today",   "weekend",  "coffee",
    "travel", "music", "birthday", "concert",      "city",   "river",   "mountain", "garden",
};

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gen_binlog: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* xorshift64*: fast, deterministic, good enough for test data. */
static uint64_t rng_next(generator *g)
{
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * 2685821657736338717ULL;
}

/* Uniform in [lo, hi]. */
static unsigned rng_range(generator *g, unsigned lo, unsigned hi)
{
    return lo + (unsigned)(rng_next(g) % (uint64_t)(hi - lo + 1));
}

static void sql_reserve(sqlbuf *sb, size_t extra)
{
    if (sb->len + extra + 1 <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 4096;
    while (cap < sb->len + extra + 1)
        cap *= 2;
    char *p = realloc(sb->buf, cap);
    if (p == NULL)
        die("out of memory");
    sb->buf = p;
    sb->cap = cap;
}

static void sql_append(sqlbuf *sb, const char *s, size_t n)
{
    sql_reserve(sb, n);
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

static void sql_printf(sqlbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sql_printf(sqlbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("formatting failed");
    sql_reserve(sb, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

/* Fills the pool with space-separated words: payloads are slices of it, so
 * they look like text and need no escaping. */
static void text_pool_fill(generator *g)
{
    size_t n = 0;
    size_t nwords = sizeof(words) / sizeof(words[0]);
    while (n < TEXT_POOL_SIZE - 1) {
        const char *w = words[rng_next(g) % nwords];
        size_t wl = strlen(w);
        if (n + wl + 1 >= TEXT_POOL_SIZE - 1)
            break;
        memcpy(g->text_pool + n, w, wl);
        n += wl;
        g->text_pool[n++] = ' ';
    }
    memset(g->text_pool + n, 'x', TEXT_POOL_SIZE - n);
}

/* Appends a quoted string literal of a random length in [lo, hi]. */
static void append_text(generator *g, unsigned lo, unsigned hi)
{
    unsigned len = rng_range(g, lo, hi);
    size_t off = rng_next(g) % (TEXT_POOL_SIZE - len);
    sql_append(&g->sql, "'", 1);
    sql_append(&g->sql, g->text_pool + off, len);
    sql_append(&g->sql, "'", 1);
}

static void run_sql(generator *g, const char *sql, size_t len)
{
    if (mysql_real_query(g->conn, sql, (unsigned long)len) != 0)
        die("query failed: %s", mysql_error(g->conn));
    int status;
    do {
        MYSQL_RES *res = mysql_store_result(g->conn);
        if (res != NULL)
            mysql_free_result(res);
        else if (mysql_field_count(g->conn) != 0)
            die("reading a result failed: %s", mysql_error(g->conn));
        status = mysql_next_result(g->conn);
    } while (status == 0);
    if (status > 0)
        die("statement failed: %s", mysql_error(g->conn));
}

static void run_cmd(generator *g, const char *sql)
{
    run_sql(g, sql, strlen(sql));
}

/* Sum of File_size over SHOW BINARY LOGS. */
static uint64_t binlog_bytes(generator *g)
{
    if (mysql_query(g->conn, "SHOW BINARY LOGS") != 0)
        die("SHOW BINARY LOGS failed (is log_bin on?): %s", mysql_error(g->conn));
    MYSQL_RES *res = mysql_store_result(g->conn);
    if (res == NULL)
        die("SHOW BINARY LOGS: %s", mysql_error(g->conn));
    uint64_t total = 0;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL)
        if (row[1] != NULL)
            total += strtoull(row[1], NULL, 10);
    mysql_free_result(res);
    return total;
}

static void schema_create(generator *g)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS `%s`", g->opt->database);
    run_cmd(g, sql);
    if (mysql_select_db(g->conn, g->opt->database) != 0)
        die("cannot use database %s: %s", g->opt->database, mysql_error(g->conn));
    run_cmd(g, "CREATE TABLE IF NOT EXISTS users ("
               "id INT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL,"
               " bio VARCHAR(512) NOT NULL, version INT UNSIGNED NOT NULL DEFAULT 0,"
               " updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
               " ON UPDATE CURRENT_TIMESTAMP(6)) ENGINE=InnoDB");
    run_cmd(g, "CREATE TABLE IF NOT EXISTS feed ("
               "id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
               " user_id INT UNSIGNED NOT NULL, kind TINYINT UNSIGNED NOT NULL,"
               " body VARCHAR(1024) NOT NULL,"
               " created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
               " KEY user_id (user_id)) ENGINE=InnoDB");
    run_cmd(g, "CREATE TABLE IF NOT EXISTS counters ("
               "id INT UNSIGNED NOT NULL PRIMARY KEY, n BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB");
}

/* Inserts users 1..N (short rows) so that UPDATEs find them. */
static void users_seed(generator *g)
{
    for (unsigned first = 1; first <= g->opt->users; first += SEED_ROWS_PER_STMT) {
        unsigned last = first + SEED_ROWS_PER_STMT - 1;
        if (last > g->opt->users)
            last = g->opt->users;
        g->sql.len = 0;
        sql_printf(&g->sql, "INSERT IGNORE INTO users (id, name, bio) VALUES ");
        for (unsigned id = first; id <= last; id++)
            sql_printf(&g->sql, "%s(%u, 'user%u', 'new')", id == first ? "" : ",", id, id);
        sql_printf(&g->sql, " /* mcsqueal: seed:users:%u-%u */", first, last);
        run_sql(g, g->sql.buf, g->sql.len);
        g->stats.seed_txns++;
    }
}

/* Records one key of the current transaction, de-duplicated. */
static void txn_key_add(generator *g, const char *key)
{
    g->stats.key_tokens++;
    for (size_t i = 0; i < g->nkeys; i++)
        if (strcmp(g->keys[i].text, key) == 0)
            return;
    if (g->nkeys < MAX_TXN_KEYS)
        snprintf(g->keys[g->nkeys++].text, sizeof(g->keys[0].text), "%s", key);
}

/* Appends an annotation with 1-4 keys about user `uid` (and `obj`). */
static void append_annotation(generator *g, unsigned uid, unsigned obj)
{
    static const char *const kinds[] = {"user", "feed", "profile", "timeline", "friends"};
    unsigned nkeys = rng_range(g, 1, 4);
    unsigned start = rng_range(g, 0, 4);
    char key[48];
    sql_append(&g->sql, "/* mcsqueal:", 12);
    for (unsigned i = 0; i < nkeys; i++) {
        unsigned kind = (start + i) % 5;
        snprintf(key, sizeof(key), "%s:%u", kinds[kind], kind == 1 ? obj : uid);
        sql_append(&g->sql, " ", 1);
        sql_append(&g->sql, key, strlen(key));
        txn_key_add(g, key);
    }
    sql_append(&g->sql, " */", 3);
}

static void stmt_feed_insert(generator *g, unsigned uid)
{
    unsigned obj = rng_range(g, 1, 1000000000);
    sql_printf(&g->sql, "INSERT INTO feed (user_id, kind, body) VALUES (%u, %u, ", uid,
               rng_range(g, 1, 9));
    append_text(g, 40, 400);
    sql_append(&g->sql, ") ", 2);
    append_annotation(g, uid, obj);
}

static void stmt_user_update(generator *g, unsigned uid)
{
    /* Comment first, as ORMs that prepend context do. */
    append_annotation(g, uid, uid);
    sql_printf(&g->sql, " UPDATE users SET bio = ");
    append_text(g, 20, 300);
    sql_printf(&g->sql, ", version = version + 1 WHERE id = %u", uid);
}

static void stmt_counter_upsert(generator *g, unsigned uid)
{
    unsigned cid = rng_range(g, 1, 5000);
    sql_printf(&g->sql, "INSERT INTO counters (id, n) VALUES (%u, 1) ", cid);
    append_annotation(g, uid, cid);
    sql_printf(&g->sql, " ON DUPLICATE KEY UPDATE n = n + 1");
}

/* Appends one transaction: BEGIN; 1-3 annotated statements; COMMIT. */
static void txn_append(generator *g)
{
    unsigned nstmts = rng_range(g, 1, 3);
    g->nkeys = 0;
    sql_append(&g->sql, "BEGIN;", 6);
    for (unsigned i = 0; i < nstmts; i++) {
        unsigned uid = rng_range(g, 1, g->opt->users);
        unsigned pick = rng_range(g, 0, 9);
        if (pick < 5)
            stmt_feed_insert(g, uid);
        else if (pick < 9)
            stmt_user_update(g, uid);
        else
            stmt_counter_upsert(g, uid);
        sql_append(&g->sql, ";", 1);
    }
    sql_append(&g->sql, "COMMIT;", 7);
    g->stats.txns++;
    g->stats.statements += nstmts;
    g->stats.unique_keys += g->nkeys;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int done(generator *g, uint64_t bytes)
{
    if (g->opt->max_txns > 0 && g->stats.txns >= g->opt->max_txns)
        return 1;
    return g->opt->target_bytes > 0 && bytes >= g->opt->target_bytes;
}

static uint64_t generate(generator *g)
{
    uint64_t bytes = binlog_bytes(g);
    uint64_t last_report = 0;
    double t0 = now_seconds();
    while (!done(g, bytes)) {
        g->sql.len = 0;
        for (unsigned i = 0; i < g->opt->batch; i++) {
            txn_append(g);
            if (g->opt->max_txns > 0 && g->stats.txns >= g->opt->max_txns)
                break;
        }
        run_sql(g, g->sql.buf, g->sql.len);
        bytes = binlog_bytes(g);
        if (!g->opt->quiet && bytes - last_report >= 16u << 20) {
            last_report = bytes;
            fprintf(stderr, "gen_binlog: %" PRIu64 " MB, %" PRIu64 " transactions, %.1f s\n",
                    bytes >> 20, g->stats.txns, now_seconds() - t0);
        }
    }
    return bytes;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: gen_binlog [options]\n\n"
            "Writes annotated transactions to a server until its binlogs reach a size.\n\n"
            "  -h, --host HOST         server host (default 127.0.0.1)\n"
            "  -P, --port PORT         server port (default 3306)\n"
            "  -S, --socket PATH       Unix socket (instead of host/port)\n"
            "  -u, --user USER         user (default root; password from env MYSQL_PWD)\n"
            "  -D, --database NAME     database to create and use (default mcsq_bench)\n"
            "  -t, --target-mb N       stop when SHOW BINARY LOGS adds up to N MiB (default 150)\n"
            "  -n, --max-txns N        stop after N transactions (default: no limit)\n"
            "  -f, --format FMT        session binlog_format: ROW, STATEMENT or MIXED\n"
            "  -b, --batch N           transactions per round trip (default 500)\n"
            "  -U, --users N           distinct user ids (default 10000)\n"
            "  -s, --seed N            random seed (default 1)\n"
            "      --no-setup          the schema exists already (an earlier run): write\n"
            "                          only benchmark transactions, no DDL or seed rows\n"
            "      --flush             FLUSH BINARY LOGS when done (closes the last file)\n"
            "  -q, --quiet             no progress on stderr\n"
            "      --help              show this help\n\n"
            "Prints transactions=, statements=, keys=, unique_keys=, seed_transactions=,\n"
            "binlog_bytes= and seconds= on stdout when done. Exit codes: 0 ok, 1 server\n"
            "error, 2 usage error.\n");
}

static unsigned long long parse_num(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        fprintf(stderr, "gen_binlog: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv, gen_options *opt)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'h'},     {"port", required_argument, NULL, 'P'},
        {"socket", required_argument, NULL, 'S'},   {"user", required_argument, NULL, 'u'},
        {"database", required_argument, NULL, 'D'}, {"target-mb", required_argument, NULL, 't'},
        {"max-txns", required_argument, NULL, 'n'}, {"format", required_argument, NULL, 'f'},
        {"batch", required_argument, NULL, 'b'},    {"users", required_argument, NULL, 'U'},
        {"seed", required_argument, NULL, 's'},     {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'H'},           {"no-setup", no_argument, NULL, 'N'},
        {"flush", no_argument, NULL, 'F'},          {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h:P:S:u:D:t:n:f:b:U:s:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            opt->host = optarg;
            break;
        case 'P':
            opt->port = (unsigned)parse_num(optarg, "port");
            break;
        case 'S':
            opt->socket = optarg;
            break;
        case 'u':
            opt->user = optarg;
            break;
        case 'D':
            opt->database = optarg;
            break;
        case 't':
            opt->target_bytes = parse_num(optarg, "target size") << 20;
            break;
        case 'n':
            opt->max_txns = parse_num(optarg, "transaction count");
            break;
        case 'f':
            opt->format = optarg;
            break;
        case 'b':
            opt->batch = (unsigned)parse_num(optarg, "batch size");
            break;
        case 'U':
            opt->users = (unsigned)parse_num(optarg, "user count");
            break;
        case 's':
            opt->seed = parse_num(optarg, "seed");
            break;
        case 'q':
            opt->quiet = 1;
            break;
        case 'N':
            opt->no_setup = 1;
            break;
        case 'F':
            opt->flush = 1;
            break;
        case 'H':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc || opt->batch == 0 || opt->users == 0 ||
        strspn(opt->database, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(opt->database)) {
        usage(stderr);
        exit(2);
    }
    if (opt->format != NULL && strcmp(opt->format, "ROW") != 0 &&
        strcmp(opt->format, "STATEMENT") != 0 && strcmp(opt->format, "MIXED") != 0) {
        fprintf(stderr, "gen_binlog: --format must be ROW, STATEMENT or MIXED\n");
        exit(2);
    }
}

static MYSQL *connect_server(const gen_options *opt)
{
    MYSQL *conn = mysql_init(NULL);
    if (conn == NULL)
        die("out of memory");
    if (mysql_real_connect(conn, opt->socket ? "localhost" : opt->host, opt->user, opt->password,
                           NULL, opt->port, opt->socket, CLIENT_MULTI_STATEMENTS) == NULL)
        die("cannot connect: %s", mysql_error(conn));
    return conn;
}

int main(int argc, char **argv)
{
    gen_options opt = {
        .host = "127.0.0.1",
        .port = 3306,
        .user = "root",
        .database = "mcsq_bench",
        .target_bytes = 150ull << 20,
        .batch = 500,
        .users = 10000,
        .seed = 1,
    };
    opt.password = getenv("MYSQL_PWD");
    parse_args(argc, argv, &opt);

    static generator g; /* large: keep it off the stack */
    g.opt = &opt;
    g.rng = opt.seed * 0x9E3779B97F4A7C15ULL + 1;
    text_pool_fill(&g);
    g.conn = connect_server(&opt);
    if (opt.format != NULL) {
        char sql[64];
        snprintf(sql, sizeof(sql), "SET SESSION binlog_format = '%s'", opt.format);
        run_cmd(&g, sql);
    }
    double t0 = now_seconds();
    if (opt.no_setup) {
        if (mysql_select_db(g.conn, opt.database) != 0)
            die("cannot use database %s: %s", opt.database, mysql_error(g.conn));
    } else {
        schema_create(&g);
        users_seed(&g);
    }
    uint64_t bytes = generate(&g);
    if (opt.flush)
        run_cmd(&g, "FLUSH BINARY LOGS");
    double secs = now_seconds() - t0;
    printf("transactions=%" PRIu64 " statements=%" PRIu64 " keys=%" PRIu64 " unique_keys=%" PRIu64
           " seed_transactions=%" PRIu64 " binlog_bytes=%" PRIu64 " seconds=%.1f\n",
           g.stats.txns, g.stats.statements, g.stats.key_tokens, g.stats.unique_keys,
           g.stats.seed_txns, bytes, secs);
    mysql_close(g.conn);
    free(g.sql.buf);
    return 0;
}
