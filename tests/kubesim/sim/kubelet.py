"""Simulated scheduler and kubelets: binding, image pulls, container starts.

Each pod gets a small runtime model (``PodRuntime``) from which its whole
``status`` is rendered after every step, so the status a client sees is
always self-consistent.  Everything here runs on the scheduler thread.

Nodes as Kubernetes has them: the scheduler binds unpinned pods only to
Ready, uncordoned nodes whose NoSchedule/NoExecute taints they tolerate; a
pod pinned with ``nodeName`` skips the scheduler, so a cordon or a NoSchedule
taint does not stop it, it stays Pending without conditions while its node is
missing or NotReady (no kubelet to admit it), and the kubelet's admission
rejects it for an untolerated NoExecute taint (phase Failed, reason
TaintToleration; pkg/kubelet/lifecycle/predicate.go).

Image pulls fail as on a real node: the container waits in ErrImagePull / ImagePullBackOff and
the kubelet tries again after a growing backoff, for as long as the pod lives (pkg/kubelet/images
image_manager.go's backoff keeps the pod Pending; it never fails the pod). The Job controller
(pkg/controller/job/job_controller.go) counts only failed pods against backoffLimit, so a pull
that never succeeds leaves its Job running until activeDeadlineSeconds or a deletion.
"""

import re
import time
import uuid

from . import causes
from . import config as cfg
from . import kinds, util
from .errors import ApiError

_BAD_REF = re.compile(r"[A-Z\s]|^[-./:]|//|:$")


class ContainerRuntime:
    def __init__(self, spec, init=False, waiting="ContainerCreating"):
        self.name = spec["name"]
        self.image = spec["image"]
        self.init = init
        self.field = ("spec.initContainers{%s}" if init else "spec.containers{%s}") % self.name
        self.policy = spec.get("imagePullPolicy", "IfNotPresent")
        cmd = (spec.get("command") or []) + (spec.get("args") or [])
        # No command runs the image's own entrypoint, which every image has.
        self.command = cmd[0] if cmd else None
        self.argv = cmd
        self.mounts = sorted(((m.get("mountPath", "").rstrip("/") or "/", m.get("name"), bool(m.get("readOnly")))
                              for m in spec.get("volumeMounts") or []), key=lambda m: -len(m[0]))
        sc = spec.get("securityContext") or {}
        self.read_only_root = bool(sc.get("readOnlyRootFilesystem"))
        self.state = {"waiting": {"reason": waiting}}
        self.last_state = {}
        self.restart_count = 0
        self.image_id = ""
        self.container_id = ""
        self.started = False
        self.attempts = 0

    def status(self):
        running = "running" in self.state
        st = {"name": self.name, "image": self.image, "imageID": self.image_id, "ready": running,
              "restartCount": self.restart_count, "started": running, "state": self.state,
              "lastState": self.last_state}
        if self.image_id:
            st["image"] = cfg.normalize_image(self.image)
        if self.container_id:
            st["containerID"] = self.container_id
        return st


class PodRuntime:
    def __init__(self, obj, seq):
        meta = obj["metadata"]
        self.ns, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.key = (self.ns, self.name)
        self.owner = next((r for r in meta.get("ownerReferences", []) if r.get("kind") == "Job"), None)
        spec = obj["spec"]
        self.node = spec.get("nodeName") or ""
        self.restart_policy = spec.get("restartPolicy", "Always")
        inits = spec.get("initContainers") or []
        self.init = [ContainerRuntime(c, init=True) for c in inits]
        self.containers = [ContainerRuntime(c, waiting="PodInitializing" if inits else "ContainerCreating")
                           for c in spec.get("containers", [])]
        # Init containers run one after the other, to completion, before the app containers.
        self.chain = self.init + self.containers
        self.volumes = {v["name"]: {} for v in spec.get("volumes") or [] if "emptyDir" in v}
        self.deadline = spec.get("activeDeadlineSeconds")
        self.seq = seq
        self.alive = True
        self.terminal = None
        self.sandbox = False
        self.unschedulable = None
        self.no_kubelet = False
        self.tolerations = spec.get("tolerations") or []
        self.start_time = None
        self.pod_ip = ""
        self.host_ip = ""
        self.reason = self.message = None
        self.cond_times = {}
        self.log_rate = None

    def active(self):
        return self.alive and self.terminal is None


