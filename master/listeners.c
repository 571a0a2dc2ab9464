#include "master/listeners.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKLOG 4096

static int fail(char *err, size_t errlen, const ipd_config_hostport_t *a, const char *call, int e)
{
    return ipd_errmsg(err, errlen, -e, "listen %s:%u: %s: %s", a->host, (unsigned)a->port, call, strerror(e));
}

/* Opens one reuseport socket on `a`; with port 0 updates `a->port` to what the kernel chose. */
static int open_one(ipd_config_hostport_t *a, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)a->port);
    int gai = getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "listen %s:%u: getaddrinfo: %s", a->host, (unsigned)a->port, gai_strerror(gai));
        return -EINVAL;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, rc = 0;
    if (fd < 0) {
        rc = fail(err, errlen, a, "socket", errno);
    } else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
               setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
               (res->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)) {
        rc = fail(err, errlen, a, "setsockopt", errno);
    } else if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        rc = fail(err, errlen, a, "bind", errno);
    } else if (listen(fd, BACKLOG) != 0) {
        rc = fail(err, errlen, a, "listen", errno);
    } else if (a->port == 0) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
            rc = fail(err, errlen, a, "getsockname", errno);
        else
            a->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    freeaddrinfo(res);
    if (rc != 0) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    return fd;
}

/*
 * SO_REUSEPORT lets any process of the same user bind the same address next to ours, and a
 * second daemon would then take half of the connections with a table of its own. A socket bound
 * without SO_REUSEPORT is refused while any socket listens there: try one before the first
 * socket of a new address, so that a second daemon fails at start with a clear message.
 * (Two daemons starting in the same instant can still both pass.)
 */
static int probe_free(const ipd_config_hostport_t *a, char *err, size_t errlen)
{
    if (a->port == 0)
        return 0; /* the kernel picks a free port */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)a->port);
    if (getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &res) != 0)
        return 0; /* open_one reports it */
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = 0;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (res->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 && errno == EADDRINUSE) {
            snprintf(err, errlen, "listen %s:%u: another process listens on this address (another imgpulld?): bind: %s",
                     a->host, (unsigned)a->port, strerror(EADDRINUSE));
            rc = -EADDRINUSE;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
}

/* Index of the address of `old` that `a` asks for again, or SIZE_MAX. */
static size_t find_asked(const ipd_listeners_t *old, const ipd_config_hostport_t *a)
{
    for (size_t o = 0; o < old->naddr; o++)
        if (strcmp(old->asked[o].host, a->host) == 0 && old->asked[o].port == a->port)
            return o;
    return SIZE_MAX;
}

/* Builds the fd array for `cfg`, taking over sockets of `old` (may be empty) where address and
 * slot match. On failure closes only what it opened itself: the rest still belongs to `old`. */
static int build(const ipd_listeners_t *old, ipd_listeners_t *out, const ipd_config_t *cfg, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->naddr = cfg->listen_count;
    out->nslots = cfg->workers;
    size_t n = out->naddr * (size_t)out->nslots;
    out->fds = malloc(n * sizeof(int));
    unsigned char *opened = calloc(n ? n : 1, 1);
    if (out->fds == NULL || opened == NULL) {
        free(out->fds);
        free(opened);
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        out->fds[i] = -1;
    for (size_t a = 0; a < out->naddr && rc == 0; a++) {
        out->asked[a] = out->addr[a] = cfg->listen[a];
        size_t match = find_asked(old, &cfg->listen[a]);
        if (match != SIZE_MAX)
            out->addr[a] = old->addr[match];
        else
            rc = probe_free(&cfg->listen[a], err, errlen);
        for (int s = 0; s < out->nslots && rc == 0; s++) {
            size_t i = (size_t)s * out->naddr + a;
            if (match != SIZE_MAX && s < old->nslots) {
                out->fds[i] = old->fds[(size_t)s * old->naddr + match];
            } else if ((rc = open_one(&out->addr[a], err, errlen)) >= 0) {
                out->fds[i] = rc;
                opened[i] = 1;
                rc = 0;
            }
        }
    }
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            if (opened[i])
                close(out->fds[i]);
        free(out->fds);
        out->fds = NULL;
    }
    free(opened);
    return rc;
}

int ipd_listeners_open(ipd_listeners_t *l, const ipd_config_t *cfg, char *err, size_t errlen)
{
    ipd_listeners_t none;
    memset(&none, 0, sizeof(none));
    return build(&none, l, cfg, err, errlen);
}

int ipd_listeners_reconcile(ipd_listeners_t *l, const ipd_config_t *cfg, char *err, size_t errlen)
{
    ipd_listeners_t next;
    int rc = build(l, &next, cfg, err, errlen);
    if (rc != 0)
        return rc;
    /* Close the old descriptors that the new set did not take over. */
    for (size_t i = 0; i < l->naddr * (size_t)l->nslots; i++) {
        int kept = 0;
        for (size_t j = 0; j < next.naddr * (size_t)next.nslots && !kept; j++)
            kept = next.fds[j] == l->fds[i];
        if (!kept)
            close(l->fds[i]);
    }
    free(l->fds);
    *l = next;
    return 0;
}

const int *ipd_listeners_slot(const ipd_listeners_t *l, int slot)
{
    return l->fds + (size_t)slot * l->naddr;
}

void ipd_listeners_close(ipd_listeners_t *l)
{
    if (l->fds != NULL)
        close_all(l->fds, l->naddr * (size_t)l->nslots);
    memset(l, 0, sizeof(*l));
}
