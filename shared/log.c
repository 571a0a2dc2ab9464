#include "shared/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static ipd_log_level_t min_level = IPD_LOG_INFO;
static int log_fd = STDERR_FILENO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ipd_log_set_level(ipd_log_level_t level)
{
    min_level = level;
}

ipd_log_level_t ipd_log_get_level(void)
{
    return min_level;
}

int ipd_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void ipd_log_set_fd(int fd)
{
    log_fd = fd;
}

/* Appends `s` JSON-escaped; stops short of `end` (the caller keeps room for the tail). */
static char *append_escaped(char *p, char *end, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s != '\0' && p + 6 < end; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c == '\n') {
            *p++ = '\\';
            *p++ = 'n';
        } else if (c < 0x20) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 15];
            p += 6;
        } else {
            *p++ = (char)c;
        }
    }
    return p;
}

/* Writes the common head of a line: time, level, component, pid and the message. */
static char *line_head(char *p, char *end, ipd_log_level_t level, const char *component, const char *msg)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    p += snprintf(p, (size_t)(end - p),
                  "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"component\":\"",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                  level_names[level]);
    p = append_escaped(p, end, component);
    p += snprintf(p, (size_t)(end - p), "\",\"pid\":%d,\"msg\":\"", (int)getpid());
    p = append_escaped(p, end, msg);
    *p++ = '"';
    return p;
}

static void emit(const char *line, size_t len)
{
    ssize_t r = write(log_fd, line, len);
    (void)r; /* nowhere left to report a failed log write */
}

void ipd_logv(ipd_log_level_t level, const char *component, const char *fmt, va_list ap)
{
    if (level < min_level)
        return;
    char msg[2048], line[4608];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    char *p = line_head(line, line + sizeof(line) - 4, level, component, msg);
    memcpy(p, "}\n", 2);
    emit(line, (size_t)(p + 2 - line));
}

void ipd_log_json(ipd_log_level_t level, const char *component, const char *msg, const char *key, const char *json,
                  size_t len)
{
    if (level < min_level)
        return;
    size_t cap = 1024 + strlen(key) + len;
    char *line = malloc(cap);
    if (line == NULL)
        return;
    char *p = line_head(line, line + 1000, level, component, msg);
    p += snprintf(p, 1024 - (size_t)(p - line), ",\"%s\":", key);
    memcpy(p, json, len);
    p += len;
    memcpy(p, "}\n", 2);
    emit(line, (size_t)(p + 2 - line));
    free(line);
}

void ipd_log(ipd_log_level_t level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ipd_logv(level, component, fmt, ap);
    va_end(ap);
}
