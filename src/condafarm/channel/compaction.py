"""When `repodata.json` follows the shards, and who writes it: group compaction for publishers that arrive together.

A publish commits its records to the shard index (`store.py`), which shard clients (rattler, pixi) read at once.
Clients of `repodata.json` (conda, mamba) see the commit once `repodata.json` is compacted:

- in a subdir whose `repodata.json` is at most `inline_bytes()` (8 MiB, about 10,000 records; setting
  `CONDAFARM_COMPACT_BYTES`), the publish itself waits for it, so the package is visible to every client when
  publish returns. Publishers that arrive together share one rewrite: one takes the subdir's compaction lease
  (`SUBDIR/.condafarm/compacting.json`, created with If-None-Match) and folds every commit made so far; the
  others wait for the lease to go and find their records already in `repodata.json`. A lease older than
  `lease_seconds()` belongs to a compactor that died; the next waiter takes it over with If-Match.
- in a larger subdir, a rewrite costs more than the publish itself, so the publish leaves it to `condafarm index`
  (run it on a schedule, e.g. the maintain_channel job) and to every yank, remove and prune, which compact.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Mapping

from ..conda.repodata import Repodata, repodata_key
from ..errors import AlreadyExists, Conflict, InvalidRepodata, StorageError
from ..storage import Blob, Storage
from ..storage.cas import put_if_unchanged
from .store import compact

log = logging.getLogger(__name__)

LEASE_KEY = ".condafarm/compacting.json"
#: How long a waiter polls the lease at most between two looks (it starts at a twentieth of a second).
POLL_CAP_SECONDS = 0.5


def inline_bytes() -> int:
    """Largest `repodata.json` a publish compacts before it returns."""
    return int(os.environ.get("CONDAFARM_COMPACT_BYTES") or 8 * 1024 * 1024)


def lease_seconds() -> float:
    """Age after which a compaction lease is taken to belong to a compactor that died."""
    return float(os.environ.get("CONDAFARM_COMPACT_LEASE_SECONDS") or 60)


def _lease_key(subdir: str) -> str:
    return f"{subdir}/{LEASE_KEY}"


def _age(lease: Blob) -> float:
    try:
        return time.time() - float(json.loads(lease.data)["since"])
    except (ValueError, KeyError, TypeError):
        return float("inf")


def _take(storage: Storage, subdir: str) -> tuple[bool, Blob | None]:
    """Take the subdir's compaction lease if it is free or stale: whether this process now holds it, and else
    the lease as found (None: released meanwhile, look again)."""
    key = _lease_key(subdir)
    mine = json.dumps({"owner": uuid.uuid4().hex, "since": time.time()}).encode()
    try:
        storage.put(key, mine, if_absent=True, content_type="application/json")
        return True, None
    except AlreadyExists:
        pass
    held = storage.get(key)
    if held is None or _age(held) < lease_seconds():
        return False, held
    log.warning("taking over the compaction of %s/repodata.json from a compactor that stopped", subdir)
    try:
        put_if_unchanged(storage, key, mine, held.etag, content_type="application/json")
    except Conflict:
        return False, None
    return True, None


def _shows(blob: Blob | None, subdir: str, wanted: Mapping[str, str]) -> bool:
    """Whether `repodata.json` (`blob`) holds each wanted filename with its sha256."""
    if blob is None:
        return not wanted
    try:
        repodata = Repodata.from_json(blob.data, subdir)
    except InvalidRepodata:
        return False
    return all((repodata.get(name) or {}).get("sha256") == sha256 for name, sha256 in wanted.items())


def compact_together(storage: Storage, subdir: str, wanted: Mapping[str, str], held: Blob | None = None) -> None:
    """Return once `repodata.json` shows the `wanted` records (filename -> sha256), committed before this call.

    Either this process compacts, folding in every commit made so far, or it waits for the one that holds the
    lease and then finds its records compacted. `held` is `repodata.json` as read before the commit.
    """
    key = repodata_key(subdir)
    said = False
    while True:
        taken, lease = _take(storage, subdir)
        if taken:
            try:
                compact(storage, subdir, held=held)
            finally:
                storage.delete(_lease_key(subdir))
            return
        held = None
        if lease is not None:
            if not said:
                log.info("waiting for another publisher's compaction of %s", storage.channel.url_of(key))
                said = True
            _wait(storage, subdir, lease)
        if _shows(storage.get(key), subdir, wanted):
            return


def _wait(storage: Storage, subdir: str, lease: Blob) -> None:
    """Wait until the compaction holding `lease` is over: released, replaced by another, or stale."""
    pause = 0.05
    while _age(lease) < lease_seconds():
        time.sleep(pause)
        pause = min(POLL_CAP_SECONDS, pause * 2)
        now = storage.get(_lease_key(subdir))
        if now is None or now.etag != lease.etag:
            return


def compact_after_publish(storage: Storage, subdir: str, wanted: Mapping[str, str], held: Blob | None) -> None:
    """`compact_together` for a publish that committed `wanted` (`held`: `repodata.json` as read before)."""
    try:
        compact_together(storage, subdir, wanted, held)
    except StorageError as exc:
        raise StorageError(
            f"published (visible to rattler and pixi) but {repodata_key(subdir)} could not be compacted ({exc}); "
            f"run `condafarm index {storage.channel.url}`"
        ) from exc


__all__ = ["compact_after_publish", "compact_together", "inline_bytes", "lease_seconds"]
