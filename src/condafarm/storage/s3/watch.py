"""Watching one boto3 client's requests: a warning naming what a command waits for, and a deadline on retries.

botocore bounds each attempt (connect and read timeouts) and retries a failed one; `Watch` bounds the whole
request: once `CONDAFARM_DEADLINE` seconds have passed, a failed attempt is not retried but raises
`DeadlineExceeded`. Attempts are never interrupted, so a transfer is never cut while bytes flow; uploads of
more than `TRANSFER_BYTES` and copies are left to the read timeout altogether, since a long one is normal.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from ..timeouts import Timeouts

log = logging.getLogger(__name__)

#: Request bodies above this are transfers, which take as long as the bytes need: no deadline, no warning.
TRANSFER_BYTES = 1024 * 1024
#: Requests the store may take long to answer for a large object (copies in place, assembling parts).
_SLOW_OPERATIONS = frozenset({"CopyObject", "UploadPartCopy", "CompleteMultipartUpload"})
#: Seconds the watching thread stays after the last request ends, so sequential requests do not restart it.
_LINGER = 5.0


class DeadlineExceeded(botocore.exceptions.BotoCoreError):
    """A request, with its retries, took longer than `CONDAFARM_DEADLINE` seconds."""

    fmt = "no answer from {endpoint} to {what} within {seconds:g} s (last attempt: {detail})"


@dataclass(eq=False)
class _Call:
    what: str
    started: float
    transfer: bool
    warned: bool = False


class Watch:
    """Registers on `client`'s events; `prefix` (the channel's key prefix) is left out of the names it logs."""

    def __init__(self, client: Any, prefix: str, timeouts: Timeouts) -> None:
        self.endpoint = str(client.meta.endpoint_url)
        self._strip = len(prefix) + 1 if prefix else 0
        self._timeouts = timeouts
        self._calls: set[_Call] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        events = client.meta.events
        events.register("before-parameter-build.s3", self._name)
        events.register("before-call.s3", self._begin)
        events.register("after-call.s3", self._end)
        events.register("after-call-error.s3", self._end)
        events.register_first("needs-retry.s3", self._check_deadline)

    def _name(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        # The API parameters (Key, Body) are only seen here; the request starts at `before-call`, once it is
        # built, so a request that fails to build is never waited for.
        key = str(params.get("Key") or params.get("Prefix") or "")[self._strip :]
        body = params.get("Body")
        size = len(body) if isinstance(body, bytes | bytearray) else 0 if body is None else TRANSFER_BYTES + 1
        transfer = size > TRANSFER_BYTES or model.name in _SLOW_OPERATIONS
        context["condafarm_request"] = (f"{model.name} {key}" if key else model.name, transfer)

    def _begin(self, context: dict[str, Any], **_: Any) -> None:
        what, transfer = context.get("condafarm_request", ("request", False))
        call = context["condafarm_call"] = _Call(what, time.monotonic(), transfer)
        with self._lock:
            self._calls.add(call)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="condafarm-s3-watch", daemon=True)
                self._thread.start()

    def _end(self, context: dict[str, Any], **_: Any) -> None:
        call = context.pop("condafarm_call", None)
        if call is not None:
            with self._lock:
                self._calls.discard(call)

    def _check_deadline(
        self, request_dict: dict[str, Any], caught_exception: Exception | None, response: Any, **_: Any
    ) -> None:
        """Before botocore decides on a retry: past the deadline, a failed attempt ends the request."""
        call = request_dict.get("context", {}).get("condafarm_call")
        if call is None or call.transfer or time.monotonic() - call.started < self._timeouts.deadline:
            return
        status = response[0].status_code if response is not None else None
        if caught_exception is not None:
            detail = type(caught_exception).__name__
        elif status is not None and (status >= 500 or status == 429):
            detail = f"HTTP {status}"
        else:
            return  # an answer, not a failure: botocore decides what it means
        raise DeadlineExceeded(endpoint=self.endpoint, what=call.what, seconds=self._timeouts.deadline, detail=detail)

    def _run(self) -> None:
        """Warn once about each request unanswered after `warn_after` seconds; leave when idle."""
        warn_after = self._timeouts.warn_after(self._timeouts.deadline)
        idle_since = time.monotonic()
        while True:
            time.sleep(min(1.0, warn_after / 4))
            now = time.monotonic()
            with self._lock:
                if self._calls:
                    idle_since = now
                elif now - idle_since > _LINGER:
                    self._thread = None
                    return
                due = sorted(
                    (c for c in self._calls if not c.warned and not c.transfer and now - c.started >= warn_after),
                    key=lambda c: c.started,
                )
                for call in due:
                    call.warned = True
            if due:
                others = f" and {len(due) - 1} more request(s)" if len(due) > 1 else ""
                log.warning("waiting for %s (%s%s)...", self.endpoint, due[0].what, others)
