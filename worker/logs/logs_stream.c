/* After the upgrade: waiting for the pod, the log request, backpressure, and how a stream ends. */
#include "worker/logs/logs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "proto/json.h"
#include "shared/log.h"
#include "worker/http/http.h"

static void start_log(ipd_logs_stream_t *s);

static uint64_t now_ms(const ipd_logs_stream_t *s)
{
    return h2o_now(s->w->loop);
}

void ipd_logs_kick(ipd_logs_stream_t *s)
{
    if (!h2o_timeout_is_linked(&s->flush_entry))
        h2o_timeout_link(s->w->loop, &s->w->ctx.zero_timeout, &s->flush_entry);
}

static void link_short(ipd_logs_stream_t *s)
{
    if (!h2o_timeout_is_linked(&s->short_entry))
        h2o_timeout_link(s->w->loop, &s->w->ctx.hundred_ms_timeout, &s->short_entry);
}

/* Appends `"key":"value"` (value escaped), with a leading comma. */
static int put_field(ipd_buf_t *b, const char *key, const char *value)
{
    int rc = ipd_buf_append_str(b, ",\"");
    rc = rc != 0 ? rc : ipd_buf_append_str(b, key);
    rc = rc != 0 ? rc : ipd_buf_append_str(b, "\":");
    return rc != 0 ? rc : ipd_json_append_string(b, value, strlen(value));
}

static void send_started(ipd_logs_stream_t *s)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    int rc = ipd_buf_append_str(&b, "{\"type\":\"started\"");
    rc = rc != 0 ? rc : put_field(&b, "namespace", s->ns);
    rc = rc != 0 ? rc : put_field(&b, "pod", s->pod);
    if (s->container[0] != '\0')
        rc = rc != 0 ? rc : put_field(&b, "container", s->container);
    else /* the apiserver chose the pod's only container; its name comes with the pod read, not waited for */
        rc = rc != 0 ? rc : ipd_buf_append_str(&b, ",\"container\":null");
    rc = rc != 0 ? rc : ipd_buf_append_str(&b, "}");
    if (rc == 0)
        ipd_logs_ws_text(s, b.data, b.len);
    ipd_buf_dispose(&b);
}

/* Enters (or stays in) the wait for the pod or its container; `why` is the message's reason. */
static void enter_wait(ipd_logs_stream_t *s, const char *why)
{
    ipd_logs_early_dispose(s); /* the log is asked again once the pod or its container is there */
    s->phase = IPD_LOGS_WAITING;
    if (!s->waiting_sent) {
        char json[160];
        uint64_t left = s->wait_deadline > now_ms(s) ? s->wait_deadline - now_ms(s) : 0;
        int n = snprintf(json, sizeof(json), "{\"type\":\"waiting\",\"timeout_s\":%" PRIu64 ",\"reason\":\"%s\"}",
                         (left + 999) / 1000, why);
        ipd_logs_ws_text(s, json, (size_t)n);
        s->waiting_sent = 1;
    }
    if (s->q.job[0] != '\0')
        link_short(s); /* a pull task's pod comes from the table */
}

/* A pod was read while waiting (or right after the upgrade): stream if its container runs. */
static void consider(ipd_logs_stream_t *s, const json_t *pod)
{
    char msg[512];
    if (ipd_logs_pick_container(pod, s->pod, s->q.container, s->container, msg, sizeof(msg)) != 0) {
        ipd_logs_ws_error(s, "invalid_container", msg, IPD_LOGS_CLOSE_BAD_REQUEST);
        return;
    }
    /*
     * As the kubelet picks the container whose log it serves (pkg/kubelet/kubelet_pods.go,
     * validateContainerLogStatus): the running one, else the terminated one, else the last
     * terminated run of a container that waits to restart (CrashLoopBackOff). Only a container
     * that never ran has no log yet, and only that one is waited for.
     */
    int has_previous = 0;
    ipd_logs_container_state_t state = ipd_logs_pod_container_state(pod, s->container, &has_previous);
    if (s->q.previous || state != IPD_LOGS_CONTAINER_UNKNOWN || has_previous) {
        start_log(s);
        return;
    }
    s->pod_seen = 1;
    enter_wait(s, "container_waiting");
}

