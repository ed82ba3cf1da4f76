/*
 * The state directory and its files (see state_file.h).
 */
#include "core/state_file.h"
#include "core/errstr.h"
#include "core/log.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory part of path ("." or "/" when it has none) into dir. */
static int parent_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (len >= size) {
        errno = ENAMETOOLONG;
        return MCSQ_ERR_IO;
    }
    if (len == 0)
        snprintf(dir, size, ".");
    else
        snprintf(dir, size, "%.*s", (int)len, path);
    return MCSQ_OK;
}

/* Creates one directory; MCSQ_OK when it is there (new and durable, or old). */
static int make_one(const char *dir)
{
    char parent[PATH_MAX];
    if (mkdir(dir, STATE_DIR_MODE) != 0)
        return errno == EEXIST ? MCSQ_OK : MCSQ_ERR_IO;
    if (parent_of(dir, parent, sizeof(parent)) != MCSQ_OK)
        return MCSQ_ERR_IO;
    return state_dir_sync(parent);
}

int state_dir_create(const char *dir, char *errstr, size_t errstr_size)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf) || buf[0] == '\0')
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "state_dir %s: path too long or empty",
                          dir);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (make_one(buf) != MCSQ_OK)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_IO,
                              "state_dir %s: cannot create %s: %s", dir, buf, strerror(errno));
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "state_dir %s: not a directory", dir);
    return MCSQ_OK;
}

bool state_dir_warn_open(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0 || (st.st_mode & 077) == 0)
        return false;
    log_warn("state_dir %s is open to other users (mode %04o): its spools, dead letters and "
             "checkpoint can hold cache keys with user ids or tokens; make it private with: "
             "chmod 700 %s",
             dir, (unsigned)(st.st_mode & 07777), dir);
    return true;
}

int state_file_open(const char *path, int flags)
{
    int fd = open(path, flags | O_CREAT | O_CLOEXEC, STATE_FILE_MODE);
    return fd >= 0 ? fd : MCSQ_ERR_IO;
}

int state_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return MCSQ_ERR_IO;
        p += n;
        len -= (size_t)n;
    }
    return MCSQ_OK;
}

int state_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return MCSQ_ERR_IO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return MCSQ_OK;
}

int state_dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return MCSQ_ERR_IO;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc == 0 ? MCSQ_OK : MCSQ_ERR_IO;
}

/* Writes buf to tmp, fsync()s and closes it; MCSQ_ERR_IO with errno. */
static int write_synced(const char *tmp, const void *buf, size_t len)
{
    int fd = state_file_open(tmp, O_WRONLY | O_TRUNC);
    if (fd < 0)
        return MCSQ_ERR_IO;
    int rc = state_write_all(fd, buf, len);
    if (rc == MCSQ_OK && fsync(fd) != 0)
        rc = MCSQ_ERR_IO;
    int saved = errno;
    if (close(fd) != 0 && rc == MCSQ_OK)
        return MCSQ_ERR_IO;
    errno = saved;
    return rc;
}

int state_file_replace(const char *path, const char *tmp, const void *buf, size_t len, char *errstr,
                       size_t errstr_size)
{
    char dir[PATH_MAX];
    int rc = MCSQ_OK;
    if (write_synced(tmp, buf, len) != MCSQ_OK)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: cannot write: %s", tmp,
                        strerror(errno));
    else if (rename(tmp, path) != 0)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: cannot rename %s to it: %s", path,
                        tmp, strerror(errno));
    else if (parent_of(path, dir, sizeof(dir)) != MCSQ_OK || state_dir_sync(dir) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: cannot sync its directory: %s",
                          path, strerror(errno));
    if (rc != MCSQ_OK)
        unlink(tmp);
    return rc;
}
