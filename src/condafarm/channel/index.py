"""Indexing: turn the packages in a channel's subdirs into `repodata.json` and `repodata.json.zst`.

Incremental by design: a per-subdir state file (`SUBDIR/.condafarm/index-state.json`) remembers each indexed
file's size, etag and sha256, so an unchanged file is never read again while a file re-uploaded under the
same name (new etag) is. Every repodata update is a compare-and-swap on the ETag of `repodata.json`
(`commit_repodata`), so concurrent indexers and publishers never lose each other's records.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import zstandard

from ..conda.package import (
    Hashes,
    HashingReader,
    PackageMetadata,
    check_matches,
    hash_bytes,
    hash_file,
    hashes_from_metadata,
    is_package_filename,
    read_metadata,
    split_filename,
)
from ..conda.repodata import Repodata, compress, decompress, make_record
from ..conda.shards import (
    RUN_EXPORTS,
    SHARDS_FOLDER,
    SHARDS_INDEX,
    Shards,
    make_run_exports,
    make_shards,
    read_shard_names,
)
from ..errors import (
    AlreadyExists,
    ChannelProblems,
    CondafarmError,
    Conflict,
    NotFound,
    PackageError,
    UsageError,
)
from ..storage import Blob, ObjectInfo, Storage, open_storage
from ..storage.location import KNOWN_SUBDIRS, Channel

log = logging.getLogger(__name__)

STATE_KEY = ".condafarm/index-state.json"
MSGPACK_ZST = "application/vnd.msgpack+zstd"
#: An unreferenced shard file is deleted this long after an index run first sees it unreferenced: clients
#: that fetched an older shard index may still ask for the shards it names.
SHARD_GRACE_SECONDS = 24 * 3600
#: Local packages up to this size are read into memory once, for both hashing and parsing.
IN_MEMORY_BYTES = 64 * 1024 * 1024
CAS_ATTEMPTS = 30
#: Subdirs of an S3 channel indexed at once.
SUBDIR_THREADS = 4

#: `progress(subdir, done, total)` after each package read.
Progress = Callable[[str, int, int], None]


@dataclass
class SubdirReport:
    """What one index run did (or, with dry_run, would do) to one subdir."""

    subdir: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # filename -> reason
    unchanged: int = 0
    wrote: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass
class IndexReport:
    channel: str
    subdirs: list[SubdirReport]
    seconds: float
    dry_run: bool
    requests: dict[str, int] = field(default_factory=dict)

    def total(self, what: str) -> int:
        return sum(len(getattr(s, what)) if what != "unchanged" else s.unchanged for s in self.subdirs)

    def summary(self) -> str:
        verb = "would be" if self.dry_run else ""
        parts = [
            f"{self.total('added')} added",
            f"{self.total('updated')} updated",
            f"{self.total('removed')} removed",
            f"{self.total('skipped')} skipped",
            f"{self.total('unchanged')} unchanged",
        ]
        prefix = f"{self.channel}: " + (f"{verb} " if verb else "")
        return f"{prefix}{', '.join(parts)} in {len(self.subdirs)} subdirs, {self.seconds:.2f}s"


def repodata_key(subdir: str) -> str:
    return f"{subdir}/repodata.json"


def read_repodata(storage: Storage, subdir: str) -> tuple[Repodata, Blob | None]:
    """The subdir's current repodata, and the `repodata.json` it came from (None: there is none yet)."""
    blob = storage.get(repodata_key(subdir))
    if blob is None:
        return Repodata(subdir=subdir), None
    return Repodata.from_json(blob.data, subdir), blob


def load_repodata(storage: Storage, subdir: str) -> tuple[Repodata, str | None]:
    """The subdir's current repodata and the etag to compare-and-swap against (None: there is none yet)."""
    repodata, blob = read_repodata(storage, subdir)
    return repodata, blob.etag if blob is not None else None


