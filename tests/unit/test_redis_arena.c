/*
 * master/redis_arena.c: replies built in the arena read exactly as hiredis's own reader builds
 * them (compared object by object with a reader of hiredis's default functions), whatever the
 * shape, the size or the way the bytes arrive, and every one is freed (the ASan build fails a
 * leak).
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/redis_arena.h"
#include "proto/error.h"
#include "redis_resp.h"

static redisReader *arena_reader(ipd_redis_arena_t *a)
{
    redisReader *r = redisReaderCreate();
    cr_assert_not_null(r);
    ipd_redis_arena_attach(a, r);
    return r;
}

/* Frees a reply as hiredis does: through the reader's functions, the root only. */
static void give_back(redisReader *r, redisReply *reply)
{
    r->fn->freeObject(reply);
}

/* Feeds `t` to `r`, reads one reply, checks it against `want` and frees it as hiredis does. */
static void read_one(redisReader *r, const text_t *t, const redisReply *want, const char *at)
{
    cr_assert_eq(redisReaderFeed(r, t->data, t->len), REDIS_OK);
    redisReply *got = next_reply(r);
    same_reply(got, want, at);
    give_back(r, got);
}

static ipd_redis_arena_stats_t stats_of(const ipd_redis_arena_t *a)
{
    ipd_redis_arena_stats_t s;
    ipd_redis_arena_stats(a, &s);
    return s;
}

/* ---- tests ---- */

Test(redis_arena, an_xread_reply_of_many_entries_reads_as_hiredis_builds_it)
{
    text_t t = {0};
    xread_reply(&t, 1000, 537);
    redisReply *want = parse_default(&t);
    ipd_redis_arena_t a;
    ipd_redis_arena_init(&a, IPD_REDIS_ARENA_LIMIT);
    redisReader *r = arena_reader(&a);
    /* Three in a row: the first spills into chunks, the block then holds the next ones alone. */
    for (int round = 0; round < 3; round++)
        read_one(r, &t, want, "reply");
    ipd_redis_arena_stats_t s = stats_of(&a);
    cr_assert_eq(s.replies, 3);
    cr_assert_eq(s.heap_replies, 0);
    cr_assert_eq(s.spilled, 1, "only the first reply needed chunks, spilled %llu", (unsigned long long)s.spilled);
    cr_assert_gt(s.block, 1000 * 537);
    cr_assert_leq(s.block, IPD_REDIS_ARENA_LIMIT);
    redisReaderFree(r);
    ipd_redis_arena_dispose(&a);
    freeReplyObject(want);
    free(t.data);
}

Test(redis_arena, nested_arrays_nil_integer_status_and_error_elements_read_as_hiredis_builds_them)
{
    static const char *const alone[] = {":12345\r\n",        "$-1\r\n", "*-1\r\n",   "+PONG\r\n",
                                        "-WRONGTYPE no\r\n", "*0\r\n",  "$0\r\n\r\n"};
    ipd_redis_arena_t a;
    ipd_redis_arena_init(&a, IPD_REDIS_ARENA_LIMIT);
    redisReader *r = arena_reader(&a);
    for (size_t i = 0; i <= sizeof(alone) / sizeof(alone[0]); i++) {
        text_t t = {0};
        if (i < sizeof(alone) / sizeof(alone[0]))
            put(&t, "%s", alone[i]);
        else
            mixed_reply(&t);
        redisReply *want = parse_default(&t);
        read_one(r, &t, want, "reply");
        freeReplyObject(want);
        free(t.data);
    }
    cr_assert_eq(stats_of(&a).replies, sizeof(alone) / sizeof(alone[0]) + 1);
    redisReaderFree(r);
    ipd_redis_arena_dispose(&a);
}

Test(redis_arena, a_reply_above_the_limit_is_read_whole_and_the_block_stays_within_the_limit)
{
    enum { LIMIT = 16 << 10 };
    text_t big = {0}, small = {0};
    xread_reply(&big, 400, 537); /* about 480 KB in the arena */
    xread_reply(&small, 3, 20);
    redisReply *want_big = parse_default(&big), *want_small = parse_default(&small);
    ipd_redis_arena_t a;
    ipd_redis_arena_init(&a, LIMIT);
    redisReader *r = arena_reader(&a);
    for (int round = 0; round < 2; round++) {
        read_one(r, &big, want_big, "big");
        cr_assert_leq(stats_of(&a).block, LIMIT, "the arena keeps %zu bytes", stats_of(&a).block);
        read_one(r, &small, want_small, "small");
    }
    ipd_redis_arena_stats_t s = stats_of(&a);
    cr_assert_eq(s.spilled, 2, "each big reply spilled, spilled %llu", (unsigned long long)s.spilled);
    cr_assert_eq(s.block, LIMIT);
    cr_assert_eq(s.replies, 4);
    redisReaderFree(r);
    ipd_redis_arena_dispose(&a);
    freeReplyObject(want_big);
    freeReplyObject(want_small);
    free(big.data);
    free(small.data);
}

