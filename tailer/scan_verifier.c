/*
 * Checksum verifier of an offline scan (see scan_verifier.h): its own
 * binlog_file readers and a decoder used only for binlog_event_verify(). It
 * stops at the first event it cannot vouch for; `done` only ever grows. It
 * runs at a lower priority, and when the scan got ahead of it (and checked
 * those events itself) it skips to where the scan is: on a busy machine it
 * costs the scan little, on an idle core it takes the checksums off it.
 */
#include "tailer/scan_verifier.h"
#include "mcsqueal/error.h"
#include "tailer/binlog_event.h"
#include "tailer/binlog_file.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define VERIFIER_NICE 10 /* takes an idle core, yields a busy one to the scan */
#define TYPE_OFFSET 4    /* of the event type in the common header */

struct scan_verifier {
    const char *const *paths; /* (ref) */
    size_t nfiles;
    pthread_t thread;
    atomic_bool stop;
    uint64_t seen; /* the scan's last look at done (scan thread only) */
    /* the scan checked every event ending at or before it itself: skipped */
    _Alignas(64) _Atomic uint64_t scan_at;
    /* events ending at or before it are intact; written for every event, so
     * on a cache line of its own, and read only when `seen` falls short */
    _Alignas(64) _Atomic uint64_t done;
    char pad[64 - sizeof(uint64_t)];
};

/* Verifies the events of file number i; false once one fails (or stop). */
static bool verify_file(scan_verifier *v, size_t i, binlog_decoder *dec)
{
    char err[512];
    binlog_file f;
    if (binlog_file_open(&f, v->paths[i], err, sizeof(err)) != MCSQ_OK)
        return false;
    memset(&dec->fmt, 0, sizeof(dec->fmt)); /* as the scan: each file has its own */
    dec->fmt.binlog_version = 4;
    dec->fmt.header_len = BINLOG_HEADER_LEN;
    const uint8_t *buf;
    size_t len;
    uint64_t off;
    int rc;
    while (!atomic_load_explicit(&v->stop, memory_order_relaxed) &&
           (rc = binlog_file_next(&f, &buf, &len, &off, err, sizeof(err))) == MCSQ_OK) {
        uint64_t end = SCAN_VERIFIER_POS(i, off + len);
        if (end <= atomic_load_explicit(&v->scan_at, memory_order_relaxed) &&
            buf[TYPE_OFFSET] != BINLOG_FORMAT_DESCRIPTION_EVENT)
            continue; /* behind the scan: catch up (a Format_description still counts) */
        if (binlog_event_verify(dec, buf, len, err, sizeof(err)) != MCSQ_OK)
            break;
        atomic_store_explicit(&v->done, end, memory_order_release);
    }
    binlog_file_close(&f);
    return rc == MCSQ_ERR_EOF && !atomic_load(&v->stop);
}

static void *verifier_main(void *arg)
{
    scan_verifier *v = arg;
    binlog_decoder dec;
    pthread_setname_np(pthread_self(), "crc-verifier");
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), VERIFIER_NICE); /* this thread only */
    binlog_decoder_init(&dec);
    dec.verify_checksums = true;
    for (size_t i = 0; i < v->nfiles && verify_file(v, i, &dec); i++)
        ;
    binlog_decoder_deinit(&dec);
    return NULL;
}

int scan_verifier_start(scan_verifier **out, const char *const *paths, size_t nfiles)
{
    scan_verifier *v = aligned_alloc(_Alignof(scan_verifier), sizeof(*v));
    if (v == NULL)
        return MCSQ_ERR_NOMEM;
    memset(v, 0, sizeof(*v));
    v->paths = paths;
    v->nfiles = nfiles;
    atomic_init(&v->stop, false);
    atomic_init(&v->done, 0);
    if (pthread_create(&v->thread, NULL, verifier_main, v) != 0) {
        free(v);
        return MCSQ_ERR_NOMEM;
    }
    *out = v;
    return MCSQ_OK;
}

bool scan_verifier_covers(scan_verifier *v, uint64_t pos)
{
    if (v->seen < pos)
        v->seen = atomic_load_explicit(&v->done, memory_order_acquire);
    if (v->seen >= pos)
        return true;
    atomic_store_explicit(&v->scan_at, pos, memory_order_relaxed); /* the scan checks it */
    return false;
}

uint64_t scan_verifier_progress(const scan_verifier *v)
{
    return atomic_load_explicit(&v->done, memory_order_acquire);
}

void scan_verifier_destroy(scan_verifier *v)
{
    if (v == NULL)
        return;
    atomic_store(&v->stop, true);
    pthread_join(v->thread, NULL);
    free(v);
}
