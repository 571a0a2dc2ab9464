#include "master/reflector.h"
#include "master/watch_batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/error.h"
#include "proto/json_scan.h"
#include "shared/log.h"
#include "proto/json_get.h"

#define HEALTHY_MS 30000 /* a watch that lived this long resets the backoff */
/* A longer Retry-After is taken as this. */
#define RETRY_AFTER_MAX_MS (10 * 60 * 1000)
#define RV_SIZE            64

enum { IDLE, LISTING, WATCHING, BACKOFF };

struct ipd_reflector {
    ipd_mloop_t *loop;
    ipd_kube_t *kube;
    ipd_reflector_spec_t spec; /* strings below are owned copies */
    char *selectors;           /* "&labelSelector=...&fieldSelector=..." escaped, or "" */
    ipd_reflector_ops_t ops;
    void *ctx;
    int state;
    int next_is_list; /* what the retry timer starts */
    ipd_kube_req_t *req;
    char rv[RV_SIZE];
    char *cont;
    int list_open;   /* on_list_begin was called for the list in progress */
    int unpaginated; /* a continue token expired: the next list asks for everything at once */
    int synced;
    uint64_t backoff_ms, seed;
    uint64_t watch_started, last_contact;
    ipd_mloop_timer_t retry_timer, idle_timer;
    ipd_watch_batch_t batch; /* watch events of this loop iteration, the latest per object */
    ipd_reflector_stats_t stats;
    /* With ops.shape: what to decode of a watch event and of a list page around the objects. */
    ipd_json_field_t event_fields[2], page_fields[2];
    ipd_json_shape_t event_shape, items_shape, page_shape;
};

static const ipd_json_field_t list_meta_fields[] = {{"continue", NULL}, {"resourceVersion", NULL}};
static const ipd_json_shape_t list_meta_shape = IPD_JSON_OBJECT_SHAPE(list_meta_fields);

static void start_list(ipd_reflector_t *r);
static void start_watch(ipd_reflector_t *r);

uint64_t ipd_reflector_next_backoff(uint64_t current, uint64_t max, uint64_t *seed)
{
    uint64_t next = current * 2 > max ? max : current * 2;
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    /* +-25% so that daemons restarted together do not reconnect together. */
    uint64_t span = next / 2;
    return span == 0 ? next : next - next / 4 + *seed % (span + 1);
}

static void on_retry(ipd_mloop_timer_t *t)
{
    ipd_reflector_t *r = t->data;
    if (r->next_is_list)
        start_list(r);
    else
        start_watch(r);
}

/*
 * Schedules a list or watch after the current backoff delay, then grows the delay. An answer
 * that said when to come back (429 or 503 with Retry-After, as an API server under its
 * max-in-flight or priority-and-fairness limits sends) is retried after exactly that delay, as
 * client-go does, and does not grow the backoff: the server is alive and has told us when.
 */
static void back_off(ipd_reflector_t *r, int relist, const char *why, uint64_t retry_after_ms)
{
    r->stats.errors++;
    r->state = BACKOFF;
    r->next_is_list = relist;
    uint64_t delay = r->backoff_ms;
    if (retry_after_ms > 0)
        delay = retry_after_ms < RETRY_AFTER_MAX_MS ? retry_after_ms : RETRY_AFTER_MAX_MS;
    ipd_warn("watch", "%s: %s; retrying %s in %llu ms%s", r->spec.name, why, relist ? "list" : "watch",
             (unsigned long long)delay, retry_after_ms > 0 ? " (Retry-After)" : "");
    ipd_mloop_timer_start(r->loop, &r->retry_timer, delay);
    if (retry_after_ms == 0)
        r->backoff_ms = ipd_reflector_next_backoff(r->backoff_ms, r->spec.backoff_max_ms, &r->seed);
}

static void set_rv(ipd_reflector_t *r, const json_t *obj)
{
    const char *rv = ipd_json_str_at(json_object_get(obj, "metadata"), "resourceVersion", NULL);
    if (rv != NULL && strlen(rv) < RV_SIZE)
        strcpy(r->rv, rv);
}

