/*
 * Unit tests of the retry spool: order, durability across simulated
 * restarts (close without commit), torn tails cut off, damage in the middle
 * refused, depth and size accounting, the size limit, a million keys with
 * flat memory, name escaping and listing, compaction, and failing writes
 * (RLIMIT_FSIZE) and fdatasyncs (linked with -Wl,--wrap=fdatasync).
 */
#include "core/crc32.h"
#include "invalidator/spool.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define KEY_LEN 11 /* "key:0000000" */
#define REC (2 + KEY_LEN)
#define BATCH_HDR 28
#define HDR 64

static char dir[256];
static char err[1024];

/* ---- fdatasync fault injection (-Wl,--wrap=fdatasync) ---- */

int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);

static int fdatasync_fail; /* fail this many next calls */
static int fdatasync_calls;

int __wrap_fdatasync(int fd)
{
    fdatasync_calls++;
    if (fdatasync_fail > 0) {
        fdatasync_fail--;
        errno = EIO;
        return -1;
    }
    return __real_fdatasync(fd);
}

/* ---- helpers ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/mcsq-test-spool.XXXXXX");
    assert_non_null(mkdtemp(dir));
    fdatasync_fail = 0;
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static spool *open_ok(const spool_options *opt)
{
    spool *sp = NULL;
    int rc = spool_open(&sp, dir, "main", "127.0.0.1:11211", opt, err, sizeof(err));
    if (rc != MCSQ_OK)
        fail_msg("spool_open: %s (%s)", mcsq_strerror(rc), err);
    return sp;
}

static int open_rc(spool **sp)
{
    err[0] = '\0';
    return spool_open(sp, dir, "main", "127.0.0.1:11211", NULL, err, sizeof(err));
}

static const char *spool_file(void)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/spool/main/127.0.0.1_11211.spool", dir);
    return path;
}

/* Appends keys key:<from>..key:<from+n-1> in one call. */
static void append_range(spool *sp, unsigned from, unsigned n)
{
    char *buf = malloc((size_t)n * (KEY_LEN + 1));
    mcsq_key *keys = calloc(n, sizeof(*keys));
    assert_non_null(buf);
    assert_non_null(keys);
    for (unsigned i = 0; i < n; i++) {
        char *k = buf + (size_t)i * (KEY_LEN + 1);
        snprintf(k, KEY_LEN + 1, "key:%07u", from + i);
        keys[i] = (mcsq_key){.data = k, .len = KEY_LEN};
    }
    int rc = spool_append(sp, keys, n, err, sizeof(err));
    if (rc != MCSQ_OK)
        fail_msg("spool_append: %s (%s)", mcsq_strerror(rc), err);
    free(keys);
    free(buf);
}

/* Replays exactly keys key:<from>..<from+n-1>, in chunks of chunk. */
static void expect_range(spool *sp, unsigned from, unsigned n, size_t chunk)
{
    mcsq_key *out = calloc(chunk, sizeof(*out));
    assert_non_null(out);
    for (unsigned seen = 0; seen < n;) {
        size_t got = 0, want_n = n - seen < chunk ? n - seen : chunk;
        assert_int_equal(spool_replay_next(sp, out, want_n, &got, err, sizeof(err)), MCSQ_OK);
        assert_int_equal(got, want_n); /* full chunks while keys wait */
        for (size_t i = 0; i < got; i++, seen++) {
            char want[KEY_LEN + 1];
            snprintf(want, sizeof(want), "key:%07u", from + seen);
            assert_int_equal(out[i].len, KEY_LEN);
            assert_memory_equal(out[i].data, want, KEY_LEN);
        }
    }
    free(out);
}

