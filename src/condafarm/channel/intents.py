"""Publishes in flight: a small per-subdir object naming the packages being published right now.

A publisher killed between its upload and its repodata update leaves a file no record names. `index` finds
such files by listing; a publish must not list (its cost would grow with the channel), so each publisher
first records its intent here, and every publisher adopts the intents of others whose files are complete.
The file is a cache of work to finish: losing it costs nothing but a later `index` run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from ..storage import Storage
from ..storage.cas import put_if_unchanged, retry_on_conflict

log = logging.getLogger(__name__)

INTENTS_KEY = ".condafarm/publishing.json"
#: An intent this old belongs to a publisher that is long gone; if its file never arrived, forget it.
FORGET_AFTER_SECONDS = 24 * 3600

#: filename -> {"record": repodata record, "since": epoch seconds}
Intents = dict[str, dict[str, Any]]


def _key(subdir: str) -> str:
    return f"{subdir}/{INTENTS_KEY}"


def load(storage: Storage, subdir: str) -> tuple[Intents, str | None]:
    blob = storage.get(_key(subdir))
    if blob is None:
        return {}, None
    try:
        raw = json.loads(blob.data)
        return dict(raw["intents"]), blob.etag
    except (ValueError, KeyError, TypeError):
        log.warning("%s is unreadable; starting it afresh", _key(subdir))
        return {}, blob.etag


def dropping(names: set[str]) -> Callable[[Intents], None]:
    """A change for `update` that removes the intents of `names`."""

    def change(current: Intents) -> None:
        for name in names:
            current.pop(name, None)

    return change


def adding(new: Intents) -> Callable[[Intents], None]:
    """A change for `update` that adds `new`."""
    return lambda current: current.update(new)


def update(storage: Storage, subdir: str, change: Callable[[Intents], None]) -> Intents:
    """Compare-and-swap `change` into the subdir's intents; returns what was written."""

    def attempt() -> Intents:
        intents, etag = load(storage, subdir)
        change(intents)
        now = time.time()
        intents = {k: v for k, v in intents.items() if now - float(v.get("since", now)) < FORGET_AFTER_SECONDS}
        data = json.dumps({"version": 1, "intents": intents}, sort_keys=True, separators=(",", ":")).encode()
        put_if_unchanged(storage, _key(subdir), data, etag, content_type="application/json")
        return intents

    return retry_on_conflict(attempt, what=storage.channel.url_of(_key(subdir)), hint="retry")
