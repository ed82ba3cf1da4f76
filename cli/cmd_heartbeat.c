/*
 * `mcsqueal heartbeat`: writes @probe heartbeats to the primary (see
 * tailer/heartbeat.h) so that tailers measure lag exactly, also when no
 * application writes. Threads: the writer (this thread) and the signal
 * thread. It serves no metrics and takes no lock on state_dir: it shares a
 * configuration file with the tailer, whose metrics show what the probes
 * measure.
 */
#include "cli/commands.h"
#include "cli/daemon.h"
#include "core/log.h"
#include "mcsqueal/error.h"
#include "tailer/heartbeat.h"

#include <stdio.h>

static const char usage[] =
    "Usage: mcsqueal heartbeat [--config FILE]\n\n"
    "Writes a heartbeat probe to the MySQL/MariaDB primary of [mysql] every\n"
    "heartbeat.interval_ms: an upsert of this source's row in heartbeat.table (created\n"
    "when missing), annotated /* mcsqueal: mcsqueal:hb:<name> @probe=<unix us> */.\n"
    "Tailers that read it measure the invalidation lag and the binlog lag exactly,\n"
    "also when no application writes. The user needs INSERT and UPDATE on the table\n"
    "(and CREATE, unless it exists). Reconnects with backoff; SIGTERM or SIGINT stop it.\n\n"
    "Options:\n"
    "  -c, --config FILE   configuration file (default /etc/mcsqueal/mcsqueal.ini)\n"
    "  -h, --help          show this help\n\n"
    "Exit codes: 0 stopped on request, 1 runtime failure, 2 usage or configuration error\n"
    "(also: the server refuses the table for good, e.g. missing privileges).\n";

static void no_op(void *ctx)
{
    (void)ctx; /* d.stop is set by the signal thread; the writer polls it */
}

int cmd_heartbeat(int argc, char **argv)
{
    static daemon_ctx d;
    char err[1024];
    int rc;
    if (!daemon_load(&d, "heartbeat", argc, argv, usage, &rc)) {
        daemon_finish(&d);
        return rc;
    }
    rc = daemon_signals_start(&d, no_op, NULL);
    if (rc == EXIT_OK) {
        int hrc = heartbeat_run(&d.cfg, &d.stop, 0, NULL, err, sizeof(err));
        if (hrc != MCSQ_OK) {
            log_error("heartbeat: stopped: %s", err);
            rc = hrc == MCSQ_ERR_CONFIG || hrc == MCSQ_ERR_INVALID ? EXIT_USAGE : EXIT_RUNTIME;
        } else {
            log_info("heartbeat: stopped");
        }
    }
    daemon_finish(&d);
    return rc;
}