static void expect_end(spool *sp)
{
    mcsq_key out[4];
    size_t got = 99;
    assert_int_equal(spool_replay_next(sp, out, 4, &got, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(got, 0);
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static void flip_byte(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
    c ^= 0x10;
    assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
    close(fd);
}

static void append_bytes(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

/* Size of one batch of n test keys. */
static uint64_t batch_size(unsigned n)
{
    return BATCH_HDR + (uint64_t)n * REC;
}

/* ---- order, commit, restart ---- */

static void test_append_replay_order(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 0);
    assert_int_equal(spool_bytes(sp), HDR);
    expect_end(sp);
    append_range(sp, 0, 10);
    append_range(sp, 10, 1);
    append_range(sp, 11, 30);
    assert_int_equal(spool_depth(sp), 41);
    assert_int_equal(spool_bytes(sp), HDR + batch_size(10) + batch_size(1) + batch_size(30));
    expect_range(sp, 0, 41, 7); /* chunks cross batch boundaries */
    expect_end(sp);
    assert_int_equal(spool_depth(sp), 41); /* not committed yet */
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_depth(sp), 0);
    assert_int_equal(spool_bytes(sp), HDR); /* drained: cut back to the header */
    assert_int_equal(file_size(spool_file()), HDR);
    append_range(sp, 100, 3); /* usable after the drain */
    expect_range(sp, 100, 3, 10);
    spool_close(sp);
}

static void test_rewind_and_interleaved_appends(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    append_range(sp, 0, 10);
    expect_range(sp, 0, 5, 5);
    spool_replay_rewind(sp); /* the server failed again */
    expect_range(sp, 0, 5, 2);
    append_range(sp, 10, 10); /* more failures while replaying */
    expect_range(sp, 5, 15, 4);
    expect_end(sp);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_depth(sp), 0);
    spool_close(sp);
    assert_int_equal(access(spool_file(), F_OK), -1); /* empty spools are removed on close */
}

static void test_reopen_without_commit(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    append_range(sp, 0, 20);
    expect_range(sp, 0, 12, 6);
    spool_close(sp); /* a crash: nothing committed */
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 20);
    expect_range(sp, 0, 20, 8);
    expect_end(sp);
    spool_close(sp);
}

static void test_reopen_with_commit(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    append_range(sp, 0, 10);
    append_range(sp, 10, 10);
    expect_range(sp, 0, 13, 13); /* stops inside the second batch */
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_depth(sp), 7);
    expect_range(sp, 13, 2, 2); /* read, not committed */
    spool_close(sp);
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 7);
    expect_range(sp, 13, 7, 3);
    expect_end(sp);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    spool_close(sp);
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 0);
    expect_end(sp);
    spool_close(sp);
}

/* The newest position slot torn: the previous one is used (duplicates, no
 * loss); both torn: everything is replayed. */
static void test_torn_position_slot(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    append_range(sp, 0, 10);
    expect_range(sp, 0, 3, 3);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK); /* seq 2, slot 0 */
    expect_range(sp, 3, 3, 3);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK); /* seq 3, slot 1 */
    spool_close(sp);
    flip_byte(spool_file(), 16 + 24 + 9);
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 7);
    expect_range(sp, 3, 7, 10);
    spool_close(sp);
    flip_byte(spool_file(), 16 + 9);
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 10);
    expect_range(sp, 0, 10, 10);
    spool_close(sp);
}

/* ---- torn tails and damage ---- */

static void make_two_appends(uint64_t *first_end)
{
    spool *sp = open_ok(NULL);
    append_range(sp, 0, 5);
    *first_end = spool_bytes(sp);
    append_range(sp, 5, 5);
    spool_close(sp);
}

static void expect_only_first_append(uint64_t first_end)
{
    spool *sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 5);
    assert_int_equal(spool_bytes(sp), first_end);
    assert_int_equal(file_size(spool_file()), first_end);
    append_range(sp, 50, 2); /* appends continue after the cut */
    expect_range(sp, 0, 5, 10);
    expect_range(sp, 50, 2, 10);
    expect_end(sp);
    spool_close(sp);
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 7);
    spool_close(sp);
}

static void test_torn_tail_truncated_mid_record(void **state)
{
    (void)state;
    uint64_t first_end;
    make_two_appends(&first_end);
    assert_int_equal(truncate(spool_file(), (off_t)(file_size(spool_file()) - 5)), 0);
    expect_only_first_append(first_end);
}

static void test_torn_tail_truncated_mid_header(void **state)
{
    (void)state;
    uint64_t first_end;
    make_two_appends(&first_end);
    assert_int_equal(truncate(spool_file(), (off_t)(first_end + 10)), 0);
    expect_only_first_append(first_end);
}

