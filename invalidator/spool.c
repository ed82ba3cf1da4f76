/*
 * Retry spool file (see spool.h). All integers little-endian.
 *
 * Header, 64 bytes, written when the file is created:
 *
 *     0   8  magic "MCSQSPOL"
 *     8   4  format version (1)
 *     12  4  CRC-32 of bytes 0..11
 *     16 24  position slot 0
 *     40 24  position slot 1
 *
 * A position slot is { u64 seq, u64 batch offset, u32 key index, u32 CRC-32
 * of the previous 20 bytes }: the first key not yet replayed is key `index`
 * of the batch at `offset`. Commits write the slot that does not hold the
 * newest position (seq + 1, then fdatasync), so a write torn by a crash
 * leaves the previous position: keys are replayed twice, never skipped. The
 * valid slot with the highest seq wins; with none valid, replay starts at
 * the first batch (duplicates, no loss).
 *
 * Batches follow the header, one or more per spool_append() call (a batch
 * holds at most BATCH_PAYLOAD_MAX payload bytes), 28-byte header:
 *
 *     0   4  magic "MQB1"
 *     4   4  key count (>= 1)
 *     8   4  payload length in bytes
 *     12  8  append offset: file offset of the first batch of the same
 *            spool_append() call
 *     20  4  CRC-32 of the payload
 *     24  4  CRC-32 of bytes 0..23
 *     28     payload: per key { u16 length (1..250), key bytes }
 *
 * Reading back a batch that fails any check: if an intact batch of a LATER
 * append (append offset > the damaged byte) exists further on, the damage is
 * inside acknowledged data and spool_open() fails with MCSQ_ERR_CHECKSUM;
 * otherwise it lies in the last append, which a crash cut short before its
 * fdatasync returned (pages may reach the disk in any order, hence the whole
 * append, not just its last record), and the file is cut there.
 */
#include "invalidator/spool.h"
#include "core/byte_reader.h"
#include "core/byte_writer.h"
#include "core/crc32.h"
#include "core/errstr.h"
#include "core/log.h"
#include "core/name_rule.h"
#include "core/state_file.h"
#include "mcsqueal/error.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR_SIZE 64
#define FILE_MAGIC "MCSQSPOL"
#define FILE_VERSION 1
#define SLOT_SIZE 24
#define SLOT_OFF(i) (16 + SLOT_SIZE * (i))
#define BATCH_MAGIC 0x3142514du /* "MQB1" */
#define BATCH_HDR 28
#define BATCH_PAYLOAD_MAX (32 * 1024)
#define BATCH_MAX (BATCH_HDR + BATCH_PAYLOAD_MAX)
#define READ_BUF (2 * BATCH_MAX)
#define SPOOL_EXT ".spool"
#define COMPACT_EXT ".compact"
#define OPEN_TRIES 8

typedef struct spool_pos {
    uint64_t off; /* batch offset */
    uint32_t idx; /* key index in it */
} spool_pos;

typedef struct batch_info {
    uint32_t nkeys;
    uint32_t payload_len;
    uint64_t append_off;
    uint32_t payload_crc;
} batch_info;

struct spool {
    int fd;
    char *path;
    char *tmp_path; /* where a compaction writes the new file */
    char *dir;      /* the pool directory */
    uint64_t max_bytes;
    uint64_t compact_bytes;
    uint64_t end;      /* file size: end of the last complete batch */
    uint64_t depth;    /* keys after pos */
    spool_pos pos;     /* committed read position */
    uint64_t slot_seq; /* seq of the newest position slot */
    spool_pos cur;     /* replay cursor (>= pos) */
    uint64_t handed;   /* keys between pos and cur */
    bool broken;       /* a failed write left the file unknown: reopen */
    uint8_t *rbuf;     /* read cache: file bytes [rbuf_off, rbuf_off + rbuf_len) */
    uint64_t rbuf_off;
    size_t rbuf_len;
    const uint8_t *payload; /* (ref) into rbuf: the batch at cur.off, when loaded */
    batch_info bi;
    bool loaded;
    size_t rec;    /* offset of key cur.idx in payload */
    uint8_t *wbuf; /* one batch being written */
    char *arena;   /* key bytes handed out by replay */
    size_t arena_cap;
    log_ratelimit rl;
    int read_errno; /* of the last read that failed */
};

/* ---- reading ---- */

/* Length of the key record at payload offset at (a checked batch). */
static uint16_t key_len_at(const uint8_t *payload, size_t at)
{
    return (uint16_t)byte_le(payload + at, 2);
}

/* Refills the read cache from off. Returns 0 or MCSQ_ERR_IO (errno in
 * sp->read_errno). */
