/*
 * libFuzzer target for the retry spool reader (invalidator/spool.c): the
 * input is a spool file as a crash may have left it (torn, damaged, or
 * another file altogether), which spool_open() and replay must handle.
 *
 * The first byte picks how the file is read back (bits 0-2: keys per
 * spool_replay_next() call, 1..8; bit 3: commit after the first call, close
 * and reopen; bit 4: rewind once), the rest is written to
 * <tmp>/spool/p/s.spool (tmpfs when /dev/shm exists) and opened. Checks:
 * open fails only with a documented code and a message; once open, replay
 * never fails (nothing changed the file), hands out exactly spool_depth()
 * keys of 1..SPOOL_KEY_MAX bytes, a reopen after a commit sees exactly the
 * keys not committed, and keys appended afterwards come back last, intact.
 */
#include "invalidator/spool.h"

#include "core/log.h"
#include "mcsqueal/error.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char state_dir[64];
static char file_path[128];
static char compact_path[160];

static void cleanup(void)
{
    char path[160];
    unlink(file_path);
    unlink(compact_path);
    snprintf(path, sizeof(path), "%s/spool/p", state_dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/spool", state_dir);
    rmdir(path);
    rmdir(state_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(state_dir, sizeof(state_dir), "%s/mcsq-fuzz-spool-XXXXXX", base);
    if (mkdtemp(state_dir) == NULL) {
        perror(state_dir);
        exit(1);
    }
    snprintf(file_path, sizeof(file_path), "%s/spool/p/s.spool", state_dir);
    snprintf(compact_path, sizeof(compact_path), "%s.compact", file_path);
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/spool", state_dir);
    mkdir(dir, 0700);
    snprintf(dir, sizeof(dir), "%s/spool/p", state_dir);
    mkdir(dir, 0700);
    atexit(cleanup);
    log_open("/dev/null");
    return 0;
}

static void write_file(const uint8_t *data, size_t len)
{
    int fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t)len) || close(fd) != 0)
        abort(); /* the harness, not the code under test */
}

static spool *open_or_check(void)
{
    spool *sp;
    char err[512] = "";
    spool_options opt = {.compact_bytes = 256};
    int rc = spool_open(&sp, state_dir, "p", "s", &opt, err, sizeof(err));
    if (rc == MCSQ_OK)
        return sp;
    if (rc != MCSQ_ERR_CORRUPT && rc != MCSQ_ERR_UNSUPPORTED && rc != MCSQ_ERR_CHECKSUM)
        abort();
    if (sp != NULL || err[0] == '\0')
        abort();
    return NULL;
}

/* Replays up to limit keys in calls of per keys; returns how many. */
static uint64_t replay(spool *sp, size_t per, uint64_t limit)
{
    mcsq_key keys[8];
    char err[512];
    uint64_t total = 0;
    while (total < limit) {
        size_t n;
        size_t want = limit - total < per ? (size_t)(limit - total) : per;
        if (spool_replay_next(sp, keys, want, &n, err, sizeof(err)) != MCSQ_OK)
            abort();
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            if (keys[i].len == 0 || keys[i].len > SPOOL_KEY_MAX)
                abort();
        }
        total += n;
    }
    return total;
}

/* Appends two keys after a full replay: they come back next, intact. */
static void append_and_read_back(spool *sp)
{
    static const mcsq_key added[] = {{.data = "fuzz:a", .len = 6}, {.data = "fuzz:bb", .len = 7}};
    char err[512];
    if (spool_append(sp, added, 2, err, sizeof(err)) != MCSQ_OK)
        abort();
    mcsq_key keys[2];
    size_t n, got = 0;
    while (got < 2) {
        if (spool_replay_next(sp, keys + got, 2 - got, &n, err, sizeof(err)) != MCSQ_OK || n == 0)
            abort();
        got += n;
    }
    for (size_t i = 0; i < 2; i++) {
        if (keys[i].len != added[i].len || memcmp(keys[i].data, added[i].data, added[i].len) != 0)
            abort();
    }
    if (spool_replay_commit(sp, err, sizeof(err)) != MCSQ_OK || spool_depth(sp) != 0)
        abort();
}

/* Opens the file as written and reads it back as the options byte says. */
static void check_spool(uint8_t options)
{
    size_t per = (size_t)(options & 7) + 1;
    char err[512];
    spool *sp = open_or_check();
    if (sp == NULL)
        return;
    uint64_t depth = spool_depth(sp);
    if (options & 16) {
        replay(sp, per, per);
        spool_replay_rewind(sp);
    }
    if (options & 8) {
        uint64_t done = replay(sp, per, per);
        if (spool_replay_commit(sp, err, sizeof(err)) != MCSQ_OK || spool_depth(sp) != depth - done)
            abort();
        spool_close(sp);
        depth -= done;
        if ((sp = open_or_check()) == NULL || spool_depth(sp) != depth)
            abort(); /* what a commit left must open again, all of it */
    }
    if (replay(sp, per, UINT64_MAX) != depth)
        abort();
    append_and_read_back(sp);
    spool_close(sp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    write_file(data + 1, size - 1);
    check_spool(data[0]);
    unlink(file_path);
    unlink(compact_path);
    return 0;
}
