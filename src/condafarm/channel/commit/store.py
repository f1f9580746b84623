"""A channel's records on a storage: where they are committed, how they are read, and `repodata.json`'s compaction.

Records are committed to the subdir's CEP-16 shard index (`repodata_shards.msgpack.zst`): every change is a
compare-and-swap on its ETag (`storage.cas`), with the shard files it names written first, so concurrent
indexers, publishers and curators never lose each other's records, and rattler and pixi (which read shards)
see a commit at once. Rewriting a shard index costs what the subdir's package *names* weigh, not its records.

`repodata.json` (and its `.zst` and `run_exports.json`, `derived.py`) is *compacted* from the shard index: it
holds the records of one committed index, whose ETag it names in `info.condafarm_shards`. A compaction writes
it with a compare-and-swap on its own ETag after reading it and then the shard index, so it never goes back to
an older commit. Readers that decide something (`read_current`) lay the commits `repodata.json` does not show
yet over it (`overlay.py`). When and by whom it is compacted is `group.py`'s business.

A shard index without condafarm's mark (written by another tool, or by condafarm before it committed there)
is not trusted: `repodata.json` is the truth for that subdir until its next commit marks the index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ...conda.repodata import Repodata, repodata_key
from ...conda.shards import SHARDS_INDEX, NameRecords, Shards, make_shards, read_index
from ...errors import AlreadyExists, Conflict, InvalidRepodata, NotFound
from ...storage import Blob, Storage, open_storage
from ...storage.cas import put_if_unchanged, retry_on_conflict
from ...storage.location import KNOWN_SUBDIRS, Channel
from .derived import MSGPACK_ZST, Derived, sync_derived
from .overlay import overlay

log = logging.getLogger(__name__)

#: Key in `repodata.json`'s `info` naming the ETag of the shard index it was compacted from.
COMPACTED_FROM = "condafarm_shards"


def shards_key(subdir: str) -> str:
    return f"{subdir}/{SHARDS_INDEX}"


@dataclass
class Current:
    """A subdir as one read found it: its records (`repodata.json` with the commits it does not show yet), and
    the two objects they came from, whose ETags a commit or a compaction compares against."""

    repodata: Repodata
    json: Blob | None = None
    index: Blob | None = None
    #: the shard index holds commits `repodata.json` does not show yet
    pending: bool = False
    #: the shard index is condafarm's commit point (else `repodata.json` is the truth)
    committed: bool = False
    #: package name -> shard digest, as the index names them
    names: dict[str, str] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.json is not None or self.index is not None


def compacted_from(repodata: Repodata) -> object:
    return (repodata.extra.get("info") or {}).get(COMPACTED_FROM)


def read_current(
    storage: Storage,
    subdir: str,
    *,
    invalid_as_empty: bool = False,
    held: Blob | None = None,
    index: Blob | None = None,
    known: dict[str, NameRecords] | None = None,
) -> Current:
    """The subdir's records and where they came from.

    `repodata.json` is read before the shard index (see the module docstring); `held` is one read earlier,
    `index` one read (or written) later, `known` shards of some names as the caller just wrote them.
    An unreadable `repodata.json` or a shard the index names but the store lacks raises `InvalidRepodata`;
    with `invalid_as_empty` (a rebuild) such a `repodata.json` reads as empty, its blob kept, and a lost
    shard's name keeps what `repodata.json` has of it.
    """
    if index is not None and held is None:
        raise ValueError("an index given to read_current needs the repodata.json read before it (`held`)")
    blob = held if held is not None else storage.get(repodata_key(subdir))
    index = index if index is not None else storage.get(shards_key(subdir))
    base = Repodata(subdir=subdir)
    if blob is not None:
        try:
            base = Repodata.from_json(blob.data, subdir)
        except InvalidRepodata as exc:
            if not invalid_as_empty:
                raise
            log.warning("%s; rebuilding it", str(exc).split("; run ")[0])
    if index is None:
        return Current(base, blob, None)
    names, committed = read_index(index.data)
    if not committed or (blob is not None and compacted_from(base) == index.etag):
        return Current(base, blob, index, committed=committed, names=names)
    repodata = overlay(storage, subdir, base, names, known, salvage=invalid_as_empty)
    return Current(repodata, blob, index, True, True, names)


def load_repodata(storage: Storage, subdir: str) -> tuple[Repodata, Current | None]:
    """The subdir's current records, and what to compare-and-swap against (None: no repodata yet)."""
    current = read_current(storage, subdir)
    return current.repodata, current if current.exists else None


