"""Serve channels from condafarm storage over HTTP on 127.0.0.1, read-only, for the length of one build.

py-rattler-build takes channel URLs but no S3 options: for `s3://` it only knows the AWS defaults
(virtual-host addressing, no custom endpoint style), so MinIO, a local endpoint or `--force-path-style` do
not work, and it would resolve credentials on its own. Serving S3 channels through condafarm's own storage
gives rattler-build a plain HTTP channel that uses exactly the endpoint, addressing style and credential chain
the user gave condafarm, and keeps credentials out of the build process entirely.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from ..errors import AccessDenied, CondafarmError
from ..storage import Storage

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _object(self) -> tuple[Storage, str] | None:
        parts = self.path.split("?", 1)[0].lstrip("/").split("/", 2)
        if len(parts) != 3 or parts[0] != self.server.token or not parts[1].isdigit():
            return None
        index = int(parts[1])
        if index >= len(self.server.storages):
            return None
        return self.server.storages[index], parts[2]

    def _serve(self, body: bool) -> None:
        found = self._object()
        try:
            info = found[0].head(found[1]) if found else None
        except CondafarmError as exc:
            log.warning("channel server: %s", exc)
            self.send_error(403 if isinstance(exc, AccessDenied) else 502, str(exc).splitlines()[0])
            return
        if found is None or info is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(info.size))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if body:
            with found[0].stream(info) as stream:
                shutil.copyfileobj(stream, self.wfile, _CHUNK)

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("channel server: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        # A random path prefix, so other local users cannot read the channels while a build runs.
        self.token = secrets.token_urlsafe(16)
        self.storages: list[Storage] = []


class ChannelServer:
    """A context manager: `url_for(storage)` gives an `http://127.0.0.1:PORT/...` channel URL for it."""

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def url_for(self, storage: Storage) -> str:
        if self._server is None:
            self._server = _Server()
            self._thread = threading.Thread(target=self._server.serve_forever, name="channel-server", daemon=True)
            self._thread.start()
        self._server.storages.append(storage)
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{self._server.token}/{len(self._server.storages) - 1}"

    def __enter__(self) -> ChannelServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
