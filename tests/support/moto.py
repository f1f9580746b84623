"""moto's S3 server as its own process on 127.0.0.1, for the tests and bench/ (optionally enforcing IAM)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import boto3
import psutil

from support.s3 import S3Endpoint


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def end_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Ask `proc` and its children to stop and wait for them; kill what has not stopped within `timeout` seconds.

    Its children too: on Windows a venv's python.exe is a launcher whose child is the real server.
    """
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for child in psutil.wait_procs(children, timeout=timeout)[1]:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


class MotoServer:
    """`python -m moto.server` on a free port, started by the constructor and ready when it returns.

    With `unauthenticated=N` the first N requests are let through as set-up (create the bucket, users, their
    policies and keys); every later request is checked against IAM, as on AWS.
    """

    def __init__(self, env: Mapping[str, str] | None = None, unauthenticated: int | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.endpoint = S3Endpoint(self.url, self.port)
        server_env = dict(os.environ if env is None else env)
        if unauthenticated is not None:
            server_env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(unauthenticated)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("moto server exited early (is moto[server] installed?)")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("moto server did not start")

    def add_user(self, name: str, policy: Mapping[str, Any] | str) -> tuple[str, str]:
        """Create an IAM user holding `policy` (a document, or its JSON); returns its access key and secret.
        Three requests, so on an IAM-enforcing server they belong in the unauthenticated set-up."""
        iam = boto3.client("iam", endpoint_url=self.url, region_name="us-east-1")
        iam.create_user(UserName=name)
        document = policy if isinstance(policy, str) else json.dumps(policy)
        iam.put_user_policy(UserName=name, PolicyName="channel", PolicyDocument=document)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def stop(self) -> None:
        end_process(self.proc)

    def __enter__(self) -> MotoServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def allow(*actions: str) -> dict[str, Any]:
    """An IAM policy document allowing `actions` on every resource."""
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}
