"""The files derived from `repodata.json`: `.zst`, CEP-16 shards and `run_exports.json`: write, sync, repair, check.

Writers of `repodata.json` write these after it and then confirm it is still the one they were made from
(else they redo them from the newer one): whoever writes them last has checked, so a race never leaves them
stale. A writer that dies in between leaves them one version behind; `derived_problems` reports that and
`repair_derived` fixes it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import zstandard

from ..conda.repodata import Repodata, compress, decompress, repodata_key
from ..conda.shards import (
    RUN_EXPORTS,
    SHARDS_FOLDER,
    SHARDS_INDEX,
    Shards,
    make_run_exports,
    make_shards,
    read_shard_names,
)
from ..errors import AlreadyExists, Conflict
from ..storage import Blob, ObjectInfo, Storage
from ..storage.cas import retry_on_conflict
from .state import IndexState

log = logging.getLogger(__name__)

MSGPACK_ZST = "application/vnd.msgpack+zstd"
#: An unreferenced shard file is deleted this long after an index run first sees it unreferenced: clients
#: that fetched an older shard index may still ask for the shards it names.
SHARD_GRACE_SECONDS = 24 * 3600


@dataclass
class Derived:
    """Etags of the files `write_derived` wrote, and the shard files the shard index names."""

    zst_etag: str
    shards_etag: str
    shard_digests: set[str]


def write_derived(storage: Storage, subdir: str, body: bytes, repodata: Repodata | None = None) -> Derived:
    """Write `repodata.json.zst`, the CEP-16 shards and `run_exports.json` for the repodata `body`.

    New shard files go up before the shard index that names them (content-addressed, so If-None-Match: a
    shard that exists already has these bytes). Which ones exist is read from the current shard index:
    every shard an index has named is kept for `SHARD_GRACE_SECONDS`, so a publish writes just the shards
    of the names it changed.
    """
    repodata = repodata or Repodata.from_json(body, subdir)
    zst_etag = storage.put(repodata_key(subdir) + ".zst", compress(body), content_type="application/zstd")
    shards = make_shards(repodata)
    current = storage.get(f"{subdir}/{SHARDS_INDEX}")
    present = set(read_shard_names(current.data).values()) if current is not None else set()
    missing = [digest for digest in shards.files if digest not in present]

    def put_shard(digest: str) -> None:
        with contextlib.suppress(AlreadyExists):
            storage.put(Shards.key(subdir, digest), shards.files[digest], if_absent=True, content_type=MSGPACK_ZST)

    if len(missing) > 1:
        with ThreadPoolExecutor(max_workers=storage.read_threads * 4) as pool:
            list(pool.map(put_shard, missing))
    else:
        for digest in missing:
            put_shard(digest)
    shards_etag = storage.put(f"{subdir}/{SHARDS_INDEX}", shards.index, content_type=MSGPACK_ZST)
    storage.put(f"{subdir}/{RUN_EXPORTS}", make_run_exports(repodata), content_type="application/json")
    return Derived(zst_etag, shards_etag, set(shards.files))


def sync_derived(storage: Storage, subdir: str, body: bytes, etag: str, repodata: Repodata | None = None) -> Derived:
    """Make the derived files match `repodata.json`, whose content `body` has etag `etag`.

    After writing them, the JSON is checked again; if another writer replaced it meanwhile, they are written
    again from the newer JSON. Whichever writer writes them last has checked, so concurrent writers cannot
    leave a stale `.zst` or shard index behind.
    """
    key = repodata_key(subdir)
    source: tuple[bytes, str, Repodata | None] = (body, etag, repodata)

    def attempt() -> Derived:
        nonlocal source
        derived = write_derived(storage, subdir, source[0], source[2])
        current = storage.head(key)
        if current is None or current.etag == source[1]:
            return derived
        blob = storage.get(key)
        if blob is None:
            return derived
        source = (blob.data, blob.etag, None)
        raise Conflict(f"{key} was replaced while its derived files were written")

    return retry_on_conflict(attempt, what=storage.channel.url_of(key), hint="run `condafarm index` again")


def repair_derived(storage: Storage, subdir: str, repodata: Repodata, blob: Blob, state: IndexState) -> Derived:
    """On a run that changes no record, prove the derived files agree with `repodata.json` (in `blob`), and
    rewrite them only where a writer died before finishing them.

    When the JSON, `.zst` and shard index are the ones this indexer last wrote, two HEADs prove it; after
    another writer (a publish), reading them back proves it without rewriting what is already right.
    """
    key = repodata_key(subdir)
    zst, shards = storage.head(key + ".zst"), storage.head(f"{subdir}/{SHARDS_INDEX}")
    if (
        zst is not None
        and shards is not None
        and state.json_etag == blob.etag
        and (state.zst_etag, state.shards_etag) == (zst.etag, shards.etag)
    ):
        return Derived(zst.etag, shards.etag, set(state.shard_digests or make_shards(repodata).files))
    problems, derived = derived_problems(storage, subdir, blob.data, repodata)
    if derived is not None:
        return derived
    log.warning("%s; rewriting it from repodata.json", problems[0])
    return sync_derived(storage, subdir, blob.data, blob.etag, repodata)


def derived_problems(
    storage: Storage, subdir: str, body: bytes, repodata: Repodata, *, list_shards: bool = False
) -> tuple[list[str], Derived | None]:
    """Where `repodata.json.zst`, the shard index and `run_exports.json` disagree with `repodata.json` (its
    bytes `body`, parsed as `repodata`); when they all agree, also what they are (for the index state).

    A stale shard index hides packages from clients that read shards first (pixi), so it is compared name by
    name. With `list_shards` (one LIST), shard files it names but that are missing are reported too.
    """
    fix = "run `condafarm index`"
    key = repodata_key(subdir)
    problems: list[str] = []
    zst = storage.get(key + ".zst")
    if zst is None:
        problems.append(f"{key}.zst: missing; {fix}")
    elif not zst_matches(zst.data, body):
        problems.append(f"{key}.zst: does not match {key}; {fix}")
    shards = make_shards(repodata)
    index = storage.get(f"{subdir}/{SHARDS_INDEX}")
    if index is None:
        problems.append(f"{subdir}/{SHARDS_INDEX}: missing; {fix}")
    else:
        found = read_shard_names(index.data)
        for name in sorted(set(shards.names) | set(found)):
            if shards.names.get(name) != found.get(name):
                problems.append(f"{subdir}/{SHARDS_INDEX}: shard of {name!r} disagrees with {key}; {fix}")
        if list_shards:
            folder = f"{subdir}/{SHARDS_FOLDER}/"
            present = {i.name.removesuffix(".msgpack.zst") for i in storage.list_objects(folder)}
            problems += [
                f"{folder}{digest}.msgpack.zst: named by the shard index but missing; {fix}"
                for digest in sorted(set(found.values()) - present)
            ]
    run_exports = storage.get(f"{subdir}/{RUN_EXPORTS}")
    if run_exports is None or run_exports.data != make_run_exports(repodata):
        problems.append(f"{subdir}/{RUN_EXPORTS}: missing or disagrees with {key}; {fix}")
    if problems or zst is None or index is None:
        return problems, None
    return problems, Derived(zst.etag, index.etag, set(shards.files))


def collect_shards(storage: Storage, subdir: str, referenced: set[str], since: dict[str, float]) -> dict[str, float]:
    """Delete shard files no index has named for `SHARD_GRACE_SECONDS`; returns the orphans still in grace.

    Just before deleting, the current shard index is read again: a writer may have just named an old shard
    again (the same records give the same shard), and that one must stay.
    """
    now = time.time()
    orphans: dict[str, float] = {}
    expired: list[ObjectInfo] = []
    for info in storage.list_objects(f"{subdir}/{SHARDS_FOLDER}/"):
        digest = info.name.removesuffix(".msgpack.zst")
        if digest in referenced:
            continue
        first_seen = since.get(digest, now)
        if now - first_seen >= SHARD_GRACE_SECONDS:
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
