/*
 * Binlog file source (see binlog_file.h). Reads in 1 MiB chunks; an event
 * larger than the buffer grows it to that event's size, up to
 * BINLOG_MAX_EVENT_SIZE.
 */
#include "tailer/binlog_file.h"
#include "tailer/binlog_event.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (1u << 20)

int binlog_file_open(binlog_file *f, const char *path, char *errstr, size_t errstr_size)
{
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    f->path = path;
    const char *slash = strrchr(path, '/');
    f->name = slash ? slash + 1 : path;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: %s", path, strerror(errno));
    (void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    uint8_t magic[BINLOG_MAGIC_LEN];
    ssize_t n = pread(f->fd, magic, sizeof(magic), 0);
    if (n != (ssize_t)sizeof(magic) || memcmp(magic, BINLOG_MAGIC, BINLOG_MAGIC_LEN) != 0) {
        int rc = errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                            "%s: offset 0: not a binlog file (bad magic number)", path);
        binlog_file_close(f);
        return rc;
    }
    f->buf_offset = BINLOG_MAGIC_LEN;
    if (lseek(f->fd, BINLOG_MAGIC_LEN, SEEK_SET) < 0) {
        int rc = errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: %s", path, strerror(errno));
        binlog_file_close(f);
        return rc;
    }
    return MCSQ_OK;
}

/* Ensures at least `need` unread bytes in the buffer, or sets eof. */
static int fill(binlog_file *f, size_t need, char *errstr, size_t errstr_size)
{
    if (f->end - f->start >= need || f->eof)
        return MCSQ_OK;
    if (f->start > 0) {
        memmove(f->buf, f->buf + f->start, f->end - f->start);
        f->buf_offset += f->start;
        f->end -= f->start;
        f->start = 0;
    }
    size_t want = need > READ_CHUNK ? need : READ_CHUNK;
    if (want > f->cap) {
        uint8_t *b = realloc(f->buf, want);
        if (b == NULL)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM,
                              "%s: cannot allocate %zu bytes for an event", f->path, want);
        f->buf = b;
        f->cap = want;
    }
    while (f->end < need) {
        ssize_t n = read(f->fd, f->buf + f->end, f->cap - f->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: read: %s", f->path,
                              strerror(errno));
        if (n == 0) {
            f->eof = true;
            break;
        }
        f->end += (size_t)n;
    }
    return MCSQ_OK;
}

int binlog_file_next(binlog_file *f, const uint8_t **event, size_t *len, uint64_t *offset,
                     char *errstr, size_t errstr_size)
{
    int rc = fill(f, BINLOG_HEADER_LEN, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    size_t avail = f->end - f->start;
    uint64_t off = f->buf_offset + f->start;
    if (avail == 0)
        return MCSQ_ERR_EOF;
    binlog_header hdr;
    if (binlog_header_parse(f->buf + f->start, avail, &hdr) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "%s: offset %" PRIu64 ": truncated event header (%zu of %d bytes)",
                          f->path, off, avail, BINLOG_HEADER_LEN);
    if (hdr.event_size < BINLOG_HEADER_LEN || hdr.event_size > BINLOG_MAX_EVENT_SIZE)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "%s: offset %" PRIu64 ": %s event claims an impossible size of %" PRIu32
                          " bytes",
                          f->path, off, binlog_event_type_name(hdr.type), hdr.event_size);
    rc = fill(f, hdr.event_size, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    avail = f->end - f->start;
    if (avail < hdr.event_size)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "%s: offset %" PRIu64 ": %s event of %" PRIu32
                          " bytes is truncated: the file ends after %zu",
                          f->path, off, binlog_event_type_name(hdr.type), hdr.event_size, avail);
    *event = f->buf + f->start;
    *len = hdr.event_size;
    *offset = off;
    f->start += hdr.event_size;
    return MCSQ_OK;
}

void binlog_file_close(binlog_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    free(f->buf);
    f->fd = -1;
    f->buf = NULL;
    f->cap = f->start = f->end = 0;
}