/* Parses a list page or a held watch event: all of it, or what `shape` keeps when the owner
 * gave a shape. NULL for malformed text; the pruned decoder refuses exactly the texts
 * json_loadb refuses, so a bad line is counted and skipped as it always was. */
static json_t *decode(const ipd_reflector_t *r, const ipd_json_shape_t *shape, const char *text, size_t len)
{
    json_t *doc = NULL;
    if (r->ops.shape == NULL)
        return json_loadb(text, len, 0, NULL);
    return ipd_json_prune_load(text, len, shape, &doc) == 0 ? doc : NULL;
}

static int list_page(ipd_reflector_t *r, const ipd_kube_result_t *res)
{
    json_t *doc = decode(r, &r->page_shape, res->body, res->body_len);
    const json_t *items = json_object_get(doc, "items"), *meta = json_object_get(doc, "metadata");
    if (doc == NULL || !json_is_array(items)) {
        json_decref(doc);
        return -1;
    }
    r->stats.list_pages++;
    if (!r->list_open) {
        r->list_open = 1;
        r->ops.on_list_begin(r->ctx);
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) r->ops.on_object(r->ctx, IPD_WATCH_ADDED, item);
    const char *cont = ipd_json_str_at(meta, "continue", NULL), *rv = ipd_json_str_at(meta, "resourceVersion", NULL);
    free(r->cont);
    r->cont = cont != NULL && cont[0] != '\0' ? strdup(cont) : NULL;
    if (r->cont == NULL && rv != NULL && strlen(rv) < RV_SIZE)
        strcpy(r->rv, rv);
    json_decref(doc);
    return 0;
}

static void on_list_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    ipd_reflector_t *r = data;
    (void)req;
    r->req = NULL;
    r->last_contact = ipd_mloop_clock_ms();
    if (res->error != 0 || (res->status != 200 && res->status != 410)) {
        char why[256];
        snprintf(why, sizeof(why), "list failed: %s (HTTP %ld)", res->message ? res->message : "", res->status);
        free(r->cont);
        r->cont = NULL;
        back_off(r, 1, why, res->retry_after_ms);
        return;
    }
    if (res->status == 410 && r->cont != NULL) {
        /* The continue token expired (its snapshot was compacted away). As client-go's pager
         * does, list again at once without pagination: paging again could expire the same way. */
        r->stats.relists_gone++;
        r->unpaginated = 1;
        free(r->cont);
        r->cont = NULL;
        start_list(r);
        return;
    }
    if (res->status == 410 || list_page(r, res) != 0) {
        /* Not something an immediate retry would change: list again after the backoff delay. */
        free(r->cont);
        r->cont = NULL;
        back_off(r, 1, res->status == 410 ? "list expired (HTTP 410)" : "unreadable list page", 0);
        return;
    }
    if (r->cont != NULL) {
        start_list(r);
        return;
    }
    r->list_open = 0;
    r->unpaginated = 0;
    r->synced = 1;
    r->stats.lists++;
    r->backoff_ms = r->spec.backoff_initial_ms;
    r->ops.on_list_end(r->ctx);
    ipd_debug("watch", "%s: list complete at resourceVersion %s", r->spec.name, r->rv);
    start_watch(r);
}

static void start_list(ipd_reflector_t *r)
{
    ipd_reflector_drain(r);
    if (r->cont == NULL)
        r->list_open = 0; /* a list from the first page: the owner starts a fresh mark */
    char *cont = r->cont != NULL ? ipd_kube_escape(r->cont) : NULL;
    size_t len = strlen(r->spec.path) + strlen(r->selectors) + (cont ? strlen(cont) : 0) + 64;
    char *path = malloc(len);
    if (path == NULL || (r->cont != NULL && cont == NULL)) {
        free(path);
        free(cont);
        back_off(r, 1, "out of memory", 0);
        return;
    }
    snprintf(path, len, "%s?limit=%d%s%s%s", r->spec.path, r->unpaginated ? 0 : r->spec.page_size, r->selectors,
             cont ? "&continue=" : "", cont ? cont : "");
    free(cont);
    /* no_retry: a 429 or 503 comes back here, which waits its Retry-After with the list's own state. */
    ipd_kube_req_spec_t spec = {.path = path, .on_done = on_list_done, .data = r, .no_retry = 1};
    r->state = LISTING;
    int rc = ipd_kube_start(r->kube, &spec, &r->req);
    free(path);
    if (rc != 0)
        back_off(r, 1, "cannot start the list request", 0);
}

