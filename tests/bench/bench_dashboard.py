"""Dashboard benchmark driver (tests/bench/bench_dashboard.sh runs it).

Starts bench_dashboard_feed (a real worker over a table of JOBS jobs, changed RATE times a
second), opens the dashboard in chromium headless (tests/integration/browser/cdp.py), waits
until the page holds every job, then for SECONDS seconds records from the browser's own
performance data: long tasks (PerformanceObserver "longtask", every main-thread task over
50 ms) and frame intervals (requestAnimationFrame timestamps), while the list scrolls by a
screen every 500 ms. Prints the figures; exits 1 when a long task went over 50 ms.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "integration", "browser"))
from cdp import Browser  # noqa: E402

PROBE = """(() => {
  const b = window.__bench = {long: [], frames: [], stop: false};
  new PerformanceObserver((l) => { for (const e of l.getEntries()) b.long.push(e.duration); })
    .observe({type: 'longtask'});
  let last = 0;
  const tick = (t) => { if (last) b.frames.push(t - last); last = t; if (!b.stop) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const box = document.getElementById('jobs-scroll');
  b.scroller = %(scroll)s && setInterval(() => {
    box.scrollTop = box.scrollTop + box.clientHeight >= box.scrollHeight - 2 ? 0 : box.scrollTop + box.clientHeight;
  }, 500);
  b.messages0 = window.imgpulld.stats().messages;
  b.renders0 = window.imgpulld.stats().renders;
  return true;
})()"""

COLLECT = """(() => {
  const b = window.__bench; b.stop = true; clearInterval(b.scroller);
  return {long: b.long, frames: b.frames, messages: window.imgpulld.stats().messages - b.messages0,
          renders: window.imgpulld.stats().renders - b.renders0, render_max: window.imgpulld.stats().renderMaxMs,
          jobs: window.imgpulld.jobs().length, rows: document.querySelectorAll('.jrow').length};
})()"""


def pct(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


async def main(a):
    feed = subprocess.Popen([a.feed, "--jobs", str(a.jobs), "--nodes", str(a.nodes), "--rate", str(a.rate),
                             "--seconds", str(a.seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    b = None
    try:
        line = feed.stdout.readline()
        if not line.startswith("listening on "):
            raise SystemExit("the feeder did not start: %r" % line)
        port = int(line.rsplit(":", 1)[1])
        b = await Browser(width=1280, height=900).start()
        t0 = time.monotonic()
        await b.goto("http://127.0.0.1:%d/#/" % port)
        await b.wait("window.imgpulld && window.imgpulld.jobs().length >= %d && document.querySelectorAll('.jrow').length > 0"
                     % a.jobs, 60, "the page to hold every job")
        load_s = time.monotonic() - t0
        await b.send("Performance.enable")
        m0 = {m["name"]: m["value"] for m in (await b.send("Performance.getMetrics"))["metrics"]}
        await b.eval(PROBE % {"scroll": "false" if a.no_scroll else "true"})
        feed.stdin.write("go\n")
        feed.stdin.flush()
        changes = feed.stdout.readline().strip()
        r = await b.eval(COLLECT)
        m1 = {m["name"]: m["value"] for m in (await b.send("Performance.getMetrics"))["metrics"]}
        busy = {k: (m1.get(k, 0) - m0.get(k, 0)) * 1000.0 / a.seconds
                for k in ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration")}
        feed.stdin.write("done\n")
        feed.stdin.flush()
    finally:
        if b is not None:
            await b.close()
        try:
            feed.stdin.close()
        except OSError:
            pass
        feed.wait(timeout=20)
    long, frames = r["long"], r["frames"]
    print("chromium headless, %d jobs x %d nodes, %d changes/s for %d s (%s)" % (a.jobs, a.nodes, a.rate, a.seconds, changes))
    print("page load to %d jobs listed: %.2f s; messages applied during the run: %d; rows in the DOM: %d"
          % (r["jobs"], load_s, r["messages"], r["rows"]))
    print("page renders during the run: %d; the longest since the page loaded took %.1f ms of script" % (r["renders"], r["render_max"]))
    print("main thread busy per second of the run: %.0f ms (script %.0f, style %.0f, layout %.0f)"
          % (busy["TaskDuration"], busy["ScriptDuration"], busy["RecalcStyleDuration"], busy["LayoutDuration"]))
    print("long tasks (> 50 ms): %d, longest %.0f ms, total %.0f ms" % (len(long), max(long or [0]), sum(long)))
    print("frame interval: %d frames, mean %.1f ms, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms"
          % (len(frames), sum(frames) / max(1, len(frames)), pct(frames, 50), pct(frames, 95), pct(frames, 99),
             max(frames or [0])))
    return 1 if long else 0


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--feed", required=True)
    p.add_argument("--jobs", type=int, default=1000)
    p.add_argument("--nodes", type=int, default=16)
    p.add_argument("--rate", type=int, default=100)
    p.add_argument("--seconds", type=int, default=30)
    p.add_argument("--no-scroll", action="store_true", help="leave the list where it is")
    sys.exit(asyncio.run(main(p.parse_args())))