static int cache_fill(spool *sp, uint64_t off)
{
    size_t got = 0;
    sp->rbuf_off = off;
    sp->rbuf_len = 0;
    sp->loaded = false; /* sp->payload pointed into the old contents */
    while (got < READ_BUF) {
        ssize_t n = pread(sp->fd, sp->rbuf + got, READ_BUF - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            sp->read_errno = errno;
            return MCSQ_ERR_IO;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    sp->rbuf_len = got;
    return MCSQ_OK;
}

static void cache_drop(spool *sp)
{
    sp->rbuf_len = 0;
    sp->loaded = false;
}

/* Points *p at file bytes [off, off + len), len <= READ_BUF. Returns 0,
 * MCSQ_ERR_TRUNCATED (the file ends first) or MCSQ_ERR_IO. */
static int read_at(spool *sp, uint64_t off, size_t len, const uint8_t **p)
{
    assert(len <= READ_BUF);
    if (off < sp->rbuf_off || off + len > sp->rbuf_off + sp->rbuf_len) {
        int rc = cache_fill(sp, off);
        if (rc != MCSQ_OK)
            return rc;
        if (len > sp->rbuf_len)
            return MCSQ_ERR_TRUNCATED;
    }
    *p = sp->rbuf + (off - sp->rbuf_off);
    return MCSQ_OK;
}

/* ---- batches ---- */

/* How many of keys[0..n) the next batch takes; its payload size in *len. */
static size_t batch_take(const mcsq_key *keys, size_t n, size_t *len)
{
    size_t i = 0, bytes = 0;
    while (i < n && bytes + 2 + keys[i].len <= BATCH_PAYLOAD_MAX)
        bytes += 2 + keys[i++].len;
    *len = bytes;
    return i;
}

/* Bytes that appending keys[0..n) adds to the file. */
static uint64_t append_size(const mcsq_key *keys, size_t n)
{
    uint64_t total = 0;
    size_t len;
    for (size_t i = 0; i < n;) {
        i += batch_take(keys + i, n - i, &len);
        total += BATCH_HDR + len;
    }
    return total;
}

/* Encodes the header of a batch of nkeys keys whose payload (len bytes)
 * follows it in buf. */
static void batch_header_encode(uint8_t *buf, uint32_t nkeys, size_t len, uint64_t append_off)
{
    byte_put_le(buf, BATCH_MAGIC, 4);
    byte_put_le(buf + 4, nkeys, 4);
    byte_put_le(buf + 8, len, 4);
    byte_put_le(buf + 12, append_off, 8);
    byte_put_le(buf + 20, crc32_update(0, buf + BATCH_HDR, len), 4);
    byte_put_le(buf + 24, crc32_update(0, buf, 24), 4);
}

/* Encodes keys[0..k) (payload len bytes) into buf as one batch. */
static void batch_encode(uint8_t *buf, const mcsq_key *keys, size_t k, size_t len,
                         uint64_t append_off)
{
    uint8_t *p = buf + BATCH_HDR;
    for (size_t i = 0; i < k; i++) {
        byte_put_le(p, keys[i].len, 2);
        memcpy(p + 2, keys[i].data, keys[i].len);
        p += 2 + keys[i].len;
    }
    batch_header_encode(buf, (uint32_t)k, len, append_off);
}

/* Decodes and checks the header of the batch at off. */
static int batch_header_parse(const uint8_t *h, uint64_t off, batch_info *bi)
{
    byte_reader br;
    byte_reader_init(&br, h, BATCH_HDR);
    uint32_t magic = byte_reader_u32(&br);
    bi->nkeys = byte_reader_u32(&br);
    bi->payload_len = byte_reader_u32(&br);
    bi->append_off = byte_reader_u64(&br);
    bi->payload_crc = byte_reader_u32(&br);
    uint32_t crc = byte_reader_u32(&br);
    if (magic != BATCH_MAGIC || crc != crc32_update(0, h, BATCH_HDR - 4))
        return MCSQ_ERR_CORRUPT;
    if (bi->nkeys == 0 || bi->payload_len > BATCH_PAYLOAD_MAX ||
        bi->payload_len < 3ull * bi->nkeys || bi->append_off < HDR_SIZE || bi->append_off > off)
        return MCSQ_ERR_CORRUPT;
    return MCSQ_OK;
}

/* True when payload is exactly nkeys well-formed records. */
static bool records_valid(const uint8_t *payload, size_t len, uint32_t nkeys)
{
    byte_reader br;
    byte_reader_init(&br, payload, len);
    for (uint32_t i = 0; i < nkeys && !br.failed; i++) {
        uint16_t klen = byte_reader_u16(&br);
        if (klen == 0 || klen > SPOOL_KEY_MAX)
            return false;
        byte_reader_skip(&br, klen);
    }
    return !br.failed && byte_reader_left(&br) == 0;
}

/* Reads and checks the batch at off, which must end at or before limit.
 * Fills *bi and points *payload into the read cache. Returns 0,
 * MCSQ_ERR_TRUNCATED, MCSQ_ERR_CORRUPT, MCSQ_ERR_CHECKSUM or MCSQ_ERR_IO. */
static int batch_read(spool *sp, uint64_t off, uint64_t limit, batch_info *bi,
                      const uint8_t **payload)
{
    const uint8_t *p;
    if (off + BATCH_HDR > limit)
        return MCSQ_ERR_TRUNCATED;
    int rc = read_at(sp, off, BATCH_HDR, &p);
    if (rc == MCSQ_OK)
        rc = batch_header_parse(p, off, bi);
    if (rc != MCSQ_OK)
        return rc;
    if (off + BATCH_HDR + bi->payload_len > limit)
        return MCSQ_ERR_TRUNCATED;
    rc = read_at(sp, off, BATCH_HDR + (size_t)bi->payload_len, &p);
    if (rc != MCSQ_OK)
        return rc;
    *payload = p + BATCH_HDR;
    if (crc32_update(0, *payload, bi->payload_len) != bi->payload_crc)
        return MCSQ_ERR_CHECKSUM;
    return records_valid(*payload, bi->payload_len, bi->nkeys) ? MCSQ_OK : MCSQ_ERR_CORRUPT;
}

/* ---- header and position slots ---- */

static void slot_encode(uint8_t *s, uint64_t seq, spool_pos pos)
{
    byte_put_le(s, seq, 8);
    byte_put_le(s + 8, pos.off, 8);
    byte_put_le(s + 16, pos.idx, 4);
    byte_put_le(s + 20, crc32_update(0, s, 20), 4);
}

/* Decodes a slot; returns its seq, or 0 when it is not valid. */
static uint64_t slot_decode(const uint8_t *s, spool_pos *pos)
{
    byte_reader br;
    byte_reader_init(&br, s, SLOT_SIZE);
    uint64_t seq = byte_reader_u64(&br);
    pos->off = byte_reader_u64(&br);
    pos->idx = byte_reader_u32(&br);
    if (byte_reader_u32(&br) != crc32_update(0, s, 20) || pos->off < HDR_SIZE)
        return 0;
    return seq;
}

/* Writes pos durably into the slot after the newest. Returns 0 or
 * MCSQ_ERR_IO (errstr). */
static int slot_write(spool *sp, spool_pos pos, char *errstr, size_t errstr_size)
{
    uint8_t s[SLOT_SIZE];
    uint64_t seq = sp->slot_seq + 1;
    slot_encode(s, seq, pos);
    if (state_pwrite_all(sp->fd, s, SLOT_SIZE, SLOT_OFF(seq & 1)) != MCSQ_OK ||
        fdatasync(sp->fd) != 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: writing read position: %s",
                          sp->path, strerror(errno));
    sp->slot_seq = seq;
    return MCSQ_OK;
}

static void header_encode(uint8_t *h)
{
    memset(h, 0, HDR_SIZE);
    memcpy(h, FILE_MAGIC, 8);
    byte_put_le(h + 8, FILE_VERSION, 4);
    byte_put_le(h + 12, crc32_update(0, h, 12), 4);
    slot_encode(h + SLOT_OFF(1), 1, (spool_pos){HDR_SIZE, 0});
}

/* Writes a fresh header on the file (a new one, or one whose creation a
 * crash cut short) and makes it durable. Returns 0 or MCSQ_ERR_IO (errstr). */
static int header_init(spool *sp, char *errstr, size_t errstr_size)
{
    uint8_t h[HDR_SIZE];
    header_encode(h);
    if (state_pwrite_all(sp->fd, h, HDR_SIZE, 0) != MCSQ_OK || ftruncate(sp->fd, HDR_SIZE) != 0 ||
        fdatasync(sp->fd) != 0 || state_dir_sync(sp->dir) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: cannot write header: %s", sp->path,
                          strerror(errno));
    return MCSQ_OK;
}

static bool header_valid(const uint8_t *h)
{
    return memcmp(h, FILE_MAGIC, 8) == 0 && byte_le(h + 12, 4) == crc32_update(0, h, 12);
}

/* Picks the newest valid slot of header h as the committed position. */
static void header_pick_pos(spool *sp, const uint8_t *h, uint64_t size)
{
    spool_pos p0, p1;
    uint64_t s0 = slot_decode(h + SLOT_OFF(0), &p0);
    uint64_t s1 = slot_decode(h + SLOT_OFF(1), &p1);
    sp->slot_seq = s0 > s1 ? s0 : s1;
    sp->pos = s0 > s1 ? p0 : p1;
    if (sp->slot_seq > 0)
        return;
    sp->pos = (spool_pos){HDR_SIZE, 0};
    if (size > HDR_SIZE)
        log_warn("%s: no valid read position; replaying the whole file", sp->path);
}

/* Reads (or, for a file that was never completed, writes) the header.
 * Returns 0 or a negative mcsq_err with errstr; *size is the file size. */
static int header_load(spool *sp, uint64_t *size, char *errstr, size_t errstr_size)
{
    struct stat st;
    uint8_t h[HDR_SIZE];
    if (fstat(sp->fd, &st) != 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: %s", sp->path, strerror(errno));
    *size = (uint64_t)st.st_size;
    ssize_t n = *size >= HDR_SIZE ? pread(sp->fd, h, HDR_SIZE, 0) : 0;
    if (n < 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: %s", sp->path, strerror(errno));
    if (*size < HDR_SIZE || (*size == HDR_SIZE && !header_valid(h))) {
        int rc = header_init(sp, errstr, errstr_size);
        if (rc != MCSQ_OK)
            return rc;
        *size = HDR_SIZE;
        header_encode(h);
    } else if (n != HDR_SIZE || !header_valid(h)) {
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "%s: not a spool file (bad header)", sp->path);
    } else if (byte_le(h + 8, 4) != FILE_VERSION) {
        return errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                          "%s: spool format version %" PRIu32 " (this mcsqueal reads %d)", sp->path,
                          (uint32_t)byte_le(h + 8, 4), FILE_VERSION);
    }
    header_pick_pos(sp, h, *size);
    return MCSQ_OK;
}

/* ---- names ---- */

static bool name_char_plain(unsigned char c, bool first, bool underscore)
{
    char ch = (char)c;
    if (ch == '.')
        return !first;
    return name_rule_chars(&ch, 1, underscore ? "-_" : "-");
}

/* Appends name[0..len) to out (cap bytes, NUL-terminated) with every byte
 * outside [A-Za-z0-9.-] (and '_' when underscore) as %XX, and a leading
 * '.' escaped too. Returns the new length, or MCSQ_ERR_LIMIT when it does
 * not fit. */
static int name_escape(char *out, size_t cap, size_t at, const char *name, size_t len,
                       bool underscore)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (at + 4 > cap)
            return MCSQ_ERR_LIMIT;
        if (name_char_plain(c, at == 0, underscore))
            out[at++] = (char)c;
        else
            at += (size_t)snprintf(out + at, cap - at, "%%%02X", c);
    }
    out[at] = '\0';
    return (int)at;
}

