/*
 * Shared daemon lifecycle (see daemon.h).
 */
#include "cli/daemon.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "core/log.h"
#include "core/service_notify.h"
#include "core/state_file.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/mcsqueal/mcsqueal.ini"
#define SIG_FINISH SIGUSR1 /* internal: ends the signal thread */

/* Applies log_level and log_file; returns EXIT_OK or EXIT_USAGE (printed). */
static int setup_logging(daemon_ctx *d)
{
    log_set_level((log_level)d->cfg.mcsqueal.log_level);
    if (d->cfg.mcsqueal.log_file[0] == '\0')
        return EXIT_OK;
    if (log_open(d->cfg.mcsqueal.log_file) != MCSQ_OK) {
        fprintf(stderr, "mcsqueal %s: cannot open log file %s: %s\n", d->command,
                d->cfg.mcsqueal.log_file, strerror(errno));
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Parses --config FILE / --help. Returns true with *path set to go on,
 * false with *exit_code (help or usage printed). */
static bool parse_options(const char *command, int argc, char **argv, const char *usage,
                          const char **path, int *exit_code)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *path = DEFAULT_CONFIG;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (c == 'c') {
            *path = optarg;
            continue;
        }
        fputs(usage, c == 'h' ? stdout : stderr);
        *exit_code = c == 'h' ? EXIT_OK : EXIT_USAGE;
        return false;
    }
    if (optind < argc) {
        fprintf(stderr, "mcsqueal %s: unexpected argument '%s'\n\n%s", command, argv[optind],
                usage);
        *exit_code = EXIT_USAGE;
        return false;
    }
    return true;
}

/* The one place that hears the process become ready or stop being so
 * (readiness.h): GET /ready turns 200 or 503 at the same moment, and systemd
 * hears it (Type=notify: READY=1, and the reason in `systemctl status`). */
static void daemon_readiness_changed(void *ctx, bool ready, const char *reason)
{
    daemon_ctx *d = ctx;
    char status[READINESS_REASON_MAX + 16];
    snprintf(status, sizeof(status), "%s%s", ready ? "" : "not ready: ", reason);
    service_notify_state(ready, status);
    if (ready)
        log_info("%s: ready", d->command);
    else if (atomic_load(&d->stop))
        log_info("%s: not ready: %s", d->command, reason);
    else
        log_warn("%s: not ready: %s", d->command, reason);
}

bool daemon_load(daemon_ctx *d, const char *command, int argc, char **argv, const char *usage,
                 int *exit_code)
{
    memset(d, 0, sizeof(*d));
    d->command = command;
    d->lock_fd = -1;
    const char *path;
    if (!parse_options(command, argc, argv, usage, &path, exit_code))
        return false;
    if (command_load_config(&d->cfg, path) != EXIT_OK) {
        *exit_code = EXIT_USAGE;
        return false;
    }
    d->cfg_loaded = true;
    *exit_code = setup_logging(d);
    if (*exit_code == EXIT_OK && readiness_new(&d->ready) != MCSQ_OK) {
        fprintf(stderr, "mcsqueal %s: out of memory\n", d->command);
        *exit_code = EXIT_RUNTIME;
    }
    if (*exit_code != EXIT_OK)
        return false;
    readiness_set_listener(d->ready, daemon_readiness_changed, d);
    return true;
}

static int lock_state_dir(daemon_ctx *d)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.lock", d->cfg.mcsqueal.state_dir, d->command);
    d->lock_fd = state_file_open(path, O_RDWR);
    if (d->lock_fd < 0) {
        log_error("cannot create %s: %s", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        log_error("another mcsqueal %s is running with state_dir %s (%s is locked)", d->command,
                  d->cfg.mcsqueal.state_dir, path);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

static int start_embedded_bus(daemon_ctx *d)
{
    char err[512];
    const char *topics[] = {d->cfg.bus.topic, NULL};
    bus_embedded_opts opts = {0, 0, topics};
    if (bus_embedded_new(&d->bus, &opts, err, sizeof(err)) != MCSQ_OK) {
        log_error("embedded bus: %s", err);
        return EXIT_RUNTIME;
    }
    snprintf(d->bootstrap, sizeof(d->bootstrap), "%s", bus_embedded_bootstrap(d->bus));
    snprintf(d->bootstrap_file, sizeof(d->bootstrap_file), "%s/bus.bootstrap",
             d->cfg.mcsqueal.state_dir);
    if (bus_embedded_address_write(d->bus, d->bootstrap_file, err, sizeof(err)) != MCSQ_OK) {
        log_error("embedded bus: %s", err);
        bus_embedded_destroy(d->bus); /* never announced: no address file to remove */
        d->bus = NULL;
        return EXIT_RUNTIME;
    }
    log_info("embedded bus at %s (address in %s)", d->bootstrap, d->bootstrap_file);
    return EXIT_OK;
}

static void *bus_main(void *arg)
{
    daemon_ctx *d = arg;
    pthread_setname_np(pthread_self(), "bus-start");
    d->bus_rc = start_embedded_bus(d);
    return NULL;
}

/* Starts the embedded bus on a thread (daemon_bus_ready() joins it); where
 * no thread can be created, right here. */
static int start_embedded_bus_async(daemon_ctx *d)
{
    if (pthread_create(&d->bus_thread, NULL, bus_main, d) != 0)
        return start_embedded_bus(d);
    d->bus_starting = true;
    return EXIT_OK;
}

int daemon_bus_ready(daemon_ctx *d)
{
    if (!d->bus_starting)
        return EXIT_OK;
    pthread_join(d->bus_thread, NULL);
    d->bus_starting = false;
    return d->bus_rc;
}

#ifndef MCSQ_VERSION
#define MCSQ_VERSION "unknown"
#endif

/* The registry, and the HTTP exporter when [metrics] listen is set. */
static int start_metrics(daemon_ctx *d)
{
    char err[512], listen[300];
    d->reg = metrics_registry_new();
    if (d->reg == NULL ||
        metrics_defs_register(d->reg, MCSQ_VERSION, &d->m, err, sizeof(err)) != MCSQ_OK) {
        log_error("metrics: %s", d->reg ? err : "out of memory");
        return EXIT_RUNTIME;
    }
    const mcsq_hostport *hp = &d->cfg.metrics.listen;
    if (hp->host == NULL)
        return EXIT_OK;
    snprintf(listen, sizeof(listen), strchr(hp->host, ':') ? "[%s]:%d" : "%s:%d", hp->host,
             (int)hp->port);
    if (metrics_http_start(&d->http, d->reg, listen, err, sizeof(err)) != MCSQ_OK) {
        log_error("metrics: %s", err);
        return EXIT_RUNTIME;
    }
    metrics_http_set_readiness(d->http, d->ready);
    log_info("metrics at http://%s/metrics, readiness at /ready", listen);
    return EXIT_OK;
}

#define FIND_BUS_TIMEOUT_S 60

/* Reads the embedded bus's address that another process published. */
static int find_embedded_bus(daemon_ctx *d)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/bus.bootstrap", d->cfg.mcsqueal.state_dir);
    for (int i = 0; i < FIND_BUS_TIMEOUT_S * 10 && !atomic_load(&d->stop); i++) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            bool ok = fgets(d->bootstrap, sizeof(d->bootstrap), f) != NULL;
            fclose(f);
            d->bootstrap[strcspn(d->bootstrap, "\r\n")] = '\0';
            if (ok && d->bootstrap[0] != '\0') {
                log_info("embedded bus at %s (from %s)", d->bootstrap, path);
                return EXIT_OK;
            }
        }
        if (i == 0)
            log_info("waiting for the embedded bus's address in %s (written by mcsqueal tail, "
                     "run or bus with the same state_dir)",
                     path);
        usleep(100000);
    }
    log_error("no embedded bus address in %s after %d s: start mcsqueal tail, run or bus with "
              "this state_dir, or set bus.brokers",
              path, FIND_BUS_TIMEOUT_S);
    return EXIT_RUNTIME;
}

