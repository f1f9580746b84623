"""Publishing: upload package files and add their records, in a number of requests independent of the
channel's size, never overwriting a published file.

Order of work, each step safe to die after:
1. read and check every file locally (a bad one stops everything before any upload);
2. refuse names that already exist (HEAD), unless `force`;
3. record the intent in the subdir's `publishing.json` (see `intents.py`);
4. upload with If-None-Match, verified against the package's sha256 and md5, which also go into the
   object's metadata (so no indexer ever downloads it again);
5. add the records to `repodata.json` with a compare-and-swap (plus the intents of publishers that died
   after their upload), then the derived `.zst`, shards and `run_exports.json`;
6. drop the finished intents.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..conda.package import Hashes, PackageMetadata, check_matches, hash_file, read_metadata, split_filename
from ..conda.repodata import Repodata, make_record
from ..errors import AlreadyExists, CondafarmError, PackageError, StorageError, UsageError
from ..storage import ObjectInfo, Storage, open_storage
from ..storage.location import KNOWN_SUBDIRS, Channel
from . import intents
from .provenance import Provenance, provenance_key, published_by, write_provenance
from .store import init_channel, load_repodata, repodata_key, update_repodata

log = logging.getLogger(__name__)

#: `progress(filename, bytes_done, bytes_total)` while uploading.
UploadProgress = Callable[[str, int, int], None]

#: Another publisher's intent is adopted only once it is this old: a live publisher indexes its own files
#: (and may still roll them back), so only the files of one that died are picked up.
ADOPT_AFTER_SECONDS = 600

CONTENT_TYPES = {".conda": "application/octet-stream", ".tar.bz2": "application/x-bzip2"}


@dataclass(frozen=True)
class Prepared:
    """A local package file, read and checked, ready to upload."""

    path: Path
    subdir: str
    index: dict[str, Any]
    metadata: PackageMetadata
    hashes: Hashes

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def key(self) -> str:
        return f"{self.subdir}/{self.filename}"

    def record(self, indexed_timestamp: int) -> dict[str, Any]:
        return make_record(self.index, self.metadata, self.hashes, indexed_timestamp)


@dataclass(frozen=True)
class Published:
    filename: str
    subdir: str
    url: str
    name: str
    version: str
    build: str
    build_number: int
    size: int
    sha256: str
    replaced: bool = False


@dataclass
class PublishReport:
    channel: str
    packages: list[Published] = field(default_factory=list)
    #: files of interrupted publishes that this one indexed
    adopted: list[str] = field(default_factory=list)
    seconds: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        extra = f", indexed {len(self.adopted)} left by interrupted publishes" if self.adopted else ""
        return f"published {len(self.packages)} package(s) to {self.channel}{extra} in {self.seconds:.2f}s"


def prepare(path: Path) -> Prepared:
    """Read and check one local package file: readable, metadata agreeing with its filename, known subdir."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file; give paths to .conda or .tar.bz2 files")
    split_filename(path.name)
    try:
        with open(path, "rb") as f:
            hashes = hash_file(f)
            f.seek(0)
            metadata = read_metadata(f, path.name)
    except PermissionError as exc:
        raise UsageError(f"{path}: cannot read it (permission denied)") from exc
    subdir = str(metadata.index.get("subdir") or "")
    if subdir not in KNOWN_SUBDIRS:
        raise PackageError(f"{path.name}: index.json names subdir {subdir!r}, which is not a conda platform")
    return Prepared(path, subdir, check_matches(metadata, path.name, subdir), metadata, hashes)


