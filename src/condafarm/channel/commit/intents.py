"""Publishes in flight: small objects under `SUBDIR/.condafarm/publishing/`, one or two per file being published.

`MS-HASH.json` is noted before the upload: a publisher killed between its upload and its commit leaves a file no
record names, and `index` finds such files by listing the subdir, which a publish must not do (its cost would
grow with the channel); so every group committer adopts the intents that are old and whose files are complete.
`MS-HASH.ready` is written after the upload was verified: the file may be committed now, by whichever publisher
commits next (`group.py`), which deletes both. One object per file (not one shared object) means publishers
arriving together never contend for it; the key starts with the time its publisher noted it, which keeps names
unique and ordered, and ends with a hash of the filename, which can be as long as a file name may be. These are
a cache of work to finish: losing them costs nothing but a later `index` run.

How old an intent is, is judged by the store's clock alone: the time the store received it (the LastModified or
mtime the one listing `pending` makes gives) against the store's time just after that listing
(`Storage.store_time`: the listing's own Date on S3). Neither the publisher's stamp in the name nor any host's
clock decides it, so a host whose clock runs ahead or behind, or a forged stamp, never gets a live publisher's
file adopted early; where the store does not say its time, nothing is adopted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from ...conda.package import is_package_filename
from ...errors import CondafarmError
from ...side_file import MAX_BYTES, BadSideFile, mapping, parse
from ...storage import ObjectInfo, Storage

log = logging.getLogger(__name__)

INTENTS_FOLDER = ".condafarm/publishing"
#: An intent this old belongs to a publisher that is long gone; if its file never arrived, forget it.
FORGET_AFTER_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Intent:
    """One file a publisher is about to publish (or has uploaded), noted at `since_ms` (epoch milliseconds by
    its publisher's clock: part of the name, never a measure of the intent's age)."""

    subdir: str
    filename: str
    since_ms: int
    #: its record replaces one the file has, or un-yanks it (`--force`, or publishing a yanked file again);
    #: else a record or a yank that is there by commit time (a later yank, say) wins
    replace: bool = False

    @property
    def tag(self) -> str:
        return f"{self.since_ms}-{hashlib.sha256(self.filename.encode()).hexdigest()[:24]}"

    @property
    def key(self) -> str:
        return f"{self.subdir}/{INTENTS_FOLDER}/{self.tag}.json"

    @property
    def ready_key(self) -> str:
        return f"{self.subdir}/{INTENTS_FOLDER}/{self.tag}.ready"


def _body(intent: Intent, record: dict[str, Any]) -> bytes:
    raw = {"filename": intent.filename, "record": record, "replace": intent.replace}
    return json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()


def note(
    storage: Storage, subdir: str, records: dict[str, dict[str, Any]], since: float, replace: set[str]
) -> dict[Intent, dict[str, Any]]:
    """Note that the files `records` names are about to be uploaded into `subdir`, with their records; those in
    `replace` replace (or un-yank) what the subdir has of them."""
    noted = {}
    for filename, record in records.items():
        intent = Intent(subdir, filename, int(since * 1000), filename in replace)
        storage.put(intent.key, _body(intent, record), content_type="application/json")
        noted[intent] = record
    return noted


def mark_ready(storage: Storage, noted: dict[Intent, dict[str, Any]]) -> None:
    """Say that these files are uploaded and verified: any group committer may commit them now."""
    for intent, record in noted.items():
        storage.put(intent.ready_key, _body(intent, record), content_type="application/json")


def finish(storage: Storage, done: list[Intent]) -> None:
    """Drop intents whose files are committed (or rolled back); a failure leaves them for a later publish."""
    for intent in done:
        for key in (intent.key, intent.ready_key):
            with contextlib.suppress(CondafarmError):
                storage.delete(key)


def is_pending(storage: Storage, intent: Intent) -> bool:
    """Whether a ready file still waits for its commit (its committer deletes the marker once it is in)."""
    return storage.head(intent.ready_key) is not None


def pending(
    storage: Storage, subdir: str, adopt_after: float, known: dict[Intent, dict[str, Any]]
) -> tuple[dict[Intent, dict[str, Any]], dict[Intent, dict[str, Any]]]:
    """The subdir's publishes in flight (one LIST): the ready ones, and those the store received at least
    `adopt_after` seconds ago by its own clock that were never marked ready (their publisher may have died after
    its upload), each with its record (a GET each, except for those in `known`, this committer's own). Intents a
    day old, ready or not, are dropped: their files are for `index` to find."""
    found: dict[str, list[ObjectInfo]] = {}
    for info in storage.list_objects(f"{subdir}/{INTENTS_FOLDER}/"):
        found.setdefault(info.name.rpartition(".")[0], []).append(info)
    now = storage.store_time()
    by_tag = {i.tag: i for i in known}
    ready: dict[Intent, dict[str, Any]] = {}
    stale: dict[Intent, dict[str, Any]] = {}
    for tag, infos in sorted(found.items()):
        stamp = tag.partition("-")[0]
        kinds = {info.name.rpartition(".")[2] for info in infos}
        age = _age(infos, now)
        if not (stamp.isascii() and stamp.isdigit()) or ("ready" not in kinds and age < adopt_after):
            continue
        if age >= FORGET_AFTER_SECONDS:
            _drop(storage, subdir, tag)
            continue
        if tag in by_tag:
            intent, record = by_tag[tag], known[by_tag[tag]]
        else:
            read = _read(storage, f"{subdir}/{INTENTS_FOLDER}/{tag}.{'ready' if 'ready' in kinds else 'json'}", subdir)
            if read is None or read[0].tag != tag:
                _drop(storage, subdir, tag)
                continue
            intent, record = read
        (ready if "ready" in kinds else stale)[intent] = record
    return ready, stale


def _age(infos: list[ObjectInfo], now: float | None) -> float:
    """How long ago, by the store's clock, the store received the newest object of one intent (0 where the store
    did not say, or there is no `now` to measure from: unknown is young, never old)."""
    times = [info.modified for info in infos]
    if now is None or any(t is None for t in times):
        return 0.0
    return max(0.0, now - max(t for t in times if t is not None))


def _read(storage: Storage, key: str, subdir: str) -> tuple[Intent, dict[str, Any]] | None:
    blob = storage.get(key, limit=MAX_BYTES)
    if blob is None:
        return None
    stamp = int(key.rsplit("/", 1)[1].partition("-")[0])

    def shape(value: Any) -> tuple[Intent, dict[str, Any]]:
        raw = mapping(value, "the intent")
        name = raw["filename"]
        if not isinstance(name, str) or not is_package_filename(name) or "/" in name or "\\" in name:
            raise BadSideFile("`filename` is not a package file name")
        intent = Intent(subdir, name, stamp, raw.get("replace") is True)
        return intent, mapping(raw["record"], "`record`")

    where = storage.channel.url_of(key)
    return parse(blob.data, where, shape, otherwise="leaving its file to `condafarm index`")


def _drop(storage: Storage, subdir: str, tag: str) -> None:
    """Delete an intent that is a day old or not an intent at all: its file (if any) is for `index` to find."""
    for kind in ("json", "ready"):
        with contextlib.suppress(CondafarmError):
            storage.delete(f"{subdir}/{INTENTS_FOLDER}/{tag}.{kind}")


__all__ = ["FORGET_AFTER_SECONDS", "INTENTS_FOLDER", "Intent", "finish", "is_pending", "mark_ready", "note", "pending"]
