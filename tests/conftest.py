"""Shared fixtures: a real S3 HTTP endpoint on 127.0.0.1 (moto's server) and real package files."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

# Never reach a real AWS account or the EC2 metadata service from a test.
os.environ.update(
    {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
)
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "S3_ENDPOINT_URL"):
    os.environ.pop(_var, None)

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    port: int

    def client(self, key: str = "testing", secret: str = "testing"):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=boto3.session.Config(s3={"addressing_style": "path"}),
        )

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should use this endpoint through condafarm's own options."""
        return {**os.environ, "S3_ENDPOINT_URL": self.url, "S3_REGION": "us-east-1", "S3_FORCE_PATH_STYLE": "true"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("moto server exited early")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("moto server did not start")


def _start_moto(extra_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {**os.environ, **extra_env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(port, proc)
    return proc, port


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    """moto's S3 server as its own process on 127.0.0.1 for the whole session (so tests can also run
    condafarm and py-rattler in subprocesses against it)."""
    proc, port = _start_moto({})
    try:
        yield S3Endpoint(f"http://127.0.0.1:{port}", port)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def bucket(s3: S3Endpoint) -> str:
    """A new empty bucket."""
    name = f"test-{secrets.token_hex(6)}"
    s3.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_channel(s3: S3Endpoint, bucket: str):  # type: ignore[no-untyped-def]
    """`Channel` for `s3://BUCKET/Conda/Default` on the local endpoint, path-style."""
    from condafarm import S3Options, parse_channel

    return parse_channel(
        f"s3://{bucket}/Conda/Default", S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
    )


def upload_dir(s3: S3Endpoint, bucket: str, prefix: str, folder: Path) -> None:
    """Copy a folder's package files to S3 as a plain uploader would (no hash metadata)."""
    client = s3.client()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and ".staging" not in path.parts:
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


@pytest.fixture(scope="session")
def many_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A multi-subdir channel folder of 320 real packages (.conda and .tar.bz2), not yet indexed."""
    from packages import make_channel

    root = tmp_path_factory.mktemp("many")
    make_channel(root, {"noarch": 80, "linux-64": 100, "win-64": 80, "osx-arm64": 60}, fmt_every=7)
    shutil.rmtree(root / ".staging")
    return root


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `condafarm` console script as a user would."""
    exe = shutil.which("condafarm", path=str(Path(sys.executable).parent)) or "condafarm"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env=env or dict(os.environ), timeout=timeout, check=False
    )


@dataclass(frozen=True)
class IamEndpoint:
    """An S3 endpoint that enforces IAM: `writer` may do anything on S3, `reader` only Get and List."""

    s3: S3Endpoint
    bucket: str
    reader: tuple[str, str]
    writer: tuple[str, str]

    def env(self, keys: tuple[str, str]) -> dict[str, str]:
        return {**self.s3.env(), "AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]}


@pytest.fixture(scope="session")
def iam_s3() -> Iterator[IamEndpoint]:
    """A second moto server whose first 7 requests are unauthenticated set-up; every later one is checked."""
    import json

    proc, port = _start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "7"})
    try:
        endpoint = S3Endpoint(f"http://127.0.0.1:{port}", port)
        iam = boto3.client("iam", endpoint_url=endpoint.url, region_name="us-east-1")
        bucket = "iam-channel"
        endpoint.client().create_bucket(Bucket=bucket)
        keys = {}
        for user, actions in (("reader", ["s3:GetObject", "s3:ListBucket"]), ("writer", ["s3:*"])):
            iam.create_user(UserName=user)
            policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
            iam.put_user_policy(UserName=user, PolicyName="channel", PolicyDocument=json.dumps(policy))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        yield IamEndpoint(endpoint, bucket, keys["reader"], keys["writer"])
    finally:
        proc.terminate()
        proc.wait(10)