def publish(
    channel: Channel | Storage,
    files: Sequence[Path | str],
    *,
    force: bool = False,
    progress: UploadProgress | None = None,
    provenance: Mapping[str, Provenance] | None = None,
) -> PublishReport:
    """Upload `files` to `channel` and index them, all or none.

    Raises `PackageError`/`UsageError` for a bad file and `AlreadyExists` for a name already in the channel
    (unless `force`, which replaces the file and its record), in both cases before uploading anything.
    Each file's provenance (by filename; `build` gives it) goes beside it; a file without one is recorded as
    published by this user or job.
    """
    started = time.monotonic()
    storage = open_storage(channel)
    if not files:
        raise UsageError("nothing to publish: name at least one .conda or .tar.bz2 file")
    prepared = [prepare(Path(f)) for f in files]
    seen: set[str] = set()
    for item in prepared:
        if item.key in seen:
            raise UsageError(f"{item.filename} is named twice; publish each file once")
        seen.add(item.key)
    by_subdir: dict[str, list[Prepared]] = {}
    for item in prepared:
        by_subdir.setdefault(item.subdir, []).append(item)
    # Read first (an unreadable repodata.json fails here, before anything is uploaded); the commit reuses it.
    current = {subdir: load_repodata(storage, subdir) for subdir in by_subdir}
    heads = {item.key: storage.head(item.key) for item in prepared}
    existing = {key for key, head in heads.items() if head is not None}
    unfinished = set() if force else _unfinished(storage, prepared, heads, current)
    taken = sorted(existing - unfinished)
    if taken and not force:
        first = next(i for i in prepared if i.key == taken[0])
        hint = "raise the build number (condafarm build --build-number=+1) or pass --force to replace it"
        if current[first.subdir][0].get(first.filename) is None:
            hint = f"it is not indexed and differs from this file: run `condafarm index {storage.channel.url}`, {hint}"
        raise AlreadyExists(
            f"{storage.channel.url_of(taken[0])} already exists and published packages never change; {hint}"
        )
    now = time.time()
    pending: dict[str, intents.Intents] = {}
    for subdir, items in by_subdir.items():
        mine = {i.filename: {"record": i.record(int(now * 1000)), "since": now} for i in items}
        pending[subdir] = intents.update(storage, subdir, intents.adding(mine))

    created: list[Prepared] = []  # objects this publish created: the only ones a rollback may delete
    uploaded: list[Prepared] = []
    try:
        for item in prepared:
            if item.key in unfinished:
                log.info("%s was uploaded by an interrupted publish of the same file; indexing it", item.filename)
            elif _upload(storage, item, force, progress):
                created.append(item)
            uploaded.append(item)
            record = (provenance or {}).get(item.filename) or published_by(item.path, item.hashes.sha256)
            write_provenance(storage, item.subdir, item.filename, record)
    except BaseException:
        _forget(storage, prepared, created, uploaded, existing if force else set())
        raise

    report = PublishReport(storage.channel.url)
    for subdir, items in by_subdir.items():
        report.adopted += _index(storage, subdir, items, pending[subdir], int(now * 1000), current[subdir])
    if "noarch" not in by_subdir and storage.head(repodata_key("noarch")) is None:
        init_channel(storage)
    for item in prepared:
        report.packages.append(
            Published(
                filename=item.filename,
                subdir=item.subdir,
                url=storage.channel.url_of(item.key),
                name=str(item.index["name"]),
                version=str(item.index["version"]),
                build=str(item.index["build"]),
                build_number=int(item.index["build_number"]),
                size=item.hashes.size,
                sha256=item.hashes.sha256,
                replaced=item.key in existing,
            )
        )
    report.seconds = time.monotonic() - started
    report.requests = storage.request_counts()
    return report


