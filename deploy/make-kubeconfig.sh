#!/usr/bin/env bash
# Writes a kubeconfig for the node daemon from the imgpulld ServiceAccount of deploy/rbac.yaml,
# using the current kubectl context's cluster (server and CA).
# Usage: deploy/make-kubeconfig.sh [OUTPUT] [--duration 8760h]
#   without --duration: the long-lived token of the imgpulld-token Secret
#   with --duration D:  a token from `kubectl create token` valid for D (rotate before it ends)
# Then, on each node: install -m 0640 -g imgpulld OUTPUT /etc/imgpulld/kubeconfig, and set
# `kubeconfig /etc/imgpulld/kubeconfig` in /etc/imgpulld/imgpulld.conf.
set -euo pipefail
out=${1:-imgpulld.kubeconfig}
ns=${IMGPULLD_NAMESPACE:-imgpulld}
duration=""
if [ "${2:-}" = --duration ]; then
    duration=${3:?--duration needs a value, e.g. 8760h}
fi

server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
ca=$(kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
if [ -z "$ca" ]; then
    ca_file=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')
    [ -n "$ca_file" ] && ca=$(base64 -w0 <"$ca_file")
fi
if [ -n "$duration" ]; then
    token=$(kubectl -n "$ns" create token imgpulld --duration "$duration")
else
    token=$(kubectl -n "$ns" get secret imgpulld-token -o jsonpath='{.data.token}' | base64 -d)
fi
[ -n "$token" ] || { echo "no token: was deploy/rbac.yaml applied?" >&2; exit 1; }

umask 077
cat >"$out" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: cluster
    cluster:
      server: $server
${ca:+      certificate-authority-data: $ca}
users:
  - name: imgpulld
    user:
      token: $token
contexts:
  - name: imgpulld
    context: {cluster: cluster, user: imgpulld, namespace: $ns}
current-context: imgpulld
YAML
echo "wrote $out for $server (ServiceAccount $ns/imgpulld)"
