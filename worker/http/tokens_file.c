#include "worker/http/tokens_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/error.h"
#include "shared/log.h"

int ipd_http_tokens_load(const char *path, ipd_http_tokens_t *out, char *err, size_t errcap)
{
    char sub[256];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        snprintf(err, errcap, "%s: %s", path, strerror(e));
        if (fd >= 0)
            close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)IPD_HTTP_TOKENS_FILE_MAX) {
        snprintf(err, errcap, "%s: not a regular file of at most %u bytes", path, IPD_HTTP_TOKENS_FILE_MAX);
        close(fd);
        return IPD_EINVAL;
    }
    if (st.st_mode & 007)
        ipd_warn("worker", "%s: tokens file is readable by others; chmod o-rwx it", path);
    char *text = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    ssize_t r = 0;
    while (text != NULL && got < (size_t)st.st_size &&
           ((r = read(fd, text + got, (size_t)st.st_size - got)) > 0 || (r < 0 && errno == EINTR)))
        got += r > 0 ? (size_t)r : 0;
    int e = r < 0 ? errno : 0;
    close(fd);
    if (text == NULL || e != 0) {
        snprintf(err, errcap, "%s: %s", path, text == NULL ? "out of memory" : strerror(e));
        free(text);
        return text == NULL ? -ENOMEM : -e;
    }
    int rc = ipd_http_tokens_parse(text, got, out, sub, sizeof(sub));
    explicit_bzero(text, got);
    free(text);
    if (rc != 0)
        snprintf(err, errcap, "%s: %s", path, sub);
    return rc;
}
