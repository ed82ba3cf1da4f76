/*
 * Key spill: where the keys of one very large transaction go once they
 * pass mcsqueal.txn_memory_max, so that memory stays bounded. An unlinked
 * temporary file under state_dir (gone with the process), written
 * sequentially as records [u32 length][u8 marker][key bytes], then read
 * back in chunks by the publisher.
 */
#ifndef MCSQ_TAILER_KEY_SPILL_H
#define MCSQ_TAILER_KEY_SPILL_H

#include "mcsqueal/key.h"

#include <stdint.h>
#include <stdio.h>

typedef struct key_spill {
    FILE *f;
    uint64_t nkeys; /* keys written */
    uint64_t nmarkers;
    uint64_t read; /* keys read back */
    char *buf;     /* key bytes of the last chunk read */
    size_t buf_cap;
} key_spill;

/* Creates an unlinked spill file in dir. Returns NULL (errno set) on failure. */
key_spill *key_spill_new(const char *dir);

/* Appends keys. Returns 0 or MCSQ_ERR_IO. */
int key_spill_write(key_spill *sp, const mcsq_key *keys, size_t n);

/* Switches from writing to reading (once, after the last write). Returns 0
 * or MCSQ_ERR_IO. */
int key_spill_rewind(key_spill *sp);

/* Reads up to max keys into out (their bytes are valid until the next
 * call). Returns how many (0 at the end), or -1 on a read error. */
long key_spill_read(key_spill *sp, mcsq_key *out, size_t max);

void key_spill_free(key_spill *sp);

#endif
