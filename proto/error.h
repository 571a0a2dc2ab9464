/*
 * Error codes shared by every imgpulld module.
 *
 * Functions return 0 (or a count) on success and a negative code on failure: either -errno
 * for a failed system call, or one of the IPD_E* codes below, which sit far below any errno.
 * ipd_strerror() names both kinds.
 */
#ifndef IPD_PROTO_ERROR_H
#define IPD_PROTO_ERROR_H

#include <stddef.h>

enum {
    IPD_EBASE = -10000,
    /** Input is malformed (bad JSON, bad msgpack, bad field value). */
    IPD_EINVAL = IPD_EBASE - 1,
    /** Input exceeds a configured or built-in limit (size, depth, count). */
    IPD_ETOOBIG = IPD_EBASE - 2,
    /** The table has no free slot and nothing may be evicted. */
    IPD_EFULL = IPD_EBASE - 3,
    /** The id is not in the table. */
    IPD_ENOTFOUND = IPD_EBASE - 4,
    /** An object with this id already exists. */
    IPD_EEXIST = IPD_EBASE - 5,
    /** A reader could not get a consistent copy within its retry budget. */
    IPD_EBUSY = IPD_EBASE - 6,
    /** A ring reader fell more than the ring's length behind; it must resync. */
    IPD_EOVERRUN = IPD_EBASE - 7,
    /** A shared-memory segment failed validation (magic, version, sizes, checksums). */
    IPD_ECORRUPT = IPD_EBASE - 8,
    /** The operation does not apply in the object's current state. */
    IPD_ESTATE = IPD_EBASE - 9,
    /** A remote peer (apiserver, redis) answered with an error. */
    IPD_EREMOTE = IPD_EBASE - 10,
    IPD_ELAST = IPD_EBASE - 11,
};

/** Returns a static description of a negative error code (IPD_E* or -errno). Never NULL. */
const char *ipd_strerror(int err);

/**
 * Writes the message `fmt`, ... into `msg` (caller's, `cap` bytes; nothing when `cap` is 0) and
 * returns `code`: the one way a function that refuses its input says why, as in
 * `return ipd_errmsg(why, cap, IPD_EINVAL, "port must be a number");`.
 */
int ipd_errmsg(char *msg, size_t cap, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** On functions whose result must be looked at: an error code, or something the caller owns. */
#define IPD_MUST_USE __attribute__((warn_unused_result))

#endif
