#include "common/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t ipd_test_spawn_server(const char *script, const char *const *args, int timeout_ms, int *port, char *said,
                            size_t saidlen)
{
    const char *src = getenv("IPD_SOURCE_DIR");
    char path[4096];
    const char *argv[32];
    size_t n = 0;
    said[0] = '\0';
    if (src == NULL) {
        snprintf(said, saidlen, "IPD_SOURCE_DIR must point at the source tree (ctest sets it)");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", src, script);
    argv[n++] = "/usr/bin/python3";
    argv[n++] = path;
    argv[n++] = "--port";
    argv[n++] = "0";
    for (size_t i = 0; args != NULL && args[i] != NULL && n < sizeof(argv) / sizeof(argv[0]) - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(said, saidlen, "pipe2 failed");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        snprintf(said, saidlen, "fork failed");
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execv(argv[0], (char **)argv);
        _exit(127);
    }
    close(fds[1]);
    char line[1024] = {0};
    size_t len = 0;
    struct pollfd p = {.fd = fds[0], .events = POLLIN};
    while (len < sizeof(line) - 1 && strchr(line, '\n') == NULL && poll(&p, 1, timeout_ms) == 1) {
        ssize_t r = read(fds[0], line + len, sizeof(line) - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fds[0]);
    snprintf(said, saidlen, "%s", line);
    const char *at = strstr(line, "listening on 127.0.0.1:");
    if (at == NULL || sscanf(at, "listening on 127.0.0.1:%d", port) != 1) {
        kill(pid, SIGKILL); /* nothing outlives a failed start */
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}
