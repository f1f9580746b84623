"""Publishing: upload package files and add their records, in a number of requests independent of the
channel's size, never overwriting a published file.

Order of work, each step safe to die after:
1. read and check every file locally (a bad one stops everything before any upload);
2. read the shards of the names being published and refuse names that already exist (HEAD), unless `force`;
3. note the intents (`intents.py`);
4. upload with If-None-Match, verified against the package's sha256 and md5, which also go into the
   object's metadata (so no indexer ever downloads it again);
5. commit the records to the shards of their names (plus the intents of publishers that died after their
   upload) with a compare-and-swap on the shard index (`names.py`): rattler and pixi see them now;
6. drop the finished intents;
7. compact `repodata.json` together with the publishers that arrived at the same time, if the subdir is small
   enough for that to be cheap (`compaction.py`): conda sees them now.
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
from ..conda.repodata import Repodata, make_record, repodata_key
from ..conda.shards import NameRecords, by_name, record_name
from ..errors import AlreadyExists, CondafarmError, PackageError, StorageError, UsageError
from ..storage import Blob, ObjectInfo, Storage, open_storage
from ..storage.location import KNOWN_SUBDIRS, Channel
from . import intents
from .compaction import compact_after_publish, inline_bytes
from .names import Names, commit_some, read_some
from .overlay import assemble
from .provenance import Provenance, provenance_key, published_by, write_provenance
from .store import Current, init_channel, read_current, update_repodata

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

    @property
    def name(self) -> str:
        """The package name, as its shard is named."""
        return record_name(self.filename, self.index)

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


@dataclass
class _Subdir:
    """What a publish read of one subdir before uploading: the shards of the names it publishes (or, where the
    subdir has no shard index condafarm commits to, its whole repodata), and `repodata.json` when it is small
    enough to compact before returning."""

    names: Names
    legacy: Current | None
    inline: bool
    json: Blob | None

    @classmethod
    def read(cls, storage: Storage, subdir: str, items: list[Prepared]) -> _Subdir:
        names = read_some(storage, subdir, {i.name for i in items})
        legacy = None if names.committed else read_current(storage, subdir)
        if legacy is not None:
            return cls(names, legacy, True, legacy.json)
        head = storage.head(repodata_key(subdir))
        inline = head is None or head.size <= inline_bytes()
        json = storage.get(repodata_key(subdir)) if head is not None and inline else None
        if json is not None:
            Repodata.from_json(json.data, subdir)  # an unreadable one stops the publish before any upload
        return cls(names, None, inline, json)

    def record(self, item: Prepared) -> dict[str, Any] | None:
        if self.legacy is not None:
            return self.legacy.repodata.get(item.filename)
        return self.names.groups[item.name].get(item.filename)


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
    current = {subdir: _Subdir.read(storage, subdir, items) for subdir, items in by_subdir.items()}
    heads = {item.key: storage.head(item.key) for item in prepared}
    existing = {key for key, head in heads.items() if head is not None}
    unfinished = set() if force else _unfinished(storage, prepared, heads, current)
    taken = sorted(existing - unfinished)
    if taken and not force:
        first = next(i for i in prepared if i.key == taken[0])
        hint = "raise the build number (condafarm build --build-number=+1) or pass --force to replace it"
        if current[first.subdir].record(first) is None:
            hint = f"it is not indexed and differs from this file: run `condafarm index {storage.channel.url}`, {hint}"
        raise AlreadyExists(
            f"{storage.channel.url_of(taken[0])} already exists and published packages never change; {hint}"
        )
    now = time.time()
    noted = [
        intent
        for subdir, items in by_subdir.items()
        for intent in intents.note(storage, subdir, {i.filename: i.record(int(now * 1000)) for i in items}, now)
    ]

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
        _forget(storage, noted, created, uploaded, existing if force else set())
        raise

    report = PublishReport(storage.channel.url)
    for subdir, items in by_subdir.items():
        report.adopted += _commit(storage, subdir, items, current[subdir], int(now * 1000))
    intents.finish(storage, noted)
    for subdir, items in by_subdir.items():
        if current[subdir].legacy is None and current[subdir].inline:
            wanted = {i.filename: i.hashes.sha256 for i in items}
            compact_after_publish(storage, subdir, wanted, current[subdir].json)
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
    noted: list[intents.Intent],
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
    intents.finish(storage, noted)
    with contextlib.suppress(CondafarmError):
        overwritten = [i for i in uploaded if i.key in replaced]
        now_ms = int(time.time() * 1000)
        for subdir in {i.subdir for i in overwritten}:
            mine = [i for i in overwritten if i.subdir == subdir]
            _commit(storage, subdir, mine, _Subdir.read(storage, subdir, mine), now_ms, adopt=False)
        for subdir in {i.subdir for i in created}:
            mine = [i for i in created if i.subdir == subdir]
            now = _Subdir.read(storage, subdir, mine)
            for item in mine:
                if now.record(item) is None:
                    storage.delete(item.key)
                    storage.delete(provenance_key(item.subdir, item.filename))


def _commit(
    storage: Storage, subdir: str, items: list[Prepared], current: _Subdir, now_ms: int, *, adopt: bool = True
) -> list[str]:
    """Commit the records of `items` (read before the upload as `current`), with those of other publishers that
    died after their upload (their intents are old and their files complete); returns the names adopted."""
    ready: dict[intents.Intent, dict[str, Any]] = {}
    if adopt:
        mine = {i.filename for i in items}
        old = intents.older_than(storage, subdir, time.time() - ADOPT_AFTER_SECONDS)
        ready = {
            intent: record
            for intent, record in old.items()
            if intent.filename not in mine and _complete(storage, subdir, intent.filename, record)
        }
    adopted: list[str] = []

    def change(groups: dict[str, NameRecords]) -> None:
        adopted.clear()
        for intent, record in ready.items():
            group = groups[record_name(intent.filename, record)]
            if group.get(intent.filename) is None and intent.filename not in group.removed:
                group.set(intent.filename, record)
                adopted.append(intent.filename)
        for item in items:
            if groups[item.name].get(item.filename) is not None:
                log.info("replacing the record of %s/%s", subdir, item.filename)
            groups[item.name].set(item.filename, item.record(now_ms))

    names = {i.name for i in items} | {record_name(i.filename, r) for i, r in ready.items()}
    try:
        if current.legacy is not None or commit_some(storage, subdir, names, change, first=current.names) is None:
            update_repodata(storage, subdir, _by_name(names, change), current=current.legacy)
    except StorageError as exc:
        raise StorageError(
            f"uploaded but could not index ({exc}); run `condafarm index {storage.channel.url}` to finish"
        ) from exc
    intents.finish(storage, [i for i in ready if i.filename in adopted])
    return adopted


def _by_name(names: set[str], change: Callable[[dict[str, NameRecords]], None]) -> Callable[[Repodata], None]:
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


def _unfinished(
    storage: Storage,
    prepared: list[Prepared],
    heads: dict[str, ObjectInfo | None],
    current: dict[str, _Subdir],
) -> set[str]:
    """Keys of files already in the channel with exactly these bytes but in no record: left by a publish of the
    same file that died between its upload and its index update. Publishing again finishes its work."""
    found: set[str] = set()
    for item in prepared:
        head = heads[item.key]
        if head is None or head.size != item.hashes.size or current[item.subdir].record(item) is not None:
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


def _complete(storage: Storage, subdir: str, filename: str, record: dict[str, Any]) -> bool:
    """Whether another publisher's file is fully uploaded: present with its record's size and sha256.

    Uploads land atomically (S3 PUT, or a rename locally), so a present file is a whole file.
    """
    head = storage.head(f"{subdir}/{filename}")
    if head is None or head.size != record.get("size"):
        return False
    return _holds(storage, head, str(record.get("sha256")))


__all__ = ["Prepared", "PublishReport", "Published", "prepare", "publish"]
