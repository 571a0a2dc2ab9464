/*
 * A list+watch reflector for one Kubernetes collection, in the manner of client-go:
 *
 *   list (paginated with limit/continue, one resourceVersion for all pages)
 *     -> watch from the list's resourceVersion with allowWatchBookmarks and timeoutSeconds
 *     -> on a normal end of the watch: watch again from the last resourceVersion seen
 *        (objects and bookmarks both advance it)
 *     -> on a transport error, 429 or 5xx: back off (exponential with jitter), watch again
 *     -> on 410 Gone (HTTP status, or an ERROR event with code 410), or an expired continue
 *        token: list again
 *     -> a watch silent for longer than the idle timeout is cancelled and restarted.
 *
 * Within one loop iteration only the last event of each object is applied (see
 * ipd_reflector_drain): the owner keeps state, not history.
 *
 * The owner sees objects through callbacks: on_list_begin before the first object of a list,
 * on_object for every listed or watched object, on_list_end once the last page is in, so
 * the owner can forget objects the list no longer has. Callbacks run from the loop, via the
 * Kubernetes client's callbacks.
 */
#ifndef IPD_MASTER_REFLECTOR_H
#define IPD_MASTER_REFLECTOR_H

#include "proto/error.h"
#include <jansson.h>
#include <stdint.h>

#include "master/loop.h"
#include "proto/json_prune.h"
#include "shared/kube_client.h"

typedef enum ipd_watch_type {
    IPD_WATCH_ADDED = 0,
    IPD_WATCH_MODIFIED,
    IPD_WATCH_DELETED,
} ipd_watch_type_t;

typedef struct ipd_reflector_ops {
    /** A new list starts: what follows until on_list_end is the whole collection. */
    void (*on_list_begin)(void *ctx);
    /** One object (borrowed; take a reference to keep it). Listed objects come as ADDED. */
    void (*on_object)(void *ctx, ipd_watch_type_t type, json_t *obj);
    /** The list is complete: objects not seen since on_list_begin are gone. */
    void (*on_list_end)(void *ctx);
    /**
     * What on_object reads of an object (proto/json_prune.h), or NULL for all of it. Listed and
     * held watched objects are then decoded without the rest, which is checked but not built.
     */
    const ipd_json_shape_t *shape;
} ipd_reflector_ops_t;

/** What to reflect and how patiently. Strings are copied by ipd_reflector_create. */
typedef struct ipd_reflector_spec {
    const char *name;           /**< for logs and metrics: "pods", "jobs", "events" */
    const char *path;           /**< collection path, e.g. "/api/v1/namespaces/imgpulld/pods" */
    const char *label_selector; /**< NULL for none */
    const char *field_selector; /**< NULL for none */
    int page_size;              /**< `limit` of each list page */
    uint64_t watch_timeout_ms;  /**< timeoutSeconds asked of the server */
    uint64_t idle_timeout_ms;   /**< restart a watch that delivered nothing for this long */
    uint64_t backoff_initial_ms;
    uint64_t backoff_max_ms;
} ipd_reflector_spec_t;

/** Counters, for metrics and tests. */
typedef struct ipd_reflector_stats {
    uint64_t lists;          /**< lists completed */
    uint64_t list_pages;     /**< list pages received */
    uint64_t relists_gone;   /**< lists caused by 410 Gone */
    uint64_t watches;        /**< watch requests started */
    uint64_t watch_restarts; /**< watches restarted after an error or idle timeout */
    uint64_t idle_restarts;  /**< of which for silence */
    uint64_t errors;         /**< failed requests (transport, 429, 5xx, unreadable lines) */
    uint64_t events;         /**< watch events received (bookmarks excluded) */
    uint64_t coalesced;      /**< of which superseded by a later event of the same object in one batch */
    uint64_t bookmarks;
} ipd_reflector_stats_t;

typedef struct ipd_reflector ipd_reflector_t;

/**
 * Creates a reflector (not started). `loop` and `kube` are borrowed and must outlive it.
 * Returns 0 and an owned reflector (ipd_reflector_destroy), or -ENOMEM.
 */
IPD_MUST_USE int ipd_reflector_create(ipd_mloop_t *loop, ipd_kube_t *kube, const ipd_reflector_spec_t *spec,
                                      const ipd_reflector_ops_t *ops, void *ctx, ipd_reflector_t **out);

/** Starts listing. */
void ipd_reflector_start(ipd_reflector_t *r);

/**
 * Starts watching from resourceVersion `rv` (borrowed) without listing first, for an owner that
 * already holds the collection as of `rv` (benchmarks replay a known stretch of history this
 * way). A 410 answer falls back to a list as usual.
 */
void ipd_reflector_start_at(ipd_reflector_t *r, const char *rv);

/**
 * Watch events are held until the end of the loop iteration, the latest per object, and parsed
 * then: call this once per iteration, before publishing the model. Events that must keep their
 * place (bookmarks, errors, a new list) drain the batch themselves.
 */
void ipd_reflector_drain(ipd_reflector_t *r);

/** Cancels any request and timer and frees the reflector. NULL is allowed. */
void ipd_reflector_destroy(ipd_reflector_t *r);

/** True once a list completed; stays true across later relists and watch restarts. */
int ipd_reflector_synced(const ipd_reflector_t *r);

/** True while a watch is open and has not failed since the last list. */
int ipd_reflector_watching(const ipd_reflector_t *r);

/** Monotonic ms of the last sign of life from the server (line, page, or status), 0 if none. */
uint64_t ipd_reflector_last_contact(const ipd_reflector_t *r);

/** The resourceVersion the next watch will start from ("" before the first list). */
const char *ipd_reflector_resource_version(const ipd_reflector_t *r);

/** The counters. */
const ipd_reflector_stats_t *ipd_reflector_stats(const ipd_reflector_t *r);

/** Doubles `current` up to `max` and applies +-25% jitter from `seed` (pure, for tests). */
uint64_t ipd_reflector_next_backoff(uint64_t current, uint64_t max, uint64_t *seed);

#endif
