/*
 * Keep jobs: a job created with "keep": true stays in state keeping until cancelled, and its
 * node set follows the cluster. Each flush of such a job compares its tasks with the Nodes the
 * model holds: a node that matches the selection and has no task gets one (its Kubernetes Job
 * is created here, suspended while the node cannot take a pull pod or the parallelism is
 * spoken for, and resumed by the usual rules); a task whose node left or no longer matches has
 * its Job deleted and then leaves the job. refresh_seconds after a task succeeded, its Job is
 * deleted and created again, which pulls again (what pull_policy Always is for).
 *
 * Everything a restarted master needs is in the cluster and the table: the Jobs carry the
 * selection (annotations, proto/kube_job.h) and keep no TTL, and the table's record of the job
 * carries it too (the members written by ipd_model_keep_json). A keep job's Job deleted by anyone
 * but the master ends the job, as DELETE /api/v1/images/pull-jobs/{id} does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/model_internal.h"
#include "shared/log.h"

#define KEEP_RETRY_MS 5000

void ipd_model_keep_learn(job_rec_t *j, const json_t *selection)
{
    int all;
    ipd_label_selector_t sel, pods;
    char ns[IPD_NAMESPACE_SIZE];
    char text[IPD_SELECTION_SIZE];
    if (j->keep.known || ipd_node_selection_read(selection, &all, &sel) != 0)
        return;
    /* A pod selection that does not read is left out: the job keeps its nodes warm all the same. */
    int follows = ipd_pod_selection_read(selection, ns, sizeof(ns), &pods) == 0;
    /* The text is kept at its length: most jobs are not keep jobs and hold none. */
    if (ipd_selection_write(all, &sel, follows ? ns : NULL, &pods, text, sizeof(text)) < 0 ||
        (j->keep.selection = strdup(text)) == NULL) {
        ipd_label_selector_dispose(&sel);
        ipd_label_selector_dispose(&pods);
        return;
    }
    j->keep.all = all;
    j->keep.sel = sel;
    j->keep.known = 1;
    j->keep.follows = follows;
    j->keep.pod_sel = pods;
    if (follows)
        memcpy(j->keep.pod_ns, ns, sizeof(ns));
}

void ipd_model_keep_dispose(job_rec_t *j)
{
    ipd_label_selector_dispose(&j->keep.sel);
    ipd_label_selector_dispose(&j->keep.pod_sel);
    free(j->keep.removed);
    free(j->keep.selection);
    memset(&j->keep, 0, sizeof(j->keep));
}

static size_t removed_index(const job_rec_t *j, const char *node)
{
    for (size_t i = 0; i < j->keep.nremoved; i++)
        if (strcmp(j->keep.removed[i], node) == 0)
            return i;
    return (size_t)-1;
}

int ipd_model_keep_refuses(const job_rec_t *j, const char *node)
{
    return j->job.keep && removed_index(j, node) != (size_t)-1;
}

static void forget_removed(job_rec_t *j, const char *node)
{
    size_t i = removed_index(j, node);
    if (i != (size_t)-1)
        memcpy(j->keep.removed[i], j->keep.removed[--j->keep.nremoved], IPD_NODE_SIZE);
}

/* The task on node index `i` leaves the job; its node is remembered as removed. */
static void drop_task(job_rec_t *j, size_t i)
{
    if (removed_index(j, j->tasks[i].task.node) == (size_t)-1) {
        char(*r)[IPD_NODE_SIZE] = realloc(j->keep.removed, (j->keep.nremoved + 1) * sizeof(*r));
        if (r != NULL) {
            j->keep.removed = r;
            snprintf(r[j->keep.nremoved++], IPD_NODE_SIZE, "%s", j->tasks[i].task.node);
        }
    }
    ipd_model_task_dispose(&j->tasks[i]);
    memmove(&j->tasks[i], &j->tasks[i + 1], (j->ntasks - i - 1) * sizeof(j->tasks[0]));
    j->ntasks--;
    j->counts_due = 1; /* the indexes after `i` moved */
}

static int wanted(ipd_model_t *m, const job_rec_t *j, const char *node)
{
    node_rec_t *n = ipd_strmap_get(&m->nodes, node);
    if (n == NULL)
        return 0;
    return j->keep.all ||
           ipd_label_selector_matches(&j->keep.sel, json_object_get(json_object_get(n->obj, "metadata"), "labels"));
}

static void ask_delete(ipd_model_t *m, task_rec_t *t, int64_t now)
{
    if (!t->has_kjob || m->actions.delete_job == NULL ||
        (t->master_deleting && t->stop_asked_at != 0 && now - t->stop_asked_at < KEEP_RETRY_MS))
        return;
    t->master_deleting = 1;
    t->stop_asked_at = now;
    m->actions.delete_job(m->actions.ctx, task_text(t)->kjob_ns, task_text(t)->kjob_name);
}

/* A refreshed task starts over: a new Job, a new pull, its counts from zero. */
static void restart_task(task_rec_t *t, int64_t now)
{
    char node[IPD_NODE_SIZE];
    snprintf(node, sizeof(node), "%s", t->task.node);
    ipd_model_task_dispose(t);
    memset(t, 0, sizeof(*t));
    ipd_task_init(&t->task, node, now);
    t->blank = (uint8_t)ipd_task_blank(&t->task);
}

