"""Simulated batch/v1 Job controller.

It creates pods from the template, counts their outcomes, and finishes the
Job with the conditions a real controller sets: ``SuccessCriteriaMet`` then
``Complete``, or ``FailureTarget`` then ``Failed`` with reason
``BackoffLimitExceeded`` or ``DeadlineExceeded``.  Besides failed pods, the
failed image pull attempts of a pod count against ``backoffLimit`` (see the
kubelet module for why).  Runs on the scheduler thread.
"""

import time

from . import kinds, objects, util
from .errors import ApiError


class JobRuntime:
    def __init__(self, obj):
        meta, spec = obj["metadata"], obj["spec"]
        self.ns, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.backoff_limit = int(spec.get("backoffLimit", 6))
        self.completions = int(spec.get("completions") or 1)
        self.parallelism = int(spec.get("parallelism") if spec.get("parallelism") is not None else 1)
        self.deadline = spec.get("activeDeadlineSeconds")
        self.ttl = spec.get("ttlSecondsAfterFinished")
        self.suspended = bool(spec.get("suspend"))
        self.start_gen = 0
        self.active = set()
        self.ready = set()
        self.succeeded = 0
        self.failed = 0
        self.restarts = 0
        self.finished = None
        self.start_time = None
        self.alive = True


class JobController:
    def __init__(self, store, sched, kubelet, recorder):
        self.store = store
        self.sched = sched
        self.kubelet = kubelet
        self.recorder = recorder
        self.jobs = {}
        self.deleter = None
        kubelet.jobs = self

    def on_job_created(self, ns, name):
        s = self.store.get(kinds.JOB, ns, name)
        if s is None or (ns, name) in self.jobs:
            return
        job = JobRuntime(s.obj)
        self.jobs[(ns, name)] = job
        if job.suspended:
            return
        self._start(job)

    def _start(self, job):
        """Starts (or resumes) a Job: activeDeadlineSeconds counts from here, as the upstream
        controller resets status.startTime on resume."""
        job.suspended = False
        job.start_time = time.time()
        job.start_gen += 1
        if job.deadline is not None:
            self.sched.call_later(float(job.deadline), self._deadline, job, job.start_gen)
        self._sync(job)

    def on_job_updated(self, ns, name):
        """A Job whose spec.suspend went from true to false starts, as the real controller does;
        one suspended deletes its active pods, which do not count as failed
        (pkg/controller/job/job_controller.go)."""
        s = self.store.get(kinds.JOB, ns, name)
        job = self.jobs.get((ns, name))
        if s is None or job is None:
            return
        suspended = bool(s.obj.get("spec", {}).get("suspend"))
        if job.suspended and not suspended and job.finished is None:
            self._start(job)
        elif suspended and not job.suspended and job.finished is None:
            job.suspended = True
            for pname in list(job.active):
                try:
                    self.kubelet.delete_pod(job.ns, pname, 0)
                except ApiError:
                    job.active.discard(pname)
            self._write_status(job)

    def on_job_deleted(self, ns, name):
        job = self.jobs.pop((ns, name), None)
        if job is not None:
            job.alive = False

    def reset(self):
        for job in self.jobs.values():
            job.alive = False
        self.jobs.clear()

    def _owner(self, rt):
        if rt is None or rt.owner is None:
            return None
        job = self.jobs.get((rt.ns, rt.owner["name"]))
        if job is None or job.uid != rt.owner.get("uid") or not job.alive:
            return None
        return job

    # -- pod outcomes -------------------------------------------------------

    def on_container_restart(self, rt):
        job = self._owner(rt)
        if job is None or job.finished:
            return False
        job.restarts += 1
        if job.failed + job.restarts > job.backoff_limit:
            self._fail(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
            return True
        return False

    def on_pod_finished(self, rt, phase):
        job = self._owner(rt)
        if job is None or job.finished:
            return
        job.active.discard(rt.name)
        if phase == "Succeeded":
            job.succeeded += 1
        else:
            job.failed += 1
        if job.failed > job.backoff_limit:
            self._fail(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif job.succeeded >= job.completions:
            self._complete(job)
        else:
            self._write_status(job)
            delay = min(0.01 * (2 ** job.failed), 1.0) if phase != "Succeeded" else 0.0
            self.sched.call_later(delay, self._sync, job)

    def on_pod_deleted(self, ns, name, rt):
        """A pod deleted before it finished is a failed one, as the upstream controller counts it
        (pkg/controller/job/job_controller.go, isPodFailed: a pod with a deletionTimestamp that
        has not Succeeded counts as failed unless podReplacementPolicy is Failed), so deleting a
        Job's pods cannot get around its backoffLimit."""
        job = self._owner(rt)
        if job is None or name not in job.active:
            return
        job.active.discard(name)
        if job.finished is None:
            if not job.suspended:
                job.failed += 1
                if job.failed > job.backoff_limit:
                    self._fail(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
                    return
            self._write_status(job)
            delay = min(0.01 * (2 ** job.failed), 1.0)
            self.sched.call_later(delay, self._sync, job)
        else:
            self._write_status(job)

    # -- reconciliation -------------------------------------------------------

    def _sync(self, job):
        if not job.alive or job.finished or job.suspended:
            return
        want = min(job.parallelism, job.completions - job.succeeded) - len(job.active)
        s = self.store.get(kinds.JOB, job.ns, job.name)
        if s is None:
            job.alive = False
            return
        for _ in range(max(0, want)):
            pod = objects.pod_from_job(s.obj)
            objects.default_pod(pod)
            try:
                ps = self.store.create(kinds.POD, pod)
            except ApiError:
                continue
            pname = ps.obj["metadata"]["name"]
            job.active.add(pname)
            self.recorder.record(s.obj, "Normal", "SuccessfulCreate", "Created pod: %s" % pname,
                                 component="job-controller")
            self.kubelet.on_pod_created(job.ns, pname)
        self._write_status(job)

    def _deadline(self, job, gen):
        if not job.alive or job.finished or job.suspended or gen != job.start_gen:
            return
        self._fail(job, "DeadlineExceeded", "Job was active longer than specified deadline")

    def _finished(self, job):
        """Honour ttlSecondsAfterFinished by deleting the Job and its pods later."""
        if job.ttl is not None and self.deleter is not None:
            self.sched.call_later(float(job.ttl), self._expire, job)

    def _expire(self, job):
        if job.alive and self.jobs.get((job.ns, job.name)) is job:
            try:
                self.deleter(job.ns, job.name)
            except ApiError:
                pass

    def _complete(self, job):
        job.finished = "Complete"
        self._finished(job)
        now = util.rfc3339(time.time())
        self._write_status(job, [self._condition("SuccessCriteriaMet", "CompletionsReached",
                                                 "Reached expected number of succeeded pods", now),
                                 self._condition("Complete", "CompletionsReached",
                                                 "Reached expected number of succeeded pods", now)],
                           completion=now)
        self._event(job, "Normal", "Completed", "Job completed")

    def _fail(self, job, reason, message):
        job.finished = "Failed"
        self._finished(job)
        now = util.rfc3339(time.time())
        for pname in list(job.active):
            rt = self.kubelet.pods.get((job.ns, pname))
            if rt is not None and rt.active():
                self.kubelet.stop_pod(rt, reason, message)
            job.failed += 1
        job.active.clear()
        self._write_status(job, [self._condition("FailureTarget", reason, message, now),
                                 self._condition("Failed", reason, message, now)])
        self._event(job, "Warning", reason, message)

    @staticmethod
    def _condition(ctype, reason, message, now):
        return {"type": ctype, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                "reason": reason, "message": message}

    def _write_status(self, job, conditions=None, completion=None):
        ready = sum(1 for p in job.active if self._pod_ready(job.ns, p))

        def put(obj):
            st = obj.setdefault("status", {})
            st["startTime"] = util.rfc3339(job.start_time) if job.start_time else st.get("startTime")
            if job.active:
                st["active"] = len(job.active)
            else:
                st.pop("active", None)
            for field, value in (("succeeded", job.succeeded), ("failed", job.failed)):
                if value:
                    st[field] = value
                else:
                    st.pop(field, None)
            st["ready"] = ready
            st["terminating"] = 0
            st["uncountedTerminatedPods"] = {}
            if conditions:
                st["conditions"] = st.get("conditions", []) + conditions
            if completion:
                st["completionTime"] = completion
            if st.get("startTime") is None:
                st.pop("startTime", None)
        try:
            self.store.update(kinds.JOB, job.ns, job.name, put)
        except ApiError:
            job.alive = False

    def _pod_ready(self, ns, name):
        rt = self.kubelet.pods.get((ns, name))
        return rt is not None and rt.active() and any("running" in c.state for c in rt.containers)

    def _event(self, job, etype, reason, message):
        s = self.store.get(kinds.JOB, job.ns, job.name)
        if s is not None:
            self.recorder.record(s.obj, etype, reason, message, component="job-controller")
