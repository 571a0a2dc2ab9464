/*
 * Watch throughput: pod events per second applied to the job table, read from the simulator's
 * watch history (a burst it emitted earlier), so the stream is the same one plain curl reads.
 *
 *   bench_watch PORT FROM_RV LAST_RV
 *
 * The events go the way the master takes them: the reflector (held per loop iteration, the
 * latest per object parsed), the model (pod mapping, job aggregation) and, once per iteration,
 * publication of the changed jobs to a shared-memory table.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "master/loop.h"
#include "master/model.h"
#include "master/reflector.h"
#include "shared/kube_client.h"
#include "shared/table.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_watch PORT FROM_RV LAST_RV\n");
        return 2;
    }
    char instance[64], server[64], err[512];
    snprintf(instance, sizeof(instance), "bench-watch-%d", (int)getpid());
    snprintf(server, sizeof(server), "http://127.0.0.1:%s", argv[1]);
    unsigned long long last = strtoull(argv[3], NULL, 10);

    ipd_table_options_t opts;
    ipd_table_options_init(&opts);
    opts.instance = instance;
    ipd_table_t *table;
    ipd_model_t *model;
    ipd_mloop_t *loop;
    ipd_kube_t *kube;
    ipd_reflector_t *refl;
    ipd_kube_config_t kc;
    memset(&kc, 0, sizeof(kc));
    ipd_reflector_spec_t spec = {.name = "pods",
                                 .path = "/api/v1/namespaces/imgpulld/pods",
                                 .label_selector = "imgpulld.io/job",
                                 .page_size = 500,
                                 .watch_timeout_ms = 300000,
                                 .idle_timeout_ms = 60000,
                                 .backoff_initial_ms = 800,
                                 .backoff_max_ms = 30000};
    if (ipd_table_create(&opts, &table, NULL) != 0 || ipd_model_create(table, NULL, &model) != 0 ||
        ipd_mloop_create(&loop) != 0 || ipd_kube_config_server(&kc, server, NULL, NULL, err, sizeof(err)) != 0 ||
        ipd_kube_create(&kube, &kc, NULL) != 0 ||
        ipd_reflector_create(loop, kube, &spec, ipd_model_ops(IPD_MODEL_PODS), model, &refl) != 0) {
        fprintf(stderr, "set-up failed\n");
        return 1;
    }
    int epfd, tfd;
    ipd_kube_fds(kube, &epfd, &tfd);
    double start = now_s();
    ipd_reflector_start_at(refl, argv[2]);
    size_t published = 0, iterations = 0;
    while (strtoull(ipd_reflector_resource_version(refl), NULL, 10) < last && now_s() - start < 120) {
        struct pollfd p[2] = {{.fd = epfd, .events = POLLIN}, {.fd = tfd, .events = POLLIN}};
        if (poll(p, 2, 1000) > 0) {
            if (p[0].revents)
                ipd_kube_on_epoll_ready(kube);
            if (p[1].revents)
                ipd_kube_on_timer_ready(kube);
        }
        ipd_reflector_drain(refl);
        published += ipd_model_flush(model, ipd_model_now());
        iterations++;
    }
    double secs = now_s() - start;
    const ipd_reflector_stats_t *st = ipd_reflector_stats(refl);
    printf("events %llu in %.3f s: %.0f events/s applied (%llu superseded within an iteration, %llu parsed); "
           "%zu job records written over %zu iterations\n",
           (unsigned long long)st->events, secs, (double)st->events / secs, (unsigned long long)st->coalesced,
           (unsigned long long)(st->events - st->coalesced), published, iterations);
    int ok = strtoull(ipd_reflector_resource_version(refl), NULL, 10) >= last;
    ipd_reflector_destroy(refl);
    ipd_kube_destroy(kube);
    ipd_mloop_destroy(loop);
    ipd_model_destroy(model);
    ipd_table_destroy(table);
    ipd_table_unlink(instance);
    return ok ? 0 : 1;
}