/* A pull task's pod is not found: once the task is final and still names it, it will not come back. */
static int task_pod_gone(ipd_logs_stream_t *s)
{
    char ns[IPD_NAMESPACE_SIZE], pod[IPD_POD_SIZE], msg[IPD_JOB_ID_SIZE + IPD_NODE_SIZE + IPD_POD_SIZE + 64];
    if (ipd_logs_read_task(s->w, s->q.job, s->q.node, ns, pod, &s->task_final) != 0 || !s->task_final ||
        strcmp(pod, s->pod) != 0)
        return 0;
    snprintf(msg, sizeof(msg), "pod %s of job %s on node %s is gone (the task is final)", s->pod, s->q.job, s->q.node);
    ipd_logs_ws_error(s, "pod_not_found", msg, IPD_LOGS_CLOSE_NOT_FOUND);
    return 1;
}

static void on_probe_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    ipd_logs_stream_t *s = data;
    (void)req;
    s->kreq = NULL;
    if (res->error == 0 && res->status == 200) {
        json_t *pod = json_loadb(res->body, res->body_len, 0, NULL);
        if (pod != NULL) {
            consider(s, pod);
            json_decref(pod);
            return;
        }
        snprintf(s->last_error, sizeof(s->last_error), "the pod could not be read");
    } else if (res->error == 0 && res->status == 404) {
        s->pod_seen = 0;
        if (s->q.job[0] != '\0' && task_pod_gone(s))
            return;
    } else if (res->error == 0) {
        char msg[200];
        ipd_logs_status_message(res->body, res->body_len, msg, sizeof(msg));
        snprintf(s->last_error, sizeof(s->last_error), "reading the pod: apiserver answered %ld: %s", res->status, msg);
    } else {
        snprintf(s->last_error, sizeof(s->last_error), "reading the pod: %s", ipd_logs_transport_text(res->error));
    }
}

static void probe(ipd_logs_stream_t *s)
{
    s->next_poll = now_ms(s) + IPD_LOGS_POLL_MS;
    if (ipd_logs_get_pod(s, on_probe_done) != 0)
        snprintf(s->last_error, sizeof(s->last_error), "could not start a request to the Kubernetes API");
}

/* Waiting for a pull task's pod: the table names it once the master has seen it. */
static void poll_task(ipd_logs_stream_t *s)
{
    char ns[IPD_NAMESPACE_SIZE], pod[IPD_POD_SIZE];
    int final;
    int rc = ipd_logs_read_task(s->w, s->q.job, s->q.node, ns, pod, &final);
    if (rc == IPD_ENOTFOUND) {
        ipd_logs_ws_error(s, "job_not_found", "the pull job or its task on this node left the table",
                          IPD_LOGS_CLOSE_NOT_FOUND);
        return;
    }
    if (rc == 0 && pod[0] != '\0' && s->kreq == NULL && (strcmp(pod, s->pod) != 0 || now_ms(s) >= s->next_poll)) {
        memcpy(s->ns, ns, sizeof(s->ns));
        memcpy(s->pod, pod, sizeof(s->pod));
        probe(s);
    }
    link_short(s);
}

/* logs_pod_wait ran out. A pod that exists gets its log asked anyway: the apiserver says why it has none. */
static void give_up(ipd_logs_stream_t *s)
{
    char msg[1024];
    ipd_kube_cancel(s->kreq);
    s->kreq = NULL;
    if (s->pod_seen) {
        start_log(s);
        return;
    }
    if (s->q.job[0] != '\0')
        snprintf(msg, sizeof(msg), "no pod for job %s on node %s within %" PRIu64 " s%s%s", s->q.job, s->q.node,
                 s->w->cfg->logs_pod_wait_ms / 1000, s->last_error[0] ? "; " : "", s->last_error);
    else
        snprintf(msg, sizeof(msg), "pod %s/%s did not appear within %" PRIu64 " s%s%s", s->ns, s->pod,
                 s->w->cfg->logs_pod_wait_ms / 1000, s->last_error[0] ? "; " : "", s->last_error);
    ipd_logs_ws_error(s, "pod_not_found", msg, IPD_LOGS_CLOSE_NOT_FOUND);
}

static void on_short(h2o_timeout_entry_t *e)
{
    ipd_logs_stream_t *s = H2O_STRUCT_FROM_MEMBER(ipd_logs_stream_t, short_entry, e);
    if (s->phase == IPD_LOGS_WAITING && s->q.job[0] != '\0') {
        poll_task(s);
    } else if (s->phase == IPD_LOGS_STREAMING && s->framer.len != 0) {
        /* A partial last line: send it once the upstream has been quiet for the linger time. */
        if (now_ms(s) - s->last_rx >= IPD_LOGS_LINGER_MS)
            ipd_logs_framer_flush(&s->framer, 0, ipd_logs_ws_binary, s);
        else
            link_short(s);
    }
}

