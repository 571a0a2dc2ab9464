#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/spawn.h"
#include "common/mloop_wait.h"
#include "master/loop.h"
#include "master/reflector.h"
#include "shared/kube_client.h"
#include "shared/log.h"

/* ---- the pure backoff ---- */

static void assert_jittered(uint64_t got, uint64_t base)
{
    cr_assert_geq(got, base - base / 4, "%llu below %llu - 25%%", (unsigned long long)got, (unsigned long long)base);
    cr_assert_leq(got, base + base / 4, "%llu above %llu + 25%%", (unsigned long long)got, (unsigned long long)base);
    cr_assert_gt(got, 0);
}

Test(reflector, next_backoff_doubles_within_jitter)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    const uint64_t currents[] = {10, 100, 1000, 4000};
    for (size_t c = 0; c < sizeof(currents) / sizeof(currents[0]); c++) {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (int i = 0; i < 2000; i++) {
            uint64_t before = seed;
            uint64_t got = ipd_reflector_next_backoff(currents[c], 30000, &seed);
            cr_assert_neq(seed, before, "the seed must advance");
            assert_jittered(got, currents[c] * 2);
            lo = got < lo ? got : lo;
            hi = got > hi ? got : hi;
        }
        /* The jitter really spreads the delays over most of the +-25% band. */
        uint64_t base = currents[c] * 2;
        cr_assert_lt(lo, base - base / 5, "lowest %llu of base %llu", (unsigned long long)lo, (unsigned long long)base);
        cr_assert_gt(hi, base + base / 5, "highest %llu of base %llu", (unsigned long long)hi,
                     (unsigned long long)base);
    }
}

Test(reflector, next_backoff_caps_at_max)
{
    uint64_t seed = 12345;
    for (int i = 0; i < 2000; i++)
        assert_jittered(ipd_reflector_next_backoff(20000, 30000, &seed), 30000);
    for (int i = 0; i < 2000; i++)
        assert_jittered(ipd_reflector_next_backoff(30000, 30000, &seed), 30000);
    /* Fed its own output, as the reflector does, the delay climbs to the cap and stays around it. */
    uint64_t cur = 10;
    for (int i = 0; i < 200; i++) {
        uint64_t next = ipd_reflector_next_backoff(cur, 5000, &seed);
        uint64_t want = cur * 2 > 5000 ? 5000 : cur * 2;
        assert_jittered(next, want);
        cur = next;
    }
    cr_assert_geq(cur, 5000 - 5000 / 4);
}

Test(reflector, next_backoff_is_never_zero)
{
    uint64_t seed = 1;
    for (uint64_t cur = 1; cur < 64; cur++)
        for (uint64_t max = 1; max < 16; max++)
            for (int i = 0; i < 20; i++)
                cr_assert_gt(ipd_reflector_next_backoff(cur, max, &seed), 0, "cur %llu max %llu",
                             (unsigned long long)cur, (unsigned long long)max);
}

Test(reflector, next_backoff_depends_on_the_seed)
{
    uint64_t a = 1, b = 2;
    int differ = 0;
    for (int i = 0; i < 64; i++)
        differ += ipd_reflector_next_backoff(1000, 30000, &a) != ipd_reflector_next_backoff(1000, 30000, &b);
    cr_assert_gt(differ, 32, "two daemons with different seeds must not back off in step");
}

/* ---- against the Kubernetes simulator ---- */

static pid_t sim_pid;
static int sim_port;
static ipd_mloop_t *loop;
static ipd_kube_t *kube;
static ipd_mloop_io_t kube_io[2];
static ipd_reflector_t *refl;

/* What the reflector told its owner, in order. */
static char calls[256];
static size_t ncalls;
static char names[64][64];
static ipd_watch_type_t types[64];
static size_t nobjects;
static size_t unshaped; /* objects that came with members outside metadata */

static void on_list_begin(void *ctx)
{
    (void)ctx;
    if (ncalls < sizeof(calls) - 1)
        calls[ncalls++] = 'B';
}

