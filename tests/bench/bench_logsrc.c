/*
 * A fast pod-log source for the log streaming benchmark (tests/bench/bench_logs.sh): an HTTP/1.1
 * server on a loopback port that answers GET /api/v1/namespaces/NS/pods/POD/log itself, from
 * memory, at the speed of the socket, and relays every other request (pod lookups, the master's
 * lists and watches) to the Kubernetes simulator. Not a test.
 *
 *   bench_logsrc --upstream PORT
 *
 * Prints "listening on 127.0.0.1:PORT" once it accepts. One process per connection (fork), as
 * socat runs. The log is fixed-width 100-byte lines ("line NNNNNNNNN ..." and a newline):
 * limitBytes=N sends N bytes; tailLines=N sends N lines (the fewer of the two); with neither,
 * 1 000 000 lines.
 * follow=true keeps the connection open after the last byte until the client closes it, as a
 * running container's log does. The body is close-delimited (Connection: close).
 *
 * A relayed request is rewritten to carry "Connection: close", so that the connection holds
 * that one request: a log request can never arrive on a connection relayed to the simulator.
 * It stops on SIGTERM; each child ends when its connection closes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINE        100
#define CHUNK_LINES 10000 /* 1 MB of lines written per write() */
#define HEAD_MAX    16384

static char *chunk;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The value of query parameter `name` in `target` (NULL when absent); copied into out. */
static const char *param(const char *target, const char *name, char *out, size_t cap)
{
    const char *q = strchr(target, '?');
    size_t nl = strlen(name);
    while (q != NULL) {
        q++;
        if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
            size_t i = 0;
            for (q += nl + 1; *q && *q != '&' && *q != ' ' && i + 1 < cap; q++)
                out[i++] = *q;
            out[i] = '\0';
            return out;
        }
        q = strchr(q, '&');
    }
    return NULL;
}

static int is_log_path(const char *target)
{
    size_t n = strcspn(target, "? ");
    return strncmp(target, "/api/v1/namespaces/", 19) == 0 && n > 4 && strncmp(target + n - 4, "/log", 4) == 0 &&
           strstr(target, "/pods/") != NULL;
}

static void serve_log(int fd, const char *target)
{
    char v[32];
    unsigned long long limit = 0, total = 1000000ull * LINE;
    if (param(target, "limitBytes", v, sizeof(v)) != NULL)
        total = limit = strtoull(v, NULL, 10);
    if (param(target, "tailLines", v, sizeof(v)) != NULL && (limit == 0 || strtoull(v, NULL, 10) * LINE < limit))
        total = strtoull(v, NULL, 10) * LINE;
    int follow = param(target, "follow", v, sizeof(v)) != NULL && strcmp(v, "true") == 0;
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
    if (write_all(fd, head, sizeof(head) - 1) != 0)
        return;
    while (total > 0) {
        size_t n = total < (unsigned long long)CHUNK_LINES * LINE ? (size_t)total : (size_t)CHUNK_LINES * LINE;
        if (write_all(fd, chunk, n) != 0)
            return;
        total -= n;
    }
    if (follow && limit == 0) {
        char buf[4096];
        while (read(fd, buf, sizeof(buf)) > 0) {
            /* a running container: nothing more to say until the client leaves */
        }
    }
}

static int connect_upstream(int port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Relays the request (its head rewritten to close the connection after it) and everything after. */
static void relay(int fd, int upstream_port, char *head, size_t head_len, const char *rest, size_t rest_len)
{
    int up = connect_upstream(upstream_port);
    if (up < 0)
        return;
    /* Drop any Connection header, then end the head with our own. */
    char out[HEAD_MAX + 64];
    size_t o = 0;
    char *line = head, *end = head + head_len - 2; /* the last empty line's CRLF stays out */
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t n = nl != NULL ? (size_t)(nl - line) + 1 : (size_t)(end - line);
        if (strncasecmp(line, "connection:", 11) != 0) {
            memcpy(out + o, line, n);
            o += n;
        }
        line += n;
    }
    memcpy(out + o, "Connection: close\r\n\r\n", 21);
    o += 21;
    if (write_all(up, out, o) != 0 || (rest_len > 0 && write_all(up, rest, rest_len) != 0))
        return;
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = up, .events = POLLIN}};
    char buf[65536];
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                if (i == 1)
                    return; /* the simulator closed: the answer is complete */
                shutdown(up, SHUT_WR);
                p[0].fd = -1;
                continue;
            }
            if (write_all(p[1 - i].fd, buf, (size_t)n) != 0)
                return;
        }
    }
}

static void serve(int fd, int upstream_port)
{
    char head[HEAD_MAX + 1];
    size_t len = 0;
    char *end = NULL;
    while (end == NULL) {
        if (len == HEAD_MAX)
            return;
        ssize_t n = read(fd, head + len, HEAD_MAX - len);
        if (n <= 0)
            return;
        len += (size_t)n;
        head[len] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end - head) + 4;
    char target[4096] = "";
    if (strncmp(head, "GET ", 4) == 0)
        sscanf(head + 4, "%4095s", target);
    if (target[0] != '\0' && is_log_path(target))
        serve_log(fd, target);
    else
        relay(fd, upstream_port, head, head_len, head + head_len, len - head_len);
}

int main(int argc, char **argv)
{
    int upstream = 0;
    for (int i = 1; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--upstream") == 0)
            upstream = atoi(argv[i + 1]);
    if (upstream <= 0) {
        fprintf(stderr, "usage: %s --upstream PORT\n", argv[0]);
        return 2;
    }
    chunk = malloc((size_t)CHUNK_LINES * LINE);
    if (chunk == NULL)
        die("malloc");
    for (int i = 0; i < CHUNK_LINES; i++) {
        char *l = chunk + (size_t)i * LINE;
        memset(l, 'x', LINE);
        int n = snprintf(l, LINE, "line %09d ", i);
        l[n] = 'x';
        l[LINE - 1] = '\n';
    }
    signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1024) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
        die("listen");
    printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept");
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(lfd);
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            serve(fd, upstream);
            shutdown(fd, SHUT_WR);
            close(fd);
            _exit(0);
        }
        close(fd);
    }
}
