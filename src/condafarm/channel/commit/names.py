"""A commit that touches only some package names: their shards and the shard index, nothing that grows with records.

A publish reads the shard index and the shards of the names it publishes, writes their new shards (content-
addressed, If-None-Match) and then the index with a compare-and-swap on its ETag (`store.py` explains why the
index is the commit point). Its cost is the size of those shards plus the index (about 45 bytes a name), however
many records the subdir holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from ...conda.repodata import Repodata
from ...conda.shards import NameRecords, by_name, make_index, read_index
from ...storage import Blob, Storage
from ...storage.cas import put_if_unchanged, retry_on_conflict
from .derived import MSGPACK_ZST
from .overlay import assemble, read_names
from .store import Current, keep_shards, shards_key, update_repodata, write_shards


@dataclass
class Names:
    """Some package names of a subdir as one read of its shard index found them."""

    index: Blob | None
    #: the index is condafarm's commit point (else commit through `store.update_repodata`)
    committed: bool
    #: every name the index holds -> its shard digest
    digests: dict[str, str] = field(default_factory=dict)
    #: the names asked for (empty for a name the subdir does not have yet)
    groups: dict[str, NameRecords] = field(default_factory=dict)


def read_some(storage: Storage, subdir: str, names: set[str]) -> Names:
    """Read the shard index and the shards of `names`."""
    index = storage.get(shards_key(subdir))
    if index is None:
        return Names(None, False)
    digests, committed = read_index(index.data)
    groups = read_names(storage, subdir, {n: digests[n] for n in names if n in digests}) if committed else {}
    for name in names:
        groups.setdefault(name, NameRecords())
    return Names(index, committed, digests, groups)


def commit_some(
    storage: Storage,
    subdir: str,
    names: set[str],
    change: Callable[[dict[str, NameRecords]], None],
    *,
    first: Names | None = None,
) -> Names | None:
    """Apply `change` to the shards of `names` with a compare-and-swap on the shard index, re-reading and retrying
    on conflict (`change` may run several times, each time on fresh shards). `first` is a `read_some` result to
    try first. None when the subdir has no shard index condafarm commits to: use `update_repodata`."""
    held = first
    written: set[str] = set()  # shard files put by an earlier attempt: content-addressed, so still there
    found: dict[str, bytes] = {}  # shard files that were there already

    def attempt() -> Names | None:
        nonlocal held
        now = held if held is not None and held.groups.keys() >= names else read_some(storage, subdir, names)
        held = None
        if not now.committed or now.index is None:
            return None
        groups = {name: group.copy() for name, group in now.groups.items()}
        change(groups)
        digests = dict(now.digests)
        for name in names:
            data = groups[name].pack()
            if not groups[name].filenames():
                digests.pop(name, None)
                continue
            digests[name] = hashlib.sha256(data).hexdigest()
            if digests[name] != now.digests.get(name) and digests[name] not in written:
                found.update(write_shards(storage, subdir, {digests[name]: data}))
                written.add(digests[name])
        if digests == now.digests:
            # Nothing to commit: all there already. No index is handed on: the one read may be older than a
            # `repodata.json` the caller read later, and a compaction must not pair them.
            return Names(None, True, digests, groups)
        index = make_index(subdir, digests)
        etag = put_if_unchanged(storage, shards_key(subdir), index, now.index.etag, content_type=MSGPACK_ZST)
        keep_shards(storage, subdir, {d: data for d, data in found.items() if d in digests.values()})
        return Names(Blob(index, etag), True, digests, groups)

    return retry_on_conflict(attempt, what=storage.channel.url_of(shards_key(subdir)), hint="retry")


def _whole(names: set[str], change: Callable[[dict[str, NameRecords]], None]) -> Callable[[Repodata], None]:
    """A change for `update_repodata` (the whole repodata) made of one on the shards of `names`."""

    def whole(repodata: Repodata) -> None:
        groups = by_name(repodata)
        edited = {name: groups.get(name, NameRecords()) for name in names}
        change(edited)
        merged = assemble(repodata.subdir, {**groups, **edited})
        repodata.packages, repodata.packages_conda, repodata.removed = (
            merged.packages,
            merged.packages_conda,
            merged.removed,
        )

    return whole


def commit_names(
    storage: Storage,
    subdir: str,
    names: set[str],
    change: Callable[[dict[str, NameRecords]], None],
    *,
    first: Names | None,
    legacy: Current | None,
) -> Names | None:
    """`commit_some`, or where the subdir has no shard index condafarm commits to (`legacy`: its records as
    read), the same change through `update_repodata`, which marks the index so the next commit is `commit_some`
    and compacts `repodata.json` (then None)."""
    committed = commit_some(storage, subdir, names, change, first=first) if legacy is None else None
    if committed is None:
        update_repodata(storage, subdir, _whole(names, change), current=legacy)
    return committed


__all__ = ["Names", "commit_names", "commit_some", "read_some"]