Test(redis_arena, replies_split_at_every_byte_read_the_same)
{
    /* Two pipelined replies, the second split as well: an XREAD reply and every kind of element. */
    text_t one = {0}, two = {0}, both = {0};
    xread_reply(&one, 3, 40);
    mixed_reply(&two);
    xread_reply(&both, 3, 40);
    mixed_reply(&both);
    cr_assert_eq(both.len, one.len + two.len);
    redisReply *want[2] = {parse_default(&one), parse_default(&two)};
    ipd_redis_arena_t a;
    ipd_redis_arena_init(&a, 1024); /* small: the XREAD reply spills as well */
    for (size_t cut = 0; cut <= both.len; cut++) {
        redisReader *r = arena_reader(&a);
        size_t got_n = 0;
        const size_t parts[2][2] = {{0, cut}, {cut, both.len}};
        for (int p = 0; p < 2; p++) {
            if (parts[p][1] > parts[p][0])
                cr_assert_eq(redisReaderFeed(r, both.data + parts[p][0], parts[p][1] - parts[p][0]), REDIS_OK);
            redisReply *got;
            while ((got = next_reply(r)) != NULL) {
                cr_assert_lt(got_n, 2, "cut %zu: a third reply", cut);
                char at[64];
                snprintf(at, sizeof(at), "cut %zu, reply %zu", cut, got_n);
                same_reply(got, want[got_n], at);
                give_back(r, got);
                got_n++;
            }
            if (p == 0)
                cr_assert_eq(got_n, cut >= both.len ? 2 : cut >= one.len ? 1 : 0, "cut %zu: %zu replies", cut, got_n);
        }
        cr_assert_eq(got_n, 2, "cut %zu", cut);
        redisReaderFree(r);
    }
    /* And one byte at a time. */
    redisReader *r = arena_reader(&a);
    size_t got_n = 0;
    for (size_t i = 0; i < both.len; i++) {
        cr_assert_eq(redisReaderFeed(r, both.data + i, 1), REDIS_OK);
        redisReply *got;
        while ((got = next_reply(r)) != NULL) {
            same_reply(got, want[got_n], "byte by byte");
            give_back(r, got);
            got_n++;
        }
    }
    cr_assert_eq(got_n, 2);
    cr_assert_eq(stats_of(&a).heap_replies, 0);
    redisReaderFree(r);
    ipd_redis_arena_dispose(&a);
    freeReplyObject(want[0]);
    freeReplyObject(want[1]);
    free(one.data);
    free(two.data);
    free(both.data);
}

Test(redis_arena, a_reply_kept_while_the_next_is_parsed_leaves_both_whole)
{
    /* A synchronous caller may keep a reply while it reads the next: the next one cannot take
     * the arena, whose memory the first still uses. */
    text_t t[3] = {{0}, {0}, {0}};
    xread_reply(&t[0], 50, 100);
    xread_reply(&t[1], 60, 90);
    mixed_reply(&t[2]);
    redisReply *want[3];
    for (int i = 0; i < 3; i++)
        want[i] = parse_default(&t[i]);
    ipd_redis_arena_t a;
    ipd_redis_arena_init(&a, IPD_REDIS_ARENA_LIMIT);
    redisReader *r = arena_reader(&a);
    cr_assert_eq(redisReaderFeed(r, t[0].data, t[0].len), REDIS_OK);
    redisReply *first = next_reply(r);
    /* The second arrives in two parts, the first reply being freed in between. */
    cr_assert_eq(redisReaderFeed(r, t[1].data, t[1].len / 2), REDIS_OK);
    cr_assert_null(next_reply(r));
    same_reply(first, want[0], "first, while the second is parsed");
    give_back(r, first);
    cr_assert_eq(redisReaderFeed(r, t[1].data + t[1].len / 2, t[1].len - t[1].len / 2), REDIS_OK);
    redisReply *second = next_reply(r);
    same_reply(second, want[1], "second");
    cr_assert_eq(stats_of(&a).heap_replies, 1, "the second was begun while the first was alive");
    /* The arena is free again: the third (read while the second is alive) takes it. */
    cr_assert_eq(redisReaderFeed(r, t[2].data, t[2].len), REDIS_OK);
    redisReply *third = next_reply(r);
    same_reply(third, want[2], "third");
    same_reply(second, want[1], "second, after the third");
    give_back(r, second);
    give_back(r, third);
    ipd_redis_arena_stats_t s = stats_of(&a);
    cr_assert_eq(s.replies, 2);
    cr_assert_eq(s.heap_replies, 1);
    redisReaderFree(r);
    ipd_redis_arena_dispose(&a);
    for (int i = 0; i < 3; i++) {
        freeReplyObject(want[i]);
        free(t[i].data);
    }
}

