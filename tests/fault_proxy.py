"""A small HTTP proxy on 127.0.0.1 in front of the S3 server that fails chosen requests, as networks and S3 do.

`plan(method, path, n)` decides for the n-th request (0-based): "pass", "500" (InternalError), "503"
(SlowDown), "drop" (close the connection before forwarding), "drop-after" (forward, then close the
connection without answering: the write happened, the client never hears so and retries) or "corrupt"
(forward the request with the last byte of its body flipped, as a faulty network path would).
"""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Plan = Callable[[str, str, int], str]

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class FaultProxy:
    def __init__(self, upstream_port: int, plan: Plan) -> None:
        self.upstream_port, self.plan = upstream_port, plan
        self.count = 0
        self.injected: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    n = proxy.count
                    proxy.count += 1
                action = proxy.plan(self.command, self.path, n)
                if action != "pass":
                    proxy.injected.append((action, self.command, self.path))
                if action == "drop":
                    self.close_connection = True
                    return
                if action in ("500", "503"):
                    code = "InternalError" if action == "500" else "SlowDown"
                    payload = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                    self.send_response(int(action))
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if action == "corrupt" and body:
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                upstream.close()
                if action == "drop-after":
                    self.close_connection = True
                    return
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                length_header = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length_header or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def fault_proxy(upstream_port: int, plan: Plan) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream_port, plan)
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