def commit_repodata(
    storage: Storage, subdir: str, repodata: Repodata, expected_etag: str | None
) -> tuple[str, Derived]:
    """Write `repodata.json` if nobody changed it since `expected_etag`, then the files derived from it.

    Returns the new JSON etag and what `sync_derived` wrote. Raises `Conflict` when another writer got there
    first; the caller re-reads and retries.
    """
    body = repodata.to_json()
    key = repodata_key(subdir)
    try:
        if expected_etag is None:
            etag = storage.put(key, body, if_absent=True, content_type="application/json")
        else:
            etag = storage.put(key, body, if_match=expected_etag, content_type="application/json")
    except AlreadyExists as exc:
        raise Conflict(str(exc)) from exc
    return etag, sync_derived(storage, subdir, body, etag, repodata)


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
        with ThreadPoolExecutor(max_workers=default_workers(storage) * 4) as pool:
            list(pool.map(put_shard, missing))
    else:
        for digest in missing:
            put_shard(digest)
    shards_etag = storage.put(f"{subdir}/{SHARDS_INDEX}", shards.index, content_type=MSGPACK_ZST)
    storage.put(f"{subdir}/{RUN_EXPORTS}", make_run_exports(repodata), content_type="application/json")
    return Derived(zst_etag, shards_etag, set(shards.files))


def update_repodata(storage: Storage, subdir: str, change: Callable[[Repodata], None]) -> tuple[str, Derived]:
    """Apply `change` to the subdir's repodata with a compare-and-swap, re-reading and retrying on conflict.

    `change` may run several times, each time on the freshest repodata; it must only edit what it is given.
    This is how publish, yank and remove update a channel without listing it.
    """
    for attempt in range(CAS_ATTEMPTS):
        repodata, etag = load_repodata(storage, subdir)
        change(repodata)
        try:
            return commit_repodata(storage, subdir, repodata, etag)
        except Conflict:
            log.debug("%s: repodata changed under us (attempt %d); retrying", subdir, attempt + 1)
            backoff(attempt)
    raise Conflict(
        f"{storage.channel.url_of(repodata_key(subdir))} kept changing ({CAS_ATTEMPTS} attempts); "
        "retry, or run `condafarm index` to pick up the files"
    )


def sync_derived(storage: Storage, subdir: str, body: bytes, etag: str, repodata: Repodata | None = None) -> Derived:
    """Make the derived files match `repodata.json`, whose content `body` has etag `etag`.

    After writing them, the JSON is checked again; if another writer replaced it meanwhile, they are written
    again from the newer JSON. Whichever writer writes them last has checked, so concurrent writers cannot
    leave a stale `.zst` or shard index behind.
    """
    key = repodata_key(subdir)
    for _ in range(CAS_ATTEMPTS):
        derived = write_derived(storage, subdir, body, repodata)
        current = storage.head(key)
        if current is None or current.etag == etag:
            return derived
        blob = storage.get(key)
        if blob is None:
            return derived
        body, etag, repodata = blob.data, blob.etag, None
    raise Conflict(f"{storage.channel.url_of(key)} kept changing; run `condafarm index` again")


def backoff(attempt: int) -> None:
    """Sleep before retrying a lost compare-and-swap: exponential with full jitter, capped at 2 s."""
    time.sleep(random.uniform(0, min(2.0, 0.02 * 2**attempt)))


def discover_subdirs(storage: Storage) -> list[str]:
    """The channel's subdirs (folders named like platforms), always including `noarch`."""
    found = [d for d in storage.list_dirs("") if d in KNOWN_SUBDIRS]
    if not found and storage.head(repodata_key("noarch")) is None:
        raise NotFound(
            f"no conda channel at {storage.channel.url} (no subdir folders); "
            f"create one with `condafarm init {storage.channel.url}` or check the URL"
        )
    return sorted(set(found) | {"noarch"})


