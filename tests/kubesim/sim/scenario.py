"""``--scenario demo``: a cluster that keeps pulling images like the daemon would.

Every few seconds it starts a pull job: one batch/v1 Job per node, labelled
with the pull job id and the node, for the next image of a rotating list in
which some references cannot be pulled.  Finished Jobs are deleted after a
while so the cluster stays small however long the demo runs.
"""

import random
import threading
import time

from . import kinds, objects, util

IMAGES = (
    "docker.io/library/busybox:1.36",
    "docker.io/library/nginx:1.27",
    "registry.invalid/team/app:2.4",
    "quay.io/prometheus/node-exporter:v1.8.2",
    "docker.io/library/redis:7.2",
    "registry.invalid/missing/tool:latest",
    "ghcr.io/example/worker:0.9.1",
)


def pull_job_manifest(job_id, node, image, backoff_limit=2):
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"generateName": "%s-" % job_id, "namespace": "imgpulld",
                     "labels": {"imgpulld.io/job": job_id, "imgpulld.io/node": node}},
        "spec": {
            "backoffLimit": backoff_limit,
            "activeDeadlineSeconds": 120,
            "template": {
                "metadata": {"labels": {"imgpulld.io/job": job_id, "imgpulld.io/node": node}},
                "spec": {
                    "nodeName": node, "restartPolicy": "Never",
                    "volumes": [{"name": "imgpulld-bin", "emptyDir": {}}],
                    "initContainers": [{"name": "install-noop", "image": "docker.io/library/busybox:1.36.1-musl",
                                        "command": ["/bin/cp", "/bin/true", "/imgpulld-bin/true"],
                                        "volumeMounts": [{"name": "imgpulld-bin", "mountPath": "/imgpulld-bin"}]}],
                    "containers": [{"name": "pull", "image": image, "imagePullPolicy": "IfNotPresent",
                                    "command": ["/imgpulld-bin/true"],
                                    "volumeMounts": [{"name": "imgpulld-bin", "mountPath": "/imgpulld-bin",
                                                      "readOnly": True}]}],
                },
            },
        },
    }


class DemoScenario:
    def __init__(self, cluster, interval=4.0, keep_seconds=60.0, max_jobs=60):
        self.cluster = cluster
        self.interval = interval
        self.keep_seconds = keep_seconds
        self.max_jobs = max_jobs
        self.rng = random.Random(1)
        self.turn = 0
        self.finished_at = {}

    def start(self):
        self.cluster.config.add_fail(r"^registry\.invalid/", None)
        threading.Thread(target=self._loop, name="kubesim-demo", daemon=True).start()

    def _loop(self):
        while True:
            try:
                self._tick()
            except Exception as e:  # a demo hiccup must not end the demo
                print("kubesim: demo step failed: %s" % e, flush=True)
            time.sleep(self.interval)

    def _tick(self):
        store = self.cluster.store
        with store.lock:
            nodes = sorted(n for _, n in store.objects[kinds.NODE.plural])
            jobs = list(store.objects[kinds.JOB.plural].values())
        self._collect(jobs)
        if len(jobs) + len(nodes) > self.max_jobs:
            return
        image = IMAGES[self.turn % len(IMAGES)]
        self.turn += 1
        job_id = "pj-%08x" % self.rng.getrandbits(32)
        for node in nodes:
            obj = pull_job_manifest(job_id, node, image)
            self.cluster.sched.run_sync(self._create, obj)

    def _create(self, obj):
        meta = obj["metadata"]
        meta["name"] = (meta.pop("generateName") + meta["labels"]["imgpulld.io/node"])[:63].rstrip("-.")
        meta["uid"] = util.new_uid()
        objects.default_job(obj)
        s = self.cluster.store.create(kinds.JOB, obj)
        self.cluster.created(kinds.JOB, s)

    def _collect(self, jobs):
        now = time.monotonic()
        for s in jobs:
            meta = s.obj["metadata"]
            done = any(c.get("status") == "True" and c["type"] in ("Complete", "Failed")
                       for c in s.obj.get("status", {}).get("conditions", []))
            if not done:
                continue
            key = (meta["namespace"], meta["name"])
            first = self.finished_at.setdefault(key, now)
            if now - first >= self.keep_seconds:
                self.finished_at.pop(key, None)
                self.cluster.sched.run_sync(self._delete, key)

    def _delete(self, key):
        try:
            self.cluster.delete(kinds.JOB, key[0], key[1], "Background")
        except Exception:
            pass
