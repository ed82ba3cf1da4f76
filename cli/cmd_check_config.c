/*
 * `mcsqueal check-config`: loads and validates a configuration file and
 * prints "FILE: ok" (exit 0) or every problem as "FILE:LINE: message" on
 * stderr (exit 2). --print writes the effective configuration; --reference
 * writes the Markdown reference generated from the configuration table
 * (this is what produces docs/CONFIGURATION.md).
 */
#include "cli/commands.h"
#include "core/config.h"
#include "mcsqueal/error.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

typedef struct check_opts {
    const char *path;
    bool print;
    bool reference;
} check_opts;

static void usage(FILE *out)
{
    fprintf(out, "Usage: mcsqueal check-config --config FILE [--print]\n"
                 "       mcsqueal check-config --reference\n\n"
                 "Validates a configuration file: prints \"FILE: ok\", or every problem as\n"
                 "\"FILE:LINE: message\" on stderr and exits 2.\n\n"
                 "Options:\n"
                 "  -c, --config FILE  the configuration file to check\n"
                 "      --print        print the effective configuration, defaults filled in\n"
                 "                     (the MySQL password is never shown)\n"
                 "      --reference    print the configuration reference (Markdown), generated\n"
                 "                     from the built-in table of keys\n"
                 "  -h, --help         this help\n");
}

/* Returns -1 to go on, or the exit code to stop with. */
static int parse_args(int argc, char **argv, check_opts *opts)
{
    enum { OPT_PRINT = 256, OPT_REFERENCE };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"print", no_argument, NULL, OPT_PRINT},
        {"reference", no_argument, NULL, OPT_REFERENCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opts->path = optarg;
            break;
        case OPT_PRINT:
            opts->print = true;
            break;
        case OPT_REFERENCE:
            opts->reference = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case ':':
            fprintf(stderr, "mcsqueal check-config: %s needs an argument\n\n", argv[optind - 1]);
            usage(stderr);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "mcsqueal check-config: unknown option '%s'\n\n", argv[optind - 1]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc || opts->reference == (opts->path != NULL) ||
        (opts->reference && opts->print)) {
        fprintf(stderr, "mcsqueal check-config: %s\n\n",
                optind < argc     ? "unexpected argument"
                : opts->reference ? "--reference takes no other option"
                                  : "--config FILE is required");
        usage(stderr);
        return EXIT_USAGE;
    }
    return -1;
}

static int check_file(const check_opts *opts)
{
    mcsq_config cfg;
    mcsq_config_errors errs;
    mcsq_config_errors_init(&errs);
    int rc = mcsq_config_load(&cfg, opts->path, &errs);
    mcsq_config_errors_print(&errs, stderr);
    mcsq_config_errors_deinit(&errs);
    if (rc == MCSQ_ERR_CONFIG)
        return EXIT_USAGE;
    if (rc != MCSQ_OK) {
        fprintf(stderr, "%s: %s\n", opts->path, mcsq_strerror(rc));
        return EXIT_RUNTIME;
    }
    rc = opts->print ? mcsq_config_write(&cfg, stdout) : MCSQ_OK;
    if (!opts->print)
        printf("%s: ok\n", opts->path);
    mcsq_config_deinit(&cfg);
    return rc == MCSQ_OK && fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
}

int cmd_check_config(int argc, char **argv)
{
    check_opts opts = {NULL, false, false};
    int rc = parse_args(argc, argv, &opts);
    if (rc >= 0)
        return rc;
    if (opts.reference)
        return mcsq_config_write_reference(stdout) == MCSQ_OK ? EXIT_OK : EXIT_RUNTIME;
    return check_file(&opts);
}
