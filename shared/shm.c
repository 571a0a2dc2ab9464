#include "shared/shm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "proto/error.h"
#include "shared/log.h"
#include "shared/table.h"

#define SHM_DIR    "/dev/shm"
#define TAG_DIGITS 16

/* Logs "<call> <name>: <strerror>" and returns -errno; closes `fd` when it is open. */
static int fail(const char *call, const char *name, int fd)
{
    int err = -errno;
    ipd_error("shm", "%s %s: %s", call, name, strerror(errno));
    if (fd >= 0)
        close(fd);
    return err;
}

int ipd_shm_name(const char *instance, const char *kind, uint64_t tag, char *buf, size_t cap)
{
    if (ipd_table_check_instance(instance) != 0 || kind == NULL || kind[0] == '\0')
        return IPD_EINVAL;
    int n = snprintf(buf, cap, "/imgpulld.%s@%s-%016" PRIx64, instance, kind, tag);
    return n < 0 || (size_t)n >= cap ? IPD_ETOOBIG : 0;
}

/* A regular file of this user that no one else may write: the only kind of object used. */
static int trusted(const struct stat *st)
{
    return S_ISREG(st->st_mode) && st->st_uid == geteuid() && (st->st_mode & 0022) == 0;
}

static int set_access(int fd, const char *name, gid_t group)
{
    if (group != (gid_t)-1 && fchown(fd, (uid_t)-1, group) != 0)
        return fail("fchown", name, -1);
    if (fchmod(fd, group != (gid_t)-1 ? 0640 : 0600) != 0)
        return fail("fchmod", name, -1);
    return 0;
}

