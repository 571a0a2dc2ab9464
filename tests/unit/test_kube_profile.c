/* The one choice of Kubernetes credentials (shared/kube_profile.h), source by source, in order. */
#include "proto/error.h"
#include "shared/config.h"
#include "shared/kube_profile.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ipd_config_t conf;
static ipd_kube_config_t kc;
static ipd_kube_source_t source;
static char err[IPD_KUBE_ERRLEN];
static char fixtures[2048];

static const char *fixture(const char *name)
{
    static char path[3072];
    snprintf(path, sizeof(path), "%s/%s", fixtures, name);
    return path;
}

static void setup(void)
{
    const char *src = getenv("IPD_SOURCE_DIR");
    cr_assert_not_null(src, "IPD_SOURCE_DIR must point at the source tree (ctest sets it)");
    snprintf(fixtures, sizeof(fixtures), "%s/tests/fixtures/kube", src);
    ipd_config_init(&conf);
    memset(&kc, 0, sizeof(kc));
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    setenv("KUBECONFIG", fixture("kubeconfig.yaml"), 1);
}

static void teardown(void)
{
    ipd_kube_config_dispose(&kc);
}

TestSuite(kube_profile, .init = setup, .fini = teardown);

static void load_ok(void)
{
    cr_assert_eq(ipd_kube_profile_load(&conf, fixture("serviceaccount"), &kc, &source, err, sizeof(err)), 0, "%s", err);
}

/* The environment a pod's containers get from the kubernetes Service. */
static void set_service_env(void)
{
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
}

Test(kube_profile, kube_server_wins_over_everything)
{
    snprintf(conf.kube_server, sizeof(conf.kube_server), "http://127.0.0.1:1");
    snprintf(conf.kubeconfig, sizeof(conf.kubeconfig), "%s", fixture("kubeconfig.yaml"));
    set_service_env();
    load_ok();
    cr_assert_eq(source, IPD_KUBE_SOURCE_SERVER);
    cr_assert_str_eq(kc.server, "http://127.0.0.1:1");
}

Test(kube_profile, kubeconfig_directive_wins_over_the_environment)
{
    snprintf(conf.kubeconfig, sizeof(conf.kubeconfig), "%s", fixture("kubeconfig.yaml"));
    set_service_env();
    load_ok();
    cr_assert_eq(source, IPD_KUBE_SOURCE_KUBECONFIG);
    cr_assert_str_eq(kc.server, "https://dev.example.test:6443");
}

Test(kube_profile, in_cluster_when_the_service_env_is_set)
{
    set_service_env();
    load_ok();
    cr_assert_eq(source, IPD_KUBE_SOURCE_IN_CLUSTER);
    cr_assert_str_eq(kc.server, "https://10.96.0.1:443");
    cr_assert_str_eq(ipd_kube_source_name(source), "in-cluster");
}

Test(kube_profile, kubeconfig_env_last)
{
    load_ok();
    cr_assert_eq(source, IPD_KUBE_SOURCE_ENV);
    cr_assert_str_eq(kc.server, "https://dev.example.test:6443");
}

Test(kube_profile, insecure_skip_applies_to_every_source)
{
    conf.kube_insecure_skip_tls_verify = true;
    load_ok();
    cr_assert_eq(kc.insecure_skip_tls_verify, 1);
}

Test(kube_profile, errors_name_the_source_and_leave_nothing_to_free)
{
    setenv("KUBECONFIG", "/nonexistent/kubeconfig", 1);
    cr_assert_lt(ipd_kube_profile_load(&conf, NULL, &kc, &source, err, sizeof(err)), 0);
    cr_assert_not_null(strstr(err, "/nonexistent/kubeconfig"), "%s", err);
    cr_assert_null(kc.server);
}