static void restart_watch_now(ipd_reflector_t *r, int relist)
{
    ipd_kube_cancel(r->req);
    r->req = NULL;
    ipd_mloop_timer_stop(r->loop, &r->idle_timer);
    r->stats.watch_restarts++;
    if (relist) {
        r->stats.relists_gone++;
        start_list(r);
    } else {
        start_watch(r);
    }
}

/* Applies one held watch line (already known to be ADDED, MODIFIED or DELETED of an object). */
static void apply_line(void *ctx, const char *line, size_t len)
{
    ipd_reflector_t *r = ctx;
    json_t *ev = decode(r, &r->event_shape, line, len);
    const char *type = ipd_json_str_at(ev, "type", NULL);
    json_t *obj = json_object_get(ev, "object");
    if (type != NULL && json_is_object(obj)) {
        ipd_watch_type_t t = strcmp(type, "DELETED") == 0 ? IPD_WATCH_DELETED
                             : strcmp(type, "ADDED") == 0 ? IPD_WATCH_ADDED
                                                          : IPD_WATCH_MODIFIED;
        r->ops.on_object(r->ctx, t, obj);
    } else {
        r->stats.errors++;
        ipd_warn("watch", "%s: unreadable watch event skipped", r->spec.name);
    }
    json_decref(ev);
}

void ipd_reflector_drain(ipd_reflector_t *r)
{
    r->stats.coalesced = r->batch.superseded;
    ipd_watch_batch_drain(&r->batch, apply_line, r);
}

/*
 * Holds an object event for the end of the loop iteration: only its type, key and
 * resourceVersion are read now. Returns -1 for lines that need a full parse at once (bookmarks,
 * errors, escaped names).
 */
static int hold(ipd_reflector_t *r, const char *line, size_t len)
{
    static const char *const type_path[] = {"type"};
    static const char *const meta_path[] = {"object", "metadata"};
    static const char *const names[] = {"name", "namespace", "resourceVersion"};
    const char *type;
    size_t tlen;
    ipd_json_span_t m[3];
    if (ipd_json_scan_string(line, len, type_path, 1, &type, &tlen) != 0 ||
        !((tlen == 5 && memcmp(type, "ADDED", 5) == 0) || (tlen == 8 && memcmp(type, "MODIFIED", 8) == 0) ||
          (tlen == 7 && memcmp(type, "DELETED", 7) == 0)))
        return -1;
    if (ipd_json_scan_members(line, len, meta_path, 2, names, 3, m) != 0 || m[0].ptr == NULL || m[2].ptr == NULL ||
        m[0].escaped || m[1].escaped || m[2].escaped || m[2].len >= RV_SIZE || m[0].len + m[1].len > 600)
        return -1;
    char key[640];
    memcpy(key, m[1].ptr ? m[1].ptr : "", m[1].len);
    key[m[1].len] = '/';
    memcpy(key + m[1].len + 1, m[0].ptr, m[0].len);
    key[m[1].len + 1 + m[0].len] = '\0';
    if (ipd_watch_batch_put(&r->batch, key, line, len) != 0)
        return -1;
    memcpy(r->rv, m[2].ptr, m[2].len);
    r->rv[m[2].len] = '\0';
    r->stats.events++;
    return 0;
}

