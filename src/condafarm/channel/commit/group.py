"""Group commit: publishers that arrive together are committed together, by one of them.

A publisher uploads its files and marks them ready (`intents.py`); then one publisher at a time holds the
subdir's commit lease (`SUBDIR/.condafarm/committing.json`, created with If-None-Match) and commits *every* ready
file in one compare-and-swap of the shard index (`names.py`), plus those of publishers that died after their
upload (intents the store received `ADOPT_AFTER_SECONDS` before the committer's own, by the store's clock: see
`intents.py`), then compacts `repodata.json` once for all of them, then drops their intents. The others wait for
the lease to change hands and find their intents gone: they are done without a write of their own. A lease that a
waiter sees unchanged for `lease_seconds()` (by its own clock) belongs to a committer that died; the waiter
takes it over with If-Match and finishes its work (the commit and compaction are idempotent).

`repodata.json` follows the shards at once in a subdir whose `repodata.json` is at most `inline_bytes()` (1 MiB,
about 2,000 records; `CONDAFARM_COMPACT_BYTES`), so a package is visible to every client when publish returns.
Only conda and mamba still need `repodata.json` to see a package: rattler, pixi and `condafarm env` read the
shards. So in a larger subdir, where a rewrite moves many times what the publish itself does (bench/README.md),
it is left to `condafarm index` (run it on a schedule) and to every yank, remove and prune.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from ...conda.repodata import Repodata, repodata_key
from ...conda.shards import NameRecords, record_name
from ...errors import Conflict, StorageError
from ...numbers import COUNT, POSITIVE_DURATION, from_environment
from ...side_file import MAX_BYTES
from ...storage import Blob, Storage
from ...storage.cas import put_if_unchanged
from . import intents
from .adoption import complete
from .names import Names, commit_names, read_some
from .store import Current, compact, read_current

log = logging.getLogger(__name__)

LEASE_KEY = ".condafarm/committing.json"
#: Another publisher's intent is adopted only once it is this old, by the store's clock (`intents.py`): a live
#: publisher commits its own files (and may still roll them back), so only the files of one that died are picked up.
ADOPT_AFTER_SECONDS = 600
#: Rounds a lease holder commits (each folding every file that became ready meanwhile) before it lets go.
ROUNDS = 4
#: How long a waiter waits at most between two looks at the lease (it starts at a twentieth of a second): a
#: second, so a storm of waiters costs few requests while a commit takes its time.
POLL_CAP_SECONDS = 1.0


def inline_bytes() -> int:
    """Largest `repodata.json` a publish compacts before it returns."""
    return int(from_environment("CONDAFARM_COMPACT_BYTES", 1024 * 1024, COUNT))


def lease_seconds() -> float:
    """How long a commit lease must stay unchanged before a waiter takes it to belong to a committer that died."""
    return from_environment("CONDAFARM_COMMIT_LEASE_SECONDS", 60.0, POSITIVE_DURATION)


@dataclass
class Plan:
    """What a publisher read of the subdir before uploading, for its commit: the shards of its names (or the
    whole repodata where the subdir has no shard index condafarm commits to), and `repodata.json` when the
    subdir is small enough to compact at once."""

    names: Names | None
    legacy: Current | None
    inline: bool
    json: Blob | None
    #: compact before returning even if the committer that commits these files does not (`publish --compact`)
    insist: bool = False

    @classmethod
    def read(cls, storage: Storage, subdir: str, names: set[str], compact: bool = False) -> Plan:
        """Read the shards of `names` (or the whole repodata of a subdir condafarm does not commit to yet), and
        `repodata.json` where it is small enough to compact (or `compact` insists): an unreadable one raises."""
        limit = inline_bytes()
        lease_seconds()  # read now: a bad CONDAFARM_COMMIT_LEASE_SECONDS fails before anything is uploaded
        shards = read_some(storage, subdir, names)
        if not shards.committed:
            legacy = read_current(storage, subdir)
            return cls(shards, legacy, True, legacy.json, compact)
        head = storage.head(repodata_key(subdir))
        inline = head is None or head.size <= limit or compact
        json = storage.get(repodata_key(subdir)) if head is not None and inline else None
        if json is not None:
            Repodata.from_json(json.data, subdir)
        return cls(shards, None, inline, json, compact)

    def forgotten(self) -> Plan:
        """This plan without its reads, which are stale once the publisher has waited."""
        return replace(self, names=None, legacy=None, json=None)

    def record(self, filename: str, name: str) -> dict[str, Any] | None:
        """The record the subdir had for `filename` (of package `name`) when read."""
        if self.legacy is not None:
            return self.legacy.repodata.get(filename)
        return self.names.groups[name].get(filename) if self.names is not None else None

    def yanked(self, filename: str, name: str) -> bool:
        if self.legacy is not None:
            return filename in self.legacy.repodata.removed
        return self.names is not None and filename in self.names.groups[name].removed


def commit_together(storage: Storage, subdir: str, mine: dict[intents.Intent, dict[str, Any]], plan: Plan) -> list[str]:
    """Return once the ready files `mine` are committed (and compacted, in a small subdir), by this process or
    by another publisher's group commit; returns the files of dead publishers this process adopted."""
    said = False
    stale: str | None = None
    while True:
        taken, lease = _take(storage, subdir, stale)
        if taken is not None:
            try:
                return _lead(storage, subdir, mine, plan)
            finally:
                _release(storage, subdir, taken)
        plan = plan.forgotten()
        stale = None
        if lease is not None:
            if not said:
                log.info("waiting for another publisher's commit of %s", storage.channel.url_of(subdir + "/"))
                said = True
            stale = _wait(storage, subdir, lease)
        if not any(intents.is_pending(storage, intent) for intent in mine):
            if plan.insist:
                compact(storage, subdir)
            return []


