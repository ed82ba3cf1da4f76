/*
 * Binlog stage (see binlog_stage.h): pulls decoded events from the source
 * and feeds them, and the inner events of Transaction_payload events, to
 * the assembler until one commits a transaction.
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

static int fail(binlog_stage *st, int rc, const binlog_pos *pos, bool inner, const char *detail,
                char *errstr, size_t errstr_size)
{
    return st->src.ops->fail(st->src.self, rc, pos, inner, detail, errstr, errstr_size);
}

static void end_payload(binlog_stage *st)
{
    st->in_payload = false;
    st->dec.fmt.checksum_alg = st->saved_checksum_alg;
}

static int start_payload(binlog_stage *st, const binlog_event *ev, const binlog_pos *pos,
                         char *errstr, size_t errstr_size)
{
    char err[STAGE_ERR_MAX];
    int rc = payload_reader_open(&st->payload, &ev->u.payload, err, sizeof(err));
    if (rc != MCSQ_OK)
        return fail(st, rc, pos, false, err, errstr, errstr_size);
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
        return fail(st, rc, &st->payload_pos, true, err, errstr, errstr_size);
    return rc;
}

/* Next top-level event: 1 = txn, 0 = keep going, <0 error or EOF. */
static int step_event(binlog_stage *st, const mcsq_txn **txn, char *errstr, size_t errstr_size)
{
    binlog_event ev; /* not zeroed whole: 360 bytes per event were 4% of a tail's CPU */
    binlog_pos pos;
    int64_t read_us;
    int rc = st->src.ops->next(st->src.self, &st->dec, &ev, &pos, &read_us, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    txn_assembler_set_read_us(&st->assembler, read_us);
    if (st->observer != NULL)
        st->observer(st->observer_ctx, &ev, &pos, 0);
    if (ev.hdr.type == BINLOG_TRANSACTION_PAYLOAD_EVENT)
        return start_payload(st, &ev, &pos, errstr, errstr_size);
    char err[STAGE_ERR_MAX];
    rc = txn_assembler_feed(&st->assembler, &ev, &pos, txn, err, sizeof(err));
    if (rc < 0)
        return fail(st, rc, &pos, false, err, errstr, errstr_size);
    return rc;
}

int binlog_stage_next(binlog_stage *st, const mcsq_txn **txn, char *errstr, size_t errstr_size)
{
    int rc = 0;
    while (rc == 0)
        rc = st->in_payload ? step_payload(st, txn, errstr, errstr_size)
                            : step_event(st, txn, errstr, errstr_size);
    return rc == 1 ? MCSQ_OK : rc;
}
