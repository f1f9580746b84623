"""Publishes in flight: one small object per file being published, `SUBDIR/.condafarm/publishing/MS-FILENAME.json`.

A publisher killed between its upload and its commit leaves a file no record names. `index` finds such files by
listing the subdir; a publish must not list it (its cost would grow with the channel), so each publisher first
notes its intent here, and every publisher adopts the intents of others that are old and whose files are
complete. One object per file (not one shared object) means publishers arriving together never contend for it;
the key starts with the time it was noted, so a listing of this folder (which holds only publishes in flight)
tells old intents from young ones without reading them. These are a cache of work to finish: losing them costs
nothing but a later `index` run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from ..errors import CondafarmError
from ..storage import Storage

log = logging.getLogger(__name__)

INTENTS_FOLDER = ".condafarm/publishing"
#: An intent this old belongs to a publisher that is long gone; if its file never arrived, forget it.
FORGET_AFTER_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Intent:
    """One file a publisher is about to publish, noted at `since` (epoch seconds)."""

    subdir: str
    filename: str
    since_ms: int

    @property
    def key(self) -> str:
        return f"{self.subdir}/{INTENTS_FOLDER}/{self.since_ms}-{self.filename}.json"

    @property
    def since(self) -> float:
        return self.since_ms / 1000

    @classmethod
    def parse(cls, subdir: str, name: str) -> Intent | None:
        stamp, _, rest = name.partition("-")
        if not stamp.isdigit() or not rest.endswith(".json"):
            return None
        return cls(subdir, rest.removesuffix(".json"), int(stamp))


def note(storage: Storage, subdir: str, records: dict[str, dict[str, Any]], since: float) -> list[Intent]:
    """Note that the files `records` names are about to be published into `subdir`, with their records."""
    noted = []
    for filename, record in records.items():
        intent = Intent(subdir, filename, int(since * 1000))
        body = json.dumps({"record": record}, sort_keys=True, separators=(",", ":")).encode()
        storage.put(intent.key, body, content_type="application/json")
        noted.append(intent)
    return noted


def finish(storage: Storage, intents: list[Intent]) -> None:
    """Drop intents whose files are committed (or rolled back); a failure leaves them for a later publish."""
    for intent in intents:
        with contextlib.suppress(CondafarmError):
            storage.delete(intent.key)


def older_than(storage: Storage, subdir: str, cutoff: float) -> dict[Intent, dict[str, Any]]:
    """Other publishers' intents noted before `cutoff`, with their records (one LIST of in-flight publishes, and
    a GET for each old one). Intents older than a day are dropped: their files are for `index` to find."""
    found: dict[Intent, dict[str, Any]] = {}
    now = time.time()
    for info in storage.list_objects(f"{subdir}/{INTENTS_FOLDER}/"):
        intent = Intent.parse(subdir, info.name)
        if intent is None or intent.since > cutoff:
            continue
        if now - intent.since >= FORGET_AFTER_SECONDS:
            finish(storage, [intent])
            continue
        blob = storage.get(intent.key)
        try:
            record = json.loads(blob.data)["record"] if blob is not None else None
        except (ValueError, KeyError, TypeError):
            log.warning("%s is unreadable; leaving its file to `condafarm index`", intent.key)
            record = None
        if isinstance(record, dict):
            found[intent] = record
    return found


__all__ = ["FORGET_AFTER_SECONDS", "INTENTS_FOLDER", "Intent", "finish", "note", "older_than"]