def read_package(storage: Storage, info: ObjectInfo, subdir: str) -> tuple[dict[str, Any], PackageMetadata, Hashes]:
    """Read one package file: its index.json (checked against name and subdir), metadata and hashes.

    Reads as little as the store allows: a local file once; an S3 `.conda` by ranged reads, using the hashes
    in its object metadata when present and downloading the whole file only when they are not.
    Raises `PackageError` for anything wrong with the file.
    """
    filename = info.name
    split_filename(filename)
    if not storage.remote and info.size <= IN_MEMORY_BYTES:
        with storage.open(info) as f:
            data = f.read()
        hashes: Hashes | None = hash_bytes(data)
        metadata = read_metadata(io.BytesIO(data), filename)
    elif filename.endswith(".conda"):
        with storage.open(info) as f:
            metadata = read_metadata(f, filename)
            hashes = hashes_from_metadata(storage.metadata_of(f), info.size)
            if hashes is None and (not storage.remote or getattr(f, "complete", False)):
                f.seek(0)
                hashes = hash_file(f)
        if hashes is None:
            with storage.stream(info) as s:
                hashes = hash_file(s)
    else:
        with storage.stream(info) as s:
            reader = HashingReader(s)
            metadata = read_metadata(reader, filename)
            hashes = hashes_from_metadata(storage.metadata_of(s), info.size) or reader.finish()
    assert hashes is not None
    if hashes.size != info.size:
        raise PackageError(f"{filename}: read {hashes.size} bytes but the listing said {info.size}")
    return check_matches(metadata, filename, subdir), metadata, hashes


def default_workers(storage: Storage) -> int:
    """Threads for reading packages: many for S3 (requests wait on the network); one per core locally,
    where reading a small package is ~130 us of Python that extra threads only fight over (measured: 8 threads
    were 20-30% slower than 1-2 on 5000 packages; hashing large files releases the GIL, so cores still help)."""
    return 32 if storage.remote else max(1, min(4, os.cpu_count() or 1))


#: Below this many local packages to read, a process pool costs more to start than it saves.
PROCESS_POOL_MIN = 400


def _read_one(storage: Storage, info: ObjectInfo, subdir: str, now_ms: int) -> dict[str, Any] | str:
    """The record for one package file, or why it cannot be indexed.

    A file replaced while it is read raises `Conflict`: the run starts over with a fresh listing rather than
    dropping the record of a file that is there.
    """
    try:
        index, metadata, hashes = read_package(storage, info, subdir)
        return make_record(index, metadata, hashes, now_ms)
    except (PackageError, NotFound) as exc:
        return str(exc).removeprefix(f"{info.name}: ")


def _read_batch(
    channel: Channel, subdir: str, infos: list[ObjectInfo], now_ms: int
) -> list[tuple[ObjectInfo, dict[str, Any] | str]]:
    """A process pool task: read a batch of local packages in a child process."""
    storage = open_storage(channel)
    return [(info, _read_one(storage, info, subdir, now_ms)) for info in infos]


class _Reader:
    """Reads packages in parallel, remembering results by (key, etag) across compare-and-swap retries.

    S3 reads wait on the network, so threads suffice. Reading a small local package is ~150 us of Python that
    threads only fight over for the GIL, so a large local batch is spread over one process per core instead
    (measured on 5000 packages in 3 subdirs and 2 cores: 1.12 s with threads, 0.55 s with processes).
    """

    def __init__(self, storage: Storage, subdir: str, workers: int, progress: Progress | None) -> None:
        self.storage, self.subdir, self.workers, self.progress = storage, subdir, workers, progress
        self.done: dict[tuple[str, str], dict[str, Any] | str] = {}
        self._lock = threading.Lock()

    def read_all(self, infos: list[ObjectInfo], now_ms: int) -> None:
        todo = [i for i in infos if (i.key, i.etag) not in self.done]
        if not todo:
            return
        counter = [0]

        def record(results: list[tuple[ObjectInfo, dict[str, Any] | str]]) -> None:
            with self._lock:
                for info, result in results:
                    self.done[(info.key, info.etag)] = result
                counter[0] += len(results)
                n = counter[0]
            if self.progress is not None:
                self.progress(self.subdir, n, len(todo))

        cores = os.cpu_count() or 1
        if not self.storage.remote and cores > 1 and self.workers > 1 and len(todo) >= PROCESS_POOL_MIN:
            batches = [todo[i :: cores * 4] for i in range(cores * 4)]
            with ProcessPoolExecutor(max_workers=min(cores, self.workers)) as processes:
                futures = [
                    processes.submit(_read_batch, self.storage.channel, self.subdir, batch, now_ms) for batch in batches
                ]
                for future in futures:
                    record(future.result())
            return

        def one(info: ObjectInfo) -> None:
            record([(info, _read_one(self.storage, info, self.subdir, now_ms))])

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for done in [pool.submit(one, info) for info in todo]:
                done.result()