static void create(ipd_model_t *m, job_rec_t *j, task_rec_t *t, int64_t now)
{
    if (m->actions.create_job == NULL || (t->create_asked_at != 0 && now - t->create_asked_at < KEEP_RETRY_MS))
        return;
    char reason[IPD_REASON_SIZE], message[IPD_MESSAGE_SIZE];
    int held = ipd_model_node_block(m, j, t->task.node, reason, sizeof(reason), message, sizeof(message)) != 0;
    t->create_asked_at = now;
    ipd_info("model", "keep job %s: creating the task on node %s%s", j->job.id, t->task.node,
             held ? " (held: the node cannot take a pull pod now)" : "");
    m->actions.create_job(m->actions.ctx, &j->job, t->task.node, held || j->job.spec.parallelism > 0,
                          ipd_model_keep_selection(j));
}

static int refresh_due(const job_rec_t *j, const task_rec_t *t, int64_t now)
{
    int32_t every = j->job.spec.refresh_seconds;
    return every > 0 && t->task.state == IPD_TASK_SUCCEEDED && now - t->task.updated_at >= (int64_t)every * 1000;
}

void ipd_model_keep_reconcile(ipd_model_t *m, job_rec_t *j, int64_t now)
{
    if (!j->job.keep || j->job.cancelled || !j->keep.known || !m->nodes_listed || j->from_table)
        return;
    size_t b = 0;
    ipd_strmap_entry_t *e = NULL;
    while ((e = ipd_strmap_next(&m->nodes, &b, e)) != NULL) {
        if (model_is_remote(m, e->key) || !wanted(m, j, e->key) || ipd_model_task(j, e->key, 0) != NULL)
            continue;
        forget_removed(j, e->key);
        if (ipd_model_task(j, e->key, 1) != NULL) {
            ipd_info("model", "keep job %s: node %s joins", j->job.id, e->key);
            ipd_model_mark_dirty(m, j);
        }
    }
    for (size_t i = j->ntasks; i-- > 0;) {
        task_rec_t *t = &j->tasks[i];
        if (model_is_remote(m, t->task.node))
            continue;
        if (!wanted(m, j, t->task.node)) {
            if (t->has_kjob) {
                t->leaving = 1;
                ask_delete(m, t, now);
            } else if (task_text(t)->pod_key[0] == '\0') {
                ipd_info("model", "keep job %s: node %s leaves", j->job.id, t->task.node);
                drop_task(j, i);
                ipd_model_mark_dirty(m, j);
                if (m->actions.task_left != NULL && m->self_node[0] != '\0')
                    m->actions.task_left(m->actions.ctx, j->job.id);
            }
            continue;
        }
        /*
         * Back before its old Job's deletion was seen (the node left and rejoined, or its labels
         * went and came back): the node may have lost its images, so it pulls again as soon as
         * the old Job is gone, not at the next refresh.
         */
        if (t->leaving) {
            ipd_info("model", "keep job %s: node %s is back: it pulls again once its old Job is gone", j->job.id,
                     t->task.node);
            t->leaving = 0;
            t->refreshing = 1;
        }
        if (!t->refreshing && refresh_due(j, t, now)) {
            ipd_info("model", "keep job %s: node %s pulls again (refresh_seconds %d)", j->job.id, t->task.node,
                     (int)j->job.spec.refresh_seconds);
            t->refreshing = 1;
        }
        if (t->refreshing) {
            if (t->has_kjob) {
                ask_delete(m, t, now);
                continue;
            }
            if (task_text(t)->pod_key[0] != '\0')
                continue;
            restart_task(t, now);
            j->counts_due = 1; /* its record was reset, counts included */
            ipd_model_mark_dirty(m, j);
        }
        if (!t->has_kjob && !ipd_task_state_is_final((ipd_task_state_t)t->task.state))
            create(m, j, t, now);
    }
}

void ipd_model_remote_leave(ipd_model_t *m, const char *id, const char *node)
{
    job_rec_t *j = ipd_model_job(m, id, 0);
    if (j == NULL || !j->job.keep || !model_is_remote(m, node))
        return;
    for (size_t i = 0; i < j->ntasks; i++)
        if (strcmp(j->tasks[i].task.node, node) == 0) {
            ipd_info("model", "keep job %s: node %s left (through Redis)", id, node);
            drop_task(j, i);
            ipd_model_mark_dirty(m, j);
            return;
        }
}

int ipd_model_keep_json(const job_rec_t *j, ipd_buf_t *buf)
{
    if (!j->job.keep || buf->len == 0 || buf->data[buf->len - 1] != '}')
        return 0;
    char head[64];
    snprintf(head, sizeof(head), ",\"keep\":true,\"refresh_seconds\":%d", (int)j->job.spec.refresh_seconds);
    ipd_buf_truncate(buf, buf->len - 1);
    int rc = ipd_buf_append_str(buf, head);
    /* The selection's members, without its braces. */
    size_t n = strlen(ipd_model_keep_selection(j));
    if (rc == 0 && j->keep.known && n > 2) {
        rc = ipd_buf_append_char(buf, ',');
        if (rc == 0)
            rc = ipd_buf_append(buf, ipd_model_keep_selection(j) + 1, n - 2);
    }
    return rc == 0 ? ipd_buf_append_char(buf, '}') : rc;
}
