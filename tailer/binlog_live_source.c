/*
 * Live binlog source (see binlog_live_source.h): reads raw events from the
 * stream, decodes them, follows Rotate events and skips what is in no file.
 */
#include "tailer/binlog_live_source.h"
#include "tailer/binlog_stage.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <stdio.h>
#include <string.h>

#define LOG_EVENT_ARTIFICIAL_F 0x20
#define LIVE_SOURCE_ERR_MAX 512

void binlog_live_source_init(binlog_live_source *ls, const binlog_live_source_hooks *hooks,
                             uint64_t sync_every)
{
    memset(ls, 0, sizeof(*ls));
    ls->hooks = *hooks;
    ls->sync_every = sync_every;
}

void binlog_live_source_set_file(binlog_live_source *ls, const char *file)
{
    snprintf(ls->file, sizeof(ls->file), "%s", file);
}

/* Tracks the current file name from Rotate events. */
static void on_rotate(binlog_live_source *ls, const binlog_event *ev)
{
    size_t n = ev->u.rotate.next_file.len;
    if (n >= sizeof(ls->file))
        n = sizeof(ls->file) - 1;
    memcpy(ls->file, ev->u.rotate.next_file.ptr, n);
    ls->file[n] = '\0';
}

/* Counts an event; the owner computes the lag from the last one. */
static void note_event(binlog_live_source *ls, const binlog_event *ev)
{
    binlog_live_seen *u = &ls->seen;
    u->events++;
    u->any = true;
    if (ev->hdr.type == BINLOG_HEARTBEAT_EVENT) {
        u->heartbeat = true;
        ls->hooks.sync(ls->hooks.ctx, false); /* an idle stream still passes its counts on */
        return;
    }
    if (ev->hdr.timestamp != 0) {
        u->last_timestamp = ev->hdr.timestamp;
        u->heartbeat = false;
    }
    if (u->events >= ls->sync_every)
        ls->hooks.sync(ls->hooks.ctx, true);
}

/* Whether ev (len bytes) is part of the binlog's content: not artificial,
 * not a heartbeat, and with a real position. */
static bool is_content(const binlog_event *ev, size_t len)
{
    return !(ev->hdr.flags & LOG_EVENT_ARTIFICIAL_F) && ev->hdr.type != BINLOG_HEARTBEAT_EVENT &&
           ev->hdr.next_pos >= len;
}

/* Reads and decodes one event: 0, or an error that stops the stream. */
static int read_event(binlog_live_source *ls, binlog_stage *st, binlog_event *ev, size_t *len,
                      char *errstr, size_t errstr_size)
{
    const uint8_t *buf;
    int rc;
    if (!binlog_live_buffered(ls->live) && (rc = ls->hooks.before_wait(ls->hooks.ctx)) != MCSQ_OK)
        return rc;
    rc = binlog_live_next(ls->live, &buf, len, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    /* read_us: when the commit arrived; one clock read per recv() */
    txn_assembler_set_read_us(&st->assembler, binlog_live_received_us(ls->live));
    ev->hdr = (binlog_header){0}; /* named in errors, even when decoding failed */
    char err[LIVE_SOURCE_ERR_MAX];
    rc = binlog_event_decode(&st->dec, buf, *len, ev, err, sizeof(err));
    if (rc != MCSQ_OK)
        return errstr_set(errstr, errstr_size, rc, "%s: event ending at offset %u: %s", ls->file,
                          ev->hdr.next_pos, err);
    return MCSQ_OK;
}

static int live_next(void *self, binlog_stage *st, const mcsq_txn **txn, char *errstr,
                     size_t errstr_size)
{
    binlog_live_source *ls = self;
    int rc = 0;
    while (rc == 0 && !st->in_payload) {
        binlog_event ev; /* not zeroed whole: 360 bytes per event were 4% of a tail's CPU */
        size_t len;
        rc = read_event(ls, st, &ev, &len, errstr, errstr_size);
        if (rc != MCSQ_OK)
            return rc;
        note_event(ls, &ev);
        if (ev.hdr.type == BINLOG_ROTATE_EVENT) {
            on_rotate(ls, &ev);
            continue;
        }
        if (!is_content(&ev, len))
            continue;
        binlog_pos pos = {ls->file, ev.hdr.next_pos - len, ev.hdr.next_pos};
        rc = binlog_stage_feed(st, &ev, &pos, txn, errstr, errstr_size);
    }
    return rc;
}

static int live_fail_inner(void *self, int rc, const binlog_pos *pos, const char *detail,
                           char *errstr, size_t errstr_size)
{
    (void)self;
    (void)pos;
    return errstr_set(errstr, errstr_size, rc, "%s", detail);
}

static const binlog_source_ops live_source_ops = {live_next, live_fail_inner};

binlog_source binlog_live_source_as_source(binlog_live_source *ls)
{
    return (binlog_source){&live_source_ops, ls};
}
