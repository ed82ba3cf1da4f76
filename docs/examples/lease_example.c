/*
 * Leases in an application (docs/leases.md): a look-aside cache of the rows
 * of app.users as "user:<id>", written against libmcsqueal-marker's lease API
 * and libmariadb. mcsqueal invalidates the keys named in the writes'
 * annotations; the application never deletes a key itself.
 *
 *   read ID        mcsq_lease_get(user:ID):
 *                    hit          prints "hit NAME"
 *                    miss, stale  (this reader holds the lease) reads the
 *                                 row, fills under the lease and prints
 *                                 "miss|stale NAME stored|not-stored"
 *                    wait         with a stale value: serves it, "wait NAME";
 *                                 without: gets again every few ms for at
 *                                 most --wait-ms, then reads the row without
 *                                 filling, "wait-timeout NAME"
 *                  on a cache error it reads the row and does not fill,
 *                  "cache-error NAME".
 *   write ID NAME  updates the row with the annotation comment built by the
 *                  library (user:ID), prints "wrote".
 *
 * --fill-delay-ms N waits between reading the row and filling, like a slow
 * request: the window of the stale-set race that the lease closes.
 *
 * Build (installed library):
 *   cc lease_example.c $(pkg-config --cflags --libs mcsqueal-marker libmariadb)
 * Run, e.g.:
 *   lease_example --cache "10.0.0.5:11211 10.0.0.6:11211" --db 10.0.0.2:3306 \
 *       --user app read 42
 * The password comes from the environment variable LEASE_EXAMPLE_PASSWORD.
 */
#include <mcsqueal/lease.h>
#include <mcsqueal/marker.h>

#include <getopt.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VALUE_TTL_S 3600

typedef struct app {
    const char *cache, *prefix, *db, *user;
    long fill_delay_ms, wait_ms;
    mcsq_lease_client *leases;
} app;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "lease_example: %s: %s\n", what, why);
    exit(1);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static MYSQL *db_open(const app *a)
{
    char host[256];
    snprintf(host, sizeof(host), "%s", a->db);
    char *colon = strrchr(host, ':');
    if (colon == NULL)
        die(a->db, "expected host:port");
    *colon = '\0';
    MYSQL *db = mysql_init(NULL);
    const char *pw = getenv("LEASE_EXAMPLE_PASSWORD");
    if (mysql_real_connect(db, host, a->user, pw ? pw : "", "app", (unsigned)atoi(colon + 1), NULL,
                           0) == NULL)
        die(a->db, mysql_error(db));
    mysql_set_character_set(db, "utf8mb4");
    return db;
}

/* SELECT name FROM users WHERE id = id, into out. */
static void db_read(const app *a, long id, char *out, size_t size)
{
    MYSQL *db = db_open(a);
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT name FROM users WHERE id = %ld", id);
    if (mysql_query(db, sql) != 0)
        die(a->db, mysql_error(db));
    MYSQL_RES *res = mysql_store_result(db);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    snprintf(out, size, "%s", row && row[0] ? row[0] : "");
    mysql_free_result(res);
    mysql_close(db);
}

static int do_write(const app *a, long id, const char *name)
{
    char key[64], err[512], comment[512], esc[512], sql[2048];
    snprintf(key, sizeof(key), "user:%ld", id);
    const char *keys[] = {key};
    size_t lens[] = {strlen(key)};
    if (mcsq_annotation_build(keys, lens, 1, NULL, comment, sizeof(comment), NULL, err,
                              sizeof(err)) != 0)
        die("annotation", err);
    if (strlen(name) > 200)
        die("NAME", "longer than 200 bytes");
    MYSQL *db = db_open(a);
    mysql_real_escape_string(db, esc, name, (unsigned long)strlen(name));
    snprintf(sql, sizeof(sql), "UPDATE users SET name = '%s' WHERE id = %ld %s", esc, id, comment);
    if (mysql_query(db, sql) != 0)
        die("update", mysql_error(db));
    mysql_close(db);
    puts("wrote");
    return 0;
}

