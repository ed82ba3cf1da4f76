/*
 * The cache key type shared by every stage: a key as the tailer extracted it
 * from an annotation, as a bus message carries it and as the router deletes
 * it, with whether this region must also clear its remote marker.
 */
#ifndef MCSQUEAL_KEY_H
#define MCSQUEAL_KEY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One cache key of a transaction. */
typedef struct mcsq_key {
    const char *data; /* (ref) not NUL-terminated */
    uint32_t len;
    uint32_t marker; /* 1: this region must clear the key's remote marker */
} mcsq_key;

#ifdef __cplusplus
}
#endif
#endif
