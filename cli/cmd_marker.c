/*
 * `mcsqueal marker set|check|clear KEY`: remote-marker operations from the
 * shell, through the same client library applications link, on the regional
 * pool of the configuration file. `check` prints "present" (exit 0) or
 * "absent" (exit 3).
 */
#include "cli/command_support.h"
#include "cli/commands.h"
#include "core/config.h"
#include "invalidator/marker_pool.h"
#include "mcsqueal/marker.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONFIG "/etc/mcsqueal/mcsqueal.ini"
#define EXIT_ABSENT 3

static const char usage_text[] =
    "Usage: mcsqueal marker set|check|clear KEY [--config FILE] [--ttl SECONDS]\n\n"
    "Remote markers in the regional pool (the [pool] with role = regional) of the\n"
    "configuration file, for the region [mcsqueal] region (docs/markers.md):\n"
    "  set KEY     sets KEY's marker, expiring after [marker] ttl_s (or --ttl)\n"
    "  check KEY   prints \"present\" (exit 0) or \"absent\" (exit 3)\n"
    "  clear KEY   deletes KEY's marker (an absent marker is fine)\n\n"
    "Options:\n"
    "  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
    "  -t, --ttl SECONDS   lifetime of a marker set now (1 to 2592000)\n"
    "  -h, --help          this help\n\n"
    "Exit codes: 0 ok (check: present), 1 the pool did not answer, 2 usage or\n"
    "configuration error, 3 check: absent.\n";

typedef struct marker_args {
    const char *path;
    const char *action;
    const char *key;
    long ttl_s; /* 0: from the configuration */
    bool help;  /* --help: printed, nothing else to do */
} marker_args;

static int usage_error(const char *what, const char *arg)
{
    return command_usage_error("marker", usage_text, what, arg);
}

/* Returns EXIT_OK (a->help: the help was printed) or EXIT_USAGE (printed). */
static int parse_args(int argc, char **argv, marker_args *a)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"ttl", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;
    a->path = DEFAULT_CONFIG;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->path = optarg;
            break;
        case 't':
            a->ttl_s = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || a->ttl_s < 1 || a->ttl_s > 2592000)
                return usage_error("--ttl must be a number of seconds from 1 to 2592000, not",
                                   optarg);
            break;
        case 'h':
            fputs(usage_text, stdout);
            a->help = true;
            return EXIT_OK;
        case ':':
            return usage_error("option needs an argument:", argv[optind - 1]);
        default:
            return usage_error("unknown option", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return usage_error("expected an action (set, check or clear) and a KEY", NULL);
    a->action = argv[optind];
    a->key = argv[optind + 1];
    if (strcmp(a->action, "set") != 0 && strcmp(a->action, "check") != 0 &&
        strcmp(a->action, "clear") != 0)
        return usage_error("unknown action", a->action);
    if (a->ttl_s != 0 && strcmp(a->action, "set") != 0)
        return usage_error("--ttl applies to set only", NULL);
    return EXIT_OK;
}

static int act(mcsq_marker_client *mc, const marker_args *a, long ttl_s)
{
    char err[512];
    size_t len = strlen(a->key);
    int rc, present = 0;
    if (strcmp(a->action, "set") == 0)
        rc = mcsq_marker_set(mc, a->key, len, err, sizeof(err));
    else if (strcmp(a->action, "clear") == 0)
        rc = mcsq_marker_clear(mc, a->key, len, err, sizeof(err));
    else
        rc = mcsq_marker_check(mc, a->key, len, &present, NULL, err, sizeof(err));
    if (rc != MCSQ_OK) {
        fprintf(stderr, "mcsqueal marker: %s\n", err);
        return rc == MCSQ_ERR_INVALID ? EXIT_USAGE : EXIT_RUNTIME;
    }
    if (strcmp(a->action, "check") == 0) {
        puts(present ? "present" : "absent");
        return present ? EXIT_OK : EXIT_ABSENT;
    }
    if (strcmp(a->action, "set") == 0)
        printf("set (expires in %ld s)\n", ttl_s);
    else
        puts("cleared");
    return EXIT_OK;
}

int cmd_marker(int argc, char **argv)
{
    marker_args a = {0};
    int code = parse_args(argc, argv, &a);
    if (code != EXIT_OK || a.help)
        return code;
    mcsq_config cfg;
    if (command_load_config(&cfg, a.path) != EXIT_OK)
        return EXIT_USAGE;
    const mcsq_pool_config *pool = mcsq_config_regional_pool(&cfg);
    if (pool == NULL) {
        fprintf(stderr,
                "mcsqueal marker: %s has no [pool] with role = regional (markers live "
                "there)\n",
                a.path);
        mcsq_config_deinit(&cfg);
        return EXIT_USAGE;
    }
    long ttl_s = a.ttl_s ? a.ttl_s : (long)cfg.marker.ttl_s;
    mcsq_marker_client *mc = NULL;
    char err[512];
    int rc = marker_pool_client_new(&mc, pool, cfg.mcsqueal.region, (unsigned)ttl_s, 0, err,
                                    sizeof(err));
    if (rc == MCSQ_OK) {
        code = act(mc, &a, ttl_s);
    } else {
        fprintf(stderr, "mcsqueal marker: %s\n", err);
        code = rc == MCSQ_ERR_CONFIG ? EXIT_USAGE : EXIT_RUNTIME;
    }
    mcsq_marker_client_destroy(mc);
    mcsq_config_deinit(&cfg);
    return code;
}
