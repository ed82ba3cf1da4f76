/*
 * Binlog position (see binlog_position.h): copying and setting the one
 * resume-position type.
 */
#include "tailer/binlog_position.h"
#include "mcsqueal/error.h"

#include <string.h>

void binlog_position_copy(binlog_position *dst, const binlog_position *src)
{
    if (dst == src)
        return;
    memcpy(dst->file, src->file, strnlen(src->file, sizeof(src->file) - 1) + 1);
    dst->file[sizeof(dst->file) - 1] = '\0';
    dst->pos = src->pos;
    memcpy(dst->gtid, src->gtid, strnlen(src->gtid, sizeof(src->gtid) - 1) + 1);
    dst->gtid[sizeof(dst->gtid) - 1] = '\0';
    dst->seq = src->seq;
}

int binlog_position_set(binlog_position *p, const char *file, uint64_t pos, const char *gtid)
{
    size_t flen = strlen(file);
    size_t glen = gtid != NULL ? strlen(gtid) : 0;
    if (flen >= sizeof(p->file) || glen >= sizeof(p->gtid))
        return MCSQ_ERR_LIMIT;
    memcpy(p->file, file, flen + 1);
    p->pos = pos;
    memcpy(p->gtid, glen ? gtid : "", glen + 1);
    p->seq = 0;
    return MCSQ_OK;
}
