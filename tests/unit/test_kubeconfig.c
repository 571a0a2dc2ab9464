/* Loading the apiserver profile: kubeconfig files, the in-cluster service account, a plain URL. */
#include "proto/error.h"
#include "shared/kubeconfig.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fixtures[4096];
static char tmpdir[256];
static ipd_kube_config_t cfg;
static char err[IPD_KUBE_ERRLEN];

static void setup(void)
{
    const char *src = getenv("IPD_SOURCE_DIR");
    cr_assert_not_null(src, "IPD_SOURCE_DIR must point at the source tree (ctest sets it)");
    snprintf(fixtures, sizeof(fixtures), "%s/tests/fixtures/kube", src);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ipd-kubeconfig-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    memset(&cfg, 0, sizeof(cfg));
    err[0] = '\0';
}

static void teardown(void)
{
    ipd_kube_config_dispose(&cfg);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(kubeconfig, .init = setup, .fini = teardown);

static const char *fixture(const char *name)
{
    static char path[8192];
    snprintf(path, sizeof(path), "%s/%s", fixtures, name);
    return path;
}

/* Writes `text` to <tmpdir>/<name> and returns the path (static buffer). */
static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "fopen %s", path);
    cr_assert_eq(fputs(text, f) >= 0, 1);
    cr_assert_eq(fclose(f), 0);
    return path;
}

