/*
 * Unit tests of the binlog file source (tailer/binlog_file.c) on files
 * written to a fresh temporary directory, read both as regular files (the
 * mapped-window path) and through a FIFO fed by a child process (the
 * buffered stream path): events and their offsets come out whole and in
 * order, across the 1 MiB read chunk and the 8 MiB map window and for
 * events larger than either; a bad magic number, a header or event cut by
 * the end of the file, and impossible sizes are errors that name the
 * offset; an empty binlog and a missing file are told apart from
 * corruption; a regular file that grows is read on.
 */
#include "tailer/binlog_file.h"
#include "tailer/binlog_event.h"
#include "mcsqueal/error.h"
#include "binlog_build.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define READ_CHUNK (1u << 20)
#define MAP_WINDOW (8u << 20)

/* ------------------------------------------------------------------------
 * Events (binlog_build.h: log_pos is the end of the event in the file)
 * ------------------------------------------------------------------------ */

/* Appends an event whose body is body_len bytes of a pattern seeded by
 * `seed`, so that every byte of it can be checked. */
static void put_pattern_event(bytes *out, uint8_t type, size_t body_len, uint32_t seed)
{
    uint8_t *body = malloc(body_len ? body_len : 1);
    assert_non_null(body);
    for (size_t i = 0; i < body_len; i++)
        body[i] = (uint8_t)((i * 31u) ^ (seed * 131u) ^ (i >> 8));
    put_file_event(out, type, body, body_len);
    free(body);
}

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

/* The events of a file and where each starts. */
typedef struct layout {
    bytes file;
    uint64_t off[8192];
    size_t n;
} layout;

static void layout_mark(layout *l)
{
    assert_true(l->n < sizeof(l->off) / sizeof(l->off[0]));
    l->off[l->n++] = l->file.len;
}

/* Empties l and starts its file: the magic number and, when fde, a
 * Format_description event as its first event. */
static void layout_start(layout *l, bool fde)
{
    memset(l, 0, sizeof(*l));
    put(&l->file, BINLOG_MAGIC, BINLOG_MAGIC_LEN);
    if (fde)
        layout_mark(l), put_file_fde(&l->file);
}

typedef struct fixture {
    char dir[64];
    char path[128];
    binlog_file f;
    bool open;
    pid_t writer; /* child feeding the FIFO, or 0 */
    char err[512];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->dir, sizeof(fx->dir), "%s/mcsq-binlog-file-XXXXXX",
             tmp != NULL && strlen(tmp) < 30 ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/binlog.000042", fx->dir);
    *state = fx;
    return 0;
}

static void reap_writer(fixture *fx)
{
    if (fx->writer <= 0)
        return;
    kill(fx->writer, SIGKILL); /* our own child, by its pid */
    waitpid(fx->writer, NULL, 0);
    fx->writer = 0;
}

static void close_file(fixture *fx)
{
    if (fx->open)
        binlog_file_close(&fx->f);
    fx->open = false;
    reap_writer(fx);
}

