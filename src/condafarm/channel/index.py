"""Indexing: bring each subdir's `repodata.json` (and the files derived from it) in line with its package files.

Incremental by design: the index state (`state.py`) remembers each indexed file's size, etag and sha256, so
an unchanged file is never read again while a file re-uploaded under the same name (new etag) is. A run reads
repodata, lists the subdir, reads what it cannot prove, and commits with a compare-and-swap (`store.py`), so
concurrent indexers and publishers never lose each other's records.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..conda.package import is_package_filename
from ..conda.repodata import Repodata, repodata_key
from ..conda.shards import RUN_EXPORTS, SHARDS_INDEX
from ..errors import ChannelProblems, InvalidRepodata, UsageError
from ..storage import ObjectInfo, Storage, cache_control, open_storage
from ..storage.cas import retry_on_conflict
from ..storage.conditions import RECORD_KEY
from ..storage.location import KNOWN_SUBDIRS, Channel
from .commit import (
    Current,
    Derived,
    FileState,
    IndexState,
    Skipped,
    commit_repodata,
    compact,
    derived_problems,
    discover_subdirs,
    init_channel,
    read_current,
    remove_leftovers,
    shards_key,
    sync_derived,
    track_shards,
)
from .page import PAGE_KEY, keep_page_current
from .read import Processes, Progress, Reader, prove_published
from .report import IndexReport, SubdirReport
from .unchanged import first_listing, listing_holds, unchanged_report

log = logging.getLogger(__name__)

#: A subdir's objects that change (the shard index, `repodata.json` and what is derived from it).
CHANGING = (SHARDS_INDEX, "repodata.json", "repodata.json.zst", RUN_EXPORTS)
#: Subdirs indexed at once: on a network their listings and reads overlap; on a folder one subdir's commit
#: (file writes) overlaps another's reads (in `Processes`).
SUBDIR_THREADS = 4


@dataclass
class _Snapshot:
    """The subdir as one attempt found it: repodata (read before the listing), the package files listed, the
    records still proven by the state, and the files that must be read."""

    repodata: Repodata
    current: Current
    listing: dict[str, ObjectInfo]
    keep: dict[str, dict[str, Any]]
    to_read: list[ObjectInfo]
    #: files an earlier run could not index, unchanged since (not read again), with the reason
    known_bad: dict[str, str]
    #: `repodata.json` could not be read (a rebuild replaces it whatever the records are)
    invalid: bool
    #: `run_exports.json`'s etag as listed (None: missing), which proves it with the state's at no request
    exports_etag: str | None


def _snapshot(
    storage: Storage,
    subdir: str,
    state: IndexState,
    rebuild: bool,
    workers: int,
    first: dict[str, ObjectInfo] | None,
) -> _Snapshot:
    # Repodata first, then the listing: a publish that commits in between changes the ETag, so this run's
    # compare-and-swap fails and retries instead of dropping a record whose file the listing missed. The run's
    # first listing stands in when what is read is what the state saw before it (`unchanged.py`).
    current = read_current(storage, subdir, invalid_as_empty=rebuild)
    repodata = current.repodata
    old = repodata.records()
    # What the last run and publishers found lets a store list a large subdir in ranges at once.
    known = [f"{subdir}/{name}" for name in {*old, *state.files, *state.skipped}]
    known += [repodata_key(subdir)] if current.json is not None else []
    listed = list(
        first.values()
        if first is not None and listing_holds(state, current)
        else storage.list_objects(f"{subdir}/", known=known)
    )
    listing = {i.name: i for i in listed if is_package_filename(i.name)}
    exports_etag = next((i.etag for i in listed if i.key == f"{subdir}/{RUN_EXPORTS}"), None)
    yanked = set(repodata.removed)
    keep: dict[str, dict[str, Any]] = {}
    known_bad: dict[str, str] = {}
    unproven: list[ObjectInfo] = []
    for name, info in listing.items():
        if name in yanked:
            continue
        record, seen, skip = old.get(name), state.files.get(name), state.skipped.get(name)
        if not rebuild and record is not None and seen is not None and seen.proves(info.etag, info.size, record):
            keep[name] = record
        elif not rebuild and record is None and skip is not None and skip.etag == info.etag:
            known_bad[name] = skip.reason
        else:
            unproven.append(info)
    to_read = unproven if rebuild else prove_published(storage, unproven, old, keep, workers)
    invalid = rebuild and current.json is not None and not _readable(current.json.data, subdir)
    return _Snapshot(repodata, current, listing, keep, to_read, known_bad, invalid, exports_etag)


def _readable(data: bytes, subdir: str) -> bool:
    try:
        Repodata.from_json(data, subdir)
    except InvalidRepodata:
        return False
    return True


def _merge(subdir: str, snap: _Snapshot, reader: Reader, now_ms: int) -> tuple[Repodata, SubdirReport]:
    """The new repodata: proven records, plus what was read (keeping each file's first `indexed_timestamp`)."""
    old = snap.repodata.records()
    new = Repodata(subdir=subdir, removed=list(snap.repodata.removed), extra=snap.repodata.extra)
    report = SubdirReport(subdir=subdir, unchanged=len(snap.keep), skipped=dict(snap.known_bad))
    for name, record in snap.keep.items():
        new.set(name, record)
    for info in snap.to_read:
        result = reader.result(info)
        if isinstance(result, str):
            report.skipped[info.name] = result
            continue
        previous = old.get(info.name)
        if previous is not None:
            result = {**result, "indexed_timestamp": previous.get("indexed_timestamp", now_ms)}
            if result == previous:
                report.unchanged += 1
            else:
                report.updated.append(info.name)
        else:
            report.added.append(info.name)
        new.set(info.name, result)
    records = new.records()
    report.removed = sorted(n for n in old if n not in records)
    return new, report


def _commit(
    storage: Storage,
    subdir: str,
    snap: _Snapshot,
    new: Repodata,
    report: SubdirReport,
    state: IndexState,
    rebuild: bool,
) -> tuple[str | None, Derived]:
    """Commit the new records if anything changed (or the subdir has never been committed to by condafarm, or
    this is a rebuild, which writes every shard file again); otherwise only compact `repodata.json` and prove
    (or repair) its derived files."""
    current = snap.current
    if (
        rebuild
        or report.changed
        or snap.invalid
        or not current.committed
        or current.json is None
        or current.index is None
    ):
        previous = current if current.exists else None
        committed, derived = commit_repodata(storage, subdir, new, previous, rewrite_shards=rebuild)
        report.wrote = True
        return (committed.json.etag if committed.json is not None else None), derived
    if current.pending:
        json = compact(storage, subdir)
        report.wrote = True
        return (json.etag if json is not None else None), Derived(current.index.etag, set(current.names.values()))
    zst = storage.head(repodata_key(subdir) + ".zst")
    digests = set(current.names.values())
    known = (state.json_etag, state.shards_etag, state.zst_etag, state.exports_etag)
    if zst is not None and known == (current.json.etag, current.index.etag, zst.etag, snap.exports_etag):
        return current.json.etag, Derived(current.index.etag, digests, zst.etag, snap.exports_etag)
    body = current.json.data
    problems, proven = derived_problems(storage, subdir, body, current.repodata, current.index, committed=True)
    if proven is not None:
        return current.json.etag, proven
    log.warning("%s; rewriting it from repodata.json", problems[0])
    zst_etag, exports_etag = sync_derived(storage, subdir, current.json.data, current.json.etag, current.repodata)
    return current.json.etag, Derived(current.index.etag, digests, zst_etag, exports_etag)


def _correct_headers(storage: Storage, keys: list[str]) -> int:
    """Give objects an older condafarm wrote without Cache-Control their header (see `storage/cache_control.py`);
    how many needed it. Package files and shards never change under their name, so a client's guess at their
    freshness is harmless: only the objects that change are corrected."""
    return sum(storage.correct_cache_control(key) for key in keys)


def _save_state(
    storage: Storage,
    subdir: str,
    state: IndexState,
    snap: _Snapshot,
    new: Repodata,
    report: SubdirReport,
    json_etag: str | None,
    derived: Derived,
) -> None:
    """Remember what this run proved, and collect shard files that no index has named for the grace period."""
    files = {
        name: FileState(snap.listing[name].size, snap.listing[name].etag, rec["sha256"])
        for name, rec in new.records().items()
    }
    # Also when nothing changed: a sweep may be due (`sweep_due`), which only `track_shards` times.
    orphans, swept = track_shards(
        storage, subdir, derived.shard_digests, set(state.shard_digests), state.orphan_shards, state.swept
    )
    skipped = {name: Skipped(snap.listing[name].etag, reason) for name, reason in report.skipped.items()}
    new_state = IndexState(
        files,
        json_etag,
        derived.zst_etag,
        derived.shards_etag,
        orphans,
        sorted(derived.shard_digests),
        skipped,
        cache_control.VERSION,
        swept,
        derived.exports_etag,
    )
    if new_state != state:
        new_state.save(storage, subdir)


def index_subdir(
    storage: Storage,
    subdir: str,
    *,
    dry_run: bool = False,
    rebuild: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    processes: Processes | None = None,
) -> SubdirReport:
    """Bring one subdir's repodata in line with the package files present, reading only new or changed ones.

    `processes`: a pool the subdirs of one run share for large batches of local reads (`read/reading.py`)."""
    reader = Reader(storage, subdir, workers or storage.read_threads, progress, processes)
    state = IndexState() if rebuild else IndexState.load(storage, subdir)
    first = None if rebuild else first_listing(storage, subdir, state)
    unchanged = None if first is None else unchanged_report(storage, subdir, state, first)
    if unchanged is not None:
        return unchanged

    def attempt() -> SubdirReport:
        # A package replaced while it is read, or repodata changed before the commit, raises Conflict: start
        # over from a fresh read (the reader remembers what it already read by etag).
        nonlocal first
        snap = _snapshot(storage, subdir, state, rebuild, reader.workers, first)
        first = None  # a retry lists again: the file read may have been replaced since
        now_ms = int(time.time() * 1000)
        reader.read_all(snap.to_read, now_ms)
        new, report = _merge(subdir, snap, reader, now_ms)
        if not dry_run:
            json_etag, derived = _commit(storage, subdir, snap, new, report, state, rebuild)
            if state.cache_headers < cache_control.VERSION:
                report.headers_corrected = _correct_headers(storage, [f"{subdir}/{name}" for name in CHANGING])
            _save_state(storage, subdir, state, snap, new, report, json_etag, derived)
        return report

    return retry_on_conflict(
        attempt, what=storage.channel.url_of(shards_key(subdir)), hint="run `condafarm index` again"
    )


def _chosen_subdirs(storage: Storage, subdirs: list[str] | None) -> list[str]:
    if not subdirs:
        return discover_subdirs(storage)
    unknown = [s for s in subdirs if s not in KNOWN_SUBDIRS]
    if unknown:
        raise UsageError(f"unknown subdir {unknown[0]!r}; expected one of {', '.join(sorted(KNOWN_SUBDIRS))}")
    discover_subdirs(storage)
    return sorted(set(subdirs))


def index_channel(
    channel: Channel | Storage,
    *,
    subdirs: list[str] | None = None,
    dry_run: bool = False,
    strict: bool = False,
    rebuild: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
) -> IndexReport:
    """Index every subdir of a channel (or those in `subdirs`), writing repodata.json and the derived files.

    Corrupt packages are skipped with a warning naming them; with `strict`, any skip raises
    `ChannelProblems` after the rest is indexed. `dry_run` reports what would change and writes nothing.
    """
    storage = open_storage(channel)
    started = time.monotonic()
    chosen = _chosen_subdirs(storage, subdirs)

    processes = Processes(min(os.cpu_count() or 1, workers or storage.read_threads))

    def one(subdir: str) -> SubdirReport:
        return index_subdir(
            storage, subdir, dry_run=dry_run, rebuild=rebuild, workers=workers, progress=progress, processes=processes
        )

    try:
        with ThreadPoolExecutor(max_workers=SUBDIR_THREADS) as pool:
            reports = list(pool.map(one, chosen))
    finally:
        processes.close()
    for report in reports:
        for name, reason in sorted(report.skipped.items()):
            log.warning("skipped %s/%s: %s", report.subdir, name, reason)
    if not dry_run and "noarch" not in chosen and storage.head(repodata_key("noarch")) is None:
        index_subdir(storage, "noarch")
    if not dry_run and any(r.headers_corrected for r in reports):
        _correct_headers(storage, [PAGE_KEY, RECORD_KEY])
    if not dry_run:
        # After the subdirs, not beside them: a run that cannot write must fail with one line, not also warn
        # that it cannot look for leftovers.
        remove_leftovers(storage)
        keep_page_current(storage)
    result = IndexReport(
        channel=storage.channel.url,
        subdirs=reports,
        seconds=time.monotonic() - started,
        dry_run=dry_run,
        requests=storage.request_counts(),
    )
    if strict and result.total("skipped"):
        raise ChannelProblems(
            f"{result.total('skipped')} package(s) could not be indexed (see warnings above); "
            "fix or remove them, or run without --strict"
        )
    return result


__all__ = ["IndexReport", "SubdirReport", "index_channel", "index_subdir", "init_channel"]
