/*
 * The one decision of which Kubernetes credentials a process uses. The master's watch and the
 * workers' POST and DELETE must reach the same API server as the same identity, so both call
 * this function and nothing else chooses.
 *
 * Order, first match wins:
 *   1. `kube_server` (flag or file), with the optional `kube_token_file` and `kube_ca_file`;
 *   2. `kubeconfig` (flag or file): its current context;
 *   3. automatic: the pod's service account when KUBERNETES_SERVICE_HOST is set, else
 *      $KUBECONFIG, else ~/.kube/config (ipd_kube_config_auto()).
 * `kube_insecure_skip_tls_verify` then applies to whichever was chosen.
 */
#ifndef IPD_SHARED_KUBE_PROFILE_H
#define IPD_SHARED_KUBE_PROFILE_H

#include <stddef.h>

#include "shared/config.h"
#include "shared/kube_client.h"
#include "shared/kubeconfig.h"

/** Where a profile came from, for logs and tests. */
typedef enum ipd_kube_source {
    IPD_KUBE_SOURCE_SERVER,     /**< kube_server */
    IPD_KUBE_SOURCE_KUBECONFIG, /**< the kubeconfig directive or flag */
    IPD_KUBE_SOURCE_IN_CLUSTER, /**< the pod's service account */
    IPD_KUBE_SOURCE_ENV,        /**< $KUBECONFIG or ~/.kube/config */
} ipd_kube_source_t;

/**
 * Fills `kc` (zero-initialised by the call) from `cfg` (borrowed) in the order above.
 * `sa_dir` (borrowed) may be NULL for IPD_KUBE_SA_DIR. `source` (may be NULL) receives where it
 * came from. Returns 0, or a negative code with `err` saying what is wrong; `kc` then holds
 * nothing to dispose.
 */
int ipd_kube_profile_load(const ipd_config_t *cfg, const char *sa_dir, ipd_kube_config_t *kc, ipd_kube_source_t *source,
                          char *err, size_t errlen);

/**
 * The client options `cfg` (borrowed) asks for (kube_retries, kube_retry_max_wait), the same for
 * the master and every worker.
 */
ipd_kube_options_t ipd_kube_profile_options(const ipd_config_t *cfg);

/** A short name of `source` ("kube_server", "kubeconfig", "in-cluster", "$KUBECONFIG"). Static. */
const char *ipd_kube_source_name(ipd_kube_source_t source);

#endif