static int teardown(void **state)
{
    fixture *fx = *state;
    close_file(fx);
    unlink(fx->path);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void write_file(const fixture *fx, const bytes *content)
{
    unlink(fx->path); /* it may be a FIFO from an earlier run */
    FILE *fp = fopen(fx->path, "wb");
    assert_non_null(fp);
    if (content->len > 0)
        assert_int_equal(fwrite(content->p, 1, content->len, fp), content->len);
    assert_int_equal(fclose(fp), 0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Serves content through a FIFO at fx->path, written by a child process
 * in pieces cut at `split` (0: one write) with a pause between them, so
 * the file source takes its stream path. */
static void serve_fifo_split(fixture *fx, const bytes *content, size_t split)
{
    unlink(fx->path);
    assert_int_equal(mkfifo(fx->path, 0600), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(fx->path, O_WRONLY);
        size_t off = 0;
        while (fd >= 0 && off < content->len) {
            size_t want = content->len - off;
            if (split > 0 && off < split)
                want = split - off;
            ssize_t n = write(fd, content->p + off, want);
            if (n <= 0)
                break;
            off += (size_t)n;
            if (off == split)
                sleep_ms(200);
        }
        _exit(0);
    }
    fx->writer = pid;
}

static void serve_fifo(fixture *fx, const bytes *content)
{
    serve_fifo_split(fx, content, 0);
}

/* Puts content where open_file() will find it: a regular file, or a FIFO. */
static void serve(fixture *fx, const bytes *content, bool stream)
{
    if (stream)
        serve_fifo(fx, content);
    else
        write_file(fx, content);
}

static int open_file(fixture *fx)
{
    fx->err[0] = '\0';
    int rc = binlog_file_open(&fx->f, fx->path, fx->err, sizeof(fx->err));
    fx->open = rc == MCSQ_OK;
    return rc;
}

static int next(fixture *fx, const uint8_t **ev, size_t *len, uint64_t *off)
{
    fx->err[0] = '\0';
    return binlog_file_next(&fx->f, ev, len, off, fx->err, sizeof(fx->err));
}

/* Reads every event of l's file (served as a regular file or a stream),
 * checking offsets and bytes, then EOF. */
static void expect_layout_as(fixture *fx, const layout *l, bool stream)
{
    close_file(fx);
    serve(fx, &l->file, stream);
    assert_int_equal(open_file(fx), MCSQ_OK);
    assert_int_equal(fx->f.mapped, !stream);
    for (size_t i = 0; i < l->n; i++) {
        const uint8_t *ev = NULL;
        size_t len = 0;
        uint64_t off = 0;
        int rc = next(fx, &ev, &len, &off);
        if (rc != MCSQ_OK)
            print_message("event %zu: %s\n", i, fx->err);
        assert_int_equal(rc, MCSQ_OK);
        uint64_t end = i + 1 < l->n ? l->off[i + 1] : l->file.len;
        assert_int_equal(off, l->off[i]);
        assert_int_equal(len, end - l->off[i]);
        assert_memory_equal(ev, l->file.p + off, len);
    }
    const uint8_t *ev;
    size_t len;
    uint64_t off;
    assert_int_equal(next(fx, &ev, &len, &off), MCSQ_ERR_EOF);
    assert_int_equal(next(fx, &ev, &len, &off), MCSQ_ERR_EOF);
}

static void expect_layout(fixture *fx, const layout *l)
{
    expect_layout_as(fx, l, false);
    expect_layout_as(fx, l, true);
}

/* The offset as the error message must name it. */
static void assert_names_offset(const fixture *fx, uint64_t off)
{
    char want[64];
    snprintf(want, sizeof(want), "offset %llu:", (unsigned long long)off);
    if (strstr(fx->err, want) == NULL)
        print_message("error \"%s\" does not name \"%s\"\n", fx->err, want);
    assert_non_null(strstr(fx->err, want));
    assert_non_null(strstr(fx->err, fx->path));
}

/* Serves file (as a regular file or a stream), reads its first `whole`
 * events and expects the next read to fail with rc, in an error that names
 * offset `at` and contains `word`. */
static void expect_error_after(fixture *fx, const bytes *file, bool stream, size_t whole, int rc,
                               uint64_t at, const char *word)
{
    serve(fx, file, stream);
    assert_int_equal(open_file(fx), MCSQ_OK);
    const uint8_t *ev;
    size_t len;
    uint64_t off;
    for (size_t i = 0; i < whole; i++)
        assert_int_equal(next(fx, &ev, &len, &off), MCSQ_OK);
    assert_int_equal(next(fx, &ev, &len, &off), rc);
    assert_names_offset(fx, at);
    assert_non_null(strstr(fx->err, word));
    close_file(fx);
}

/* Writes the start of a binlog (magic number, Format_description event)
 * into *file and to a regular file, opens it and reads that one event. */
static void open_fde_only(fixture *fx, bytes *file)
{
    put_file_start(file);
    write_file(fx, file);
    assert_int_equal(open_file(fx), MCSQ_OK);
    const uint8_t *ev;
    size_t len;
    uint64_t off;
    assert_int_equal(next(fx, &ev, &len, &off), MCSQ_OK);
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

static void test_good_file(void **state)
{
    fixture *fx = *state;
    static layout l;
    layout_start(&l, true);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_PREVIOUS_GTIDS_EVENT, 8, 1);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_ANONYMOUS_GTID_EVENT, 42, 2);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_QUERY_EVENT, 60, 3);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_XID_EVENT, 8, 4);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_STOP_EVENT, 0, 5);
    expect_layout(fx, &l);
    assert_int_equal(l.off[0], 4);
    assert_string_equal(fx->f.name, "binlog.000042");
    assert_string_equal(fx->f.path, fx->path);
    bytes_free(&l.file);
}