int daemon_prepare(daemon_ctx *d, daemon_bus bus)
{
    char err[512];
    if (state_dir_create(d->cfg.mcsqueal.state_dir, err, sizeof(err)) != MCSQ_OK) {
        log_error("%s", err);
        return EXIT_RUNTIME;
    }
    state_dir_warn_open(d->cfg.mcsqueal.state_dir);
    int rc = lock_state_dir(d);
    if (rc == EXIT_OK)
        rc = start_metrics(d);
    if (rc != EXIT_OK)
        return rc;
    if (strcmp(d->cfg.bus.brokers, "embedded") != 0) {
        snprintf(d->bootstrap, sizeof(d->bootstrap), "%s", d->cfg.bus.brokers);
        return EXIT_OK;
    }
    return bus == DAEMON_BUS_HOST ? start_embedded_bus_async(d) : find_embedded_bus(d);
}

static void signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIG_FINISH);
}

static void *signal_main(void *arg)
{
    daemon_ctx *d = arg;
    sigset_t set;
    pthread_setname_np(pthread_self(), "signals");
    signal_set(&set);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0 || sig == SIG_FINISH)
            return NULL;
        if (sig == SIGHUP) {
            if (log_reopen() != MCSQ_OK)
                log_error("cannot reopen the log file %s (SIGHUP): %s; still writing to the "
                          "file opened before",
                          d->cfg.mcsqueal.log_file, strerror(errno));
            else
                log_info("log reopened (SIGHUP)");
            continue;
        }
        if (!atomic_exchange(&d->stop, true)) {
            log_info("%s: stopping (%s)", d->command, strsignal(sig));
            service_notify_stopping(); /* systemd: STOPPING=1 */
            d->on_stop(d->stop_ctx);
        }
    }
}

int daemon_signals_start(daemon_ctx *d, daemon_stop_fn on_stop, void *stop_ctx)
{
    sigset_t set;
    signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    d->on_stop = on_stop;
    d->stop_ctx = stop_ctx;
    if (pthread_create(&d->signal_thread, NULL, signal_main, d) != 0) {
        log_error("cannot start the signal thread");
        return EXIT_RUNTIME;
    }
    d->signal_thread_running = true;
    return EXIT_OK;
}

void daemon_signals_stop(daemon_ctx *d)
{
    if (!d->signal_thread_running)
        return;
    pthread_kill(d->signal_thread, SIG_FINISH);
    pthread_join(d->signal_thread, NULL);
    d->signal_thread_running = false;
}

void daemon_finish(daemon_ctx *d)
{
    daemon_bus_ready(d); /* a bus still starting is stopped below */
    if (d->http != NULL)
        metrics_http_stop(d->http); /* no scrape may call into what is freed next */
    d->http = NULL;
    daemon_signals_stop(d);
    if (d->bus != NULL) {
        char err[512];
        int rc = bus_embedded_address_remove(d->bus, d->bootstrap_file, err, sizeof(err));
        if (rc == MCSQ_ERR_AGAIN)
            log_warn("embedded bus: %s now names another bus; left in place", d->bootstrap_file);
        else if (rc != MCSQ_OK)
            log_warn("embedded bus: %s", err);
        bus_embedded_destroy(d->bus);
    }
    metrics_registry_destroy(d->reg);
    d->reg = NULL;
    readiness_destroy(d->ready);
    d->ready = NULL;
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    if (d->cfg_loaded)
        mcsq_config_deinit(&d->cfg);
}
