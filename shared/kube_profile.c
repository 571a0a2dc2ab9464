#include "shared/kube_profile.h"

#include <stdlib.h>
#include <string.h>

int ipd_kube_profile_load(const ipd_config_t *cfg, const char *sa_dir, ipd_kube_config_t *kc, ipd_kube_source_t *source,
                          char *err, size_t errlen)
{
    ipd_kube_source_t from;
    int rc;
    memset(kc, 0, sizeof(*kc));
    if (cfg->kube_server[0] != '\0') {
        from = IPD_KUBE_SOURCE_SERVER;
        rc = ipd_kube_config_server(kc, cfg->kube_server, cfg->kube_token_file[0] ? cfg->kube_token_file : NULL,
                                    cfg->kube_ca_file[0] ? cfg->kube_ca_file : NULL, err, errlen);
    } else if (cfg->kubeconfig[0] != '\0') {
        from = IPD_KUBE_SOURCE_KUBECONFIG;
        rc = ipd_kube_config_load_file(kc, cfg->kubeconfig, NULL, err, errlen);
    } else {
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        from = host != NULL && host[0] != '\0' ? IPD_KUBE_SOURCE_IN_CLUSTER : IPD_KUBE_SOURCE_ENV;
        rc = from == IPD_KUBE_SOURCE_IN_CLUSTER ? ipd_kube_config_in_cluster(kc, sa_dir, err, errlen)
                                                : ipd_kube_config_load_file(kc, NULL, NULL, err, errlen);
    }
    if (rc != 0)
        return rc;
    if (cfg->kube_insecure_skip_tls_verify)
        kc->insecure_skip_tls_verify = 1;
    if (source != NULL)
        *source = from;
    return 0;
}

const char *ipd_kube_source_name(ipd_kube_source_t source)
{
    switch (source) {
    case IPD_KUBE_SOURCE_SERVER:
        return "kube_server";
    case IPD_KUBE_SOURCE_KUBECONFIG:
        return "kubeconfig";
    case IPD_KUBE_SOURCE_IN_CLUSTER:
        return "in-cluster";
    case IPD_KUBE_SOURCE_ENV:
        return "$KUBECONFIG";
    }
    return "?";
}

ipd_kube_options_t ipd_kube_profile_options(const ipd_config_t *cfg)
{
    return (ipd_kube_options_t){.retries = cfg->kube_retries > 0 ? cfg->kube_retries : -1,
                                .retry_max_wait_ms = (long)cfg->kube_retry_max_wait_ms};
}
