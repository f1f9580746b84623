"""Compare-and-swap writes: the one place that picks put-if-absent or put-if-match, and the one retry loop.

Every object that several writers change (the shard index, repodata.json, intents, build-number reservations,
the commit lease) is read with its etag, changed, and written back only if nobody wrote it in between; the loser
re-reads and tries again after a jittered backoff, so concurrent writers never lose each other's changes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import AlreadyExists, Conflict
from .conditions import ensure_conditional_writes
from .contract import Storage

log = logging.getLogger(__name__)

#: Rounds a writer may lose before giving up; with the backoff below that is about a minute of contention.
CAS_ATTEMPTS = 30

T = TypeVar("T")


def put_if_unchanged(
    storage: Storage,
    key: str,
    data: bytes,
    expected_etag: str | None,
    *,
    content_type: str | None = None,
    metadata: dict[str, str] | None = None,
) -> str:
    """Write `key` only if it still has `expected_etag` (None: only if it does not exist yet); its new etag.

    Raises `Conflict` when another writer got there first, whichever of the two conditions failed. A store is
    first proven to honour the conditions (`conditions.py`); a single writer's commits are read back.
    """
    ensure_conditional_writes(storage)
    if storage.single_writer:
        current = storage.head(key)
        if (current.etag if current is not None else None) != expected_etag:
            raise Conflict(f"{storage.channel.url_of(key)} was changed by another writer")
    try:
        if expected_etag is None:
            etag = storage.put(key, data, if_absent=True, content_type=content_type, metadata=metadata)
        else:
            etag = storage.put(key, data, if_match=expected_etag, content_type=content_type, metadata=metadata)
    except AlreadyExists as exc:
        raise Conflict(str(exc)) from exc
    if storage.single_writer:
        written = storage.get(key)
        if written is None or written.data != data:
            raise Conflict(f"{storage.channel.url_of(key)} was overwritten right after this commit")
    return etag


def backoff(attempt: int) -> None:
    """Sleep before retrying a lost compare-and-swap: exponential with full jitter, capped at 2 s."""
    time.sleep(random.uniform(0, min(2.0, 0.02 * 2**attempt)))


def retry_on_conflict(attempt_once: Callable[[], T], *, what: str, hint: str) -> T:
    """Run `attempt_once` (read, change, conditional write) until it does not raise `Conflict`.

    `what` names the contended object in the final error and `hint` says what the user can do then.
    """
    for attempt in range(CAS_ATTEMPTS):
        try:
            return attempt_once()
        except Conflict:
            log.debug("%s changed under us (attempt %d); retrying", what, attempt + 1)
            backoff(attempt)
    raise Conflict(f"{what} kept changing ({CAS_ATTEMPTS} attempts); {hint}")


__all__ = ["CAS_ATTEMPTS", "backoff", "put_if_unchanged", "retry_on_conflict"]
