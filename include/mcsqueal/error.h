/*
 * Error codes shared by every mcsqueal module and the public libraries.
 *
 * Functions return 0 on success or a negative mcsq_err value; a person-readable
 * explanation, where one exists, goes into the caller's errstr buffer.
 */
#ifndef MCSQUEAL_ERROR_H
#define MCSQUEAL_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mcsq_err {
    MCSQ_OK = 0,
    MCSQ_ERR_NOMEM = -1,       /* out of memory */
    MCSQ_ERR_IO = -2,          /* a read, write or open failed */
    MCSQ_ERR_TRUNCATED = -3,   /* input ended inside a record */
    MCSQ_ERR_CORRUPT = -4,     /* input violates its format */
    MCSQ_ERR_CHECKSUM = -5,    /* a checksum did not match */
    MCSQ_ERR_UNSUPPORTED = -6, /* valid input this version cannot handle */
    MCSQ_ERR_CONFIG = -7,      /* configuration invalid */
    MCSQ_ERR_USAGE = -8,       /* bad command line or API use */
    MCSQ_ERR_EOF = -9,         /* clean end of input */
    MCSQ_ERR_INVALID = -10,    /* an argument broke the documented rules */
    MCSQ_ERR_LIMIT = -11,      /* a configured limit was exceeded */
    MCSQ_ERR_CONNECT = -12,    /* a server could not be reached */
    MCSQ_ERR_AGAIN = -13,      /* nothing yet; try again later */
    MCSQ_ERR_INCIDENT = -14,   /* the server logged an incident (lost events) */
} mcsq_err;

/* Returns a static, human-readable description of err; never NULL. */
const char *mcsq_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
