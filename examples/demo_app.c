/*
 * Demo application: what an application does with mcsqueal. It caches rows
 * in memcached (libmemcached set up as docs/memcached.md says, so keys land
 * where the router deletes them), writes to MariaDB through the C API with
 * the cache keys in an annotation comment, and never deletes a cache key
 * itself: it only watches mcsqueal remove them once the write committed.
 *
 *   demo_app MYSQL_SOCKET MEMCACHED_SERVERS   e.g. /tmp/x/sock "127.0.0.1:11211 127.0.0.1:11212"
 */
#include <libmemcached/memcached.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USERS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static memcached_st *cache_open(const char *servers)
{
    memcached_st *mc = memcached_create(NULL);
    /* the placement mcsqueal's router uses: libketama-compatible */
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", servers);
    for (char *save = NULL, *s = strtok_r(buf, " ", &save); s; s = strtok_r(NULL, " ", &save)) {
        char *colon = strrchr(s, ':');
        *colon = '\0';
        memcached_server_add(mc, s, (in_port_t)atoi(colon + 1));
    }
    return mc;
}

static int cached(memcached_st *mc, const char *key)
{
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    char *v = memcached_get(mc, key, strlen(key), &len, &flags, &rc);
    free(v);
    return v != NULL;
}

static void sql(MYSQL *db, const char *q)
{
    if (mysql_query(db, q) != 0) {
        fprintf(stderr, "demo_app: %s: %s\n", q, mysql_error(db));
        exit(1);
    }
}

static void cache_all(memcached_st *mc)
{
    char key[64];
    for (int i = 1; i <= USERS; i++) {
        const char *kinds[] = {"user", "profile"};
        for (int k = 0; k < 2; k++) {
            snprintf(key, sizeof(key), "%s:%d", kinds[k], i);
            memcached_set(mc, key, strlen(key), "cached row", 10, 0, 0);
        }
    }
    printf("cached user:1..%d and profile:1..%d in memcached\n", USERS, USERS);
}

/* Waits up to 5 s for key to leave the cache; returns the seconds it took, or -1. */
static double wait_gone(memcached_st *mc, const char *key, double since)
{
    while (now_s() - since < 5.0) {
        if (!cached(mc, key))
            return now_s() - since;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void write_and_watch(MYSQL *db, memcached_st *mc, int id)
{
    char q[256], key[64];
    snprintf(q, sizeof(q),
             "UPDATE users SET name = CONCAT(name, '!') WHERE id = %d "
             "/* mcsqueal: user:%d profile:%d */",
             id, id, id);
    sql(db, "BEGIN");
    sql(db, q);
    double t0 = now_s();
    sql(db, "COMMIT");
    snprintf(key, sizeof(key), "user:%d", id);
    double took = wait_gone(mc, key, t0);
    if (took < 0)
        printf("  commit user %d: %s STILL CACHED after 5 s\n", id, key);
    else
        printf("  commit user %d: user:%d and profile:%d invalidated %.1f ms after COMMIT\n", id,
               id, id, took * 1000);
}

static void rollback_keeps(MYSQL *db, memcached_st *mc)
{
    sql(db, "BEGIN");
    sql(db, "UPDATE users SET name = 'x' WHERE id = 5 /* mcsqueal: user:5 */");
    sql(db, "ROLLBACK");
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, NULL);
    printf("  rolled back write to user 5: user:5 is %s\n",
           cached(mc, "user:5") ? "still cached (correct: nothing committed)" : "GONE (wrong)");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: demo_app MYSQL_SOCKET \"HOST:PORT HOST:PORT...\"\n");
        return 2;
    }
    MYSQL *db = mysql_init(NULL);
    if (!mysql_real_connect(db, NULL, "root", NULL, NULL, 0, argv[1], 0)) {
        fprintf(stderr, "demo_app: %s\n", mysql_error(db));
        return 1;
    }
    memcached_st *mc = cache_open(argv[2]);
    sql(db, "CREATE DATABASE IF NOT EXISTS demo");
    sql(db, "USE demo");
    sql(db, "CREATE TABLE IF NOT EXISTS users (id INT PRIMARY KEY, name VARCHAR(64))");
    sql(db, "REPLACE INTO users VALUES (1,'ada'),(2,'bob'),(3,'cy'),(4,'di'),(5,'ed')");
    cache_all(mc);
    printf("annotated writes (the application never deletes a cache key itself):\n");
    for (int id = 1; id <= 4; id++)
        write_and_watch(db, mc, id);
    rollback_keeps(db, mc);
    memcached_free(mc);
    mysql_close(db);
    return 0;
}
