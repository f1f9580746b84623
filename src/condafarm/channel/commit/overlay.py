"""A subdir's records as clients of the shards see them: `repodata.json` with the commits it does not show yet.

The shard index is where records are committed (`store.py`); `repodata.json` is compacted from it, at once in
small subdirs and later in large ones. Whoever reads records for a decision (ls, build numbers, yank, index)
reads both and lays the shards that differ over `repodata.json`: a name whose shard digest is the one
`repodata.json`'s records give is taken from `repodata.json`, the others are read from their shard.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor

from ...conda.repodata import Repodata
from ...conda.shards import UNREADABLE, NameRecords, Shards, by_name, read_shard
from ...errors import InvalidRepodata
from ...storage import Storage

log = logging.getLogger(__name__)


def read_names(
    storage: Storage, subdir: str, digests: dict[str, str], *, lost: set[str] | None = None
) -> dict[str, NameRecords]:
    """The shards of these names (name -> digest), read in parallel where reads are requests.

    A shard the index names but the store lacks, or holds as something that cannot be unpacked (damaged, or
    planted under the right name), raises `InvalidRepodata` (only `index --rebuild` can make it again), unless
    `lost` is given: then the name is added to it and left out of the result.
    """

    def one(item: tuple[str, str]) -> tuple[str, NameRecords | None]:
        name, digest = item
        key = Shards.key(subdir, digest)
        blob = storage.get(key)
        problem = "named by the shard index but missing"
        if blob is not None:
            try:
                return name, read_shard(blob.data)
            except UNREADABLE:
                problem = "named by the shard index but cannot be unpacked"
        if lost is None:
            raise InvalidRepodata(f"{storage.channel.url_of(key)}: {problem}")
        log.warning("%s: %s", key, problem)
        return name, None

    items = sorted(digests.items())
    if len(items) < 2 or storage.cheap_reads:
        found = list(map(one, items))
    else:
        with ThreadPoolExecutor(max_workers=min(len(items), storage.read_threads * 4)) as pool:
            found = list(pool.map(one, items))
    if lost is not None:
        lost.update(name for name, group in found if group is None)
    return {name: group for name, group in found if group is not None}


def assemble(subdir: str, groups: dict[str, NameRecords], like: Repodata | None = None) -> Repodata:
    """Repodata holding exactly `groups`, keeping the other keys (`info`, `base_url`...) of `like`."""
    out = Repodata(subdir=subdir, extra=dict(like.extra) if like is not None else {})
    for group in groups.values():
        out.packages.update(group.packages)
        out.packages_conda.update(group.packages_conda)
        out.removed.extend(group.removed)
    out.removed = sorted(set(out.removed))
    return out


def overlay(
    storage: Storage,
    subdir: str,
    base: Repodata,
    names: dict[str, str],
    known: dict[str, NameRecords] | None = None,
    *,
    salvage: bool = False,
) -> Repodata:
    """The records the shard index `names` (package name -> shard digest) commits, read from `base` (an older
    compaction of the same index) wherever its records give the same shard, else from `known` (shards the
    caller just wrote) or the shard itself. With `salvage` (a rebuild), a name whose shard is missing (or cannot
    be unpacked) keeps what `base` has of it, with a warning, instead of failing."""
    digest = {name: hashlib.sha256(group.pack()).hexdigest() for name, group in (known or {}).items()}
    groups = by_name(base)
    same = {
        name: group for name, group in groups.items() if hashlib.sha256(group.pack()).hexdigest() == names.get(name)
    }
    held = {n: g for n, g in (known or {}).items() if n not in same and names.get(n) == digest[n]}
    differ = {name: d for name, d in names.items() if name not in same and name not in held}
    lost: set[str] | None = set() if salvage else None
    read = read_names(storage, subdir, differ, lost=lost)
    kept = {name: groups[name] for name in lost or () if name in groups}
    return assemble(subdir, {**same, **held, **read, **kept}, base)


__all__ = ["assemble", "overlay", "read_names"]
