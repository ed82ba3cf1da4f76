/*
 * Key spill file (see key_spill.h), through stdio's buffering.
 */
#include "tailer/key_spill.h"
#include "mcsqueal/error.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

key_spill *key_spill_new(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/spill.XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    unlink(path);
    key_spill *sp = calloc(1, sizeof(*sp));
    if (sp == NULL || (sp->f = fdopen(fd, "w+")) == NULL) {
        free(sp);
        close(fd);
        return NULL;
    }
    return sp;
}

int key_spill_write(key_spill *sp, const mcsq_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t len = keys[i].len;
        uint8_t marker = keys[i].marker ? 1 : 0;
        if (fwrite(&len, sizeof(len), 1, sp->f) != 1 || fwrite(&marker, 1, 1, sp->f) != 1 ||
            fwrite(keys[i].data, 1, len, sp->f) != len)
            return MCSQ_ERR_IO;
        sp->nkeys++;
        sp->nmarkers += marker;
    }
    return MCSQ_OK;
}

int key_spill_rewind(key_spill *sp)
{
    if (fflush(sp->f) != 0)
        return MCSQ_ERR_IO;
    rewind(sp->f);
    sp->read = 0;
    return MCSQ_OK;
}

static int reserve(key_spill *sp, size_t need)
{
    if (need <= sp->buf_cap)
        return 0;
    char *b = realloc(sp->buf, need);
    if (b == NULL)
        return -1;
    sp->buf = b;
    sp->buf_cap = need;
    return 0;
}

long key_spill_read(key_spill *sp, mcsq_key *out, size_t max)
{
    size_t n = 0, used = 0;
    if (reserve(sp, max * 256) != 0)
        return -1;
    while (n < max && sp->read < sp->nkeys) {
        uint32_t len;
        uint8_t marker;
        if (fread(&len, sizeof(len), 1, sp->f) != 1 || fread(&marker, 1, 1, sp->f) != 1 ||
            len > 250 || fread(sp->buf + used, 1, len, sp->f) != len)
            return -1;
        out[n] = (mcsq_key){sp->buf + used, len, marker};
        used += len;
        n++;
        sp->read++;
    }
    return (long)n;
}

void key_spill_free(key_spill *sp)
{
    if (sp == NULL)
        return;
    fclose(sp->f);
    free(sp->buf);
    free(sp);
}
