#!/usr/bin/python3
"""Kubernetes API simulator for imgpulld tests and demos.

Usage: python3 tests/kubesim/kubesim.py --port PORT [--nodes N] [--scenario demo]
Prints "listening on 127.0.0.1:PORT" once it accepts connections (with
--tls, a "ca-file PATH" line first).  See tests/kubesim/README.md.
"""

import argparse
import atexit
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sim.cluster import Cluster  # noqa: E402
from sim.config import DEFAULT_PRELOAD, SimConfig  # noqa: E402
from sim.control import Control  # noqa: E402
from sim.scenario import DemoScenario  # noqa: E402
from sim.server import SimServer  # noqa: E402


def make_tls_context():
    """Create a throw-away self-signed certificate with the openssl CLI."""
    tmp = tempfile.mkdtemp(prefix="kubesim-tls-")
    atexit.register(shutil.rmtree, tmp, True)
    cert, key = os.path.join(tmp, "ca.crt"), os.path.join(tmp, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", key, "-out", cert, "-subj", "/CN=kubesim",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
                    "-addext", "extendedKeyUsage=serverAuth"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx, cert


def parse_args(argv):
    p = argparse.ArgumentParser(description="Kubernetes API simulator")
    p.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0 picks a free one)")
    p.add_argument("--nodes", type=int, default=3, help="initial nodes node-1..node-N")
    p.add_argument("--scenario", choices=["demo"], help="built-in workload to run")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated self-signed certificate")
    p.add_argument("--token", help="require Authorization: Bearer TOKEN")
    p.add_argument("--log-rate", type=float, default=5.0, help="generated container log lines per second")
    p.add_argument("--pull-ms", type=int, default=800, help="default simulated image pull duration")
    p.add_argument("--fail-pattern", action="append", default=[], help="regex of images that fail to pull")
    p.add_argument("--preload", action="append", default=None,
                   help="image every node starts with (repeatable; default: imgpulld's default pull helper; "
                        "--preload '' for none)")
    p.add_argument("--podgc-period-ms", type=int, default=20000,
                   help="pod garbage collector sweep period (Kubernetes: 20 s)")
    p.add_argument("--podgc-quarantine-ms", type=int, default=40000,
                   help="how long a pod's node must stay missing before its pods are collected (Kubernetes: 40 s)")
    p.add_argument("--history", type=int, default=10000, help="watch history kept for resuming (events)")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    preload = DEFAULT_PRELOAD if args.preload is None else [i for i in args.preload if i]
    config = SimConfig(pull_ms=args.pull_ms, log_rate=args.log_rate, fail_patterns=args.fail_pattern,
                       preload=preload)
    config.podgc_period_ms, config.podgc_quarantine_ms = args.podgc_period_ms, args.podgc_quarantine_ms
    cluster = Cluster(nodes=args.nodes, history=args.history, config=config)
    control = Control(cluster)
    tls, ca_file = (None, None)
    if args.tls:
        tls, ca_file = make_tls_context()
    server = SimServer(args.port, cluster, control, token=args.token, tls_context=tls, verbose=args.verbose)
    control.server = server
    cluster.start()
    if args.scenario == "demo":
        DemoScenario(cluster).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if ca_file:
        print("ca-file %s" % ca_file, flush=True)
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
