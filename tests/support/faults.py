"""Fault plans for `support.proxy`: faults aimed at named S3 requests, and the record of which hit which.

A test says what it breaks in words ("the repodata.json If-Match PUT" answers 503 once), and afterwards
asserts the proxy's `hits`: which fault met which request. A plan that matched nothing, or something else
than meant, then fails the test instead of letting it pass without testing anything.

Actions: "500" (InternalError), "501" (NotImplemented: an operation the store lacks), "503" (SlowDown), "drop"
(close the connection before forwarding), "drop-after" (forward, then close the connection without answering: the
write happened, the client never hears so and retries), "corrupt" (forward the request with one byte of its body
flipped, as a faulty network path would), "hang" (accept the connection and never answer), "truncate" (half the
body, then the connection breaks), "short" (half the body with a Content-Length that says so: a body shorter than
the object) and "trickle" (the answer in 16 pieces a quarter second apart: slow but never silent).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: Actions that answer an S3 error instead of forwarding: the status and its S3 error code.
FAILURES = {"500": "InternalError", "501": "NotImplemented", "503": "SlowDown"}
ACTIONS = (*FAILURES, "drop", "drop-after", "corrupt", "hang", "truncate", "short", "trickle", "not-modified")


@dataclass(frozen=True)
class Request:
    """One request through the proxy as a plan sees it: its S3 operation, object key and headers."""

    n: int
    method: str
    path: str
    op: str
    key: str
    #: names lower-cased
    headers: Mapping[str, str]

    @property
    def basename(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def is_package(self) -> bool:
        return self.key.endswith((".conda", ".tar.bz2"))


#: The requests a plan can aim at, by the name tests use for them.
REQUESTS: dict[str, Callable[[Request], bool]] = {
    "the GET of repodata.json": lambda r: r.op == "GetObject" and r.basename == "repodata.json",
    "the repodata.json If-Match PUT": lambda r: (
        r.op == "PutObject" and r.basename == "repodata.json" and "if-match" in r.headers
    ),
    "the repodata.json If-None-Match PUT": lambda r: (
        r.op == "PutObject" and r.basename == "repodata.json" and "if-none-match" in r.headers
    ),
    "the repodata.json.zst PUT": lambda r: r.op == "PutObject" and r.basename == "repodata.json.zst",
    "an intent PUT": lambda r: r.op == "PutObject" and "/.condafarm/publishing/" in r.key,
    "the shard index If-Match PUT": lambda r: (
        r.op == "PutObject" and r.basename == "repodata_shards.msgpack.zst" and "if-match" in r.headers
    ),
    "the package HEAD": lambda r: r.op == "HeadObject" and r.is_package,
    "the package If-None-Match PUT": lambda r: r.op == "PutObject" and r.is_package and "if-none-match" in r.headers,
    "an UploadPart": lambda r: r.op == "UploadPart",
    "a package GET": lambda r: r.op.startswith("GetObject") and r.is_package,  # whole or ranged
    "any package request": lambda r: r.is_package,
    "the CompleteMultipartUpload": lambda r: r.op == "CompleteMultipartUpload",
    "a ListMultipartUploads": lambda r: r.op == "ListMultipartUploads",
    "a shard index GET": lambda r: r.op == "GetObject" and r.basename == "repodata_shards.msgpack.zst",
}


@dataclass(frozen=True)
class Fault:
    """`action` on requests matching `request` (a name in `REQUESTS`): the first `times` of them (None: all)
    after letting `after` through."""

    request: str
    action: str
    times: int | None = 1
    after: int = 0

    def __post_init__(self) -> None:
        if self.request not in REQUESTS:
            raise ValueError(f"unknown request {self.request!r}; known: {', '.join(REQUESTS)}")
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; known: {', '.join(ACTIONS)}")


@dataclass(frozen=True)
class Hit:
    """A fault meeting a request: which fault (by request name and action) and what the request was."""

    request: str
    action: str
    n: int
    op: str
    key: str


class Faults:
    """A plan of `Fault`s. Each fault counts the requests matching its name; when several are due for one
    request, the first listed acts."""

    def __init__(self, *faults: Fault) -> None:
        self.faults = faults
        self._seen = [0] * len(faults)
        self._lock = threading.Lock()

    def decide(self, request: Request) -> Hit | None:
        """The hit for `request`, or None to let it through."""
        hit = None
        with self._lock:
            for i, fault in enumerate(self.faults):
                if not REQUESTS[fault.request](request):
                    continue
                seen = self._seen[i]
                self._seen[i] += 1
                due = seen >= fault.after and (fault.times is None or seen < fault.after + fault.times)
                if due and hit is None:
                    hit = Hit(fault.request, fault.action, request.n, request.op, request.key)
        return hit
