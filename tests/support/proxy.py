"""An HTTP proxy on 127.0.0.1 in front of an S3 server that counts what goes through it and fails chosen requests.

Counting: `proxy.tally` holds the S3 operations and the bytes read since its last `reset()` (bench/ counts
py-rattler's requests this way, which has no report of its own).

Faults: `plan(method, path, n)` decides for the n-th request (0-based): "pass", "500" (InternalError), "503"
(SlowDown), "drop" (close the connection before forwarding), "drop-after" (forward, then close the
connection without answering: the write happened, the client never hears so and retries) or "corrupt"
(forward the request with the last byte of its body flipped, as a faulty network path would). Answers that
go wrong: "hang" (never answer, as a stuck store does), "truncate" (announce the whole body, send half of it
and close: a torn read), "short" (send half the body as if it were all of it) or "trickle" (send the body in
16 pieces 0.25 s apart: a slow link that never stalls).

Stores that answer differently: `rewrite(method, path, body)` returns the response body to send instead.

Stores that ignore some headers: `drop_headers` names request headers never forwarded (dropping If-None-Match
and If-Match stands in for S3-compatible stores that ignore conditional writes).
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Plan = Callable[[str, str, int], str]

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "expect",
    "proxy-connection",
}


class Tally:
    """What went through the proxy since the last `reset()`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.ops: Counter[str] = Counter()
            self.pkg_bytes = 0
            self.other_bytes = 0
            self.pkg_keys: set[str] = set()

    def add(self, op: str, key: str, nbytes: int) -> None:
        with self.lock:
            self.ops[op] += 1
            if op.startswith("GetObject"):
                if key.endswith((".conda", ".tar.bz2")):
                    self.pkg_bytes += nbytes
                    self.pkg_keys.add(key)
                else:
                    self.other_bytes += nbytes

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "ops": dict(self.ops),
                "requests": sum(self.ops.values()),
                "pkg_bytes": self.pkg_bytes,
                "other_bytes": self.other_bytes,
                "bytes_read": self.pkg_bytes + self.other_bytes,
                "pkg_objects": len(self.pkg_keys),
            }


def classify(method: str, path: str, query: str, headers: Any) -> tuple[str, str]:
    """(S3 operation name, object key) of a path-style request."""
    parts = unquote(path).lstrip("/").split("/", 1)
    key = parts[1] if len(parts) > 1 else ""
    q = parse_qs(query, keep_blank_values=True)
    if method == "GET":
        if not key:
            return ("ListObjectsV2" if "list-type" in q else "ListObjects"), key
        return ("GetObject(range)" if headers.get("Range") else "GetObject"), key
    if method == "HEAD":
        return ("HeadObject" if key else "HeadBucket"), key
    if method == "PUT":
        if "partNumber" in q:
            return "UploadPart", key
        return ("CopyObject" if headers.get("x-amz-copy-source") else "PutObject"), key
    if method == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload", key
        if "uploadId" in q:
            return "CompleteMultipartUpload", key
        return ("DeleteObjects" if "delete" in q else "POST"), key
    if method == "DELETE":
        return ("AbortMultipartUpload" if "uploadId" in q else "DeleteObject"), key
    return method, key


def _passes(method: str, path: str, n: int) -> str:
    return "pass"


class S3Proxy:
    """A threaded HTTP/1.1 reverse proxy, serving from the constructor until `stop()`."""

    def __init__(
        self,
        upstream_port: int,
        plan: Plan = _passes,
        drop_headers: Collection[str] = (),
        rewrite: Callable[[str, str, bytes], bytes] | None = None,
    ) -> None:
        self.tally = Tally()
        self._stopped = threading.Event()
        dropped = HOP_BY_HOP | {name.lower() for name in drop_headers}
        self.count = 0
        self.injected: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else Nagle + delayed ACK add ~40 ms to every keep-alive request
            upstream: http.client.HTTPConnection | None = None

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    if self.upstream is not None:
                        self.upstream.close()

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _fail(self, action: str) -> None:
                code = "InternalError" if action == "500" else "SlowDown"
                payload = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                self.send_response(int(action))
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _exchange(self, body: bytes, headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes]:
                if self.upstream is None:
                    self.upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=300)
                    self.upstream.connect()
                    self.upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    self.upstream.request(self.command, self.path, body=body, headers=headers)
                    resp = self.upstream.getresponse()
                    return resp, resp.read()
                except (http.client.HTTPException, OSError):
                    self.upstream.close()
                    self.upstream = None
                    raise

            def _upstream(self, body: bytes, headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes]:
                try:
                    return self._exchange(body, headers)
                except (http.client.HTTPException, OSError):
                    # the server may have closed the kept-alive connection meanwhile: once more on a new one
                    return self._exchange(body, headers)

            def _forward(self) -> None:
                body = self._body()
                with proxy._lock:
                    n = proxy.count
                    proxy.count += 1
                action = plan(self.command, self.path, n)
                if action != "pass":
                    proxy.injected.append((action, self.command, self.path))
                if action == "drop":
                    self.close_connection = True
                    return
                if action == "hang":
                    proxy._stopped.wait()
                    self.close_connection = True
                    return
                if action in ("500", "503"):
                    self._fail(action)
                    return
                if action == "corrupt" and body:
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                resp, data = self._upstream(body, headers)
                split = urlsplit(self.path)
                proxy.tally.add(*classify(self.command, split.path, split.query, self.headers), len(data))
                if action == "drop-after":
                    self.close_connection = True
                    return
                if rewrite is not None:
                    data = rewrite(self.command, self.path, data)
                announced = len(data)
                if action in ("truncate", "short"):
                    data = data[: len(data) // 2]
                    announced = len(data) if action == "short" else announced
                    self.close_connection = action == "truncate"
                self.send_response_only(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() in HOP_BY_HOP or (k.lower() == "content-length" and self.command != "HEAD"):
                        continue
                    self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(announced))
                # headers and body in one write
                self._headers_buffer.append(b"\r\n")
                if action == "trickle":
                    self.flush_headers()
                    piece = max(1, -(-len(data) // 16))
                    for start in range(0, len(data), piece):
                        time.sleep(0.25)
                        self.wfile.write(data[start : start + piece])
                        self.wfile.flush()
                    return
                if self.command != "HEAD" and data:
                    self._headers_buffer.append(data)
                self.flush_headers()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def fault_proxy(upstream_port: int, plan: Plan) -> Iterator[S3Proxy]:
    """An `S3Proxy` that fails the requests `plan` picks, for the duration of a `with` block."""
    proxy = S3Proxy(upstream_port, plan)
    try:
        yield proxy
    finally:
        proxy.stop()
