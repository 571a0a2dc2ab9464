#include "master/redis_arena.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"

/*
 * Every object is a word of tag, the redisReply, then its payload (a string's bytes and NUL, or
 * an array's element pointers). The tag is the arena for an object of the arena, or HEAP_TAG
 * for one built with malloc(): freeObject gets the root alone and learns from it which it is.
 */
#define HEAP_TAG  ((uintptr_t)1)
#define CHUNK_MIN ((size_t)64 << 10)

struct ipd_redis_arena_chunk {
    ipd_redis_arena_chunk_t *next;
    size_t size;
    max_align_t data[];
};

typedef struct object {
    uintptr_t tag;
    redisReply reply;
} object_t;

static size_t round_up(size_t n)
{
    return (n + sizeof(void *) - 1) & ~(sizeof(void *) - 1);
}

static object_t *object_of(void *reply)
{
    return (object_t *)((char *)reply - offsetof(object_t, reply));
}

void ipd_redis_arena_init(ipd_redis_arena_t *a, size_t limit)
{
    memset(a, 0, sizeof(*a));
    a->_limit = limit;
}

void ipd_redis_arena_set_limit(ipd_redis_arena_t *a, size_t limit)
{
    a->_limit = limit;
}

static void free_chunks(ipd_redis_arena_t *a)
{
    while (a->_chunks != NULL) {
        ipd_redis_arena_chunk_t *c = a->_chunks;
        a->_chunks = c->next;
        free(c);
    }
}

void ipd_redis_arena_dispose(ipd_redis_arena_t *a)
{
    free_chunks(a);
    free(a->_block);
    ipd_redis_arena_init(a, a->_limit);
}

/* The reply in the arena is gone: its chunks are freed, and the block grows to what it needed
 * (within the limit) so that the next one like it fits in the block alone. */
static void reset(ipd_redis_arena_t *a)
{
    if (a->_chunks != NULL) {
        size_t need = a->_cap + a->_spill;
        free_chunks(a);
        if (need > a->_limit)
            need = a->_limit;
        if (need > a->_cap) {
            char *grown = malloc(need);
            if (grown != NULL) {
                free(a->_block);
                a->_block = grown;
                a->_cap = need;
            }
        }
        a->_stats.spilled++;
    }
    if (a->_cap > a->_limit) { /* the limit was lowered */
        free(a->_block);
        a->_block = NULL;
        a->_cap = 0;
    }
    a->_spill = 0;
    a->_cur = a->_block;
    a->_end = a->_block != NULL ? a->_block + a->_cap : NULL;
    a->_root = NULL;
    a->_held = a->_freed = 0;
}

/* `size` bytes (a multiple of the word) from a new chunk, when the block or chunk in use is full. */
static void *take_slow(ipd_redis_arena_t *a, size_t size)
{
    size_t want = a->_spill > CHUNK_MIN ? a->_spill : CHUNK_MIN;
    if (want < size)
        want = size;
    ipd_redis_arena_chunk_t *c = malloc(sizeof(*c) + want);
    if (c == NULL)
        return NULL;
    c->next = a->_chunks;
    c->size = want;
    a->_chunks = c;
    a->_spill += want;
    a->_cur = (char *)c->data + size;
    a->_end = (char *)c->data + want;
    return c->data;
}

/*
 * A new object of `type` with `payload` bytes after it, linked into its parent. Whether a reply
 * lives in the arena is decided when its root is made: in the arena when no other reply of the
 * arena is alive, else with malloc(); its elements follow their root.
 */
static inline __attribute__((always_inline)) redisReply *make(const redisReadTask *task, int type, size_t payload)
{
    ipd_redis_arena_t *a = task->privdata;
    int root = task->parent == NULL;
    if (root) {
        a->_heap = a->_root != NULL;
        if (!a->_heap)
            reset(a); /* nothing of the arena is alive: start from the top of the block */
    }
    if (payload > SIZE_MAX / 2)
        return NULL;
    size_t size = sizeof(object_t) + round_up(payload);
    object_t *o;
    if (a->_heap) {
        if ((o = malloc(size)) == NULL)
            return NULL;
        o->tag = HEAP_TAG;
    } else {
        if (a->_cur != NULL && (size_t)(a->_end - a->_cur) >= size) {
            o = (object_t *)(void *)a->_cur;
            a->_cur += size;
        } else if ((o = take_slow(a, size)) == NULL) {
            return NULL;
        }
        o->tag = (uintptr_t)a;
    }
    redisReply *r = &o->reply;
    r->type = type;
    r->integer = 0;
    r->len = 0;
    r->str = NULL;
    r->elements = 0;
    r->element = NULL;
    if (root) {
        if (a->_heap) {
            a->_stats.heap_replies++;
        } else {
            a->_root = r;
            a->_stats.replies++;
        }
    } else {
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    redisReply *r = make(task, task->type, len + 1);
    if (r == NULL)
        return NULL;
    r->str = (char *)(r + 1);
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static void *create_array(const redisReadTask *task, int elements)
{
    size_t n = elements > 0 ? (size_t)elements : 0;
    redisReply *r = make(task, REDIS_REPLY_ARRAY, n * sizeof(redisReply *));
    if (r == NULL)
        return NULL;
    r->elements = n;
    if (n > 0) {
        r->element = (redisReply **)(void *)(r + 1);
        /* A reply freed half-parsed (a protocol error) has elements not made yet: free_heap()
         * skips them. A reply of the arena is freed whole, without a walk. */
        if (object_of(r)->tag == HEAP_TAG)
            memset(r->element, 0, n * sizeof(redisReply *));
    }
    return r;
}

static void *create_integer(const redisReadTask *task, long long value)
{
    redisReply *r = make(task, REDIS_REPLY_INTEGER, 0);
    if (r != NULL)
        r->integer = value;
    return r;
}

static void *create_nil(const redisReadTask *task)
{
    return make(task, REDIS_REPLY_NIL, 0);
}

/* A reply built with malloc(): every element of it was too. */
static void free_heap(redisReply *r)
{
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++)
            free_heap(r->element[i]);
    free(object_of(r));
}

static void free_object(void *reply)
{
    object_t *o = object_of(reply);
    if (o->tag == HEAP_TAG) {
        free_heap(reply);
        return;
    }
    ipd_redis_arena_t *a = (ipd_redis_arena_t *)o->tag;
    /* hiredis frees roots only; an element's memory goes with its root's. */
    if (reply != a->_root)
        return;
    if (a->_held) {
        a->_freed = 1;
        return;
    }
    reset(a);
}

static redisReplyObjectFunctions functions = {
    .createString = create_string,
    .createArray = create_array,
    .createInteger = create_integer,
    .createNil = create_nil,
    .freeObject = free_object,
};

void ipd_redis_arena_attach(ipd_redis_arena_t *a, redisReader *r)
{
    r->fn = &functions;
    r->privdata = a;
}

int ipd_redis_arena_hold(ipd_redis_arena_t *a, const void *reply)
{
    if (reply == NULL || reply != a->_root || a->_held)
        return IPD_EINVAL;
    a->_held = 1;
    a->_freed = 0;
    return 0;
}

void ipd_redis_arena_release(ipd_redis_arena_t *a)
{
    if (!a->_held)
        return;
    a->_held = 0;
    if (a->_freed)
        reset(a);
}

void ipd_redis_arena_stats(const ipd_redis_arena_t *a, ipd_redis_arena_stats_t *out)
{
    *out = a->_stats;
    out->block = a->_cap;
}