def _lead(storage: Storage, subdir: str, mine: dict[intents.Intent, dict[str, Any]], plan: Plan) -> list[str]:
    """As the lease holder: commit every ready file (and dead publishers' complete ones), in rounds."""
    adopted: list[str] = []
    known = dict(mine)
    for _ in range(ROUNDS):
        ready, stale = intents.pending(storage, subdir, ADOPT_AFTER_SECONDS, known)
        # Another publisher's file may have been removed since it was marked ready (its publisher died, `index`
        # indexed the file, someone removed it): only a file still there with its record's bytes is committed.
        ready = {i: r for i, r in ready.items() if i in known or complete(storage, subdir, i.filename, r)}
        stale = {i: r for i, r in stale.items() if complete(storage, subdir, i.filename, r)}
        if not ready and not stale:
            break
        committed, taken_in = _commit(storage, subdir, ready, stale, plan)
        adopted += taken_in
        if committed is not None and plan.inline:
            # The reads held from before the commit may start the compaction only if `repodata.json` was read
            # before the index: a compaction must never take a newer index over an older repodata.json read later.
            try:
                if plan.json is None or committed.index is None:
                    compact(storage, subdir)
                else:
                    compact(storage, subdir, held=plan.json, index=committed.index, known=committed.groups)
            except StorageError as exc:
                raise StorageError(
                    f"published (visible to rattler and pixi) but {subdir}/repodata.json could not be compacted "
                    f"({exc}); run `condafarm index {storage.channel.url}`"
                ) from exc
        intents.finish(storage, [*ready, *stale])
        known = {}
        plan = plan.forgotten()
    return adopted


def _commit(
    storage: Storage,
    subdir: str,
    ready: dict[intents.Intent, dict[str, Any]],
    stale: dict[intents.Intent, dict[str, Any]],
    plan: Plan,
) -> tuple[Names | None, list[str]]:
    """One commit of `ready` files and of `stale` ones not indexed meanwhile; returns what was committed (None
    when it went through `update_repodata`, which compacts too) and the stale files adopted."""
    adopted: list[str] = []

    def change(groups: dict[str, NameRecords]) -> None:
        adopted.clear()
        for intent, record in stale.items():
            group = groups[record_name(intent.filename, record)]
            if group.get(intent.filename) is None and intent.filename not in group.removed:
                group.set(intent.filename, record)
                adopted.append(intent.filename)
        for intent, record in ready.items():
            group = groups[record_name(intent.filename, record)]
            present = group.get(intent.filename)
            if not intent.replace and (present is not None or intent.filename in group.removed):
                continue  # committed already (by a committer that died before dropping the intent), or yanked since
            if present not in (None, record):
                log.info("replacing the record of %s/%s", subdir, intent.filename)
            group.set(intent.filename, record)

    names = {record_name(i.filename, r) for i, r in [*ready.items(), *stale.items()]}
    try:
        committed = commit_names(storage, subdir, names, change, first=plan.names, legacy=plan.legacy)
    except StorageError as exc:
        raise StorageError(
            f"uploaded but could not index ({exc}); run `condafarm index {storage.channel.url}` to finish"
        ) from exc
    return committed, adopted


def _lease_key(subdir: str) -> str:
    return f"{subdir}/{LEASE_KEY}"


def _take(storage: Storage, subdir: str, stale: str | None) -> tuple[bytes | None, Blob | None]:
    """Take the subdir's commit lease if it is free, or if it is still the one with etag `stale` (seen unchanged
    for `lease_seconds()`: its holder died): the lease this process now holds (else None), and else the lease as
    found (None: released meanwhile, look again)."""
    key = _lease_key(subdir)
    mine = json.dumps({"owner": uuid.uuid4().hex, "since": time.time()}).encode()
    try:
        put_if_unchanged(storage, key, mine, None, content_type="application/json")
        return mine, None
    except Conflict:
        pass
    held = storage.get(key, limit=MAX_BYTES)
    if held is None or held.etag != stale:
        return None, held
    log.warning("taking over the commit of %s from a publisher that stopped", storage.channel.url_of(subdir + "/"))
    try:
        put_if_unchanged(storage, key, mine, held.etag, content_type="application/json")
    except Conflict:
        return None, None
    return mine, None


def _release(storage: Storage, subdir: str, mine: bytes) -> None:
    """Let go of the lease, unless another publisher took it over meanwhile (this one took too long)."""
    key = _lease_key(subdir)
    held = storage.get(key, limit=MAX_BYTES)
    if held is not None and held.data == mine:
        storage.delete(key)


def _wait(storage: Storage, subdir: str, lease: Blob) -> str | None:
    """Wait until the commit holding `lease` is over: None once it is released or changes hands, its etag once
    it has stayed the same for `lease_seconds()` (its holder died). Timed by this host's clock alone, so hosts
    whose clocks disagree never take a live holder's lease over early, nor wait on a dead one for long."""
    pause = 0.05
    seen = time.monotonic()
    while time.monotonic() - seen < lease_seconds():
        time.sleep(pause)
        pause = min(POLL_CAP_SECONDS, pause * 2)
        now = storage.get(_lease_key(subdir), limit=MAX_BYTES)
        if now is None or now.etag != lease.etag:
            return None
    return lease.etag


__all__ = ["ADOPT_AFTER_SECONDS", "LEASE_KEY", "Plan", "commit_together", "inline_bytes", "lease_seconds"]