/* Escaped directory name of a pool: its length, or MCSQ_ERR_INVALID when
 * it is empty or too long. */
static int pool_escape(char *out, size_t cap, const char *pool)
{
    if (pool[0] == '\0')
        return MCSQ_ERR_INVALID;
    int n = name_escape(out, cap, 0, pool, strlen(pool), true);
    return n < 0 || n > SPOOL_NAME_MAX ? MCSQ_ERR_INVALID : n;
}

/* Escaped file name stem of a server: "host:port" -> "host_port", '_'
 * itself escaped, so the last ':' is recoverable. Its length, or
 * MCSQ_ERR_INVALID when it is empty or too long. */
static int server_escape(char *out, size_t cap, const char *server)
{
    const char *colon = strrchr(server, ':');
    size_t hlen = colon ? (size_t)(colon - server) : strlen(server);
    if (server[0] == '\0')
        return MCSQ_ERR_INVALID;
    int n = name_escape(out, cap, 0, server, hlen, false);
    if (n >= 0 && colon != NULL && (size_t)n + 2 <= cap) {
        out[n] = '_';
        n = name_escape(out, cap, (size_t)n + 1, colon + 1, strlen(colon + 1), false);
    } else if (colon != NULL) {
        n = MCSQ_ERR_INVALID;
    }
    return n < 0 || n > SPOOL_NAME_MAX ? MCSQ_ERR_INVALID : n;
}

