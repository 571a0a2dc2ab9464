#include "shared/table_internal.h"

#include <assert.h>
#include <string.h>

#include "proto/hash64.h"
#include "proto/job_spans.h"

/*
 * A record copy's checksum covers the bytes in use, not the fixed-size buffers: a string field
 * counts up to the 8-byte word that holds its NUL, every other byte as it is. Most of an
 * ipd_job_t or ipd_task_t is the zero tails of its strings, which hashing whole made the
 * checksum the biggest cost of a table write. A stray write into a tail is still caught at
 * reattach, which requires every tail to be zero (ipd_table_job_copy_ok). The words of a string
 * end at the first one holding a zero byte, so the fields' words run together without
 * ambiguity. docs/shm-layout.md, "Checksums".
 */

#define ONES  UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* The bytes of `w` that are zero have their high bit set, and perhaps bytes after the first of
 * them too (a borrow); no bit is set when no byte is zero. */
static inline uint64_t zero_bytes(uint64_t w)
{
    return (w - ONES) & ~w & HIGHS;
}

/* Copies `n` (< 8) bytes from `src` to `dst` in fixed-size pieces, which compile to moves. */
static inline void copy_part(uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t k = 0;
    if (n & 4) {
        memcpy(dst, src, 4);
        k = 4;
    }
    if (n & 2) {
        memcpy(dst + k, src + k, 2);
        k += 2;
    }
    if (n & 1)
        dst[k] = src[k];
}

/* The `n` (< 8) bytes at `p` as a word, zero-padded. */
static inline uint64_t load_part(const uint8_t *p, size_t n)
{
    uint8_t b[8] = {0};
    copy_part(b, p, n);
    return ipd_hash64_load(b);
}

/* Folds the `len` bytes at `p` into `h`, a word at a time, the last word zero-padded; with
 * `dst`, also copies them there. */
static inline uint64_t fold_raw_to(uint64_t h, uint8_t *dst, const uint8_t *p, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = ipd_hash64_load(p + i);
        if (dst != NULL)
            memcpy(dst + i, &w, sizeof(w));
        h = ipd_hash64_lane(h, w);
    }
    if (i < len) {
        h = ipd_hash64_lane(h, load_part(p + i, len - i));
        if (dst != NULL)
            copy_part(dst + i, p + i, len - i);
    }
    return h;
}

static inline uint64_t fold_raw(uint64_t h, const uint8_t *p, size_t len)
{
    return fold_raw_to(h, NULL, p, len);
}

/* Folds the words of the string field at `p` (`size` bytes, a multiple of 8) up to the first
 * that holds a zero byte, or all of them when none does. */
static inline uint64_t fold_str(uint64_t h, const uint8_t *p, size_t size)
{
    for (size_t i = 0; i < size; i += 8) {
        uint64_t w = ipd_hash64_load(p + i);
        h = ipd_hash64_lane(h, w);
        if (zero_bytes(w) != 0)
            break;
    }
    return h;
}

_Static_assert(IPD_JOB_NSPANS <= 8 && IPD_TASK_NSPANS <= 8, "a record's spans fit the 8 bits of a zero set");

/* Folds the bytes of record `rec` that the checksum covers into `h`. */
static uint64_t fold_record(uint64_t h, const uint8_t *rec, const ipd_span_t *spans, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = spans[i].str ? fold_str(h, rec + spans[i].off, spans[i].len)
                         : fold_raw(h, rec + spans[i].off, spans[i].len);
    return h;
}

