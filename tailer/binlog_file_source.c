/*
 * Binlog file source (see binlog_file_source.h): opens the files one after
 * the other, each with a fresh decoder format, and decodes their events.
 */
#include "tailer/binlog_file_source.h"
#include "tailer/binlog_stage.h"
#include "mcsqueal/error.h"
#include "core/errstr.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define FILE_SOURCE_ERR_MAX 1024

/* Whether every path is a regular file (that a second reader can open). */
static bool all_regular(const char *const *paths, size_t nfiles)
{
    for (size_t i = 0; i < nfiles; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0 || !S_ISREG(st.st_mode))
            return false;
    }
    return true;
}

void binlog_file_source_init(binlog_file_source *fs, const char *const *paths, size_t nfiles,
                             bool verify, bool ahead)
{
    memset(fs, 0, sizeof(*fs));
    fs->paths = paths;
    fs->nfiles = nfiles;
    if (verify && ahead && all_regular(paths, nfiles) &&
        scan_verifier_start(&fs->verifier, paths, nfiles) != MCSQ_OK)
        fs->verifier = NULL; /* verify inline */
}

void binlog_file_source_deinit(binlog_file_source *fs)
{
    scan_verifier_destroy(fs->verifier);
    fs->verifier = NULL;
    if (fs->file_open)
        binlog_file_close(&fs->file);
    fs->file_open = false;
}

/* Opens the next file with a fresh format: MCSQ_ERR_EOF after the last. */
static int open_next_file(binlog_file_source *fs, binlog_decoder *dec, char *errstr,
                          size_t errstr_size)
{
    if (fs->cur == fs->nfiles)
        return MCSQ_ERR_EOF;
    int rc = binlog_file_open(&fs->file, fs->paths[fs->cur], errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    fs->file_open = true;
    binlog_format fresh;
    memset(&fresh, 0, sizeof(fresh));
    fresh.binlog_version = 4;
    fresh.header_len = BINLOG_HEADER_LEN;
    dec->fmt = fresh; /* every file starts with its own Format_description */
    return MCSQ_OK;
}

/* Words an error at the event at offset (inner: inside its payload). */
static int fail_at(const binlog_file_source *fs, int rc, uint64_t offset, bool inner,
                   const char *detail, char *errstr, size_t errstr_size)
{
    return errstr_set(errstr, errstr_size, rc, "%.300s: offset %" PRIu64 "%s: %.600s",
                      fs->file.path, offset, inner ? " (inside Transaction_payload)" : "", detail);
}

static int file_fail_inner(void *self, int rc, const binlog_pos *pos, const char *detail,
                           char *errstr, size_t errstr_size)
{
    return fail_at(self, rc, pos->offset, true, detail, errstr, errstr_size);
}

/* Reads the next event of the open file: 1 = read, 0 = at its end (closed). */
static int read_event(binlog_file_source *fs, const uint8_t **buf, size_t *len, uint64_t *off,
                      char *errstr, size_t errstr_size)
{
    int rc = binlog_file_next(&fs->file, buf, len, off, errstr, errstr_size);
    if (rc == MCSQ_ERR_EOF) {
        binlog_file_close(&fs->file);
        fs->file_open = false;
        fs->cur++;
        return 0;
    }
    return rc == MCSQ_OK ? 1 : rc;
}

/* Reads the next event of the files: 1 = read, <0 error or EOF. */
static int next_event(binlog_file_source *fs, binlog_decoder *dec, const uint8_t **buf, size_t *len,
                      uint64_t *off, char *errstr, size_t errstr_size)
{
    int rc = 0;
    while (rc == 0) {
        if (!fs->file_open && (rc = open_next_file(fs, dec, errstr, errstr_size)) != MCSQ_OK)
            return rc;
        rc = read_event(fs, buf, len, off, errstr, errstr_size);
    }
    return rc;
}

static int file_next(void *self, binlog_stage *st, const mcsq_txn **txn, char *errstr,
                     size_t errstr_size)
{
    binlog_file_source *fs = self;
    char err[FILE_SOURCE_ERR_MAX];
    int rc = 0;
    while (rc == 0 && !st->in_payload) {
        const uint8_t *buf;
        size_t len;
        uint64_t off;
        rc = next_event(fs, &st->dec, &buf, &len, &off, errstr, errstr_size);
        if (rc < 0)
            return rc;
        if (fs->verifier != NULL) /* found intact already? */
            st->dec.verify_checksums =
                !scan_verifier_covers(fs->verifier, SCAN_VERIFIER_POS(fs->cur, off + len));
        binlog_event ev;
        rc = binlog_event_decode(&st->dec, buf, len, &ev, err, sizeof(err));
        binlog_pos pos = {fs->file.name, off, off + len};
        if (rc == MCSQ_OK)
            rc = binlog_stage_feed(st, &ev, &pos, txn, err, sizeof(err));
        if (rc < 0)
            return fail_at(fs, rc, off, false, err, errstr, errstr_size);
    }
    return rc;
}

static const binlog_source_ops file_source_ops = {file_next, file_fail_inner};

binlog_source binlog_file_source_as_source(binlog_file_source *fs)
{
    return (binlog_source){&file_source_ops, fs};
}