/* The value of hex digit c (upper case only), or MCSQ_ERR_INVALID. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return MCSQ_ERR_INVALID;
}

/* Undoes the escaping of s[0..len) ('_' -> ':' when colon); NULL when s is
 * not exactly what the escaping produces. Caller frees. */
static char *name_unescape(const char *s, size_t len, bool colon)
{
    char *out = malloc(len + 1), canon[SPOOL_NAME_MAX + 8];
    size_t n = 0;
    for (size_t i = 0; out != NULL && i < len; i++) {
        int hi = i + 2 < len ? hex_value(s[i + 1]) : MCSQ_ERR_INVALID;
        int lo = hi >= 0 ? hex_value(s[i + 2]) : MCSQ_ERR_INVALID;
        if (s[i] == '%' && lo >= 0) {
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = colon && s[i] == '_' ? ':' : s[i];
        }
    }
    if (out == NULL)
        return NULL;
    out[n] = '\0';
    int c =
        colon ? server_escape(canon, sizeof(canon), out) : pool_escape(canon, sizeof(canon), out);
    if (c < 0 || strlen(out) != n || (size_t)c != len || memcmp(canon, s, len) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- opening ---- */

static char *path_join3(const char *a, const char *b, const char *c)
{
    size_t len = strlen(a) + strlen(b) + strlen(c) + 3;
    char *p = malloc(len);
    if (p != NULL)
        snprintf(p, len, "%s%s%s%s%s", a, *b ? "/" : "", b, *c ? "/" : "", c);
    return p;
}

/* Sets sp->dir and sp->path and creates the directories. */
static int spool_paths(spool *sp, const char *state_dir, const char *pool, const char *server,
                       char *errstr, size_t errstr_size)
{
    char pool_esc[SPOOL_NAME_MAX + 8], file[SPOOL_NAME_MAX + 32];
    if (pool_escape(pool_esc, sizeof(pool_esc), pool) < 0 ||
        server_escape(file, sizeof(file), server) < 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "spool: pool \"%s\" / server \"%s\": empty or too long name", pool,
                          server);
    strcat(file, SPOOL_EXT);
    sp->dir = path_join3(state_dir, "spool", pool_esc);
    sp->path = sp->dir ? path_join3(sp->dir, file, "") : NULL;
    strcat(file, COMPACT_EXT);
    sp->tmp_path = sp->dir ? path_join3(sp->dir, file, "") : NULL;
    if (sp->path == NULL || sp->tmp_path == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    return state_dir_create(sp->dir, errstr, errstr_size);
}

/* True when fd is still the file at path (not unlinked or replaced by a
 * spool_close() or a compaction that ran between our open and our lock). */
static bool fd_is_path(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* Opens the file and takes the exclusive lock. */
static int file_open_locked(spool *sp, char *errstr, size_t errstr_size)
{
    for (int i = 0; i < OPEN_TRIES; i++) {
        sp->fd = state_file_open(sp->path, O_RDWR);
        if (sp->fd < 0)
            break;
        if (flock(sp->fd, LOCK_EX | LOCK_NB) != 0)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_IO,
                              "%s: locked: in use by another spool (%s)", sp->path,
                              strerror(errno));
        if (fd_is_path(sp->fd, sp->path))
            return MCSQ_OK;
        close(sp->fd);
        sp->fd = -1;
    }
    return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: cannot open: %s", sp->path,
                      sp->fd < 0 ? strerror(errno) : "replaced while opening");
}

static int spool_alloc(spool **out, const spool_options *opt)
{
    spool *sp = calloc(1, sizeof(*sp));
    if (sp == NULL)
        return MCSQ_ERR_NOMEM;
    sp->fd = -1;
    sp->max_bytes = opt && opt->max_bytes ? opt->max_bytes : SPOOL_DEFAULT_MAX_BYTES;
    sp->compact_bytes =
        opt && opt->compact_bytes ? opt->compact_bytes : SPOOL_DEFAULT_COMPACT_BYTES;
    sp->rl = (log_ratelimit)LOG_RATELIMIT_INIT(60, 3);
    sp->rbuf = malloc(READ_BUF);
    sp->wbuf = malloc(BATCH_MAX);
    *out = sp;
    return sp->rbuf && sp->wbuf ? MCSQ_OK : MCSQ_ERR_NOMEM;
}

static void spool_free(spool *sp)
{
    if (sp->fd >= 0)
        close(sp->fd);
    free(sp->path);
    free(sp->tmp_path);
    free(sp->dir);
    free(sp->rbuf);
    free(sp->wbuf);
    free(sp->arena);
    free(sp);
}

/* ---- recovery scan ---- */

/* Looks after the damaged byte bad for an intact batch of a later append.
 * Sets *found to its offset (0: none). Returns 0 or MCSQ_ERR_IO. */
static int find_later_append(spool *sp, uint64_t bad, uint64_t size, uint64_t *found)
{
    static const uint8_t magic[4] = {'M', 'Q', 'B', '1'};
    *found = 0;
    for (uint64_t off = bad + 1; off + BATCH_HDR <= size;) {
        size_t avail = size - off < READ_BUF ? (size_t)(size - off) : READ_BUF;
        const uint8_t *p, *payload;
        int rc = read_at(sp, off, avail, &p);
        if (rc != MCSQ_OK)
            return MCSQ_ERR_IO;
        const uint8_t *hit = memmem(p, avail, magic, sizeof(magic));
        if (hit == NULL) {
            off += avail - (sizeof(magic) - 1);
            continue;
        }
        uint64_t at = off + (uint64_t)(hit - p);
        batch_info bi;
        rc = batch_read(sp, at, size, &bi, &payload);
        if (rc == MCSQ_ERR_IO)
            return rc;
        if (rc == MCSQ_OK && bi.append_off > bad) {
            *found = at;
            return MCSQ_OK;
        }
        off = at + 1;
    }
    return MCSQ_OK;
}

/* The batch at bad failed its checks (why): cut off a torn tail, or fail. */
static int recover_bad_batch(spool *sp, uint64_t bad, uint64_t size, int why, char *errstr,
                             size_t errstr_size)
{
    uint64_t later;
    if (find_later_append(sp, bad, size, &later) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: read error: %s", sp->path,
                          strerror(sp->read_errno));
    if (later != 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CHECKSUM,
                          "%s: damaged batch at byte %" PRIu64 " (%s) followed by intact data "
                          "appended later (byte %" PRIu64 "): not a torn write; refusing to skip "
                          "keys (see docs/operations.md, \"Retry spool\")",
                          sp->path, bad, mcsq_strerror(why), later);
    cache_drop(sp);
    if (ftruncate(sp->fd, (off_t)bad) != 0 || fdatasync(sp->fd) != 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: cannot cut torn tail: %s",
                          sp->path, strerror(errno));
    log_warn("%s: cut off a torn tail of %" PRIu64 " bytes at byte %" PRIu64
             " (%s): an append that a crash interrupted before it was acknowledged",
             sp->path, size - bad, bad, mcsq_strerror(why));
    return MCSQ_OK;
}

/* Walks the batches from the committed position: counts the waiting keys,
 * checks every CRC, cuts off a torn tail. */
static int scan(spool *sp, uint64_t size, char *errstr, size_t errstr_size)
{
    uint64_t off = sp->pos.off, depth = 0;
    if (off > size)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "%s: read position %" PRIu64 " is past the end of the file (%" PRIu64
                          " bytes): the file was cut outside mcsqueal (see docs/operations.md, "
                          "\"Retry spool\")",
                          sp->path, off, size);
    while (off < size) {
        batch_info bi;
        const uint8_t *payload;
        int rc = batch_read(sp, off, size, &bi, &payload);
        if (rc == MCSQ_ERR_IO)
            return errstr_set(errstr, errstr_size, rc, "%s: read error: %s", sp->path,
                              strerror(sp->read_errno));
        if (rc != MCSQ_OK) {
            rc = recover_bad_batch(sp, off, size, rc, errstr, errstr_size);
            size = off;
            if (rc != MCSQ_OK)
                return rc;
            break;
        }
        if (off == sp->pos.off && sp->pos.idx >= bi.nkeys)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                              "%s: read position names key %" PRIu32 " of a batch of %" PRIu32,
                              sp->path, sp->pos.idx, bi.nkeys);
        depth += bi.nkeys - (off == sp->pos.off ? sp->pos.idx : 0);
        off += BATCH_HDR + (uint64_t)bi.payload_len;
    }
    sp->end = size;
    sp->depth = depth;
    sp->cur = sp->pos;
    return MCSQ_OK;
}