static void test_torn_tail_garbage(void **state)
{
    (void)state;
    uint64_t first_end, second_end;
    make_two_appends(&first_end);
    second_end = file_size(spool_file());
    unsigned char junk[3000];
    srand(7);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)rand();
    memcpy(junk + 100, "MQB1", 4); /* a fake batch magic inside the garbage */
    append_bytes(spool_file(), junk, sizeof(junk));
    spool *sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 10);
    assert_int_equal(spool_bytes(sp), second_end);
    expect_range(sp, 0, 10, 4);
    spool_close(sp);
}

static void test_torn_tail_zeros(void **state)
{
    (void)state;
    uint64_t first_end;
    make_two_appends(&first_end);
    uint64_t second_end = file_size(spool_file());
    static const unsigned char zeros[8192];
    append_bytes(spool_file(), zeros, sizeof(zeros)); /* size grew, data never written */
    spool *sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 10);
    assert_int_equal(spool_bytes(sp), second_end);
    spool_close(sp);
}

static void test_torn_tail_bad_crc_in_last_record(void **state)
{
    (void)state;
    uint64_t first_end;
    make_two_appends(&first_end);
    flip_byte(spool_file(), file_size(spool_file()) - 1);
    expect_only_first_append(first_end);
}

/* A copy of an earlier intact batch after a torn one belongs to an earlier
 * append, so it does not prove the damage is old: still a torn tail. */
static void test_torn_tail_then_old_batch_copy(void **state)
{
    (void)state;
    uint64_t first_end;
    make_two_appends(&first_end);
    int fd = open(spool_file(), O_RDONLY);
    unsigned char copy[512];
    size_t first_batch = (size_t)batch_size(5);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, copy, first_batch, HDR), (ssize_t)first_batch);
    close(fd);
    assert_int_equal(truncate(spool_file(), (off_t)(file_size(spool_file()) - 3)), 0);
    append_bytes(spool_file(), copy, first_batch);
    expect_only_first_append(first_end);
}

/* One append spans several batches; a crash persisted its pages out of
 * order (a later batch of it intact, an earlier one not): still torn. */
static void test_torn_multi_batch_append(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    append_range(sp, 0, 5);
    uint64_t first_end = spool_bytes(sp);
    append_range(sp, 5, 10000); /* 32 KiB batches: 2520 keys each */
    spool_close(sp);
    uint64_t full = batch_size(2520);
    flip_byte(spool_file(), first_end + full + 500); /* second batch of that append */
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 5 + 2520); /* its intact first batch is kept */
    assert_int_equal(spool_bytes(sp), first_end + full);
    expect_range(sp, 0, 5 + 2520, 1000);
    expect_end(sp);
    spool_close(sp);
}

static void test_corrupt_middle_is_an_error(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    append_range(sp, 0, 5);
    uint64_t first_end = spool_bytes(sp);
    append_range(sp, 5, 5);
    append_range(sp, 10, 5);
    spool_close(sp);
    uint64_t size = file_size(spool_file());
    flip_byte(spool_file(), first_end + BATCH_HDR + 3); /* a key of the second append */
    assert_int_equal(open_rc(&sp), MCSQ_ERR_CHECKSUM);
    assert_null(sp);
    assert_non_null(strstr(err, "not a torn write"));
    assert_int_equal(file_size(spool_file()), size); /* nothing cut */
    flip_byte(spool_file(), first_end + BATCH_HDR + 3);
    flip_byte(spool_file(), first_end + 5); /* its header this time */
    assert_int_equal(open_rc(&sp), MCSQ_ERR_CHECKSUM);
    flip_byte(spool_file(), first_end + 5);
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 15);
    spool_close(sp);
}

/* Damage after open (bit rot) is found when replay reaches it: an error,
 * nothing of that call handed out, the cursor where it was. */
static void test_damage_found_during_replay(void **state)
{
    (void)state;
    static mcsq_key out[3000];
    size_t n;
    spool *sp = open_ok(NULL);
    append_range(sp, 0, 2520); /* three full batches */
    append_range(sp, 2520, 2520);
    append_range(sp, 5040, 2520);
    flip_byte(spool_file(), HDR + 2 * batch_size(2520) + 100);
    assert_int_equal(spool_replay_next(sp, out, 3000, &n, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(n, 3000);
    assert_int_equal(spool_replay_next(sp, out, 3000, &n, err, sizeof(err)), MCSQ_ERR_CHECKSUM);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "damaged"));
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_depth(sp), 3 * 2520 - 3000);
    spool_close(sp);
}

