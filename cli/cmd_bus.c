/*
 * `mcsqueal bus`: runs the embedded bus (bus/bus_embedded.h)
 * standalone, so that other local processes (`mcsqueal route`, kcat, any
 * Kafka client) can use it. It creates the configured topic, writes the
 * bootstrap address atomically to a file (default <state_dir>/bus.bootstrap),
 * prints "bootstrap: ADDRESS" on stdout, then serves until SIGTERM or SIGINT,
 * removes the file and exits 0. SIGHUP reopens the log file. Only for
 * bus.brokers = embedded: with a real Kafka cluster there is nothing to run.
 */
#include "cli/commands.h"
#include "core/config.h"
#include "core/errstr.h"
#include "core/log.h"
#include "core/state_file.h"
#include "bus/bus_embedded.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BOOTSTRAP_FILE_NAME "bus.bootstrap"

typedef struct bus_opts {
    const char *config;
    const char *bootstrap_file; /* NULL: <state_dir>/bus.bootstrap */
    int brokers;
    int partitions;
    bool help; /* --help: printed, nothing else to do */
} bus_opts;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mcsqueal bus --config FILE [--bootstrap-file PATH] [--brokers N]\n"
            "                    [--partitions N]\n\n"
            "Runs the embedded bus (librdkafka's Kafka-protocol mock cluster) standalone on\n"
            "127.0.0.1 for a configuration with bus.brokers = embedded. Creates bus.topic,\n"
            "writes the bootstrap address to PATH, prints \"bootstrap: ADDRESS\", and serves\n"
            "until SIGTERM or SIGINT, then removes PATH. Messages and committed offsets live\n"
            "in memory only; each partition keeps at most the last 5 MiB (see docs/bus.md).\n\n"
            "Options:\n"
            "  -c, --config FILE          the configuration file (required)\n"
            "  -b, --bootstrap-file PATH  where to write the address\n"
            "                             (default: <state_dir>/" BOOTSTRAP_FILE_NAME
            ", state_dir is\n"
            "                             created when missing)\n"
            "      --brokers N            number of brokers, 1-%d (default %d)\n"
            "      --partitions N         partitions of the topic, 1-%d (default %d)\n"
            "  -h, --help                 this help\n",
            BUS_EMBEDDED_MAX_BROKERS, BUS_EMBEDDED_DEFAULT_BROKERS, BUS_EMBEDDED_MAX_PARTITIONS,
            BUS_EMBEDDED_DEFAULT_PARTITIONS);
}