class Kubelet:
    def __init__(self, store, sched, config, recorder, logs):
        self.store = store
        self.sched = sched
        self.config = config
        self.recorder = recorder
        self.logs = logs
        self.jobs = None
        self.pods = {}
        self.node_images = {}
        self._seq = 0
        self._rr = 0

    # -- lifecycle ----------------------------------------------------------

    def on_pod_created(self, ns, name):
        s = self.store.get(kinds.POD, ns, name)
        if s is None or (ns, name) in self.pods:
            return
        self._seq += 1
        rt = PodRuntime(s.obj, self._seq)
        self.pods[rt.key] = rt
        if not rt.node:
            self._schedule(rt)
        else:
            self._try_start(rt)

    def on_nodes_changed(self):
        for rt in list(self.pods.values()):
            if not rt.active() or rt.sandbox:
                continue
            if not rt.node:
                self._schedule(rt)
            else:
                self._try_start(rt)

    def on_node_added(self, name):
        """A node registered under the name of one that was deleted: its kubelet takes up the pods
        bound to that name that have not ended (the kubelet's pod source is the pods whose
        spec.nodeName is its node, pkg/kubelet/config/apiserver.go) and runs each from nothing, as
        its container runtime holds none of them (pkg/kubelet/kuberuntime/kuberuntime_manager.go,
        computePodActions: no sandbox and no container status, so it makes one and starts the
        containers). on_nodes_changed starts them."""
        for key, rt in list(self.pods.items()):
            if rt.node != name or rt.alive or rt.terminal is not None:
                continue
            s = self.store.get(kinds.POD, rt.ns, rt.name)
            if s is None or s.obj["metadata"].get("deletionTimestamp"):
                continue
            self._seq += 1
            self.pods[key] = PodRuntime(s.obj, self._seq)

    def on_node_removed(self, name):
        """The node's kubelet is gone: its pods make no more progress (no pull, no container, no
        status), whatever phase they are in."""
        for rt in self.pods.values():
            if rt.node == name:
                rt.alive = False

    def forget(self, ns, name):
        rt = self.pods.pop((ns, name), None)
        if rt is not None:
            rt.alive = False
        self.logs.forget_pod(ns, name)
        return rt

    def delete_pod(self, ns, name, grace=None):
        """Delete a pod as the API would: graceful (two steps) when something runs."""
        s = self.store.get_or_404(kinds.POD, ns, name)
        running = any("running" in (cs.get("state") or {}) for cs in s.obj["status"].get("containerStatuses", []))
        if running and grace != 0 and not s.obj["metadata"].get("deletionTimestamp"):
            grace = 30 if grace is None else grace

            def mark(obj):
                obj["metadata"]["deletionTimestamp"] = util.rfc3339(time.time() + grace)
                obj["metadata"]["deletionGracePeriodSeconds"] = grace
            s = self.store.update(kinds.POD, ns, name, mark)
            self.sched.call_later(0.1, self._finish_delete, ns, name)
            return s
        return self._finish_delete(ns, name)

    def _finish_delete(self, ns, name):
        try:
            s = self.store.delete(kinds.POD, ns, name)
        except ApiError:
            return None
        rt = self.forget(ns, name)
        if self.jobs is not None:
            self.jobs.on_pod_deleted(ns, name, rt)
        return s

    def reset(self):
        for rt in self.pods.values():
            rt.alive = False
        self.pods.clear()
        self.node_images.clear()

    def set_log_rate(self, ns, name, rate):
        rt = self.pods.get((ns, name))
        if rt is None:
            raise ApiError(404, 'pods "%s" not found' % name)
        rt.log_rate = rate
        for c in rt.containers:
            buf = self.logs.get(ns, name, c.name)
            if buf is not None and "running" in c.state:
                buf.set_rate(rate)

    # -- scheduling and start -------------------------------------------------

    def _node_alive(self, name):
        """The node if its kubelet runs (the node exists and is Ready), else None."""
        s = self.store.get(kinds.NODE, "", name)
        if s is None or not _ready(s.obj):
            return None
        return s.obj

    def _node_usable(self, name, tolerations=()):
        """The node if the scheduler may bind a pod with ``tolerations`` to it, else None."""
        obj = self._node_alive(name)
        if obj is None or obj["spec"].get("unschedulable"):
            return None
        if _untolerated(obj, tolerations, ("NoSchedule", "NoExecute")):
            return None
        return obj

    def _schedule(self, rt):
        with self.store.lock:
            names = sorted(n for _, n in self.store.objects[kinds.NODE.plural])
        usable = [n for n in names if self._node_usable(n, rt.tolerations) is not None]
        if not usable:
            msg = "0/%d nodes are available: no node is ready and schedulable." % len(names)
            if rt.unschedulable != msg:
                rt.unschedulable = msg
                self._render(rt)
                self._event(rt, "Warning", "FailedScheduling", msg, component="default-scheduler")
            return
        node = usable[self._rr % len(usable)]
        self._rr += 1
        rt.node, rt.unschedulable = node, None

        def bind(obj):
            obj["spec"]["nodeName"] = node
        try:
            self.store.update(kinds.POD, rt.ns, rt.name, bind)
        except ApiError:
            rt.alive = False
            return
        self._render(rt)
        self._event(rt, "Normal", "Scheduled", "Successfully assigned %s/%s to %s" % (rt.ns, rt.name, node),
                    component="default-scheduler")
        self._try_start(rt)

    def _try_start(self, rt):
        node = self._node_alive(rt.node)
        rt.no_kubelet = node is None
        if node is None:
            self._render(rt)
            return
        taint = _untolerated(node, rt.tolerations, ("NoExecute",))
        if taint is not None:
            # The kubelet's admission checks NoExecute taints only; a rejected pod fails.
            self._terminate(rt, "Failed", "TaintToleration",
                            "Pod was rejected: Predicate TaintToleration failed: node(s) had untolerated taint "
                            "{%s: %s}" % (taint["key"], taint.get("value", "")))
            return
        rt.sandbox = True
        rt.start_time = time.time()
        rt.host_ip = next((a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"), "")
        cidr = node["spec"].get("podCIDR", "10.244.0.0/24")
        rt.pod_ip = "%s.%d" % (cidr.rsplit(".", 1)[0], 2 + rt.seq % 250)
        self._render(rt)
        if rt.deadline is not None:
            self.sched.call_later(float(rt.deadline), self._pod_deadline, rt)
        self.sched.call_later(0.02, self._pull, rt, 0)

    def _pod_deadline(self, rt):
        """spec.activeDeadlineSeconds, counted from the pod's start on the node as the kubelet does
        (pkg/kubelet/active_deadline.go): the pod fails with reason DeadlineExceeded."""
        if not rt.active():
            return
        msg = "Pod was active on the node longer than the specified deadline"
        self._event(rt, "Normal", "DeadlineExceeded", msg)
        self.stop_pod(rt, "DeadlineExceeded", msg)
        if self.jobs is not None:
            self.jobs.on_pod_finished(rt, "Failed")

    # -- image pull -----------------------------------------------------------

    def _pull(self, rt, i):
        if not rt.active():
            return
        if i >= len(rt.chain):
            return
        c = rt.chain[i]
        if c.state.get("waiting", {}).get("reason") == "PodInitializing":
            c.state = {"waiting": {"reason": "ContainerCreating"}}
        images = self.node_images.setdefault(rt.node, set())
        present = c.image in images
        if not present or c.policy == "Always":
            c.attempts += 1
        if _BAD_REF.search(c.image):
            msg = 'Failed to apply default image tag "%s": couldn\'t parse image name "%s": invalid reference format' \
                % (c.image, c.image)
            c.state = {"waiting": {"reason": "InvalidImageName", "message": msg}}
            self._event(rt, "Warning", "InspectFailed", msg, c)
            self._event(rt, "Warning", "Failed", "Error: InvalidImageName", c)
            self._pull_failed(rt, i)
            return
        if c.policy == "Never" and not present:
            msg = 'Container image "%s" is not present with pull policy of Never' % c.image
            c.state = {"waiting": {"reason": "ErrImageNeverPull", "message": msg}}
            self._event(rt, "Warning", "ErrImageNeverPull", msg, c)
            self._event(rt, "Warning", "Failed", "Error: ErrImageNeverPull", c)
            self._pull_failed(rt, i)
            return
        if present and c.policy != "Always":
            c.image_id = "%s@sha256:%s" % (cfg.normalize_image(c.image).rsplit(":", 1)[0], cfg.image_digest(c.image))
            self._event(rt, "Normal", "Pulled", 'Container image "%s" already present on machine' % c.image, c)
            self.sched.call_later(0.01, self._start_container, rt, i)
            return
        self._event(rt, "Normal", "Pulling", 'Pulling image "%s"' % c.image, c)
        self._render(rt)
        duration = self.config.pull_duration(c.image)
        self.sched.call_later(duration, self._pull_done, rt, i, duration)

    def _pull_done(self, rt, i, duration):
        if not rt.active():
            return
        c = rt.chain[i]
        failure = self.config.pull_failure(c.image)
        if failure and failure[0] == causes.EVICTED:
            # The eviction manager ends the pod (pkg/kubelet/eviction): Failed, reason Evicted.
            self._event(rt, "Warning", "Evicted", failure[1])
            self._terminate(rt, "Failed", causes.EVICTED, failure[1])
            return
        if failure:
            reason, message = failure
            c.state = {"waiting": {"reason": reason, "message": message}}
            if reason == "ErrImagePull":
                self._event(rt, "Warning", "Failed", 'Failed to pull image "%s": %s' % (c.image, message), c)
            else:
                self._event(rt, "Warning", "InspectFailed", message, c)
            self._event(rt, "Warning", "Failed", "Error: " + reason, c)
            self._pull_failed(rt, i)
            return
        self.node_images.setdefault(rt.node, set()).add(c.image)
        self._note_node_image(rt.node, c.image)
        c.image_id = "%s@sha256:%s" % (cfg.normalize_image(c.image).rsplit(":", 1)[0], cfg.image_digest(c.image))
        self._event(rt, "Normal", "Pulled",
                    'Successfully pulled image "%s" in %.3fs (%.3fs including waiting). Image size: %d bytes.'
                    % (c.image, duration, duration, cfg.image_size(c.image)), c)
        self._start_container(rt, i)

    def _pull_failed(self, rt, i):
        c = rt.chain[i]
        self._render(rt)
        self.sched.call_later(0.05, self._back_off, rt, i)

    def _back_off(self, rt, i):
        if not rt.active():
            return
        c = rt.chain[i]
        if c.state.get("waiting", {}).get("reason") == "ErrImagePull":
            msg = 'Back-off pulling image "%s"' % c.image
            c.state = {"waiting": {"reason": "ImagePullBackOff", "message": msg}}
            self._render(rt)
            self._event(rt, "Normal", "BackOff", msg, c)
        self.sched.call_later(self.config.backoff(c.attempts), self._pull, rt, i)

    @staticmethod
    def add_node_image(obj, image):
        """Lists ``image`` in the Node ``obj``'s status.images as the kubelet reports it; False if listed."""
        images = obj["status"].setdefault("images", [])
        ref = cfg.normalize_image(image)
        if any(ref in im["names"] for im in images):
            return False
        images.append({"names": ["%s@sha256:%s" % (ref.rsplit(":", 1)[0], cfg.image_digest(image)), ref],
                       "sizeBytes": cfg.image_size(image)})
        return True

    def _note_node_image(self, node, image):
        def add(obj):
            if not self.add_node_image(obj, image):
                return False
        try:
            self.store.update(kinds.NODE, "", node, add)
        except ApiError:
            pass

    # -- containers -------------------------------------------------------------

    def _start_container(self, rt, i):
        if not rt.active():
            return
        c = rt.chain[i]
        c.container_id = "containerd://" + uuid.uuid4().hex + uuid.uuid4().hex
        rule = self.config.explicit_outcome(c.image)
        program = None
        if rule is None:
            program = self._program(rt, c, c.command) if c.command else "app"
            rule = self.config.outcome(c.image)
            if program is None:
                rule["outcome"] = "alternate" if rule["outcome"] == "exec" else rule["outcome"]
            elif rule["outcome"] == "exec":
                rule = {"outcome": "Run"}
        outcome = rule.get("outcome", "Run")
        if outcome == "alternate":
            outcome = "StartError" if rt.seq % 2 else "RunContainerError"
        # runc's words for a command that is not in the container's file system.
        not_found = ('failed to create containerd task: failed to create shim task: OCI runtime create failed: '
                     'runc create failed: unable to start container process: exec: "%s": stat %s: no such file or '
                     'directory: unknown' % (c.command, c.command))
        self._event(rt, "Normal", "Created", "Created container: %s" % c.name, c)
        if outcome == "CreateContainerError":
            msg = 'failed to create container "%s": no command %s in image %s' % (c.name, c.command, c.image)
            c.state = {"waiting": {"reason": "CreateContainerError", "message": msg}}
            self._event(rt, "Warning", "Failed", "Error: " + msg, c)
            self._render(rt)
            return
        if outcome in ("StartError", "RunContainerError"):
            self._event(rt, "Warning", "Failed", "Error: " + not_found, c)
            if outcome == "RunContainerError":
                c.state = {"waiting": {"reason": "RunContainerError", "message": not_found}}
                self._render(rt)
                delay = (rule.get("run_ms") if rule.get("run_ms") is not None else 300) / 1000.0
                self.sched.call_later(delay, self._exit, rt, i, 128, "StartError", not_found, True)
            else:
                self._exit(rt, i, 128, "StartError", not_found, True)
            if not c.init:
                self.sched.call_later(0.01, self._pull, rt, i + 1)
            return
        c.started = True
        c.state = {"running": {"startedAt": util.rfc3339(time.time())}}
        self._event(rt, "Normal", "Started", "Started container %s" % c.name, c)
        buf = self.logs.buffer(rt.ns, rt.name, c.name)
        if program in ("true", "false", "cp"):
            code, message = self._run_program(rt, c, program)
            buf.start_generator(0)
            self._render(rt)
            # A container's start to its exit takes a moment even for a no-op.
            self.sched.call_later(0.15, self._exit, rt, i, code, "Completed" if code == 0 else "Error", message,
                                  False)
        else:
            rate = rt.log_rate if rt.log_rate is not None else rule.get("log_rate", self.config.log_rate)
            buf.start_generator(rate)
            self._render(rt)
            run_ms = rule.get("run_ms")
            if run_ms is not None:
                code = int(rule.get("exit_code", 0))
                self.sched.call_later(run_ms / 1000.0, self._exit, rt, i, code, "Completed" if code == 0 else "Error",
                                      None, False)
        if not c.init:
            self.sched.call_later(0.01, self._pull, rt, i + 1)

    # -- the container's file system: image files plus mounted volumes -------------

    @staticmethod
    def _resolve(c, path):
        """("volume", name, relative path, read-only) when ``path`` is under a mount of ``c``, else ("image", path)."""
        for mount, name, read_only in c.mounts:
            if mount == "/" or path == mount or path.startswith(mount + "/"):
                return ("volume", name, path[len(mount):] if mount != "/" else path, read_only)
        return ("image", path)

    def _program(self, rt, c, path):
        """What running ``path`` in container ``c`` does ("true", "cp", ...), or None if there is no such file."""
        where = self._resolve(c, path)
        if where[0] == "volume":
            return rt.volumes.get(where[1], {}).get(where[2])
        return self.config.image_files(c.image).get(path)

    def _run_program(self, rt, c, program):
        """Runs a program the simulator knows; returns (exit code, termination message or None)."""
        if program == "true":
            return 0, None
        if program == "false":
            return 1, None
        args = c.argv[1:]
        if len(args) != 2:
            return 1, "BusyBox v1.36.1 multi-call binary.\n\nUsage: cp [-arPLHpfinlsTu] SOURCE DEST"
        src, dst = args
        what = self._program(rt, c, src)
        if what is None:
            return 1, "cp: can't stat '%s': No such file or directory" % src
        where = self._resolve(c, dst)
        if where[0] == "image" or where[3]:
            if where[0] == "image" and not c.read_only_root:
                return 0, None
            return 1, "cp: can't create '%s': Read-only file system" % dst
        if where[1] not in rt.volumes:
            return 1, "cp: can't create '%s': No such file or directory" % dst
        rt.volumes[where[1]][where[2]] = what
        return 0, None

    def _exit(self, rt, i, code, reason, message, never_started):
        if not rt.active():
            return
        c = rt.chain[i]
        started = c.state.get("running", {}).get("startedAt", "1970-01-01T00:00:00Z" if never_started else
                                                 util.rfc3339(time.time()))
        term = {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": util.rfc3339(time.time()),
                "containerID": c.container_id}
        if message:
            term["message"] = message
        buf = self.logs.get(rt.ns, rt.name, c.name)
        if buf is not None:
            buf.close()
        restart = rt.restart_policy == "Always" or (rt.restart_policy == "OnFailure" and code != 0)
        if c.init:
            # An init container that succeeded is done for good; one that failed restarts unless the
            # policy is Never, which fails the pod.
            restart = code != 0 and rt.restart_policy != "Never"
        if restart:
            c.last_state = {"terminated": term}
            c.restart_count += 1
            delay = self.config.backoff(c.restart_count)
            c.state = {"waiting": {"reason": "CrashLoopBackOff",
                                   "message": "back-off %s restarting failed container=%s pod=%s_%s(%s)"
                                   % (_human(delay), c.name, rt.name, rt.ns, rt.uid)}}
            self._render(rt)
            self._event(rt, "Warning", "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)"
                        % (c.name, rt.name, rt.ns, rt.uid), c)
            if self.jobs is not None and self.jobs.on_container_restart(rt):
                return
            self.sched.call_later(delay, self._restart, rt, i)
            return
        c.state = {"terminated": term}
        if c.init:
            if code == 0:
                self._render(rt)
                self.sched.call_later(0.01, self._pull, rt, i + 1)
            else:
                self._terminate(rt, "Failed")
            return
        if all("terminated" in x.state for x in rt.containers):
            ok = all(x.state["terminated"]["exitCode"] == 0 for x in rt.containers)
            self._terminate(rt, "Succeeded" if ok else "Failed")
        else:
            self._render(rt)

    def _restart(self, rt, i):
        if not rt.active():
            return
        self.logs.rotate(rt.ns, rt.name, rt.chain[i].name)
        self._pull(rt, i)

    def _terminate(self, rt, phase, reason=None, message=None):
        rt.terminal = phase
        rt.reason, rt.message = reason, message
        for c in rt.chain:
            buf = self.logs.get(rt.ns, rt.name, c.name)
            if buf is not None:
                buf.close()
        self._render(rt)
        if self.jobs is not None:
            self.jobs.on_pod_finished(rt, phase)

    def stop_pod(self, rt, reason, message):
        """Kill a pod's containers for its controller (deadline): it ends Failed."""
        for c in rt.chain:
            if "running" in c.state:
                c.state = {"terminated": {"exitCode": 137, "reason": "Error", "containerID": c.container_id,
                                          "startedAt": c.state["running"]["startedAt"],
                                          "finishedAt": util.rfc3339(time.time())}}
        rt.terminal = "Failed"
        rt.reason, rt.message = reason, message
        for c in rt.chain:
            buf = self.logs.get(rt.ns, rt.name, c.name)
            if buf is not None:
                buf.close()
        self._render(rt)

    # -- rendering ----------------------------------------------------------------

    def _cond(self, rt, ctype, status, reason=None, message=None):
        prev = rt.cond_times.get(ctype)
        if prev is None or prev[0] != status:
            prev = rt.cond_times[ctype] = (status, util.rfc3339(time.time()))
        c = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": prev[1]}
        if reason:
            c["reason"] = reason
        if message:
            c["message"] = message
        return c

    def _phase(self, rt):
        if rt.terminal:
            return rt.terminal
        if rt.sandbox and all(c.started for c in rt.containers) and any("running" in c.state
                                                                       for c in rt.containers):
            return "Running"
        return "Pending"

    def _status(self, rt):
        phase = self._phase(rt)
        st = {"phase": phase, "qosClass": "BestEffort"}
        if rt.no_kubelet and not rt.terminal:
            return st  # nothing has looked at the pod yet: no conditions at all
        if rt.unschedulable:
            st["conditions"] = [self._cond(rt, "PodScheduled", "False", "Unschedulable", rt.unschedulable)]
            return st
        conds = []
        if rt.sandbox:
            ready = phase == "Running" and all("running" in c.state for c in rt.containers)
            unready = [c.name for c in rt.containers if "running" not in c.state]
            why = "PodCompleted" if rt.terminal else "ContainersNotReady"
            msg = None if rt.terminal else "containers with unready status: [%s]" % " ".join(unready)
            conds.append(self._cond(rt, "PodReadyToStartContainers", "False" if rt.terminal else "True"))
            inited = all("terminated" in c.state and c.state["terminated"]["exitCode"] == 0 for c in rt.init)
            pending = [c.name for c in rt.init if not ("terminated" in c.state
                                                        and c.state["terminated"]["exitCode"] == 0)]
            conds.append(self._cond(rt, "Initialized", "True" if inited else "False",
                                    None if inited else "ContainersNotInitialized",
                                    None if inited else "containers with incomplete status: [%s]" % " ".join(pending)))
            conds.append(self._cond(rt, "Ready", "True" if ready else "False", None if ready else why, msg))
            conds.append(self._cond(rt, "ContainersReady", "True" if ready else "False", None if ready else why, msg))
        conds.append(self._cond(rt, "PodScheduled", "True"))
        st["conditions"] = conds
        if rt.sandbox:
            st["hostIP"] = rt.host_ip
            st["hostIPs"] = [{"ip": rt.host_ip}]
            st["podIP"] = rt.pod_ip
            st["podIPs"] = [{"ip": rt.pod_ip}]
            st["startTime"] = util.rfc3339(rt.start_time)
            if rt.init:
                st["initContainerStatuses"] = [c.status() for c in rt.init]
            st["containerStatuses"] = [c.status() for c in rt.containers]
        if rt.reason:
            st["reason"] = rt.reason
        if rt.message:
            st["message"] = rt.message
        return st

    def _render(self, rt):
        status = self._status(rt)

        def put(obj):
            if obj.get("status") == status:
                return False
            obj["status"] = status
        try:
            self.store.update(kinds.POD, rt.ns, rt.name, put)
        except ApiError:
            rt.alive = False

    def _event(self, rt, etype, reason, message, container=None, component="kubelet"):
        s = self.store.get(kinds.POD, rt.ns, rt.name)
        if s is None:
            return
        path = container.field if container is not None else None
        host = rt.node if component == "kubelet" else None
        self.recorder.record(s.obj, etype, reason, message, component=component, host=host, field_path=path)


def _ready(node):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


def _tolerates(tol, taint):
    """One toleration against one taint, as k8s.io/api core/v1 Toleration.ToleratesTaint has it."""
    if tol.get("effect") and tol["effect"] != taint.get("effect"):
        return False
    if tol.get("key") and tol["key"] != taint.get("key"):
        return False
    op = tol.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (tol.get("value") or "") == (taint.get("value") or "")


def _untolerated(node, tolerations, effects):
    """The first taint of ``node`` with one of ``effects`` that no toleration matches, else None."""
    for taint in node["spec"].get("taints") or []:
        if taint.get("effect") in effects and not any(_tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _human(seconds):
    return ("%.0fs" % seconds) if seconds >= 1 else ("%dms" % int(seconds * 1000))