@dataclass
class IndexState:
    """The indexer's memory of a subdir: per file size/etag/sha256, the etags of the repodata files it wrote,
    and since when each unreferenced shard file has been unreferenced.

    Only a cache: anything missing or stale here costs a re-read, never a wrong record.
    """

    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    json_etag: str | None = None
    zst_etag: str | None = None
    shards_etag: str | None = None
    orphan_shards: dict[str, float] = field(default_factory=dict)
    #: the shard files the shard index with `shards_etag` names
    shard_digests: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, storage: Storage, subdir: str) -> IndexState:
        blob = storage.get(f"{subdir}/{STATE_KEY}")
        if blob is None:
            return cls()
        try:
            raw = json.loads(blob.data)
            return cls(
                dict(raw["files"]),
                raw.get("json_etag"),
                raw.get("zst_etag"),
                raw.get("shards_etag"),
                dict(raw.get("orphan_shards") or {}),
                list(raw.get("shard_digests") or []),
            )
        except (ValueError, KeyError, TypeError):
            log.warning("%s/%s is unreadable; re-reading every package once", subdir, STATE_KEY)
            return cls()

    def save(self, storage: Storage, subdir: str) -> None:
        raw = {
            "version": 1,
            "files": self.files,
            "json_etag": self.json_etag,
            "zst_etag": self.zst_etag,
            "shards_etag": self.shards_etag,
            "orphan_shards": self.orphan_shards,
            "shard_digests": self.shard_digests,
        }
        data = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
        storage.put(f"{subdir}/{STATE_KEY}", data, content_type="application/json")


def index_subdir(
    storage: Storage,
    subdir: str,
    *,
    dry_run: bool = False,
    rebuild: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
) -> SubdirReport:
    """Bring one subdir's repodata in line with the package files present, reading only new or changed ones."""
    reader = _Reader(storage, subdir, workers or default_workers(storage), progress)
    state = IndexState() if rebuild else IndexState.load(storage, subdir)
    for attempt in range(CAS_ATTEMPTS):
        # Repodata first, then the listing: a publish that commits in between changes the ETag, so this run's
        # compare-and-swap fails and retries instead of dropping a record whose file the listing missed.
        repodata, blob = read_repodata(storage, subdir)
        etag = blob.etag if blob is not None else None
        listing = {i.name: i for i in storage.list_objects(f"{subdir}/") if is_package_filename(i.name)}
        report = SubdirReport(subdir=subdir)
        yanked = set(repodata.removed)
        old = repodata.records()
        keep: dict[str, dict[str, Any]] = {}
        unproven: list[ObjectInfo] = []
        for name, info in listing.items():
            if name in yanked:
                continue
            record, seen = old.get(name), state.files.get(name)
            if rebuild or record is None or seen is None or seen.get("etag") != info.etag:
                unproven.append(info)
            elif seen.get("size") == info.size == record.get("size") and seen.get("sha256") == record.get("sha256"):
                keep[name] = record
            else:
                unproven.append(info)
        to_read = unproven if rebuild else _prove_published(storage, unproven, old, keep, reader.workers)
        now_ms = int(time.time() * 1000)
        try:
            reader.read_all(to_read, now_ms)
        except Conflict:
            log.debug("%s: a package changed while it was read (attempt %d); starting over", subdir, attempt + 1)
            backoff(attempt)
            continue
        new = Repodata(subdir=subdir, removed=list(repodata.removed), extra=repodata.extra)
        for name, record in keep.items():
            new.set(name, record)
        report.unchanged = len(keep)
        for info in to_read:
            result = reader.done[(info.key, info.etag)]
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
        files = {
            name: {"size": listing[name].size, "etag": listing[name].etag, "sha256": rec["sha256"]}
            for name, rec in records.items()
        }
        if dry_run:
            return report
        try:
            if report.changed or etag is None:
                json_etag, derived = commit_repodata(storage, subdir, new, etag)
                report.wrote = True
            else:
                assert blob is not None  # `etag is None` commits above
                json_etag, derived = blob.etag, _repair_derived(storage, subdir, repodata, blob, state)
        except Conflict:
            log.debug("%s: repodata changed under us (attempt %d); retrying", subdir, attempt + 1)
            backoff(attempt)
            continue
        # Shards become orphans only when the shard index changes, i.e. with repodata.json.
        unchanged = json_etag == state.json_etag and derived.shards_etag == state.shards_etag
        orphans = (
            state.orphan_shards
            if unchanged and not state.orphan_shards
            else _collect_shards(storage, subdir, derived.shard_digests, state.orphan_shards)
        )
        new_state = IndexState(
            files, json_etag, derived.zst_etag, derived.shards_etag, orphans, sorted(derived.shard_digests)
        )
        if new_state != state:
            new_state.save(storage, subdir)
        return report
    raise Conflict(f"{storage.channel.url_of(repodata_key(subdir))} kept changing; run `condafarm index` again")