static void test_bad_file_header(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    append_range(sp, 0, 5);
    spool_close(sp);
    flip_byte(spool_file(), 2);
    assert_int_equal(open_rc(&sp), MCSQ_ERR_CORRUPT);
    assert_non_null(strstr(err, "not a spool file"));
    flip_byte(spool_file(), 2);
    /* version 2 with a valid header CRC: refused, not misread */
    int fd = open(spool_file(), O_RDWR);
    unsigned char h[16];
    assert_int_equal(pread(fd, h, 16, 0), 16);
    h[8] = 2;
    uint32_t crc = crc32_update(0, h, 12);
    for (int i = 0; i < 4; i++)
        h[12 + i] = (unsigned char)(crc >> (8 * i));
    assert_int_equal(pwrite(fd, h, 16, 0), 16);
    close(fd);
    assert_int_equal(open_rc(&sp), MCSQ_ERR_UNSUPPORTED);
}

/* A crash while the file was being created leaves it short: start anew. */
static void test_incomplete_creation(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    spool_close(sp);
    int fd = open(spool_file(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "MCSQ", 4), 4);
    close(fd);
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 0);
    append_range(sp, 0, 2);
    spool_close(sp);
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 2);
    spool_close(sp);
}

/* ---- limits ---- */

static void test_depth_and_bytes(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    append_range(sp, 0, 100);
    append_range(sp, 100, 23);
    assert_int_equal(spool_depth(sp), 123);
    expect_range(sp, 0, 50, 50);
    assert_int_equal(spool_depth(sp), 123);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_depth(sp), 73);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK); /* nothing new */
    assert_int_equal(spool_depth(sp), 73);
    uint64_t bytes = spool_bytes(sp);
    assert_int_equal(bytes, HDR + batch_size(100) + batch_size(23));
    spool_close(sp);
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 73); /* counted again on open */
    assert_int_equal(spool_bytes(sp), bytes);
    spool_close(sp);
}