static void on_tick(h2o_timeout_entry_t *e)
{
    ipd_logs_stream_t *s = H2O_STRUCT_FROM_MEMBER(ipd_logs_stream_t, tick_entry, e);
    uint64_t now = now_ms(s);
    if (s->phase == IPD_LOGS_CLOSING && s->close_queued && now >= s->close_deadline) {
        ipd_logs_ws_abort(s);
        return;
    }
    if (ipd_logs_ws_pending(s) && now - s->last_progress >= s->w->cfg->logs_client_write_timeout_ms) {
        /* It reads nothing, so a close frame would never reach it: drop the connection. */
        ipd_info("logs", "stream %s/%s: the client took nothing for %" PRIu64 " ms, closing", s->ns, s->pod,
                 now - s->last_progress);
        ipd_logs_count_error(s);
        ipd_logs_ws_abort(s);
        return;
    }
    if (s->awaiting_pong && now - s->ping_sent_at >= s->w->cfg->ws_pong_timeout_ms) {
        ipd_info("logs", "stream %s/%s: no answer to a ping for %" PRIu64 " ms, closing", s->ns, s->pod,
                 now - s->ping_sent_at);
        ipd_logs_ws_abort(s);
        return;
    }
    if (!s->awaiting_pong && now - s->ping_sent_at >= s->w->cfg->ws_ping_interval_ms)
        ipd_logs_ws_ping(s);
    if (s->phase == IPD_LOGS_WAITING) {
        if (now >= s->wait_deadline)
            give_up(s);
        else if (s->q.job[0] == '\0' && s->kreq == NULL && now >= s->next_poll)
            probe(s);
    }
    h2o_timeout_link(s->w->loop, &s->w->ctx.one_sec_timeout, &s->tick_entry);
}

static void on_flush(h2o_timeout_entry_t *e)
{
    ipd_logs_stream_t *s = H2O_STRUCT_FROM_MEMBER(ipd_logs_stream_t, flush_entry, e);
    if (s->phase == IPD_LOGS_STREAMING) {
        /*
         * Resuming hands the held bytes over at once (on_log_data, inside the call): framed right
         * after, they leave with what wslay holds in the same write (the first ones with the
         * "started" message) rather than a loop turn later.
         */
        if (s->kreq != NULL && ipd_kube_paused(s->kreq) && !ipd_logs_ws_blocked(s))
            ipd_kube_resume(s->kreq);
        ipd_logs_framer_flush(&s->framer, 1, ipd_logs_ws_binary, s);
        if (s->framer.len != 0)
            link_short(s);
    }
    ipd_logs_ws_proceed(s); /* may free s */
}

static int on_log_data(ipd_kube_req_t *req, const char *buf, size_t len, void *data)
{
    ipd_logs_stream_t *s = data;
    if (req == s->early)
        ipd_logs_early_answered(s); /* a 2xx with bytes: the apiserver did the container check */
    if (req != s->kreq || ipd_logs_ws_blocked(s))
        return IPD_KUBE_DATA_PAUSE; /* the early request waits to be adopted */
    s->sent_bytes += len;
    s->last_rx = now_ms(s);
    ipd_logs_framer_push(&s->framer, buf, len, ipd_logs_ws_binary, s);
    ipd_logs_kick(s);
    return IPD_KUBE_DATA_TAKEN;
}

/* After a clean end of a pull task's log: goes on with the task's next pod if there is one. */
static int follow_task(ipd_logs_stream_t *s)
{
    char ns[IPD_NAMESPACE_SIZE], pod[IPD_POD_SIZE];
    int final;
    if (ipd_logs_read_task(s->w, s->q.job, s->q.node, ns, pod, &final) != 0)
        return 0;
    if (strcmp(pod, s->pod) == 0 || (pod[0] == '\0' && final))
        return 0;
    s->pod[0] = '\0'; /* poll_task probes whatever the table names next */
    s->container[0] = '\0';
    s->waiting_sent = 0;
    s->pod_seen = 0;
    s->wait_deadline = now_ms(s) + s->w->cfg->logs_pod_wait_ms;
    enter_wait(s, "pod_not_found");
    return 1;
}

