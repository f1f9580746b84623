"""`env create/enter --offline`: proof that making a job's environment reaches nothing but its channels.

While an environment is solved and installed, every HTTP(S) request of this process (py-rattler's, boto3's) goes
through a gate: a forward proxy on 127.0.0.1 that passes only requests under the channels' URLs (plain HTTP:
by URL prefix; HTTPS: by host and port, the path being encrypted) and refuses any other with 403, remembering
it. The environment's records are also checked before anything is downloaded: a record whose URL lies outside
the channels (a repodata `base_url` pointing elsewhere) is refused. Either way the command fails with
`OfflineViolation` (exit 10) naming the first URL outside the channels, even where py-rattler would have
carried on without it. A folder channel needs no network: every request is refused.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import http.server
import logging
import os
import select
import socket
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from ...errors import OfflineViolation
from ...storage.timeouts import timeouts

log = logging.getLogger(__name__)

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_BYPASS_VARIABLES = ("NO_PROXY", "no_proxy")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer", "upgrade"}
_active: contextvars.ContextVar[Gate | None] = contextvars.ContextVar("condafarm_offline_gate", default=None)


def active() -> Gate | None:
    """The gate of the environment being made, if it is made `--offline`."""
    return _active.get()


def guarded(enabled: bool) -> contextlib.AbstractContextManager[Gate | None]:
    """A gate around making an environment when `enabled` (and none is open already), else nothing."""
    return Gate() if enabled and active() is None else contextlib.nullcontext()


def _origin(url: str) -> tuple[str, str, int] | None:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), parts.port or (443 if scheme == "https" else 80)


class Gate:
    """The channels a job may reach, the proxy that enforces it, and what it refused."""

    def __init__(self) -> None:
        self.roots: list[str] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._saved: dict[str, str | None] = {}
        self._token: contextvars.Token[Gate | None] | None = None

    def allow(self, channel_urls: Iterable[str]) -> None:
        """Let requests under these channel URLs through (py-rattler's own: S3 channels as their HTTP root)."""
        self.roots = sorted({url.rstrip("/") + "/" for url in channel_urls})

    def permits(self, url: str) -> bool:
        return any(url.startswith(root) for root in self.roots)

    def permits_tunnel(self, host: str, port: int) -> bool:
        return ("https", host.lower(), port) in {_origin(root) for root in self.roots}

    def refuse(self, what: str) -> None:
        with self._lock:
            self.refused.append(what)
        log.warning("offline: refused %s, which is not under the channels", what)

    def check_records(self, urls: Iterable[str]) -> None:
        """Refuse, before any download, package URLs outside the channels."""
        for url in urls:
            if not self.permits(url):
                self.refuse(url)
                raise self.violation()

    def violation(self) -> OfflineViolation:
        first = self.refused[0]
        return OfflineViolation(
            f"offline: the environment needed {first}, which is not under its channels "
            f"({', '.join(self.roots) or 'none'}); mirror what it needs into a channel (`condafarm mirror`)"
        )

    def __enter__(self) -> Gate:
        gate = self

        class Handler(_ProxyHandler):
            pass

        Handler.gate = gate
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        proxy = f"http://127.0.0.1:{self._server.server_port}"
        for name in (*_PROXY_VARIABLES, *_BYPASS_VARIABLES):
            self._saved[name] = os.environ.get(name)
            os.environ[name] = proxy if name in _PROXY_VARIABLES else ""
        self._token = _active.set(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if self._token is not None:
            _active.reset(self._token)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self.refused and not isinstance(exc, OfflineViolation):
            raise self.violation() from exc


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    """Forward requests under the channels, tunnel HTTPS to their hosts, refuse everything else."""

    gate: Gate

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("offline gate: " + format, *args)

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        if not port.isdigit() or not self.gate.permits_tunnel(host.strip("[]"), int(port)):
            self.gate.refuse(f"https://{self.path}/")
            self.send_error(403, "condafarm offline: not a channel")
            return
        limits = timeouts()
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=limits.connect)
        except OSError as exc:
            self.send_error(502, f"cannot reach {self.path}: {exc}")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        _relay(self.connection, upstream, limits.read)

    def _forward(self) -> None:
        url = self.path
        if not self.gate.permits(url):
            self.gate.refuse(url)
            self.send_error(403, "condafarm offline: not a channel")
            return
        origin = _origin(url)
        assert origin is not None  # `permits` only passes http(s) URLs under a root
        scheme, host, port = origin
        parts = urlsplit(url)
        limits = timeouts()
        kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        connection = kind(host, port, timeout=limits.read)
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(self.command, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers)
            response = connection.getresponse()
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "transfer-encoding":
                    self.send_header(key, value)
            self.send_header("Connection", "close")
            self.end_headers()
            while chunk := response.read(1024 * 1024):
                self.wfile.write(chunk)
        except OSError as exc:
            log.debug("offline gate: %s failed: %s", url, exc)
        finally:
            connection.close()
            self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward


def _relay(client: socket.socket, upstream: socket.socket, idle: float) -> None:
    """Copy bytes both ways until either side closes or both stay silent for `idle` seconds."""
    sockets = [client, upstream]
    try:
        while True:
            ready, _, _ = select.select(sockets, [], [], idle)
            if not ready:
                return
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()


__all__ = ["Gate", "active", "guarded"]
