"""Self-test of the Kubernetes simulator (standard library unittest).

Run: python3 tests/kubesim/test_kubesim.py   (about 20 s)
The simulator runs in-process on a free loopback port; tests talk HTTP to it
exactly as a client would.
"""

import http.client
import json
import os
import queue
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sim import kinds  # noqa: E402
from sim.cluster import Cluster  # noqa: E402
from sim.config import SimConfig, normalize_image  # noqa: E402
from sim.control import Control  # noqa: E402
from sim.errors import ApiError  # noqa: E402
from sim.selectors import match_fields, match_labels, parse_fields, parse_labels  # noqa: E402
from sim.server import SimServer  # noqa: E402

NS = "imgpulld"


class Sim:
    """An in-process simulator plus tiny HTTP helpers."""

    def __init__(self):
        self.cluster = Cluster(nodes=3, history=10000, config=SimConfig(pull_ms=100, log_rate=50))
        self.control = Control(self.cluster)
        self.server = SimServer(0, self.cluster, self.control)
        self.control.server = self.server
        self.port = self.server.server_address[1]
        self.open_watches = []
        self.cluster.start()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def call(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
        conn.request(method, path, body=data, headers=headers or {"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        try:
            parsed = json.loads(raw) if raw and "json" in (resp.getheader("Content-Type") or "") else raw
        except ValueError:
            parsed = raw
        return resp.status, resp, parsed

    def ok(self, method, path, body=None):
        code, _, obj = self.call(method, path, body)
        if code >= 300:
            raise AssertionError("%s %s -> %d %s" % (method, path, code, obj))
        return obj

    def watch(self, path):
        w = WatchStream(self.port, path)
        self.open_watches.append(w)
        return w

    def close_watches(self):
        while self.open_watches:
            self.open_watches.pop().close()


class WatchStream:
    def __init__(self, port, path):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.request("GET", path)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.events = queue.Queue()
        self.ended = threading.Event()
        self.sock = self.conn.sock
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = json.loads(self.resp.read())
            self.ended.set()

    def _read(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                self.events.put(json.loads(line))
        except (OSError, ValueError, http.client.HTTPException):
            pass
        self.ended.set()

    def next(self, timeout=5.0, skip_bookmarks=True):
        deadline = time.monotonic() + timeout
        while True:
            ev = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if not (skip_bookmarks and ev["type"] == "BOOKMARK"):
                return ev

    def drain(self, seconds):
        out, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                out.append(self.events.get(timeout=0.05))
            except queue.Empty:
                pass
        return out

    def close(self):
        """Shut the socket down first: the reader thread holds the response's lock."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.ended.wait(2)
        self.conn.close()


def wait_for(fn, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %.1fs" % timeout)
        time.sleep(interval)


def job_manifest(name, image, node="node-1", backoff_limit=2, deadline=None, labels=None,
                 tolerations=({"operator": "Exists"},)):
    spec = {"backoffLimit": backoff_limit, "template": {
        "metadata": {"labels": dict(labels or {})},
        "spec": {"nodeName": node, "restartPolicy": "Never", "tolerations": list(tolerations),
                 "containers": [{"name": "pull", "image": image, "imagePullPolicy": "IfNotPresent",
                                 "command": ["/imgpulld-noop"]}]}}}
    if deadline:
        spec["activeDeadlineSeconds"] = deadline
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": dict(labels or {}, **{"imgpulld.io/node": node})}, "spec": spec}


def plain_pod(name, node="node-9", labels=None):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"nodeName": node, "restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "busybox:1.36"}]}}


class SelectorTest(unittest.TestCase):
    def test_label_selector_operators(self):
        labels = {"app": "a", "tier": "web", "env": "prod"}
        cases = {"app=a": True, "app==a": True, "app!=a": False, "app!=b": True, "missing!=x": True,
                 "tier in (web,db)": True, "tier notin (web)": False, "env": True, "!env": False,
                 "!nope": True, "app=a,tier in (db)": False, "app=a, env in (prod, dev),!nope": True}
        for text, want in cases.items():
            self.assertEqual(match_labels(parse_labels(text), labels), want, text)

    def test_label_selector_syntax_error_is_400(self):
        with self.assertRaises(ApiError) as cm:
            parse_labels("app in ()")
        self.assertEqual(cm.exception.code, 400)

    def test_field_selector(self):
        reqs = parse_fields("spec.nodeName=node-1,status.phase!=Failed", kinds.POD)
        self.assertTrue(match_fields(reqs, {"spec.nodeName": "node-1", "status.phase": "Running"}))
        self.assertFalse(match_fields(reqs, {"spec.nodeName": "node-1", "status.phase": "Failed"}))
        with self.assertRaises(ApiError) as cm:
            parse_fields("spec.bogus=1", kinds.POD)
        self.assertEqual(cm.exception.code, 400)
        # Events select on what pkg/registry/core/event/strategy.go offers; "source" is source.component.
        ev = {"involvedObject": {"kind": "Pod", "name": "p-1"}, "source": {"component": "kubelet", "host": "node-1"}}
        values = kinds.EVENT.field_values(ev)
        self.assertTrue(match_fields(parse_fields("involvedObject.kind=Pod,involvedObject.name=p-1,source=kubelet",
                                                  kinds.EVENT), values))
        self.assertFalse(match_fields(parse_fields("involvedObject.name=p-2", kinds.EVENT), values))
        with self.assertRaises(ApiError) as cm:
            parse_fields("source.host=node-1", kinds.EVENT)
        self.assertEqual(cm.exception.code, 400)

    def test_image_normalisation(self):
        self.assertEqual(normalize_image("busybox"), "docker.io/library/busybox:latest")
        self.assertEqual(normalize_image("team/app:1"), "docker.io/team/app:1")
        self.assertEqual(normalize_image("localhost:5000/app"), "localhost:5000/app:latest")


class SimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Sim()

    def setUp(self):
        self.sim.ok("POST", "/_sim/reset")
        self.sim.ok("POST", "/_sim/backoff", {"base_ms": 20, "max_ms": 100})

    def tearDown(self):
        self.sim.close_watches()

    def pods(self, selector=""):
        return self.sim.ok("GET", "/api/v1/namespaces/%s/pods?labelSelector=%s" % (NS, selector))["items"]

    def events_for(self, name):
        q = "/api/v1/namespaces/%s/events?fieldSelector=involvedObject.name=%s" % (NS, name)
        return self.sim.ok("GET", q)["items"]

    def job(self, name):
        return self.sim.ok("GET", "/apis/batch/v1/namespaces/%s/jobs/%s" % (NS, name))

    def job_condition(self, name):
        for c in self.job(name)["status"].get("conditions", []):
            if c["type"] in ("Complete", "Failed") and c["status"] == "True":
                return c
        return None

    # -- discovery and CRUD ----------------------------------------------------

    def test_discovery(self):
        res = {r["name"] for r in self.sim.ok("GET", "/api/v1")["resources"]}
        self.assertTrue({"pods", "pods/log", "events", "nodes", "namespaces"} <= res)
        self.assertIn("jobs", {r["name"] for r in self.sim.ok("GET", "/apis/batch/v1")["resources"]})
        self.assertIn("batch", [g["name"] for g in self.sim.ok("GET", "/apis")["groups"]])
        self.assertEqual(self.sim.ok("GET", "/api")["versions"], ["v1"])
        names = [n["metadata"]["name"] for n in self.sim.ok("GET", "/api/v1/namespaces")["items"]]
        self.assertTrue({"default", "imgpulld", "kube-system"} <= set(names))

    def test_create_errors_are_status_objects(self):
        code, _, body = self.sim.call("POST", "/api/v1/namespaces/%s/pods" % NS,
                                      {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "x"},
                                       "spec": {"containers": [{"name": "c"}]}})
        self.assertEqual((code, body["kind"], body["reason"]), (422, "Status", "Invalid"))
        self.assertEqual(body["details"]["causes"][0]["field"], "spec.containers[0].image")
        self.sim.ok("POST", "/api/v1/namespaces/%s/pods" % NS, plain_pod("dup"))
        code, _, body = self.sim.call("POST", "/api/v1/namespaces/%s/pods" % NS, plain_pod("dup"))
        self.assertEqual((code, body["reason"]), (409, "AlreadyExists"))
        code, _, body = self.sim.call("POST", "/api/v1/namespaces/nowhere/pods", plain_pod("p"))
        self.assertEqual((code, body["code"]), (404, 404))
        code, _, body = self.sim.call("GET", "/api/v1/namespaces/%s/pods/absent" % NS)
        self.assertEqual((code, body["reason"]), (404, "NotFound"))

    def test_generate_name_and_job_pod_shape(self):
        obj = job_manifest("ignored", "busybox:1.36", labels={"imgpulld.io/job": "pj-00000001"})
        del obj["metadata"]["name"]
        obj["metadata"]["generateName"] = "pj-00000001-"
        job = self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, obj)
        name = job["metadata"]["name"]
        self.assertRegex(name, r"^pj-00000001-[bcdfghjklmnpqrstvwxz2456789]{5}$")
        pod = wait_for(lambda: self.pods("job-name=" + name))[0]
        self.assertEqual(pod["metadata"]["labels"]["imgpulld.io/job"], "pj-00000001")
        self.assertEqual(pod["metadata"]["labels"]["controller-uid"], job["metadata"]["uid"])
        self.assertEqual(pod["metadata"]["ownerReferences"][0]["uid"], job["metadata"]["uid"])
        self.assertEqual(pod["spec"]["nodeName"], "node-1")

    def test_admission_defaults_reach_the_pod_not_the_job_template(self):
        # ServiceAccount, Priority and DefaultTolerationSeconds admit pods only
        # (plugin/pkg/admission/defaulttolerationseconds/admission.go): a Job read back shows its
        # template as its client wrote it plus the pod spec's defaults, never those tolerations.
        job = self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS,
                          job_manifest("tmpl", "busybox:1.36", tolerations=()))
        tspec = self.job("tmpl")["spec"]["template"]["spec"]
        self.assertEqual(tspec.get("tolerations"), [])
        for key in ("serviceAccountName", "priority", "preemptionPolicy"):
            self.assertNotIn(key, tspec)
        self.assertEqual((tspec["dnsPolicy"], tspec["schedulerName"]), ("ClusterFirst", "default-scheduler"))
        pod = wait_for(lambda: self.pods("job-name=" + job["metadata"]["name"]))[0]
        self.assertEqual({(t["key"], t["tolerationSeconds"]) for t in pod["spec"]["tolerations"]},
                         {("node.kubernetes.io/not-ready", 300), ("node.kubernetes.io/unreachable", 300)})
        self.assertEqual(pod["spec"]["serviceAccountName"], "default")

    def test_suspended_job_starts_when_resumed(self):
        obj = job_manifest("susp", "busybox:1.36")
        obj["spec"]["suspend"] = True
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, obj)
        time.sleep(0.3)
        self.assertEqual(self.pods("job-name=susp"), [])
        code, _, _ = self.sim.call("PATCH", "/apis/batch/v1/namespaces/%s/jobs/susp" % NS,
                                   {"spec": {"suspend": False}},
                                   {"Content-Type": "application/merge-patch+json"})
        self.assertEqual(code, 200)
        pod = wait_for(lambda: self.pods("job-name=susp"))[0]
        self.assertEqual(pod["spec"]["nodeName"], "node-1")

    # -- pull simulation --------------------------------------------------------

    def test_pull_success_events_and_second_pull_already_present(self):
        self.sim.ok("POST", "/_sim/pull", {"pattern": "^busybox", "ms": 300})
        t0 = time.monotonic()
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, job_manifest("j1", "busybox:1.36"))
        pod = wait_for(lambda: self.pods("job-name=j1"))[0]
        name = pod["metadata"]["name"]
        pulled = wait_for(lambda: [e for e in self.events_for(name) if e["reason"] == "Pulled"])
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)
        self.assertRegex(pulled[0]["message"], r'^Successfully pulled image "busybox:1.36" in 0\.300s \(0\.300s '
                                               r'including waiting\)\. Image size: \d+ bytes\.$')
        reasons = [e["reason"] for e in self.events_for(name)]
        self.assertIn("Pulling", reasons)
        ev = pulled[0]
        self.assertEqual((ev["source"]["component"], ev["involvedObject"]["kind"], ev["type"]),
                         ("kubelet", "Pod", "Normal"))
        state = wait_for(lambda: [s for s in self.sim.ok("GET", "/api/v1/namespaces/%s/pods/%s" % (NS, name))
                                  ["status"].get("containerStatuses", []) if "waiting" not in s["state"]
                                  or s["state"]["waiting"]["reason"] == "RunContainerError"])[0]
        self.assertTrue(state["imageID"].startswith("docker.io/library/busybox@sha256:"))
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, job_manifest("j2", "busybox:1.36"))
        pod2 = wait_for(lambda: self.pods("job-name=j2"))[0]["metadata"]["name"]
        msgs = wait_for(lambda: [e["message"] for e in self.events_for(pod2) if e["reason"] == "Pulled"])
        self.assertEqual(msgs[0], 'Container image "busybox:1.36" already present on machine')

    def test_pull_failure_backs_off_forever_and_does_not_fail_the_job(self):
        """pkg/kubelet/images/image_manager.go backs a failing pull off and keeps the pod Pending;
        pkg/controller/job/job_controller.go counts failed pods only, so backoffLimit is not reached."""
        self.sim.ok("POST", "/_sim/backoff", {"base_ms": 50, "max_ms": 100})
        self.sim.ok("POST", "/_sim/fail", {"pattern": "^registry\\.invalid/"})
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS,
                    job_manifest("bad", "registry.invalid/x:1", backoff_limit=2))
        pod = wait_for(lambda: self.pods("job-name=bad"))[0]["metadata"]["name"]
        key = "%s/%s" % (NS, pod)
        wait_for(lambda: max(self.sim.ok("GET", "/_sim/state")["pullAttempts"].get(key, {}).values() or [0]) >= 5,
                 timeout=10)
        self.assertIsNone(self.job_condition("bad"), "five failed pulls with backoffLimit 2 do not fail the Job")
        self.assertEqual(self.job("bad")["status"].get("failed", 0), 0)
        self.assertEqual(len(self.pods("job-name=bad")), 1)
        pod = self.pods("job-name=bad")[0]
        self.assertEqual(pod["status"]["phase"], "Pending")
        self.assertIn(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
                      ("ErrImagePull", "ImagePullBackOff"))
        evs = {(e["reason"], e["message"]): e["count"] for e in self.events_for(pod["metadata"]["name"])}
        self.assertGreaterEqual(evs[("Pulling", 'Pulling image "registry.invalid/x:1"')], 4)
        self.assertGreaterEqual(evs[("Failed", "Error: ErrImagePull")], 4)
        self.assertGreaterEqual(evs[("BackOff", 'Back-off pulling image "registry.invalid/x:1"')], 2)
        self.assertTrue(any(r == "Failed" and m.startswith('Failed to pull image "registry.invalid/x:1": ')
                            for r, m in evs))
        self.sim.ok("POST", "/_sim/backoff", {"base_ms": 200, "max_ms": 2000})

    def test_each_cause_fails_a_pull_with_the_real_message(self):
        want = {
            "auth": ("ErrImagePull", "401 Unauthorized"),
            "not_found": ("ErrImagePull", ": not found"),
            "network": ("ErrImagePull", "no such host"),
            "tls": ("ErrImagePull", "x509: certificate signed by unknown authority"),
            "rate_limited": ("ErrImagePull", "429 Too Many Requests"),
            "timeout": ("ErrImagePull", "i/o timeout"),
            "invalid_reference": ("InvalidImageName", "invalid reference format"),
            "cancelled": ("ErrImagePull", "context canceled"),
            "unknown": ("ErrImagePull", "no space left on device"),
        }
        for cause in want:
            self.sim.ok("POST", "/_sim/fail", {"pattern": "^cause\\.example/%s:" % cause, "cause": cause})
            name = "c-" + cause.replace("_", "-")
            self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS,
                        job_manifest(name, "cause.example/%s:1" % cause))
        for cause, (reason, words) in want.items():
            name = "c-" + cause.replace("_", "-")
            pod = wait_for(lambda: [p for p in self.pods("job-name=" + name)
                                    if p["status"].get("containerStatuses")
                                    and "waiting" in p["status"]["containerStatuses"][0]["state"]
                                    and p["status"]["containerStatuses"][0]["state"]["waiting"].get("message")])[0]
            waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
            self.assertIn(waiting["reason"], (reason, "ImagePullBackOff"), cause)
            if waiting["reason"] == reason:
                self.assertIn(words, waiting["message"], cause)
        # node_unavailable: the node evicts the pod instead.
        self.sim.ok("POST", "/_sim/fail", {"pattern": "^cause\\.example/evict:", "cause": "node_unavailable"})
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, job_manifest("c-evict", "cause.example/evict:1"))
        pod = wait_for(lambda: [p for p in self.pods("job-name=c-evict") if p["status"].get("phase") == "Failed"])[0]
        self.assertEqual(pod["status"]["reason"], "Evicted")
        self.assertTrue(pod["status"]["message"].startswith("The node was low on resource: ephemeral-storage."))
        code, _, _ = self.sim.call("POST", "/_sim/fail", {"pattern": "x", "cause": "bad_luck"})
        self.assertEqual(code, 422)

    def helper_job(self, name, image, command, helper="busybox:helper", backoff_limit=0,
                   pod_deadline=None, node="node-1"):
        """A Job shaped like imgpulld's pull Jobs: an init container copies a program into an emptyDir."""
        job = job_manifest(name, image, node=node, backoff_limit=backoff_limit)
        spec = job["spec"]["template"]["spec"]
        spec["volumes"] = [{"name": "bin", "emptyDir": {"sizeLimit": "16Mi"}}]
        spec["initContainers"] = [{"name": "helper", "image": helper, "command": ["/bin/cp", "/bin/true",
                                                                                   "/imgpulld/true"],
                                   "securityContext": {"readOnlyRootFilesystem": True},
                                   "volumeMounts": [{"name": "bin", "mountPath": "/imgpulld"}]}]
        spec["containers"][0]["command"] = [command]
        spec["containers"][0]["securityContext"] = {"readOnlyRootFilesystem": True}
        spec["containers"][0]["volumeMounts"] = [{"name": "bin", "mountPath": "/imgpulld", "readOnly": True}]
        if pod_deadline is not None:
            spec["activeDeadlineSeconds"] = pod_deadline
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, job)

    def test_init_container_copies_a_program_into_a_shared_volume(self):
        self.helper_job("noop", "app:pulled", "/imgpulld/true")
        self.assertEqual(wait_for(lambda: self.job_condition("noop"))["type"], "Complete")
        pod = self.pods("job-name=noop")[0]
        self.assertEqual(pod["status"]["phase"], "Succeeded")
        init = pod["status"]["initContainerStatuses"][0]
        self.assertEqual((init["name"], init["state"]["terminated"]["exitCode"]), ("helper", 0))
        main = pod["status"]["containerStatuses"][0]
        self.assertEqual((main["state"]["terminated"]["exitCode"], main["state"]["terminated"]["reason"]),
                         (0, "Completed"))
        init_cond = [c for c in pod["status"]["conditions"] if c["type"] == "Initialized"][0]
        self.assertEqual(init_cond["status"], "True")
        paths = {(e["reason"], e["involvedObject"].get("fieldPath")) for e in self.events_for(pod["metadata"]["name"])}
        self.assertIn(("Pulling", "spec.initContainers{helper}"), paths)
        self.assertIn(("Pulling", "spec.containers{pull}"), paths)
        self.assertIn(("Started", "spec.initContainers{helper}"), paths)

    def test_a_path_the_image_lacks_is_refused_and_one_it_ships_runs(self):
        self.helper_job("lacks", "app:plain", "/.imgpulld-pulled")
        cond = wait_for(lambda: self.job_condition("lacks"), timeout=10)
        self.assertEqual(cond["type"], "Failed")
        pod = self.pods("job-name=lacks")[0]
        term = pod["status"]["containerStatuses"][0]["state"]
        term = term.get("terminated") or term.get("waiting")
        self.assertIn('exec: "/.imgpulld-pulled": stat /.imgpulld-pulled: no such file or directory',
                      term["message"])
        # An image that ships the path runs it: the reason a pull pod must never exec into the image.
        self.sim.ok("POST", "/_sim/files", {"pattern": "^evil:", "files": {"/.imgpulld-pulled": "app"}})
        self.helper_job("ships", "evil:1", "/.imgpulld-pulled")
        wait_for(lambda: self.pods("job-name=ships") and self.pods("job-name=ships")[0]["status"]["phase"] ==
                 "Running")
        # The copy needs its source in the helper image and a writable volume.
        self.helper_job("nohelper", "app:plain", "/imgpulld/true", helper="scratch:1")
        self.assertEqual(wait_for(lambda: self.job_condition("nohelper"))["type"], "Failed")
        pod = self.pods("job-name=nohelper")[0]
        self.assertEqual(pod["status"]["phase"], "Failed")
        self.assertIn("stat /bin/cp: no such file or directory",
                      pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["message"])
        self.assertEqual(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing")

    def test_nodes_start_with_the_default_helper_image(self):
        node = self.sim.ok("GET", "/api/v1/nodes/node-1")
        self.assertIn("docker.io/library/busybox:1.36.1-musl", node["status"]["images"][0]["names"])
        self.helper_job("preloaded", "app:pre", "/imgpulld/true", helper="docker.io/library/busybox:1.36.1-musl")
        self.assertEqual(wait_for(lambda: self.job_condition("preloaded"))["type"], "Complete")
        pod = self.pods("job-name=preloaded")[0]["metadata"]["name"]
        msgs = [e["message"] for e in self.events_for(pod) if e["reason"] == "Pulled"]
        self.assertIn('Container image "docker.io/library/busybox:1.36.1-musl" already present on machine', msgs)

    def test_pod_deadline_fails_attempts_that_count_against_the_backoff_limit(self):
        """pkg/kubelet/active_deadline.go fails the pod; pkg/controller/job/job_controller.go counts it."""
        self.sim.ok("POST", "/_sim/pull", {"pattern": "^slow:", "ms": 8000})
        self.helper_job("slow", "slow:1", "/imgpulld/true", backoff_limit=1, pod_deadline=1)
        cond = wait_for(lambda: self.job_condition("slow"), timeout=10)
        self.assertEqual((cond["type"], cond["reason"]), ("Failed", "BackoffLimitExceeded"))
        pods = self.pods("job-name=slow")
        self.assertEqual(len(pods), 2, "backoffLimit 1: two attempts")
        for pod in pods:
            self.assertEqual((pod["status"]["phase"], pod["status"]["reason"]), ("Failed", "DeadlineExceeded"))
            self.assertEqual(pod["status"]["message"], "Pod was active on the node longer than the specified deadline")
        self.assertEqual(self.job("slow")["status"]["failed"], 2)

    def test_deleted_pods_count_as_failed_and_suspension_deletes_without_counting(self):
        """pkg/controller/job/job_controller.go: isPodFailed counts a deleted, unfinished pod."""
        self.sim.ok("POST", "/_sim/pull", {"pattern": "^slow:", "ms": 60000})
        self.helper_job("del", "slow:2", "/imgpulld/true", backoff_limit=1)
        for n in range(2):
            pod = wait_for(lambda: [p for p in self.pods("job-name=del")
                                    if p["status"]["phase"] not in ("Failed", "Succeeded")])[0]
            self.sim.ok("DELETE", "/api/v1/namespaces/%s/pods/%s" % (NS, pod["metadata"]["name"]))
            if n == 0:
                wait_for(lambda: self.job("del")["status"].get("failed") == 1)
        cond = wait_for(lambda: self.job_condition("del"), timeout=10)
        self.assertEqual((cond["type"], cond["reason"]), ("Failed", "BackoffLimitExceeded"))
        self.helper_job("susp", "slow:3", "/imgpulld/true", backoff_limit=0)
        wait_for(lambda: self.pods("job-name=susp"))
        code, _, obj = self.sim.call("PATCH", "/apis/batch/v1/namespaces/%s/jobs/susp" % NS, {"spec": {"suspend": True}},
                                     headers={"Content-Type": "application/merge-patch+json"})
        self.assertEqual(code, 200, obj)
        wait_for(lambda: not self.pods("job-name=susp"))
        time.sleep(0.3)
        self.assertEqual(self.pods("job-name=susp"), [], "a suspended Job starts no pod")
        self.assertIsNone(self.job_condition("susp"))
        self.assertFalse(self.job("susp")["status"].get("failed"))

    def test_files_rules_are_checked(self):
        code, _, _ = self.sim.call("POST", "/_sim/files", {"pattern": "x", "files": {"relative": "true"}})
        self.assertEqual(code, 422)
        code, _, _ = self.sim.call("POST", "/_sim/files", {"pattern": "x", "files": {"/bin/x": "rm"}})
        self.assertEqual(code, 422)

    def test_volume_mounts_must_name_a_volume(self):
        job = job_manifest("badmount", "app:1")
        job["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "nope", "mountPath": "/x"}]
        code, _, obj = self.sim.call("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, job)
        self.assertEqual(code, 422)
        self.assertIn("volumeMounts[0].name", json.dumps(obj))

    def test_run_outcome_completes_job_and_deadline_fails_another(self):
        self.sim.ok("POST", "/_sim/outcome", {"pattern": "done", "outcome": "Run", "run_ms": 200})
        self.sim.ok("POST", "/_sim/outcome", {"pattern": "forever", "outcome": "Run"})
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, job_manifest("ok", "app:done"))
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, job_manifest("slow", "app:forever",
                                                                                  deadline=1))
        self.assertEqual(wait_for(lambda: self.job_condition("ok"))["type"], "Complete")
        self.assertEqual(self.job("ok")["status"]["succeeded"], 1)
        cond = wait_for(lambda: self.job_condition("slow"), timeout=5)
        self.assertEqual((cond["type"], cond["reason"]), ("Failed", "DeadlineExceeded"))
        ttl = job_manifest("ttl", "app:done")
        ttl["spec"]["ttlSecondsAfterFinished"] = 0
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, ttl)
        wait_for(lambda: self.sim.call("GET", "/apis/batch/v1/namespaces/%s/jobs/ttl" % NS)[0] == 404)
        wait_for(lambda: not self.pods("job-name=ttl"))

    def test_cordon_holds_back_the_scheduler_not_a_pinned_pod(self):
        # A cordon is a scheduler matter: a pod pinned with nodeName runs anyway, an unpinned one
        # is bound elsewhere (pkg/scheduler/framework/plugins/nodeunschedulable).
        self.sim.ok("POST", "/_sim/nodes/node-2/cordon")
        node = self.sim.ok("GET", "/api/v1/nodes/node-2")
        self.assertEqual(node["spec"]["taints"][0]["key"], "node.kubernetes.io/unschedulable")
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS,
                    job_manifest("c", "busybox:2", node="node-2", tolerations=()))
        wait_for(lambda: self.pods("job-name=c") and self.pods("job-name=c")[0]["status"].get("containerStatuses"))
        for i in range(4):
            self.sim.ok("POST", "/api/v1/namespaces/%s/pods" % NS,
                        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "free-%d" % i},
                         "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}})
        bound = [wait_for(lambda i=i: self.sim.ok("GET", "/api/v1/namespaces/%s/pods/free-%d" % (NS, i))
                          ["spec"].get("nodeName")) for i in range(4)]
        self.assertNotIn("node-2", bound)

    def test_not_ready_node_leaves_a_pinned_pod_pending_without_conditions(self):
        # No kubelet admits the pod: Pending, no conditions, no container statuses; Ready again, it starts.
        self.sim.ok("POST", "/_sim/nodes/node-2/notready")
        node = self.sim.ok("GET", "/api/v1/nodes/node-2")
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        self.assertEqual((ready["status"], ready["reason"]), ("Unknown", "NodeStatusUnknown"))
        self.assertEqual(sorted((t["key"], t["effect"]) for t in node["spec"]["taints"]),
                         [("node.kubernetes.io/unreachable", "NoExecute"),
                          ("node.kubernetes.io/unreachable", "NoSchedule")])
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, job_manifest("n", "busybox:2", node="node-2"))
        wait_for(lambda: self.pods("job-name=n"))
        time.sleep(0.4)
        pod = self.pods("job-name=n")[0]
        self.assertEqual(pod["status"]["phase"], "Pending")
        self.assertNotIn("conditions", pod["status"])
        self.assertNotIn("containerStatuses", pod["status"])
        self.sim.ok("POST", "/_sim/nodes/node-2/ready")
        wait_for(lambda: self.pods("job-name=n")[0]["status"].get("containerStatuses"))

    def test_podgc_fails_and_deletes_the_pods_of_a_deleted_node_until_the_job_fails(self):
        # pkg/controller/podgc/gc_controller.go (gcOrphaned): a pod bound to a node missing for the
        # quarantine is patched Failed with DisruptionTarget/DeletionByPodGC and force-deleted; the
        # Job controller counts it failed and replaces it on the same node (nodeName) until its
        # backoffLimit fails it. A node back before its quarantine ends keeps its pods.
        self.sim.ok("POST", "/_sim/pull", {"pattern": "slowgc", "ms": 60000})
        self.sim.ok("POST", "/_sim/podgc", {"period_ms": 100, "quarantine_ms": 600})
        try:
            rv = self.sim.ok("GET", "/api/v1/namespaces/%s/pods" % NS)["metadata"]["resourceVersion"]
            self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS,
                        job_manifest("gc", "slowgc:1", node="node-2", backoff_limit=1))
            first = wait_for(lambda: [p for p in self.pods("job-name=gc")
                                      if p["status"].get("containerStatuses")])[0]["metadata"]["name"]
            w = self.sim.watch("/api/v1/namespaces/%s/pods?watch=true&resourceVersion=%s" % (NS, rv))
            self.sim.ok("DELETE", "/_sim/nodes/node-2")
            time.sleep(0.3)
            # Its kubelet went with the node: the pod still pulls as it did, nothing progresses.
            pod = self.sim.ok("GET", "/api/v1/namespaces/%s/pods/%s" % (NS, first))
            self.assertEqual(pod["status"]["phase"], "Pending")
            wait_for(lambda: self.job_condition("gc"), timeout=15)
            cond = self.job_condition("gc")
            self.assertEqual((cond["type"], cond["reason"]), ("Failed", "BackoffLimitExceeded"))
            self.assertEqual(self.job("gc")["status"]["failed"], 2)
            seen = {}
            for ev in w.drain(0.5):
                pod = ev.get("object", {})
                if pod.get("metadata", {}).get("labels", {}).get("job-name") == "gc":
                    seen.setdefault(pod["metadata"]["name"], []).append((ev["type"], pod))
            self.assertEqual(len(seen), 2, seen.keys())
            for name, evs in seen.items():
                self.assertEqual(evs[-1][0], "DELETED", name)
                failed = [p for t, p in evs if t == "MODIFIED" and p["status"]["phase"] == "Failed"]
                self.assertTrue(failed, name)
                self.assertEqual(failed[-1]["spec"]["nodeName"], "node-2")
                gc = [c for c in failed[-1]["status"]["conditions"] if c["type"] == "DisruptionTarget"]
                self.assertEqual([(c["status"], c["reason"], c["message"]) for c in gc],
                                 [("True", "DeletionByPodGC", "PodGC: node no longer exists")])
            # A node deleted and added back within the quarantine keeps its pods.
            self.sim.ok("POST", "/_sim/podgc", {"quarantine_ms": 5000})
            self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS,
                        job_manifest("back", "slowgc:1", node="node-3", backoff_limit=1))
            kept = wait_for(lambda: self.pods("job-name=back"))[0]["metadata"]["name"]
            self.sim.ok("DELETE", "/_sim/nodes/node-3")
            time.sleep(0.5)
            self.sim.ok("POST", "/_sim/nodes", {"name": "node-3"})
            time.sleep(5.5)
            self.assertEqual([p["metadata"]["name"] for p in self.pods("job-name=back")], [kept])
            self.assertEqual(self.job("back")["status"].get("failed", 0), 0)
        finally:
            self.sim.ok("POST", "/_sim/podgc", {"period_ms": 20000, "quarantine_ms": 40000})

    def test_a_node_added_back_runs_the_pods_bound_to_it(self):
        # The machine of node-3 goes while its pod pulls; a node registers under the same name
        # before the pod garbage collector's quarantine ends: its kubelet runs the pod from
        # nothing (sim/kubelet.py, on_node_added), and the Job completes. Before, the pod stayed
        # as the old kubelet left it and the Job ran for ever.
        self.sim.ok("POST", "/_sim/pull", {"pattern": "slowback", "ms": 1500})
        self.helper_job("again", "slowback:1", "/imgpulld/true", node="node-3", backoff_limit=1)
        name = wait_for(lambda: self.pods("job-name=again"))[0]["metadata"]["name"]
        time.sleep(0.5)
        self.sim.ok("DELETE", "/_sim/nodes/node-3")
        time.sleep(0.3)
        self.sim.ok("POST", "/_sim/nodes", {"name": "node-3"})
        wait_for(lambda: self.job_condition("again"), timeout=10)
        cond = self.job_condition("again")
        self.assertEqual(cond["type"], "Complete")
        self.assertEqual([p["metadata"]["name"] for p in self.pods("job-name=again")], [name])
        self.assertEqual(self.job("again")["status"].get("failed", 0), 0)

    def test_podgc_settings_are_checked(self):
        code, _, body = self.sim.call("POST", "/_sim/podgc", {"period_ms": 0})
        self.assertEqual((code, body["reason"]), (422, "Invalid"))
        code, _, body = self.sim.call("POST", "/_sim/podgc", {"quarantine_ms": "1"})
        self.assertEqual((code, body["reason"]), (422, "Invalid"))
        self.assertEqual(self.sim.ok("GET", "/_sim/config")["podgc_quarantine_ms"], 40000)

    def test_kubelet_rejects_a_pinned_pod_for_an_untolerated_noexecute_taint_only(self):
        # pkg/kubelet/lifecycle/predicate.go: the kubelet's admission checks NoExecute taints only.
        self.sim.ok("POST", "/_sim/nodes/node-2/taints",
                    {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]})
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS,
                    job_manifest("s", "busybox:2", node="node-2", tolerations=()))
        wait_for(lambda: self.pods("job-name=s") and self.pods("job-name=s")[0]["status"].get("containerStatuses"))
        self.sim.ok("POST", "/_sim/nodes/node-3/taints",
                    {"taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]})
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS,
                    job_manifest("x", "busybox:2", node="node-3", tolerations=(), backoff_limit=0))
        pod = wait_for(lambda: next((p for p in self.pods("job-name=x") if p["status"]["phase"] == "Failed"), None))
        self.assertEqual(pod["status"]["reason"], "TaintToleration")
        self.assertIn("Pod was rejected: Predicate TaintToleration failed", pod["status"]["message"])
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS,
                    job_manifest("t", "busybox:2", node="node-3",
                                 tolerations=({"key": "dedicated", "operator": "Exists"},)))
        wait_for(lambda: self.pods("job-name=t") and self.pods("job-name=t")[0]["status"].get("containerStatuses"))

    def test_delete_job_propagation(self):
        """Background deletes a Job's pods after the Job; Orphan (batch/v1's default) keeps every pod
        the Job had, failed ones included, and strips the Job's ownerReference from each
        (pkg/controller/garbagecollector/garbagecollector.go, orphanDependents). These pods fail
        (busybox has no /imgpulld-noop) and the Job replaces them until backoffLimit, so how many
        pods the Job has when it is deleted depends on timing; what does not is that the set the
        deletion leaves never changes afterwards: no controller owns the pods any more."""
        for name in ("bg", "orphan"):
            self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, job_manifest(name, "busybox:3"))
            wait_for(lambda: self.pods("job-name=" + name))
        self.sim.ok("DELETE", "/apis/batch/v1/namespaces/%s/jobs/bg" % NS, {"propagationPolicy": "Background"})
        wait_for(lambda: not self.pods("job-name=bg"))
        self.sim.ok("DELETE", "/apis/batch/v1/namespaces/%s/jobs/orphan" % NS)
        kept = sorted(p["metadata"]["name"] for p in self.pods("job-name=orphan"))
        self.assertGreaterEqual(len(kept), 1)

        def all_failed():
            pods = self.pods("job-name=orphan")
            return pods if all(p["status"]["phase"] == "Failed" for p in pods) else None
        # Once every kept pod has failed, a live Job would create a replacement within its backoff
        # (at most 80 ms for backoffLimit 2 here).
        wait_for(all_failed)
        time.sleep(0.3)
        left = self.pods("job-name=orphan")
        self.assertEqual(sorted(p["metadata"]["name"] for p in left), kept)
        for p in left:
            self.assertNotIn("ownerReferences", p["metadata"])
            self.assertEqual(p["status"]["phase"], "Failed")

    def test_delete_collection_by_label(self):
        for i in range(3):
            self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS,
                        job_manifest("dc%d" % i, "busybox:4", labels={"imgpulld.io/job": "pj-dc"}))
        out = self.sim.ok("DELETE", "/apis/batch/v1/namespaces/%s/jobs?labelSelector=imgpulld.io/job%%3Dpj-dc"
                          "&propagationPolicy=Background" % NS)
        self.assertEqual(len(out["items"]), 3)
        wait_for(lambda: not self.pods("imgpulld.io/job=pj-dc"))

    # -- list, watch, history ----------------------------------------------------------

    def test_pagination_is_a_consistent_snapshot(self):
        for i in range(7):
            self.sim.ok("POST", "/api/v1/namespaces/%s/pods" % NS, plain_pod("p%d" % i))
        first = self.sim.ok("GET", "/api/v1/namespaces/%s/pods?limit=3" % NS)
        self.assertEqual(first["metadata"]["remainingItemCount"], 4)
        self.sim.ok("POST", "/api/v1/namespaces/%s/pods" % NS, plain_pod("p99"))
        self.sim.ok("DELETE", "/api/v1/namespaces/%s/pods/p6" % NS)
        names, page, rvs = [], first, set()
        while True:
            names += [p["metadata"]["name"] for p in page["items"]]
            rvs.add(page["metadata"]["resourceVersion"])
            if not page["metadata"].get("continue"):
                break
            page = self.sim.ok("GET", "/api/v1/namespaces/%s/pods?limit=3&continue=%s"
                               % (NS, page["metadata"]["continue"]))
        self.assertEqual(names, ["p%d" % i for i in range(7)])
        self.assertEqual(len(rvs), 1)
        tok = self.sim.ok("GET", "/api/v1/pods?limit=2")["metadata"]["continue"]
        self.sim.ok("POST", "/_sim/compact", {"keep": 0})
        code, _, body = self.sim.call("GET", "/api/v1/pods?limit=2&continue=" + tok)
        self.assertEqual((code, body["reason"]), (410, "Expired"))

    def test_bulk_stores_objects_as_they_stand_and_no_controller_acts(self):
        pods = []
        for i in range(250):
            p = plain_pod("bulk-%d" % i)
            p["metadata"]["namespace"] = NS
            p["spec"]["nodeName"] = "node-1"
            p["status"] = {"phase": "Pending"}
            pods.append(p)
        out = self.sim.ok("POST", "/_sim/bulk", {"kind": "pods", "objects": pods})
        self.assertEqual(out["created"], 250)
        names, path = [], "/api/v1/namespaces/%s/pods?limit=100" % NS
        while True:
            page = self.sim.ok("GET", path)
            names += [p["metadata"]["name"] for p in page["items"] if p["metadata"]["name"].startswith("bulk-")]
            if not page["metadata"].get("continue"):
                break
            path = "/api/v1/namespaces/%s/pods?limit=100&continue=%s" % (NS, page["metadata"]["continue"])
        self.assertEqual(sorted(names), sorted("bulk-%d" % i for i in range(250)))
        time.sleep(0.5)
        got = self.sim.ok("GET", "/api/v1/namespaces/%s/pods/bulk-7" % NS)
        self.assertEqual(got["status"], {"phase": "Pending"}, "the kubelet leaves a bulk pod alone")
        self.assertTrue(got["metadata"]["uid"] and got["metadata"]["resourceVersion"])
        for body, code in (({"kind": "secrets", "objects": []}, 422), ({"kind": "pods", "objects": {}}, 422),
                           ({"kind": "pods", "objects": [{"metadata": {"name": "x"}}]}, 422),
                           ({"kind": "pods", "objects": [pods[0]]}, 409)):
            self.assertEqual(self.sim.call("POST", "/_sim/bulk", body)[0], code, body)

    def test_watch_resume_410_and_error_event(self):
        rv = self.sim.ok("GET", "/api/v1/namespaces/%s/pods" % NS)["metadata"]["resourceVersion"]
        self.sim.ok("POST", "/api/v1/namespaces/%s/pods" % NS, plain_pod("w1"))
        w = self.sim.watch("/api/v1/namespaces/%s/pods?watch=true&resourceVersion=%s" % (NS, rv))
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "w1"))
        self.assertGreater(int(ev["object"]["metadata"]["resourceVersion"]), int(rv))
        self.sim.ok("POST", "/_sim/compact", {"keep": 0, "error_watches": True})
        ev = w.next()
        while ev["type"] == "MODIFIED":
            ev = w.next()
        self.assertEqual(ev["type"], "ERROR")
        self.assertEqual((ev["object"]["code"], ev["object"]["reason"]), (410, "Expired"))
        self.assertRegex(ev["object"]["message"], r"^too old resource version: \d+ \(\d+\)$")
        self.assertTrue(w.ended.wait(5))
        old = self.sim.watch("/api/v1/namespaces/%s/pods?watch=true&resourceVersion=%s" % (NS, rv))
        self.assertEqual((old.status, old.body["reason"], old.body["code"]), (410, "Expired", 410))
        self.assertRegex(old.body["message"], r"^too old resource version: %s \(\d+\)$" % rv)

    def test_watch_initial_state_bookmarks_and_timeout(self):
        self.sim.ok("POST", "/api/v1/namespaces/%s/pods" % NS, plain_pod("b1"))
        w = self.sim.watch("/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=3")
        self.assertEqual(w.next()["object"]["metadata"]["name"], "b1")
        ev = w.next(3, skip_bookmarks=False)
        self.assertEqual(ev["type"], "BOOKMARK")
        self.assertEqual(set(ev["object"]["metadata"]), {"resourceVersion"})
        self.assertTrue(w.ended.wait(4))

    def test_watch_selector_transitions_and_legacy_path(self):
        self.sim.ok("POST", "/api/v1/namespaces/%s/pods" % NS, plain_pod("sel", labels={"team": "a"}))
        rv = self.sim.ok("GET", "/api/v1/pods")["metadata"]["resourceVersion"]
        w = self.sim.watch("/api/v1/watch/namespaces/%s/pods?labelSelector=team%%3Da&resourceVersion=%s"
                           % (NS, rv))
        code, _, _ = self.sim.call("PATCH", "/api/v1/namespaces/%s/pods/sel" % NS,
                                   json.dumps({"metadata": {"labels": {"team": "b"}}}).encode(),
                                   {"Content-Type": "application/merge-patch+json"})
        self.assertEqual(code, 200)
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["labels"]["team"]), ("DELETED", "b"))

    def test_stall_drop_and_restart(self):
        rv = self.sim.ok("GET", "/api/v1/pods")["metadata"]["resourceVersion"]
        w = self.sim.watch("/api/v1/pods?watch=true&allowWatchBookmarks=true&resourceVersion=" + rv)
        self.sim.ok("POST", "/_sim/stall", {})
        self.sim.ok("POST", "/api/v1/namespaces/%s/pods" % NS, plain_pod("st"))
        self.assertEqual(w.drain(1.5), [])
        self.sim.ok("POST", "/_sim/unstall")
        self.assertEqual(w.next()["object"]["metadata"]["name"], "st")
        self.assertEqual(self.sim.ok("POST", "/_sim/watches/drop")["dropped"], 1)
        self.assertTrue(w.ended.wait(5))
        w2 = self.sim.watch("/api/v1/pods?watch=true&resourceVersion=" + rv)
        self.assertEqual(w2.next()["object"]["metadata"]["name"], "st")
        out = self.sim.ok("POST", "/_sim/restart", {"bump": 500000})
        self.assertGreaterEqual(int(out["resourceVersion"]), int(rv) + 500000)
        self.assertTrue(w2.ended.wait(5))
        w3 = self.sim.watch("/api/v1/pods?watch=true&resourceVersion=" + rv)
        self.assertEqual(w3.status, 410)

    def test_burst_reaches_one_watcher_completely(self):
        for i in range(5):
            self.sim.ok("POST", "/api/v1/namespaces/%s/pods" % NS, plain_pod("bp%d" % i))
        rv = self.sim.ok("GET", "/api/v1/pods")["metadata"]["resourceVersion"]
        w = self.sim.watch("/api/v1/namespaces/%s/pods?watch=true&resourceVersion=%s" % (NS, rv))
        st = self.sim.ok("POST", "/_sim/burst", {"count": 30000, "rate": 0, "namespace": NS, "wait": True})
        got = 0
        while got < 30000:
            ev = w.next(10)
            if ev["type"] == "MODIFIED":
                got += 1
        # Completeness and order only: the delivery rate depends on the machine's load and is
        # measured by tests/bench/bench_watch.sh, not asserted here.
        self.assertEqual(st["count"], 30000)
        self.assertEqual(ev["object"]["metadata"]["annotations"]["kubesim.io/burst-seq"], "29999")
        pod = self.sim.ok("GET", "/api/v1/namespaces/%s/pods/%s" % (NS, ev["object"]["metadata"]["name"]))
        self.assertEqual(pod["metadata"]["resourceVersion"], ev["object"]["metadata"]["resourceVersion"])

    # -- faults and request log ----------------------------------------------------------

    def test_inject_429_and_500_then_recover(self):
        self.sim.ok("POST", "/_sim/inject", {"count": 1, "code": 429, "path": "/pods", "retry_after": 2})
        self.sim.ok("POST", "/_sim/inject", {"count": 1, "code": 500, "path": "/pods"})
        code, resp, body = self.sim.call("GET", "/api/v1/pods")
        self.assertEqual((code, resp.getheader("Retry-After"), body["reason"]), (429, "2", "TooManyRequests"))
        code, _, body = self.sim.call("GET", "/api/v1/pods")
        self.assertEqual((code, body["reason"]), (500, "InternalError"))
        self.assertEqual(self.sim.call("GET", "/api/v1/pods")[0], 200)

    def test_inject_delay_then_answered(self):
        self.sim.ok("POST", "/_sim/inject", {"count": 1, "delay_ms": 400, "path": "/pods$"})
        t0 = time.monotonic()
        code, _, body = self.sim.call("GET", "/api/v1/pods")
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)
        self.assertEqual((code, body["kind"]), (200, "PodList"))
        self.assertEqual(self.sim.ok("GET", "/_sim/inject")["pending"], [])
        self.assertEqual(self.sim.call("POST", "/_sim/inject", {"delay_ms": -1})[0], 422)

    def test_request_log_counts_list_and_watch(self):
        self.sim.ok("DELETE", "/_sim/requests")
        self.sim.ok("GET", "/api/v1/pods?limit=5")
        self.sim.watch("/api/v1/pods?watch=true&timeoutSeconds=1").ended.wait(3)
        rep = self.sim.ok("GET", "/_sim/requests")
        self.assertEqual((rep["by_verb"]["list"], rep["by_verb"]["watch"]), (1, 1))

    def test_request_log_is_complete_when_the_response_ends(self):
        # A request is in the log before the client can see the end of its response, however
        # slowly the simulator's thread runs (a loaded machine): recording is slowed down here.
        faults = self.sim.control.faults
        note = faults.note

        def slow_note(*args):
            time.sleep(0.3)
            note(*args)

        faults.note = slow_note
        try:
            self.sim.ok("DELETE", "/_sim/requests")
            self.sim.watch("/api/v1/pods?watch=true&timeoutSeconds=1").ended.wait(5)
            code, _, _ = self.sim.call("GET", "/api/v1/namespaces/%s/pods/absent" % NS)
            rep = self.sim.ok("GET", "/_sim/requests")
        finally:
            faults.note = note
        self.assertEqual(code, 404)
        self.assertEqual(rep["by_verb"].get("watch"), 1, rep["by_verb"])
        self.assertEqual([(r["verb"], r["code"]) for r in rep["recent"]], [("watch", 200), ("get", 404)])

    # -- logs ------------------------------------------------------------------------------

    def test_logs(self):
        self.sim.ok("POST", "/_sim/outcome", {"pattern": "logger", "outcome": "Run", "run_ms": 600, "log_rate": 50})
        self.sim.ok("POST", "/apis/batch/v1/namespaces/%s/jobs" % NS, job_manifest("lg", "app:logger"))
        pod = wait_for(lambda: [p for p in self.pods("job-name=lg")
                                if p["status"]["phase"] == "Running"])[0]["metadata"]["name"]
        base = "/api/v1/namespaces/%s/pods/%s/log" % (NS, pod)
        code, _, body = self.sim.call("GET", base + "?container=nope")
        self.assertEqual((code, body["message"]), (400, "container nope is not valid for pod %s" % pod))
        code, _, body = self.sim.call("GET", base + "?previous=true")
        self.assertEqual(code, 400)
        code, _, body = self.sim.call("GET", "/api/v1/namespaces/%s/pods/none/log" % NS)
        self.assertEqual(code, 404)
        conn = http.client.HTTPConnection("127.0.0.1", self.sim.port, timeout=10)
        conn.request("GET", base + "?follow=true&timestamps=true")
        resp = conn.getresponse()
        lines = resp.read().decode().splitlines()
        self.assertGreater(len(lines), 10)
        self.assertRegex(lines[0], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line 1 of %s$" % pod)
        code, _, body = self.sim.call("GET", base + "?tailLines=2")
        self.assertEqual(body.decode().splitlines()[-1], "line %d of %s" % (len(lines), pod))
        self.assertEqual(len(body.decode().splitlines()), 2)
        self.assertEqual(len(self.sim.call("GET", base + "?limitBytes=7")[2]), 7)
        self.sim.ok("POST", "/_sim/logs", {"namespace": NS, "pod": pod, "lines": ["hello"], "bytes": 1 << 20})
        body = self.sim.call("GET", base + "?sinceSeconds=5")[2]
        self.assertIn(b"hello\n", body)
        self.assertGreaterEqual(len(body), 1 << 20)

    def test_log_container_choice_as_the_apiserver(self):
        # pkg/registry/core/pod/strategy.go (LogLocation, validateContainer): no container named
        # means the only regular container; several mean a 400 listing init, regular and ephemeral
        # containers; a named one may be any of them. The default-container annotation is kubectl's.
        def pod(name, containers, inits=(), ephemeral=()):
            spec = {"nodeName": "node-1", "containers": [{"name": c, "image": "app:1"} for c in containers]}
            if inits:
                spec["initContainers"] = [{"name": c, "image": "app:1"} for c in inits]
            if ephemeral:
                spec["ephemeralContainers"] = [{"name": c, "image": "app:1"} for c in ephemeral]
            self.sim.ok("POST", "/api/v1/namespaces/%s/pods" % NS, {
                "metadata": {"name": name, "annotations": {"kubectl.kubernetes.io/default-container": "b"}},
                "spec": spec})
            return "/api/v1/namespaces/%s/pods/%s/log" % (NS, name)

        one = pod("pick-one", ["main"], inits=["setup"])
        code, _, body = self.sim.call("GET", one + "?container=nope")
        self.assertEqual((code, body["message"]), (400, "container nope is not valid for pod pick-one"))
        for query, want in (("", "main"), ("?container=setup", "setup")):
            # 200 once the container ran, else the kubelet's "waiting to start" naming it
            code, _, body = self.sim.call("GET", one + query)
            self.assertTrue(code == 200 or '"%s" in pod' % want in body["message"], (query, code, body))
        several = pod("pick-several", ["a", "b"], inits=["setup"], ephemeral=["debug"])
        code, _, body = self.sim.call("GET", several)
        self.assertEqual((code, body["reason"], body["message"]),
                         (400, "BadRequest",
                          "a container name must be specified for pod pick-several, choose one of: [setup a b debug]"))
        code, _, body = self.sim.call("GET", several + "?container=debug")
        self.assertTrue(code == 200 or '"debug" in pod' in body["message"], (code, body))


if __name__ == "__main__":
    unittest.main(verbosity=2)