static void on_end_probe_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    ipd_logs_stream_t *s = data;
    const char *reason = "apiserver_closed";
    (void)req;
    s->kreq = NULL;
    if (res->error == 0 && res->status == 404) {
        reason = "pod_deleted";
    } else if (res->error == 0 && res->status == 200) {
        json_t *pod = json_loadb(res->body, res->body_len, 0, NULL);
        char msg[8];
        /* A container the apiserver chose (none named) is the pod's only one: the pod names it now. */
        if (pod != NULL && s->container[0] == '\0')
            (void)ipd_logs_pick_container(pod, s->pod, "", s->container, msg, sizeof(msg));
        if (pod != NULL && ipd_logs_pod_container_state(pod, s->container, NULL) != IPD_LOGS_CONTAINER_RUNNING)
            reason = "container_terminated";
        json_decref(pod);
    }
    if (s->q.job[0] != '\0' && follow_task(s))
        return;
    ipd_logs_ws_end(s, reason, IPD_LOGS_CLOSE_NORMAL);
}

/* The apiserver answered the log request with an error status. */
static void upstream_refused(ipd_logs_stream_t *s, const ipd_kube_result_t *res)
{
    char status_msg[256], msg[400], code[32];
    ipd_logs_status_message(res->body, res->body_len, status_msg, sizeof(status_msg));
    snprintf(code, sizeof(code), "upstream_%ld", res->status);
    snprintf(msg, sizeof(msg), "the Kubernetes API answered %ld: %s", res->status, status_msg);
    int close_code = res->status == 404                         ? IPD_LOGS_CLOSE_NOT_FOUND
                     : res->status == 401 || res->status == 403 ? IPD_LOGS_CLOSE_FORBIDDEN
                     : res->status >= 400 && res->status < 500  ? IPD_LOGS_CLOSE_BAD_REQUEST
                                                                : IPD_LOGS_CLOSE_INTERNAL;
    ipd_logs_ws_error(s, code, msg, close_code);
}

const char *ipd_logs_transport_code(int err)
{
    return err == -ECONNREFUSED || err == -EHOSTUNREACH ? "upstream_unreachable"
           : err == -EPROTO                             ? "upstream_tls"
           : err == -ETIMEDOUT                          ? "upstream_timeout"
           : err == -ECONNRESET                         ? "upstream_reset"
                                                        : "upstream_error";
}

const char *ipd_logs_transport_text(int err)
{
    switch (err) {
    case -ECONNREFUSED:
        return "connection refused";
    case -EHOSTUNREACH:
        return "host name not resolved";
    case -EPROTO:
        return "TLS failure (is the apiserver certificate trusted?)";
    case -ETIMEDOUT:
        return "timed out";
    case -ECONNRESET:
        return "connection lost";
    default:
        return ipd_strerror(err);
    }
}

/* The log request failed below HTTP: connect, TLS, reset, timeout. */
static void transport_failed(ipd_logs_stream_t *s, const ipd_kube_result_t *res)
{
    const char *code = ipd_logs_transport_code(res->error);
    char msg[300];
    snprintf(msg, sizeof(msg), "the log request to the Kubernetes API failed: %s", ipd_logs_transport_text(res->error));
    ipd_warn("logs", "stream %s/%s: %s", s->ns, s->pod, res->message != NULL ? res->message : msg);
    ipd_logs_ws_error(s, code, msg, IPD_LOGS_CLOSE_INTERNAL);
}

void ipd_logs_early_dispose(ipd_logs_stream_t *s)
{
    ipd_kube_cancel(s->early);
    s->early = NULL;
    free(s->early_end.body);
    free(s->early_end.message);
    memset(&s->early_end, 0, sizeof(s->early_end));
}

/* Keeps what the early request said (an error status, an empty log) until start_log hands it on. */
static void keep_early_end(ipd_logs_stream_t *s, const ipd_kube_result_t *res)
{
    struct ipd_logs_early_end *e = &s->early_end;
    s->early = NULL;
    e->ended = 1;
    e->res = *res;
    e->res.body = e->res.message = NULL;
    e->res.body_len = 0;
    if (res->body != NULL && res->body_len > 0 && (e->body = malloc(res->body_len)) != NULL) {
        memcpy(e->body, res->body, res->body_len);
        e->res.body = e->body;
        e->res.body_len = res->body_len;
    }
    if (res->message != NULL && (e->message = strdup(res->message)) != NULL)
        e->res.message = e->message;
}

