"""Every message type, op, error and close code of the job watches.

Usage: check_messages.py PORT
The daemon runs with workers 1, table_jobs 16, ws_max_subscriptions 4, ws_max_message 4k,
ws_ping_interval 1s, ws_pong_timeout 2s, against a simulator with short pulls.
"""

import asyncio
import json
import os
import struct
import sys
import time

from wslib import (FINAL, RawWs, check, connect, create_jobs, expect, expect_close, expect_silence, log, recv_json,
                   refused, rest, run)

PORT = int(sys.argv[1])


def wait_final(ids, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [rest(PORT, "GET", "/api/v1/images/pull-jobs/" + i)[1]["state"] for i in ids]
        if all(s in FINAL for s in states):
            return
        time.sleep(0.1)
    raise AssertionError("jobs did not finish")


async def single_job():
    (jid,) = create_jobs(PORT, ["docker.io/library/nginx:1.27"], nodes=("node-1", "node-2"))
    ws = await connect(PORT, "/ws/image-pull/" + jid)
    snap = await expect(ws, "snapshot")
    check(snap["job"]["id"] == jid and len(snap["epoch"]) == 16 and snap["seq"] > 0, "snapshot %s" % snap)
    check(all("cause" in t and "last_failure" in t for t in snap["job"]["tasks"]),
          "tasks carry cause and last_failure: %s" % snap["job"]["tasks"])
    await ws.send('{"op":"subscribe_all"}')
    seen = await expect_close(ws, 1000, timeout=30)
    errors = [m for m in seen if m["type"] == "error"]
    check(errors and errors[0]["code"] == "unsupported", "a message to /ws/image-pull/{id} is an error: %s" % seen)
    updates = [m for m in seen if m["type"] == "update"]
    check(updates and updates[-1]["job"]["state"] in FINAL, "the last update is final: %s" % updates[-1:])
    seqs = [snap["seq"]] + [m["seq"] for m in updates]
    check(seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "seq increases: %s" % seqs)
    check(all(m["job"]["id"] == jid and m["epoch"] == snap["epoch"] for m in updates), "updates of the job")
    check(all(m["job"]["error"] is None or "cause" in m["job"]["error"] for m in updates), "error carries cause")
    log("single job: snapshot, %d updates, final %s, close 1000" % (len(updates), updates[-1]["job"]["state"]))
    # A job already final: its snapshot, then 1000.
    ws = await connect(PORT, "/ws/image-pull/" + jid)
    m = await expect(ws, "snapshot")
    check(m["job"]["state"] in FINAL, "final snapshot")
    await expect_close(ws, 1000)
    log("final job: snapshot then close 1000")
    return jid, snap["epoch"]


async def refusals(epoch):
    status, body = refused(PORT, "/ws/image-pull/pj-unknown0")
    check(status == 404 and body["error"]["code"] == "not_found", "unknown id: %s %s" % (status, body))
    for bad in ("zz", "%s:" % epoch, "%s:12x" % epoch, "abc:1", epoch):
        status, body = refused(PORT, "/ws/image-pull-all?since=" + bad)
        check(status == 400 and body["error"]["code"] == "invalid_argument", "since=%s: %s %s" % (bad, status, body))
    status, body, _ = rest(PORT, "GET", "/ws/image-pull-all")
    check(status == 400, "no upgrade: %s" % status)
    status, body, hdrs = rest(PORT, "POST", "/ws/image-pull-all", {})
    check(status == 405, "POST: %s" % status)
    log("refused before the upgrade: 404 unknown id, 400 bad since, 400 without upgrade, 405 POST")


async def ops(done_id):
    a, b, c, d, e = create_jobs(PORT, ["registry.local/app%d:1" % i for i in range(5)])
    ws = await connect(PORT, "/ws/image-pull-all")
    await ws.send('{"op":"subscribe","jobs":["%s","%s"]}' % (a, done_id))
    await expect(ws, "ack", op="subscribe", subscriptions=2)
    got = {}
    while len(got) < 2:
        m = await recv_json(ws)
        if m["type"] == "snapshot":
            got[m["job"]["id"]] = m
    check(set(got) == {a, done_id}, "snapshots of the subscribed jobs: %s" % list(got))
    await ws.send('{"op":"subscribe","jobs":["%s","%s","%s"]}' % (b, c, d))
    while True:
        m = await recv_json(ws)
        if m["type"] == "error":
            break
        check(m["type"] == "update" and m["job"]["id"] == a, "only job a moves meanwhile: %s" % m)
    check(m["code"] == "too_many_subscriptions", "limit: %s" % m)
    await ws.send('{"op":"subscribe","jobs":["%s","%s"]}' % (done_id, b))
    m = await recv_json(ws)
    while m["type"] == "update":
        m = await recv_json(ws)
    check(m["type"] == "ack" and m["subscriptions"] == 3, "the refused subscribe kept nothing: %s" % m)
    await ws.send('{"op":"unsubscribe","jobs":["%s","pj-never"]}' % done_id)
    while m["type"] != "ack" or m["op"] != "unsubscribe":
        m = await recv_json(ws)
    check(m["subscriptions"] == 2, "unsubscribe: %s" % m)
    for text, code in (("not json", "invalid_json"), ("[]", "invalid_message"), ('{"op":7}', "invalid_message"),
                       ('{"op":"dance"}', "unknown_op"), ('{"op":"subscribe","jobs":"x"}', "invalid_message"),
                       ('{"op":"subscribe","jobs":[""]}', "invalid_job_id"),
                       ('{"op":"subscribe","jobs":["%s"]}' % ("x" * 40), "invalid_job_id"),
                       ('{"op":"unsubscribe_all","extra":1}', "invalid_message")):
        await ws.send(text)
        m = await recv_json(ws)
        while m["type"] in ("update", "snapshot"):
            m = await recv_json(ws)
        check(m["type"] == "error" and m["code"] == code and m["message"], "%s -> %s" % (text, m))
    await ws.send('{"op":"subscribe_all"}')
    m = await recv_json(ws)
    while m["type"] != "ack":
        m = await recv_json(ws)
    check(m["op"] == "subscribe_all" and m["subscriptions"] >= 6, "subscribe_all counts every job: %s" % m)
    await ws.send('{"op":"unsubscribe","jobs":["%s"]}' % a)
    m = await recv_json(ws)
    while m["type"] != "error":
        m = await recv_json(ws)
    check(m["code"] == "conflict", "unsubscribe under subscribe_all: %s" % m)
    (late,) = create_jobs(PORT, ["registry.local/late:1"])
    m = await recv_json(ws)
    while not (m["type"] == "update" and m["job"]["id"] == late):
        m = await recv_json(ws)
    log("subscribe_all delivers a job created later")
    await ws.send('{"op":"unsubscribe_all"}')
    m = await recv_json(ws)
    while m["type"] != "ack":
        m = await recv_json(ws)
    check(m["op"] == "unsubscribe_all" and m["subscriptions"] == 0, "unsubscribe_all: %s" % m)
    wait_final([a, b, c, d, e, late])
    await expect_silence(ws, 0.5)
    await ws.close()
    log("ops: ack counts, snapshots, limit, errors keep the connection, conflict, unsubscribe_all")


async def deletions():
    """table_jobs 16: new jobs evict finished ones, which their watchers see as deleted."""
    ws = await connect(PORT, "/ws/image-pull-all")
    await ws.send('{"op":"subscribe_all"}')
    live = set()
    m = await recv_json(ws)
    while m["type"] != "ack":
        m = await recv_json(ws)
    before = sum(rest(PORT, "GET", "/api/v1/stats")[1]["table"]["jobs"].values())
    ids = create_jobs(PORT, ["registry.local/evict%d:1" % i for i in range(14)])
    expected = before + len(ids) - 16
    deleted = []
    deadline = time.monotonic() + 30
    while len(deleted) < expected and time.monotonic() < deadline:
        m = await recv_json(ws)
        if m["type"] in ("snapshot", "update"):
            live.add(m["job"]["id"])
        elif m["type"] == "deleted":
            check(set(m) == {"type", "id", "epoch", "seq"} and len(m["epoch"]) == 16, "deleted: %s" % m)
            deleted.append(m)
    check(expected >= 4 and len(deleted) == expected, "evicted jobs are reported deleted: %s" % deleted)
    for m in deleted:
        status, _, _ = rest(PORT, "GET", "/api/v1/images/pull-jobs/" + m["id"])
        check(status == 404, "a deleted job is gone from the table: %s" % m["id"])
    wait_final(ids)
    await ws.close()
    log("deleted: %d evicted jobs reported" % len(deleted))


async def resync(epoch):
    ws = await connect(PORT, "/ws/image-pull-all?since=0123456789abcdef:5")
    await expect(ws, "resync")
    await ws.send('{"op":"subscribe_all"}')
    await expect(ws, "ack")
    m = await recv_json(ws)
    check(m["type"] == "snapshot", "after a resync, snapshots: %s" % m)
    await ws.close()
    log("another epoch: resync, then snapshots")
    status, doc, _ = rest(PORT, "GET", "/api/v1/stats")
    head = doc["table"]["ring_head"]
    ws = await connect(PORT, "/ws/image-pull-all?since=%s:%d" % (epoch, head + 1000))
    await expect(ws, "resync")
    await ws.close()
    log("a seq ahead of the table: resync")


async def closes():
    ws = await connect(PORT, "/ws/image-pull-all")
    await ws.send("x" * 5000)
    await expect_close(ws, 1009)
    for name, frame, code in (("invalid UTF-8", dict(opcode=1, payload=b'{"op":"\xff"}'), 1007),
                              ("unmasked frame", dict(opcode=1, payload=b"{}", mask=False), 1002),
                              ("reserved bit", dict(opcode=1, payload=b"{}", rsv=4), 1002),
                              ("reserved opcode", dict(opcode=3, payload=b""), 1002),
                              ("binary frame", dict(opcode=2, payload=b"\x00\x01"), 1003)):
        r = RawWs(PORT, "/ws/image-pull-all")
        check(r.status == 101, "upgrade")
        r.send_frame(**frame)
        got = r.close_code()
        r.close()
        check(got == code, "%s: close %s, expected %s" % (name, got, code))
    log("closes: 1009 oversized, 1007 invalid UTF-8, 1002 protocol errors, 1003 binary")

    # A message in fragments with a ping between them: the pong carries the ping's payload, the
    # assembled message is handled, and a close from the client is answered with its code.
    r = RawWs(PORT, "/ws/image-pull-all")
    check(r.status == 101, "upgrade")
    r.send_frame(1, b'{"op":', fin=False)
    r.send_frame(9, b"hb-123")
    r.send_frame(0, b'"subscribe', fin=False)
    r.send_frame(0, b'_all"}')
    f = r.read_frame()
    check(f == (10, b"hb-123"), "pong with the ping's payload, got %r" % (f,))
    acked = False
    while not acked:
        f = r.read_frame()
        check(f is not None and f[0] == 1, "a text message, got %r" % (f,))
        m = json.loads(f[1])
        acked = m.get("type") == "ack" and m.get("op") == "subscribe_all"
    r.send_frame(8, struct.pack("!H", 4001) + b"bye")
    check(r.close_code() == 4001, "the client's close code is echoed")
    check(r.read_frame() is None, "the server ends the connection after the close handshake")
    r.close()

    # A client still sending an oversized message gets its 1009 and then end of stream, not a
    # reset: the server drains what it sends after the close.
    r = RawWs(PORT, "/ws/image-pull-all")
    check(r.status == 101, "upgrade")
    r.sock.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 20) + os.urandom(4) + b"x" * 200000)
    check(r.close_code() == 1009, "oversized message: 1009")
    try:
        r.sock.sendall(b"y" * 100000)
        end = r.read_frame()
    except ConnectionResetError:
        end = "reset"
    check(end is None, "after the close the connection ends cleanly, got %r" % (end,))
    r.close()
    log("closes: fragments with a ping between them, pong payload, echoed client close, drained 1009")