static void on_object(void *ctx, ipd_watch_type_t type, json_t *obj)
{
    (void)ctx;
    if (ncalls < sizeof(calls) - 1)
        calls[ncalls++] = 'O';
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    if (json_object_size(obj) != 1 || json_object_size(json_object_get(obj, "metadata")) != 1)
        unshaped++;
    if (nobjects < sizeof(names) / sizeof(names[0])) {
        snprintf(names[nobjects], sizeof(names[nobjects]), "%s", name ? name : "");
        types[nobjects++] = type;
    }
}

static void on_list_end(void *ctx)
{
    (void)ctx;
    if (ncalls < sizeof(calls) - 1)
        calls[ncalls++] = 'E';
}

static const ipd_reflector_ops_t ops = {on_list_begin, on_object, on_list_end, NULL};

/* The same owner, reading nothing but metadata.name. */
static const ipd_json_field_t name_fields[] = {{"name", NULL}};
static const ipd_json_shape_t name_shape = IPD_JSON_OBJECT_SHAPE(name_fields);
static const ipd_json_field_t object_fields[] = {{"metadata", &name_shape}};
static const ipd_json_shape_t object_shape = IPD_JSON_OBJECT_SHAPE(object_fields);
static const ipd_reflector_ops_t shaped_ops = {on_list_begin, on_object, on_list_end, &object_shape};

static void on_kube_epoll(ipd_mloop_io_t *io, uint32_t events)
{
    (void)io;
    (void)events;
    ipd_kube_on_epoll_ready(kube);
}

static void on_kube_timer(ipd_mloop_io_t *io, uint32_t events)
{
    (void)io;
    (void)events;
    ipd_kube_on_timer_ready(kube);
}

static void start_sim(void)
{
    static const char *const args[] = {"--nodes", "7", NULL};
    char said[1024];
    sim_pid = ipd_test_spawn_server("tests/kubesim/kubesim.py", args, 20000, &sim_port, said, sizeof(said));
    cr_assert_gt(sim_pid, 0, "the simulator did not start: %s", said);
}

