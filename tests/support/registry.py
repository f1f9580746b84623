"""An OCI distribution registry on 127.0.0.1: Debian's `docker-registry` (distribution 2.8), storing in a folder."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def require_tools(*tools: str) -> None:
    """Skip when a tool is missing on a developer's host; fail where .ci/run installed them
    (CONDAFARM_IMAGE_TOOLS=1), so a broken install there is not a silent skip."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing and os.environ.get("CONDAFARM_IMAGE_TOOLS") == "1":
        pytest.fail(
            f"{', '.join(missing)} missing: .ci/run installs them "
            "(apt-get install skopeo umoci docker-registry apache2-utils)"
        )
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed (Debian: apt-get install skopeo umoci docker-registry apache2-utils)"
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_registry(root: Path, user: tuple[str, str] | None = None) -> Iterator[str]:
    """A registry listening on 127.0.0.1 (asking for `user`'s name and password with HTTP Basic auth, if given);
    yields its `127.0.0.1:PORT`."""
    require_tools("docker-registry", *(["htpasswd"] if user else []))
    port = _free_port()
    config = root / "registry.yml"
    root.mkdir(parents=True, exist_ok=True)
    auth = ""
    if user:
        (root / "htpasswd").write_text(run("htpasswd", "-Bbn", *user))
        auth = f"auth: {{htpasswd: {{realm: test, path: {root / 'htpasswd'}}}}}\n"
    config.write_text(
        f"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n{auth}"
    )
    log = (root / "registry.log").open("wb")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/v2/")
                if connection.getresponse().status in (200, 401):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"docker-registry did not start: {(root / 'registry.log').read_text()}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def run(*args: str | Path, cwd: Path | None = None) -> str:
    """Run a tool (skopeo, umoci); its stdout, or the test fails with its stderr."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False)
    assert result.returncode == 0, f"{args}: {result.stderr}"
    return result.stdout


def skopeo(*args: str | Path) -> str:
    return run("skopeo", "--insecure-policy", *args)


class HostileRegistry:
    """A registry on 127.0.0.1 that misbehaves as a compromised or broken one could: it asks for Basic
    credentials, then points uploads at `upload_to` (another host's `HOST:PORT`) or, with `trickle`, answers
    every request one header byte at a time, each well within any read timeout. `authorizations` holds the
    Authorization headers it and the upload host received, by `HOST:PORT`."""

    def __init__(self, upload_to: str = "", trickle: float = 0.0) -> None:
        self.upload_to, self.trickle = upload_to, trickle
        self.authorizations: dict[str, list[str]] = {}

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serve; yields the registry's `127.0.0.1:PORT`."""
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                host = f"127.0.0.1:{self.server.server_address[1]}"
                given = self.headers.get("Authorization")
                if given:
                    registry.authorizations.setdefault(host, []).append(given)
                length = int(self.headers.get("Content-Length") or 0)
                while length > 0:
                    length -= len(self.rfile.read(min(length, 1 << 16)))
                if registry.trickle:
                    try:
                        for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10_000:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(registry.trickle)
                    except OSError:
                        pass  # the client hung up
                    return
                if self.command == "HEAD":
                    self.send_response(404)
                elif self.command == "POST" and not given:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="hostile"')
                elif self.command == "POST":
                    self.send_response(202)
                    self.send_header("Location", f"http://{registry.upload_to or host}/uploads/1")
                else:
                    self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_HEAD = do_POST = do_PUT = do_GET = _answer

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
