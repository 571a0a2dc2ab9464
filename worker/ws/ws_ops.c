#include "worker/ws/ws.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sends an error message; the connection stays open. */
static void fail(ipd_ws_conn_t *c, const char *code, const char *message)
{
    ipd_ws_conn_send(c, ipd_ws_msg_error(code, message));
}

/* Subscriptions as an ack reports them: the jobs followed, all of them under subscribe_all. */
static uint64_t following(const ipd_ws_conn_t *c)
{
    return c->all ? c->ws->nlive : c->nsubs;
}

static void ack(ipd_ws_conn_t *c, const char *op)
{
    ipd_ws_conn_send(c, ipd_ws_msg_ack(op, following(c)));
}

/* Checks that `msg` has no field but "op" and, when `jobs_field`, "jobs". Returns 0 or -1 (answered). */
static int only_known_fields(ipd_ws_conn_t *c, json_t *msg, int jobs_field)
{
    const char *key;
    json_t *value;
    json_object_foreach(msg, key, value)
    {
        (void)value;
        if (strcmp(key, "op") != 0 && !(jobs_field && strcmp(key, "jobs") == 0)) {
            char text[160];
            snprintf(text, sizeof(text), "unknown field \"%.64s\"", key);
            fail(c, "invalid_message", text);
            return -1;
        }
    }
    return 0;
}

/* The "jobs" array of `msg` when every element is a job id. NULL when answered with an error. */
static json_t *job_list(ipd_ws_conn_t *c, json_t *msg)
{
    json_t *jobs = json_object_get(msg, "jobs");
    size_t i;
    json_t *v;
    if (!json_is_array(jobs)) {
        fail(c, "invalid_message", "\"jobs\" must be an array of job ids");
        return NULL;
    }
    json_array_foreach(jobs, i, v)
    {
        size_t len = json_is_string(v) ? json_string_length(v) : 0;
        if (len == 0 || len >= IPD_JOB_ID_SIZE || strlen(json_string_value(v)) != len) {
            char text[96];
            snprintf(text, sizeof(text), "jobs[%zu] must be a job id (1 to %d characters)", i, IPD_JOB_ID_SIZE - 1);
            fail(c, "invalid_job_id", text);
            return NULL;
        }
    }
    return jobs;
}

static void op_subscribe(ipd_ws_conn_t *c, json_t *jobs)
{
    size_t n = json_array_size(jobs), added = 0;
    if (c->all) {
        ack(c, "subscribe"); /* every job is followed already */
        return;
    }
    int since_ok = ipd_ws_since_ok(c);
    /* Over the limit nothing of this message is kept: the ones just added are taken back. */
    size_t *fresh = n != 0 ? malloc(n * sizeof(*fresh)) : NULL;
    int over = 0, worker_over = 0, nomem = n != 0 && fresh == NULL;
    for (size_t i = 0; i < n && !over && !nomem; i++) {
        const char *id = json_string_value(json_array_get(jobs, i));
        if (ipd_ws_sub_has(c, id))
            continue;
        if (c->nsubs >= c->ws->max_subs) {
            over = 1;
            break;
        }
        if (c->ws->total_subs >= c->ws->max_total_subs) {
            over = worker_over = 1;
            break;
        }
        int rc = ipd_ws_sub_add(c, id, since_ok);
        if (rc < 0)
            nomem = 1;
        else if (rc > 0)
            fresh[added++] = i;
    }
    if (over || nomem) {
        for (size_t k = 0; k < added; k++)
            ipd_ws_sub_remove(c, json_string_value(json_array_get(jobs, fresh[k])));
        char text[160];
        if (worker_over)
            snprintf(text, sizeof(text),
                     "this worker holds %llu job subscriptions (ws_max_subscriptions_per_worker); retry later",
                     (unsigned long long)c->ws->max_total_subs);
        else
            snprintf(text, sizeof(text), "a connection may follow at most %u jobs (ws_max_subscriptions)",
                     c->ws->max_subs);
        fail(c, over ? "too_many_subscriptions" : "internal", over ? text : "out of memory");
    } else {
        /* The ack goes out before the snapshots: own messages are written first. */
        ack(c, "subscribe");
    }
    free(fresh);
}

static void op_unsubscribe(ipd_ws_conn_t *c, json_t *jobs)
{
    if (c->all) {
        fail(c, "conflict", "subscribe_all is in force: leave it with unsubscribe_all");
        return;
    }
    for (size_t i = 0; i < json_array_size(jobs); i++)
        ipd_ws_sub_remove(c, json_string_value(json_array_get(jobs, i)));
    ack(c, "unsubscribe");
}

static void dispatch(ipd_ws_conn_t *c, json_t *msg)
{
    json_t *op = json_object_get(msg, "op");
    const char *name = json_string_value(op);
    if (name == NULL) {
        fail(c, "invalid_message", "a message is a JSON object with a string \"op\"");
        return;
    }
    int with_jobs = strcmp(name, "subscribe") == 0 || strcmp(name, "unsubscribe") == 0;
    if (with_jobs) {
        json_t *jobs;
        if (only_known_fields(c, msg, 1) != 0 || (jobs = job_list(c, msg)) == NULL)
            return;
        if (name[0] == 's')
            op_subscribe(c, jobs);
        else
            op_unsubscribe(c, jobs);
    } else if (strcmp(name, "subscribe_all") == 0) {
        if (only_known_fields(c, msg, 0) != 0)
            return;
        if (!c->all)
            ipd_ws_sub_all(c, ipd_ws_since_ok(c));
        ack(c, "subscribe_all");
    } else if (strcmp(name, "unsubscribe_all") == 0) {
        if (only_known_fields(c, msg, 0) != 0)
            return;
        ipd_ws_sub_clear(c);
        ack(c, "unsubscribe_all");
    } else {
        char text[128];
        snprintf(text, sizeof(text), "unknown op \"%.48s\": subscribe, unsubscribe, subscribe_all or unsubscribe_all",
                 name);
        fail(c, "unknown_op", text);
    }
}

void ipd_ws_ops_handle(ipd_ws_conn_t *c, const char *text, size_t len)
{
    if (c->kind == IPD_WS_KIND_JOB) {
        fail(c, "unsupported", "this endpoint takes no messages; /ws/image-pull-all takes subscriptions");
    } else {
        json_error_t err;
        json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
        if (msg == NULL) {
            char why[200];
            snprintf(why, sizeof(why), "not JSON: %s (at character %d)", err.text, err.position);
            fail(c, "invalid_json", why);
        } else if (!json_is_object(msg)) {
            fail(c, "invalid_message", "a message is a JSON object with a string \"op\"");
        } else {
            dispatch(c, msg);
        }
        json_decref(msg);
    }
    ipd_ws_conn_pump(c);
}
