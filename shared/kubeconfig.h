/*
 * Where the Kubernetes API server is and how to authenticate to it.
 *
 * Three sources fill one ipd_kube_config_t:
 *   - a kubeconfig file (ipd_kube_config_load_file): the current context or a named one;
 *   - the in-cluster service account (ipd_kube_config_in_cluster);
 *   - a plain server URL with an optional token file (ipd_kube_config_server), for the
 *     simulator and for operators who front the apiserver with a proxy.
 * Which one a process uses is decided in one place: shared/kube_profile.h.
 *
 * Every loader fills `err` (when not NULL) with a message that names the file and what is wrong,
 * e.g. `kubeconfig /x: context "foo" not found`, and returns a negative code: -errno when a file
 * cannot be read, IPD_EINVAL when its content is wrong. On failure *cfg is left zeroed.
 *
 * TLS verification is on unless the kubeconfig says insecure-skip-tls-verify: true.
 */
#ifndef IPD_SHARED_KUBECONFIG_H
#define IPD_SHARED_KUBECONFIG_H

#include <stddef.h>

/** Suggested size of the error buffers passed to the loaders. */
#define IPD_KUBE_ERRLEN 512

/** Default directory of the in-cluster service account files. */
#define IPD_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/** A byte buffer (certificate or key material). `data` is owned by the config; NULL when unset. */
typedef struct ipd_kube_blob {
    /** Owned bytes, NUL-terminated for convenience (the NUL is not counted in `len`). */
    char *data;
    /** Number of bytes. */
    size_t len;
} ipd_kube_blob_t;

/**
 * A resolved connection profile. Every pointer member is owned by the struct and released by
 * ipd_kube_config_dispose(); NULL means "not set". Zero-initialise before use.
 */
typedef struct ipd_kube_config {
    /** Base URL of the apiserver without a trailing slash, e.g. "https://10.0.0.1:6443". Always set. */
    char *server;
    /** Name of the kubeconfig context used, NULL for the in-cluster and server modes. */
    char *context;
    /** Namespace of the context or service account; "default" when the source names none. */
    char *ns;
    /** Path of a PEM CA bundle that verifies the server (certificate-authority, ca.crt). */
    char *ca_file;
    /** PEM CA bundle given inline (certificate-authority-data, base64-decoded). */
    ipd_kube_blob_t ca_data;
    /** Non-zero to skip server certificate verification (insecure-skip-tls-verify). */
    int insecure_skip_tls_verify;
    /** A literal bearer token (kubeconfig `token`). Used only when token_file is NULL. */
    char *token;
    /** Path of a file holding the bearer token (tokenFile, service account token); re-read per request. */
    char *token_file;
    /** Path of the PEM client certificate (client-certificate). */
    char *client_cert_file;
    /** Path of the PEM client key (client-key). */
    char *client_key_file;
    /** Inline PEM client certificate (client-certificate-data, decoded). */
    ipd_kube_blob_t client_cert_data;
    /** Inline PEM client key (client-key-data, decoded). */
    ipd_kube_blob_t client_key_data;
} ipd_kube_config_t;

/**
 * Loads a kubeconfig file.
 * `path` (borrowed, may be NULL): the file; NULL means the first entry of $KUBECONFIG, else
 * $HOME/.kube/config. `context` (borrowed, may be NULL): the context to use; NULL means the
 * file's current-context. Relative file paths inside the kubeconfig are resolved against the
 * directory of the kubeconfig file. Users that only name an exec or auth-provider plugin are
 * rejected (plugins are not supported). `err` (borrowed, may be NULL) receives the message.
 * Returns 0 or a negative code; *cfg is filled only on success.
 */
int ipd_kube_config_load_file(ipd_kube_config_t *cfg, const char *path, const char *context, char *err, size_t errlen);

/**
 * Builds the in-cluster profile: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, with
 * `<sa_dir>/token` as the token file, `<sa_dir>/ca.crt` as the CA and `<sa_dir>/namespace` as the
 * namespace. `sa_dir` (borrowed) may be NULL for IPD_KUBE_SA_DIR. The token file must be readable
 * now; it is re-read on every request. Returns 0 or a negative code.
 */
int ipd_kube_config_in_cluster(ipd_kube_config_t *cfg, const char *sa_dir, char *err, size_t errlen);

/**
 * Builds a profile for a plain server URL (http:// or https://; borrowed) with an optional token
 * file (borrowed, may be NULL) and an optional CA file (borrowed, may be NULL). The namespace is
 * "default". Returns 0, or IPD_EINVAL for a URL that is not http(s).
 */
int ipd_kube_config_server(ipd_kube_config_t *cfg, const char *url, const char *token_file, const char *ca_file,
                           char *err, size_t errlen);

/** Releases every member and zeroes *cfg. Safe on a zeroed or already disposed config. */
void ipd_kube_config_dispose(ipd_kube_config_t *cfg);

/**
 * Returns the bearer token to send now: the trimmed content of token_file when set (read on
 * every call, so rotated tokens are picked up), else a copy of `token`.
 * On success *out is owned (free with ipd_kube_token_free) or NULL when the profile has no token.
 * Returns 0, -errno when the token file cannot be read, or IPD_EINVAL when the token is empty or
 * holds control characters (it is sent in an HTTP header).
 */
int ipd_kube_config_read_token(const ipd_kube_config_t *cfg, char **out, char *err, size_t errlen);

/** Wipes and frees a token returned by ipd_kube_config_read_token. NULL is allowed. */
void ipd_kube_token_free(char *token);

#endif
