"""What went through the counting proxy (`support.proxy.S3Proxy.tally`): requests by S3 operation, by key
pattern and status, and the bytes moved each way, for the tests and bench/ to read."""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

_PACKAGE_NAME = re.compile(r"^.+?(\.conda|\.tar\.bz2)")
_SHARD_NAME = re.compile(r"^[0-9a-f]{64}(?=\.)")


def key_pattern(key: str) -> str:
    """`key` with its variable last part starred, so that exchanges group by kind of object: a package file
    (and what is named after one) -> `*.conda...`, a content-addressed shard -> `*.msgpack.zst`."""
    head, slash, name = key.rpartition("/")
    return head + slash + _SHARD_NAME.sub("*", _PACKAGE_NAME.sub(r"*\1", name))


class Tally:
    """What went through the proxy since the last `reset()`.

    `ops`, `requests` and the GET byte counts are what the index benchmark reads. `exchanges` counts every
    answered request by "OPERATION KEY-PATTERN STATUS" (`key_pattern`), e.g. "PutObject ch/noarch/repodata.json
    412"; `count()` sums them by operation, key suffix and status.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.ops: Counter[str] = Counter()
            self.pkg_bytes = 0
            self.other_bytes = 0
            self.pkg_keys: set[str] = set()
            self.exchanges: Counter[tuple[str, str, int | None]] = Counter()  # (op, key pattern, status)
            self.sent: Counter[str] = Counter()  # request body bytes, by key pattern
            self.received: Counter[str] = Counter()  # answer body bytes, by key pattern

    def add(self, op: str, key: str, nbytes: int, *, status: int | None = None, sent: int = 0) -> None:
        """One answered request: `nbytes` of answer body; `status` and `sent` (request body bytes) if known."""
        pattern = key_pattern(key)
        with self.lock:
            self.ops[op] += 1
            if op.startswith("GetObject"):
                if key.endswith((".conda", ".tar.bz2")):
                    self.pkg_bytes += nbytes
                    self.pkg_keys.add(key)
                else:
                    self.other_bytes += nbytes
            self.exchanges[op, pattern, status] += 1
            self.sent[pattern] += sent
            self.received[pattern] += nbytes

    def count(self, op: str | None = None, suffix: str = "", status: int | None = None) -> int:
        """Exchanges of operation `op` (any if None) on keys ending with `suffix`, answered `status` (any if None)."""
        with self.lock:
            return sum(
                n
                for (seen_op, pattern, seen_status), n in self.exchanges.items()
                if op in (None, seen_op) and pattern.endswith(suffix) and status in (None, seen_status)
            )

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "ops": dict(self.ops),
                "requests": sum(self.ops.values()),
                "pkg_bytes": self.pkg_bytes,
                "other_bytes": self.other_bytes,
                "bytes_read": self.pkg_bytes + self.other_bytes,
                "pkg_objects": len(self.pkg_keys),
                "exchanges": {f"{op} {pattern} {status}": n for (op, pattern, status), n in self.exchanges.items()},
                "bytes_sent": sum(self.sent.values()),
                "bytes_received": sum(self.received.values()),
                "sent_by_key": {k: v for k, v in self.sent.items() if v},
                "received_by_key": {k: v for k, v in self.received.items() if v},
            }