/* This reader holds the lease: read the row, fill under the lease. */
static int refill(const app *a, const char *key, long id, uint64_t lease, const char *what)
{
    char name[256], err[512];
    int stored = 0;
    db_read(a, id, name, sizeof(name));
    if (a->fill_delay_ms > 0)
        sleep_ms(a->fill_delay_ms);
    if (mcsq_lease_fill(a->leases, key, strlen(key), lease, name, strlen(name), VALUE_TTL_S,
                        &stored, err, sizeof(err)) != 0)
        fprintf(stderr, "lease_example: %s\n", err); /* the lease protects the cache anyway */
    /* not stored: the key was invalidated since the get; what was read may be
       older than the database now: serve it to this request only */
    printf("%s %s %s\n", what, name, stored ? "stored" : "not-stored");
    return 0;
}

static int do_read(const app *a, long id)
{
    char key[64], err[512], name[256];
    snprintf(key, sizeof(key), "user:%ld", id);
    long waited = 0, step = 2;
    for (;;) {
        mcsq_lease_status st;
        const char *v;
        size_t vlen;
        uint64_t lease;
        if (mcsq_lease_get(a->leases, key, strlen(key), &st, &v, &vlen, &lease, err, sizeof(err)) !=
            0) {
            fprintf(stderr, "lease_example: %s\n", err);
            db_read(a, id, name, sizeof(name)); /* never fill without a lease */
            printf("cache-error %s\n", name);
            return 0;
        }
        if (st == MCSQ_LEASE_HIT || (st == MCSQ_LEASE_WAIT && v != NULL)) {
            printf("%s %.*s\n", st == MCSQ_LEASE_HIT ? "hit" : "wait", (int)vlen, v);
            return 0;
        }
        if (st == MCSQ_LEASE_MISS || st == MCSQ_LEASE_STALE)
            return refill(a, key, id, lease, mcsq_lease_status_name(st));
        if (waited >= a->wait_ms) { /* the holder is slow or gone: do not wait longer */
            db_read(a, id, name, sizeof(name));
            printf("wait-timeout %s\n", name);
            return 0;
        }
        sleep_ms(step); /* another reader refills: back off, look again */
        waited += step;
        step = step < 64 ? step * 2 : step;
    }
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: lease_example --cache SERVERS [--prefix P] --db HOST:PORT [--user U]\n"
                 "                     [--wait-ms N] [--fill-delay-ms N] read ID | write ID NAME\n"
                 "SERVERS and P exactly as `servers =` and `prefix =` of the [pool].\n"
                 "The database password is read from LEASE_EXAMPLE_PASSWORD.\n");
}

static mcsq_lease_client *leases_open(const app *a)
{
    mcsq_lease_options *o = NULL;
    mcsq_lease_client *c = NULL;
    char err[512];
    if (mcsq_lease_options_new(&o) != 0)
        die("lease options", "out of memory");
    if (mcsq_lease_options_set(o, "servers", a->cache, err, sizeof(err)) != 0 ||
        mcsq_lease_options_set(o, "prefix", a->prefix, err, sizeof(err)) != 0 ||
        mcsq_lease_client_new(&c, o, err, sizeof(err)) != 0)
        die("lease client", err);
    mcsq_lease_options_destroy(o);
    return c;
}

int main(int argc, char **argv)
{
    app a = {.user = "root", .prefix = "", .wait_ms = 1000};
    static const struct option opts[] = {
        {"cache", required_argument, NULL, 'c'},   {"prefix", required_argument, NULL, 'p'},
        {"db", required_argument, NULL, 'd'},      {"user", required_argument, NULL, 'u'},
        {"wait-ms", required_argument, NULL, 'w'}, {"fill-delay-ms", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        switch (c) {
        case 'c':
            a.cache = optarg;
            break;
        case 'p':
            a.prefix = optarg;
            break;
        case 'd':
            a.db = optarg;
            break;
        case 'u':
            a.user = optarg;
            break;
        case 'w':
            a.wait_ms = atol(optarg);
            break;
        case 'f':
            a.fill_delay_ms = atol(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    int nargs = argc - optind;
    const char *cmd = nargs > 0 ? argv[optind] : "";
    int is_write = strcmp(cmd, "write") == 0, is_read = strcmp(cmd, "read") == 0;
    if (!a.cache || !a.db || !((is_write && nargs == 3) || (is_read && nargs == 2))) {
        usage(stderr);
        return 2;
    }
    a.leases = leases_open(&a);
    long id = atol(argv[optind + 1]);
    int rc = is_write ? do_write(&a, id, argv[optind + 2]) : do_read(&a, id);
    mcsq_lease_client_destroy(a.leases);
    return rc;
}
