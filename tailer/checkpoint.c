/*
 * Checkpoint file (see checkpoint.h). A small text file:
 *
 *     # mcsqueal checkpoint
 *     file=binlog.000003
 *     pos=8812
 *     gtid=0-1-42,1-2-7
 *     seq=1043
 *
 * seq (optional: absent in checkpoints from before bus messages were
 * numbered, and written only when known) is the number of the first bus
 * message after the position: a restarted tailer continues its numbering
 * from it (bus/seq_tracker.h). Unknown lines are errors: a checkpoint is
 * either fully understood or not used.
 */
#include "tailer/checkpoint.h"
#include "core/errstr.h"
#include "core/state_file.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECKPOINT_NAME "checkpoint"
#define CHECKPOINT_MAX (64 * 1024)

static int parse_line(char *line, binlog_position *pos, int *seen)
{
    char *eq = strchr(line, '=');
    if (line[0] == '#' || line[0] == '\0')
        return MCSQ_OK;
    if (eq == NULL)
        return MCSQ_ERR_CORRUPT;
    *eq = '\0';
    const char *value = eq + 1;
    char *end;
    if (strcmp(line, "file") == 0 && strlen(value) < sizeof(pos->file) && value[0] != '\0') {
        strcpy(pos->file, value);
        *seen |= 1;
    } else if (strcmp(line, "pos") == 0) {
        errno = 0;
        pos->pos = strtoull(value, &end, 10);
        if (errno != 0 || *end != '\0' || end == value || pos->pos < 4)
            return MCSQ_ERR_CORRUPT;
        *seen |= 2;
    } else if (strcmp(line, "gtid") == 0 && strlen(value) < sizeof(pos->gtid)) {
        strcpy(pos->gtid, value);
    } else if (strcmp(line, "seq") == 0) {
        errno = 0;
        pos->seq = strtoull(value, &end, 10);
        if (errno != 0 || *end != '\0' || end == value || value[0] == '-' || pos->seq == 0 ||
            pos->seq > INT64_MAX)
            return MCSQ_ERR_CORRUPT;
    } else {
        return MCSQ_ERR_CORRUPT;
    }
    return MCSQ_OK;
}

static int parse(char *text, binlog_position *pos, int *bad_line)
{
    int seen = 0, line_no = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        int rc = parse_line(line, pos, &seen);
        if (rc != MCSQ_OK) {
            *bad_line = line_no;
            return rc;
        }
    }
    *bad_line = 0;
    return seen == 3 ? MCSQ_OK : MCSQ_ERR_CORRUPT;
}

int checkpoint_load(const char *dir, binlog_position *pos, char *errstr, size_t errstr_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, CHECKPOINT_NAME);
    memset(pos, 0, sizeof(*pos));
    FILE *f = fopen(path, "r");
    if (f == NULL && errno == ENOENT)
        return MCSQ_ERR_EOF;
    if (f == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: %s", path, strerror(errno));
    char *text = calloc(1, CHECKPOINT_MAX + 1);
    size_t n = text ? fread(text, 1, CHECKPOINT_MAX, f) : 0;
    int read_error = ferror(f);
    fclose(f);
    if (text == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    int bad_line = 0;
    int rc = read_error ? MCSQ_ERR_IO : parse(text, pos, &bad_line);
    free(text);
    if (rc == MCSQ_OK && n < CHECKPOINT_MAX)
        return MCSQ_OK;
    memset(pos, 0, sizeof(*pos));
    if (rc == MCSQ_ERR_IO)
        return errstr_set(errstr, errstr_size, rc, "%s: read error", path);
    return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                      "%s is damaged (%s%d): fix or remove it and choose where to start with "
                      "mysql.start; it is not ignored, so that no invalidation is skipped",
                      path, bad_line ? "line " : "missing file= or pos=, ", bad_line);
}

int checkpoint_save(const char *dir, const binlog_position *pos, char *errstr, size_t errstr_size)
{
    char path[4096], tmp[4100];
    snprintf(path, sizeof(path), "%s/%s", dir, CHECKPOINT_NAME);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    size_t gtid_len = strlen(pos->gtid);
    size_t cap = 128 + strlen(pos->file) + gtid_len;
    char *text = malloc(cap);
    if (text == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    int len = snprintf(text, cap, "# mcsqueal checkpoint\nfile=%s\npos=%" PRIu64 "\ngtid=%s\n",
                       pos->file, pos->pos, pos->gtid);
    if (pos->seq > 0)
        len += snprintf(text + len, cap - (size_t)len, "seq=%" PRIu64 "\n", pos->seq);
    char why[512];
    int rc = state_file_replace(path, tmp, text, (size_t)len, why, sizeof(why));
    free(text);
    if (rc != MCSQ_OK)
        return errstr_set(errstr, errstr_size, rc, "cannot write checkpoint: %s", why);
    return MCSQ_OK;
}
