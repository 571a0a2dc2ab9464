"""The observer of check_final.py against recorded orders of observations (no daemon).

The first case is the order that failed CI run 17 ("job pj-28e2902d was succeeded, then pulling
(REST)"): a REST answer served while the job was still pulling was recorded after the WebSocket
update that said it succeeded. The daemon did nothing wrong there; an observer that orders by
recording time calls it a changed terminal state. The other cases are real changes, which must
still be found.

Usage: check_final_observer.py
"""

from final_observer import Observer
from wslib import check, log, run

NODES = ("node-1", "node-2")


def job(state, version, tasks=None, jid="pj-28e2902d"):
    tasks = tasks or {n: state for n in NODES}
    return {"id": jid, "state": state, "version": version, "tasks": [{"node": n, "state": s} for n, s in tasks.items()]}


def found(build):
    obs = Observer()
    build(obs)
    return obs.contradictions()


def ci_run_17(obs):
    obs.add_ws("s", "snapshot", job("pending", 1), received=0.10)
    obs.add_rest(0.20, job("pulling", 3), received=0.22)
    obs.add_ws("s", "update", job("pulling", 4), received=1.00)
    # The poller sent its request at 1.01 and the daemon answered from version 4 ...
    obs.add_ws("s", "update", job("succeeded", 5), received=1.03)
    # ... but the answer was recorded after the update that followed it.
    obs.add_rest(1.01, job("pulling", 4), received=1.05)
    obs.add_rest(1.20, job("succeeded", 5), received=1.22)


def flip_with_new_version(obs):
    obs.add_ws("s", "update", job("succeeded", 5), received=1.00)
    obs.add_rest(1.50, job("pulling", 6), received=1.52)


def flip_of_a_job_written_anew(obs):
    obs.add_rest(1.00, job("succeeded", 5), received=1.02)
    obs.add_rest(1.50, job("pulling", 1), received=1.52)


def flip_on_one_stream(obs):
    obs.add_ws("s", "update", job("failed", 7), received=1.00)
    obs.add_ws("s", "update", job("pulling", 7), received=1.10)


def flip_of_a_task(obs):
    obs.add_rest(1.00, job("pulling", 5, {"node-1": "failed", "node-2": "pulling"}), received=1.02)
    obs.add_ws("s", "update", job("pulling", 6, {"node-1": "retrying", "node-2": "pulling"}), received=1.30)


async def main():
    bad = found(ci_run_17)
    check(not bad, "an answer served before the job finished counted as a change: %s" % bad)
    for case in (flip_with_new_version, flip_of_a_job_written_anew, flip_on_one_stream, flip_of_a_task):
        check(found(case), "%s was not found" % case.__name__)
    log("the observer orders by what the daemon served; 4 real changes found")


run(main)