/* Everything is replayed: position back to the first batch, then cut the
 * file to its header (in this order: a crash in between replays again). */
static int drain(spool *sp, char *errstr, size_t errstr_size)
{
    spool_pos start = {HDR_SIZE, 0};
    int rc = slot_write(sp, start, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    sp->pos = sp->cur = start;
    sp->handed = 0;
    cache_drop(sp);
    if (ftruncate(sp->fd, HDR_SIZE) != 0 || fdatasync(sp->fd) != 0) {
        sp->broken = true;
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: truncate: %s", sp->path,
                          strerror(errno));
    }
    sp->end = HDR_SIZE;
    sp->depth = 0;
    return MCSQ_OK;
}

int spool_open(spool **out, const char *state_dir, const char *pool, const char *server,
               const spool_options *opt, char *errstr, size_t errstr_size)
{
    spool *sp = NULL;
    uint64_t size = 0;
    *out = NULL;
    int rc = spool_alloc(&sp, opt);
    if (rc != MCSQ_OK) {
        rc = errstr_set(errstr, errstr_size, rc, "out of memory");
        goto err;
    }
    rc = spool_paths(sp, state_dir, pool, server, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = file_open_locked(sp, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = header_load(sp, &size, errstr, errstr_size);
    if (rc != MCSQ_OK)
        goto err;
    unlink(sp->tmp_path); /* a compaction that a crash interrupted; the file is intact */
    if (state_dir_sync(sp->dir) != MCSQ_OK) {
        rc =
            errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: fsync: %s", sp->dir, strerror(errno));
        goto err;
    }
    rc = scan(sp, size, errstr, errstr_size);
    if (rc == MCSQ_OK && sp->pos.off == sp->end && (sp->end > HDR_SIZE || sp->pos.idx != 0))
        rc = drain(sp, errstr, errstr_size);
    if (rc != MCSQ_OK)
        goto err;
    *out = sp;
    return MCSQ_OK;
err:
    if (sp != NULL)
        spool_free(sp);
    return rc;
}

/* ---- appending ---- */

static int broken_error(const spool *sp, char *errstr, size_t errstr_size)
{
    return errstr_set(errstr, errstr_size, MCSQ_ERR_IO,
                      "%s: an earlier write failed and could not be undone; reopen the spool",
                      sp->path);
}

static int keys_check(const spool *sp, const mcsq_key *keys, size_t n, char *errstr,
                      size_t errstr_size)
{
    for (size_t i = 0; i < n; i++)
        if (keys[i].len == 0 || keys[i].len > SPOOL_KEY_MAX)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                              "%s: key %zu has %" PRIu32 " bytes (1..%d allowed)", sp->path, i,
                              keys[i].len, SPOOL_KEY_MAX);
    return MCSQ_OK;
}

/* A write or fdatasync of an append failed: cut the file back to where the
 * append began (only that append's pages can be lost or half-written). */
static int append_failed(spool *sp, const char *what, char *errstr, size_t errstr_size)
{
    int saved = errno;
    cache_drop(sp);
    if (ftruncate(sp->fd, (off_t)sp->end) != 0 || fdatasync(sp->fd) != 0)
        sp->broken = true;
    return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: %s failed: %s%s", sp->path, what,
                      strerror(saved), sp->broken ? "; cannot undo it: reopen the spool" : "");
}