/* The events read from a file decode, checksums included. */
static void test_events_decode(void **state)
{
    fixture *fx = *state;
    bytes file = {0};
    put_file_start(&file);
    uint8_t xid[8] = {0x2a, 0, 0, 0, 0, 0, 0, 0};
    put_file_event(&file, BINLOG_XID_EVENT, xid, sizeof(xid));
    uint8_t rotate[8 + 13] = {4, 0, 0, 0, 0, 0, 0, 0};
    memcpy(rotate + 8, "binlog.000043", 13);
    put_file_event(&file, BINLOG_ROTATE_EVENT, rotate, sizeof(rotate));
    write_file(fx, &file);
    assert_int_equal(open_file(fx), MCSQ_OK);
    binlog_decoder dec;
    binlog_decoder_init(&dec);
    static const uint8_t types[] = {BINLOG_FORMAT_DESCRIPTION_EVENT, BINLOG_XID_EVENT,
                                    BINLOG_ROTATE_EVENT};
    for (size_t i = 0; i < 3; i++) {
        const uint8_t *ev;
        size_t len;
        uint64_t off;
        assert_int_equal(next(fx, &ev, &len, &off), MCSQ_OK);
        binlog_event e;
        int rc = binlog_event_decode(&dec, ev, len, &e, fx->err, sizeof(fx->err));
        if (rc != MCSQ_OK)
            print_message("event %zu: %s\n", i, fx->err);
        assert_int_equal(rc, MCSQ_OK);
        assert_int_equal(e.hdr.type, types[i]);
        assert_int_equal(e.hdr.next_pos, off + len);
    }
    assert_int_equal(dec.fmt.checksum_alg, BINLOG_CHECKSUM_CRC32);
    binlog_decoder_deinit(&dec);
    bytes_free(&file);
}

static void test_magic_only_is_eof(void **state)
{
    fixture *fx = *state;
    bytes file = {0};
    put(&file, BINLOG_MAGIC, BINLOG_MAGIC_LEN);
    for (int stream = 0; stream < 2; stream++) {
        serve(fx, &file, stream);
        assert_int_equal(open_file(fx), MCSQ_OK);
        const uint8_t *ev;
        size_t len;
        uint64_t off;
        assert_int_equal(next(fx, &ev, &len, &off), MCSQ_ERR_EOF);
        assert_int_equal(next(fx, &ev, &len, &off), MCSQ_ERR_EOF);
        close_file(fx);
    }
    bytes_free(&file);
}