static void on_watch_line(ipd_kube_req_t *req, const char *line, size_t len, void *data)
{
    ipd_reflector_t *r = data;
    (void)req;
    r->last_contact = ipd_mloop_clock_ms();
    if (len == 0 || hold(r, line, len) == 0)
        return;
    /* Whatever this line says comes after the held events. */
    ipd_reflector_drain(r);
    json_error_t jerr;
    json_t *ev = json_loadb(line, len, 0, &jerr);
    const char *type = ipd_json_str_at(ev, "type", NULL);
    json_t *obj = json_object_get(ev, "object");
    if (type == NULL || !json_is_object(obj)) {
        json_decref(ev);
        ipd_kube_cancel(r->req);
        r->req = NULL;
        ipd_mloop_timer_stop(r->loop, &r->idle_timer);
        back_off(r, 0, "unreadable watch event", 0);
        return;
    }
    if (strcmp(type, "BOOKMARK") == 0) {
        r->stats.bookmarks++;
        set_rv(r, obj);
    } else if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        const char *msg = ipd_json_str_at(obj, "message", NULL);
        ipd_info("watch", "%s: watch error %lld: %s", r->spec.name, (long long)code, msg ? msg : "");
        json_decref(ev);
        if (code == 410) {
            restart_watch_now(r, 1);
        } else {
            ipd_kube_cancel(r->req);
            r->req = NULL;
            ipd_mloop_timer_stop(r->loop, &r->idle_timer);
            back_off(r, 0, "watch ERROR event", 0);
        }
        return;
    } else {
        ipd_watch_type_t t = strcmp(type, "DELETED") == 0 ? IPD_WATCH_DELETED
                             : strcmp(type, "ADDED") == 0 ? IPD_WATCH_ADDED
                                                          : IPD_WATCH_MODIFIED;
        r->stats.events++;
        r->ops.on_object(r->ctx, t, obj);
        set_rv(r, obj);
    }
    json_decref(ev);
}

static void on_watch_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    ipd_reflector_t *r = data;
    (void)req;
    r->req = NULL;
    ipd_mloop_timer_stop(r->loop, &r->idle_timer);
    uint64_t now = ipd_mloop_clock_ms(), lived = now - r->watch_started;
    if (lived >= HEALTHY_MS)
        r->backoff_ms = r->spec.backoff_initial_ms;
    if (res->status == 410) {
        r->last_contact = now;
        r->stats.relists_gone++;
        start_list(r);
    } else if (res->error == 0 && res->status == 200 && (lived >= 1000 || r->last_contact > r->watch_started)) {
        /* The server ended the watch at timeoutSeconds: resume from the last resourceVersion. */
        start_watch(r);
    } else {
        char why[256];
        snprintf(why, sizeof(why), "watch ended: %s (HTTP %ld)", res->message ? res->message : "closed early",
                 res->status);
        r->stats.watch_restarts++;
        back_off(r, 0, why, res->retry_after_ms);
    }
}

static void on_idle(ipd_mloop_timer_t *t)
{
    ipd_reflector_t *r = t->data;
    uint64_t now = ipd_mloop_clock_ms();
    if (r->state != WATCHING || r->req == NULL)
        return;
    uint64_t quiet = now - (r->last_contact > r->watch_started ? r->last_contact : r->watch_started);
    if (quiet < r->spec.idle_timeout_ms) {
        ipd_mloop_timer_start(r->loop, &r->idle_timer, r->spec.idle_timeout_ms - quiet);
        return;
    }
    ipd_warn("watch", "%s: watch silent for %llu ms, restarting it", r->spec.name, (unsigned long long)quiet);
    r->stats.idle_restarts++;
    restart_watch_now(r, 0);
}

static void start_watch(ipd_reflector_t *r)
{
    size_t len = strlen(r->spec.path) + strlen(r->selectors) + RV_SIZE + 128;
    char *path = malloc(len);
    if (path == NULL) {
        back_off(r, 0, "out of memory", 0);
        return;
    }
    snprintf(path, len, "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%llu%s", r->spec.path,
             r->rv, (unsigned long long)(r->spec.watch_timeout_ms / 1000), r->selectors);
    ipd_kube_req_spec_t spec = {.path = path, .on_done = on_watch_done, .on_line = on_watch_line, .data = r};
    r->state = WATCHING;
    r->watch_started = ipd_mloop_clock_ms();
    int rc = ipd_kube_start(r->kube, &spec, &r->req);
    free(path);
    if (rc != 0) {
        back_off(r, 0, "cannot start the watch request", 0);
        return;
    }
    r->stats.watches++;
    ipd_mloop_timer_start(r->loop, &r->idle_timer, r->spec.idle_timeout_ms);
}

