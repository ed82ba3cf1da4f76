/*
 * What every long-running mcsqueal command shares: loading the
 * configuration with the contract's exit codes, logging, the state
 * directory and its lock, the bus address (embedded or configured), and a
 * signal thread (SIGTERM/SIGINT ask to stop, SIGHUP reopens the log).
 */
#ifndef MCSQ_CLI_DAEMON_H
#define MCSQ_CLI_DAEMON_H

#include "core/config.h"
#include "core/metrics.h"
#include "core/metrics_defs.h"
#include "core/metrics_http.h"
#include "core/readiness.h"
#include "bus/bus_embedded.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef void (*daemon_stop_fn)(void *ctx);

typedef struct daemon_ctx {
    const char *command; /* "tail", "run": for messages */
    mcsq_config cfg;
    bool cfg_loaded;
    int lock_fd;
    bus_embedded *bus;    /* when bus.brokers = embedded */
    char bootstrap[1024]; /* the bus address to use (see daemon_bus_ready()) */
    char bootstrap_file[4096];
    pthread_t bus_thread; /* starts the embedded bus (DAEMON_BUS_HOST) */
    bool bus_starting;    /* bus_thread runs or was not joined yet */
    int bus_rc;           /* its exit code */
    pthread_t signal_thread;
    bool signal_thread_running;
    metrics_registry *reg;
    metrics_defs m;
    metrics_http *http;
    readiness *ready;       /* GET /ready; the parts this command runs require themselves */
    daemon_stop_fn on_stop; /* called once from the signal thread */
    void *stop_ctx;
    atomic_bool stop; /* set once by the signal thread (SIGTERM, SIGINT) */
} daemon_ctx;

/* Parses --config FILE / --help from argv into d (usage text from `usage`),
 * loads and validates the configuration and sets up logging. Returns true
 * when the command goes on; false when it ends now with *exit_code:
 * EXIT_OK (--help) or EXIT_USAGE (bad options, configuration or log file:
 * every error printed). Either way daemon_finish() cleans up. */
bool daemon_load(daemon_ctx *d, const char *command, int argc, char **argv, const char *usage,
                 int *exit_code);

/* How a command reaches an embedded bus (bus.brokers = embedded). */
typedef enum daemon_bus {
    DAEMON_BUS_HOST, /* start it in this process, address to <state_dir>/bus.bootstrap */
    DAEMON_BUS_FIND, /* another process hosts it: read <state_dir>/bus.bootstrap */
} daemon_bus;

/* Creates the state directory, takes its lock (one daemon per directory
 * and command), sets up the bus (bus.brokers, or the embedded bus as `bus`
 * says) and the metrics registry and exporter ([metrics] listen). Returns
 * 0 or an exit code (EXIT_RUNTIME) after logging why. An embedded bus this
 * process hosts is started on a thread, so that the caller can meanwhile
 * connect to MySQL: d->bootstrap is set once daemon_bus_ready() returned 0. */
int daemon_prepare(daemon_ctx *d, daemon_bus bus);

/* Waits until the bus that daemon_prepare() set up can be used (at once
 * unless an embedded bus is still starting). Returns 0 or EXIT_RUNTIME,
 * the bus's startup failure, already logged. */
int daemon_bus_ready(daemon_ctx *d);

/* Blocks the handled signals in this thread (call before creating other
 * threads, so that only the signal thread receives them) and starts the
 * signal thread, which calls on_stop(stop_ctx) on SIGTERM or SIGINT.
 * Returns 0 or EXIT_RUNTIME. */
int daemon_signals_start(daemon_ctx *d, daemon_stop_fn on_stop, void *stop_ctx);

/* Ends the signal thread (if it runs) and waits for it: once this returns,
 * on_stop() is not running and will not be called, so what it uses may be
 * freed. Signals stay blocked; a SIGHUP from now on is not acted on. */
void daemon_signals_stop(daemon_ctx *d);

/* Stops the signal thread, the embedded bus, releases the lock and frees
 * the configuration. */
void daemon_finish(daemon_ctx *d);

#endif
