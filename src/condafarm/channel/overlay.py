"""A subdir's records as clients of the shards see them: `repodata.json` with the commits it does not show yet.

The shard index is where records are committed (`store.py`); `repodata.json` is compacted from it, at once in
small subdirs and later in large ones. Whoever reads records for a decision (ls, build numbers, yank, index)
reads both and lays the shards that differ over `repodata.json`: a name whose shard digest is the one
`repodata.json`'s records give is taken from `repodata.json`, the others are read from their shard.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

from ..conda.repodata import Repodata
from ..conda.shards import NameRecords, Shards, by_name, read_shard
from ..errors import InvalidRepodata
from ..storage import Storage


def read_names(storage: Storage, subdir: str, digests: dict[str, str]) -> dict[str, NameRecords]:
    """The shards of these names (name -> digest), read in parallel where reads are requests."""

    def one(item: tuple[str, str]) -> tuple[str, NameRecords]:
        name, digest = item
        blob = storage.get(Shards.key(subdir, digest))
        if blob is None:
            raise InvalidRepodata(
                f"{subdir}/{Shards.key(subdir, digest)}: named by the shard index but missing; "
                f"run `condafarm index --rebuild {storage.channel.url}`"
            )
        return name, read_shard(blob.data)

    items = sorted(digests.items())
    if len(items) < 2 or storage.cheap_reads:
        return dict(map(one, items))
    with ThreadPoolExecutor(max_workers=min(len(items), storage.read_threads * 4)) as pool:
        return dict(pool.map(one, items))


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
) -> Repodata:
    """The records the shard index `names` (package name -> shard digest) commits, read from `base` (an older
    compaction of the same index) wherever its records give the same shard, else from `known` (shards the
    caller just wrote) or the shard itself."""
    digest = {name: hashlib.sha256(group.pack()).hexdigest() for name, group in (known or {}).items()}
    groups = by_name(base)
    same = {
        name: group for name, group in groups.items() if hashlib.sha256(group.pack()).hexdigest() == names.get(name)
    }
    held = {n: g for n, g in (known or {}).items() if n not in same and names.get(n) == digest[n]}
    differ = {name: d for name, d in names.items() if name not in same and name not in held}
    return assemble(subdir, {**same, **held, **read_names(storage, subdir, differ)}, base)


__all__ = ["assemble", "overlay", "read_names"]