def _upload(storage: Storage, item: Prepared, force: bool, progress: UploadProgress | None) -> bool:
    """Upload one file; False when an identical object was already there (not ours to roll back)."""
    done = [0]

    def step(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(item.filename, done[0], item.hashes.size)

    try:
        storage.upload(
            item.key,
            item.path,
            sha256=item.hashes.sha256,
            md5=item.hashes.md5,
            if_absent=not force,
            metadata={"package-sha256": item.hashes.sha256, "package-md5": item.hashes.md5},
            content_type=CONTENT_TYPES[split_filename(item.filename)[3]],
            progress=step,
        )
    except AlreadyExists:
        # A retried PUT whose first attempt landed (the connection dropped before the answer) is refused by
        # If-None-Match, and so is another publisher's upload of the very same file: either way the object
        # has this file's bytes, but it may already be indexed by someone else, so it is never rolled back.
        head = storage.head(item.key)
        if head is None or head.size != item.hashes.size or head.metadata.get("package-sha256") != item.hashes.sha256:
            raise
        return False
    return True


def _forget(
    storage: Storage,
    prepared: list[Prepared],
    created: list[Prepared],
    uploaded: list[Prepared],
    replaced: set[str],
) -> None:
    """After a failed upload: leave the channel as it was, as far as that is possible.

    The intents go first, so no other publisher adopts these files from now on; then the files this publish
    created are deleted, except any another publisher already indexed (it adopted the intent earlier).
    Files this publish replaced (`--force`) cannot be restored, so their records are updated to the new bytes;
    new names are deleted like any other, so a failed publish leaves none of its new packages behind.
    """
    names = {i.filename for i in prepared}
    for subdir in {i.subdir for i in prepared}:
        with contextlib.suppress(CondafarmError):
            intents.update(storage, subdir, intents.dropping(names))
    with contextlib.suppress(CondafarmError):
        overwritten = [i for i in uploaded if i.key in replaced]
        now_ms = int(time.time() * 1000)
        for subdir in {i.subdir for i in overwritten}:
            update_repodata(storage, subdir, _setting([i for i in overwritten if i.subdir == subdir], now_ms))
        for subdir in {i.subdir for i in created}:
            named = load_repodata(storage, subdir)[0].records()
            for item in created:
                if item.subdir == subdir and item.filename not in named:
                    storage.delete(item.key)
                    storage.delete(provenance_key(item.subdir, item.filename))


def _setting(items: list[Prepared], now_ms: int) -> Callable[[Repodata], None]:
    """A repodata change for `update_repodata` that puts the records of `items` in."""
    return lambda repodata: _set_records(repodata, items, now_ms)


def _set_records(repodata: Repodata, items: list[Prepared], now_ms: int) -> None:
    """Put the records of `items` into `repodata`, un-yanking any of their names."""
    for item in items:
        if repodata.get(item.filename) is not None:
            log.info("replacing the record of %s/%s", repodata.subdir, item.filename)
        repodata.set(item.filename, item.record(now_ms))
    names = {i.filename for i in items}
    repodata.removed = [n for n in repodata.removed if n not in names]


def _index(
    storage: Storage,
    subdir: str,
    items: list[Prepared],
    pending: intents.Intents,
    now_ms: int,
    current: tuple[Repodata, str | None],
) -> list[str]:
    """Add `items` to the subdir's repodata (read before the upload as `current`), with those `pending` intents
    of other publishers whose uploads finished; returns the names adopted."""
    cutoff = time.time() - ADOPT_AFTER_SECONDS
    others = {
        name: intent
        for name, intent in pending.items()
        if name not in {i.filename for i in items} and float(intent.get("since", 0)) <= cutoff
    }
    ready = {name: intent["record"] for name, intent in others.items() if _complete(storage, subdir, name, intent)}
    adopted: list[str] = []

    def change(repodata: Repodata) -> None:
        adopted.clear()
        for name, record in ready.items():
            if repodata.get(name) is None and name not in repodata.removed:
                repodata.set(name, record)
                adopted.append(name)
        _set_records(repodata, items, now_ms)

    try:
        update_repodata(storage, subdir, change, current=current)
    except StorageError as exc:
        raise StorageError(
            f"uploaded but could not index ({exc}); run `condafarm index {storage.channel.url}` to finish"
        ) from exc
    finished = {i.filename for i in items} | set(ready)
    with contextlib.suppress(CondafarmError):
        intents.update(storage, subdir, intents.dropping(finished))
    return adopted


def _unfinished(
    storage: Storage,
    prepared: list[Prepared],
    heads: dict[str, ObjectInfo | None],
    current: dict[str, tuple[Repodata, str | None]],
) -> set[str]:
    """Keys of files already in the channel with exactly these bytes but in no record: left by a publish of the
    same file that died between its upload and its index update. Publishing again finishes its work."""
    found: set[str] = set()
    for item in prepared:
        head = heads[item.key]
        if head is None or head.size != item.hashes.size or current[item.subdir][0].get(item.filename) is not None:
            continue
        if _holds(storage, head, item.hashes.sha256):
            found.add(item.key)
    return found


def _holds(storage: Storage, head: ObjectInfo, sha256: str) -> bool:
    """Whether the object `head` describes has exactly the bytes with `sha256`: from the hash it was uploaded with
    where the store keeps it, else by hashing the object (a folder's file, another tool's upload)."""
    recorded = head.metadata.get("package-sha256")
    if recorded is not None:
        return recorded == sha256
    with storage.stream(head) as f:
        return hash_file(f).sha256 == sha256


def _complete(storage: Storage, subdir: str, filename: str, intent: dict[str, Any]) -> bool:
    """Whether another publisher's file is fully uploaded: present with its record's size and sha256.

    Uploads land atomically (S3 PUT, or a rename locally), so a present file is a whole file.
    """
    record = intent.get("record") or {}
    head = storage.head(f"{subdir}/{filename}")
    if head is None or head.size != record.get("size"):
        return False
    return _holds(storage, head, str(record.get("sha256")))


__all__ = ["Prepared", "PublishReport", "Published", "prepare", "publish"]
