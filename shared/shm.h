/*
 * The POSIX shared-memory objects of an instance (the job table, the stats segment): how they
 * are named, created, found, mapped and removed. One place decides it for every reader and
 * writer: the master, the workers, and the tests and tools that read a running daemon's table.
 *
 * Names. `/dev/shm` is writable by every local user, so a fixed name is one anyone can create
 * first. An object is created under a name with an unpredictable part,
 * `/imgpulld.<instance>@<kind>-<16 hex digits>` (`kind` is "table" or "stats"), with
 * O_CREAT | O_EXCL | O_NOFOLLOW, and is found again by listing `/dev/shm` for the names of that
 * form that this process's effective user owns. In the sticky `/dev/shm` only the owner (or
 * root) can create an object owned by that user, and only the owner can remove it: the owner
 * is the publication nobody else can forge. Objects of that form owned by anyone else, or
 * writable by group or others, are neither used nor removed (a warning names them), so another
 * user cannot stop the daemon from starting nor feed it a table. An instance name cannot hold
 * '@', so the names of two instances never overlap.
 *
 * Errors: 0 or a negative code; -errno for a failed system call (the log line names it).
 */
#ifndef IPD_SHARED_SHM_H
#define IPD_SHARED_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** The kinds of object an instance has. */
#define IPD_SHM_TABLE "table"
#define IPD_SHM_STATS "stats"

/** Room for an object name: "/imgpulld." + instance (64) + "@stats-" + 16 hex digits + NUL. */
#define IPD_SHM_NAME_SIZE 112

/** A mapping of a shared-memory object. */
typedef struct ipd_shm {
    /** the mapping (MAP_SHARED), `size` bytes; NULL when not mapped */
    void *base;
    /** the object's size, bytes */
    size_t size;
    /** the object's name, "/imgpulld.<instance>@<kind>-<hex>" */
    char name[IPD_SHM_NAME_SIZE];
} ipd_shm_t;

/**
 * Writes "/imgpulld.<instance>@<kind>-<tag as 16 hex digits>" into `buf` (caller's, `cap`
 * bytes). Returns 0, IPD_EINVAL for a bad instance name, IPD_ETOOBIG if `buf` is too small.
 */
int ipd_shm_name(const char *instance, const char *kind, uint64_t tag, char *buf, size_t cap);

/**
 * Creates a new object of `kind` for `instance` under a fresh random name (retrying on the
 * unlikely clash), `size` zeroed bytes, mode 0600, or 0640 owned by `group` unless it is
 * (gid_t)-1, and maps it read-write into `*out` (caller's; ipd_shm_unmap()). Other objects of
 * the kind are left alone (ipd_shm_unlink_all() first to replace them).
 * Returns 0, IPD_EINVAL or -errno (getrandom, shm_open, fchown, fchmod, ftruncate, mmap).
 */
int ipd_shm_create(const char *instance, const char *kind, size_t size, gid_t group, ipd_shm_t *out);

/**
 * Maps the existing object `name` (as from ipd_shm_find()) into `*out` (caller's), read-write
 * when `writable`, else read-only, with the object's whole size. Refuses, with -EPERM and a
 * log line, an object that is not a regular file owned by this process's effective user or
 * that group or others may write; with IPD_ECORRUPT one smaller than `min_size`. When writable
 * and `group` is not (gid_t)-2, first sets the mode and group as ipd_shm_create() does.
 * Returns 0, -EPERM, IPD_ECORRUPT or -errno (-ENOENT when it is gone).
 */
int ipd_shm_open(const char *name, int writable, gid_t group, size_t min_size, ipd_shm_t *out);

/** Unmaps `m` (its object stays) and clears it; a cleared or zeroed `m` is fine. */
void ipd_shm_unmap(ipd_shm_t *m);

/**
 * Bytes /dev/shm can still give to objects, plus those object `name` (borrowed; NULL or a name
 * that does not exist for none) already holds: how large that object may grow by writing its
 * pages. Sets `*avail`; returns 0 or -errno (statvfs failed).
 */
int ipd_shm_room(const char *name, uint64_t *avail);

/**
 * Lists this user's objects of `kind` for `instance`, newest first (by change time), into
 * `names` (caller's, `cap` entries). Returns how many there are (possibly more than `cap`),
 * IPD_EINVAL, or -errno from opendir. Objects of the form owned by another user, or writable
 * by group or others, are left out and logged as a warning.
 */
int ipd_shm_find(const char *instance, const char *kind, char (*names)[IPD_SHM_NAME_SIZE], size_t cap);

/** Removes every object of `kind` for `instance` that ipd_shm_find() would list (mappings
 *  stay valid). Returns how many it removed, IPD_EINVAL, or -errno. */
int ipd_shm_unlink_all(const char *instance, const char *kind);

#endif
