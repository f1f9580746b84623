"""The files derived from `repodata.json` (`.zst`, `run_exports.json`): write, sync, check; and shard clean-up.

Writers of `repodata.json` write these after it and then confirm it is still the one they were made from
(else they redo them from the newer one): whoever writes them last has checked, so a race never leaves them
stale. A writer that dies in between leaves them one version behind; `derived_problems` reports that and the
next `condafarm index` fixes it. The CEP-16 shards are not derived: records are committed there (`store.py`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import zstandard

from ...conda.repodata import Repodata, compress, decompress, repodata_key
from ...conda.shards import (
    RUN_EXPORTS,
    SHARDS_FOLDER,
    SHARDS_INDEX,
    make_run_exports,
    make_shards,
    read_shard_names,
)
from ...errors import Conflict
from ...storage import Blob, ObjectInfo, Storage
from ...storage.cas import retry_on_conflict

log = logging.getLogger(__name__)

MSGPACK_ZST = "application/vnd.msgpack+zstd"
#: An unreferenced shard file is deleted this long after an index run first sees it unreferenced: clients
#: that fetched an older shard index may still ask for the shards it names.
SHARD_GRACE_SECONDS = 24 * 3600


@dataclass
class Derived:
    """What a commit left: the shard index's etag and the shard files it names, and the etags of the `.zst` and
    of `run_exports.json` (None when another writer's compaction wrote them)."""

    shards_etag: str
    shard_digests: set[str]
    zst_etag: str | None = None
    exports_etag: str | None = None


def write_derived(storage: Storage, subdir: str, body: bytes, repodata: Repodata | None = None) -> tuple[str, str]:
    """Write `repodata.json.zst` and `run_exports.json` for the repodata `body`; returns their etags."""
    repodata = repodata or Repodata.from_json(body, subdir)
    zst_etag = storage.put(repodata_key(subdir) + ".zst", compress(body), content_type="application/zstd")
    exports_etag = storage.put(f"{subdir}/{RUN_EXPORTS}", make_run_exports(repodata), content_type="application/json")
    return zst_etag, exports_etag


def sync_derived(
    storage: Storage, subdir: str, body: bytes, etag: str, repodata: Repodata | None = None
) -> tuple[str, str]:
    """Make the derived files match `repodata.json`, whose content `body` has etag `etag`; the etags of the
    `.zst` and of `run_exports.json`.

    After writing them, the JSON is checked again; if another writer replaced it meanwhile, they are written
    again from the newer JSON. Whichever writer writes them last has checked, so concurrent writers cannot
    leave a stale `.zst` behind.
    """
    key = repodata_key(subdir)
    source: tuple[bytes, str, Repodata | None] = (body, etag, repodata)

    def attempt() -> tuple[str, str]:
        nonlocal source
        etags = write_derived(storage, subdir, source[0], source[2])
        current = storage.head(key)
        if current is None or current.etag == source[1]:
            return etags
        blob = storage.get(key)
        if blob is None:
            return etags
        source = (blob.data, blob.etag, None)
        raise Conflict(f"{key} was replaced while its derived files were written")

    return retry_on_conflict(attempt, what=storage.channel.url_of(key), hint="run `condafarm index` again")


def derived_problems(
    storage: Storage,
    subdir: str,
    body: bytes,
    repodata: Repodata,
    index: Blob | None,
    *,
    committed: bool,
    list_shards: bool = False,
) -> tuple[list[str], Derived | None]:
    """Where `repodata.json.zst` and `run_exports.json` disagree with `repodata.json` (its bytes `body`, parsed
    as `repodata`), and where the shard index `index` is missing or broken; when all is well, also what the
    derived files are (for the index state).

    A shard index condafarm commits to (`committed`) is the truth `repodata.json` follows; any other is derived
    from `repodata.json`, and a stale one hides packages from clients that read shards first (pixi), so it is
    compared name by name. With `list_shards` (one LIST), shard files it names but that are missing are
    reported too.
    """
    fix = "run `condafarm index`"
    key = repodata_key(subdir)
    problems: list[str] = []
    zst = storage.get(key + ".zst")
    if zst is None:
        problems.append(f"{key}.zst: missing; {fix}")
    elif not zst_matches(zst.data, body):
        problems.append(f"{key}.zst: does not match {key}; {fix}")
    found = read_shard_names(index.data) if index is not None else {}
    if index is None:
        problems.append(f"{subdir}/{SHARDS_INDEX}: missing; {fix}")
    elif not committed:
        shards = make_shards(repodata)
        for name in sorted(set(shards.names) | set(found)):
            if shards.names.get(name) != found.get(name):
                problems.append(f"{subdir}/{SHARDS_INDEX}: shard of {name!r} disagrees with {key}; {fix}")
    if index is not None and list_shards:
        folder = f"{subdir}/{SHARDS_FOLDER}/"
        present = {i.name.removesuffix(".msgpack.zst") for i in storage.list_objects(folder)}
        problems += [
            f"{folder}{digest}.msgpack.zst: named by the shard index but missing; run `condafarm index --rebuild`"
            for digest in sorted(set(found.values()) - present)
        ]
    run_exports = storage.get(f"{subdir}/{RUN_EXPORTS}")
    if run_exports is None or run_exports.data != make_run_exports(repodata):
        problems.append(f"{subdir}/{RUN_EXPORTS}: missing or disagrees with {key}; {fix}")
    if problems or zst is None or index is None or run_exports is None:
        return problems, None
    return problems, Derived(index.etag, set(found.values()), zst.etag, run_exports.etag)


def grace_over(first_seen: float, now: float) -> bool:
    """Whether a shard file unreferenced since `first_seen` may be deleted at `now`."""
    return now - first_seen >= SHARD_GRACE_SECONDS


def sweep_due(since: dict[str, float], swept: float, now: float | None) -> bool:
    """Whether the shard folder is to be listed at `now` (the store's time; None: unknown, so nothing is timed):
    an orphan's grace is over, or a grace period has passed since the last listing (`swept`)."""
    if now is None:
        return False
    return (
        any(grace_over(first_seen, now) for first_seen in since.values()) or not 0 <= now - swept < SHARD_GRACE_SECONDS
    )


def track_shards(
    storage: Storage, subdir: str, referenced: set[str], named: set[str], since: dict[str, float], swept: float
) -> tuple[dict[str, float], float]:
    """The orphan shard files after a commit that left the index naming `referenced`, and when the shard folder
    was last listed for them, both in the store's time (`Storage.store_time`), as every age is.

    The shards the last index run saw named (`named`, from its state) and `referenced` names no more are orphans
    from now, found without a listing. The folder is listed (`collect_shards`) when an orphan's grace is over, to
    delete it, and once a grace period after the last listing, to find orphans no state knew of (shards of a
    writer that lost a race or died): those are deleted a grace period later than the others, never sooner.
    """
    now = storage.store_time()
    if now is None:  # the store's time unknown: no new orphan is timed, and the next sweep finds them
        return {digest: first_seen for digest, first_seen in since.items() if digest not in referenced}, swept
    if sweep_due(since, swept, now):
        return collect_shards(storage, subdir, referenced, since), now
    orphans = {digest: first_seen for digest, first_seen in since.items() if digest not in referenced}
    orphans.update((digest, now) for digest in named - referenced - orphans.keys())
    return orphans, swept


def collect_shards(storage: Storage, subdir: str, referenced: set[str], since: dict[str, float]) -> dict[str, float]:
    """Delete shard files no index has named for `SHARD_GRACE_SECONDS`; returns the orphans still in grace.

    When each was first seen unnamed is the store's time (`Storage.store_time`, read right after the listing), and
    so is the time it is measured against: index runs on hosts whose clocks disagree never cut the grace short.
    Where the store does not say its time, nothing is deleted and new orphans wait for a run where it does.
    No shard counts as unnamed since before the store received it (its listed time): the state that says since when
    is a side file another party can write, and a writer's new shard is unnamed until its commit.
    Just before deleting, the current shard index is read again: a writer may have just named an old shard
    again (the same records give the same shard), and that one must stay.
    """
    listed = list(storage.list_objects(f"{subdir}/{SHARDS_FOLDER}/"))
    now = storage.store_time()
    orphans: dict[str, float] = {}
    expired: list[ObjectInfo] = []
    for info in listed:
        digest = info.name.removesuffix(".msgpack.zst")
        if digest in referenced:
            continue
        if now is None:
            if digest in since:
                orphans[digest] = since[digest]
            continue
        first_seen = since.get(digest, now)
        if info.modified is not None:  # never unnamed before it was written: a side file cannot cut a new shard's grace
            first_seen = max(first_seen, info.modified)
        if grace_over(first_seen, now):
            expired.append(info)
        else:
            orphans[digest] = first_seen
    if expired:
        current = storage.get(f"{subdir}/{SHARDS_INDEX}")
        named = set(read_shard_names(current.data).values()) if current is not None else set()
        for info in expired:
            if info.name.removesuffix(".msgpack.zst") not in named:
                storage.delete(info.key)
    return orphans


def zst_matches(zst: bytes, body: bytes) -> bool:
    """Whether `zst` decompresses to exactly `body`."""
    try:
        return decompress(zst) == body
    except zstandard.ZstdError:
        return False
