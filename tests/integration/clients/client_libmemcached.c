/* The key-to-server answer of the C client libmemcached, for the placement
 * tests: `client_libmemcached locate|store SETTINGS HOST:PORT[:WEIGHT]...`
 * reads keys (one per line) on stdin; `locate` prints `key<TAB>host:port` as
 * memcached_server_by_key answers, `store` sets each key. SETTINGS:
 * `defaults` or `ketama_weighted` (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED),
 * optionally followed by `,namespace=PREFIX` (MEMCACHED_CALLBACK_NAMESPACE:
 * keys stored under PREFIX) and `,hash_with_prefix`
 * (MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY), applied in that order. */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: client_libmemcached locate|store "
                    "defaults|ketama_weighted[,namespace=PREFIX][,hash_with_prefix] "
                    "HOST:PORT[:WEIGHT]...\n");
    return 2;
}

static int apply_settings(memcached_st *mc, char *settings)
{
    char *save = NULL;
    for (char *s = strtok_r(settings, ",", &save); s != NULL; s = strtok_r(NULL, ",", &save)) {
        memcached_return_t rc = MEMCACHED_SUCCESS;
        if (strcmp(s, "ketama_weighted") == 0)
            rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
        else if (strncmp(s, "namespace=", 10) == 0)
            rc = memcached_callback_set(mc, MEMCACHED_CALLBACK_NAMESPACE, s + 10);
        else if (strcmp(s, "hash_with_prefix") == 0)
            rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY, 1);
        else if (strcmp(s, "defaults") != 0)
            return -1;
        if (rc != MEMCACHED_SUCCESS)
            return -1;
    }
    return 0;
}

static int add_server(memcached_st *mc, char *spec)
{
    char *port = strchr(spec, ':');
    if (port == NULL)
        return -1;
    *port++ = '\0';
    char *weight = strchr(port, ':');
    if (weight != NULL)
        *weight++ = '\0';
    in_port_t p = (in_port_t)strtoul(port, NULL, 10);
    /* as an application adds a server: with its weight when it has one */
    memcached_return_t rc =
        weight != NULL
            ? memcached_server_add_with_weight(mc, spec, p, (uint32_t)strtoul(weight, NULL, 10))
            : memcached_server_add(mc, spec, p);
    return rc == MEMCACHED_SUCCESS ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    int store = strcmp(argv[1], "store") == 0;
    if (!store && strcmp(argv[1], "locate") != 0)
        return usage();
    memcached_st *mc = memcached_create(NULL);
    if (apply_settings(mc, argv[2]) != 0)
        return usage();
    for (int i = 3; i < argc; i++) {
        if (add_server(mc, argv[i]) != 0) {
            fprintf(stderr, "client_libmemcached: bad server %s\n", argv[i]);
            return 2;
        }
    }
    char line[4096];
    unsigned long stored = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (len == 0)
            continue;
        memcached_return_t rc;
        if (store) {
            rc = memcached_set(mc, line, len, "v", 1, 0, 0);
            if (rc != MEMCACHED_SUCCESS) {
                fprintf(stderr, "client_libmemcached: set %s: %s\n", line,
                        memcached_strerror(mc, rc));
                return 1;
            }
            stored++;
            continue;
        }
        const memcached_instance_st *s = memcached_server_by_key(mc, line, len, &rc);
        if (s == NULL) {
            fprintf(stderr, "client_libmemcached: %s: %s\n", line, memcached_strerror(mc, rc));
            return 1;
        }
        printf("%s\t%s:%u\n", line, memcached_server_name(s), (unsigned)memcached_server_port(s));
    }
    if (store)
        printf("stored %lu\n", stored);
    memcached_free(mc);
    return 0;
}