static char *build_selectors(const ipd_reflector_spec_t *spec)
{
    char *l = spec->label_selector ? ipd_kube_escape(spec->label_selector) : NULL;
    char *f = spec->field_selector ? ipd_kube_escape(spec->field_selector) : NULL;
    size_t len = (l ? strlen(l) : 0) + (f ? strlen(f) : 0) + 32;
    char *out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%s%s%s%s", l ? "&labelSelector=" : "", l ? l : "", f ? "&fieldSelector=" : "", f ? f : "");
    free(l);
    free(f);
    return out;
}

int ipd_reflector_create(ipd_mloop_t *loop, ipd_kube_t *kube, const ipd_reflector_spec_t *spec,
                         const ipd_reflector_ops_t *ops, void *ctx, ipd_reflector_t **out)
{
    ipd_reflector_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->loop = loop;
    r->kube = kube;
    r->spec = *spec;
    r->spec.name = strdup(spec->name);
    r->spec.path = strdup(spec->path);
    r->spec.label_selector = r->spec.field_selector = NULL;
    r->selectors = build_selectors(spec);
    r->ops = *ops;
    r->ctx = ctx;
    r->event_fields[0] = (ipd_json_field_t){"type", NULL};
    r->event_fields[1] = (ipd_json_field_t){"object", ops->shape};
    r->event_shape = (ipd_json_shape_t)IPD_JSON_OBJECT_SHAPE(r->event_fields);
    r->items_shape = (ipd_json_shape_t)IPD_JSON_ARRAY_SHAPE(ops->shape);
    r->page_fields[0] = (ipd_json_field_t){"items", &r->items_shape};
    r->page_fields[1] = (ipd_json_field_t){"metadata", &list_meta_shape};
    r->page_shape = (ipd_json_shape_t)IPD_JSON_OBJECT_SHAPE(r->page_fields);
    r->backoff_ms = spec->backoff_initial_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->seed = (uint64_t)ts.tv_nsec * 2654435761u + (uint64_t)(uintptr_t)r + 1;
    ipd_mloop_timer_init(&r->retry_timer, on_retry, r);
    ipd_mloop_timer_init(&r->idle_timer, on_idle, r);
    ipd_watch_batch_init(&r->batch);
    if (r->spec.name == NULL || r->spec.path == NULL || r->selectors == NULL) {
        ipd_reflector_destroy(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

void ipd_reflector_start(ipd_reflector_t *r)
{
    start_list(r);
}

void ipd_reflector_start_at(ipd_reflector_t *r, const char *rv)
{
    snprintf(r->rv, sizeof(r->rv), "%s", rv);
    r->synced = 1;
    start_watch(r);
}

void ipd_reflector_destroy(ipd_reflector_t *r)
{
    if (r == NULL)
        return;
    ipd_kube_cancel(r->req);
    ipd_mloop_timer_stop(r->loop, &r->retry_timer);
    ipd_mloop_timer_stop(r->loop, &r->idle_timer);
    free((char *)r->spec.name);
    free((char *)r->spec.path);
    free(r->selectors);
    free(r->cont);
    ipd_watch_batch_dispose(&r->batch);
    free(r);
}

int ipd_reflector_synced(const ipd_reflector_t *r)
{
    return r->synced;
}

int ipd_reflector_watching(const ipd_reflector_t *r)
{
    return r->state == WATCHING && r->req != NULL;
}

uint64_t ipd_reflector_last_contact(const ipd_reflector_t *r)
{
    return r->last_contact;
}

const char *ipd_reflector_resource_version(const ipd_reflector_t *r)
{
    return r->rv;
}

const ipd_reflector_stats_t *ipd_reflector_stats(const ipd_reflector_t *r)
{
    return &r->stats;
}
