/* The master's state, shared by master/daemon.c (process, signals, loop) and
 * master/daemon_kube.c (Kubernetes client, reflectors, model actions). */
#ifndef IPD_MASTER_DAEMON_INTERNAL_H
#define IPD_MASTER_DAEMON_INTERNAL_H

#include "proto/error.h"
#include "proto/kube_job.h"
#include "master/daemon.h"
#include "master/listeners.h"
#include "master/loop.h"
#include "master/model.h"
#include "master/redis_link.h"
#include "master/reflector.h"
#include "master/strmap.h"
#include "master/supervisor.h"
#include "shared/kube_client.h"
#include "shared/stats_segment.h"
#include "shared/table.h"

/* Samples of this node's Jobs' resourceVersion kept (daemon_state_t.rv_samples). */
#define RV_SAMPLES 64

typedef struct daemon_state {
    ipd_config_t cfg;
    ipd_mloop_t *loop;
    ipd_table_t *table;
    ipd_stats_segment_t *stats;
    ipd_listeners_t listeners;
    ipd_supervisor_t *sup;
    ipd_worker_main_fn worker_main;
    ipd_worker_check_fn worker_check; /* may be NULL */
    uint32_t stats_route_slots;       /* route slots of each stats block: the workers' route table's */
    ipd_kube_t *kube;
    ipd_mloop_io_t kube_epoll_io, kube_timer_io;
    ipd_model_t *model;
    ipd_reflector_t *refl[IPD_MODEL_KIND_COUNT]; /* refl[EVENTS] is NULL in node scope, refl[ANCHORS]
                                                  * without node scope and Redis */
    ipd_strmap_t pod_events;                     /* node scope: "ns/name" -> the Events reflector of that pod */
    ipd_redis_link_t *redis;                     /* NULL without Redis */
    /* This node's Jobs replayed, once, from where the master before this one saw them
     * (ipd_daemon_replay_tick): the version ("" none), the watch while it runs, until when. */
    char replay_from[IPD_REDIS_RV_SIZE];
    ipd_reflector_t *replay;
    uint64_t replay_until;
    int replay_done;
    int republish_pending; /* Redis asked for this node's tasks before the first list completed */
    int synced;            /* every reflector completed its first list and the model published it */
    int ever_synced;       /* READY=1 was sent once: the watchdog runs from then on */
    int stopping;
    int reload_pending; /* RELOADING=1 sent; READY=1 waits for the new workers */
    uint64_t reload_started_ms;
    ipd_config_t prev_cfg; /* the configuration before the pending reload, restored if it fails */
    ipd_mloop_io_t signal_io;
    int signal_pipe[2];
    ipd_mloop_timer_t tick_timer, watchdog_timer, stop_timer;
    /* Ends a publication held back while the Redis link catches up (after_iteration), */
    ipd_mloop_timer_t publish_timer;
    int holding;            /* ... which the last turn did; */
    uint64_t catchup_holds; /* publications held back so far */
    uint64_t watchdog_usec;
    uint64_t kube_actions, kube_action_errors, reloads;
    int64_t started_at;
    ipd_reflector_stats_t base;         /* counters of reflectors replaced by reloads */
    ipd_model_stats_t base_model;       /* counters of models replaced by reloads */
    ipd_redis_link_stats_t base_redis;  /* counters of Redis links replaced by reloads */
    uint64_t base_kube_retries[2];      /* retries (after 429, after 503) of Kubernetes clients replaced by reloads */
    uint64_t follow_polled_ms;          /* loop ms of the last poll of followed pods (master/daemon_follow.c) */
    int follow_inflight;                /* its pod lists not answered yet, */
    struct follow_list *follow_lists;   /* whose contexts these are (owned, linked) */
    uint64_t standin_polled_ms;         /* loop ms of the last list of master/daemon_standin.c */
    struct standin_list *standin_list;  /* that list's context while it is not answered (owned) */
    struct standin_read *standin_reads; /* the stand-in's Node and Events reads not answered (owned, linked) */
    size_t standin_running;             /* Jobs that ran at that list's end, if it ended whole */
    uint64_t standin_rounds;            /* lists of master/daemon_standin.c sent */
    ipd_strmap_t standin_deleted;       /* nodes without a live daemon whose Node a read found deleted -> (void *)1 */
    ipd_reflector_t *standin_watch;     /* the stand-in's watch of those nodes' Jobs, for deletions (owned) */
    char *standin_watch_sel;            /* its label selector (owned) */
    ipd_strmap_t standin_watch_alive;   /* the nodes alive when it was made, left out of it -> (void *)1 */
    /* This node's Jobs' resourceVersion, sampled every third of the TTL (the last RV_SAMPLES), for
     * a stand-in's watch that starts where the one before it may have stopped (watch_from). */
    struct rv_sample {
        uint64_t ms;
        char rv[IPD_REDIS_RV_SIZE];
    } rv_samples[RV_SAMPLES];
    size_t rv_nsamples;                           /* samples held, at most RV_SAMPLES */
    size_t rv_next;                               /* where the next one goes (a ring) */
    ipd_strmap_t standin_rv;                      /* lost nodes -> the resourceVersion up to which their daemon saw
                                                   * their Jobs (ipd_redis_link_ops_t.node_alive; owned strings) */
    uint64_t standin_fill_until;                  /* loop ms until which this daemon fills Redis in (fill_in); 0, or
                                                     UINT64_MAX until its lists are in */
    int standin_filled;                           /* what it put back since: 0, FILLED_FINALS or FILLED_ALL */
    char standin_fill_epoch[IPD_TABLE_NOTE_SIZE]; /* the epoch it fills in for; noted in the table once done */
} daemon_state_t;

