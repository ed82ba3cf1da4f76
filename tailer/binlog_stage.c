/*
 * Binlog stage (see binlog_stage.h): lets the source feed events until one
 * commits a transaction, and reads the inner events of Transaction_payload
 * events itself.
 */
#include "tailer/binlog_stage.h"
#include "mcsqueal/error.h"

#include <string.h>

#define STAGE_ERR_MAX 1024

void binlog_stage_init(binlog_stage *st, const binlog_source *src, const char *region)
{
    memset(st, 0, sizeof(*st));
    st->src = *src;
    binlog_decoder_init(&st->dec);
    payload_reader_init(&st->payload);
    txn_assembler_init(&st->assembler, region);
}

void binlog_stage_deinit(binlog_stage *st)
{
    binlog_decoder_deinit(&st->dec);
    payload_reader_deinit(&st->payload);
    txn_assembler_deinit(&st->assembler);
}

void binlog_stage_reset(binlog_stage *st, bool verify)
{
    binlog_decoder_deinit(&st->dec);
    binlog_decoder_init(&st->dec);
    st->dec.verify_checksums = verify;
    char region[sizeof(st->assembler.region)];
    memcpy(region, st->assembler.region, sizeof(region));
    txn_assembler_deinit(&st->assembler);
    txn_assembler_init(&st->assembler, region);
    st->in_payload = false;
}

void binlog_stage_observe(binlog_stage *st, binlog_stage_observer observer, void *ctx)
{
    st->observer = observer;
    st->observer_ctx = ctx;
}

static void end_payload(binlog_stage *st)
{
    st->in_payload = false;
    st->dec.fmt.checksum_alg = st->saved_checksum_alg;
}

int binlog_stage_open_payload(binlog_stage *st, const binlog_event *ev, const binlog_pos *pos,
                              char *err, size_t err_size)
{
    int rc = payload_reader_open(&st->payload, &ev->u.payload, err, err_size);
    if (rc != MCSQ_OK)
        return rc;
    st->in_payload = true;
    st->payload_pos = *pos;
    st->saved_checksum_alg = st->dec.fmt.checksum_alg;
    st->dec.fmt.checksum_alg = BINLOG_CHECKSUM_OFF;
    return 0;
}

/* Next inner event of the current payload: 1 = txn, 0 = keep going, <0 error. */
static int step_payload(binlog_stage *st, const mcsq_txn **txn, char *errstr, size_t errstr_size)
{
    char err[STAGE_ERR_MAX];
    const uint8_t *buf;
    size_t len;
    int rc = payload_reader_next(&st->payload, &buf, &len, err, sizeof(err));
    if (rc == MCSQ_ERR_EOF) {
        end_payload(st);
        return 0;
    }
    binlog_event ev;
    if (rc == MCSQ_OK)
        rc = binlog_event_decode(&st->dec, buf, len, &ev, err, sizeof(err));
    if (rc == MCSQ_OK && st->observer != NULL)
        st->observer(st->observer_ctx, &ev, &st->payload_pos, 1);
    if (rc == MCSQ_OK)
        rc = txn_assembler_feed(&st->assembler, &ev, &st->payload_pos, txn, err, sizeof(err));
    if (rc < 0)
        return st->src.ops->fail_inner(st->src.self, rc, &st->payload_pos, err, errstr,
                                       errstr_size);
    return rc;
}

int binlog_stage_next(binlog_stage *st, const mcsq_txn **txn, char *errstr, size_t errstr_size)
{
    int rc = 0;
    while (rc == 0)
        rc = st->in_payload ? step_payload(st, txn, errstr, errstr_size)
                            : st->src.ops->next(st->src.self, st, txn, errstr, errstr_size);
    return rc == 1 ? MCSQ_OK : rc;
}
