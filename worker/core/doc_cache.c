#include "worker/core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "proto/error.h"

ipd_worker_doc_t *ipd_worker_doc_create(void)
{
    ipd_worker_doc_t *doc = calloc(1, sizeof(*doc));
    if (doc == NULL)
        return NULL;
    doc->refs = 1;
    for (int f = 0; f < 2; f++)
        for (int e = 0; e < 2; e++)
            ipd_buf_init(&doc->body[f][e]);
    return doc;
}

void ipd_worker_doc_release(ipd_worker_doc_t *doc)
{
    if (doc == NULL || --doc->refs > 0)
        return;
    for (int f = 0; f < 2; f++)
        for (int e = 0; e < 2; e++)
            ipd_buf_dispose(&doc->body[f][e]);
    free(doc);
}

int ipd_worker_gzip(const void *data, size_t len, int level, ipd_buf_t *out)
{
    z_stream z;
    size_t start = out->len;
    memset(&z, 0, sizeof(z));
    /* windowBits 15 + 16 selects the gzip wrapper. */
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    size_t bound = deflateBound(&z, (uLong)len);
    if (ipd_buf_reserve(out, bound) != 0) {
        deflateEnd(&z);
        return -ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->data + start;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    size_t produced = bound - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END)
        return -EIO;
    out->len = start + produced;
    out->data[out->len] = '\0';
    return 0;
}

/* Builds form (f, e) from the JSON; returns 0 or a negative code. */
static int build(ipd_worker_doc_t *doc, int f, int e)
{
    if (e == IPD_DOC_IDENTITY)
        return ipd_worker_json_to_msgpack(doc->body[IPD_DOC_JSON][IPD_DOC_IDENTITY].data,
                                          doc->body[IPD_DOC_JSON][IPD_DOC_IDENTITY].len, &doc->body[f][e]);
    const ipd_buf_t *plain = &doc->body[f][IPD_DOC_IDENTITY];
    return ipd_worker_gzip(plain->data, plain->len, 1, &doc->body[f][e]);
}

const ipd_buf_t *ipd_worker_doc_body(ipd_worker_doc_t *doc, int *format, int *encoding)
{
    doc->state[IPD_DOC_JSON][IPD_DOC_IDENTITY] = 1;
    if (*format == IPD_DOC_MSGPACK && doc->state[IPD_DOC_MSGPACK][IPD_DOC_IDENTITY] == 0)
        doc->state[IPD_DOC_MSGPACK][IPD_DOC_IDENTITY] = build(doc, IPD_DOC_MSGPACK, IPD_DOC_IDENTITY) == 0 ? 1 : -1;
    if (doc->state[*format][IPD_DOC_IDENTITY] < 0)
        *format = IPD_DOC_JSON;
    if (*encoding == IPD_DOC_GZIP && doc->body[*format][IPD_DOC_IDENTITY].len < IPD_WORKER_GZIP_MIN)
        *encoding = IPD_DOC_IDENTITY;
    if (*encoding == IPD_DOC_GZIP && doc->state[*format][IPD_DOC_GZIP] == 0)
        doc->state[*format][IPD_DOC_GZIP] = build(doc, *format, IPD_DOC_GZIP) == 0 ? 1 : -1;
    if (doc->state[*format][*encoding] < 0)
        *encoding = IPD_DOC_IDENTITY;
    return &doc->body[*format][*encoding];
}

static void drop(struct ipd_worker_cache_entry *e)
{
    ipd_worker_doc_release(e->doc);
    e->doc = NULL;
    e->keylen = 0;
}

void ipd_worker_cache_clear(ipd_worker_cache_t *c)
{
    for (size_t i = 0; i < IPD_WORKER_CACHE_SLOTS; i++)
        drop(&c->entries[i]);
}

ipd_worker_doc_t *ipd_worker_cache_get(ipd_worker_cache_t *c, const char *key, size_t keylen, uint64_t epoch,
                                       uint64_t generation)
{
    if (c->generation != generation || c->epoch != epoch) {
        ipd_worker_cache_clear(c);
        c->generation = generation;
        c->epoch = epoch;
        return NULL;
    }
    for (size_t i = 0; i < IPD_WORKER_CACHE_SLOTS; i++) {
        struct ipd_worker_cache_entry *e = &c->entries[i];
        if (e->doc != NULL && e->keylen == keylen && memcmp(e->key, key, keylen) == 0) {
            e->used = ++c->clock;
            return e->doc;
        }
    }
    return NULL;
}

void ipd_worker_cache_put(ipd_worker_cache_t *c, const char *key, size_t keylen, uint64_t epoch, uint64_t generation,
                          ipd_worker_doc_t *doc)
{
    struct ipd_worker_cache_entry *victim = &c->entries[0];
    if (keylen > sizeof(victim->key))
        return;
    if (c->generation != generation || c->epoch != epoch) {
        ipd_worker_cache_clear(c);
        c->generation = generation;
        c->epoch = epoch;
    }
    for (size_t i = 0; i < IPD_WORKER_CACHE_SLOTS; i++) {
        struct ipd_worker_cache_entry *e = &c->entries[i];
        if (e->doc != NULL && e->keylen == keylen && memcmp(e->key, key, keylen) == 0) {
            victim = e;
            break;
        }
        if (e->doc == NULL || (victim->doc != NULL && e->used < victim->used))
            victim = e;
    }
    drop(victim);
    memcpy(victim->key, key, keylen);
    victim->keylen = keylen;
    victim->used = ++c->clock;
    victim->doc = doc;
    doc->refs++;
}
