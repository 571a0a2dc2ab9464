/*
 * Keep jobs that follow pods. A POST with pod_selector and keep creates one keep job per image
 * the matching pods run; each carries the pod selection in its node selection text
 * (proto/label_selector.h ipd_selection_write), on its Jobs' annotations and in its table and
 * Redis records. The keep jobs with the same selection text form a group. The master lists the
 * group's pods now and then (keep_pod_poll) and hands their images to ipd_model_pod_images: an
 * image that no active job of the group pulls gets a new keep job (its anchor Job is created;
 * the model learns the job from it like any other), and a job whose image none of the pods runs
 * is cancelled, as DELETE would. So a rollout to a new tag pulls the new tag on the nodes and
 * retires the old tag's job once the last old pod is gone. With no pod at all (scaled to zero)
 * the group stays as it is.
 *
 * A creation asked for is remembered per group for FOLLOW_RETRY_MS, so the next poll does not
 * ask twice while the anchor is on its way; after that it is asked again (a lost request).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/model_internal.h"
#include "shared/log.h"

#define FOLLOW_RETRY_MS 30000

typedef struct follow_pending {
    char image[IPD_IMAGE_SIZE];
    int64_t at;
} follow_pending_t;

typedef struct follow_rec {
    follow_pending_t *pending;
    size_t npending;
} follow_rec_t;

void ipd_model_follow_dispose(ipd_model_t *m)
{
    size_t b = 0;
    ipd_strmap_entry_t *e = NULL;
    while ((e = ipd_strmap_next(&m->follows, &b, e)) != NULL) {
        follow_rec_t *f = e->value;
        free(f->pending);
        free(f);
    }
    ipd_strmap_dispose(&m->follows);
}

static int follows(const job_rec_t *j)
{
    return j->job.keep && j->keep.known && j->keep.follows && !j->job.cancelled && !j->from_table;
}

/* The job every daemon takes for a group's oldest: the earliest created, then the smallest id. */
static int older(const job_rec_t *a, const job_rec_t *b)
{
    return a->job.created_at != b->job.created_at ? a->job.created_at < b->job.created_at
                                                  : strcmp(a->job.id, b->job.id) < 0;
}

void ipd_model_pod_groups(ipd_model_t *m,
                          void (*cb)(void *data, const char *selection, const char *ns, const char *label_selector,
                                     const char *first_node),
                          void *data)
{
    /* Each group's oldest job first (selection -> job_rec_t), then one call per group. */
    ipd_strmap_t seen;
    ipd_strmap_init(&seen);
    size_t b = 0;
    job_rec_t *j = NULL;
    while ((j = ipd_model_next_job(m, &b, j)) != NULL) {
        job_rec_t *oldest;
        if (!follows(j))
            continue;
        if ((oldest = ipd_strmap_get(&seen, ipd_model_keep_selection(j))) == NULL) {
            if (ipd_strmap_put(&seen, ipd_model_keep_selection(j), j) != 0)
                break;
        } else if (older(j, oldest) && ipd_strmap_put(&seen, ipd_model_keep_selection(j), j) != 0) {
            break;
        }
    }
    b = 0;
    ipd_strmap_entry_t *e = NULL;
    while ((e = ipd_strmap_next(&seen, &b, e)) != NULL) {
        j = e->value;
        char sel[1024];
        if (ipd_label_selector_format(&j->keep.pod_sel, sel, sizeof(sel)) >= 0)
            cb(data, ipd_model_keep_selection(j), j->keep.pod_ns, sel, j->ntasks > 0 ? j->tasks[0].task.node : "");
    }
    /* The records of groups that have no active job left go (collected first: deleting edits the map). */
    size_t n = 0, cap = m->follows.count;
    char **gone = cap > 0 ? calloc(cap, sizeof(*gone)) : NULL;
    b = 0;
    e = NULL;
    while (gone != NULL && (e = ipd_strmap_next(&m->follows, &b, e)) != NULL)
        if (ipd_strmap_get(&seen, e->key) == NULL && n < cap)
            gone[n++] = strdup(e->key);
    for (size_t i = 0; i < n; i++) {
        follow_rec_t *f = gone[i] != NULL ? ipd_strmap_del(&m->follows, gone[i]) : NULL;
        if (f != NULL) {
            free(f->pending);
            free(f);
        }
        free(gone[i]);
    }
    free(gone);
    ipd_strmap_dispose(&seen);
}

static follow_rec_t *group(ipd_model_t *m, const char *selection)
{
    follow_rec_t *f = ipd_strmap_get(&m->follows, selection);
    if (f == NULL && (f = calloc(1, sizeof(*f))) != NULL && ipd_strmap_put(&m->follows, selection, f) != 0) {
        free(f);
        f = NULL;
    }
    return f;
}

/* True when a creation for `image` was asked less than FOLLOW_RETRY_MS ago; forgets older ones. */
static int pending(follow_rec_t *f, const char *image, int64_t now)
{
    int found = 0;
    for (size_t i = f->npending; i-- > 0;) {
        if (now - f->pending[i].at >= FOLLOW_RETRY_MS) {
            f->pending[i] = f->pending[--f->npending];
            continue;
        }
        found |= strcmp(f->pending[i].image, image) == 0;
    }
    return found;
}

static void remember(follow_rec_t *f, const char *image, int64_t now)
{
    follow_pending_t *p = realloc(f->pending, (f->npending + 1) * sizeof(*p));
    if (p == NULL)
        return;
    f->pending = p;
    snprintf(p[f->npending].image, sizeof(p[0].image), "%s", image);
    p[f->npending++].at = now;
}

static int listed(const char *image, const char *const *images, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(images[i], image) == 0)
            return 1;
    return 0;
}

void ipd_model_pod_images(ipd_model_t *m, const char *selection, const char *const *images, size_t n, int64_t now)
{
    follow_rec_t *f = group(m, selection);
    if (n == 0 || f == NULL)
        return;
    job_rec_t *like = NULL;
    size_t b = 0;
    job_rec_t *j = NULL;
    while ((j = ipd_model_next_job(m, &b, j)) != NULL) {
        if (!follows(j) || strcmp(ipd_model_keep_selection(j), selection) != 0)
            continue;
        if (like == NULL || j->job.created_at < like->job.created_at)
            like = j;
        if (listed(j->job.image, images, n) || m->actions.cancel_job == NULL ||
            (j->keep.retire_asked_at != 0 && now - j->keep.retire_asked_at < FOLLOW_RETRY_MS))
            continue;
        ipd_info("model", "keep job %s: no pod of its pod_selector runs %s any more: the job is cancelled", j->job.id,
                 j->job.image);
        j->keep.retire_asked_at = now;
        m->actions.cancel_job(m->actions.ctx, j->job.id);
    }
    if (like == NULL || m->actions.create_keep_job == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        int pulled = 0;
        b = 0;
        j = NULL;
        while (!pulled && (j = ipd_model_next_job(m, &b, j)) != NULL) {
            pulled = follows(j) && strcmp(ipd_model_keep_selection(j), selection) == 0 &&
                     strcmp(j->job.image, images[i]) == 0;
        }
        if (pulled || pending(f, images[i], now))
            continue;
        ipd_info("model", "keep jobs following %s: the pods run %s: a keep job for it is created", selection,
                 images[i]);
        remember(f, images[i], now);
        m->actions.create_keep_job(m->actions.ctx, &like->job, images[i], selection);
    }
}