static void test_bad_magic(void **state)
{
    fixture *fx = *state;
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"", 0},
        {"\xfe", 1},
        {"\xfe"
         "bi",
         3},
        {"\xfe"
         "bim",
         4},
        {"\xff"
         "bin",
         4},
        {"bin\xfe", 4},
        {"GIF89a-not-a-binlog-at-all-but-long-enough", 41},
    };
    for (size_t i = 0; i < 2 * sizeof(cases) / sizeof(cases[0]); i++) {
        size_t c = i / 2;
        bytes file = {0};
        put(&file, cases[c].bytes, cases[c].len);
        serve(fx, &file, i % 2);
        assert_int_equal(open_file(fx), MCSQ_ERR_CORRUPT);
        assert_false(fx->open);
        assert_non_null(strstr(fx->err, "magic"));
        assert_names_offset(fx, 0);
        close_file(fx);
        bytes_free(&file);
    }
}

static void test_missing_file(void **state)
{
    fixture *fx = *state;
    snprintf(fx->path, sizeof(fx->path), "%s/no-such-binlog.000001", fx->dir);
    assert_int_equal(open_file(fx), MCSQ_ERR_IO);
    assert_non_null(strstr(fx->err, "no-such-binlog.000001"));
    snprintf(fx->path, sizeof(fx->path), "%s/missing-dir/binlog.000001", fx->dir);
    assert_int_equal(open_file(fx), MCSQ_ERR_IO);
    snprintf(fx->path, sizeof(fx->path), "%s/binlog.000042", fx->dir);
}

/* 1 to 18 bytes after the last whole event: a cut header. */
static void test_truncated_header(void **state)
{
    fixture *fx = *state;
    for (size_t k = 0; k < 2 * (BINLOG_HEADER_LEN - 1); k++) {
        size_t extra = 1 + k / 2;
        bytes file = {0}, next_ev = {0};
        put_file_start(&file);
        put_pattern_event(&file, BINLOG_XID_EVENT, 8, 1);
        uint64_t cut_at = file.len;
        put_pattern_event(&next_ev, BINLOG_XID_EVENT, 8, 2);
        put(&file, next_ev.p, extra);
        expect_error_after(fx, &file, k % 2, 2, MCSQ_ERR_TRUNCATED, cut_at, "header");
        bytes_free(&file);
        bytes_free(&next_ev);
    }
}

/* An event whose size runs past the end of the file, by 1 byte or more. */
static void test_size_exceeds_file(void **state)
{
    fixture *fx = *state;
    static const size_t missing[] = {1, 4, 100, 2 * READ_CHUNK};
    for (size_t k = 0; k < 2 * sizeof(missing) / sizeof(missing[0]); k++) {
        size_t i = k / 2;
        bytes file = {0};
        put_file_start(&file);
        uint64_t at = file.len;
        bytes ev_bytes = {0};
        put_pattern_event(&ev_bytes, BINLOG_QUERY_EVENT, 200, 9);
        /* the header claims `missing` more bytes than the file holds */
        uint32_t size = (uint32_t)(ev_bytes.len + missing[i]);
        for (int b = 0; b < 4; b++)
            ev_bytes.p[9 + b] = (uint8_t)(size >> (8 * b));
        put(&file, ev_bytes.p, ev_bytes.len);
        expect_error_after(fx, &file, k % 2, 1, MCSQ_ERR_TRUNCATED, at, "truncated");
        bytes_free(&file);
        bytes_free(&ev_bytes);
    }
}

/* A size below the 19-byte header or above 1 GiB is corrupt, whatever
 * follows. */
static void test_impossible_size(void **state)
{
    fixture *fx = *state;
    static const uint32_t sizes[] = {0,           1,           BINLOG_HEADER_LEN - 1,
                                     0x40000001u, 0x80000000u, 0xffffffffu};
    for (size_t k = 0; k < 2 * sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t i = k / 2;
        bytes file = {0};
        put_file_start(&file);
        put_pattern_event(&file, BINLOG_XID_EVENT, 8, 1);
        uint64_t at = file.len;
        put_file_header(&file, BINLOG_QUERY_EVENT, sizes[i]);
        put_pattern_event(&file, BINLOG_XID_EVENT, 8, 2);
        expect_error_after(fx, &file, k % 2, 2, MCSQ_ERR_CORRUPT, at, "Query");
        bytes_free(&file);
    }
}

