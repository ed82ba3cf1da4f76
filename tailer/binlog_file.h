/*
 * Binlog file source: reads a binlog file event by event with memory bounded
 * by the largest event whatever the file's size. Regular files are mapped
 * in windows of a few MiB (no copy); pipes and other streams are read
 * through a sliding buffer. Checks the magic number and every event length
 * against the file.
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
    uint64_t next;    /* offset of the next event */
    /* regular files: a mapped window */
    bool mapped;
    const uint8_t *map;
    size_t map_len;
    uint64_t map_offset;
    uint64_t size; /* file size, refreshed when the window reaches it */
    /* streams: a sliding read buffer holding [buf_offset, buf_offset + end) */
    uint8_t *buf;
    size_t cap;
    size_t start;
    size_t end;
    uint64_t buf_offset;
    bool eof;
} binlog_file;

/* Opens path (borrowed for the file's lifetime) and checks the magic
 * number. Returns 0, MCSQ_ERR_IO or MCSQ_ERR_CORRUPT with errstr filled. */
int binlog_file_open(binlog_file *f, const char *path, char *errstr, size_t errstr_size);

/* Returns 0 with the next whole event in *event and *len (valid until the
 * next call) at file offset *offset; MCSQ_ERR_EOF at a clean end of file; or
 * MCSQ_ERR_TRUNCATED / MCSQ_ERR_CORRUPT / MCSQ_ERR_IO / MCSQ_ERR_NOMEM with
 * errstr naming the offset. A regular file that shrinks while it is read
 * raises SIGBUS; `mcsqueal scan` turns that into an error message. */
int binlog_file_next(binlog_file *f, const uint8_t **event, size_t *len, uint64_t *offset,
                     char *errstr, size_t errstr_size);

void binlog_file_close(binlog_file *f);

#endif
