/*
 * What the daemon standing in for nodes without a live daemon publishes (master/standin.h):
 * another node's task as its Job says, as docs/architecture.md describes a node-scope daemon
 * without Redis showing it, and only when that is news.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "master/model.h"
#include "master/standin.h"

static ipd_kube_job_info_t job_of(const char *node)
{
    ipd_kube_job_info_t info;
    memset(&info, 0, sizeof(info));
    strcpy(info.job_id, "pj-0000abcd");
    strcpy(info.node, node);
    strcpy(info.ns, "imgpulld");
    strcpy(info.image, "registry:5000/team/app:v2");
    info.pull_policy = IPD_PULL_ALWAYS;
    info.created_at = 1795773600123LL;
    info.node_count = 4;
    info.spec.backoff_limit = 2;
    info.spec.ttl_seconds_after_finished = -1;
    return info;
}

Test(standin, the_selector_names_every_node_alive_by_its_label_value)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    char long_name[200];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    const char *nodes[] = {"node-1", long_name};
    cr_assert_eq(ipd_standin_selector(&b, nodes, 2), 0);
    char label[64], want[256];
    ipd_kube_node_label(long_name, label);
    cr_assert_neq(strcmp(label, long_name), 0, "a name longer than a label value is hashed");
    snprintf(want, sizeof(want), "imgpulld.io/job,imgpulld.io/node notin (node-1,%s)", label);
    cr_expect_str_eq(b.data, want);
    ipd_buf_dispose(&b);
}

Test(standin, a_node_never_seen_gets_its_task_unknown_while_its_job_runs)
{
    ipd_kube_job_info_t info = job_of("node-4");
    info.active = 1;
    ipd_job_t job;
    ipd_task_t task;
    cr_assert_eq(ipd_standin_task(&info, IPD_MODEL_NO_TASK, 1795773601000LL, 0, &job, &task), 1);
    cr_expect_str_eq(task.node, "node-4");
    cr_expect_str_eq(task.ns, "imgpulld");
    cr_expect_eq(task.state, IPD_TASK_UNKNOWN);
    cr_expect_str_eq(task.reason, "NodeDaemonLost");
    cr_expect_str_eq(task.message, IPD_STANDIN_MESSAGE);
    cr_expect_eq(task.updated_at, 1795773601000LL);
    cr_expect_eq(task.pull_ms, IPD_UNKNOWN_I64);
    /* The job as its Job's annotations give it: every daemon shows the same. */
    cr_expect_str_eq(job.id, "pj-0000abcd");
    cr_expect_str_eq(job.image, "registry:5000/team/app:v2");
    cr_expect_eq(job.pull_policy, IPD_PULL_ALWAYS);
    cr_expect_eq(job.created_at, 1795773600123LL);
    cr_expect_eq(job.started_at, IPD_TIME_NULL);
    cr_expect_eq(job.nodes.desired, 4);
    cr_expect_eq(job.spec.backoff_limit, 2);
}

Test(standin, a_job_that_ended_ends_the_task_once)
{
    ipd_job_t job;
    ipd_task_t task;
    ipd_kube_job_info_t info = job_of("node-4");
    info.complete = 1;
    cr_assert_eq(ipd_standin_task(&info, IPD_MODEL_NO_TASK, 1795773609000LL, 0, &job, &task), 1);
    cr_expect_eq(task.state, IPD_TASK_SUCCEEDED);
    /* The words its node's daemon gives a Job that completed, should it come back. */
    cr_expect_str_eq(task.reason, "Pulled");
    cr_expect_str_eq(task.message, "the image is on the node");
    cr_expect_eq(job.started_at, 1795773609000LL, "the job had started by the time its task ended");
    cr_expect_eq(job.finished_at, IPD_TIME_NULL, "the job's end is its last task's");
    cr_assert_eq(ipd_standin_task(&info, IPD_TASK_UNKNOWN, 1, 0, &job, &task), 1, "an unknown task ends");
    cr_expect_eq(task.state, IPD_TASK_SUCCEEDED);
    cr_expect_eq(ipd_standin_task(&info, IPD_TASK_SUCCEEDED, 1, 0, &job, &task), 0, "already final");
    /* A final state never changes, whatever the Job says later. */
    cr_expect_eq(ipd_standin_task(&info, IPD_TASK_FAILED, 1, 0, &job, &task), 0);
    cr_expect_eq(ipd_standin_task(&info, IPD_TASK_CANCELLED, 1, 0, &job, &task), 0);

    info = job_of("node-4");
    info.pulled = 1; /* imgpulld.io/outcome=succeeded, written by the node's daemon before it went */
    cr_assert_eq(ipd_standin_task(&info, IPD_TASK_PULLING, 1, 0, &job, &task), 1);
    cr_expect_eq(task.state, IPD_TASK_SUCCEEDED);

    info = job_of("node-4");
    info.failed = 1;
    strcpy(info.failed_reason, "BackoffLimitExceeded");
    strcpy(info.failed_message, "Job has reached the specified backoff limit");
    cr_assert_eq(ipd_standin_task(&info, IPD_TASK_RETRYING, 1, 0, &job, &task), 1);
    cr_expect_eq(task.state, IPD_TASK_FAILED);
    cr_expect_str_eq(task.reason, "BackoffLimitExceeded");
    cr_expect_str_eq(task.message, "Job has reached the specified backoff limit");
}