/* A 3 MiB event, bigger than the 1 MiB read chunk, between small ones. */
static void test_event_larger_than_chunk(void **state)
{
    fixture *fx = *state;
    static layout l;
    layout_start(&l, true);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_WRITE_ROWS_EVENT, 3 * READ_CHUNK, 1);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_XID_EVENT, 8, 2);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_WRITE_ROWS_EVENT, READ_CHUNK - 7, 3);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_WRITE_ROWS_EVENT, READ_CHUNK + 1, 4);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_XID_EVENT, 8, 5);
    expect_layout(fx, &l);
    bytes_free(&l.file);
    /* the big event first, straight after the magic number */
    layout_start(&l, false);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_WRITE_ROWS_EVENT, 3 * READ_CHUNK, 6);
    expect_layout(fx, &l);
    bytes_free(&l.file);
}

/* Thousands of events of varied sizes: headers and bodies straddle the
 * read chunk boundaries at every phase. */
static void test_events_across_chunks(void **state)
{
    fixture *fx = *state;
    static layout l;
    layout_start(&l, true);
    uint32_t seed = 1;
    while (l.file.len < 3 * READ_CHUNK + 12345) {
        seed = seed * 1103515245u + 12345u;
        layout_mark(&l);
        put_pattern_event(&l.file, BINLOG_WRITE_ROWS_EVENT, (seed >> 8) % 3000, seed);
    }
    expect_layout(fx, &l);
    bytes_free(&l.file);
}

/* Closing twice, and closing a file whose open failed, are harmless. */
static void test_close_twice(void **state)
{
    fixture *fx = *state;
    bytes file = {0};
    open_fde_only(fx, &file);
    binlog_file_close(&fx->f);
    binlog_file_close(&fx->f);
    fx->open = false;
    assert_null(fx->f.map);
    assert_int_equal(fx->f.fd, -1);
    bytes_free(&file);
}

/* A path without a directory names itself. */
static void test_relative_name(void **state)
{
    fixture *fx = *state;
    bytes file = {0};
    put(&file, BINLOG_MAGIC, BINLOG_MAGIC_LEN);
    write_file(fx, &file);
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(fx->dir), 0);
    binlog_file f;
    assert_int_equal(binlog_file_open(&f, "binlog.000042", fx->err, sizeof(fx->err)), MCSQ_OK);
    assert_string_equal(f.name, "binlog.000042");
    binlog_file_close(&f);
    assert_int_equal(chdir(cwd), 0);
    bytes_free(&file);
}

/* Regular files are read through 8 MiB mapped windows: a header and a
 * body straddling a window's end, an event ending exactly at one, and an
 * event larger than a window. */
static void test_map_window_edges(void **state)
{
    fixture *fx = *state;
    static layout l;
    layout_start(&l, false);
    /* the next header starts 10 bytes before the first window's end */
    layout_mark(&l);
    put_pattern_event(&l.file, BINLOG_WRITE_ROWS_EVENT,
                      MAP_WINDOW - 10 - BINLOG_MAGIC_LEN - BINLOG_HEADER_LEN - 4, 1);
    assert_int_equal(l.file.len, MAP_WINDOW - 10);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_XID_EVENT, 8, 2);
    /* a body across the next window's end (windows start page-aligned) */
    size_t to_end = 2 * MAP_WINDOW - 4096 - l.file.len;
    layout_mark(&l);
    put_pattern_event(&l.file, BINLOG_WRITE_ROWS_EVENT, to_end - BINLOG_HEADER_LEN - 4 - 100, 3);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_WRITE_ROWS_EVENT, 1000, 4);
    /* an event larger than a window, then small ones */
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_WRITE_ROWS_EVENT, MAP_WINDOW + 12345, 5);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_XID_EVENT, 8, 6);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_XID_EVENT, 8, 7);
    expect_layout_as(fx, &l, false);
    bytes_free(&l.file);
}