static void test_invalid_keys(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    char big[SPOOL_KEY_MAX + 1];
    memset(big, 'x', sizeof(big));
    mcsq_key keys[2] = {{.data = "ok", .len = 2}, {.data = big, .len = sizeof(big)}};
    assert_int_equal(spool_append(sp, keys, 2, err, sizeof(err)), MCSQ_ERR_INVALID);
    keys[1].len = 0;
    assert_int_equal(spool_append(sp, keys, 2, err, sizeof(err)), MCSQ_ERR_INVALID);
    assert_int_equal(spool_depth(sp), 0);
    assert_int_equal(spool_bytes(sp), HDR);
    keys[1].len = SPOOL_KEY_MAX;
    assert_int_equal(spool_append(sp, keys, 2, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_append(sp, keys, 0, err, sizeof(err)), MCSQ_OK);
    mcsq_key out[4];
    size_t n;
    assert_int_equal(spool_replay_next(sp, out, 4, &n, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[1].len, SPOOL_KEY_MAX);
    assert_memory_equal(out[1].data, big, SPOOL_KEY_MAX);
    spool_close(sp);
}

static void test_max_bytes(void **state)
{
    (void)state;
    spool_options opt = {.max_bytes = HDR + 3 * batch_size(10)};
    spool *sp = open_ok(&opt);
    append_range(sp, 0, 10);
    append_range(sp, 10, 10);
    append_range(sp, 20, 10);
    mcsq_key one = {.data = "x", .len = 1};
    assert_int_equal(spool_append(sp, &one, 1, err, sizeof(err)), MCSQ_ERR_LIMIT);
    assert_non_null(strstr(err, "limit"));
    assert_int_equal(spool_depth(sp), 30);
    assert_int_equal(spool_bytes(sp), opt.max_bytes);
    assert_int_equal(file_size(spool_file()), opt.max_bytes);
    expect_range(sp, 0, 30, 30);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_append(sp, &one, 1, err, sizeof(err)), MCSQ_OK); /* room again */
    spool_close(sp);
}

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld %ld", &pages, &resident), 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Replays the next chunk keys into out (no allocation here: the RSS
 * measured around it is the spool's alone) and checks they follow *next. */
static void replay_chunk(spool *sp, mcsq_key *out, size_t chunk, unsigned *next)
{
    size_t got = 0;
    char want[KEY_LEN + 1];
    assert_int_equal(spool_replay_next(sp, out, chunk, &got, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(got, chunk);
    for (size_t i = 0; i < got; i++) {
        snprintf(want, sizeof(want), "key:%07u", (*next)++);
        assert_int_equal(out[i].len, KEY_LEN);
        assert_memory_equal(out[i].data, want, KEY_LEN);
    }
}

static void test_million_keys_flat_memory(void **state)
{
    (void)state;
    enum { TOTAL = 1000000, PER_APPEND = 1000, CHUNK = 1000 };
    static mcsq_key out[CHUNK];
    unsigned next = 0;
    spool *sp = open_ok(NULL);
    for (unsigned i = 0; i < TOTAL; i += PER_APPEND)
        append_range(sp, i, PER_APPEND);
    assert_int_equal(spool_depth(sp), TOTAL);
    replay_chunk(sp, out, CHUNK, &next);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    long before = rss_kib();
    while (next < TOTAL) {
        replay_chunk(sp, out, CHUNK, &next);
        if (next % (50 * CHUNK) == 0)
            assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    }
    long growth = rss_kib() - before;
    expect_end(sp);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_depth(sp), 0);
    assert_int_equal(spool_bytes(sp), HDR);
    print_message("1M keys replayed; RSS grew %ld KiB while replaying %.1f MB\n", growth,
                  (double)TOTAL * REC / 1e6);
    assert_true(growth < 1024);
    spool_close(sp);
}

/* ---- compaction ---- */

static void test_compaction(void **state)
{
    (void)state;
    spool_options opt = {.compact_bytes = 1};
    spool *sp = open_ok(&opt);
    for (unsigned i = 0; i < 100; i += 10)
        append_range(sp, i, 10);
    expect_range(sp, 0, 30, 30);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_bytes(sp), HDR + 10 * batch_size(10)); /* dead < live: kept */
    expect_range(sp, 30, 35, 35); /* stops at key 5 of the 7th batch */
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    uint64_t compacted = HDR + batch_size(5) + 3 * batch_size(10);
    assert_int_equal(spool_bytes(sp), compacted);
    assert_int_equal(file_size(spool_file()), compacted);
    assert_int_equal(spool_depth(sp), 35);
    spool *other = NULL;
    assert_int_equal(open_rc(&other), MCSQ_ERR_IO); /* the new file is locked too */
    append_range(sp, 100, 10);
    expect_range(sp, 65, 10, 4);
    spool_close(sp);
    sp = open_ok(&opt);
    assert_int_equal(spool_depth(sp), 45);
    expect_range(sp, 65, 45, 7);
    expect_end(sp);
    spool_close(sp);
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.compact", spool_file());
    assert_int_equal(access(tmp, F_OK), -1);
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (unsigned)(st.st_mode & 07777);
}

/* The spool's directories and files, the compacted one too, are private to
 * the user, even under a umask that would let others in. */
static void test_files_are_private(void **state)
{
    (void)state;
    mode_t old = umask(0);
    spool_options opt = {.compact_bytes = 1};
    spool *sp = open_ok(&opt);
    char path[600];
    snprintf(path, sizeof(path), "%s/spool", dir);
    assert_int_equal(mode_of(path), 0700);
    snprintf(path, sizeof(path), "%s/spool/main", dir);
    assert_int_equal(mode_of(path), 0700);
    assert_int_equal(mode_of(spool_file()), 0600);
    for (unsigned i = 0; i < 40; i += 10)
        append_range(sp, i, 10);
    expect_range(sp, 0, 35, 35);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_bytes(sp), HDR + batch_size(5)); /* compacted: a new file */
    assert_int_equal(mode_of(spool_file()), 0600);
    spool_close(sp);
    umask(old);
}

/* A torn batch right after a compacted file: compacted batches stand alone,
 * damage among them is still reported as damage. */