Test(standin, nothing_is_news_for_a_running_job_s_task_an_anchor_or_a_job_let_go)
{
    ipd_job_t job;
    ipd_task_t task;
    ipd_kube_job_info_t info = job_of("node-4");
    info.active = 1;
    /* Every daemon shows a lost node's unfinished task unknown already. */
    cr_expect_eq(ipd_standin_task(&info, IPD_TASK_PULLING, 1, 0, &job, &task), 0);
    cr_expect_eq(ipd_standin_task(&info, IPD_TASK_UNKNOWN, 1, 0, &job, &task), 0);
    info.complete = 1;
    cr_expect_eq(ipd_standin_task(&info, IPD_MODEL_JOB_GONE, 1, 0, &job, &task), 0, "an evicted job stays gone");
    ipd_kube_job_info_t anchor = job_of("");
    anchor.anchor = 1;
    cr_expect_eq(ipd_standin_task(&anchor, IPD_MODEL_NO_TASK, 1, 0, &job, &task), 0);
}

/*
 * A Job that ended long ago while nothing of its job is held: a drop (the job aged out of the
 * history) that this daemon did not see, since a stand-in would have published the end when it
 * came. It is not brought back; one that ended since is published, and so is one whose job is
 * held without the node's task.
 */
Test(standin, a_job_that_ended_before_a_stand_in_could_see_it_is_not_brought_back)
{
    ipd_job_t job;
    ipd_task_t task;
    ipd_kube_job_info_t info = job_of("node-4");
    info.complete = 1;
    info.ended_at = 1795773600000LL;
    cr_expect_eq(ipd_standin_task(&info, IPD_MODEL_NO_TASK, 1795773700000LL, 1795773655000LL, &job, &task), 0);
    cr_expect_eq(ipd_standin_task(&info, IPD_MODEL_NO_TASK, 1795773700000LL, 1795773600000LL, &job, &task), 1);
    /* A task held and not final yet still ends: the job is known, nothing is brought back. */
    cr_expect_eq(ipd_standin_task(&info, IPD_TASK_UNKNOWN, 1795773700000LL, 1795773655000LL, &job, &task), 1);
    /* The job held without this node's task: every daemon was down while the Job ran and ended, and
     * the task is published from it. Before, the job waited for that node's task for ever. */
    cr_expect_eq(ipd_standin_task(&info, IPD_MODEL_JOB_ONLY, 1795773700000LL, 1795773655000LL, &job, &task), 1);
    cr_expect_eq(task.state, IPD_TASK_SUCCEEDED);
    /* A Job without the time (no condition time given) is judged on its state alone. */
    info.ended_at = IPD_TIME_NULL;
    cr_expect_eq(ipd_standin_task(&info, IPD_MODEL_NO_TASK, 1795773700000LL, 1795773655000LL, &job, &task), 1);
}

/*
 * An end is dated by the Job: its Complete or Failed condition's lastTransitionTime
 * (pkg/controller/job/job_controller.go, newCondition), given in whole seconds, so the end of
 * that second: never before the end itself, nor before the end the node's daemon gives from the
 * pod. Not when the stand-in's list came by, up to a third of a lease time later. The job had
 * started by then. Neither is before the job's creation.
 */