/* The log request ended with `res`. */
static void log_ended(ipd_logs_stream_t *s, const ipd_kube_result_t *res)
{
    ipd_logs_framer_flush(&s->framer, 0, ipd_logs_ws_binary, s);
    if (res->error == IPD_EREMOTE) {
        upstream_refused(s, res);
    } else if (res->error != 0) {
        transport_failed(s, res);
    } else if (s->q.limit_bytes != 0 && s->sent_bytes >= (uint64_t)s->q.limit_bytes) {
        ipd_logs_ws_end(s, "limit_bytes", IPD_LOGS_CLOSE_NORMAL);
    } else if (!s->q.follow || s->q.previous) {
        ipd_logs_ws_end(s, "complete", IPD_LOGS_CLOSE_NORMAL);
    } else {
        /* A follow stream ended: read the pod to tell the client why. */
        s->phase = IPD_LOGS_ENDING;
        if (ipd_logs_get_pod(s, on_end_probe_done) != 0)
            ipd_logs_ws_end(s, "apiserver_closed", IPD_LOGS_CLOSE_NORMAL);
    }
}

static void on_log_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    ipd_logs_stream_t *s = data;
    if (req == s->early) {
        keep_early_end(s, res);
        ipd_logs_check_pod_soon(s); /* before the upgrade: the pod read tells what the end means */
        return;
    }
    s->kreq = NULL;
    log_ended(s, res);
}

/* The log request of `container` ("" for the pod's only one) from byte `sent` on, with the stream's callbacks. */
static int start_request(ipd_logs_stream_t *s, const char *container, ipd_kube_req_t **out)
{
    ipd_buf_t path;
    ipd_kube_req_spec_t spec;
    int64_t limit = s->q.limit_bytes != 0 ? s->q.limit_bytes - (int64_t)s->sent_bytes : 0;

    ipd_buf_init(&path);
    int rc = ipd_logs_query_log_path(&s->q, s->ns, s->pod, container, limit, &path);
    memset(&spec, 0, sizeof(spec));
    spec.path = path.data;
    spec.on_data = on_log_data;
    spec.on_done = on_log_done;
    spec.data = s;
    if (rc == 0)
        rc = ipd_kube_start(s->w->kube, &spec, out);
    ipd_buf_dispose(&path);
    return rc;
}

void ipd_logs_start_early(ipd_logs_stream_t *s)
{
    /*
     * The container named by the query, or none: the pod read accepts an unnamed container only
     * when the pod has exactly one, which is the one the apiserver serves when none is named.
     */
    if (s->early == NULL && start_request(s, s->q.container, &s->early) != 0)
        s->early = NULL;
}

static void start_log(ipd_logs_stream_t *s)
{
    int rc = 0;

    if (h2o_timeout_is_linked(&s->short_entry))
        h2o_timeout_unlink(&s->short_entry);
    int adopt = s->sent_bytes == 0 && (s->early != NULL || s->early_end.ended);
    if (adopt && s->early != NULL) {
        s->kreq = s->early; /* paused on its first bytes: the kick below resumes it */
        s->early = NULL;
    } else if (!adopt) {
        ipd_logs_early_dispose(s);
        rc = start_request(s, s->container, &s->kreq);
    }
    if (rc != 0) {
        ipd_logs_ws_error(s, "internal", "could not start the log request", IPD_LOGS_CLOSE_INTERNAL);
        return;
    }
    s->phase = IPD_LOGS_STREAMING;
    s->pod_seen = 0;
    s->waiting_sent = 0;
    s->last_error[0] = '\0';
    send_started(s);
    if (s->early_end.ended) {
        log_ended(s, &s->early_end.res); /* the early request already ended: as if it just had */
        ipd_logs_early_dispose(s);
    } else if (adopt && s->kreq != NULL && ipd_kube_paused(s->kreq)) {
        /* Its held bytes, framed now, queue behind "started" and leave in the same write. */
        ipd_kube_resume(s->kreq);
        ipd_logs_framer_flush(&s->framer, 1, ipd_logs_ws_binary, s);
    }
    ipd_logs_kick(s);
}

/* The stream's timers and deadlines, right after the upgrade. */
static void begin(ipd_logs_stream_t *s)
{
    uint64_t now = now_ms(s);
    s->flush_entry.cb = on_flush;
    s->short_entry.cb = on_short;
    s->tick_entry.cb = on_tick;
    s->wait_deadline = now + s->w->cfg->logs_pod_wait_ms;
    s->next_poll = now + IPD_LOGS_POLL_MS;
    s->ping_sent_at = now;
    h2o_timeout_link(s->w->loop, &s->w->ctx.one_sec_timeout, &s->tick_entry);
}

void ipd_logs_stream_begin_answered(ipd_logs_stream_t *s)
{
    begin(s);
    start_log(s); /* adopts the early request */
}

void ipd_logs_stream_begin(ipd_logs_stream_t *s, const json_t *pod)
{
    begin(s);
    if (pod != NULL)
        consider(s, pod);
    else
        enter_wait(s, "pod_not_found");
}
