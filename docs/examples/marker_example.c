/*
 * Remote markers in an application (docs/markers.md): a web server in a
 * replica region, written against libmcsqueal-marker, libmariadb and
 * libmemcached. It caches rows of app.users as "user:<id>" in its local
 * cluster and
 *
 *   write ID NAME  sets the marker of user:ID in the regional pool, updates
 *                  the row on the MASTER with the annotation comment built
 *                  by the library (user:ID @marker=<region>), then deletes
 *                  user:ID in its local cluster;
 *   read ID        looks in the local cluster; on a miss it checks the
 *                  marker: present -> reads the MASTER (the local replica
 *                  may not have the write yet), absent -> reads the local
 *                  REPLICA; then fills the cache.
 *
 * --no-markers shows what goes wrong without them (never set, never
 * checked: every miss reads the replica). --fill-delay-ms N waits between
 * reading the database and filling the cache, like a slow request.
 * Prints one line: "wrote", "hit NAME" or "miss master|replica NAME".
 *
 * Build (installed library):
 *   cc marker_example.c $(pkg-config --cflags --libs mcsqueal-marker libmariadb libmemcached)
 * Run, e.g.:
 *   marker_example --region west --regional 10.1.0.9:11211 --cluster 10.1.0.5:11211 \
 *       --master 10.0.0.2:3306 --replica 10.1.0.2:3306 --user app write 42 ada
 * The password comes from the environment variable MARKER_EXAMPLE_PASSWORD.
 */
#include <mcsqueal/marker.h>

#include <getopt.h>
#include <libmemcached/memcached.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct app {
    const char *region, *regional, *cluster, *master, *replica, *user;
    int no_markers;
    long fill_delay_ms;
    mcsq_marker_client *markers;
    memcached_st *cache;
} app;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "marker_example: %s: %s\n", what, why);
    exit(1);
}

/* The local cluster, placed as docs/memcached.md says (the router's way). */
static memcached_st *cache_open(const char *servers)
{
    memcached_st *mc = memcached_create(NULL);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", servers);
    for (char *save = NULL, *s = strtok_r(buf, " ,", &save); s; s = strtok_r(NULL, " ,", &save)) {
        char *colon = strrchr(s, ':');
        if (colon == NULL)
            die("--cluster", "expected host:port");
        *colon = '\0';
        memcached_server_add(mc, s, (in_port_t)atoi(colon + 1));
    }
    return mc;
}

static MYSQL *db_open(const app *a, const char *hostport)
{
    char host[256];
    snprintf(host, sizeof(host), "%s", hostport);
    char *colon = strrchr(host, ':');
    if (colon == NULL)
        die(hostport, "expected host:port");
    *colon = '\0';
    MYSQL *db = mysql_init(NULL);
    const char *pw = getenv("MARKER_EXAMPLE_PASSWORD");
    if (mysql_real_connect(db, host, a->user, pw ? pw : "", "app", (unsigned)atoi(colon + 1), NULL,
                           0) == NULL)
        die(hostport, mysql_error(db));
    mysql_set_character_set(db, "utf8mb4"); /* keys travel as UTF-8 */
    return db;
}

static int do_write(app *a, long id, const char *name)
{
    char key[64], err[512], comment[512], esc[512], sql[2048];
    snprintf(key, sizeof(key), "user:%ld", id);
    const char *keys[] = {key};
    size_t lens[] = {strlen(key)};
    /* 1. the marker first: from now on, readers of this region go to the master */
    if (!a->no_markers && mcsq_marker_set(a->markers, key, lens[0], err, sizeof(err)) != 0)
        die("setting the marker (not writing without it)", err);
    /* 2. the write, with the keys and this region in its annotation */
    int rc = a->no_markers ? mcsq_annotation_build(keys, lens, 1, NULL, comment, sizeof(comment),
                                                   NULL, err, sizeof(err))
                           : mcsq_marker_annotation(a->markers, keys, lens, 1, comment,
                                                    sizeof(comment), NULL, err, sizeof(err));
    if (rc != 0)
        die("annotation", err);
    MYSQL *master = db_open(a, a->master);
    if (strlen(name) > 200)
        die("NAME", "longer than 200 bytes");
    mysql_real_escape_string(master, esc, name, (unsigned long)strlen(name));
    snprintf(sql, sizeof(sql), "UPDATE users SET name = '%s' WHERE id = %ld %s", esc, id, comment);
    if (mysql_query(master, sql) != 0)
        die("update on the master", mysql_error(master));
    mysql_close(master);
    /* 3. the local cluster: this region's readers miss from now on */
    memcached_delete(a->cache, key, lens[0], 0);
    puts("wrote");
    return 0;
}

