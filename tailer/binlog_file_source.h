/*
 * Binlog file source: a binlog_source over binlog files read in order as
 * one stream (`mcsqueal scan`). Every file starts with its own
 * Format_description. When checksums are verified and every input is a
 * regular file, a scan_verifier checks them on another thread, ahead of
 * the decoding; the decoder then checks only the events the verifier has
 * not vouched for (yet). Errors name the file's path and the event's offset.
 */
#ifndef MCSQ_TAILER_BINLOG_FILE_SOURCE_H
#define MCSQ_TAILER_BINLOG_FILE_SOURCE_H

#include "tailer/binlog_file.h"
#include "tailer/binlog_source.h"
#include "tailer/scan_verifier.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct binlog_file_source {
    const char *const *paths; /* (ref) */
    size_t nfiles;
    size_t cur; /* index of the open (or next) file */
    bool file_open;
    binlog_file file;
    scan_verifier *verifier; /* NULL: the decoder checks every checksum itself */
} binlog_file_source;

/* Reads paths[0..nfiles) (borrowed for the source's lifetime). When verify
 * (the stage's decoder verifies checksums), ahead is set and every path is
 * a regular file, a verifier thread checks them ahead. Never fails: a
 * verifier that cannot start leaves the checks to the decoder. */
void binlog_file_source_init(binlog_file_source *fs, const char *const *paths, size_t nfiles,
                             bool verify, bool ahead);
void binlog_file_source_deinit(binlog_file_source *fs);

/* The binlog_source interface of fs (borrowed). */
binlog_source binlog_file_source_as_source(binlog_file_source *fs);

#endif
