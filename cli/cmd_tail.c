/*
 * `mcsqueal tail`: the tailer daemon. Follows the server's binlog as a
 * replica and publishes the keys of committed transactions to the bus,
 * checkpointing only what the bus acknowledged. Threads: the binlog reader,
 * the publisher (this thread), the signal thread, and librdkafka's own.
 */
#include "cli/commands.h"
#include "cli/tail_app.h"

#include <string.h>

static const char usage[] =
    "Usage: mcsqueal tail [--config FILE]\n\n"
    "Follows the MySQL/MariaDB binlog as a replica and publishes the cache keys of every\n"
    "committed transaction to the bus ([bus] brokers; `embedded` runs the bus in this\n"
    "process). Resumes from the checkpoint in state_dir, else from mysql.start.\n"
    "SIGTERM or SIGINT stop it gracefully; SIGHUP reopens the log file.\n\n"
    "Options:\n"
    "  -c, --config FILE   configuration file (default /etc/mcsqueal/mcsqueal.ini)\n"
    "  -h, --help          show this help\n\n"
    "Exit codes: 0 stopped on request, 1 runtime failure, 2 usage or configuration error.\n";

static void request_stop(void *ctx)
{
    tail_app_request_stop(ctx);
}

int cmd_tail(int argc, char **argv)
{
    static daemon_ctx d;
    static tail_app t;
    int rc;
    if (!daemon_load(&d, "tail", argc, argv, usage, &rc)) {
        daemon_finish(&d);
        return rc;
    }
    /* Signals first: threads created later (bus, producer, reader) inherit
     * the blocked mask, so only the signal thread receives them. */
    rc = daemon_signals_start(&d, request_stop, &t);
    if (rc == EXIT_OK)
        rc = daemon_prepare(&d, DAEMON_BUS_HOST);
    if (rc == EXIT_OK)
        rc = tail_app_start(&t, &d);
    if (rc == EXIT_OK)
        rc = tail_app_run(&t);
    daemon_signals_stop(&d); /* request_stop() uses what is freed next */
    tail_app_finish(&t);
    daemon_finish(&d);
    return rc;
}
