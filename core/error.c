/*
 * Descriptions of the project-wide error codes (include/mcsqueal/error.h).
 */
#include "mcsqueal/error.h"

const char *mcsq_strerror(int err)
{
    switch ((mcsq_err)err) {
    case MCSQ_OK:
        return "success";
    case MCSQ_ERR_NOMEM:
        return "out of memory";
    case MCSQ_ERR_IO:
        return "input/output error";
    case MCSQ_ERR_TRUNCATED:
        return "input truncated";
    case MCSQ_ERR_CORRUPT:
        return "input corrupt";
    case MCSQ_ERR_CHECKSUM:
        return "checksum mismatch";
    case MCSQ_ERR_UNSUPPORTED:
        return "unsupported input";
    case MCSQ_ERR_CONFIG:
        return "invalid configuration";
    case MCSQ_ERR_USAGE:
        return "usage error";
    case MCSQ_ERR_EOF:
        return "end of input";
    case MCSQ_ERR_INVALID:
        return "invalid argument";
    case MCSQ_ERR_LIMIT:
        return "limit exceeded";
    case MCSQ_ERR_CONNECT:
        return "connection failed";
    case MCSQ_ERR_AGAIN:
        return "try again";
    case MCSQ_ERR_INCIDENT:
        return "server incident";
    }
    return "unknown error";
}

#include "core/errstr.h"

#include <stdarg.h>
#include <stdio.h>

int errstr_set(char *errstr, size_t errstr_size, int err, const char *fmt, ...)
{
    if (errstr != NULL && errstr_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
