/*
 * Reader of the events inside a MySQL Transaction_payload event: inflates
 * the zstd payload as a stream and hands out one whole inner event at a
 * time, so memory stays bounded by the largest inner event, not by the
 * transaction's size.
 */
#ifndef MCSQ_TAILER_PAYLOAD_READER_H
#define MCSQ_TAILER_PAYLOAD_READER_H

#include "tailer/binlog_event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct payload_reader {
    void *zds;         /* ZSTD_DStream, reused across payloads */
    const uint8_t *in; /* (ref) compressed payload */
    size_t in_len;
    size_t in_pos;
    bool compressed;
    bool stream_done; /* zstd frame(s) fully consumed */
    uint8_t *buf;     /* inflated bytes window */
    size_t cap;
    size_t start;      /* first unread byte in buf */
    size_t end;        /* one past the last inflated byte */
    uint64_t produced; /* inflated bytes so far */
    uint64_t expected; /* uncompressed size the event announced */
} payload_reader;

void payload_reader_init(payload_reader *pr);
void payload_reader_deinit(payload_reader *pr);

/* Starts reading the inner events of a decoded payload event (borrowed
 * until the reader reaches the end). Returns 0 or MCSQ_ERR_UNSUPPORTED for
 * an unknown compression algorithm. */
int payload_reader_open(payload_reader *pr, const binlog_payload *payload, char *errstr,
                        size_t errstr_size);

/* Returns 0 with the next whole inner event in *event and *len (valid until the
 * next call), MCSQ_ERR_EOF after the last one, or MCSQ_ERR_CORRUPT /
 * MCSQ_ERR_TRUNCATED / MCSQ_ERR_NOMEM with errstr filled. */
int payload_reader_next(payload_reader *pr, const uint8_t **event, size_t *len, char *errstr,
                        size_t errstr_size);

#endif
