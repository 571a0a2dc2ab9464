/*
 * RESP text for tests of hiredis readers (tests/unit/test_redis_*.c), and a deep comparison of
 * replies against those of hiredis's own reader.
 */
#ifndef IPD_TESTS_UNIT_REDIS_RESP_H
#define IPD_TESTS_UNIT_REDIS_RESP_H

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * The fake Redis's listening socket: `path` ("redis.sock", `path_cap` bytes) in a new directory
 * `dir` made from `pattern` (ending in XXXXXX, `dir_cap` bytes). Returns the non-blocking
 * listening fd; fails the test when it cannot be had. resp_unlisten() undoes it.
 */
static inline int resp_listen(char *dir, size_t dir_cap, char *path, size_t path_cap, const char *pattern)
{
    snprintf(dir, dir_cap, "%s", pattern);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, path_cap, "%s/redis.sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    return fd;
}

static inline void resp_unlisten(int fd, const char *dir, const char *path)
{
    close(fd);
    unlink(path);
    rmdir(dir);
}

typedef struct text {
    char *data;
    size_t len, cap;
} text_t;

/* Bytes that may hold a NUL. */
static inline void raw(text_t *t, const char *data, size_t len)
{
    size_t need = t->len + len + 1;
    if (need > t->cap) {
        char *grown = realloc(t->data, 2 * need);
        if (grown == NULL)
            abort();
        t->data = grown;
        t->cap = 2 * need;
    }
    memcpy(t->data + t->len, data, len);
    t->len += len;
    t->data[t->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static inline void put(text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    size_t len = n > 0 ? (size_t)n : 0;
    char *s = malloc(len + 1);
    cr_assert_not_null(s);
    va_start(ap, fmt);
    vsnprintf(s, len + 1, fmt, ap);
    va_end(ap);
    raw(t, s, len);
    free(s);
}

static inline void bulk(text_t *t, const char *s)
{
    put(t, "$%zu\r\n%s\r\n", strlen(s), s);
}

/* An XREAD reply as the link reads it: [[stream, [[id, [n, node, s, seq, j, job, r, record]], ...]]]. */
static inline void xread_reply(text_t *t, size_t entries, size_t record_len)
{
    char *record = malloc(record_len + 1);
    cr_assert_not_null(record);
    for (size_t i = 0; i < record_len; i++)
        record[i] = (char)('a' + i % 26);
    record[record_len] = '\0';
    put(t, "*1\r\n*2\r\n");
    bulk(t, "{bench}:stream");
    put(t, "*%zu\r\n", entries);
    for (size_t i = 0; i < entries; i++) {
        char id[48], seq[24], job[32];
        snprintf(id, sizeof(id), "1733300000000-%zu", i);
        snprintf(seq, sizeof(seq), "%zu", i + 1);
        snprintf(job, sizeof(job), "job-%08zx", i % 97);
        put(t, "*2\r\n");
        bulk(t, id);
        put(t, "*8\r\n");
        bulk(t, "n");
        bulk(t, "node-1");
        bulk(t, "s");
        bulk(t, seq);
        bulk(t, "j");
        bulk(t, job);
        bulk(t, "r");
        bulk(t, record);
    }
    free(record);
}

/* Every kind of element hiredis 0.14 makes, nested up to its depth of 7 and empty. */
static inline void mixed_reply(text_t *t)
{
    static const char text[] =
        "*9\r\n:42\r\n:-9223372036854775807\r\n$-1\r\n*-1\r\n+OK\r\n-ERR no such key\r\n*0\r\n"
        "$0\r\n\r\n*2\r\n*2\r\n*2\r\n*2\r\n*2\r\n*2\r\n$3\r\nbin\r\n$4\r\na\0\r\n\r\n:7\r\n*1\r\n"
        "$-1\r\n:1\r\n:2\r\n:3\r\n";
    raw(t, text, sizeof(text) - 1);
}

/* ---- readers ---- */

static inline redisReply *parse_default(const text_t *t)
{
    redisReader *r = redisReaderCreate();
    cr_assert_not_null(r);
    cr_assert_eq(redisReaderFeed(r, t->data, t->len), REDIS_OK);
    void *reply = NULL;
    cr_assert_eq(redisReaderGetReply(r, &reply), REDIS_OK);
    cr_assert_not_null(reply, "the expected reply did not parse");
    redisReaderFree(r);
    return reply;
}

/* The next reply of `r`, NULL when none is whole yet; fails the test on a reader error. */
static inline redisReply *next_reply(redisReader *r)
{
    void *reply = NULL;
    cr_assert_eq(redisReaderGetReply(r, &reply), REDIS_OK, "reader error: %s", r->errstr);
    return reply;
}

/* `got` equals `want` object by object, strings NUL-terminated; `at` names the place in messages. */
static inline void same_reply(const redisReply *got, const redisReply *want, const char *at)
{
    cr_assert_not_null(got, "%s: missing", at);
    cr_assert_eq(got->type, want->type, "%s: type %d, want %d", at, got->type, want->type);
    switch (want->type) {
    case REDIS_REPLY_INTEGER:
        cr_assert_eq(got->integer, want->integer, "%s", at);
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        cr_assert_eq(got->len, want->len, "%s: len %zu, want %zu", at, got->len, want->len);
        cr_assert(memcmp(got->str, want->str, want->len) == 0, "%s: bytes differ", at);
        cr_assert_eq(got->str[got->len], '\0', "%s: not NUL-terminated", at);
        break;
    case REDIS_REPLY_ARRAY:
        cr_assert_eq(got->elements, want->elements, "%s: %zu elements, want %zu", at, got->elements, want->elements);
        for (size_t i = 0; i < want->elements; i++) {
            char sub[256];
            snprintf(sub, sizeof(sub), "%s[%zu]", at, i);
            same_reply(got->element[i], want->element[i], sub);
        }
        break;
    default:
        break;
    }
}

#endif
