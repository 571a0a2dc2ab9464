/*
 * What a flush needs to know of all the tasks of a job, kept as its tasks change
 * (master/model_internal.h, task_counts_t): a task change costs the same in a job of 3 tasks
 * and in one of 5 000.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "master/model_internal.h"
#include "proto/error.h"
#include "shared/log.h"

/* What the job's counts hold of a task (task_rec_t.counted). */
#define TC_IN      0x01u /* counted at all */
#define TC_FAILING 0x02u /* retrying or failed: a candidate for the job's error */
#define TC_SEEN    0x04u /* its Job was seen, or it is final */
#define TC_RUNNING 0x08u /* its Job runs a pod or may start one (ipd_model_kjob_active) */
#define TC_QUEUED  0x10u /* this node's suspended Job, no resume asked: waits for a slot */
#define TC_ASKED   0x20u /* this node's suspended Job, a resume asked and not seen yet */
#define TC_GAVE_UP 0x40u /* gave up, its Job still there: its deletion is asked until it goes */
#define TC_RECHECK 0x80u /* a time-based rule of the task waits (recheck_at) */

static const unsigned bit_flags[IPD_TASK_BITS] = {TC_QUEUED, TC_ASKED, TC_GAVE_UP};

int ipd_model_kjob_active(const task_rec_t *t)
{
    return t->has_kjob && (t->kjob_active > 0 || (!t->suspended && !t->kjob_complete && !t->kjob_failed));
}

static uint8_t state_bucket(uint8_t state)
{
    return state < IPD_TASK_UNKNOWN ? state : IPD_TASK_UNKNOWN;
}

static unsigned flags_of(const ipd_model_t *m, const task_rec_t *t)
{
    unsigned f = TC_IN;
    ipd_task_state_t s = (ipd_task_state_t)t->task.state;
    if (s == IPD_TASK_RETRYING || s == IPD_TASK_FAILED)
        f |= TC_FAILING;
    if (t->has_kjob || ipd_task_state_is_final(s))
        f |= TC_SEEN;
    if (ipd_model_kjob_active(t))
        f |= TC_RUNNING;
    if (t->has_kjob && t->suspended && !model_is_remote(m, t->task.node))
        f |= t->resume_asked_at == 0 ? TC_QUEUED : TC_ASKED;
    if (t->gave_up && t->has_kjob)
        f |= TC_GAVE_UP;
    if (t->recheck_at != 0)
        f |= TC_RECHECK;
    return f;
}

static size_t bit_words(size_t ntasks)
{
    return (ntasks + 63) / 64;
}

static void set_bit(uint64_t *bits, size_t i, int on)
{
    if (on)
        bits[i / 64] |= UINT64_C(1) << (i % 64);
    else
        bits[i / 64] &= ~(UINT64_C(1) << (i % 64));
}

static void add(uint32_t *count, int on)
{
    if (on)
        (*count)++;
    else
        (*count)--;
}

void ipd_model_count_task(ipd_model_t *m, job_rec_t *j, size_t i)
{
    task_rec_t *t = &j->tasks[i];
    task_counts_t *c = &j->counts;
    unsigned was = t->counted, now = flags_of(m, t);
    uint8_t bucket = state_bucket(t->task.state);
    if (was & TC_IN)
        c->state[t->counted_state]--;
    c->state[bucket]++;
    t->counted_state = bucket;
    t->counted = (uint8_t)now;
    unsigned diff = was ^ now;
    if (diff == 0)
        return;
    if (diff & TC_FAILING) {
        if (now & TC_FAILING) {
            if (c->failing++ == 0) {
                c->first_failing = i;
                c->first_failing_known = 1;
            } else if (c->first_failing_known && i < c->first_failing) {
                c->first_failing = i;
            }
        } else {
            c->failing--;
            if (c->first_failing_known && c->first_failing == i)
                c->first_failing_known = 0; /* found again when asked (ipd_model_first_failing) */
        }
    }
    if (diff & TC_SEEN)
        add(&c->seen, (now & TC_SEEN) != 0);
    if (diff & TC_RUNNING)
        add(&c->running, (now & TC_RUNNING) != 0);
    if (diff & TC_QUEUED)
        add(&c->queued, (now & TC_QUEUED) != 0);
    if (diff & TC_ASKED)
        add(&c->asked, (now & TC_ASKED) != 0);
    if (diff & TC_GAVE_UP)
        add(&c->gave_up, (now & TC_GAVE_UP) != 0);
    if (diff & TC_RECHECK)
        add(&c->recheck, (now & TC_RECHECK) != 0);
    for (int b = 0; b < IPD_TASK_BITS; b++)
        if (diff & bit_flags[b])
            set_bit(j->bits[b], i, (now & bit_flags[b]) != 0);
}

void ipd_model_recount(ipd_model_t *m, job_rec_t *j)
{
    memset(&j->counts, 0, sizeof(j->counts));
    for (int b = 0; b < IPD_TASK_BITS; b++)
        if (j->bits[b] != NULL)
            memset(j->bits[b], 0, bit_words(j->ntasks) * sizeof(uint64_t));
    for (size_t i = 0; i < j->ntasks; i++) {
        j->tasks[i].counted = 0;
        ipd_model_count_task(m, j, i);
    }
    j->counts_due = 0;
}

