/*
 * `mcsqueal route`: the router daemon of one memcache cluster. Consumes the
 * region's invalidations from the bus and deletes their keys in every pool
 * of the cluster, committing bus offsets only for confirmed or spooled
 * deletes. Threads: the router (this thread), the signal thread and
 * librdkafka's own.
 */
#include "cli/commands.h"
#include "cli/daemon.h"
#include "core/log.h"
#include "invalidator/router.h"
#include "mcsqueal/error.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: mcsqueal route [--config FILE]\n\n"
    "Consumes the region's invalidations from the bus (consumer group\n"
    "mcsqueal.<region>.<cluster>) and deletes the keys in every [pool NAME] of the\n"
    "configuration. Deletes a server does not confirm go to a retry spool in state_dir\n"
    "and are replayed when it answers again. With bus.brokers = embedded it reads the\n"
    "bus address from state_dir/bus.bootstrap (written by mcsqueal tail, run or bus).\n"
    "SIGTERM or SIGINT stop it gracefully; SIGHUP reopens the log file.\n\n"
    "Options:\n"
    "  -c, --config FILE   configuration file (default /etc/mcsqueal/mcsqueal.ini)\n"
    "  -h, --help          show this help\n\n"
    "Exit codes: 0 stopped on request, 1 runtime failure, 2 usage or configuration error.\n";

static void no_op(void *ctx)
{
    (void)ctx; /* d.stop is set by the signal thread; the router loop polls it */
}

int cmd_route(int argc, char **argv)
{
    static daemon_ctx d;
    int rc;
    if (!daemon_load(&d, "route", argc, argv, usage, &rc)) {
        daemon_finish(&d);
        return rc;
    }
    if (d.cfg.npools == 0) {
        fprintf(stderr, "mcsqueal route: the configuration has no [pool NAME] section\n");
        daemon_finish(&d);
        return EXIT_USAGE;
    }
    readiness_require(d.ready, READINESS_ROUTER, "router: waiting for the bus");
    rc = daemon_signals_start(&d, no_op, NULL);
    if (rc == EXIT_OK)
        rc = daemon_prepare(&d, DAEMON_BUS_FIND);
    router *r = NULL;
    char err[512];
    router_options opts = {d.ready, false}; /* a group of routers may share the bus */
    if (rc == EXIT_OK &&
        router_new(&r, &d.cfg, d.bootstrap, &d.m, &opts, err, sizeof(err)) != MCSQ_OK) {
        log_error("route: %s", err);
        rc = EXIT_RUNTIME;
    }
    if (rc == EXIT_OK && router_run(r, &d.stop, err, sizeof(err)) != MCSQ_OK) {
        log_error("route: stopped: %s", err);
        rc = EXIT_RUNTIME;
    }
    if (rc == EXIT_OK)
        log_info("route: stopped");
    router_destroy(r);
    daemon_finish(&d);
    return rc;
}
