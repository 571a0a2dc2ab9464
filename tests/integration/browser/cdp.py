"""A small Chrome DevTools Protocol driver for Debian's chromium, over python3-websockets.

Starts ``chromium --headless`` with a fresh profile in a temporary directory, DevTools on a
port the browser picks (read back from DevToolsActivePort), opens one page and drives it:
navigate, evaluate JavaScript, wait for a condition, take screenshots. Page exceptions, console
errors and Content-Security-Policy violations are collected so that tests can assert there
were none. ``close()`` ends the browser by its PID and removes the profile.

Nothing is downloaded: the browser is /usr/bin/chromium (package ``chromium``).
"""

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import websockets

CHROMIUM = os.environ.get("IPD_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars"]


class CdpError(Exception):
    pass


class Browser:
    def __init__(self, width=1280, height=860):
        self.width, self.height = width, height
        self.proc = None
        self.profile = None
        self.ws = None
        self.session = None
        self.next_id = 0
        self.waiting = {}
        self.listeners = []
        self.problems = []  # page exceptions, console errors, CSP reports
        self.reader = None

    async def start(self):
        self.profile = tempfile.mkdtemp(prefix="ipd-chromium.")
        args = [CHROMIUM] + FLAGS + ["--user-data-dir=" + self.profile, "--remote-debugging-port=0",
                                     "--remote-debugging-address=127.0.0.1",
                                     "--window-size=%d,%d" % (self.width, self.height), "about:blank"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.profile, "stderr"), "wb"),
                                     start_new_session=True)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        # Chromium writes the file once it listens; on a loaded machine its start has taken over 30 s.
        end = time.monotonic() + 120
        while time.monotonic() < end:
            if os.path.exists(port_file):
                lines = open(port_file).read().split("\n")
                if len(lines) >= 2 and lines[1]:
                    break
            if self.proc.poll() is not None:
                raise CdpError("chromium exited with %s: %s" % (self.proc.returncode, self.stderr_tail()))
            await asyncio.sleep(0.05)
        else:
            raise CdpError("chromium did not open its DevTools port within 120 s: " + self.stderr_tail())
        url = "ws://127.0.0.1:%s%s" % (lines[0].strip(), lines[1].strip())
        self.ws = await websockets.connect(url, max_size=64 * 1024 * 1024, ping_interval=None)
        self.reader = asyncio.ensure_future(self._read())
        target = await self.send("Target.createTarget", {"url": "about:blank"}, browser=True)
        att = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, browser=True)
        self.session = att["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            await self.send(domain + ".enable")
        await self.send("Emulation.setDeviceMetricsOverride",
                        {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        self.on(self._collect)
        return self

    def stderr_tail(self):
        try:
            with open(os.path.join(self.profile, "stderr"), "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def _collect(self, method, params):
        if method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.problems.append("exception: %s %s" % (d.get("text"), (d.get("exception") or {}).get("description")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.problems.append("console.error: %s" % [a.get("value", a.get("description")) for a in params.get("args", [])])
        elif method == "Log.entryAdded":
            e = params.get("entry", {})
            if e.get("level") == "error" and ("Content Security Policy" in e.get("text", "") or e.get("source") == "security"):
                self.problems.append("csp: " + e.get("text", ""))

    async def _read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg:
                    fut = self.waiting.pop(msg["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                else:
                    for fn in list(self.listeners):
                        fn(msg.get("method"), msg.get("params", {}))
        except websockets.ConnectionClosed:
            pass
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_exception(CdpError("the DevTools connection closed"))

    def on(self, fn):
        self.listeners.append(fn)

    async def send(self, method, params=None, browser=False, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if not browser:
            msg["sessionId"] = self.session
        fut = asyncio.get_event_loop().create_future()
        self.waiting[self.next_id] = fut
        await self.ws.send(json.dumps(msg))
        ans = await asyncio.wait_for(fut, timeout)
        if "error" in ans:
            raise CdpError("%s: %s" % (method, ans["error"]))
        return ans.get("result", {})

    async def goto(self, url, timeout=20):
        loaded = asyncio.get_event_loop().create_future()

        def on_load(method, params):
            if method == "Page.loadEventFired" and not loaded.done():
                loaded.set_result(True)
        self.on(on_load)
        try:
            await self.send("Page.navigate", {"url": url})
            await asyncio.wait_for(loaded, timeout)
        finally:
            self.listeners.remove(on_load)

    async def eval(self, expr, timeout=30):
        ans = await self.send("Runtime.evaluate", {"expression": expr, "awaitPromise": True, "returnByValue": True},
                              timeout=timeout)
        if "exceptionDetails" in ans:
            d = ans["exceptionDetails"]
            raise CdpError("evaluating %r: %s" % (expr[:120], (d.get("exception") or {}).get("description", d.get("text"))))
        return ans.get("result", {}).get("value")

    async def wait(self, expr, timeout=20, what=None, interval=0.05):
        """Evaluates ``expr`` until it is truthy; returns its value or raises AssertionError."""
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            last = await self.eval(expr)
            if last:
                return last
            await asyncio.sleep(interval)
        raise AssertionError("timed out after %.0f s waiting for %s (last value %r)" % (timeout, what or expr, last))

    async def screenshot(self, path):
        ans = await self.send("Page.captureScreenshot", {"format": "png"})
        with open(path, "wb") as f:
            f.write(base64.b64decode(ans["data"]))

    async def close(self):
        try:
            if self.ws is not None:
                try:
                    await asyncio.wait_for(self.send("Browser.close", browser=True, timeout=5), 5)
                except Exception:
                    pass
                await self.ws.close()
            if self.reader is not None:
                self.reader.cancel()
        finally:
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    # The browser's own process group: every helper process it started, by its leader's PID.
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            if self.profile is not None:
                shutil.rmtree(self.profile, ignore_errors=True)
