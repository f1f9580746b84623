"""Serve channels from condafarm storage over HTTP on 127.0.0.1, read-only, for the length of one build.

py-rattler-build takes channel URLs but no S3 options: for `s3://` it only knows the AWS defaults
(virtual-host addressing, no custom endpoint style), so MinIO, a local endpoint or `--force-path-style` do
not work, and it would resolve credentials on its own. Serving S3 channels through condafarm's own storage
gives rattler-build a plain HTTP channel that uses exactly the endpoint, addressing style and credential chain
the user gave condafarm, and keeps credentials out of the build process entirely.

The server runs in a child process (`main()`): py-rattler-build holds the
GIL for the whole build, so a server thread in the building process would never answer. The child reads the
channels as JSON on stdin, prints its URLs as one JSON line, and exits when its stdin closes, so it never
outlives the build, even one that crashes.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..errors import AccessDenied, CondafarmError, StorageError
from ..storage import Storage, open_storage
from ..storage.cache_control import cache_control
from ..storage.location import Channel, S3Options, parse_channel

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
            print(f"condafarm channel server: {exc}", file=sys.stderr, flush=True)
            self.send_error(403 if isinstance(exc, AccessDenied) else 502, str(exc).splitlines()[0])
            return
        if found is None or info is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(info.size))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Cache-Control", cache_control(found[1]))
        self.end_headers()
        if body:
            with found[0].stream(info) as stream:
                shutil.copyfileobj(stream, self.wfile, _CHUNK)

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def log_message(self, format: str, *args: object) -> None:
        """Requests are not logged: the build log is what the user reads."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, storages: list[Storage]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        # A random path prefix, so other local users cannot read the channels while a build runs.
        self.token = secrets.token_urlsafe(16)
        self.storages = storages

    def urls(self) -> list[str]:
        host, port = self.server_address[:2]
        return [f"http://{host!s}:{port}/{self.token}/{i}" for i in range(len(self.storages))]


@contextlib.contextmanager
def serve_channels(channels: Sequence[Channel]) -> Iterator[list[str]]:
    """HTTP URLs on 127.0.0.1 for `channels`, valid inside the `with` block."""
    if not channels:
        yield []
        return
    spec = [{"url": c.url, **asdict(c.s3)} for c in channels]
    # `-c` rather than `-m`: runpy warns when the package (condafarm.build) already imported this module.
    command = [sys.executable, "-c", f"from {__name__} import main; main()"]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps(spec) + "\n")
        child.stdin.flush()
        line = child.stdout.readline()
        if not line:
            raise StorageError("the local channel server for the S3 channels did not start (see the messages above)")
        yield list(json.loads(line))
    finally:
        with contextlib.suppress(OSError):
            child.stdin.close()  # type: ignore[union-attr]
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main() -> None:
    """The child process: serve the channels read from stdin until stdin closes."""
    spec = json.loads(sys.stdin.readline())
    storages = [open_storage(parse_channel(c.pop("url"), S3Options(**c))) for c in spec]
    server = _Server(storages)

    def stop_when_the_parent_closes_stdin() -> None:
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=stop_when_the_parent_closes_stdin, daemon=True).start()
    print(json.dumps(server.urls()), flush=True)
    server.serve_forever()
    server.server_close()