/* `w`, a word holding a zero byte, with every byte after its first zero byte cleared. */
static uint64_t clear_after_nul(uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* The lowest flagged byte is the first zero byte (the trick's false flags lie above it). */
    uint64_t z = zero_bytes(w);
    return w & (((z & (~z + 1)) >> 7) - 1);
#else
    uint8_t b[8];
    size_t k = 0;
    memcpy(b, &w, sizeof(b));
    while (k < sizeof(b) && b[k] != 0)
        k++;
    memset(b + k, 0, sizeof(b) - k);
    memcpy(&w, b, sizeof(w));
    return w;
#endif
}

/*
 * Stores the string field `src` into `dst` (`size` bytes, a multiple of 8) as fold_str() reads
 * it back: its words up to the one holding the NUL, zero after the NUL. The words after that
 * are cleared only while they are not zero: `dst` held a string with a zero tail before (every
 * copy this writer stores does), so its first zero word starts its tail.
 */
static inline uint64_t store_str(uint64_t h, uint8_t *dst, const uint8_t *src, size_t size)
{
    size_t i = 0;
    while (i < size) {
        uint64_t w = ipd_hash64_load(src + i);
        int last = zero_bytes(w) != 0;
        if (last)
            w = clear_after_nul(w);
        memcpy(dst + i, &w, sizeof(w));
        h = ipd_hash64_lane(h, w);
        i += 8;
        if (last)
            break;
    }
    for (; i < size && ipd_hash64_load(dst + i) != 0; i += 8)
        memset(dst + i, 0, 8);
    return h;
}

/*
 * Stores record `src` into `dst` span by span and folds what it stored into `h`. An empty string
 * over a string span that `*zero` says is all zero already is folded as the zero word store_str()
 * would store, and not written: the string members start on cache lines of their own, and most
 * of them are empty in most records. `*zero` becomes the set of string spans stored empty.
 * `blank` (bits as ipd_task_blank() / ipd_job_blank() give them, 0 when unknown) names strings of
 * `src` known empty: those are not read at all, a cache line each that the caller's record need
 * not bring in.
 */
static uint64_t store_record(uint64_t h, uint8_t *dst, const uint8_t *src, const ipd_span_t *spans, size_t n,
                             unsigned blank, uint8_t *zero)
{
    unsigned known = *zero, now = 0;
    for (size_t i = 0; i < n; i++) {
        size_t off = spans[i].off, len = spans[i].len;
        if (spans[i].str) {
            unsigned bit = 1u << i;
            assert(!(blank & bit) || src[off] == '\0');
            if ((blank & bit) || src[off] == '\0') {
                now |= bit;
                if (known & bit) {
                    h = ipd_hash64_lane(h, 0);
                    continue;
                }
                if (blank & bit) {
                    /* What store_str() stores for an empty string, without reading it. */
                    h = ipd_hash64_lane(h, 0);
                    memset(dst + off, 0, 8);
                    for (size_t k = 8; k < len && ipd_hash64_load(dst + off + k) != 0; k += 8)
                        memset(dst + off + k, 0, 8);
                    continue;
                }
            }
            h = store_str(h, dst + off, src + off, len);
        } else {
            h = fold_raw_to(h, dst + off, src + off, len);
        }
    }
    *zero = (uint8_t)now;
    return h;
}

/* True when the `n` bytes at `p` are all zero; a word at a time, for reattach over a full table. */
static int all_zero(const uint8_t *p, size_t n)
{
    uint64_t acc = 0;
    while (n & 7)
        acc |= p[--n];
    for (size_t i = 0; i < n; i += 8)
        acc |= ipd_hash64_load(p + i);
    return acc == 0;
}

/* True when every string field of `rec` is zero after its NUL. */
static int tails_zero(const uint8_t *rec, const ipd_span_t *spans, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = rec + spans[i].off;
        size_t used = spans[i].str ? strnlen((const char *)p, spans[i].len) : spans[i].len;
        if (!all_zero(p + used, spans[i].len - used))
            return 0;
    }
    return 1;
}

uint64_t ipd_table_hash64(const void *data, size_t len, uint64_t seed)
{
    return ipd_hash64(data, len, seed);
}

/* The hash state after a job copy's head; the record follows. */
static uint64_t job_head_hash(const job_copy_t *c)
{
    return fold_raw(IPD_HASH64_M1, (const uint8_t *)&c->stamp, offsetof(job_copy_t, job) - offsetof(job_copy_t, stamp));
}

static uint64_t task_head_hash(const task_copy_t *c)
{
    return fold_raw(IPD_HASH64_M2, (const uint8_t *)&c->stamp,
                    offsetof(task_copy_t, task) - offsetof(task_copy_t, stamp));
}

/* The checksum from the hash state after the record: the used JSON follows. */
static uint64_t job_json_hash(const job_copy_t *c, uint64_t h, uint32_t json_cap)
{
    h = ipd_hash64_finish(h);
    if (c->flags & COPY_HAS_JSON)
        h = ipd_table_hash64(job_json((job_copy_t *)c), c->json_len < json_cap ? c->json_len : json_cap, h);
    return h;
}

uint64_t ipd_table_job_checksum(const job_copy_t *c, uint32_t json_cap)
{
    uint64_t h = fold_record(job_head_hash(c), (const uint8_t *)&c->job, ipd_job_spans, IPD_JOB_NSPANS);
    return job_json_hash(c, h, json_cap);
}

uint64_t ipd_table_task_checksum(const task_copy_t *c)
{
    return ipd_hash64_finish(
        fold_record(task_head_hash(c), (const uint8_t *)&c->task, ipd_task_spans, IPD_TASK_NSPANS));
}

void ipd_table_job_store(job_copy_t *c, const ipd_job_t *job, unsigned blank, uint32_t json_cap, uint8_t *zero)
{
    uint64_t h = store_record(job_head_hash(c), (uint8_t *)&c->job, (const uint8_t *)job, ipd_job_spans, IPD_JOB_NSPANS,
                              blank, zero);
    c->checksum = job_json_hash(c, h, json_cap);
}

void ipd_table_task_store(task_copy_t *c, const ipd_task_t *task, unsigned blank, uint8_t *zero)
{
    uint64_t h = store_record(task_head_hash(c), (uint8_t *)&c->task, (const uint8_t *)task, ipd_task_spans,
                              IPD_TASK_NSPANS, blank, zero);
    c->checksum = ipd_hash64_finish(h);
}

int ipd_table_job_copy_ok(const job_copy_t *c, uint32_t json_cap)
{
    return c->json_len <= json_cap && c->checksum == ipd_table_job_checksum(c, json_cap) &&
           tails_zero((const uint8_t *)&c->job, ipd_job_spans, IPD_JOB_NSPANS);
}

int ipd_table_task_copy_ok(const task_copy_t *c)
{
    return c->checksum == ipd_table_task_checksum(c) &&
           tails_zero((const uint8_t *)&c->task, ipd_task_spans, IPD_TASK_NSPANS);
}

uint64_t ipd_table_id_hash(const char *id)
{
    return ipd_table_hash64(id, strnlen(id, IPD_JOB_ID_SIZE), UINT64_C(0x6964));
}
