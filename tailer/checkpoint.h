/*
 * Checkpoint: the position the tailer resumes from after a restart, written
 * atomically (temp file, fsync, rename, fsync of the directory) so that a
 * crash leaves either the old or the new checkpoint, never a torn one. Only
 * positions whose invalidations, and all before them, the bus acknowledged
 * are ever written, with the number of the next bus message (seq).
 */
#ifndef MCSQ_TAILER_CHECKPOINT_H
#define MCSQ_TAILER_CHECKPOINT_H

#include "tailer/binlog_position.h"

#include <stddef.h>
#include <stdint.h>

/* Reads dir/checkpoint into *pos. Returns 0, MCSQ_ERR_EOF when there is no
 * checkpoint yet, MCSQ_ERR_CORRUPT (a damaged file, or a file name or GTID
 * state longer than binlog_position holds, is never ignored: the operator
 * must decide) or MCSQ_ERR_IO, with errstr. */
int checkpoint_load(const char *dir, binlog_position *pos, char *errstr, size_t errstr_size);

/* Writes pos as dir/checkpoint atomically and durably. Returns 0 or
 * MCSQ_ERR_IO with errstr. */
int checkpoint_save(const char *dir, const binlog_position *pos, char *errstr, size_t errstr_size);

#endif