const ipd_task_t *ipd_model_first_failing(job_rec_t *j)
{
    task_counts_t *c = &j->counts;
    if (c->failing == 0)
        return NULL;
    if (!c->first_failing_known) {
        size_t i = 0;
        while (i < j->ntasks && !(j->tasks[i].counted & TC_FAILING))
            i++;
        if (i == j->ntasks)
            return NULL; /* not reached while the counts hold */
        c->first_failing = i;
        c->first_failing_known = 1;
    }
    return &j->tasks[c->first_failing].task;
}

void ipd_model_job_counts(const job_rec_t *j, uint32_t extra_pending, uint32_t extra_cancelled, ipd_node_counts_t *out)
{
    const uint32_t *s = j->counts.state;
    memset(out, 0, sizeof(*out));
    out->desired = (uint32_t)j->ntasks + extra_pending + extra_cancelled;
    out->pending = s[IPD_TASK_PENDING] + extra_pending;
    out->retrying = s[IPD_TASK_RETRYING];
    out->pulling = s[IPD_TASK_PULLING] + s[IPD_TASK_RETRYING];
    out->succeeded = s[IPD_TASK_SUCCEEDED];
    out->failed = s[IPD_TASK_FAILED];
    out->cancelled = s[IPD_TASK_CANCELLED] + extra_cancelled;
    out->unknown = s[IPD_TASK_UNKNOWN];
}

size_t ipd_model_next_bits(const job_rec_t *j, unsigned which, size_t from)
{
    size_t words = bit_words(j->ntasks);
    if (from >= j->ntasks)
        return j->ntasks;
    for (size_t w = from / 64; w < words; w++) {
        uint64_t word = 0;
        for (int b = 0; b < IPD_TASK_BITS; b++)
            if ((which & (1u << b)) && j->bits[b] != NULL)
                word |= j->bits[b][w];
        if (w == from / 64)
            word &= ~UINT64_C(0) << (from % 64);
        if (word != 0) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(word);
            return i < j->ntasks ? i : j->ntasks;
        }
    }
    return j->ntasks;
}

int ipd_model_grow_task_index(job_rec_t *j, size_t cap)
{
    /* One block, the bitmaps then the stale list: one allocation per growth, not four. What the
     * old block holds is kept for the j->cap tasks it held at least. */
    size_t words = bit_words(cap), keep = j->bits[0] != NULL ? bit_words(j->cap) : 0;
    uint64_t *block = malloc(words * IPD_TASK_BITS * sizeof(*block) + cap * sizeof(*j->stale_list));
    if (block == NULL)
        return -ENOMEM;
    if (keep > words)
        keep = words;
    uint32_t *stale = (uint32_t *)(block + words * IPD_TASK_BITS);
    for (int b = 0; b < IPD_TASK_BITS; b++)
        if (keep > 0)
            memcpy(block + words * (size_t)b, j->bits[b], keep * sizeof(*block));
    if (j->nstale > 0)
        memcpy(stale, j->stale_list, j->nstale * sizeof(*stale));
    free(j->bits[0]);
    for (int b = 0; b < IPD_TASK_BITS; b++)
        j->bits[b] = block + words * (size_t)b;
    j->stale_list = stale;
    return 0;
}

void ipd_model_dispose_task_index(job_rec_t *j)
{
    free(j->bits[0]); /* the block of every bitmap and the stale list */
    for (int b = 0; b < IPD_TASK_BITS; b++)
        j->bits[b] = NULL;
    j->stale_list = NULL;
}

int ipd_model_check_counts(ipd_model_t *m)
{
    size_t b = 0;
    job_rec_t *j = NULL;
    int rc = 0;
    while ((j = ipd_model_next_job(m, &b, j)) != NULL) {
        if (j->counts_due)
            continue;
        task_counts_t kept = j->counts;
        size_t words = bit_words(j->ntasks);
        uint64_t *bits = calloc(words * IPD_TASK_BITS + 1, sizeof(*bits));
        uint8_t *flags = malloc(j->ntasks + 1);
        if (bits == NULL || flags == NULL) {
            free(bits);
            free(flags);
            return -ENOMEM;
        }
        for (int k = 0; k < IPD_TASK_BITS; k++)
            if (words > 0)
                memcpy(bits + (size_t)k * words, j->bits[k], words * sizeof(*bits));
        for (size_t i = 0; i < j->ntasks; i++)
            flags[i] = j->tasks[i].counted;
        const ipd_task_t *kept_first =
            kept.failing > 0 && kept.first_failing_known ? &j->tasks[kept.first_failing].task : NULL;
        ipd_model_recount(m, j);
        const ipd_task_t *first = ipd_model_first_failing(j);
        int same = memcmp(kept.state, j->counts.state, sizeof(kept.state)) == 0 && kept.failing == j->counts.failing &&
                   kept.seen == j->counts.seen && kept.running == j->counts.running &&
                   kept.queued == j->counts.queued && kept.asked == j->counts.asked &&
                   kept.gave_up == j->counts.gave_up && kept.recheck == j->counts.recheck &&
                   (kept_first == NULL || kept_first == first);
        for (int k = 0; k < IPD_TASK_BITS && same; k++)
            same = words == 0 || memcmp(bits + (size_t)k * words, j->bits[k], words * sizeof(*bits)) == 0;
        for (size_t i = 0; i < j->ntasks && same; i++)
            same = flags[i] == j->tasks[i].counted;
        if (!same) {
            ipd_error("model", "job %s: the counts kept as tasks changed differ from a recount", j->job.id);
            rc = IPD_ESTATE;
        }
        free(bits);
        free(flags);
    }
    return rc;
}
