/*
 * Acknowledgement watermark (see ack_tracker.h): a FIFO of pending messages
 * in registration order.
 */
#include "tailer/ack_tracker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ack_entry {
    ack_entry *next;
    uint64_t id;
    bool acked;
    int64_t offset; /* bus offset, -1 when none */
    bool has_resume;
    binlog_position resume;
};

void ack_tracker_init(ack_tracker *t)
{
    memset(t, 0, sizeof(*t));
    t->next_id = 1;
}

static void entry_free(ack_entry *e)
{
    free(e);
}

void ack_tracker_deinit(ack_tracker *t)
{
    while (t->head != NULL) {
        ack_entry *next = t->head->next;
        entry_free(t->head);
        t->head = next;
    }
    memset(t, 0, sizeof(*t));
}

uint64_t ack_tracker_add(ack_tracker *t, const binlog_position *resume)
{
    ack_entry *e = malloc(sizeof(*e)); /* not calloc: the position is 2 KiB */
    if (e == NULL)
        return 0;
    e->next = NULL;
    e->acked = false;
    e->has_resume = resume != NULL;
    if (resume != NULL)
        binlog_position_copy(&e->resume, resume);
    e->id = t->next_id++;
    e->offset = -1;
    if (t->tail != NULL)
        t->tail->next = e;
    else
        t->head = e;
    t->tail = e;
    t->pending++;
    return e->id;
}

/* Moves the watermark to the entry's position. */
static void advance_to(ack_tracker *t, const ack_entry *e)
{
    if (!e->has_resume)
        return;
    binlog_position_copy(&t->watermark, &e->resume);
    t->advanced = true;
}

static bool passes(const ack_tracker *t, const ack_entry *e)
{
    return e->acked && (!t->gated || e->offset < 0 || e->offset < t->gate);
}

static void advance(ack_tracker *t)
{
    while (t->head != NULL && passes(t, t->head)) {
        ack_entry *done = t->head;
        t->head = done->next;
        if (t->head == NULL)
            t->tail = NULL;
        t->pending--;
        advance_to(t, done);
        entry_free(done);
    }
}

void ack_tracker_ack_offset(ack_tracker *t, uint64_t id, int64_t offset)
{
    ack_entry *e = t->head;
    while (e != NULL && e->id != id)
        e = e->next;
    if (e == NULL)
        return;
    e->acked = true;
    e->offset = offset;
    advance(t);
}

void ack_tracker_ack(ack_tracker *t, uint64_t id)
{
    ack_tracker_ack_offset(t, id, -1);
}

void ack_tracker_set_gate(ack_tracker *t, int64_t offset)
{
    t->gated = true;
    t->gate = offset;
    advance(t);
}

size_t ack_tracker_pending(const ack_tracker *t)
{
    return t->pending;
}

bool ack_tracker_take_advance(ack_tracker *t, const binlog_position **pos)
{
    if (!t->advanced)
        return false;
    t->advanced = false;
    *pos = &t->watermark;
    return true;
}