static void read_token_eq(const char *want)
{
    char *tok = NULL;
    cr_assert_eq(ipd_kube_config_read_token(&cfg, &tok, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(tok, want);
    ipd_kube_token_free(tok);
}

Test(kubeconfig, current_context_is_used_by_default)
{
    cr_assert_eq(ipd_kube_config_load_file(&cfg, fixture("kubeconfig.yaml"), NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.context, "dev");
    cr_assert_str_eq(cfg.server, "https://dev.example.test:6443", "the trailing slash is dropped");
    cr_assert_str_eq(cfg.ns, "team-a");
    cr_assert_eq(cfg.insecure_skip_tls_verify, 0);
    cr_assert_null(cfg.token_file);
    read_token_eq("dev-token-123");
}

Test(kubeconfig, named_context_overrides_current_and_resolves_relative_paths)
{
    cr_assert_eq(ipd_kube_config_load_file(&cfg, fixture("kubeconfig.yaml"), "prod", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.context, "prod");
    cr_assert_str_eq(cfg.server, "https://prod.example.test");
    cr_assert_str_eq(cfg.ns, "default", "a context without a namespace means default");
    cr_assert_str_eq(cfg.ca_file, fixture("ca.crt"));
    cr_assert_str_eq(cfg.token_file, fixture("serviceaccount/token"));
    cr_assert_null(cfg.ca_data.data);
    read_token_eq("sa-token-abc");
}

Test(kubeconfig, certificate_authority_data_is_base64_decoded)
{
    cr_assert_eq(ipd_kube_config_load_file(&cfg, fixture("kubeconfig.yaml"), "dev", err, sizeof(err)), 0, "%s", err);
    const char *want = "-----BEGIN CERTIFICATE-----\nFIXTURE-CA-DATA\n-----END CERTIFICATE-----\n";
    cr_assert_eq(cfg.ca_data.len, strlen(want));
    cr_assert_eq(memcmp(cfg.ca_data.data, want, strlen(want)), 0);
    cr_assert_null(cfg.ca_file);
}

Test(kubeconfig, client_certificate_and_key_data_are_decoded)
{
    cr_assert_eq(ipd_kube_config_load_file(&cfg, fixture("kubeconfig.yaml"), "lab", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.server, "http://127.0.0.1:8080");
    cr_assert_eq(cfg.insecure_skip_tls_verify, 1);
    cr_assert_str_eq(cfg.client_cert_data.data,
                     "-----BEGIN CERTIFICATE-----\nFIXTURE-CLIENT-CERT\n-----END CERTIFICATE-----\n");
    cr_assert_str_eq(cfg.client_key_data.data,
                     "-----BEGIN PRIVATE KEY-----\nFIXTURE-CLIENT-KEY\n-----END PRIVATE KEY-----\n",
                     "base64 split over lines decodes whole");
    char *tok = (char *)"unset";
    cr_assert_eq(ipd_kube_config_read_token(&cfg, &tok, err, sizeof(err)), 0);
    cr_assert_null(tok, "a certificate user has no token");
}

Test(kubeconfig, token_file_wins_over_token_and_is_reread)
{
    write_tmp("tok", "first\n");
    const char *path = write_tmp("config", "current-context: c\n"
                                           "clusters: [{name: k, cluster: {server: 'https://k.test'}}]\n"
                                           "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                                           "users: [{name: u, user: {token: literal, tokenFile: tok}}]\n");
    cr_assert_eq(ipd_kube_config_load_file(&cfg, path, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.token, "literal");
    read_token_eq("first");
    write_tmp("tok", "  second  \n");
    read_token_eq("second");
    write_tmp("tok", "\n");
    char *tok = NULL;
    cr_assert_eq(ipd_kube_config_read_token(&cfg, &tok, err, sizeof(err)), IPD_EINVAL);
    cr_assert_not_null(strstr(err, "empty"), "%s", err);
    cr_assert_null(tok);
    write_tmp("tok", "abc\r\nX-Forged: 1\n");
    cr_assert_eq(ipd_kube_config_read_token(&cfg, &tok, err, sizeof(err)), IPD_EINVAL);
    cr_assert_not_null(strstr(err, "contains control characters"), "a token must not forge headers: %s", err);
    cr_assert_null(tok);
}

Test(kubeconfig, missing_context_is_named)
{
    const char *path = fixture("kubeconfig.yaml");
    cr_assert_eq(ipd_kube_config_load_file(&cfg, path, "nope", err, sizeof(err)), IPD_EINVAL);
    char want[8500];
    snprintf(want, sizeof(want), "kubeconfig %s: context \"nope\" not found", path);
    cr_assert_str_eq(err, want);
    cr_assert_null(cfg.server, "a failed load leaves the config empty");
}

Test(kubeconfig, missing_cluster_is_named)
{
    cr_assert_eq(ipd_kube_config_load_file(&cfg, fixture("kubeconfig.yaml"), "no-such-cluster", err, sizeof(err)),
                 IPD_EINVAL);
    cr_assert_not_null(strstr(err, "cluster \"ghost-cluster\" not found"), "%s", err);
    cr_assert_not_null(strstr(err, "context \"no-such-cluster\""), "%s", err);
    cr_assert_null(cfg.context);
}

Test(kubeconfig, missing_user_is_named)
{
    cr_assert_eq(ipd_kube_config_load_file(&cfg, fixture("kubeconfig.yaml"), "no-such-user", err, sizeof(err)),
                 IPD_EINVAL);
    cr_assert_not_null(strstr(err, "user \"ghost-user\" not found"), "%s", err);
}

Test(kubeconfig, exec_plugin_user_is_rejected)
{
    cr_assert_eq(ipd_kube_config_load_file(&cfg, fixture("kubeconfig.yaml"), "plugin", err, sizeof(err)), IPD_EINVAL);
    cr_assert_not_null(strstr(err, "user \"plugin-user\" uses an exec or auth-provider plugin"), "%s", err);
}

Test(kubeconfig, malformed_yaml_reports_the_line)
{
    const char *path = fixture("kubeconfig-malformed.yaml");
    cr_assert_eq(ipd_kube_config_load_file(&cfg, path, NULL, err, sizeof(err)), IPD_EINVAL);
    cr_assert_not_null(strstr(err, path), "%s", err);
    cr_assert_not_null(strstr(err, ": line 8 column"), "%s", err);
}

Test(kubeconfig, unreadable_file_is_named)
{
    cr_assert_eq(ipd_kube_config_load_file(&cfg, "/nonexistent/kubeconfig", NULL, err, sizeof(err)), -ENOENT);
    cr_assert_str_eq(err, "kubeconfig /nonexistent/kubeconfig: No such file or directory");
}

Test(kubeconfig, missing_referenced_file_is_named)
{
    const char *path = write_tmp("config", "current-context: c\n"
                                           "clusters: [{name: k, cluster: {server: 'https://k.test', "
                                           "certificate-authority: /nonexistent/ca.crt}}]\n"
                                           "contexts: [{name: c, context: {cluster: k}}]\n");
    cr_assert_eq(ipd_kube_config_load_file(&cfg, path, NULL, err, sizeof(err)), -ENOENT);
    cr_assert_not_null(strstr(err, "cluster \"k\": certificate-authority /nonexistent/ca.crt"), "%s", err);
}

Test(kubeconfig, bad_base64_and_bad_boolean_are_rejected)
{
    const char *path = write_tmp("config", "current-context: c\n"
                                           "clusters: [{name: k, cluster: {server: 'https://k.test', "
                                           "certificate-authority-data: 'not*base64'}}]\n"
                                           "contexts: [{name: c, context: {cluster: k}}]\n");
    cr_assert_eq(ipd_kube_config_load_file(&cfg, path, NULL, err, sizeof(err)), IPD_EINVAL);
    cr_assert_not_null(strstr(err, "certificate-authority-data is not valid base64"), "%s", err);
    path = write_tmp("config", "current-context: c\n"
                               "clusters: [{name: k, cluster: {server: 'https://k.test', "
                               "insecure-skip-tls-verify: maybe}}]\n"
                               "contexts: [{name: c, context: {cluster: k}}]\n");
    cr_assert_eq(ipd_kube_config_load_file(&cfg, path, NULL, err, sizeof(err)), IPD_EINVAL);
    cr_assert_not_null(strstr(err, "insecure-skip-tls-verify is not a boolean"), "%s", err);
}

Test(kubeconfig, no_current_context_is_an_error)
{
    const char *path = write_tmp("config", "clusters: []\n");
    cr_assert_eq(ipd_kube_config_load_file(&cfg, path, NULL, err, sizeof(err)), IPD_EINVAL);
    cr_assert_not_null(strstr(err, "no current-context"), "%s", err);
}

Test(kubeconfig, kubeconfig_env_first_entry_is_used)
{
    char list[9000];
    snprintf(list, sizeof(list), "%s:/nonexistent/second", fixture("kubeconfig.yaml"));
    cr_assert_eq(setenv("KUBECONFIG", list, 1), 0);
    cr_assert_eq(ipd_kube_config_load_file(&cfg, NULL, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.context, "dev");
}

Test(kubeconfig, home_kube_config_is_the_fallback)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/.kube", tmpdir);
    cr_assert_eq(mkdir(dir, 0700), 0);
    write_tmp(".kube/config", "current-context: c\n"
                              "clusters: [{name: k, cluster: {server: 'https://home.test'}}]\n"
                              "contexts: [{name: c, context: {cluster: k, namespace: ns1}}]\n");
    cr_assert_eq(unsetenv("KUBECONFIG"), 0);
    cr_assert_eq(setenv("HOME", tmpdir, 1), 0);
    cr_assert_eq(ipd_kube_config_load_file(&cfg, NULL, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.server, "https://home.test");
    cr_assert_str_eq(cfg.ns, "ns1");
}

Test(kubeconfig, in_cluster_reads_the_service_account_dir)
{
    cr_assert_eq(setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1), 0);
    cr_assert_eq(setenv("KUBERNETES_SERVICE_PORT", "443", 1), 0);
    cr_assert_eq(ipd_kube_config_in_cluster(&cfg, fixture("serviceaccount"), err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.server, "https://10.96.0.1:443");
    cr_assert_str_eq(cfg.ns, "imgpulld");
    cr_assert_str_eq(cfg.ca_file, fixture("serviceaccount/ca.crt"));
    cr_assert_str_eq(cfg.token_file, fixture("serviceaccount/token"));
    cr_assert_eq(cfg.insecure_skip_tls_verify, 0);
    read_token_eq("sa-token-abc");
}

Test(kubeconfig, in_cluster_brackets_an_ipv6_host)
{
    cr_assert_eq(setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1), 0);
    cr_assert_eq(setenv("KUBERNETES_SERVICE_PORT", "6443", 1), 0);
    cr_assert_eq(ipd_kube_config_in_cluster(&cfg, fixture("serviceaccount"), err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.server, "https://[fd00::1]:6443");
}

Test(kubeconfig, in_cluster_errors_name_what_is_missing)
{
    cr_assert_eq(unsetenv("KUBERNETES_SERVICE_HOST"), 0);
    cr_assert_eq(ipd_kube_config_in_cluster(&cfg, fixture("serviceaccount"), err, sizeof(err)), IPD_EINVAL);
    cr_assert_not_null(strstr(err, "KUBERNETES_SERVICE_HOST"), "%s", err);
    cr_assert_eq(setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1), 0);
    cr_assert_eq(setenv("KUBERNETES_SERVICE_PORT", "443", 1), 0);
    cr_assert_eq(ipd_kube_config_in_cluster(&cfg, tmpdir, err, sizeof(err)), -ENOENT);
    char want[600];
    snprintf(want, sizeof(want), "in-cluster config: %s/token: No such file or directory", tmpdir);
    cr_assert_str_eq(err, want);
    cr_assert_null(cfg.server);
}

Test(kubeconfig, in_cluster_without_namespace_file_uses_default)
{
    write_tmp("token", "t\n");
    write_tmp("ca.crt", "x\n");
    cr_assert_eq(setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1), 0);
    cr_assert_eq(setenv("KUBERNETES_SERVICE_PORT", "443", 1), 0);
    cr_assert_eq(ipd_kube_config_in_cluster(&cfg, tmpdir, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.ns, "default");
}

Test(kubeconfig, server_mode_takes_http_urls_only)
{
    cr_assert_eq(ipd_kube_config_server(&cfg, "http://127.0.0.1:8001/", NULL, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.server, "http://127.0.0.1:8001");
    cr_assert_str_eq(cfg.ns, "default");
    cr_assert_null(cfg.token_file);
    ipd_kube_config_dispose(&cfg);
    ipd_kube_config_dispose(&cfg); /* twice is harmless */
    cr_assert_eq(ipd_kube_config_server(&cfg, "ftp://x", NULL, NULL, err, sizeof(err)), IPD_EINVAL);
    cr_assert_not_null(strstr(err, "\"ftp://x\": not an http:// or https:// URL"), "%s", err);
    cr_assert_eq(ipd_kube_config_server(&cfg, "https://", NULL, NULL, err, sizeof(err)), IPD_EINVAL);
    cr_assert_eq(ipd_kube_config_server(&cfg, "https://k", "/nonexistent/token", NULL, err, sizeof(err)), -ENOENT);
    cr_assert_not_null(strstr(err, "token file /nonexistent/token"), "%s", err);
    const char *tok = write_tmp("token", "server-token\n");
    cr_assert_eq(ipd_kube_config_server(&cfg, "https://k", tok, NULL, err, sizeof(err)), 0, "%s", err);
    read_token_eq("server-token");
}