int spool_append(spool *sp, const mcsq_key *keys, size_t n, char *errstr, size_t errstr_size)
{
    if (sp->broken)
        return broken_error(sp, errstr, errstr_size);
    int rc = keys_check(sp, keys, n, errstr, errstr_size);
    if (rc != MCSQ_OK || n == 0)
        return rc;
    uint64_t size = append_size(keys, n);
    if (sp->end + size > sp->max_bytes)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT,
                          "%s: full: %" PRIu64 " bytes + %" PRIu64
                          " would pass the limit of %" PRIu64,
                          sp->path, sp->end, size, sp->max_bytes);
    uint64_t off = sp->end;
    for (size_t i = 0, len, k; i < n; i += k, off += BATCH_HDR + len) {
        k = batch_take(keys + i, n - i, &len);
        batch_encode(sp->wbuf, keys + i, k, len, sp->end);
        if (state_pwrite_all(sp->fd, sp->wbuf, BATCH_HDR + len, off) != MCSQ_OK)
            return append_failed(sp, "write", errstr, errstr_size);
    }
    if (fdatasync(sp->fd) != 0)
        return append_failed(sp, "fdatasync", errstr, errstr_size);
    sp->end = off;
    sp->depth += n;
    return MCSQ_OK;
}

uint64_t spool_depth(const spool *sp)
{
    return sp->depth;
}

uint64_t spool_bytes(const spool *sp)
{
    return sp->end;
}

const char *spool_path(const spool *sp)
{
    return sp->path;
}

/* ---- replay ---- */

/* Loads the batch at the cursor and finds key cur.idx in it. */
static int batch_load(spool *sp, char *errstr, size_t errstr_size)
{
    int rc = batch_read(sp, sp->cur.off, sp->end, &sp->bi, &sp->payload);
    if (rc != MCSQ_OK)
        return errstr_set(errstr, errstr_size, rc == MCSQ_ERR_TRUNCATED ? MCSQ_ERR_CORRUPT : rc,
                          "%s: batch at byte %" PRIu64 " damaged since the spool was opened: %s",
                          sp->path, sp->cur.off, mcsq_strerror(rc));
    assert(sp->cur.idx < sp->bi.nkeys);
    sp->rec = 0;
    for (uint32_t i = 0; i < sp->cur.idx; i++)
        sp->rec += 2 + (size_t)key_len_at(sp->payload, sp->rec);
    sp->loaded = true;
    return MCSQ_OK;
}