static void test_compacted_damage_is_an_error(void **state)
{
    (void)state;
    spool_options opt = {.compact_bytes = 1};
    spool *sp = open_ok(&opt);
    append_range(sp, 0, 10);
    append_range(sp, 10, 10);
    append_range(sp, 20, 10);
    append_range(sp, 30, 10);
    expect_range(sp, 0, 20, 20);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_bytes(sp), HDR + 2 * batch_size(10));
    spool_close(sp);
    flip_byte(spool_file(), HDR + BATCH_HDR + 1);
    assert_int_equal(open_rc(&sp), MCSQ_ERR_CHECKSUM);
}

/* ---- names, listing, locking ---- */

static void test_names_escaped_and_listed(void **state)
{
    (void)state;
    static const char *names[][3] = {
        {"../evil pool", "[::1]:11211", "%2E.%2Fevil%20pool/%5B%3A%3A1%5D_11211.spool"},
        {"main_pool", "cache_1.example:11211", "main_pool/cache%5F1.example_11211.spool"},
        {"main_pool", "/run/memcached.sock", "main_pool/%2Frun%2Fmemcached.sock.spool"},
        {"main_pool", "10.0.0.7:11211", "main_pool/10.0.0.7_11211.spool"},
    };
    mcsq_key key = {.data = "k", .len = 1};
    for (size_t i = 0; i < 4; i++) {
        spool *sp = NULL;
        char want[600];
        assert_int_equal(spool_open(&sp, dir, names[i][0], names[i][1], NULL, err, sizeof(err)),
                         MCSQ_OK);
        snprintf(want, sizeof(want), "%s/spool/%s", dir, names[i][2]);
        assert_string_equal(spool_path(sp), want);
        assert_int_equal(spool_append(sp, &key, 1, err, sizeof(err)), MCSQ_OK);
        spool_close(sp); /* kept: a key waits */
    }
    static const char *junk[] = {"main_pool/README",       "main_pool/x.spool.compact",
                                 "main_pool/bad%zz.spool", "main_pool/a_b_c.spool",
                                 "main_pool/%61.spool",    "junkfile"};
    for (size_t i = 0; i < 6; i++) {
        char path[600];
        snprintf(path, sizeof(path), "%s/spool/%s", dir, junk[i]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
    }
    spool_name *list;
    size_t n;
    assert_int_equal(spool_dir_list(dir, &list, &n, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(n, 4);
    static const char *sorted[][2] = {{"../evil pool", "[::1]:11211"},
                                      {"main_pool", "/run/memcached.sock"},
                                      {"main_pool", "10.0.0.7:11211"},
                                      {"main_pool", "cache_1.example:11211"}};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(list[i].pool, sorted[i][0]);
        assert_string_equal(list[i].server, sorted[i][1]);
    }
    spool_dir_list_free(list, n);
}

static void test_bad_names(void **state)
{
    (void)state;
    spool *sp = NULL;
    char longname[400];
    memset(longname, '/', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(spool_open(&sp, dir, "", "a:1", NULL, err, sizeof(err)), MCSQ_ERR_INVALID);
    assert_int_equal(spool_open(&sp, dir, "p", "", NULL, err, sizeof(err)), MCSQ_ERR_INVALID);
    assert_int_equal(spool_open(&sp, dir, longname, "a:1", NULL, err, sizeof(err)),
                     MCSQ_ERR_INVALID);
    assert_int_equal(spool_open(&sp, dir, "p", longname, NULL, err, sizeof(err)), MCSQ_ERR_INVALID);
    assert_null(sp);
}

static void test_list_without_spools(void **state)
{
    (void)state;
    spool_name *list = (spool_name *)1;
    size_t n = 9;
    assert_int_equal(spool_dir_list(dir, &list, &n, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(n, 0);
    assert_null(list);
}

static void test_second_open_is_refused(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL), *other = NULL;
    assert_int_equal(open_rc(&other), MCSQ_ERR_IO);
    assert_non_null(strstr(err, "locked"));
    assert_null(other);
    spool_close(sp);
    sp = open_ok(NULL);
    spool_close(sp);
}

/* ---- failing writes and syncs ---- */

static void test_write_failure_is_undone(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    append_range(sp, 0, 10);
    uint64_t bytes = spool_bytes(sp);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)(bytes + 100); /* the next append dies half-written */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char *buf = malloc(200 * 12);
    mcsq_key keys[200];
    assert_non_null(buf);
    for (int i = 0; i < 200; i++) {
        snprintf(buf + i * 12, 12, "new:%07d", i);
        keys[i] = (mcsq_key){.data = buf + i * 12, .len = 11};
    }
    int rc = spool_append(sp, keys, 200, err, sizeof(err));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    free(buf);
    assert_int_equal(rc, MCSQ_ERR_IO);
    assert_non_null(strstr(err, "write failed"));
    assert_int_equal(spool_depth(sp), 10);
    assert_int_equal(spool_bytes(sp), bytes);
    assert_int_equal(file_size(spool_file()), bytes); /* the half append is gone */
    append_range(sp, 10, 5);
    spool_close(sp);
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 15);
    expect_range(sp, 0, 15, 15);
    spool_close(sp);
}

static void test_fdatasync_failure(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    append_range(sp, 0, 10);
    uint64_t bytes = spool_bytes(sp);
    fdatasync_fail = 1;
    mcsq_key key = {.data = "lost?", .len = 5};
    assert_int_equal(spool_append(sp, &key, 1, err, sizeof(err)), MCSQ_ERR_IO);
    assert_non_null(strstr(err, "fdatasync failed"));
    assert_int_equal(spool_depth(sp), 10);
    assert_int_equal(file_size(spool_file()), bytes); /* cut back, nothing half-known kept */
    append_range(sp, 10, 1);                          /* the undo worked: the spool goes on */
    /* a failed commit leaves the position and depth where they were */
    expect_range(sp, 0, 4, 4);
    fdatasync_fail = 1;
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_ERR_IO);
    assert_int_equal(spool_depth(sp), 11);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_depth(sp), 7);
    /* the undo fails too: the spool refuses everything until reopened */
    fdatasync_fail = 2;
    assert_int_equal(spool_append(sp, &key, 1, err, sizeof(err)), MCSQ_ERR_IO);
    assert_non_null(strstr(err, "reopen"));
    assert_int_equal(spool_append(sp, &key, 1, err, sizeof(err)), MCSQ_ERR_IO);
    mcsq_key out[4];
    size_t n;
    assert_int_equal(spool_replay_next(sp, out, 4, &n, err, sizeof(err)), MCSQ_ERR_IO);
    spool_close(sp); /* broken: the file is kept whatever its depth */
    sp = open_ok(NULL);
    assert_int_equal(spool_depth(sp), 7);
    expect_range(sp, 4, 7, 3);
    spool_close(sp);
}

