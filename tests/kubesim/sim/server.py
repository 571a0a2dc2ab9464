"""HTTP/1.1 front end: keep-alive, chunked streams, auth, faults, routing.

A thread per connection (``ThreadingHTTPServer`` with daemon threads) keeps
the simulator simple; watch and log streams are written with one
``sendall`` per batch so a burst to one watcher costs few system calls.
"""

import json
import select
import socket
import ssl
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import util
from .api import DISCOVERY, Api, parse_route
from .errors import ApiError

_CHUNK_LIMIT = 1 << 20
_UNAUTHENTICATED = ("/version", "/healthz", "/livez", "/readyz")


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, port, cluster, control, token=None, tls_context=None, verbose=False):
        super().__init__(("127.0.0.1", port), Handler)
        self.cluster = cluster
        self.api = Api(cluster)
        self.control = control
        self.token = token
        self.tls_context = tls_context
        self.verbose = verbose
        self.conn_lock = threading.Lock()
        self.conns = set()

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls_context is not None:
            sock = self.tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def drop_connections(self, keep=None):
        """Cut every client connection but ``keep`` as an apiserver crash would."""
        with self.conn_lock:
            victims = [c for c in self.conns if c is not keep]
        for c in victims:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(victims)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubesim"
    sys_version = ""

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (OSError, ssl.SSLError):
                self.request.close()
                raise
            self.request.settimeout(None)
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self.server.conn_lock:
            self.server.conns.add(self.connection)

    def finish(self):
        with self.server.conn_lock:
            self.server.conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("kubesim: %s %s\n" % (self.address_string(), fmt % args))

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = lambda self: self._dispatch()

    # -- request adapter used by the API modules ---------------------------------

    def _dispatch(self):
        parts = urlsplit(self.path)
        self.req_path = parts.path
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self._body = None
        self._streaming = False
        self.status_code = 0
        self._verb, self._query_string, self._noted = "other", parts.query, False
        try:
            if not self.req_path.startswith("/_sim/"):
                self._authenticate()
                route = parse_route(self.req_path)
                self._verb = route.verb(self.command, self.query) if route else "discovery"
                fault = self.server.control.faults.take(self.command, self.path)
                if fault is not None and fault["delay_ms"] > 0:
                    time.sleep(fault["delay_ms"] / 1000.0)  # then answered as usual, or with fault["code"]
                if fault is not None and fault["code"] != 0:
                    headers = {"Retry-After": str(fault["retry_after"])} if fault["code"] in (429, 503) else {}
                    details = {"retryAfterSeconds": fault["retry_after"]} if headers else None
                    raise ApiError(fault["code"], fault["message"] or "injected failure (%d)" % fault["code"],
                                   details=details, headers=headers)
                result = self._route(route)
            else:
                self._verb = "sim"
                result = self.server.control.handle(self, self.command, self.req_path)
            if result is not None and not self._streaming:
                code, body = result[0], result[1]
                ctype = result[2] if len(result) > 2 else "application/json"
                if not isinstance(body, (bytes, bytearray)):
                    body = util.dumps(body)
                self.send(code, body, ctype)
        except ApiError as e:
            self._send_error(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # the simulator must answer, not hang the client
            traceback.print_exc()
            self._send_error(ApiError(500, "internal simulator error: %s" % e))
        finally:
            self._note()  # a request that got no answer (the client went away)

    def _note(self):
        """Records the request in the log, once, as soon as its status is decided: before the
        first byte of the answer, so a client that has seen an answer (a stream included) to its
        end finds the request in the log, however late this thread runs afterwards."""
        if not self._noted and self._verb != "sim":
            self._noted = True
            self.server.control.note(self.command, self._verb, self.req_path, self._query_string, self.status_code,
                                     self.headers.get("User-Agent", ""))

    def _route(self, route):
        if route is not None:
            return self.server.api.handle(self, route)
        if self.command != "GET":
            raise ApiError(405, "the server does not allow this method on the requested resource",
                           "MethodNotAllowed")
        path = self.req_path.rstrip("/") or "/"
        if path in DISCOVERY:
            return 200, DISCOVERY[path]()
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, b"ok", "text/plain"
        raise ApiError(404, "the server could not find the requested resource", "NotFound")

    def _authenticate(self):
        token = self.server.token
        if not token:
            return
        got = self.headers.get("Authorization")
        if got is None and self.req_path in _UNAUTHENTICATED:
            return
        if got != "Bearer " + token:
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _send_error(self, e):
        if self._streaming:
            self.abort()
            return
        try:
            self.send(e.code, util.dumps(e.status()), "application/json", e.headers)
        except OSError:
            self.close_connection = True

    def body(self):
        if self._body is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                parts = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
                self._body = b"".join(parts)
            else:
                n = int(self.headers.get("Content-Length") or 0)
                self._body = self.rfile.read(n) if n else b""
        return self._body

    def send(self, code, body, ctype="application/json", headers=None):
        self.body()  # an unread request body would desynchronise keep-alive
        self.status_code = code
        self._note()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self._count(len(body))
        self.wfile.write(body)

    def start_chunked(self, ctype):
        self.body()
        self.status_code = 200
        self._note()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self._streaming = True

    def _count(self, n):
        if self._verb != "sim":
            self.server.control.faults.add_bytes(self._verb, n)

    def write_chunk(self, data):
        if data:
            self._count(len(data))
            self.connection.sendall(b"%x\r\n" % len(data) + data + b"\r\n")

    def write_lines(self, lines):
        """Send many encoded lines as few chunks as possible, each up to 1 MiB."""
        batch, size = [], 0
        for line in lines:
            batch.append(line)
            size += len(line)
            if size >= _CHUNK_LIMIT:
                self.write_chunk(b"".join(batch))
                batch, size = [], 0
        if batch:
            self.write_chunk(b"".join(batch))

    def end_chunked(self):
        self.connection.sendall(b"0\r\n\r\n")

    def abort(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def peer_closed(self):
        if isinstance(self.connection, ssl.SSLSocket):
            return False
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    @property
    def method(self):
        return self.command


def json_body(handler):
    raw = handler.body()
    if not raw:
        return {}
    try:
        obj = json.loads(raw)
    except ValueError as e:
        raise ApiError(400, "request body is not JSON: %s" % e, "BadRequest")
    if not isinstance(obj, dict):
        raise ApiError(400, "request body must be a JSON object", "BadRequest")
    return obj

