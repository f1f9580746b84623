"""What one listing proves against the index state: a subdir nothing changed in, or a listing a run may keep.

An index run first lists the subdir. When the state proves nothing changed (`IndexState.proves_unchanged`),
the run is over: no read of `repodata.json` or of the shard index. Otherwise it reads them, and must list after
reading (a record committed in between would otherwise lose its file to the listing); unless what it read is
exactly what the state saw, which was before the listing: then no record is newer than the listing, which the
run keeps instead of listing again (one LIST fewer, the costliest request of an incremental run).
"""

from __future__ import annotations

from ..storage import ObjectInfo, Storage, cache_control
from .commit import Current, IndexState, sweep_due
from .report import SubdirReport


def first_listing(storage: Storage, subdir: str, state: IndexState) -> dict[str, ObjectInfo] | None:
    """The subdir's objects by key, listed now; None (and no request) when the state cannot prove anything
    with it: it names no derived files, or the run has work that only a full run does (objects whose headers
    need correcting)."""
    if state.cache_headers < cache_control.VERSION or None in state.derived_keys(subdir).values():
        return None
    known = [f"{subdir}/{name}" for name in {*state.files, *state.skipped}] + list(state.derived_keys(subdir))
    return {info.key: info for info in storage.list_objects(f"{subdir}/", known=known)}


def unchanged_report(
    storage: Storage, subdir: str, state: IndexState, listed: dict[str, ObjectInfo]
) -> SubdirReport | None:
    """The report of a subdir that nothing changed in since the state was saved; None if something did, or if
    its shard folder is due a sweep (`sweep_due`, by the store's time just after the listing): a full run does it.
    """
    if not state.proves_unchanged(subdir, listed):
        return None
    if sweep_due(state.orphan_shards, state.swept, storage.store_time()):
        return None
    skipped = {name: skip.reason for name, skip in state.skipped.items()}
    return SubdirReport(subdir=subdir, unchanged=len(state.files), skipped=skipped)


def listing_holds(state: IndexState, current: Current) -> bool:
    """Whether a listing made after the state was saved, and before `current` was read, may stand for the run's
    listing: `repodata.json` and the shard index are as the state saw them (same etags, so the same records),
    so every record was committed before the listing, after its file was uploaded."""
    read = (current.json.etag if current.json else None, current.index.etag if current.index else None)
    return None not in read and read == (state.json_etag, state.shards_etag)
