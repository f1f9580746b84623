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