static int map(int fd, const char *name, size_t size, int writable, ipd_shm_t *out)
{
    void *p = mmap(NULL, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return fail("mmap", name, -1);
    out->base = p;
    out->size = size;
    snprintf(out->name, sizeof(out->name), "%s", name);
    return 0;
}

int ipd_shm_create(const char *instance, const char *kind, size_t size, gid_t group, ipd_shm_t *out)
{
    char name[IPD_SHM_NAME_SIZE];
    uint64_t tag;
    int fd = -1, rc;

    memset(out, 0, sizeof(*out));
    if (size == 0)
        return IPD_EINVAL;
    /* A clash with an existing name (another user guessing, or a stale object) draws again. */
    for (int attempt = 0; fd < 0 && attempt < 8; attempt++) {
        if (getrandom(&tag, sizeof(tag), 0) != (ssize_t)sizeof(tag))
            return fail("getrandom", kind, -1);
        if ((rc = ipd_shm_name(instance, kind, tag, name, sizeof(name))) != 0)
            return rc;
        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            return fail("shm_open", name, -1);
    }
    if (fd < 0)
        return fail("shm_open", name, -1);
    if ((rc = set_access(fd, name, group)) == 0 && ftruncate(fd, (off_t)size) != 0)
        rc = fail("ftruncate", name, -1);
    if (rc == 0)
        rc = map(fd, name, size, 1, out);
    close(fd);
    if (rc != 0)
        shm_unlink(name);
    return rc;
}

int ipd_shm_open(const char *name, int writable, gid_t group, size_t min_size, ipd_shm_t *out)
{
    struct stat st;
    int rc;

    memset(out, 0, sizeof(*out));
    int fd = shm_open(name, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        if (errno != ENOENT)
            ipd_error("shm", "shm_open %s: %s", name, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) != 0)
        return fail("fstat", name, fd);
    if (!trusted(&st)) {
        ipd_error("shm", "%s%s is not this daemon's (owner uid %u, mode %04o): it is neither used nor removed", SHM_DIR,
                  name, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        close(fd);
        return -EPERM;
    }
    if ((size_t)st.st_size < min_size || st.st_size == 0) {
        ipd_error("shm", "%s: %lld bytes, fewer than the %zu expected", name, (long long)st.st_size, min_size);
        close(fd);
        return IPD_ECORRUPT;
    }
    rc = writable && group != (gid_t)-2 ? set_access(fd, name, group) : 0;
    if (rc == 0)
        rc = map(fd, name, (size_t)st.st_size, writable, out);
    close(fd);
    return rc;
}

int ipd_shm_room(const char *name, uint64_t *avail)
{
    struct statvfs fs;
    struct stat st;
    char path[sizeof(SHM_DIR) + IPD_SHM_NAME_SIZE];

    if (statvfs(SHM_DIR, &fs) != 0)
        return -errno;
    *avail = (uint64_t)fs.f_bavail * fs.f_frsize;
    /* A name starts with '/': SHM_DIR + name is its path. */
    if (name != NULL && snprintf(path, sizeof(path), "%s%s", SHM_DIR, name) < (int)sizeof(path) && stat(path, &st) == 0)
        *avail += (uint64_t)st.st_blocks * 512;
    return 0;
}

void ipd_shm_unmap(ipd_shm_t *m)
{
    if (m->base != NULL)
        munmap(m->base, m->size);
    memset(m, 0, sizeof(*m));
}

typedef struct found {
    char name[IPD_SHM_NAME_SIZE];
    struct timespec ctime;
} found_t;

static int newest_first(const void *a, const void *b)
{
    const found_t *x = a, *y = b;
    if (x->ctime.tv_sec != y->ctime.tv_sec)
        return x->ctime.tv_sec < y->ctime.tv_sec ? 1 : -1;
    if (x->ctime.tv_nsec != y->ctime.tv_nsec)
        return x->ctime.tv_nsec < y->ctime.tv_nsec ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* True if `entry` (a /dev/shm file name) is "<prefix>" followed by exactly 16 lower-case hex digits. */
static int matches(const char *entry, const char *prefix, size_t plen)
{
    if (strncmp(entry, prefix, plen) != 0 || strlen(entry + plen) != TAG_DIGITS)
        return 0;
    for (const char *s = entry + plen; *s != '\0'; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

int ipd_shm_find(const char *instance, const char *kind, char (*names)[IPD_SHM_NAME_SIZE], size_t cap)
{
    char prefix[IPD_SHM_NAME_SIZE];
    found_t *all = NULL;
    size_t n = 0, room = 0;
    int rc = ipd_shm_name(instance, kind, 0, prefix, sizeof(prefix));
    if (rc != 0)
        return rc;
    size_t plen = strlen(prefix) - TAG_DIGITS - 1; /* without the leading '/' and the tag */
    memmove(prefix, prefix + 1, plen + 1);
    prefix[plen] = '\0';

    DIR *dir = opendir(SHM_DIR);
    if (dir == NULL)
        return fail("opendir", SHM_DIR, -1);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        struct stat st;
        if (!matches(e->d_name, prefix, plen) || fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (!trusted(&st)) {
            ipd_warn("shm", "%s/%s is not this daemon's (owner uid %u, mode %04o): it is neither used nor removed",
                     SHM_DIR, e->d_name, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
            continue;
        }
        if (n == room) {
            found_t *grown = realloc(all, (room = room ? 2 * room : 4) * sizeof(*all));
            if (grown == NULL) {
                closedir(dir);
                free(all);
                return -ENOMEM;
            }
            all = grown;
        }
        size_t len = strlen(e->d_name); /* < IPD_SHM_NAME_SIZE - 1: it matched the pattern */
        all[n].name[0] = '/';
        memcpy(all[n].name + 1, e->d_name, len + 1);
        all[n++].ctime = st.st_ctim;
    }
    closedir(dir);
    if (n > 1)
        qsort(all, n, sizeof(*all), newest_first);
    for (size_t i = 0; i < n && i < cap; i++)
        memcpy(names[i], all[i].name, IPD_SHM_NAME_SIZE);
    free(all);
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

int ipd_shm_unlink_all(const char *instance, const char *kind)
{
    char names[16][IPD_SHM_NAME_SIZE];
    int removed = 0, n;
    /* More than 16 of them only after many crashes in a row: take them 16 at a time. */
    while ((n = ipd_shm_find(instance, kind, names, 16)) > 0) {
        int now = 0;
        for (int i = 0; i < n && i < 16; i++)
            if (shm_unlink(names[i]) == 0)
                now++;
            else if (errno != ENOENT)
                return fail("shm_unlink", names[i], -1);
        removed += now;
        if (now == 0)
            break;
    }
    return n < 0 ? n : removed;
}
