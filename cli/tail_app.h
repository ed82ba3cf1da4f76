/*
 * The tailer as a part of a daemon: queue, publisher, binlog reader and
 * their metrics, started on a prepared daemon_ctx. Used by `mcsqueal tail`
 * and, with a router beside it, by `mcsqueal run`.
 */
#ifndef MCSQ_CLI_TAIL_APP_H
#define MCSQ_CLI_TAIL_APP_H

#include "cli/daemon.h"
#include "tailer/publisher.h"
#include "tailer/tail_reader.h"
#include "tailer/txn_queue.h"

#include <stdatomic.h>
#include <stdbool.h>

typedef struct tail_app {
    daemon_ctx *d; /* (ref) */
    txn_queue queue;
    bool queue_ready;
    tail_reader reader;
    atomic_bool reader_started; /* tail_app_request_stop() may come from another thread */
    publisher pub;
    bool pub_ready;
} tail_app;

/* Starts queue, reader (from the checkpoint, else mysql.start) and then,
 * once daemon_bus_ready(), the publisher (on d->bootstrap). Returns EXIT_OK
 * or an exit code after logging why. Called once, on a t zeroed (static)
 * before daemon_signals_start(): the signal thread may call
 * tail_app_request_stop() at any time. */
int tail_app_start(tail_app *t, daemon_ctx *d);

/* Asks the reader to stop (any thread, e.g. the signal thread). */
void tail_app_request_stop(tail_app *t);

/* Publishes until the reader stops, then flushes and writes the final
 * checkpoint. Returns EXIT_OK or EXIT_RUNTIME. */
int tail_app_run(tail_app *t);

void tail_app_finish(tail_app *t);

#endif