def write_shards(storage: Storage, subdir: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """Write these shard files (digest -> bytes; content-addressed, so If-None-Match); returns those that were
    there already, which the caller hands to `keep_shards` once its index names them."""
    found: dict[str, bytes] = {}

    def put(digest: str) -> None:
        try:
            storage.put(Shards.key(subdir, digest), files[digest], if_absent=True, content_type=MSGPACK_ZST)
        except AlreadyExists:
            found[digest] = files[digest]

    if len(files) > 1 and not storage.cheap_reads:
        with ThreadPoolExecutor(max_workers=storage.read_threads * 4) as pool:
            list(pool.map(put, files))
    else:
        for digest in files:
            put(digest)
    return found


def _rewrite_shards(storage: Storage, subdir: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """Write these shard files whether or not they are there (a rebuild); none is left for `keep_shards`."""
    for digest, data in files.items():
        storage.put(Shards.key(subdir, digest), data, content_type=MSGPACK_ZST)
    return {}


def keep_shards(storage: Storage, subdir: str, found: dict[str, bytes]) -> None:
    """After a commit named shard files that were there already (an older content came back): put back any that
    `index`'s clean-up deleted as an orphan between the write and the commit."""
    for digest, data in found.items():
        if storage.head(Shards.key(subdir, digest)) is None:
            storage.put(Shards.key(subdir, digest), data, content_type=MSGPACK_ZST)


def commit_repodata(
    storage: Storage, subdir: str, repodata: Repodata, current: Current | None, *, rewrite_shards: bool = False
) -> tuple[Current, Derived]:
    """Commit `repodata` as the subdir's records if nobody committed since `current` (None: only if the subdir
    has no records yet), then compact `repodata.json` to it.

    Shard files are written where `current`'s index does not name them already; with `rewrite_shards` (a
    rebuild) every one is written again, so a shard file lost or damaged in the store comes back (they are
    content-addressed: readers of the old index get the same bytes).

    Raises `Conflict` when another writer committed first; the caller re-reads and retries. Returns the subdir
    as committed and what the derived files now are.
    """
    shards = make_shards(repodata)
    present = set(current.names.values()) if current is not None and not rewrite_shards else set()
    missing = {d: data for d, data in shards.files.items() if d not in present}
    found = write_shards(storage, subdir, missing) if not rewrite_shards else _rewrite_shards(storage, subdir, missing)
    expected = current.index.etag if current is not None and current.index is not None else None
    index_etag = put_if_unchanged(storage, shards_key(subdir), shards.index, expected, content_type=MSGPACK_ZST)
    keep_shards(storage, subdir, found)
    index = Blob(shards.index, index_etag)
    body = _compacted_json(repodata, index_etag)
    json_etag = current.json.etag if current is not None and current.json is not None else None
    try:
        json_etag = put_if_unchanged(storage, repodata_key(subdir), body, json_etag, content_type="application/json")
    except Conflict:
        # Another compaction got there first; it may have read an older index, so compact again.
        json = compact(storage, subdir)
        committed = Current(repodata, json, index, committed=True, names=shards.names)
        return committed, Derived(index_etag, set(shards.files))
    zst_etag, exports_etag = sync_derived(storage, subdir, body, json_etag, repodata)
    committed = Current(repodata, Blob(body, json_etag), index, committed=True, names=shards.names)
    return committed, Derived(index_etag, set(shards.files), zst_etag, exports_etag)


def _compacted_json(repodata: Repodata, index_etag: str) -> bytes:
    """`repodata.json` for `repodata`, naming the shard index (by its etag) it was compacted from."""
    info = dict(repodata.extra.get("info") or {})
    info[COMPACTED_FROM] = index_etag
    repodata.extra = {**repodata.extra, "info": info}
    return repodata.to_json()


def compact(
    storage: Storage,
    subdir: str,
    *,
    held: Blob | None = None,
    index: Blob | None = None,
    known: dict[str, NameRecords] | None = None,
) -> Blob | None:
    """Bring `repodata.json` (and its `.zst`, `run_exports.json`) up to the subdir's committed shard index.

    Returns `repodata.json` as it now is. Reads it, then the index; writes only if they differ, with a
    compare-and-swap, so a slower compaction of an older index can never overwrite a newer one. The first
    attempt may start from reads the caller made (`read_current`'s `held`, `index` and `known`).
    """
    first: dict[str, Any] = {"held": held, "index": index, "known": known}

    def attempt() -> Blob | None:
        nonlocal first
        current = read_current(storage, subdir, **first)
        first = {}
        if not current.pending or current.index is None:
            return current.json
        body = _compacted_json(current.repodata, current.index.etag)
        expected = current.json.etag if current.json is not None else None
        etag = put_if_unchanged(storage, repodata_key(subdir), body, expected, content_type="application/json")
        sync_derived(storage, subdir, body, etag, current.repodata)
        return Blob(body, etag)

    return retry_on_conflict(attempt, what=storage.channel.url_of(repodata_key(subdir)), hint="retry later")


def update_repodata(
    storage: Storage,
    subdir: str,
    change: Callable[[Repodata], None],
    *,
    current: Current | None = None,
) -> tuple[Current, Derived]:
    """Apply `change` to the subdir's records with a compare-and-swap, re-reading and retrying on conflict.

    `change` may run several times, each time on the freshest records; it must only edit what it is given.
    `current` is a `read_current` result the caller already holds, tried first instead of reading again.
    This is how yank, remove, prune and publish's first commit to a subdir update a channel without listing it.
    """
    held = current

    def attempt() -> tuple[Current, Derived]:
        nonlocal held
        now = held if held is not None else read_current(storage, subdir)
        held = None
        repodata = Repodata(
            now.repodata.subdir,
            dict(now.repodata.packages),
            dict(now.repodata.packages_conda),
            list(now.repodata.removed),
            dict(now.repodata.extra),
        )
        change(repodata)
        return commit_repodata(storage, subdir, repodata, now if now.exists else None)

    return retry_on_conflict(
        attempt,
        what=storage.channel.url_of(shards_key(subdir)),
        hint="retry, or run `condafarm index` to pick up the files",
    )


def discover_subdirs(storage: Storage) -> list[str]:
    """The channel's subdirs (folders named like platforms), always including `noarch`."""
    found = [d for d in storage.list_dirs("") if d in KNOWN_SUBDIRS]
    if not found and storage.head(repodata_key("noarch")) is None:
        raise NotFound(
            f"no conda channel at {storage.channel.url} (no subdir folders); "
            f"create one with `condafarm init {storage.channel.url}` or check the URL"
        )
    return sorted(set(found) | {"noarch"})


def init_channel(channel: Channel | Storage) -> bool:
    """Create an empty channel (`noarch/repodata.json`, its shards and `.zst`); False if it already existed."""
    storage = open_storage(channel)
    if storage.head(repodata_key("noarch")) is not None:
        return False
    try:
        commit_repodata(storage, "noarch", Repodata(subdir="noarch"), None)
    except Conflict:
        return False
    return True


__all__ = [
    "COMPACTED_FROM",
    "Current",
    "commit_repodata",
    "compact",
    "discover_subdirs",
    "init_channel",
    "load_repodata",
    "read_current",
    "repodata_key",
    "shards_key",
    "update_repodata",
]
