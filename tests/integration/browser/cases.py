"""The dashboard in a real browser (chromium headless, driven over DevTools by cdp.py), against
the daemon and the Kubernetes simulator started by test_dashboard_browser.sh.

usage: cases.py --sim PORT --daemon PORT --daemon-pid PID [CASE...]
       cases.py --sim PORT --daemon PORT --token TOKEN --admin-token TOKEN token

Each case prints "ok NAME" or "FAIL NAME: why"; the exit status is the number of failures.
Every case also fails on a page exception, a console error or a Content-Security-Policy
violation.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Browser  # noqa: E402

A = None


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def http(port, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


def sim(path, body):
    st, ans = http(A.sim, "POST", path, body)
    check(st == 200, "%s answered %s %r" % (path, st, ans))
    return ans


def pull(image, nodes, **opts):
    body = dict({"image": image, "nodes": nodes}, **opts)
    st, ans = http(A.daemon, "POST", "/api/v1/images/pull", body)
    check(st == 202, "POST pull answered %s %r" % (st, ans))
    return ans["jobs"][0]["id"]


def job(jid, port=None, token=None):
    st, doc = http(port or A.daemon, "GET", "/api/v1/images/pull-jobs/" + jid, token=token)
    check(st == 200, "GET job %s answered %s" % (jid, st))
    return doc


def all_jobs():
    """Every job in the table, id -> (state, version), through the paged list."""
    out = {}
    cont = None
    while True:
        path = "/api/v1/images/pull-jobs?limit=1000" + ("&continue=" + cont if cont else "")
        st, doc = http(A.daemon, "GET", path)
        check(st == 200, "GET pull-jobs answered %s %r" % (st, doc))
        for j in doc["jobs"]:
            out[j["id"]] = (j["state"], j["version"])
        cont = doc.get("continue")
        if not cont:
            return out


def js(s):
    return json.dumps(s)


async def open_page(b, hash_="#/"):
    await b.goto("about:blank")  # a fresh document: a change of fragment alone would not load one
    await b.goto("http://127.0.0.1:%d/%s" % (A.daemon, hash_))
    await b.wait("window.imgpulld && window.imgpulld.stats().live", 15, "the job watch to be live")
    await b.eval("window.__mark = 'no reload'")


async def set_value(b, sel, value):
    await b.eval("(() => { const e = document.querySelector(%s); e.value = %s;"
                 " e.dispatchEvent(new Event('input', {bubbles: true})); return true; })()" % (js(sel), js(value)))


async def click(b, sel):
    await b.eval("(() => { const e = document.querySelector(%s); if (!e) throw new Error('no ' + %s); e.click();"
                 " return true; })()" % (js(sel), js(sel)))


async def text(b, sel):
    return await b.eval("(() => { const e = document.querySelector(%s); return e ? e.textContent : null; })()"
                        % js(sel))


# ---- cases ----

async def case_form_pull(b):
    # A slow pull on three nodes so that the grid shows them pulling before they succeed.
    sim("/_sim/pull", {"pattern": "(^|/)formpull:", "ms": 1500})
    await open_page(b, "#/new")
    await set_value(b, "#f-images", "docker.io/library/formpull:1.0")
    await set_value(b, "#f-nodes", "node-1 node-2 node-3")
    await click(b, "#pull-submit")
    jid = await b.wait("(location.hash.match(/^#\\/job\\/(pj-[0-9a-f]+)$/) || [])[1]", 10, "the page to open the new job")
    seen = set()
    end = time.monotonic() + 30
    state = None
    cells_js = ("Array.from(document.querySelectorAll('#job-grid .c')).map(c => c.dataset.state + ':'"
                " + getComputedStyle(c).backgroundColor)")
    while time.monotonic() < end:
        seen.update(await b.eval(cells_js))
        state = await text(b, "#job-state")
        if state == "succeeded":
            seen.update(await b.eval(cells_js))  # the frame that drew the state drew the cells too
            break
        await asyncio.sleep(0.05)
    check(state == "succeeded", "the page shows %r, not succeeded" % state)
    states = {c.split(":")[0] for c in seen}
    colours = {c.split(":", 1)[1] for c in seen}
    check(len([c for c in await b.eval("Array.from(document.querySelectorAll('#job-grid .c')).map(c => c.dataset.state)")
               if c == "succeeded"]) == 3, "not three succeeded cells")
    check("succeeded" in states and states & {"pending", "pulling"}, "grid states seen: %r" % states)
    check(len(colours) >= 2, "the grid did not change colour: %r" % colours)
    check(await b.eval("window.__mark") == "no reload", "the page was reloaded")
    check(job(jid)["state"] == "succeeded", "REST disagrees")
    # The pull-time chart has one bar per node that reported a pull time.
    timed = [t for t in job(jid)["tasks"] if t.get("pull_ms") is not None]
    bars = await b.eval("document.querySelectorAll('#job-chart svg rect').length")
    check(bars == len(timed), "%d bars for %d pull times" % (bars, len(timed)))
    # The job is listed with its grid on the jobs view too.
    await b.eval("location.hash = '#/'")
    row = await b.wait("(() => { const r = document.querySelector('.jrow[data-id=%s]');"
                       " return r && r.dataset.state; })()" % js(jid), 5, "the job in the list")
    check(row == "succeeded", "listed as %r" % row)


async def case_no_polling(b):
    # While the socket is up the page learns of changes from it alone: no REST request at all.
    await open_page(b)
    api_calls = "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/')).length"
    before = await b.eval(api_calls)
    ids = [pull("docker.io/library/nopoll:%d" % i, ["node-1"]) for i in range(2)]
    await b.wait("(() => { const s = new Map(window.imgpulld.jobs().map(j => [j.id, j.state]));"
                 " return %s.every(i => s.get(i) === 'succeeded'); })()" % js(ids), 15, "the jobs to succeed on the page")
    await asyncio.sleep(2.5)  # longer than the 2 s the old page polled at
    check(await b.eval(api_calls) == before, "the page called the REST API while its socket was up")
    check(await b.eval("window.imgpulld.stats().live"), "the socket is not up")


async def case_form_errors(b):
    # The API's validation message is shown next to the field it names.
    await open_page(b, "#/new")
    await set_value(b, "#f-images", "docker.io/library/nginx:1.27")
    await set_value(b, "#f-nodes", "no-such-node")
    await click(b, "#pull-submit")
    msg = await b.wait("document.querySelector('#err-nodes').textContent", 10, "an error under the node field")
    check("no-such-node" in msg, "node error %r" % msg)
    check(await b.eval("document.querySelector('#f-nodes').getAttribute('aria-invalid')") == "true", "not marked")
    await set_value(b, "#f-images", "Not A Valid/Reference:::")
    await set_value(b, "#f-nodes", "node-1")
    await click(b, "#pull-submit")
    msg = await b.wait("document.querySelector('#err-image').textContent", 10, "an error under the image field")
    check("image" in msg, "image error %r" % msg)
    check(await text(b, "#err-nodes") == "", "the old node error stayed")
    # A label selector in kubectl's syntax becomes a LabelSelector; its nodes are the job's tasks.
    await set_value(b, "#f-images", "docker.io/library/nginx:1.25")
    await b.eval("document.querySelector('input[name=target][value=selector]').click()")
    await set_value(b, "#f-selector", "kubernetes.io/hostname in (node-1, node-3), !no-such-label")
    await click(b, "#pull-submit")
    jid = await b.wait("(location.hash.match(/^#\\/job\\/(pj-[0-9a-f]+)$/) || [])[1]", 10, "the selector's job")
    nodes = sorted(t["node"] for t in job(jid)["tasks"])
    check(nodes == ["node-1", "node-3"], "the selector chose %r" % nodes)
    await open_page(b, "#/new")
    await b.eval("document.querySelector('input[name=target][value=selector]').click()")
    await set_value(b, "#f-images", "docker.io/library/nginx:1.25")
    await set_value(b, "#f-selector", "zone in (a, b)")
    await click(b, "#pull-submit")
    msg = await b.wait("document.querySelector('#err-nodes').textContent", 10, "the selector error under the nodes")
    check("node_selector" in msg, "selector error %r" % msg)


async def case_failing_image_reason(b):
    sim("/_sim/fail", {"pattern": "(^|/)nosuchimage:", "message": "manifest unknown: nosuchimage"})
    jid = pull("registry.example.com/nosuchimage:1", ["node-1"], backoff_limit=20)
    await open_page(b, "#/job/" + jid)
    # The task says Pulling while an attempt runs, then the failure.
    reason = await b.wait("(() => { const td = document.querySelector('#tasks-body tr[data-node=\"node-1\"]"
                          " td[data-key=reason]'); return td && /^(ErrImagePull|ImagePullBackOff)$/.test(td.textContent)"
                          " && td.textContent; })()", 15, "a failure reason in the task row")
    rest = job(jid)["tasks"][0]
    check(reason in ("ErrImagePull", "ImagePullBackOff"), "reason shown %r" % reason)
    check(rest["reason"] in ("ErrImagePull", "ImagePullBackOff"), "REST reason %r" % rest["reason"])
    # The kubelet alternates ErrImagePull (the registry's words) and ImagePullBackOff (its own).
    await b.wait("(() => { const td = document.querySelector('#tasks-body tr[data-node=\"node-1\"]"
                 " td[data-key=message]'); return td && td.textContent.includes('manifest unknown: nosuchimage'); })()",
                 15, "the registry's message")
    http(A.daemon, "DELETE", "/api/v1/images/pull-jobs/" + jid)


async def case_cancel(b):
    sim("/_sim/pull", {"pattern": "(^|/)slowcancel:", "ms": 60000})
    jid = pull("docker.io/library/slowcancel:1", ["node-1", "node-2"])
    await open_page(b, "#/job/" + jid)
    await b.wait("!document.querySelector('#job-cancel').hidden", 10, "the cancel button")
    await click(b, "#job-cancel")
    check(await b.eval("document.querySelector('#confirm').open"), "no confirmation asked")
    await click(b, "#confirm-no")
    check(not await b.eval("document.querySelector('#confirm').open"), "the dialog stayed open")
    check(job(jid)["state"] != "cancelled", "cancelled without confirmation")
    await click(b, "#job-cancel")
    await click(b, "#confirm-yes")
    await b.wait("document.querySelector('#job-msg').textContent.includes('cancelled')", 10, "the cancel answer")
    check(job(jid)["state"] == "cancelled", "REST shows %s" % job(jid)["state"])
    await b.wait("document.querySelector('#job-state').textContent === 'cancelled'", 10, "the page to show cancelled")


async def case_sighup_resume(b):
    sim("/_sim/pull", {"pattern": "(^|/)hup:", "ms": 400})
    ids = [pull("docker.io/library/hup:%d" % i, ["node-1", "node-2"]) for i in range(4)]
    await open_page(b)
    await b.wait("(() => { const s = new Set(window.imgpulld.jobs().map(j => j.id));"
                 " return %s.every(i => s.has(i)); })()" % js(ids), 10, "the jobs on the page")
    before = await b.eval("window.imgpulld.stats()")
    os.kill(A.daemon_pid, signal.SIGHUP)
    # Changes while the old workers drain and the new ones start: new jobs, a cancel.
    late = []
    for i in range(4, 8):
        try:
            late.append(pull("docker.io/library/hup:%d" % i, ["node-1"]))
        except AssertionError:
            await asyncio.sleep(0.2)  # the listener is handed over: try the next one
    cancel = pull("docker.io/library/slowcancel:2", ["node-3"])
    st, _ = http(A.daemon, "DELETE", "/api/v1/images/pull-jobs/" + cancel)
    check(st == 202, "DELETE answered %s" % st)
    check(len(late) >= 2, "the daemon took only %d pulls during the reload" % len(late))
    await b.wait("window.imgpulld.stats().connects > %d && window.imgpulld.stats().live" % before["connects"], 20,
                 "the page to reconnect")
    # Once REST and the page agree on every job (states are final or settle), nothing was missed.
    end = time.monotonic() + 20
    diff = None
    while time.monotonic() < end:
        rest = all_jobs()
        page = {j["id"]: (j["state"], j["version"]) for j in await b.eval("window.imgpulld.jobs()")}
        diff = {k: (rest.get(k), page.get(k)) for k in set(rest) | set(page) if rest.get(k) != page.get(k)}
        if not diff:
            break
        await asyncio.sleep(0.2)
    check(not diff, "page and REST differ: %r" % diff)
    after = await b.eval("window.imgpulld.stats()")
    check(after["resyncs"] == before["resyncs"], "the page needed a resync (%r)" % after)
    check(await b.eval("window.__mark") == "no reload", "the page was reloaded")
    check(await b.eval("document.querySelector('#conn').dataset.state") == "live", "indicator not live")


async def case_log_view(b):
    # Pods of "logger" images run until deleted and log only what /_sim/logs appends. The
    # master's clean-up of the finished pull is refused for a while so that its pod stays.
    sim("/_sim/outcome", {"pattern": "(^|/)logger:", "outcome": "Run", "log_rate": 0})
    sim("/_sim/inject", {"count": 100000, "code": 503, "method": "DELETE", "path": "/jobs/"})
    try:
        jid = pull("docker.io/library/logger:1", ["node-1"])
        pod = None
        end = time.monotonic() + 10
        while time.monotonic() < end and not pod:
            pod = job(jid)["tasks"][0].get("pod")
            await asyncio.sleep(0.05)
        check(pod, "no pod for the task")
        await open_page(b, "#/job/" + jid)
        await b.wait("!!document.querySelector('#tasks-body tr[data-node=\"node-1\"] a')", 10, "the log link")
        await click(b, "#tasks-body tr[data-node=\"node-1\"] a")
        await b.wait("document.querySelector('#logs-status').textContent.startsWith('Streaming')", 15,
                     "the stream to start")
        out = "document.querySelector('#logs-out').textContent"
        for i in range(5):
            sim("/_sim/logs", {"pod": pod, "lines": ["step %d of the live log" % i]})
            await b.wait("%s.includes('step %d of the live log\\n')" % (out, i), 5, "line %d on the page" % i)
        # Pause: lines are held; resume shows them.
        await click(b, "#l-pause")
        sim("/_sim/logs", {"pod": pod, "lines": ["while paused"]})
        await asyncio.sleep(0.5)
        check("while paused" not in await b.eval(out), "a line was shown while paused")
        await click(b, "#l-pause")
        await b.wait("%s.includes('while paused')" % out, 5, "the held line after resume")
        # Close, more lines, reopen: only the new lines are added.
        await click(b, "#l-close")
        await b.wait("!document.querySelector('#l-reopen').disabled", 5, "reopen to be offered")
        sim("/_sim/logs", {"pod": pod, "lines": ["after the close"]})
        await click(b, "#l-reopen")
        await b.wait("%s.includes('after the close')" % out, 10, "the line written while closed")
        shown = await b.eval(out)
        for i in range(5):
            check(shown.count("step %d of the live log" % i) == 1, "line %d shown %d times after reopening"
                  % (i, shown.count("step %d of the live log" % i)))
        lines = [x for x in shown.split("\n") if x and not x.startswith("—")]
        check(lines[:5] == ["step %d of the live log" % i for i in range(5)], "lines %r" % lines[:7])
    finally:
        http(A.sim, "DELETE", "/_sim/inject")


async def case_log_of_finished_task(b):
    # A succeeded pull's Job and pod go at its ttlSecondsAfterFinished (0 here): the refused
    # handshake is explained.
    jid = pull("docker.io/library/busybox:1.36", ["node-3"], ttl_seconds_after_finished=0)

    def gone():
        return job(jid)["state"] == "succeeded" and not http(
            A.sim, "GET", "/apis/batch/v1/namespaces/imgpulld/jobs?labelSelector=imgpulld.io%2Fjob%3D" + jid)[1]["items"]

    # The page is opened once the pull succeeded and its Job is gone, not after a fixed time that
    # a loaded machine may overrun (the page then showed the pod still there).
    end = time.monotonic() + 90
    while not gone():
        check(time.monotonic() < end, "the pull did not succeed with its Job gone: %s" % job(jid)["state"])
        await asyncio.sleep(0.1)
    await open_page(b, "#/logs/%s/node-3" % jid)
    msg = await b.wait("(() => { const t = document.querySelector('#logs-status').textContent;"
                       " return t.includes('pod is gone') && t; })()", 15, "the explanation")
    check("succeeded" in msg, "status %r" % msg)


CONTRAST = """(() => {
  const lum = (c) => { const v = c.match(/[\\d.]+/g).slice(0, 3).map((x) => x / 255)
      .map((x) => (x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  /* The colour behind an element: its own background or the first opaque one of its ancestors. */
  const behind = (e) => {
    for (; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor, v = c.match(/[\\d.]+/g);
      if (v && (v.length < 4 || Number(v[3]) > 0)) return c;
    }
    return 'rgb(255, 255, 255)';
  };
  const bad = [];
  for (const e of document.querySelectorAll(%s)) {
    if (!e.textContent.trim() || e.offsetParent === null) continue;
    const a = lum(getComputedStyle(e).color), b = lum(behind(e));
    const r = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (r < 4.5) bad.push(e.textContent + ' ' + r.toFixed(2));
  }
  return bad;
})()"""


async def case_accessible(b):
    # Every control has a label, state badges keep a 4.5:1 contrast, and a job opens from the keyboard.
    jid = pull("docker.io/library/nginx:1.26", ["node-1"])
    await open_page(b, "#/")
    await b.wait("!!document.querySelector('.jrow[data-id=%s]')" % js(jid), 10, "the job row")
    unlabelled = await b.eval("Array.from(document.querySelectorAll('input, select, textarea, button')).filter(e =>"
                              " !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())"
                              ".map(e => e.id || e.outerHTML.slice(0, 60))")
    check(not unlabelled, "controls without a label: %r" % unlabelled)
    for s in ("pending", "pulling", "retrying", "succeeded", "failed", "cancelled", "unknown", "keeping"):
        await b.eval("(() => { const e = document.createElement('span'); e.className = 'badge st-%s probe';"
                     " e.textContent = '%s'; document.querySelector('main').appendChild(e); })()" % (s, s))
    bad = await b.eval(CONTRAST % js(".badge, .muted, .jrow .why, header a"))
    check(not bad, "contrast under 4.5:1: %r" % bad)
    await b.eval("document.querySelectorAll('.probe').forEach(e => e.remove())")
    # Tab from the top of the page to the first job row, then Enter opens it.
    await b.eval("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    for _ in range(40):
        await b.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9})
        await b.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9})
        if await b.eval("document.activeElement.classList.contains('jrow')"):
            break
    check(await b.eval("document.activeElement.classList.contains('jrow')"), "Tab never reached a job row")
    target = await b.eval("document.activeElement.dataset.id")
    await b.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13,
                                            "text": "\r"})
    await b.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13})
    await b.wait("location.hash === '#/job/' + %s" % js(target), 5, "Enter to open the job")


async def case_markup_is_text(b):
    payload = "<img src=x onerror=\"window.__xss=1\"><b>bold</b>"
    sim("/_sim/fail", {"pattern": "(^|/)xssimage:", "message": payload})
    jid = pull("docker.io/library/xssimage:1", ["node-2"], backoff_limit=20)
    await open_page(b, "#/job/" + jid)
    await b.wait("(() => { const td = document.querySelector('#tasks-body td[data-key=message]');"
                 " return td && td.textContent.includes(%s); })()" % js(payload), 15, "the message as text")
    check(await b.eval("document.querySelectorAll('main img, main b').length") == 0, "markup was parsed")
    await b.eval("location.hash = '#/'")
    await b.wait("!!document.querySelector('.jrow[data-id=%s]')" % js(jid), 5, "the row")
    check(await b.eval("document.querySelectorAll('main img, main b').length") == 0, "markup was parsed in the list")
    check(await b.eval("window.__xss") is None, "the payload ran")
    http(A.daemon, "DELETE", "/api/v1/images/pull-jobs/" + jid)


async def case_token(b):
    """On a listener that requires tokens (run by the shell inside a private network namespace)."""
    await b.goto("about:blank")
    await b.goto("http://127.0.0.1:%d/#/" % A.daemon)
    msg = await b.wait("!document.querySelector('#auth-msg').hidden && document.querySelector('#auth-msg').textContent",
                       10, "the token message")
    check("needs a bearer token" in msg, "without a token: %r" % msg)
    await set_value(b, "#token", "wrong-token-0123456789")
    await b.eval("document.querySelector('#token-form').requestSubmit()")
    msg = await b.wait("document.querySelector('#auth-msg').textContent.includes('refused')", 10, "the refusal")
    msg = await text(b, "#auth-msg")
    check("refused this token" in msg and "401" in msg, "wrong token: %r" % msg)
    check(not await b.eval("window.imgpulld.stats().live"), "live with a wrong token")
    # The read token: the watch goes live and shows the jobs; starting a pull says admin is needed.
    jid = pull_token("docker.io/library/nginx:1.27")
    await set_value(b, "#token", A.token)
    await b.eval("document.querySelector('#token-form').requestSubmit()")
    await b.wait("window.imgpulld.stats().live", 10, "the watch with the read token")
    check(await b.eval("document.querySelector('#auth-msg').hidden"), "the message stayed")
    await b.wait("window.imgpulld.jobs().some(j => j.id === %s)" % js(jid), 10, "the job on the page")
    await b.eval("location.hash = '#/new'")
    await set_value(b, "#f-images", "docker.io/library/nginx:1.28")
    await set_value(b, "#f-nodes", "node-1")
    await click(b, "#pull-submit")
    msg = await b.wait("document.querySelector('#err-form').textContent", 10, "the role message")
    check("403" in msg and "admin" in msg, "read token pull: %r" % msg)
    # The admin token (it has + / = in it: the base64url subprotocol form) starts it.
    await set_value(b, "#token", A.admin_token)
    await b.eval("document.querySelector('#token-form').requestSubmit()")
    await b.wait("window.imgpulld.stats().live", 10, "the watch with the admin token")
    await click(b, "#pull-submit")
    jid2 = await b.wait("(location.hash.match(/^#\\/job\\/(pj-[0-9a-f]+)$/) || [])[1]", 10, "the new job")
    job(jid2, token=A.token)
    # The stored token survives a reload.
    await b.goto("about:blank")
    await b.goto("http://127.0.0.1:%d/#/" % A.daemon)
    await b.wait("window.imgpulld.stats().live", 10, "live after a reload with the stored token")


async def case_resync_after_overrun(b):
    """With table_ring 64 and table_jobs 16 (the shell starts a daemon for this case): the page cannot reconnect
    (the browser is offline) while more than 64 changes happen and the workers are replaced
    again, so its position is older than the new workers' view and the daemon answers resync;
    the page drops what it knew (jobs evicted meanwhile too) and rebuilds from the snapshots."""
    first = [pull("docker.io/library/before:%d" % i, ["node-1"]) for i in range(3)]
    await open_page(b)
    await b.wait("(() => { const s = new Set(window.imgpulld.jobs().map(j => j.id));"
                 " return %s.every(i => s.has(i)); })()" % js(first), 10, "the jobs on the page")
    before = await b.eval("window.imgpulld.stats()")
    await b.send("Network.enable")
    offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    await b.send("Network.emulateNetworkConditions", offline)
    try:
        os.kill(A.daemon_pid, signal.SIGHUP)  # the workers are replaced: the page's socket closes
        await b.wait("!window.imgpulld.stats().live", 10, "the socket to close")
        later = []
        for i in range(30):
            for _ in range(50):  # a full table answers 503 table_full until a job finishes
                st, ans = http(A.daemon, "POST", "/api/v1/images/pull",
                               {"image": "docker.io/library/overrun:%d" % i, "nodes": ["node-1"]})
                if st != 503:
                    break
                await asyncio.sleep(0.2)
            check(st == 202, "POST pull answered %s %r" % (st, ans))
            later.append(ans["jobs"][0]["id"])
        st, _ = http(A.daemon, "DELETE", "/api/v1/images/pull-jobs/" + first[0])
        end = time.monotonic() + 20
        def settled(jid):  # succeeded, or already evicted from the full table
            st, doc = http(A.daemon, "GET", "/api/v1/images/pull-jobs/" + jid)
            return st == 404 or (st == 200 and doc["state"] == "succeeded")
        while time.monotonic() < end and not all(settled(j) for j in later):
            await asyncio.sleep(0.1)
        # A worker that has run all along knows every job's last change; one that starts now
        # rebuilds its view from the ring, which no longer reaches back to the page's position.
        os.kill(A.daemon_pid, signal.SIGHUP)
        await asyncio.sleep(1.0)
        check(await b.eval("window.imgpulld.stats().connects") == before["connects"], "connected while blocked")
    finally:
        await b.send("Network.emulateNetworkConditions", dict(offline, offline=False))
    await b.wait("window.imgpulld.stats().live", 20, "the page to reconnect")
    end = time.monotonic() + 20
    diff = None
    while time.monotonic() < end:
        rest = all_jobs()
        page = {j["id"]: (j["state"], j["version"]) for j in await b.eval("window.imgpulld.jobs()")}
        diff = {k: (rest.get(k), page.get(k)) for k in set(rest) | set(page) if rest.get(k) != page.get(k)}
        if not diff:
            break
        await asyncio.sleep(0.2)
    check(not diff, "page and REST differ: %r" % diff)
    after = await b.eval("window.imgpulld.stats()")
    check(after["resyncs"] > before["resyncs"], "no resync was needed (%r): the ring still held the changes" % after)
    check(first[1] not in page, "a job evicted while the page was away is still shown")
    check(await b.eval("window.__mark") == "no reload", "the page was reloaded")


def pull_token(image):
    st, ans = http(A.daemon, "POST", "/api/v1/images/pull", {"image": image, "nodes": ["node-1"]}, token=A.admin_token)
    check(st == 202, "POST with the admin token answered %s %r" % (st, ans))
    return ans["jobs"][0]["id"]


CASES = ["form_pull", "no_polling", "form_errors", "accessible", "failing_image_reason", "cancel", "log_view", "log_of_finished_task", "markup_is_text",
         "sighup_resume"]


async def main():
    failures = 0
    b = await Browser().start()
    try:
        for name in A.cases or CASES:
            t0 = time.monotonic()
            b.problems.clear()
            try:
                await globals()["case_" + name](b)
                check(not b.problems, "page problems: %r" % b.problems)
                print("ok %s (%.1f s)" % (name, time.monotonic() - t0), flush=True)
            except Exception as e:  # a failed check or an unexpected error: report it, go on
                failures += 1
                print("FAIL %s: %s" % (name, e), flush=True)
                traceback.print_exc()
    finally:
        await b.close()
    return failures


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--sim", type=int, required=True)
    p.add_argument("--daemon", type=int, required=True)
    p.add_argument("--daemon-pid", type=int, default=0)
    p.add_argument("--token")
    p.add_argument("--admin-token")
    p.add_argument("cases", nargs="*")
    A = p.parse_args()
    sys.exit(asyncio.run(main()))