def _prove_published(
    storage: Storage,
    infos: list[ObjectInfo],
    old: dict[str, dict[str, Any]],
    keep: dict[str, dict[str, Any]],
    workers: int,
) -> list[ObjectInfo]:
    """Keep the records of files `publish` uploaded and indexed, proven by one HEAD each; return the rest.

    A published object carries its sha256 as metadata; when that and the size equal the record's, and the
    HEAD shows the object the listing saw, the record is right without reading the package.
    """
    candidates = [i for i in infos if storage.remote and i.name in old]
    if not candidates:
        return infos

    def proven(info: ObjectInfo) -> bool:
        head = storage.head(info.key)
        record = old[info.name]
        return (
            head is not None
            and head.etag == info.etag
            and head.size == record.get("size")
            and head.metadata.get("package-sha256") == record.get("sha256")
        )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = dict(zip((i.name for i in candidates), pool.map(proven, candidates), strict=True))
    for name, ok in results.items():
        if ok:
            keep[name] = old[name]
    return [i for i in infos if not results.get(i.name)]


def _repair_derived(storage: Storage, subdir: str, repodata: Repodata, blob: Blob, state: IndexState) -> Derived:
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


def _collect_shards(storage: Storage, subdir: str, referenced: set[str], since: dict[str, float]) -> dict[str, float]:
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
    """Index every subdir of a channel (or those in `subdirs`), writing repodata.json and .zst.

    Corrupt packages are skipped with a warning naming them; with `strict`, any skip raises
    `ChannelProblems` after the rest is indexed. `dry_run` reports what would change and writes nothing.
    """
    storage = channel if isinstance(channel, Storage) else open_storage(channel)
    started = time.monotonic()
    if subdirs:
        unknown = [s for s in subdirs if s not in KNOWN_SUBDIRS]
        if unknown:
            raise UsageError(f"unknown subdir {unknown[0]!r}; expected one of {', '.join(sorted(KNOWN_SUBDIRS))}")
        discover_subdirs(storage)
        chosen = sorted(set(subdirs))
    else:
        chosen = discover_subdirs(storage)

    def one(subdir: str) -> SubdirReport:
        return index_subdir(storage, subdir, dry_run=dry_run, rebuild=rebuild, workers=workers, progress=progress)

    # Subdirs are independent; on S3 their listings and reads overlap instead of waiting in turn.
    with ThreadPoolExecutor(max_workers=SUBDIR_THREADS if storage.remote else 1) as pool:
        reports = list(pool.map(one, chosen))
    for report in reports:
        for name, reason in sorted(report.skipped.items()):
            log.warning("skipped %s/%s: %s", report.subdir, name, reason)
    if not dry_run and "noarch" not in chosen and storage.head(repodata_key("noarch")) is None:
        index_subdir(storage, "noarch")
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


def init_channel(channel: Channel | Storage) -> bool:
    """Create an empty channel (`noarch/repodata.json` and `.zst`); False if it already existed."""
    storage = channel if isinstance(channel, Storage) else open_storage(channel)
    try:
        commit_repodata(storage, "noarch", Repodata(subdir="noarch"), None)
    except Conflict:
        return False
    return True


__all__ = [
    "CondafarmError",
    "IndexReport",
    "SubdirReport",
    "commit_repodata",
    "index_channel",
    "index_subdir",
    "init_channel",
    "load_repodata",
    "update_repodata",
]