/* SELECT name FROM users WHERE id = id on hostport, into out. */
static void db_read(const app *a, const char *hostport, long id, char *out, size_t size)
{
    MYSQL *db = db_open(a, hostport);
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT name FROM users WHERE id = %ld", id);
    if (mysql_query(db, sql) != 0)
        die(hostport, mysql_error(db));
    MYSQL_RES *res = mysql_store_result(db);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    snprintf(out, size, "%s", row && row[0] ? row[0] : "");
    mysql_free_result(res);
    mysql_close(db);
}

static int do_read(app *a, long id)
{
    char key[64], err[512], name[256];
    snprintf(key, sizeof(key), "user:%ld", id);
    size_t len;
    uint32_t flags;
    memcached_return_t mrc;
    char *v = memcached_get(a->cache, key, strlen(key), &len, &flags, &mrc);
    if (v != NULL) {
        printf("hit %.*s\n", (int)len, v);
        free(v);
        return 0;
    }
    /* a miss: is a write of ours still on its way to the local replica? */
    int present = 0;
    if (!a->no_markers &&
        mcsq_marker_check(a->markers, key, strlen(key), &present, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "marker_example: %s; reading the master to be safe\n", err);
        present = 1;
    }
    const char *source = present ? "master" : "replica";
    db_read(a, present ? a->master : a->replica, id, name, sizeof(name));
    if (a->fill_delay_ms > 0) {
        fprintf(stderr, "read %s %s; filling the cache in %ld ms\n", source, name,
                a->fill_delay_ms);
        struct timespec ts = {a->fill_delay_ms / 1000, (a->fill_delay_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    memcached_set(a->cache, key, strlen(key), name, strlen(name), 0, 0);
    printf("miss %s %s\n", source, name);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: marker_example --region R --regional SERVERS --cluster SERVERS\n"
            "                      --master HOST:PORT --replica HOST:PORT [--user U]\n"
            "                      [--no-markers] [--fill-delay-ms N] write ID NAME | read ID\n");
}

int main(int argc, char **argv)
{
    app a = {.user = "root"};
    static const struct option opts[] = {
        {"region", required_argument, NULL, 'r'},  {"regional", required_argument, NULL, 'g'},
        {"cluster", required_argument, NULL, 'c'}, {"master", required_argument, NULL, 'm'},
        {"replica", required_argument, NULL, 's'}, {"user", required_argument, NULL, 'u'},
        {"no-markers", no_argument, NULL, 'n'},    {"fill-delay-ms", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        switch (c) {
        case 'r':
            a.region = optarg;
            break;
        case 'g':
            a.regional = optarg;
            break;
        case 'c':
            a.cluster = optarg;
            break;
        case 'm':
            a.master = optarg;
            break;
        case 's':
            a.replica = optarg;
            break;
        case 'u':
            a.user = optarg;
            break;
        case 'n':
            a.no_markers = 1;
            break;
        case 'd':
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
    if (!a.region || !a.regional || !a.cluster || !a.master || !a.replica ||
        !((is_write && nargs == 3) || (is_read && nargs == 2))) {
        usage(stderr);
        return 2;
    }
    mcsq_marker_options o;
    mcsq_marker_options_init(&o);
    o.servers = a.regional; /* exactly as `servers =` of the regional [pool] */
    o.region = a.region;
    char err[512];
    if (mcsq_marker_client_new(&a.markers, &o, err, sizeof(err)) != 0)
        die("marker client", err);
    a.cache = cache_open(a.cluster);
    long id = atol(argv[optind + 1]);
    int rc = is_write ? do_write(&a, id, argv[optind + 2]) : do_read(&a, id);
    memcached_free(a.cache);
    mcsq_marker_client_destroy(a.markers);
    return rc;
}
