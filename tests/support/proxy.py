"""An HTTP proxy on 127.0.0.1 in front of an S3 server that counts what goes through it and fails chosen requests.

Counting: `proxy.tally` (`support.tally.Tally`) holds the S3 operations and the bytes read since its last
`reset()` (bench/ counts py-rattler's requests this way, which has no report of its own), and every exchange by
operation, key pattern and status with the bytes sent and received (bench/ counts failed conditional writes and
repodata rewrites so).

Faults: a `support.faults.Faults` plan aims faults at named requests; `proxy.hits` records which fault met
which request and `proxy.log` every exchange with its outcome, for tests to assert on.

Checksums: with `s3_checksums` the proxy adds what AWS S3 does with `x-amz-checksum-sha256` and moto does not
(see `S3Checksums`), so uploads are judged as S3 would judge them.

Hooks: `on_request(request)` is called in the proxy's thread before a request is forwarded (it may block, to
hold one client at a chosen step while others go on), and `on_exchange(exchange)` once it has been answered, so
a test can wait on an event ("all eight ready marks are written") instead of a time window.
Another server at an endpoint: `port` binds a new proxy where a stopped one answered.

Stores that ignore some headers: `drop_headers` names request headers never forwarded (dropping If-None-Match
and If-Match stands in for S3-compatible stores that ignore conditional writes).

Old objects: with `aged` (seconds) every answer's Last-Modified is that much earlier, so an HTTP client's cache
judges the copy it keeps as it would an object written that long ago (heuristic freshness grows with age).

Atomic conditional writes: moto checks If-Match/If-None-Match and then stores the object without a lock, so two
simultaneous writers can both win (seen in bench/'s publish storms: a record lost with every publisher exiting
0). With `serial_writes` the proxy forwards the writes of one key one at a time, as S3 orders them.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import re
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from support.faults import FAILURES, Fault, Faults, Hit, Request
from support.tally import Tally

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


#: Operations that change which object a key holds (an UploadPart does not, until its upload completes).
KEY_WRITES = frozenset({"PutObject", "CopyObject", "CompleteMultipartUpload", "DeleteObject"})


def classify(method: str, path: str, query: str, headers: Any) -> tuple[str, str]:
    """(S3 operation name, object key) of a path-style request."""
    parts = unquote(path).lstrip("/").split("/", 1)
    key = parts[1] if len(parts) > 1 else ""
    q = parse_qs(query, keep_blank_values=True)
    if method == "GET":
        if not key:
            if "uploads" in q:
                return "ListMultipartUploads", key
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


@dataclass(frozen=True)
class Exchange:
    """One request through the proxy and what became of it: the fault action (or "pass") and the status the
    client got (None: the connection was closed instead)."""

    request: Request
    action: str
    status: int | None


class S3Checksums:
    """What AWS S3 does with `x-amz-checksum-sha256` that moto does not: a PutObject or UploadPart whose body
    does not match it is refused with 400 BadDigest; an accepted one is answered with the checksum, and a
    CompleteMultipartUpload with the composite checksum (the SHA-256 of the parts' SHA-256s, then `-N`)."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    @staticmethod
    def refuses(request: Request, body: bytes) -> bool:
        claimed = request.headers.get("x-amz-checksum-sha256")
        return claimed is not None and claimed != base64.b64encode(hashlib.sha256(body).digest()).decode()

    def answer(self, request: Request, body: bytes, data: bytes) -> tuple[dict[str, str], bytes]:
        """Headers to add to a successful answer, and its body (with the composite checksum added)."""
        query = parse_qs(urlsplit(request.path).query)
        claimed = request.headers.get("x-amz-checksum-sha256")
        if request.op in ("PutObject", "UploadPart") and claimed is not None:
            if request.op == "UploadPart":
                with self._lock:
                    self._parts[query["uploadId"][0], int(query["partNumber"][0])] = hashlib.sha256(body).digest()
            return {"x-amz-checksum-sha256": claimed}, data
        if request.op == "CompleteMultipartUpload":
            numbers = [int(n) for n in re.findall(rb"<PartNumber>(\d+)</PartNumber>", body)]
            with self._lock:
                digests = [self._parts.get((query["uploadId"][0], n)) for n in numbers]
            if numbers and all(d is not None for d in digests):
                composite = base64.b64encode(hashlib.sha256(b"".join(d for d in digests if d)).digest()).decode()
                element = f"<ChecksumSHA256>{composite}-{len(numbers)}</ChecksumSHA256>".encode()
                data = data.replace(b"</CompleteMultipartUploadResult>", element + b"</CompleteMultipartUploadResult>")
        return {}, data


class S3Proxy:
    """A threaded HTTP/1.1 reverse proxy, serving from the constructor until `stop()`."""

    def __init__(
        self,
        upstream_port: int,
        faults: Faults | None = None,
        *,
        s3_checksums: bool = False,
        drop_headers: Collection[str] = (),
        serial_writes: bool = False,
        rewrite: Callable[[str, str, bytes], bytes] | None = None,
        on_request: Callable[[Request], None] | None = None,
        on_exchange: Callable[[Exchange], None] | None = None,
        aged: float = 0.0,
        port: int = 0,
    ) -> None:
        self.tally = Tally()
        dropped = HOP_BY_HOP | {name.lower() for name in drop_headers}
        self.count = 0
        self.faults = faults
        self.hits: list[Hit] = []
        self.log: list[Exchange] = []
        self.checksums = S3Checksums() if s3_checksums else None
        self._lock = threading.Lock()
        self._logged = threading.Condition()  # notified as each exchange enters `log`
        self._answered = 0  # exchanges logged so far (a test may clear `log`)
        self._stopped = threading.Event()  # what a "hang" waits for
        self._key_locks: dict[str, threading.Lock] | None = {} if serial_writes else None
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

            def _fail(self, status: int, code: str) -> None:
                payload = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                self.send_response(status)
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
                split = urlsplit(self.path)
                op, key = classify(self.command, split.path, split.query, self.headers)
                with proxy._lock:
                    n = proxy.count
                    proxy.count += 1
                request = Request(n, self.command, self.path, op, key, {k.lower(): v for k, v in self.headers.items()})
                if on_request is not None:
                    on_request(request)
                hit = proxy.faults.decide(request) if proxy.faults is not None else None
                action = hit.action if hit is not None else "pass"
                if hit is not None:
                    proxy.hits.append(hit)
                status = self._answer(request, action, body)
                exchange = Exchange(request, action, status)
                if on_exchange is not None:
                    on_exchange(exchange)
                with proxy._logged:
                    proxy.log.append(exchange)
                    proxy._answered += 1
                    proxy._logged.notify_all()

            def _answer(self, request: Request, action: str, body: bytes) -> int | None:
                """Carry out `action` for the request; the status the client got (None: connection closed)."""
                if action == "drop":
                    self.close_connection = True
                    return None
                if action == "hang":  # accept the request, never answer (until the proxy stops)
                    proxy._stopped.wait()
                    self.close_connection = True
                    return None
                if action in FAILURES:
                    self._fail(int(action), FAILURES[action])
                    return int(action)
                if action == "not-modified":  # as moto answers a file changed within its cached copy's second
                    self.send_response(304)
                    self.send_header("ETag", '"a-newer-version"')
                    self.end_headers()
                    return 304
                if action == "corrupt" and body:
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                if proxy.checksums is not None and proxy.checksums.refuses(request, body):
                    self._fail(400, "BadDigest")
                    return 400
                headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                with proxy._writing(request):
                    resp, data = self._upstream(body, headers)
                proxy.tally.add(request.op, request.key, len(data), status=resp.status, sent=len(body))
                if action == "drop-after":
                    self.close_connection = True
                    return None
                added: dict[str, str] = {}
                if proxy.checksums is not None and resp.status == 200:
                    added, data = proxy.checksums.answer(request, body, data)
                if rewrite is not None:
                    data = rewrite(self.command, self.path, data)
                announced = len(data)
                if action in ("truncate", "short"):  # torn: the connection breaks, or the length says less
                    data = data[: len(data) // 2]
                    announced = len(data) if action == "short" else announced
                    self.close_connection = action == "truncate"
                self.send_response_only(resp.status, resp.reason)
                for k, v in [*resp.getheaders(), *added.items()]:
                    if k.lower() in HOP_BY_HOP or (k.lower() == "content-length" and self.command != "HEAD"):
                        continue
                    if k.lower() == "last-modified" and aged:
                        v = formatdate(parsedate_to_datetime(v).timestamp() - aged, usegmt=True)
                    self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(announced))
                # headers and body in one write
                self._headers_buffer.append(b"\r\n")
                if action == "trickle":  # the body in 16 pieces a quarter second apart: slow, never silent
                    self.flush_headers()
                    piece = max(1, -(-len(data) // 16))
                    for start in range(0, len(data), piece):
                        time.sleep(0.25)
                        self.wfile.write(data[start : start + piece])
                        self.wfile.flush()
                    return resp.status
                if self.command != "HEAD" and data:
                    self._headers_buffer.append(data)
                self.flush_headers()
                return resp.status

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def settled(self, timeout: float = 60) -> list[Exchange]:
        """`log` once every request that reached the proxy is in it. A client has its answer just before the
        proxy logs the exchange, so a test that reads `log` right after its last call must wait for this."""
        with self._logged:
            if not self._logged.wait_for(lambda: self._answered == self.count, timeout):
                raise AssertionError(f"{self.count - self._answered} request(s) were never answered")
        return list(self.log)

    def _writing(self, request: Request) -> AbstractContextManager[object]:
        """With `serial_writes`, the lock of the key a write changes (held while moto answers it)."""
        if self._key_locks is None or request.op not in KEY_WRITES:
            return nullcontext()
        with self._lock:
            return self._key_locks.setdefault(request.key, threading.Lock())

    def stop(self) -> None:
        self._stopped.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def fault_proxy(
    upstream_port: int,
    *faults: Fault,
    s3_checksums: bool = False,
    on_request: Callable[[Request], None] | None = None,
    on_exchange: Callable[[Exchange], None] | None = None,
) -> Iterator[S3Proxy]:
    """An `S3Proxy` carrying out `faults` (and calling the hooks), for the duration of a `with` block."""
    proxy = S3Proxy(
        upstream_port, Faults(*faults), s3_checksums=s3_checksums, on_request=on_request, on_exchange=on_exchange
    )
    try:
        yield proxy
    finally:
        proxy.stop()