Test(standin, an_ended_task_is_dated_by_its_job_s_condition)
{
    ipd_job_t job;
    ipd_task_t task;
    ipd_kube_job_info_t info = job_of("node-4"); /* created at ...600.123 */
    info.complete = 1;
    info.ended_at = 1795773604000LL;
    cr_assert_eq(ipd_standin_task(&info, IPD_MODEL_NO_TASK, 1795773609000LL, 0, &job, &task), 1);
    cr_expect_eq(task.updated_at, 1795773604999LL, "the end of the Complete condition's second");
    cr_expect_eq(job.started_at, 1795773604999LL, "the job had started by the time its task ended");
    cr_assert_eq(ipd_standin_task(&info, IPD_TASK_UNKNOWN, 1795773609000LL, 0, &job, &task), 1);
    cr_expect_eq(task.updated_at, 1795773604999LL, "a lost node's task ends when its Job did");

    /* The second of the creation time: not before it (the creation time is in milliseconds). */
    info.ended_at = 1795773599000LL;
    cr_assert_eq(ipd_standin_task(&info, IPD_MODEL_NO_TASK, 1795773609000LL, 0, &job, &task), 1);
    cr_expect_eq(task.updated_at, 1795773600123LL);

    /* A condition time this recent (or ahead of this node's clock): the list's time. */
    info.complete = 0;
    info.failed = 1;
    info.ended_at = 1795773608500LL;
    cr_assert_eq(ipd_standin_task(&info, IPD_MODEL_NO_TASK, 1795773609000LL, 0, &job, &task), 1);
    cr_expect_eq(task.state, IPD_TASK_FAILED);
    cr_expect_eq(task.updated_at, 1795773609000LL);

    /* A running Job's task is unknown as of the list, and the job not started by it. */
    info = job_of("node-4");
    info.active = 1;
    cr_assert_eq(ipd_standin_task(&info, IPD_MODEL_NO_TASK, 1795773609000LL, 0, &job, &task), 1);
    cr_expect_eq(task.updated_at, 1795773609000LL);
    cr_expect_eq(job.started_at, IPD_TIME_NULL);
}

/* A failing pull given up for a node without a live daemon: failed with the words given, its pod,
 * attempts and registry's words kept, on the job's node, the job started then. */
Test(standin, a_pull_given_up_is_failed_with_its_pod_and_attempts)
{
    ipd_kube_job_info_t info = job_of("node-4");
    ipd_task_t seen, task;
    ipd_job_t job;
    ipd_task_init(&seen, "node-4", 1795773601000LL);
    strcpy(seen.ns, "imgpulld");
    strcpy(seen.pod, "imgpull-pj-0000abcd-node-4-x7k2p");
    seen.state = IPD_TASK_RETRYING;
    strcpy(seen.reason, "ImagePullBackOff");
    strcpy(seen.message, "Back-off pulling image");
    strcpy(seen.fail_reason, "ErrImagePull");
    strcpy(seen.fail_message, "manifest unknown");
    seen.attempts = 3;
    ipd_standin_gave_up(&info, &seen, "gave up after 3 attempts (backoff_limit 2): ErrImagePull: manifest unknown",
                        1795773609000LL, &job, &task);
    cr_expect_eq(task.state, IPD_TASK_FAILED);
    cr_expect_str_eq(task.node, "node-4");
    cr_expect_str_eq(task.pod, "imgpull-pj-0000abcd-node-4-x7k2p");
    cr_expect_str_eq(task.reason, "ImagePullBackOff");
    cr_expect_str_eq(task.message, "gave up after 3 attempts (backoff_limit 2): ErrImagePull: manifest unknown");
    cr_expect_eq(task.attempts, 3);
    cr_expect_eq(task.updated_at, 1795773609000LL);
    cr_expect_eq(task.cause, IPD_CAUSE_NOT_FOUND);
    cr_expect_str_eq(job.id, "pj-0000abcd");
    cr_expect_eq(job.started_at, 1795773609000LL);
    cr_expect_eq(job.finished_at, IPD_TIME_NULL);
    cr_expect_eq(job.nodes.desired, 4);
}