Test(redis_arena, a_reply_cut_short_by_a_protocol_error_or_a_freed_reader_is_freed)
{
    ipd_redis_arena_t a;
    ipd_redis_arena_init(&a, 4096);
    text_t part = {0};
    xread_reply(&part, 20, 300);
    /* A reader freed in the middle of a reply of the arena (the connection was lost). */
    redisReader *r = arena_reader(&a);
    cr_assert_eq(redisReaderFeed(r, part.data, part.len - 10), REDIS_OK);
    cr_assert_null(next_reply(r));
    redisReaderFree(r);
    /* A protocol error in the middle of one: hiredis frees what it built. */
    r = arena_reader(&a);
    text_t bad = {0};
    put(&bad, "*3\r\n$3\r\nabc\r\n*2\r\n:1\r\n!oops\r\n");
    cr_assert_eq(redisReaderFeed(r, bad.data, bad.len), REDIS_OK);
    void *reply = NULL;
    cr_assert_eq(redisReaderGetReply(r, &reply), REDIS_ERR);
    cr_assert_null(reply);
    redisReaderFree(r);
    /* A reply built with malloc() (another was alive) cut short by a freed reader. */
    r = arena_reader(&a);
    text_t whole = {0};
    xread_reply(&whole, 2, 10);
    cr_assert_eq(redisReaderFeed(r, whole.data, whole.len), REDIS_OK);
    redisReply *kept = next_reply(r);
    cr_assert_eq(redisReaderFeed(r, part.data, part.len / 3), REDIS_OK);
    cr_assert_null(next_reply(r));
    redisReplyObjectFunctions *fn = r->fn;
    redisReaderFree(r);
    fn->freeObject(kept);
    ipd_redis_arena_stats_t s = stats_of(&a);
    cr_assert_eq(s.heap_replies, 1);
    /* The arena still serves a reader afterwards. */
    r = arena_reader(&a);
    redisReply *want = parse_default(&whole);
    read_one(r, &whole, want, "after the failures");
    redisReaderFree(r);
    ipd_redis_arena_dispose(&a);
    freeReplyObject(want);
    free(part.data);
    free(bad.data);
    free(whole.data);
}

Test(redis_arena, a_held_reply_outlives_hiredis_freeing_it_until_released)
{
    text_t t = {0}, u = {0};
    xread_reply(&t, 10, 50);
    xread_reply(&u, 7, 30);
    redisReply *want = parse_default(&t), *want_u = parse_default(&u);
    ipd_redis_arena_t a;
    ipd_redis_arena_init(&a, IPD_REDIS_ARENA_LIMIT);
    redisReader *r = arena_reader(&a);
    cr_assert_eq(redisReaderFeed(r, t.data, t.len), REDIS_OK);
    cr_assert_eq(redisReaderFeed(r, u.data, u.len), REDIS_OK);
    redisReply *got = next_reply(r);
    cr_assert_eq(ipd_redis_arena_hold(&a, got), 0);
    cr_assert_eq(ipd_redis_arena_hold(&a, got), IPD_EINVAL, "one hold at a time");
    give_back(r, got); /* what hiredis does after the callback */
    /* The next reply read meanwhile is built apart and cannot be held. */
    redisReply *other = next_reply(r);
    same_reply(other, want_u, "the next reply");
    cr_assert_eq(ipd_redis_arena_hold(&a, other), IPD_EINVAL);
    same_reply(got, want, "the held reply after hiredis freed it");
    ipd_redis_arena_release(&a);
    ipd_redis_arena_release(&a); /* twice is harmless */
    give_back(r, other);
    /* Released before hiredis frees it: the free then ends it. */
    cr_assert_eq(redisReaderFeed(r, t.data, t.len), REDIS_OK);
    got = next_reply(r);
    cr_assert_eq(ipd_redis_arena_hold(&a, got), 0);
    ipd_redis_arena_release(&a);
    same_reply(got, want, "released, not yet freed");
    give_back(r, got);
    cr_assert_eq(ipd_redis_arena_hold(&a, got), IPD_EINVAL, "a freed reply cannot be held");
    ipd_redis_arena_stats_t s = stats_of(&a);
    cr_assert_eq(s.replies, 2);
    cr_assert_eq(s.heap_replies, 1);
    redisReaderFree(r);
    ipd_redis_arena_dispose(&a);
    freeReplyObject(want);
    freeReplyObject(want_u);
    free(t.data);
    free(u.data);
}
