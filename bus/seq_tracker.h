/*
 * Sequence tracker: the router's check of the bus messages' "seq" field
 * (bus/bus_message.h), which sees what partition offsets cannot: a topic
 * deleted and created again (its offsets start over) and messages of one
 * source missing from a partition the router kept reading.
 *
 * The numbering (the writer's side, tailer/batcher.h): a tailer numbers its
 * messages 1, 2, 3, ... per source name; the checkpoint keeps the number of
 * the first message after its position, and a restarted tailer continues
 * from there. A restart therefore sends again numbers it already sent
 * (everything after the checkpoint: the documented at-least-once
 * duplicates), and never skips one.
 *
 * The rules, per source, against the number it expects next (the one after
 * the last it saw):
 *   - the number expected: in order;
 *   - a higher number: a GAP: the messages in between are gone (a topic
 *     deleted and created again, messages lost by the bus); `lost` of them;
 *   - a lower number: a REWIND: the source sends again from its checkpoint
 *     (a tailer restart); duplicates, harmless, not a loss;
 * and from then on the source is expected to continue after that number.
 *
 * A source is only checked while its messages come in one line: from the
 * same partition, and either without the router's partitions having been
 * reassigned since (seq_tracker_reassigned()), or, after a reassignment, at
 * an offset not past the last one seen (the partition went back: a topic
 * created again, offsets reset). Otherwise (the source moved to another
 * partition, or another router may have read the messages in between) the
 * message sets the source's baseline unchecked, like a source's first
 * message. A gap the consumer already reported from offsets
 * (seq_tracker_forget_partition()) is not reported a second time.
 *
 * Memory is bounded: at most max_sources sources (SEQ_TRACKER_SOURCES by
 * default, about 100 bytes each plus the name); a new source beyond that
 * evicts the one seen least recently, whose next message is then a first
 * message again (unchecked). Not thread-safe: the router's thread only.
 */
#ifndef MCSQ_BUS_SEQ_TRACKER_H
#define MCSQ_BUS_SEQ_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#define SEQ_TRACKER_SOURCES 4096

typedef struct seq_tracker seq_tracker;

typedef enum seq_verdict {
    SEQ_FIRST,  /* not checked: a new source, or no line to the last message seen */
    SEQ_OK,     /* the number expected */
    SEQ_GAP,    /* higher than expected: `lost` messages missing */
    SEQ_REWIND, /* lower than expected: the source sends again from its checkpoint */
} seq_verdict;

typedef struct seq_result {
    seq_verdict verdict;
    uint64_t expected; /* the number expected (0 with SEQ_FIRST) */
    uint64_t lost;     /* SEQ_GAP: seq - expected */
} seq_result;

/* A tracker of at most max_sources sources (0: SEQ_TRACKER_SOURCES); NULL
 * when out of memory. */
seq_tracker *seq_tracker_new(size_t max_sources);
void seq_tracker_free(seq_tracker *t);

/* Checks message number seq (> 0) of source (len bytes, borrowed) read from
 * partition at offset, and records it. Returns the verdict; out of memory
 * for a new source's name, SEQ_FIRST without recording it. */
seq_result seq_tracker_check(seq_tracker *t, const char *source, size_t len, uint64_t seq,
                             int32_t partition, int64_t offset);

/* The router's partitions were (re)assigned: what other routers may have
 * read since is not held against the sources (see the header). */
void seq_tracker_reassigned(seq_tracker *t);

/* The consumer reported a gap in partition from offsets: the next message
 * of each source of that partition sets its baseline unchecked. */
void seq_tracker_forget_partition(seq_tracker *t, int32_t partition);

/* Sources tracked now. */
size_t seq_tracker_size(const seq_tracker *t);

#endif
