/*
 * libFuzzer target: arbitrary bytes as a binlog event stream through the
 * decoder, the Transaction_payload reader and the transaction assembler,
 * exactly as the scanner chains them. Must never crash, hang or leak.
 * An optional binlog magic leads the input; the events follow. Built and
 * run as docs/fuzzing.md describes; the corpus holds small binlogs written
 * by MariaDB and by the unit tests' binlog builder.
 */
#include "core/log.h"
#include "tailer/binlog_event.h"
#include "tailer/payload_reader.h"
#include "tailer/txn_assembler.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void feed_payload(binlog_decoder *dec, txn_assembler *a, payload_reader *pr,
                         const binlog_event *ev, const binlog_pos *pos)
{
    char err[512];
    const mcsq_txn *txn;
    if (payload_reader_open(pr, &ev->u.payload, err, sizeof(err)) != 0)
        return;
    uint8_t saved = dec->fmt.checksum_alg;
    dec->fmt.checksum_alg = BINLOG_CHECKSUM_OFF;
    const uint8_t *buf;
    size_t len;
    while (payload_reader_next(pr, &buf, &len, err, sizeof(err)) == 0) {
        binlog_event inner;
        if (binlog_event_decode(dec, buf, len, &inner, err, sizeof(err)) != 0)
            break;
        if (inner.hdr.type != BINLOG_TRANSACTION_PAYLOAD_EVENT)
            (void)txn_assembler_feed(a, &inner, pos, &txn, err, sizeof(err));
    }
    dec->fmt.checksum_alg = saved;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_set_level(LOG_LEVEL_ERROR);
        quiet = 1;
    }
    binlog_decoder dec;
    txn_assembler a;
    payload_reader pr;
    binlog_decoder_init(&dec);
    txn_assembler_init(&a, "east");
    payload_reader_init(&pr);
    size_t off = 0;
    if (size >= BINLOG_MAGIC_LEN && memcmp(data, BINLOG_MAGIC, BINLOG_MAGIC_LEN) == 0)
        off = BINLOG_MAGIC_LEN;
    char err[512];
    while (size - off >= BINLOG_HEADER_LEN) {
        binlog_header hdr;
        (void)binlog_header_parse(data + off, size - off, &hdr);
        if (hdr.event_size < BINLOG_HEADER_LEN || hdr.event_size > size - off)
            break;
        binlog_event ev;
        binlog_pos pos = {"fuzz", off, off + hdr.event_size};
        const mcsq_txn *txn;
        if (binlog_event_decode(&dec, data + off, hdr.event_size, &ev, err, sizeof(err)) != 0)
            break;
        if (ev.hdr.type == BINLOG_TRANSACTION_PAYLOAD_EVENT)
            feed_payload(&dec, &a, &pr, &ev, &pos);
        else
            (void)txn_assembler_feed(&a, &ev, &pos, &txn, err, sizeof(err));
        off += hdr.event_size;
    }
    payload_reader_deinit(&pr);
    txn_assembler_deinit(&a);
    binlog_decoder_deinit(&dec);
    return 0;
}