static void setup(void)
{
    ipd_log_set_level(IPD_LOG_ERROR);
    ncalls = nobjects = unshaped = 0;
    memset(calls, 0, sizeof(calls));
    refl = NULL;
    start_sim();
    cr_assert_eq(ipd_mloop_create(&loop), 0);
    ipd_kube_config_t kcfg;
    char url[64], err[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", sim_port);
    cr_assert_eq(ipd_kube_config_server(&kcfg, url, NULL, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ipd_kube_create(&kube, &kcfg, NULL), 0);
    int fds[2];
    cr_assert_eq(ipd_kube_fds(kube, &fds[0], &fds[1]), 0);
    ipd_mloop_io_init(&kube_io[0], fds[0], on_kube_epoll, NULL);
    ipd_mloop_io_init(&kube_io[1], fds[1], on_kube_timer, NULL);
    cr_assert_eq(ipd_mloop_io_start(loop, &kube_io[0], EPOLLIN), 0);
    cr_assert_eq(ipd_mloop_io_start(loop, &kube_io[1], EPOLLIN), 0);
}

static void teardown(void)
{
    ipd_reflector_destroy(refl);
    ipd_mloop_io_stop(loop, &kube_io[0]);
    ipd_mloop_io_stop(loop, &kube_io[1]);
    ipd_kube_destroy(kube);
    ipd_mloop_destroy(loop);
    if (sim_pid > 0) {
        kill(sim_pid, SIGTERM);
        waitpid(sim_pid, NULL, 0);
    }
}

TestSuite(reflector_sim, .init = setup, .fini = teardown, .timeout = 120);

#define WAIT_UNTIL(cond, ms) IPD_LOOP_UNTIL(loop, cond, ms, 50)

#define run_for(ms) ipd_loop_run_for(loop, ms)

struct call {
    int done;
    long status;
    json_t *body;
};

static void on_call_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    struct call *c = data;
    (void)req;
    c->done = 1;
    c->status = res->status;
    c->body = res->body != NULL ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
}

/* One request to the simulator over the same client, driven by the loop. Returns the owned body. */
static json_t *sim_call(const char *method, const char *path, const char *body)
{
    struct call c = {0};
    ipd_kube_req_spec_t spec = {.method = method,
                                .path = path,
                                .body = body,
                                .body_len = body ? strlen(body) : 0,
                                .on_done = on_call_done,
                                .data = &c};
    cr_assert_eq(ipd_kube_start(kube, &spec, NULL), 0);
    WAIT_UNTIL(c.done, 10000);
    cr_assert(c.status >= 200 && c.status < 300, "%s %s: HTTP %ld", method, path, c.status);
    return c.body;
}

/*
 * Watches the simulator holds open. The reflector counts as watching once it has sent its
 * request; a fault injected before the simulator has the watch would find nothing to break.
 */
static json_int_t sim_watches(void)
{
    json_t *st = sim_call("GET", "/_sim/state", NULL);
    json_int_t n = json_integer_value(json_object_get(st, "watches"));
    json_decref(st);
    return n;
}

static void start_reflector_with(const ipd_reflector_ops_t *with)
{
    ipd_reflector_spec_t spec = {.name = "nodes",
                                 .path = "/api/v1/nodes",
                                 .page_size = 2,
                                 .watch_timeout_ms = 60000,
                                 .idle_timeout_ms = 30000,
                                 .backoff_initial_ms = 20,
                                 .backoff_max_ms = 200};
    cr_assert_eq(ipd_reflector_create(loop, kube, &spec, with, NULL, &refl), 0);
    cr_assert_not(ipd_reflector_synced(refl));
    cr_assert_str_eq(ipd_reflector_resource_version(refl), "");
    ipd_reflector_start(refl);
    WAIT_UNTIL(ipd_reflector_synced(refl) && ipd_reflector_watching(refl), 10000);
}

static void start_reflector(void)
{
    start_reflector_with(&ops);
}

static size_t count_calls(char kind)
{
    size_t n = 0;
    for (size_t i = 0; i < ncalls; i++)
        n += calls[i] == kind;
    return n;
}

/* Requests the simulator received with this verb ("list", "watch"), oldest first: their queries go
 * to `queries` and their HTTP status codes to `codes` (either may be NULL). */
static size_t sim_requests_codes(const char *verb, char queries[][256], long *codes, size_t cap)
{
    json_t *rep = sim_call("GET", "/_sim/requests", NULL);
    size_t i, n = 0;
    json_t *r;
    json_array_foreach(json_object_get(rep, "recent"), i, r)
    {
        const char *v = json_string_value(json_object_get(r, "verb"));
        const char *path = json_string_value(json_object_get(r, "path"));
        if (v == NULL || path == NULL || strcmp(v, verb) != 0 || strcmp(path, "/api/v1/nodes") != 0)
            continue;
        if (n < cap && queries != NULL) {
            const char *q = json_string_value(json_object_get(r, "query"));
            snprintf(queries[n], sizeof(queries[n]), "%s", q ? q : "");
        }
        if (n < cap && codes != NULL)
            codes[n] = (long)json_integer_value(json_object_get(r, "code"));
        n++;
    }
    json_decref(rep);
    return n;
}

static size_t sim_requests(const char *verb, char queries[][256], size_t cap)
{
    return sim_requests_codes(verb, queries, NULL, cap);
}

Test(reflector_sim, paginated_list_reports_each_object_once_between_begin_and_end)
{
    start_reflector();
    cr_assert_str_eq(calls, "BOOOOOOOE", "callbacks were %s", calls);
    cr_assert_eq(nobjects, 7);
    for (int i = 1; i <= 7; i++) {
        char want[16];
        snprintf(want, sizeof(want), "node-%d", i);
        int seen = 0;
        for (size_t o = 0; o < nobjects; o++)
            seen += strcmp(names[o], want) == 0;
        cr_assert_eq(seen, 1, "%s listed %d times", want, seen);
    }
    for (size_t o = 0; o < nobjects; o++)
        cr_assert_eq(types[o], IPD_WATCH_ADDED);
    const ipd_reflector_stats_t *st = ipd_reflector_stats(refl);
    cr_assert_eq(st->lists, 1);
    cr_assert_eq(st->list_pages, 4);
    cr_assert_eq(st->watches, 1);
    cr_assert_neq(ipd_reflector_resource_version(refl)[0], '\0');
    cr_assert_gt(ipd_reflector_last_contact(refl), 0);
    char q[8][256];
    /* The simulator logs a request once it has answered it, maybe after we read the answer. */
    WAIT_UNTIL(sim_requests("list", q, 8) >= 4, 5000);
    cr_assert_eq(sim_requests("list", q, 8), 4);
    size_t first_pages = 0;
    for (int i = 0; i < 4; i++) {
        cr_assert_not_null(strstr(q[i], "limit=2"), "list asked %s", q[i]);
        first_pages += strstr(q[i], "continue=") == NULL;
    }
    cr_assert_eq(first_pages, 1, "one list: one first page, three continued");

    /* A change after the list arrives through the watch, not as a new list. */
    json_decref(sim_call("POST", "/_sim/nodes", "{\"name\":\"node-extra\"}"));
    WAIT_UNTIL(nobjects == 8, 10000);
    cr_assert_str_eq(names[7], "node-extra");
    cr_assert_eq(types[7], IPD_WATCH_ADDED);
    cr_assert_eq(count_calls('B'), 1);
}

Test(reflector_sim, a_shape_prunes_listed_and_watched_objects)
{
    start_reflector_with(&ops);
    cr_assert_eq(unshaped, 7, "whole nodes carry spec and status");
    ipd_reflector_destroy(refl);
    refl = NULL;
    ncalls = nobjects = unshaped = 0;
    memset(calls, 0, sizeof(calls));

    start_reflector_with(&shaped_ops);
    cr_assert_str_eq(calls, "BOOOOOOOE", "callbacks were %s", calls);
    for (size_t o = 0; o < nobjects; o++)
        cr_assert_eq(strncmp(names[o], "node-", 5), 0, "object %zu is named %s", o, names[o]);
    json_decref(sim_call("POST", "/_sim/nodes", "{\"name\":\"node-pruned\",\"labels\":{\"a\":\"b\"}}"));
    WAIT_UNTIL(nobjects == 8, 10000);
    cr_assert_str_eq(names[7], "node-pruned");
    cr_assert_eq(types[7], IPD_WATCH_ADDED);
    cr_assert_eq(unshaped, 0, "listed and watched objects hold only metadata.name");
    cr_assert_eq(ipd_reflector_stats(refl)->errors, 0);
}

Test(reflector_sim, dropped_watch_resumes_from_the_last_resource_version)
{
    start_reflector();
    char rv[64];
    snprintf(rv, sizeof(rv), "%s", ipd_reflector_resource_version(refl));
    WAIT_UNTIL(sim_watches() == 1, 10000);
    json_t *r = sim_call("POST", "/_sim/watches/drop", "{}");
    cr_assert_eq(json_integer_value(json_object_get(r, "dropped")), 1);
    json_decref(r);
    WAIT_UNTIL(ipd_reflector_stats(refl)->watches == 2 && ipd_reflector_watching(refl), 10000);
    cr_assert_str_eq(ipd_reflector_resource_version(refl), rv);

    /* The resumed watch delivers what changed next. */
    json_decref(sim_call("POST", "/_sim/nodes", "{\"name\":\"node-after-drop\"}"));
    WAIT_UNTIL(nobjects == 8, 10000);
    cr_assert_str_eq(names[7], "node-after-drop");
    cr_assert_eq(types[7], IPD_WATCH_ADDED);
    cr_assert_str_neq(ipd_reflector_resource_version(refl), rv, "the watched change must advance the version");

    /* The simulator logs a watch when it ends: drop the second one too to see what it asked. */
    WAIT_UNTIL(sim_watches() == 1, 10000);
    json_decref(sim_call("POST", "/_sim/watches/drop", "{}"));
    WAIT_UNTIL(ipd_reflector_stats(refl)->watches == 3 && ipd_reflector_watching(refl), 10000);
    char q[8][256], want[96];
    WAIT_UNTIL(sim_requests("watch", q, 8) >= 2, 5000);
    snprintf(want, sizeof(want), "resourceVersion=%s&", rv);
    cr_assert_not_null(strstr(q[0], want), "first watch asked %s, not from %s", q[0], rv);
    cr_assert_not_null(strstr(q[1], want), "resumed watch asked %s, not from %s", q[1], rv);
    cr_assert_eq(sim_requests("list", q, 8), 4, "a dropped watch must not relist");
    cr_assert_eq(count_calls('B'), 1);
    cr_assert_eq(count_calls('E'), 1);
    cr_assert_eq(ipd_reflector_stats(refl)->lists, 1);
}

Test(reflector_sim, compaction_that_fails_the_watch_causes_exactly_one_relist)
{
    start_reflector();
    WAIT_UNTIL(sim_watches() == 1, 10000);
    json_t *r = sim_call("POST", "/_sim/compact", "{\"error_watches\":true}");
    cr_assert_eq(json_integer_value(json_object_get(r, "failed_watches")), 1);
    json_decref(r);
    WAIT_UNTIL(ipd_reflector_stats(refl)->lists == 2 && ipd_reflector_watching(refl), 10000);
    uint64_t pages = ipd_reflector_stats(refl)->list_pages;
    size_t begins = count_calls('B');
    /* Let any further (wrong) relist show up: the simulator bookmarks watches every second. */
    run_for(1500);
    const ipd_reflector_stats_t *st = ipd_reflector_stats(refl);
    cr_assert_eq(st->lists, 2);
    cr_assert_eq(st->list_pages, pages, "the reflector went on listing");
    cr_assert_eq(count_calls('B'), begins);
    cr_assert_geq(st->relists_gone, 1);
    cr_assert_eq(count_calls('E'), 2, "callbacks were %s", calls);
    cr_assert(ipd_reflector_watching(refl));
    /* The new list brackets the whole collection: its last begin is followed by all 7 objects. */
    cr_assert_eq(strncmp(calls, "BOOOOOOOE", 9), 0, "callbacks were %s", calls);
    cr_assert_str_eq(strrchr(calls, 'B'), "BOOOOOOOE", "callbacks were %s", calls);
    /* A continue token the compaction expired is followed by one whole, unpaginated list,
     * not by another paginated attempt that would expire the same way. (The simulator logs
     * requests as they end, so the order of the log is not the order of the requests.) */
    char q[64][256];
    long codes[64];
    size_t lists = sim_requests_codes("list", q, codes, 64), expired = 0, whole = 0, first_pages = 0;
    cr_assert_leq(lists, 4 + 4, "%zu list requests for one relist", lists);
    for (size_t i = 4; i < lists; i++) {
        cr_assert(codes[i] == 200 || codes[i] == 410, "list %zu: HTTP %ld", i, codes[i]);
        expired += codes[i] == 410;
        if (strstr(q[i], "limit=0") != NULL) {
            whole++;
            cr_assert_eq(codes[i], 200);
        } else if (strstr(q[i], "continue=") == NULL) {
            first_pages++;
        }
    }
    cr_assert_eq(first_pages, 1, "%zu paginated relists", first_pages);
    cr_assert_eq(whole, expired, "%zu expired continue tokens, %zu whole lists", expired, whole);
}
