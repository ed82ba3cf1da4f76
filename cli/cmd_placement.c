/*
 * `mcsqueal placement --config FILE [--pool NAME] KEY...`: which server of
 * each pool the router invalidates each key in, under the pool's
 * `placement` (invalidator/pool_placement.h), for an operator comparing with
 * what the applications' memcached client says. Pure computation: no
 * connection is made.
 */
#include "cli/command_support.h"
#include "cli/commands.h"
#include "core/cache_key.h"
#include "core/config.h"
#include "invalidator/pool_placement.h"
#include "mcsqueal/error.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONFIG "/etc/mcsqueal/mcsqueal.ini"

static const char usage_text[] =
    "Usage: mcsqueal placement [--config FILE] [--pool NAME] [--] KEY...\n\n"
    "Prints, for each KEY (as the application names it, without the pool's prefix)\n"
    "and each [pool] of the configuration file, the server the router invalidates\n"
    "it in under the pool's `placement`, one tab-separated line each:\n"
    "  POOL<TAB>KEY<TAB>HOST:PORT\n"
    "HOST:PORT is written as in the pool's `servers`; `*` for placement = all (every\n"
    "server); the first proxy for placement = proxy (any answering proxy takes it).\n"
    "Compare with the server the applications' client names for the key\n"
    "(docs/memcached.md shows how to ask each client). No connection is made.\n"
    "Options end at the first KEY, or at `--` (before a KEY starting with '-').\n\n"
    "Options:\n"
    "  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
    "  -p, --pool NAME     only this pool\n"
    "  -h, --help          this help\n\n"
    "Exit codes: 0 done, 2 usage or configuration error.\n";

typedef struct args {
    const char *path;
    const char *pool; /* NULL: every pool */
    int first;        /* first KEY in argv; argc when --help was printed */
} args;

static int usage_error(const char *what, const char *arg)
{
    return command_usage_error("placement", usage_text, what, arg);
}

static int parse_args(int argc, char **argv, args *a)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"pool", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    *a = (args){.path = DEFAULT_CONFIG};
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:c:p:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->path = optarg;
            break;
        case 'p':
            a->pool = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            a->first = argc;
            return EXIT_OK;
        case ':':
            return usage_error("option needs an argument:", argv[optind - 1]);
        default:
            return usage_error("unknown option", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return usage_error("expected at least one KEY", NULL);
    a->first = optind;
    return EXIT_OK;
}

/* Each key must be a memcached key, also with the pool's prefix. */
static int key_check(const mcsq_pool_config *pool, const char *key)
{
    size_t len = strlen(key);
    cache_key_verdict v = len > 0 ? cache_key_check(key, len) : CACHE_KEY_EMPTY;
    if (v == CACHE_KEY_OK && strlen(pool->prefix) + len > CACHE_KEY_MAX_LEN)
        v = CACHE_KEY_TOO_LONG;
    if (v == CACHE_KEY_OK)
        return EXIT_OK;
    fprintf(stderr, "mcsqueal placement: \"%s\" is not a memcached key in pool %s (%s)\n", key,
            pool->name, cache_key_verdict_name(v));
    return EXIT_USAGE;
}

static void print_server(const mcsq_hostport *hp)
{
    printf(strchr(hp->host, ':') != NULL ? "[%s]:%d\n" : "%s:%d\n", hp->host, hp->port);
}

/* Prints the line of each key in pool. */
static int place_pool(const mcsq_pool_config *pool, char **keys, int n)
{
    char err[512];
    key_placement *p = NULL;
    for (int i = 0; i < n; i++)
        if (key_check(pool, keys[i]) != EXIT_OK)
            return EXIT_USAGE;
    if (pool_placement_new(&p, pool, false, err, sizeof(err)) != MCSQ_OK) {
        fprintf(stderr, "mcsqueal placement: pool %s: %s\n", pool->name, err);
        return EXIT_USAGE;
    }
    for (int i = 0; i < n; i++) {
        uint32_t s = key_placement_server_of(p, keys[i], strlen(keys[i]));
        printf("%s\t%s\t", pool->name, keys[i]);
        if (s == KEY_PLACEMENT_EVERY_SERVER)
            printf("*\n");
        else
            print_server(&pool->servers.v[s == KEY_PLACEMENT_ANY_SERVER ? 0 : s]);
    }
    key_placement_free(p);
    return EXIT_OK;
}

static int place_keys(const mcsq_config *cfg, const args *a, char **keys, int n)
{
    bool found = false;
    for (size_t i = 0; i < cfg->npools; i++) {
        if (a->pool != NULL && strcmp(cfg->pools[i].name, a->pool) != 0)
            continue;
        found = true;
        int code = place_pool(&cfg->pools[i], keys, n);
        if (code != EXIT_OK)
            return code;
    }
    if (found)
        return EXIT_OK;
    if (a->pool != NULL)
        fprintf(stderr, "mcsqueal placement: %s has no [pool %s]\n", cfg->path, a->pool);
    else
        fprintf(stderr, "mcsqueal placement: %s has no [pool] sections\n", cfg->path);
    return EXIT_USAGE;
}

int cmd_placement(int argc, char **argv)
{
    args a;
    int code = parse_args(argc, argv, &a);
    if (code != EXIT_OK || a.first == argc)
        return code;
    mcsq_config cfg;
    if (command_load_config(&cfg, a.path) != EXIT_OK)
        return EXIT_USAGE;
    code = place_keys(&cfg, &a, argv + a.first, argc - a.first);
    fflush(stdout);
    mcsq_config_deinit(&cfg);
    return code;
}
