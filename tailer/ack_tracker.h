/*
 * Acknowledgement watermark: the resume position up to which every bus
 * message has been acknowledged. Messages are registered in order with the
 * position reached after their last complete transaction; acknowledgements
 * may come in any order; the watermark only moves over a contiguous prefix
 * of acknowledged messages. The checkpoint is written from it, never ahead.
 */
#ifndef MCSQ_TAILER_ACK_TRACKER_H
#define MCSQ_TAILER_ACK_TRACKER_H

#include "tailer/binlog_position.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ack_entry ack_entry;

typedef struct ack_tracker {
    ack_entry *head; /* oldest pending */
    ack_entry *tail;
    size_t pending;
    uint64_t next_id;
    binlog_position watermark; /* file[0] == '\0' until the first advance */
    bool advanced;             /* moved since ack_tracker_take_advance() */
    bool gated;                /* see ack_tracker_set_gate() */
    int64_t gate;
} ack_tracker;

void ack_tracker_init(ack_tracker *t);
void ack_tracker_deinit(ack_tracker *t);

/* Registers the next message; resume (copied; may be NULL for a message
 * that completes no transaction) is where reading resumes once it and all
 * before it are acknowledged. Returns its id (> 0), or 0 when out of memory. */
uint64_t ack_tracker_add(ack_tracker *t, const binlog_position *resume);

/* Marks message id acknowledged and advances the watermark over the
 * acknowledged prefix. Unknown ids are ignored. */
void ack_tracker_ack(ack_tracker *t, uint64_t id);

/* Like ack_tracker_ack(), recording the message's bus offset (for gating). */
void ack_tracker_ack_offset(ack_tracker *t, uint64_t id, int64_t offset);

/* Holds the watermark behind a consumer: from now on a message passes only
 * once acknowledged AND its bus offset is below `offset`; batches that sent
 * no message pass as soon as everything before them did. Call again as the
 * consumer advances. */
void ack_tracker_set_gate(ack_tracker *t, int64_t offset);

/* Number of registered messages not yet behind the watermark. */
size_t ack_tracker_pending(const ack_tracker *t);

/* Returns true (once per advance) when the watermark moved, with *pos
 * pointing at it (borrowed until the next call). */
bool ack_tracker_take_advance(ack_tracker *t, const binlog_position **pos);

#endif
