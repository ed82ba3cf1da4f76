/*
 * Filling a caller's error buffer (the librdkafka errstr convention).
 */
#ifndef MCSQ_CORE_ERRSTR_H
#define MCSQ_CORE_ERRSTR_H

#include <stddef.h>

/* Formats a message into errstr (when errstr is not NULL) and returns err,
 * so that callers can write `return errstr_set(errstr, n, MCSQ_ERR_X, ...)`. */
int errstr_set(char *errstr, size_t errstr_size, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
