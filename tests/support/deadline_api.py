"""A stand-in for the AWS Deadline Cloud management API on 127.0.0.1: ListQueues and GetQueue of one farm, each
request recorded, so the `deadline` library and botocore run unchanged and a test counts what they asked.

`deadline_api(monkeypatch, tmp_path, queues)` points the library at it through the environment (botocore's
`AWS_ENDPOINT_URL_DEADLINE`; host prefix injection off, since `management.127.0.0.1` is no host), with fake keys,
an empty Deadline CLI config and telemetry off; the library's cached session is dropped on entry and exit.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from deadline.client.api._session import invalidate_boto3_session_cache

FARM_ID = "farm-0123456789abcdef0123456789abcdef"


@dataclass
class Queue:
    queue_id: str
    name: str
    #: the queue's job attachments bucket; None for a queue without job attachments
    bucket: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "farmId": FARM_ID,
            "queueId": self.queue_id,
            "displayName": self.name,
            "status": "IDLE",
            "defaultBudgetAction": "NONE",
            "createdAt": "2026-12-01T00:00:00Z",
            "createdBy": "test",
        }


@dataclass
class DeadlineApi:
    queues: list[Queue]
    #: (operation, queue id or "") of every request, in order
    requests: list[tuple[str, str]] = field(default_factory=list)

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        if re.fullmatch(rf"/2023-10-12/farms/{FARM_ID}/queues(\?.*)?", path):
            self.requests.append(("ListQueues", ""))
            return 200, {"queues": [q.summary() for q in self.queues]}
        found = re.fullmatch(rf"/2023-10-12/farms/{FARM_ID}/queues/([^/?]+)", path)
        queue = next((q for q in self.queues if found and q.queue_id == found[1]), None)
        self.requests.append(("GetQueue", found[1] if found else path))
        if queue is None:
            return 404, {"message": f"no resource {path}"}
        attachments = {"jobAttachmentSettings": {"s3BucketName": queue.bucket, "rootPrefix": "DeadlineCloud"}}
        return 200, {**queue.summary(), **(attachments if queue.bucket else {})}


@contextmanager
def deadline_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, queues: list[Queue]) -> Iterator[DeadlineApi]:
    api = DeadlineApi(queues)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = api.answer(self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 404:
                self.send_header("x-amzn-ErrorType", "ResourceNotFoundException")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "AWS_ENDPOINT_URL_DEADLINE": f"http://127.0.0.1:{server.server_address[1]}",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # any other AWS call fails at once
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "DEADLINE_CONFIG_FILE_PATH": str(tmp_path / "no-deadline-config"),
        "DEADLINE_CLOUD_TELEMETRY_OPT_OUT": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    invalidate_boto3_session_cache()  # the library keeps its session, and the endpoint read with it, per process
    try:
        yield api
    finally:
        invalidate_boto3_session_cache()
        server.shutdown()
        server.server_close()
