/*
 * Binlog file source (see binlog_file.h). Two ways to hold bytes, one set of
 * checks: map_window() for regular files (8 MiB windows, populated at map
 * time), fill() for streams (1 MiB reads into a buffer that grows to the
 * largest event). Events are limited to BINLOG_MAX_EVENT_SIZE.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK (1u << 20)
#define MAP_WINDOW (8u << 20)

static int io_error(binlog_file *f, char *errstr, size_t errstr_size, const char *what)
{
    return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: %s: %s", f->path, what,
                      strerror(errno));
}

/* Reads up to len bytes, as many read() calls as a pipe needs; returns
 * how many were read before the end or an error. */
static size_t read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

int binlog_file_open(binlog_file *f, const char *path, char *errstr, size_t errstr_size)
{
    memset(f, 0, sizeof(*f));
    f->path = path;
    const char *slash = strrchr(path, '/');
    f->name = slash ? slash + 1 : path;
    f->next = BINLOG_MAGIC_LEN;
    f->buf_offset = BINLOG_MAGIC_LEN;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = MCSQ_OK;
    uint8_t magic[BINLOG_MAGIC_LEN];
    if (fstat(f->fd, &st) != 0)
        rc = io_error(f, errstr, errstr_size, "fstat");
    else if (read_full(f->fd, magic, sizeof(magic)) != sizeof(magic) ||
             memcmp(magic, BINLOG_MAGIC, BINLOG_MAGIC_LEN) != 0)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                        "%s: offset 0: not a binlog file (bad magic number)", path);
    if (rc != MCSQ_OK) {
        binlog_file_close(f);
        return rc;
    }
    f->mapped = S_ISREG(st.st_mode);
    f->size = (uint64_t)st.st_size;
    if (!f->mapped)
        (void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return MCSQ_OK;
}

/* ---- regular files: mapped windows ---- */

/* Makes [off, off + need) addressable, refreshing the file size when it is
 * not yet that long. Returns the bytes available from off (may be < need
 * when the file ends first), or -1 with errstr set. */
static int64_t map_window(binlog_file *f, uint64_t off, size_t need, char *errstr,
                          size_t errstr_size)
{
    if (f->map != NULL && off >= f->map_offset && off + need <= f->map_offset + f->map_len)
        return (int64_t)need;
    struct stat st;
    if (off + need > f->size && fstat(f->fd, &st) == 0)
        f->size = (uint64_t)st.st_size;
    if (off >= f->size)
        return 0;
    if (f->map != NULL)
        munmap((void *)f->map, f->map_len);
    f->map = NULL;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = off - off % page;
    uint64_t len = off - start + need > MAP_WINDOW ? off - start + need : MAP_WINDOW;
    if (start + len > f->size)
        len = f->size - start;
    void *m = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED | MAP_POPULATE, f->fd, (off_t)start);
    if (m == MAP_FAILED) {
        io_error(f, errstr, errstr_size, "mmap");
        return -1;
    }
    f->map = m;
    f->map_len = (size_t)len;
    f->map_offset = start;
    uint64_t avail = f->size - off;
    return (int64_t)(avail < need ? avail : need);
}

/* Exposes `need` bytes at the next event's offset; *p is NULL when fewer
 * remain (then *avail says how many). Returns 0 or an error. */
static int expose_mapped(binlog_file *f, size_t need, const uint8_t **p, size_t *avail,
                         char *errstr, size_t errstr_size)
{
    int64_t n = map_window(f, f->next, need, errstr, errstr_size);
    if (n < 0)
        return MCSQ_ERR_IO;
    *avail = (size_t)n;
    *p = (size_t)n == need ? f->map + (f->next - f->map_offset) : NULL;
    return MCSQ_OK;
}

/* ---- streams: sliding buffer ---- */

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
            return io_error(f, errstr, errstr_size, "read");
        if (n == 0) {
            f->eof = true;
            break;
        }
        f->end += (size_t)n;
    }
    return MCSQ_OK;
}

static int expose_buffered(binlog_file *f, size_t need, const uint8_t **p, size_t *avail,
                           char *errstr, size_t errstr_size)
{
    int rc = fill(f, need, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    *avail = f->end - f->start < need ? f->end - f->start : need;
    *p = *avail == need ? f->buf + f->start : NULL;
    return MCSQ_OK;
}

/* ---- events ---- */

static int expose(binlog_file *f, size_t need, const uint8_t **p, size_t *avail, char *errstr,
                  size_t errstr_size)
{
    return f->mapped ? expose_mapped(f, need, p, avail, errstr, errstr_size)
                     : expose_buffered(f, need, p, avail, errstr, errstr_size);
}

int binlog_file_next(binlog_file *f, const uint8_t **event, size_t *len, uint64_t *offset,
                     char *errstr, size_t errstr_size)
{
    const uint8_t *p;
    size_t avail;
    uint64_t off = f->next;
    int rc = expose(f, BINLOG_HEADER_LEN, &p, &avail, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    if (p == NULL && avail == 0)
        return MCSQ_ERR_EOF;
    if (p == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "%s: offset %" PRIu64 ": truncated event header (%zu of %d bytes)",
                          f->path, off, avail, BINLOG_HEADER_LEN);
    binlog_header hdr;
    (void)binlog_header_parse(p, BINLOG_HEADER_LEN, &hdr);
    if (hdr.event_size < BINLOG_HEADER_LEN || hdr.event_size > BINLOG_MAX_EVENT_SIZE)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "%s: offset %" PRIu64 ": %s event claims an impossible size of %" PRIu32
                          " bytes",
                          f->path, off, binlog_event_type_name(hdr.type), hdr.event_size);
    rc = expose(f, hdr.event_size, &p, &avail, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    if (p == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "%s: offset %" PRIu64 ": %s event of %" PRIu32
                          " bytes is truncated: the file ends after %zu",
                          f->path, off, binlog_event_type_name(hdr.type), hdr.event_size, avail);
    *event = p;
    *len = hdr.event_size;
    *offset = off;
    f->next += hdr.event_size;
    if (!f->mapped)
        f->start += hdr.event_size;
    return MCSQ_OK;
}

void binlog_file_close(binlog_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->map != NULL)
        munmap((void *)f->map, f->map_len);
    free(f->buf);
    f->fd = -1;
    f->map = NULL;
    f->buf = NULL;
    f->cap = f->start = f->end = 0;
}
