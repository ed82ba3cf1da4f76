/*
 * `mcsqueal audit --config FILE KEY...`: looks the keys up now on every
 * server of every pool of the configuration, through the auditor's own
 * client (invalidator/audit_conn.h), for an operator chasing a survivor that
 * the auditor reported. A copy on a server that does not own the key under
 * the pool's placement survives every invalidation (the router never
 * deletes it there); a copy on its owner is what any cache holds.
 */
#include "cli/command_support.h"
#include "cli/commands.h"
#include "core/cache_key.h"
#include "core/config.h"
#include "core/key_placement_mode.h"
#include "invalidator/audit_conn.h"
#include "invalidator/mc_pool.h"
#include "mcsqueal/error.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONFIG "/etc/mcsqueal/mcsqueal.ini"
#define EXIT_SURVIVED 3
#define TIMEOUT_MS 1000

static const char usage_text[] =
    "Usage: mcsqueal audit [--config FILE] KEY...\n\n"
    "Looks each KEY up now on every server of every [pool] of the configuration\n"
    "file (the key as the application names it; the pool's prefix is added) and\n"
    "prints one line per key and server:\n"
    "  absent                         the server does not hold the key\n"
    "  present cas=N ttl=T            the server that owns the key holds it (T -1: no expiry)\n"
    "  survived cas=N ttl=T           a server that does not own the key under the pool's\n"
    "                                 placement holds it: the router never deletes it there\n"
    "  unreachable: REASON            the server did not answer\n"
    "A pool with placement = proxy is not looked up (its servers are proxies).\n"
    "then one line per key: held (no survivor anywhere), survived, or unknown.\n"
    "The lookups neither bump the keys in the LRU nor mark them fetched.\n\n"
    "Options:\n"
    "  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
    "  -h, --help          this help\n\n"
    "Exit codes: 0 nothing survived, 1 a server could not be asked (and nothing\n"
    "survived elsewhere), 2 usage or configuration error, 3 a copy survived.\n";

typedef struct tally {
    size_t survived, unreachable;
} tally;

static int usage_error(const char *what, const char *arg)
{
    return command_usage_error("audit", usage_text, what, arg);
}

/* Returns EXIT_OK with *first the first key (argc when --help was printed)
 * or EXIT_USAGE (printed). */
static int parse_args(int argc, char **argv, const char **path, int *first)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    *path = DEFAULT_CONFIG;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            *path = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            *first = argc;
            return EXIT_OK;
        case ':':
            return usage_error("option needs an argument:", argv[optind - 1]);
        default:
            return usage_error("unknown option", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return usage_error("expected at least one KEY", NULL);
    *first = optind;
    return EXIT_OK;
}

/* Every key must be a memcached key with every pool's prefix. */
static int keys_check(const mcsq_config *cfg, char **keys, int n)
{
    for (int i = 0; i < n; i++) {
        size_t len = strlen(keys[i]);
        cache_key_verdict v = len > 0 ? cache_key_check(keys[i], len) : CACHE_KEY_EMPTY;
        for (size_t p = 0; v == CACHE_KEY_OK && p < cfg->npools; p++)
            v = strlen(cfg->pools[p].prefix) + len > CACHE_KEY_MAX_LEN ? CACHE_KEY_TOO_LONG : v;
        if (v != CACHE_KEY_OK) {
            fprintf(stderr, "mcsqueal audit: \"%s\" is not a memcached key (%s)\n", keys[i],
                    cache_key_verdict_name(v));
            return EXIT_USAGE;
        }
    }
    return EXIT_OK;
}

static void print_server(const char *key, const mcsq_pool_config *pool, const char *server,
                         bool owner, int rc, const char *err, const audit_item *it, tally *t)
{
    printf("%s\tpool %s\t%s\t", key, pool->name, server);
    if (rc != MCSQ_OK) {
        printf("unreachable: %s\n", err);
        t->unreachable++;
    } else if (!it->present) {
        printf("absent\n");
    } else {
        printf("%s cas=%llu ttl=%lld\n", owner ? "present" : "survived",
               (unsigned long long)it->cas, (long long)it->ttl_s);
        t->survived += !owner;
    }
}

/* Looks key up on every server of one pool. */
static int audit_pool(const mcsq_pool_config *pool, const char *key, tally *t)
{
    char err[256];
    if (pool->placement == KEY_PLACEMENT_PROXY) {
        printf("%s\tpool %s\tnot audited: placement = proxy (the proxies place keys)\n", key,
               pool->name);
        return EXIT_OK;
    }
    mc_pool *placement = NULL;
    if (mc_pool_new(&placement, pool, NULL, err, sizeof(err)) != MCSQ_OK) {
        fprintf(stderr, "mcsqueal audit: %s\n", err);
        return EXIT_USAGE;
    }
    mcsq_key k = {.data = key, .len = (uint32_t)strlen(key)};
    size_t n = mc_pool_server_count(placement);
    uint32_t owner = mc_pool_server_of(placement, key, k.len);
    for (size_t s = 0; s < n; s++) {
        const mcsq_hostport *hp = &pool->servers.v[s];
        audit_conn *c = NULL;
        audit_item it = {0};
        int rc = audit_conn_new(&c, hp->host, hp->port, TIMEOUT_MS);
        err[0] = '\0';
        if (rc == MCSQ_OK)
            rc = audit_conn_lookup(c, pool->prefix, &k, 1, &it, err, sizeof(err));
        print_server(key, pool, c != NULL ? audit_conn_name(c) : hp->host, s == owner || owner >= n,
                     rc, rc == MCSQ_ERR_NOMEM ? "out of memory" : err, &it, t);
        audit_conn_destroy(c);
    }
    mc_pool_destroy(placement);
    return EXIT_OK;
}

static int audit_key(const mcsq_config *cfg, const char *key, tally *all)
{
    tally t = {0};
    for (size_t p = 0; p < cfg->npools; p++) {
        int code = audit_pool(&cfg->pools[p], key, &t);
        if (code != EXIT_OK)
            return code;
    }
    if (t.survived > 0)
        printf("%s: survived on %zu server(s)\n", key, t.survived);
    else if (t.unreachable > 0)
        printf("%s: unknown (%zu server(s) unreachable)\n", key, t.unreachable);
    else
        printf("%s: held\n", key);
    all->survived += t.survived;
    all->unreachable += t.unreachable;
    return EXIT_OK;
}

int cmd_audit(int argc, char **argv)
{
    const char *path;
    int first = 0;
    int code = parse_args(argc, argv, &path, &first);
    if (code != EXIT_OK || first == argc)
        return code;
    mcsq_config cfg;
    if (command_load_config(&cfg, path) != EXIT_OK)
        return EXIT_USAGE;
    if (cfg.npools == 0) {
        fprintf(stderr, "mcsqueal audit: %s has no [pool] sections\n", path);
        mcsq_config_deinit(&cfg);
        return EXIT_USAGE;
    }
    code = keys_check(&cfg, argv + first, argc - first);
    tally t = {0};
    for (int i = first; code == EXIT_OK && i < argc; i++)
        code = audit_key(&cfg, argv[i], &t);
    mcsq_config_deinit(&cfg);
    if (code != EXIT_OK)
        return code;
    return t.survived > 0 ? EXIT_SURVIVED : t.unreachable > 0 ? EXIT_RUNTIME : EXIT_OK;
}