/* Parses a count in [1, max]; returns 0 or -1 (message printed). */
static int parse_count(const char *opt, const char *arg, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v < 1 || v > max) {
        fprintf(stderr, "mcsqueal bus: %s \"%s\": expected a number from 1 to %d\n", opt, arg, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Returns EXIT_OK (opts->help: the help was printed) or EXIT_USAGE
 * (printed). */
static int parse_args(int argc, char **argv, bus_opts *opts)
{
    enum { OPT_BROKERS = 256, OPT_PARTITIONS };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"bootstrap-file", required_argument, NULL, 'b'},
        {"brokers", required_argument, NULL, OPT_BROKERS},
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:b:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opts->config = optarg;
            break;
        case 'b':
            opts->bootstrap_file = optarg;
            break;
        case OPT_BROKERS:
            bad |= parse_count("--brokers", optarg, BUS_EMBEDDED_MAX_BROKERS, &opts->brokers);
            break;
        case OPT_PARTITIONS:
            bad |=
                parse_count("--partitions", optarg, BUS_EMBEDDED_MAX_PARTITIONS, &opts->partitions);
            break;
        case 'h':
            usage(stdout);
            opts->help = true;
            return EXIT_OK;
        case ':':
            fprintf(stderr, "mcsqueal bus: %s needs an argument\n", argv[optind - 1]);
            bad = -1;
            break;
        default:
            fprintf(stderr, "mcsqueal bus: unknown option '%s'\n", argv[optind - 1]);
            bad = -1;
            break;
        }
    }
    if (!bad && (optind < argc || opts->config == NULL)) {
        fprintf(stderr, "mcsqueal bus: %s\n",
                optind < argc ? "unexpected argument" : "--config FILE is required");
        bad = -1;
    }
    if (bad) {
        fputc('\n', stderr);
        usage(stderr);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Loads and checks the configuration; returns EXIT_OK, or the exit code
 * (printed; cfg is then not to be freed). */
static int load_config(const char *path, mcsq_config *cfg)
{
    mcsq_config_errors errs;
    mcsq_config_errors_init(&errs);
    int rc = mcsq_config_load(cfg, path, &errs);
    mcsq_config_errors_print(&errs, stderr);
    mcsq_config_errors_deinit(&errs);
    if (rc == MCSQ_ERR_CONFIG)
        return EXIT_USAGE;
    if (rc != MCSQ_OK) {
        fprintf(stderr, "mcsqueal bus: %s: %s\n", path, mcsq_strerror(rc));
        return EXIT_RUNTIME;
    }
    if (strcmp(cfg->bus.brokers, "embedded") != 0) {
        fprintf(stderr,
                "mcsqueal bus: %s: bus.brokers = %s: the standalone bus runs only for "
                "bus.brokers = embedded; with a Kafka cluster, clients connect to it directly\n",
                path, cfg->bus.brokers);
        mcsq_config_deinit(cfg);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Applies [mcsqueal] log_level and log_file; returns EXIT_OK or
 * EXIT_RUNTIME (printed). */
static int apply_logging(const mcsq_config *cfg)
{
    log_set_level((log_level)cfg->mcsqueal.log_level);
    if (cfg->mcsqueal.log_file[0] == '\0' || log_open(cfg->mcsqueal.log_file) == MCSQ_OK)
        return EXIT_OK;
    fprintf(stderr, "mcsqueal bus: log_file %s: cannot open: %s\n", cfg->mcsqueal.log_file,
            strerror(errno));
    return EXIT_RUNTIME;
}

/* Fills path with where the address goes, creating state_dir for the default.
 * Returns 0 or an mcsq_err (errstr). */
static int bootstrap_path(const bus_opts *opts, const mcsq_config *cfg, char *path, size_t size,
                          char *errstr, size_t errstr_size)
{
    if (opts->bootstrap_file != NULL) {
        if (snprintf(path, size, "%s", opts->bootstrap_file) >= (int)size)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "--bootstrap-file: too long");
        return MCSQ_OK;
    }
    int rc = state_dir_create(cfg->mcsqueal.state_dir, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    state_dir_warn_open(cfg->mcsqueal.state_dir);
    if (snprintf(path, size, "%s/%s", cfg->mcsqueal.state_dir, BOOTSTRAP_FILE_NAME) >= (int)size)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "state_dir: too long");
    return MCSQ_OK;
}

/* Blocks the signals that stop or poke us in this thread and in every thread
 * started later (librdkafka's), so that wait_for_stop() receives them. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Waits for SIGTERM or SIGINT, reopening the log on SIGHUP. */
static void wait_for_stop(const sigset_t *set)
{
    for (;;) {
        int sig = sigwaitinfo(set, NULL);
        if (sig == SIGHUP) {
            if (log_reopen() != MCSQ_OK)
                log_error("cannot reopen the log file");
            continue;
        }
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("embedded bus: %s received, stopping", strsignal(sig));
            return;
        }
    }
}

/* Announces the address: file first, then stdout. Returns 0 or -1 (logged). */
static int announce(const bus_embedded *bus, const char *path)
{
    char errstr[512];
    if (bus_embedded_address_write(bus, path, errstr, sizeof(errstr)) != MCSQ_OK) {
        log_error("embedded bus: %s", errstr);
        return -1;
    }
    if (printf("bootstrap: %s\n", bus_embedded_bootstrap(bus)) < 0 || fflush(stdout) != 0) {
        log_error("embedded bus: cannot write to stdout: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void unannounce(const bus_embedded *bus, const char *path)
{
    char errstr[512];
    int rc = bus_embedded_address_remove(bus, path, errstr, sizeof(errstr));
    if (rc == MCSQ_ERR_AGAIN)
        log_warn("embedded bus: %s now names another bus; left in place", path);
    else if (rc != MCSQ_OK)
        log_error("embedded bus: %s", errstr);
}

/* Starts the bus, announces it and serves until stopped; returns the exit code. */
static int serve(const bus_opts *opts, const mcsq_config *cfg, const char *path)
{
    sigset_t set;
    block_signals(&set);
    char errstr[512];
    const char *topics[] = {cfg->bus.topic, NULL};
    bus_embedded_opts bopts = {opts->brokers, opts->partitions, topics};
    bus_embedded *bus;
    int rc = bus_embedded_new(&bus, &bopts, errstr, sizeof(errstr));
    if (rc != MCSQ_OK) {
        log_error("%s", errstr);
        return rc == MCSQ_ERR_INVALID ? EXIT_USAGE : EXIT_RUNTIME;
    }
    if (cfg->bus.kafka.n > 0)
        log_warn("embedded bus: kafka.* properties configure clients, not the bus; it speaks "
                 "plaintext without authentication");
    int code = EXIT_RUNTIME;
    if (announce(bus, path) == 0) {
        log_info("embedded bus: topic %s, %d broker(s), %d partition(s), bootstrap %s written to "
                 "%s",
                 cfg->bus.topic, opts->brokers, opts->partitions, bus_embedded_bootstrap(bus),
                 path);
        wait_for_stop(&set);
        code = EXIT_OK;
    }
    unannounce(bus, path);
    bus_embedded_destroy(bus);
    return code;
}

int cmd_bus(int argc, char **argv)
{
    bus_opts opts = {.brokers = BUS_EMBEDDED_DEFAULT_BROKERS,
                     .partitions = BUS_EMBEDDED_DEFAULT_PARTITIONS};
    int rc = parse_args(argc, argv, &opts);
    if (rc != EXIT_OK || opts.help)
        return rc;
    mcsq_config cfg;
    rc = load_config(opts.config, &cfg);
    if (rc != EXIT_OK)
        return rc;
    char path[PATH_MAX], errstr[512];
    rc = apply_logging(&cfg);
    if (rc == EXIT_OK &&
        bootstrap_path(&opts, &cfg, path, sizeof(path), errstr, sizeof(errstr)) != 0) {
        log_error("%s", errstr);
        rc = EXIT_RUNTIME;
    } else if (rc == EXIT_OK) {
        rc = serve(&opts, &cfg, path);
    }
    mcsq_config_deinit(&cfg);
    return rc;
}