static void test_one_fdatasync_per_append(void **state)
{
    (void)state;
    spool *sp = open_ok(NULL);
    fdatasync_calls = 0;
    append_range(sp, 0, 20000); /* eight batches */
    assert_int_equal(fdatasync_calls, 1);
    assert_true(spool_bytes(sp) > HDR + 7 * batch_size(2520));
    spool_close(sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, make_dir, remove_dir)
        T(test_append_replay_order),
        T(test_rewind_and_interleaved_appends),
        T(test_reopen_without_commit),
        T(test_reopen_with_commit),
        T(test_torn_position_slot),
        T(test_torn_tail_truncated_mid_record),
        T(test_torn_tail_truncated_mid_header),
        T(test_torn_tail_garbage),
        T(test_torn_tail_zeros),
        T(test_torn_tail_bad_crc_in_last_record),
        T(test_torn_tail_then_old_batch_copy),
        T(test_torn_multi_batch_append),
        T(test_corrupt_middle_is_an_error),
        T(test_damage_found_during_replay),
        T(test_bad_file_header),
        T(test_incomplete_creation),
        T(test_depth_and_bytes),
        T(test_invalid_keys),
        T(test_max_bytes),
        T(test_million_keys_flat_memory),
        T(test_compaction),
        T(test_compacted_damage_is_an_error),
        T(test_files_are_private),
        T(test_names_escaped_and_listed),
        T(test_bad_names),
        T(test_list_without_spools),
        T(test_second_open_is_refused),
        T(test_write_failure_is_undone),
        T(test_fdatasync_failure),
        T(test_one_fdatasync_per_append),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
