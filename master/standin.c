#include "master/standin.h"

#include <errno.h>
#include <string.h>

#include "master/model.h"
#include "proto/cause.h"
#include "proto/kube_pod.h"

int ipd_standin_selector(ipd_buf_t *out, const char *const *nodes, size_t n)
{
    if (ipd_buf_appendf(out, "%s,%s notin (", IPD_LABEL_JOB, IPD_LABEL_NODE) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char label[64];
        ipd_kube_node_label(nodes[i], label);
        if ((i > 0 && ipd_buf_append_char(out, ',') != 0) || ipd_buf_append_str(out, label) != 0)
            return -ENOMEM;
    }
    return ipd_buf_append_char(out, ')') != 0 ? -ENOMEM : 0;
}

static void set_text(ipd_task_t *t, const char *reason, const char *message)
{
    ipd_strlcpy_utf8(t->reason, reason, sizeof(t->reason));
    ipd_strlcpy_utf8(t->message, message, sizeof(t->message));
}

/* `held` in `state` with the given words at `now`, its pod and figures kept. */
static void held_as(const ipd_task_t *held, ipd_task_state_t state, const char *reason, const char *message,
                    int64_t now, ipd_task_t *out)
{
    ipd_task_copy(out, held);
    out->state = (uint8_t)state;
    set_text(out, reason, message);
    out->updated_at = now;
    ipd_task_set_cause(out);
}

void ipd_standin_cancelled(const ipd_task_t *held, int64_t now, ipd_task_t *out)
{
    held_as(held, IPD_TASK_CANCELLED, IPD_REASON_JOB_DELETED, IPD_MESSAGE_JOB_DELETED, now, out);
}

void ipd_standin_unknown(const ipd_task_t *held, int64_t now, ipd_task_t *out)
{
    held_as(held, IPD_TASK_UNKNOWN, IPD_STANDIN_REASON, IPD_STANDIN_MESSAGE, now, out);
}

/* The job of the Job `info`, started at `started_at`. */
static void job_of(const ipd_kube_job_info_t *info, int64_t started_at, ipd_job_t *job)
{
    memset(job, 0, sizeof(*job));
    ipd_strlcpy_utf8(job->id, info->job_id, sizeof(job->id));
    ipd_strlcpy_utf8(job->image, info->image, sizeof(job->image));
    job->pull_policy = info->pull_policy;
    job->spec = info->spec;
    job->created_at = info->created_at;
    /* The pull on the node ended by then, so the job had started: a job no daemon saw start (on
     * nodes without a live daemon only) starts then on every daemon. Not at the Job's startTime,
     * which may come before the start a daemon of another node saw (daemons take the earliest
     * start they read, and one whose own record replaced this one would never read it). Its end
     * is the last task's (master/model.c). */
    job->started_at = started_at;
    job->finished_at = IPD_TIME_NULL;
    job->keep = info->keep != 0;
    job->nodes.desired = info->node_count;
}

int ipd_standin_task(const ipd_kube_job_info_t *info, int held, int64_t now, int64_t not_before, ipd_job_t *job,
                     ipd_task_t *task)
{
    if (info->anchor || info->node[0] == '\0' || held == IPD_MODEL_JOB_GONE)
        return 0;
    ipd_task_state_t state = info->complete || info->pulled  ? IPD_TASK_SUCCEEDED
                             : info->failed || info->gave_up ? IPD_TASK_FAILED
                                                             : IPD_TASK_UNKNOWN;
    if (held >= 0 && (ipd_task_state_is_final((ipd_task_state_t)held) || !ipd_task_state_is_final(state)))
        return 0;
    /* A job this model holds is no job that aged out, however long ago its Job ended: no stand-in
     * may have run then (every daemon was down). */
    if (held == IPD_MODEL_NO_TASK && ipd_task_state_is_final(state) && info->ended_at != IPD_TIME_NULL &&
        info->ended_at < not_before)
        return 0;
    /* An end is dated by the Job's condition, not by when this daemon's list came by, up to a
     * third of a lease time later. The condition's time is in whole seconds: the end of its
     * second is the earliest time never before the end itself, nor before the end the node's
     * daemon gives from the pod (which every daemon then takes: the earliest end stays). */
    int64_t at = now;
    if (ipd_task_state_is_final(state) && info->ended_at != IPD_TIME_NULL && info->ended_at + 999 < now)
        at = info->ended_at + 999 > info->created_at ? info->ended_at + 999 : info->created_at;
    ipd_task_init(task, info->node, at);
    ipd_strlcpy_utf8(task->ns, info->ns, sizeof(task->ns));
    task->state = (uint8_t)state;
    /* The words the node's own daemon gives a task whose Job completed: a daemon of the node that
     * was only cut off from Redis, and comes back, has the same final task, with the pod and
     * figures that fill this one in (a final task's words never change). */
    if (state == IPD_TASK_SUCCEEDED)
        set_text(task, IPD_REASON_PULLED, IPD_MESSAGE_PULLED);
    else if (state == IPD_TASK_FAILED && info->failed_reason[0] != '\0')
        set_text(task, info->failed_reason, info->failed_message);
    else if (state == IPD_TASK_FAILED)
        set_text(task, IPD_STANDIN_REASON,
                 "no daemon of this node refreshes its liveness key in Redis; its Job failed");
    else
        set_text(task, IPD_STANDIN_REASON, IPD_STANDIN_MESSAGE);
    ipd_task_set_cause(task);
    job_of(info, ipd_task_state_is_final(state) ? at : IPD_TIME_NULL, job);
    return 1;
}

void ipd_standin_gave_up(const ipd_kube_job_info_t *info, const ipd_task_t *seen, const char *message, int64_t now,
                         ipd_job_t *job, ipd_task_t *task)
{
    held_as(seen, IPD_TASK_FAILED, seen->reason, message, now, task);
    ipd_strlcpy_utf8(task->node, info->node, sizeof(task->node));
    job_of(info, now, job);
}
