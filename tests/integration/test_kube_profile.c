/*
 * Every process picks the same Kubernetes credentials: for each source the master's watch and a
 * worker's POST reach the simulator. Before one function made this decision, the workers knew
 * only kube_server, kubeconfig and the in-cluster service account, so a daemon configured by
 * $KUBECONFIG alone watched the cluster and answered every POST 503 "Kubernetes client not
 * configured". The in-cluster source needs https and the pod's service-account directory; it is
 * checked through the same function in tests/unit/test_kube_profile.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char *const sim_args[] = {"--nodes", "2", "--pull-ms", "100", NULL};

static h_world_t w;

static void teardown(void)
{
    if (w.daemon.pid > 0 || w.sim.pid > 0)
        h_world_stop(&w);
    memset(&w, 0, sizeof(w));
}

/* A kubeconfig whose current context points at the simulator. */
static void write_kubeconfig(char *path, size_t cap)
{
    char text[1024];
    snprintf(path, cap, "%s/kubeconfig", w.dir);
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: sim\n"
             "clusters:\n- name: sim\n  cluster:\n    server: http://127.0.0.1:%d\n"
             "users:\n- name: nobody\n  user: {}\n"
             "contexts:\n- name: sim\n  context:\n    cluster: sim\n    user: nobody\n",
             w.sim.port);
    h_write_file(path, text);
}

/* A POST through a worker creates the job in the simulator, and the master's watch sees it run. */
static void assert_post_reaches_the_cluster(void)
{
    char id[64];
    h_post_pull(w.port, "{\"image\":\"docker.io/library/busybox:1.36\",\"nodes\":[\"node-1\"]}", id, sizeof(id));
    h_expect_job_state(w.port, id, "succeeded", 20000);
}

TestSuite(kube_profile, .fini = teardown, .timeout = 120);

Test(kube_profile, kube_server_directive)
{
    h_world_sim(&w, "kpsrv", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    assert_post_reaches_the_cluster();
}

Test(kube_profile, kube_server_flag)
{
    h_world_sim(&w, "kpflag", sim_args);
    w.kube_unset = 1;
    h_world_write_conf(&w, NULL);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", w.sim.port);
    const char *args[] = {"-c", w.conf, "--kube-server", url, NULL};
    w.daemon = h_start_daemon(args, NULL);
    h_wait_ready(&w.daemon, w.port, 20000);
    assert_post_reaches_the_cluster();
}

Test(kube_profile, kubeconfig_directive)
{
    h_world_sim(&w, "kpfile", sim_args);
    char kc[256], extra[320];
    write_kubeconfig(kc, sizeof(kc));
    snprintf(extra, sizeof(extra), "kubeconfig %s\n", kc);
    h_world_daemon(&w, extra, NULL, 1);
    assert_post_reaches_the_cluster();
}

Test(kube_profile, kubeconfig_environment_variable)
{
    h_world_sim(&w, "kpenv", sim_args);
    char kc[256], env[300];
    write_kubeconfig(kc, sizeof(kc));
    snprintf(env, sizeof(env), "KUBECONFIG=%s", kc);
    const char *const envs[] = {env, NULL};
    w.kube_unset = 1;
    h_world_daemon(&w, NULL, envs, 1);
    assert_post_reaches_the_cluster();
}
