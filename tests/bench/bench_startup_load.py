#!/usr/bin/python3
"""Loads a large cluster into the simulator through POST /_sim/bulk (tests/bench/bench_startup.sh).

Usage: bench_startup_load.py SIM_PORT NODES PULL_PODS OTHER_PODS TEMPLATE_DIR

TEMPLATE_DIR holds job.json, pod.json and events.json: the Kubernetes Job imgpulld created for a
real pull onto the node "tmpl-node", its pod and the pod's Events, as the simulator made them.
Each pull pod is a copy of them for one (job, node) pair: PULL_PODS / NODES jobs over node-1 ..
node-NODES, with the node name, the job id and the uids replaced in the text. The other pods are
copies of the same pod turned into a Deployment's pods in namespaces app-0, app-1, ... (1 000
pods each) without imgpulld's labels. Every pod carries managedFields the size an apiserver
writes (a controller's and the kubelet's entries). Prints the job ids, one a line.
"""

import http.client
import json
import sys
import uuid

BATCH = 1000

# What an apiserver keeps for a pod written by its controller and its kubelet (server-side apply
# bookkeeping): about 2 KB of every real pod, which a client decodes and throws away.
MANAGED_FIELDS = [
    {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
     "time": "2027-01-15T08:00:00Z", "fieldsType": "FieldsV1",
     "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:batch.kubernetes.io/controller-uid": {},
                                                                      "f:batch.kubernetes.io/job-name": {},
                                                                      "f:controller-uid": {}, "f:job-name": {}},
                                 "f:ownerReferences": {".": {}, "k:{\"uid\":\"00000000-0000-0000-0000-000000000000\"}": {}}},
                  "f:spec": {"f:containers": {"k:{\"name\":\"pull\"}": {".": {}, "f:command": {}, "f:image": {},
                                                                           "f:imagePullPolicy": {}, "f:name": {},
                                                                           "f:resources": {}, "f:securityContext": {
                                                                               ".": {}, "f:allowPrivilegeEscalation": {},
                                                                               "f:capabilities": {".": {}, "f:drop": {}},
                                                                               "f:readOnlyRootFilesystem": {},
                                                                               "f:runAsNonRoot": {}, "f:runAsUser": {}},
                                                                           "f:terminationMessagePath": {},
                                                                           "f:terminationMessagePolicy": {}}},
                             "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:nodeName": {},
                             "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {},
                             "f:terminationGracePeriodSeconds": {}, "f:tolerations": {}}}},
    {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2027-01-15T08:00:04Z",
     "fieldsType": "FieldsV1", "subresource": "status",
     "fieldsV1": {"f:status": {"f:conditions": {
         "k:{\"type\":\"ContainersReady\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {},
                                             "f:reason": {}, "f:status": {}, "f:type": {}},
         "k:{\"type\":\"Initialized\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {},
                                         "f:status": {}, "f:type": {}},
         "k:{\"type\":\"PodReadyToStartContainers\"}": {".": {}, "f:lastProbeTime": {},
                                                       "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
         "k:{\"type\":\"Ready\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:reason": {},
                                   "f:status": {}, "f:type": {}}},
         "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {},
         "f:podIPs": {".": {}, "k:{\"ip\":\"10.244.1.17\"}": {".": {}, "f:ip": {}}}, "f:startTime": {}}}},
]


def post(conn, kind, objs):
    conn.request("POST", "/_sim/bulk", json.dumps({"kind": kind, "objects": objs}),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 201:
        sys.exit("bulk %s: HTTP %d %s" % (kind, r.status, body[:300]))


class Batches:
    def __init__(self, conn):
        self.conn = conn
        self.pending = {}

    def add(self, kind, obj):
        objs = self.pending.setdefault(kind, [])
        objs.append(obj)
        if len(objs) >= BATCH:
            self.flush(kind)

    def flush(self, kind=None):
        for k in [kind] if kind else list(self.pending):
            if self.pending.get(k):
                post(self.conn, k, self.pending[k])
                self.pending[k] = []


def main():
    port, nodes, pull_pods, other_pods, tdir = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), \
        int(sys.argv[4]), sys.argv[5]
    texts = {n: open("%s/%s.json" % (tdir, n)).read() for n in ("job", "pod", "events")}
    job0, pod0 = json.loads(texts["job"]), json.loads(texts["pod"])
    tmpl_id = job0["metadata"]["labels"]["imgpulld.io/job"]
    tmpl_job_uid, tmpl_pod_uid = job0["metadata"]["uid"], pod0["metadata"]["uid"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    out = Batches(conn)
    njobs = max(1, pull_pods // nodes)
    ids = []
    for k in range(njobs):
        jid = "pj-%08x" % (0x5a000000 + k)
        ids.append(jid)
        for i in range(1, min(nodes, pull_pods - k * nodes) + 1):
            node = "node-%d" % i
            job_uid, pod_uid = str(uuid.uuid4()), str(uuid.uuid4())

            def clone(text):
                return (text.replace("tmpl-node", node).replace(tmpl_id, jid).replace(tmpl_job_uid, job_uid)
                        .replace(tmpl_pod_uid, pod_uid))
            job = json.loads(clone(texts["job"]))
            pod = json.loads(clone(texts["pod"]))
            pod["metadata"]["managedFields"] = MANAGED_FIELDS
            out.add("jobs", job)
            out.add("pods", pod)
            for ev in json.loads(clone(texts["events"])):
                out.add("events", ev)
    per_ns = 1000
    for n in range((other_pods + per_ns - 1) // per_ns):
        out.add("namespaces", {"metadata": {"name": "app-%d" % n, "labels": {"kubernetes.io/metadata.name":
                                                                            "app-%d" % n}},
                               "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    out.flush("namespaces")
    base = json.loads(texts["pod"])
    for i in range(other_pods):
        ns, app = "app-%d" % (i // per_ns), "web-%d" % (i // 100)
        pod = json.loads(json.dumps(base))
        meta = pod["metadata"]
        meta["name"] = "%s-7d4b9c8f6d-%05d" % (app, i)
        meta["namespace"] = ns
        meta["generateName"] = "%s-7d4b9c8f6d-" % app
        meta["uid"] = str(uuid.uuid4())
        meta["labels"] = {"app": app, "pod-template-hash": "7d4b9c8f6d"}
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "%s-7d4b9c8f6d" % app,
                                    "uid": "6f1c2d3e-0000-4000-8000-%012d" % (i // 100), "controller": True,
                                    "blockOwnerDeletion": True}]
        meta.pop("annotations", None)
        meta["managedFields"] = MANAGED_FIELDS
        pod["spec"]["nodeName"] = "node-%d" % (i % nodes + 1)
        out.add("pods", pod)
    out.flush()
    for jid in ids:
        print(jid)


if __name__ == "__main__":
    main()