/* Hands out the key at the cursor (copied to *a) and advances. */
static void replay_take(spool *sp, mcsq_key *key, char **a)
{
    uint16_t len = key_len_at(sp->payload, sp->rec);
    memcpy(*a, sp->payload + sp->rec + 2, len);
    *key = (mcsq_key){.data = *a, .len = len, .marker = 0};
    *a += len;
    sp->rec += 2 + (size_t)len;
    sp->handed++;
    if (++sp->cur.idx < sp->bi.nkeys)
        return;
    sp->cur.off += BATCH_HDR + (uint64_t)sp->bi.payload_len;
    sp->cur.idx = 0;
    sp->loaded = false;
}

int spool_replay_next(spool *sp, mcsq_key *out, size_t max, size_t *n, char *errstr,
                      size_t errstr_size)
{
    *n = 0;
    if (sp->broken)
        return broken_error(sp, errstr, errstr_size);
    if (max == 0)
        return MCSQ_OK;
    max = max < SPOOL_REPLAY_MAX ? max : SPOOL_REPLAY_MAX;
    if (sp->arena_cap < max * SPOOL_KEY_MAX) {
        char *a = realloc(sp->arena, max * SPOOL_KEY_MAX);
        if (a == NULL)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
        sp->arena = a;
        sp->arena_cap = max * SPOOL_KEY_MAX;
    }
    char *a = sp->arena;
    spool_pos start = sp->cur;
    uint64_t handed = sp->handed;
    while (*n < max && sp->cur.off < sp->end) {
        int rc = sp->loaded ? MCSQ_OK : batch_load(sp, errstr, errstr_size);
        if (rc != MCSQ_OK) { /* hand out nothing, so that nothing is committed */
            sp->cur = start;
            sp->handed = handed;
            sp->loaded = false;
            *n = 0;
            return rc;
        }
        replay_take(sp, &out[(*n)++], &a);
    }
    return MCSQ_OK;
}

void spool_replay_rewind(spool *sp)
{
    sp->cur = sp->pos;
    sp->handed = 0;
    sp->loaded = false;
}

/* ---- compaction ---- */

/* Why a compaction failed: the step and the errno it left (why). */
static int compact_error(int rc, const char *step, int why, char *errstr, size_t errstr_size)
{
    return errstr_set(errstr, errstr_size, rc, "%s: %s", step,
                      rc == MCSQ_ERR_IO ? strerror(why) : mcsq_strerror(rc));
}

/* Copies the batch at *from into fd at *to with its append offset set to
 * its new offset (each copied batch stands alone: all were acknowledged),
 * dropping the keys before skip. Returns 0 or a negative mcsq_err (errstr). */
static int compact_copy_batch(spool *sp, int fd, uint64_t *from, uint64_t *to, uint32_t skip,
                              char *errstr, size_t errstr_size)
{
    batch_info bi;
    const uint8_t *payload;
    int rc = batch_read(sp, *from, sp->end, &bi, &payload);
    if (rc != MCSQ_OK)
        return compact_error(rc, "reading a batch", sp->read_errno, errstr, errstr_size);
    size_t at = 0;
    for (uint32_t i = 0; i < skip; i++)
        at += 2 + (size_t)key_len_at(payload, at);
    uint8_t *b = sp->wbuf;
    size_t len = bi.payload_len - at;
    memcpy(b + BATCH_HDR, payload + at, len);
    batch_header_encode(b, bi.nkeys - skip, len, *to);
    if (state_pwrite_all(fd, b, BATCH_HDR + len, *to) != MCSQ_OK)
        return compact_error(MCSQ_ERR_IO, "write", errno, errstr, errstr_size);
    *from += BATCH_HDR + (uint64_t)bi.payload_len;
    *to += BATCH_HDR + len;
    return MCSQ_OK;
}

/* Writes the waiting batches into tmp as a complete, synced spool file.
 * Returns 0 or a negative mcsq_err (errstr). */
static int compact_write(spool *sp, int fd, uint64_t *new_end, char *errstr, size_t errstr_size)
{
    uint8_t h[HDR_SIZE];
    header_encode(h);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        return compact_error(MCSQ_ERR_IO, "lock", errno, errstr, errstr_size);
    if (state_pwrite_all(fd, h, HDR_SIZE, 0) != MCSQ_OK)
        return compact_error(MCSQ_ERR_IO, "write", errno, errstr, errstr_size);
    uint64_t from = sp->pos.off, to = HDR_SIZE;
    uint32_t skip = sp->pos.idx;
    while (from < sp->end) {
        int rc = compact_copy_batch(sp, fd, &from, &to, skip, errstr, errstr_size);
        if (rc != MCSQ_OK)
            return rc;
        skip = 0;
    }
    *new_end = to;
    if (fdatasync(fd) != 0)
        return compact_error(MCSQ_ERR_IO, "fdatasync", errno, errstr, errstr_size);
    return MCSQ_OK;
}

/* Rewrites the file without its replayed part: a new file, synced, renamed
 * over the old one. */