/** Copies the master's figures into its block of the stats segment. */
void ipd_daemon_publish_stats(daemon_state_t *d);
/** Folds the counters of the current reflectors and model into the base (before replacing them). */
void ipd_daemon_fold_stats(daemon_state_t *d);
/** SIGUSR1: the stats JSON line, to the log and to cfg.stats_file. */
void ipd_daemon_write_stats(daemon_state_t *d);
/**
 * Creates the stats file's directory when only its last level is missing (mode 0750); else
 * logs an error naming the directory. Returns 0 or -errno. Called at start and before each write.
 */
int ipd_daemon_prepare_stats_dir(const daemon_state_t *d);

/** Creates the Kubernetes client on the loop, the model and the reflectors, and starts them. */
IPD_MUST_USE int ipd_daemon_kube_start(daemon_state_t *d);
/** Stops and frees what ipd_daemon_kube_start created. */
void ipd_daemon_kube_stop(daemon_state_t *d);
/** Drains every reflector's held watch events (once per loop iteration). */
void ipd_daemon_kube_drain(daemon_state_t *d);
/** Adds the counters of every reflector now running to `sum`. */
void ipd_daemon_kube_reflector_stats(const daemon_state_t *d, ipd_reflector_stats_t *sum);
/** Creates, replaces (settings changed) or removes the Redis link for d->cfg. Returns 0 or a negative code. */
int ipd_daemon_redis_apply(daemon_state_t *d);
/** Publishes every task of this node the table holds (after a Redis (re)connect). */
void ipd_daemon_redis_republish(daemon_state_t *d);
/** True once every reflector has completed a list. */
int ipd_daemon_kube_synced(const daemon_state_t *d);
/** True while every reflector is watching or listing without a pending backoff. */
int ipd_daemon_kube_healthy(const daemon_state_t *d);

/**
 * Sends one request the model asked for (`body` and `type` may be NULL; all borrowed); a failure
 * other than 404 or 409 counts in kube_action_errors.
 */
void ipd_daemon_kube_action(daemon_state_t *d, const char *method, const char *path, const char *body,
                            const char *type);
/** Un-suspends the Job `ns`/`name` (a merge PATCH through ipd_daemon_kube_action). */
void ipd_daemon_resume_job(daemon_state_t *d, const char *ns, const char *name);
/** Deletes the Job `ns`/`name` and, in the background, its pods. */
void ipd_daemon_delete_job(daemon_state_t *d, const char *ns, const char *name);
/** Sets `spec`'s list page size, watch timeouts and backoff from `c` (borrowed), as for every reflector. */
void ipd_daemon_reflector_spec(const ipd_config_t *c, ipd_reflector_spec_t *spec);
/** ipd_redis_link_ops_t.stood_in_left: a stand-in's leave is written; the deleted node's Job goes. */
void ipd_daemon_stood_in_left(void *ctx, const char *id, const char *node, const char *ns, const char *name);
/** Marks the Job `ns`/`name` imgpulld.io/outcome=failed, then deletes it: a task given up. */
void ipd_daemon_fail_job(daemon_state_t *d, const char *ns, const char *name);
/* Keep jobs that follow pods (master/daemon_follow.c). */
/** Lists the followed pods this daemon follows when keep_pod_poll has passed (once synced); call each tick. */
void ipd_daemon_follow_tick(daemon_state_t *d);
/**
 * Nodes without a live daemon (master/daemon_standin.c): lists their Jobs and publishes their tasks
 * when this daemon holds the stand-in lease, every third of redis_liveness_ttl; call each tick.
 */
void ipd_daemon_standin_tick(daemon_state_t *d);
/* Redis's epoch as the link last read it: noted in the table, or, when the table noted another,
 * what this daemon's table holds is put back within two lease times (master/daemon_standin.c). */
void ipd_daemon_standin_epoch(daemon_state_t *d, const char *epoch);
/** Frees the contexts of the pod lists not answered: the Kubernetes client that would answer them goes. */
void ipd_daemon_follow_stop(daemon_state_t *d);
/** The same for the stand-in's list. */
void ipd_daemon_standin_stop(daemon_state_t *d);
/*
 * The deletions of this node's Jobs the master missed while it did not run: with Redis, once
 * listed, this node's Jobs are watched from the resourceVersion the master before it last wrote
 * (ipd_redis_link_ops_t.own_rv), for a liveness TTL, and each deletion goes to the model; call
 * each tick (master/daemon_kube.c).
 */
void ipd_daemon_replay_tick(daemon_state_t *d);
/* Another node's daemon is alive or lost; `rv` as ipd_redis_link_ops_t.node_alive gives it. */
void ipd_daemon_standin_node(daemon_state_t *d, const char *node, int alive, const char *rv);
/** The model's create_keep_job and cancel_job actions (ctx: the daemon_state_t). */
void ipd_daemon_create_keep_job(void *ctx, const ipd_job_t *like, const char *image, const char *selection);
void ipd_daemon_cancel_job(void *ctx, const char *id);
/** The selection of table job `job` (a keep job's, from its record `json`), or "" for another job. */
void ipd_daemon_job_selection(const ipd_job_t *job, const void *json, size_t json_len,
                              char selection[IPD_SELECTION_SIZE]);

#endif
