/*
 * Packet reader: MySQL client/server protocol packets read straight from a
 * plain (no TLS, no compression) socket into one large buffer, for the
 * binlog stream. Connector/C reads a stream 16 KiB at a time and copies
 * every packet once more into its own buffer; with events of a few hundred
 * bytes that is one recv() per 40-odd events and a copy of each. Here one
 * recv() fills up to PACKET_READER_BUF bytes and a packet is handed out
 * where it lies.
 *
 * A packet is a 3-byte little-endian payload length, a sequence number and
 * the payload; a payload of 0xffffff bytes or more continues in the next
 * packet, and the reader joins them. The buffer grows for a payload larger
 * than itself (up to max_payload) and shrinks back once it is empty again.
 * Sequence numbers are not checked: the server sends one stream.
 */
#ifndef MCSQ_TAILER_PACKET_READER_H
#define MCSQ_TAILER_PACKET_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PACKET_READER_BUF (256u * 1024u)

typedef struct packet_reader {
    int fd;             /* (ref) the connection's socket, non-blocking reads */
    int timeout_ms;     /* longest wait for data: then MCSQ_ERR_AGAIN */
    size_t max_payload; /* larger payloads are an error */
    uint8_t *buf;
    size_t cap;   /* size of buf */
    size_t start; /* unread bytes are buf[start, end) */
    size_t end;
    int64_t received_us; /* CLOCK_REALTIME of the last recv() that brought bytes */
} packet_reader;

/* Prepares a reader of fd (not owned). Returns 0 or MCSQ_ERR_NOMEM. */
int packet_reader_init(packet_reader *pr, int fd, int timeout_ms, size_t max_payload);
void packet_reader_deinit(packet_reader *pr);

/* Returns 0 with the next packet's payload in *payload and *len (inside the
 * reader's buffer, valid until the next call). Errors, with errstr:
 * MCSQ_ERR_AGAIN when no byte came for timeout_ms, MCSQ_ERR_CONNECT when
 * the peer closed the connection or it failed, MCSQ_ERR_LIMIT for a
 * payload over max_payload, MCSQ_ERR_NOMEM. */
int packet_reader_next(packet_reader *pr, const uint8_t **payload, size_t *len, char *errstr,
                       size_t errstr_size);

/* When the packets handed out since the last wait for the socket were
 * complete: the time (CLOCK_REALTIME, microseconds) of the recv() that
 * brought their last bytes; 0 before the first one. */
int64_t packet_reader_received_us(const packet_reader *pr);

/* Whether a whole packet is buffered: the next call will not wait. */
bool packet_reader_buffered(const packet_reader *pr);

#endif
