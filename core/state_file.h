/*
 * The state directory and the files in it: the checkpoint, the retry
 * spools, the dead letters, the locks and the embedded bus's address. They
 * can hold cache keys, which often carry user ids, e-mail addresses or
 * session tokens, so they are private to the user mcsqueal runs as:
 * directories are created 0700 and files 0600 (a stricter umask still
 * applies). Writes are complete or fail; a replaced file and the entries
 * of a directory are made durable with fsync().
 */
#ifndef MCSQ_CORE_STATE_FILE_H
#define MCSQ_CORE_STATE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_DIR_MODE 0700
#define STATE_FILE_MODE 0600

/* Creates dir and its missing parents (STATE_DIR_MODE), making each new
 * entry durable in its parent. An existing directory is left as it is.
 * Returns 0 or MCSQ_ERR_IO (errstr names the directory and why). */
int state_dir_create(const char *dir, char *errstr, size_t errstr_size);

/* Logs a warning naming dir and the chmod to run when users other than its
 * owner may read, write or enter it. Returns whether it is that open. */
bool state_dir_warn_open(const char *dir);

/* Opens path with flags plus O_CREAT and O_CLOEXEC, a new file with
 * STATE_FILE_MODE. Returns the descriptor, or MCSQ_ERR_IO with errno set. */
int state_file_open(const char *path, int flags);

/* Writes all len bytes of buf at fd's offset, retrying short writes and
 * EINTR. Returns 0 or MCSQ_ERR_IO with errno set. */
int state_write_all(int fd, const void *buf, size_t len);

/* state_write_all() at file offset off (pwrite). */
int state_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

/* fsync()s directory dir, so that files created, renamed or removed in it
 * stay so after a crash. Returns 0 or MCSQ_ERR_IO with errno set. */
int state_dir_sync(const char *dir);

/* Replaces path with the len bytes of buf, durably and atomically: writes
 * them to tmp (created or truncated, STATE_FILE_MODE), fsync()s it, renames
 * it over path and fsync()s path's directory. tmp is removed on failure.
 * Returns 0 or MCSQ_ERR_IO; errstr names the file and the step that failed. */
int state_file_replace(const char *path, const char *tmp, const void *buf, size_t len, char *errstr,
                       size_t errstr_size);

#endif
