"""One timer thread that runs every simulated controller callback.

The kubelets and the Job controller mutate their private state only from
this thread, so that state needs no locks; HTTP handlers hand work over with
``call_soon``.  Callbacks that raise are reported and do not stop the loop.
"""

import heapq
import itertools
import sys
import threading
import time
import traceback


class Scheduler:
    def __init__(self):
        self._heap = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="kubesim-sched", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def call_at(self, when, fn, *args):
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._seq), fn, args))
            self._cond.notify()

    def call_later(self, delay, fn, *args):
        self.call_at(time.monotonic() + max(0.0, delay), fn, *args)

    def call_soon(self, fn, *args):
        self.call_at(0.0, fn, *args)

    def run_sync(self, fn, *args, timeout=10.0):
        """Run ``fn`` on the scheduler thread and wait for its result."""
        if threading.current_thread() is self._thread:
            return fn(*args)
        done = threading.Event()
        box = {}

        def call():
            try:
                box["value"] = fn(*args)
            except BaseException as e:  # handed back to the caller below
                box["error"] = e
            finally:
                done.set()

        self.call_soon(call)
        if not done.wait(timeout):
            raise TimeoutError("simulator scheduler did not answer")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def _run(self):
        while True:
            with self._cond:
                while not self._stopped:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        _, _, fn, args = heapq.heappop(self._heap)
                        break
                    self._cond.wait(min(self._heap[0][0] - now, 1.0) if self._heap else 1.0)
                else:
                    return
            try:
                fn(*args)
            except Exception:
                print("kubesim: controller callback %s failed:\n%s" % (getattr(fn, "__name__", fn),
                                                                       traceback.format_exc()),
                      file=sys.stderr, flush=True)