/* A regular file read to its end is read on when it grows (tailing the
 * binlog a server is writing): the file size is refreshed. */
static void test_regular_file_grows(void **state)
{
    fixture *fx = *state;
    bytes file = {0};
    open_fde_only(fx, &file);
    const uint8_t *ev;
    size_t len;
    uint64_t off;
    assert_int_equal(next(fx, &ev, &len, &off), MCSQ_ERR_EOF);
    bytes more = {0};
    put_pattern_event(&more, BINLOG_XID_EVENT, 8, 1);
    FILE *fp = fopen(fx->path, "ab");
    assert_non_null(fp);
    assert_int_equal(fwrite(more.p, 1, more.len, fp), more.len);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(next(fx, &ev, &len, &off), MCSQ_OK);
    assert_int_equal(off, file.len);
    assert_int_equal(len, more.len);
    assert_memory_equal(ev, more.p, len);
    assert_int_equal(next(fx, &ev, &len, &off), MCSQ_ERR_EOF);
    bytes_free(&file);
    bytes_free(&more);
}

/* A stream may deliver the magic number in pieces (a pipe written a few
 * bytes at a time): the first read returning 2 of its 4 bytes is not a bad
 * magic number. binlog_file_open() reads it with a single read(). */
static void test_stream_magic_in_pieces(void **state)
{
    fixture *fx = *state;
    static layout l;
    layout_start(&l, true);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_XID_EVENT, 8, 1);
    serve_fifo_split(fx, &l.file, 2);
    int rc = open_file(fx);
    if (rc != MCSQ_OK)
        print_message("open: rc %d (%s)\n", rc, fx->err);
    assert_int_equal(rc, MCSQ_OK);
    const uint8_t *ev;
    size_t len;
    uint64_t off;
    assert_int_equal(next(fx, &ev, &len, &off), MCSQ_OK);
    assert_int_equal(off, BINLOG_MAGIC_LEN);
    assert_int_equal(next(fx, &ev, &len, &off), MCSQ_OK);
    assert_int_equal(next(fx, &ev, &len, &off), MCSQ_ERR_EOF);
    bytes_free(&l.file);
}

/* A stream that delivers events in pieces (header split from body) is
 * read whole all the same. */
static void test_stream_events_in_pieces(void **state)
{
    fixture *fx = *state;
    static layout l;
    layout_start(&l, true);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_WRITE_ROWS_EVENT, 5000, 1);
    layout_mark(&l), put_pattern_event(&l.file, BINLOG_XID_EVENT, 8, 2);
    size_t split = (size_t)l.off[1] + 10; /* inside the second event's header */
    serve_fifo_split(fx, &l.file, split);
    assert_int_equal(open_file(fx), MCSQ_OK);
    assert_false(fx->f.mapped);
    for (size_t i = 0; i < l.n; i++) {
        const uint8_t *ev;
        size_t len;
        uint64_t off;
        assert_int_equal(next(fx, &ev, &len, &off), MCSQ_OK);
        assert_int_equal(off, l.off[i]);
        assert_memory_equal(ev, l.file.p + off, len);
    }
    bytes_free(&l.file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_good_file),
        T(test_events_decode),
        T(test_magic_only_is_eof),
        T(test_bad_magic),
        T(test_missing_file),
        T(test_truncated_header),
        T(test_size_exceeds_file),
        T(test_impossible_size),
        T(test_event_larger_than_chunk),
        T(test_events_across_chunks),
        T(test_close_twice),
        T(test_relative_name),
        T(test_map_window_edges),
        T(test_regular_file_grows),
        T(test_stream_magic_in_pieces),
        T(test_stream_events_in_pieces),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
