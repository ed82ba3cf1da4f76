/*
 * `mcsqueal run`: tailer and router in one process, the one-machine
 * default. With bus.brokers = embedded the bus lives in this process too
 * and its messages die with it, so the tailer's checkpoint is held behind
 * what the router has deleted (not just what the bus acknowledged): after a
 * crash nothing committed is left undeleted. Threads: publisher (this
 * thread), binlog reader, router, signal thread, librdkafka's own.
 */
#include "cli/commands.h"
#include "cli/tail_app.h"
#include "core/log.h"
#include "invalidator/router.h"
#include "mcsqueal/error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: mcsqueal run [--config FILE]\n\n"
    "Runs the tailer (binlog -> bus) and the router of [router] cluster (bus -> the\n"
    "memcached pools of the configuration) in one process. With bus.brokers = embedded\n"
    "(the default) it needs nothing but MySQL/MariaDB and memcached.\n"
    "SIGTERM or SIGINT stop it gracefully; SIGHUP reopens the log file.\n\n"
    "Options:\n"
    "  -c, --config FILE   configuration file (default /etc/mcsqueal/mcsqueal.ini)\n"
    "  -h, --help          show this help\n\n"
    "Exit codes: 0 stopped on request, 1 runtime failure, 2 usage or configuration error.\n";

typedef struct run_app {
    daemon_ctx d;
    tail_app tail;
    router *router;
    pthread_t thread;
    bool thread_started;
    atomic_bool router_stop;
    int router_rc;
    char router_err[512];
} run_app;

static void request_stop(void *ctx)
{
    run_app *a = ctx;
    tail_app_request_stop(&a->tail);
    /* the router stops after the tailer flushed, so that it still deletes
     * what the tailer publishes on its way out */
}

static void *router_main(void *arg)
{
    run_app *a = arg;
    pthread_setname_np(pthread_self(), "router");
    a->router_rc = router_run(a->router, &a->router_stop, a->router_err, sizeof(a->router_err));
    if (a->router_rc != MCSQ_OK) {
        log_error("route: stopped: %s", a->router_err);
        tail_app_request_stop(&a->tail); /* nothing would be deleted: stop all */
    }
    return NULL;
}

static int64_t router_gate(void *ctx)
{
    return router_done_offset(ctx);
}

static int start_router(run_app *a)
{
    char err[512];
    int rc = daemon_bus_ready(&a->d);
    if (rc != EXIT_OK)
        return rc;
    /* the bus lives in this process and this router is its only reader:
     * taking the partitions directly spares the wait for a group to form */
    router_options opts = {a->d.ready, a->d.bus != NULL};
    if (router_new(&a->router, &a->d.cfg, a->d.bootstrap, &a->d.m, &opts, err, sizeof(err)) !=
        MCSQ_OK) {
        log_error("route: %s", err);
        return EXIT_RUNTIME;
    }
    if (pthread_create(&a->thread, NULL, router_main, a) != 0) {
        log_error("route: cannot start its thread");
        return EXIT_RUNTIME;
    }
    a->thread_started = true;
    return EXIT_OK;
}

static int start(run_app *a)
{
    int rc = daemon_prepare(&a->d, DAEMON_BUS_HOST);
    if (rc == EXIT_OK)
        rc = start_router(a);
    if (rc == EXIT_OK)
        rc = tail_app_start(&a->tail, &a->d);
    if (rc == EXIT_OK && a->d.bus != NULL)
        publisher_set_gate(&a->tail.pub, router_gate, a->router);
    return rc;
}

static int stop_router(run_app *a)
{
    if (!a->thread_started)
        return EXIT_OK;
    atomic_store(&a->router_stop, true);
    pthread_join(a->thread, NULL);
    return a->router_rc == MCSQ_OK ? EXIT_OK : EXIT_RUNTIME;
}

int cmd_run(int argc, char **argv)
{
    static run_app a;
    int rc;
    if (!daemon_load(&a.d, "run", argc, argv, usage, &rc)) {
        daemon_finish(&a.d);
        return rc;
    }
    if (a.d.cfg.npools == 0) {
        fprintf(stderr, "mcsqueal run: the configuration has no [pool NAME] section\n");
        daemon_finish(&a.d);
        return EXIT_USAGE;
    }
    /* both parts from the start: one that is ready alone is not the process */
    readiness_require(a.d.ready, READINESS_TAILER, "tailer: starting");
    readiness_require(a.d.ready, READINESS_ROUTER, "router: starting");
    rc = daemon_signals_start(&a.d, request_stop, &a);
    if (rc == EXIT_OK)
        rc = start(&a);
    if (rc == EXIT_OK)
        rc = tail_app_run(&a.tail);
    int rrc = stop_router(&a);
    if (rc == EXIT_OK)
        rc = rrc;
    daemon_signals_stop(&a.d); /* request_stop() uses what is freed next */
    tail_app_finish(&a.tail);
    router_destroy(a.router);
    daemon_finish(&a.d);
    return rc;
}
