#include "proto/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ipd_strerror(int err)
{
    switch (err) {
    case IPD_EINVAL:
        return "invalid input";
    case IPD_ETOOBIG:
        return "input exceeds a limit";
    case IPD_EFULL:
        return "table full of active jobs";
    case IPD_ENOTFOUND:
        return "not found";
    case IPD_EEXIST:
        return "already exists";
    case IPD_EBUSY:
        return "record busy: no consistent copy within the retry budget";
    case IPD_EOVERRUN:
        return "reader overrun: resync required";
    case IPD_ECORRUPT:
        return "shared memory segment failed validation";
    case IPD_ESTATE:
        return "operation not valid in the current state";
    case IPD_EREMOTE:
        return "remote peer answered with an error";
    default:
        break;
    }
    if (err < 0 && err > IPD_EBASE)
        return strerror(-err);
    return "unknown error";
}

int ipd_errmsg(char *msg, size_t cap, int code, const char *fmt, ...)
{
    if (cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}