async def heartbeat():
    ws = await connect(PORT, "/ws/image-pull-all")  # the library answers pings
    r = RawWs(PORT, "/ws/image-pull-all", timeout=10)  # answers nothing

    def silent_client():
        pings = 0
        while True:
            f = r.read_frame()
            if f is None:
                return pings
            pings += f[0] == 9

    t0 = time.monotonic()
    # In a thread: the event loop must go on answering the library client's pings.
    pings = await asyncio.to_thread(silent_client)
    waited = time.monotonic() - t0
    check(pings >= 1 and 2.5 < waited < 6, "a silent client is dropped after ping + pong timeout: %.1f s, %d pings" %
          (waited, pings))
    await ws.send('{"op":"unsubscribe_all"}')
    await expect(ws, "ack")
    await ws.close()
    log("heartbeat: pinged, silent client dropped after %.1f s, answering client kept" % waited)


def metrics():
    status, doc, _ = rest(PORT, "GET", "/api/v1/stats")
    w = doc["websocket"]
    for k in ("open", "opened", "messages_out", "messages_in", "coalesced", "bytes_out", "subscriptions", "resyncs",
              "slow_closes", "refused"):
        check(k in w, "stats websocket.%s" % k)
    check(w["opened"] >= 10 and w["messages_out"] > 0 and w["bytes_out"] > w["messages_out"] and w["resyncs"] >= 2,
          "stats figures: %s" % w)
    import urllib.request
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % PORT).read().decode()
    for name in ("imgpulld_websocket_connections ", "imgpulld_websocket_connections_total ",
                 "imgpulld_websocket_messages_sent_total ", "imgpulld_websocket_sent_bytes_total ",
                 "imgpulld_websocket_subscriptions ", "imgpulld_websocket_resyncs_total ",
                 "imgpulld_websocket_slow_closes_total ", "imgpulld_websocket_updates_coalesced_total "):
        check(name in text, "/metrics has %s" % name)
    log("metrics: %s" % w)


async def main():
    done_id, epoch = await single_job()
    await refusals(epoch)
    await ops(done_id)
    await deletions()
    await resync(epoch)
    await closes()
    await heartbeat()
    metrics()


run(main)
