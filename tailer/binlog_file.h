/*
 * Binlog file source: reads a binlog file event by event through a sliding
 * buffer, so memory stays bounded by the largest event whatever the file's
 * size. Checks the magic number and every event length against the file.
 */
#ifndef MCSQ_TAILER_BINLOG_FILE_H
#define MCSQ_TAILER_BINLOG_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct binlog_file {
    int fd;
    const char *path; /* (ref) */
    const char *name; /* (ref) base name of path, as the server names the file */
    uint8_t *buf;
    size_t cap;
    size_t start;        /* next unread byte in buf */
    size_t end;          /* one past the last byte read into buf */
    uint64_t buf_offset; /* file offset of buf[0] */
    bool eof;
} binlog_file;

/* Opens path (borrowed for the file's lifetime) and checks the magic
 * number. Returns 0, MCSQ_ERR_IO or MCSQ_ERR_CORRUPT with errstr filled. */
int binlog_file_open(binlog_file *f, const char *path, char *errstr, size_t errstr_size);

/* Returns 0 with the next whole event in *event and *len (valid until the next
 * call) at file offset *offset; MCSQ_ERR_EOF at a clean end of file; or
 * MCSQ_ERR_TRUNCATED / MCSQ_ERR_CORRUPT / MCSQ_ERR_IO / MCSQ_ERR_NOMEM with
 * errstr naming the offset. */
int binlog_file_next(binlog_file *f, const uint8_t **event, size_t *len, uint64_t *offset,
                     char *errstr, size_t errstr_size);

void binlog_file_close(binlog_file *f);

#endif