static int compact(spool *sp, char *errstr, size_t errstr_size)
{
    uint64_t new_end = 0;
    char why[256];
    int fd = state_file_open(sp->tmp_path, O_RDWR | O_TRUNC);
    int rc = fd < 0 ? compact_error(MCSQ_ERR_IO, "open", errno, why, sizeof(why))
                    : compact_write(sp, fd, &new_end, why, sizeof(why));
    if (rc == MCSQ_OK && rename(sp->tmp_path, sp->path) != 0)
        rc = compact_error(MCSQ_ERR_IO, "rename", errno, why, sizeof(why));
    if (rc != MCSQ_OK) {
        if (fd >= 0)
            close(fd);
        unlink(sp->tmp_path);
        return errstr_set(errstr, errstr_size, rc, "%s: compaction failed (%s): %s", sp->path,
                          mcsq_strerror(rc), why);
    }
    close(sp->fd);
    sp->fd = fd;
    sp->end = new_end;
    sp->pos = sp->cur = (spool_pos){HDR_SIZE, 0};
    sp->slot_seq = 1;
    cache_drop(sp);
    if (state_dir_sync(sp->dir) != MCSQ_OK) {
        sp->broken = true; /* a crash could bring the old file back under appends made now */
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: fsync: %s", sp->dir,
                          strerror(errno));
    }
    return MCSQ_OK;
}

static void maybe_compact(spool *sp)
{
    uint64_t dead = sp->pos.off - HDR_SIZE;
    if (dead < sp->compact_bytes || dead < sp->end - sp->pos.off)
        return;
    char err[512];
    if (compact(sp, err, sizeof(err)) != MCSQ_OK)
        log_ratelimited(&sp->rl, LOG_LEVEL_WARN, "%s", err);
}

int spool_replay_commit(spool *sp, char *errstr, size_t errstr_size)
{
    if (sp->broken)
        return broken_error(sp, errstr, errstr_size);
    if (sp->handed == 0)
        return MCSQ_OK;
    if (sp->cur.off == sp->end)
        return drain(sp, errstr, errstr_size);
    int rc = slot_write(sp, sp->cur, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    sp->pos = sp->cur;
    sp->depth -= sp->handed;
    sp->handed = 0;
    maybe_compact(sp);
    return MCSQ_OK;
}

void spool_close(spool *sp)
{
    if (sp == NULL)
        return;
    if (!sp->broken && sp->depth == 0)
        unlink(sp->path); /* still locked by us: nobody appended meanwhile */
    spool_free(sp);
}

/* ---- listing ---- */

typedef struct name_list {
    spool_name *v;
    size_t n, cap;
} name_list;

static int name_list_add(name_list *l, char *pool, char *server)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        spool_name *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return MCSQ_ERR_NOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (spool_name){pool, server};
    return MCSQ_OK;
}

/* Adds the spools of one pool directory. Returns 0 or a negative mcsq_err
 * (errstr). */
static int list_pool(name_list *l, const char *dir, const char *pool, char *errstr,
                     size_t errstr_size)
{
    DIR *d = opendir(dir);
    if (d == NULL && (errno == ENOTDIR || errno == ENOENT))
        return MCSQ_OK;
    if (d == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: cannot list spools: %s", dir,
                          strerror(errno));
    int rc = MCSQ_OK;
    for (struct dirent *e; rc == MCSQ_OK && (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name), ext = strlen(SPOOL_EXT);
        if (len <= ext || strcmp(e->d_name + len - ext, SPOOL_EXT) != 0)
            continue;
        char *server = name_unescape(e->d_name, len - ext, true);
        char *p = server ? strdup(pool) : NULL;
        if (p != NULL)
            rc = name_list_add(l, p, server);
        if (p == NULL || rc != MCSQ_OK) {
            free(p);
            free(server);
        }
    }
    closedir(d);
    if (rc != MCSQ_OK)
        return errstr_set(errstr, errstr_size, rc, "%s: cannot list spools: out of memory", dir);
    return MCSQ_OK;
}

static int name_cmp(const void *a, const void *b)
{
    const spool_name *x = a, *y = b;
    int c = strcmp(x->pool, y->pool);
    return c != 0 ? c : strcmp(x->server, y->server);
}

/* Adds the spools of every pool directory under top. Returns 0 or a
 * negative mcsq_err (errstr). */
static int list_pools(name_list *l, const char *top, DIR *d, char *errstr, size_t errstr_size)
{
    int rc = MCSQ_OK;
    for (struct dirent *e; rc == MCSQ_OK && (e = readdir(d)) != NULL;) {
        char *pool = name_unescape(e->d_name, strlen(e->d_name), false);
        char *dir = pool ? path_join3(top, e->d_name, "") : NULL;
        rc = dir ? list_pool(l, dir, pool, errstr, errstr_size) : MCSQ_OK;
        free(dir);
        free(pool);
    }
    return rc;
}

int spool_dir_list(const char *state_dir, spool_name **list, size_t *n, char *errstr,
                   size_t errstr_size)
{
    name_list l = {0};
    *list = NULL;
    *n = 0;
    char *top = path_join3(state_dir, "spool", "");
    if (top == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    DIR *d = opendir(top);
    int rc = MCSQ_OK;
    if (d == NULL && errno != ENOENT)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: cannot list spools: %s", top,
                        strerror(errno));
    if (d != NULL) {
        rc = list_pools(&l, top, d, errstr, errstr_size);
        closedir(d);
    }
    free(top);
    if (rc != MCSQ_OK) {
        spool_dir_list_free(l.v, l.n);
        return rc;
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof(*l.v), name_cmp);
    *list = l.v;
    *n = l.n;
    return MCSQ_OK;
}

void spool_dir_list_free(spool_name *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].pool);
        free(list[i].server);
    }
    free(list);
}
