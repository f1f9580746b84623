"""Publishing: upload package files and add their records, in a number of requests independent of the
channel's size, never overwriting a published file.

Order of work, each step safe to die after:
1. read and check every file locally (a bad one stops everything before any upload);
2. read the shards of the names being published and refuse names that already exist (HEAD), unless `force`;
3. note the intents (`intents.py`);
4. upload with If-None-Match, verified against the package's sha256 and md5, which also go into the
   object's metadata (so no indexer ever downloads it again), and mark the intents ready;
5. commit together with every publisher that arrived at the same time (`group.py`): one of them commits all
   their records to the shards of their names with a compare-and-swap on the shard index (`names.py`), so
   rattler and pixi see them, and, if the subdir is small enough for that to be cheap, compacts
   `repodata.json` once for all of them, so conda sees them too.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..conda.package import Hashes, PackageMetadata, check_matches, hash_file, read_metadata, split_filename
from ..conda.repodata import make_record, repodata_key
from ..conda.shards import NameRecords, record_name
from ..conda.validate import check_record
from ..errors import AlreadyExists, CondafarmError, NotFound, PackageError, UsageError
from ..storage import ObjectInfo, Storage, open_storage
from ..storage.conditions import ensure_conditional_writes
from ..storage.location import KNOWN_SUBDIRS, Channel
from .commit import ADOPT_AFTER_SECONDS, Plan, commit_names, commit_together, compact, holds, init_channel, intents
from .page import keep_page_current
from .provenance import Provenance, provenance_key, published_by, write_provenance
from .report import Published, PublishReport

log = logging.getLogger(__name__)

#: `progress(filename, bytes_done, bytes_total)` while uploading.
UploadProgress = Callable[[str, int, int], None]


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


def prepare(path: Path) -> Prepared:
    """Read and check one local package file: readable, metadata agreeing with its filename, known subdir."""
    if path.is_dir():
        raise UsageError(
            f"{path} is a folder; give the package files in it (e.g. {path / '*.conda'}, or {path}/*/*.conda "
            "for a build's output folder)"
        )
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
    compact: bool = False,
    progress: UploadProgress | None = None,
    provenance: Mapping[str, Provenance] | None = None,
    patches: Mapping[str, Mapping[str, Any]] | None = None,
    create_folder: bool = True,
) -> PublishReport:
    """Upload `files` to `channel` and index them, all or none.

    Raises `PackageError`/`UsageError` for a bad file and `AlreadyExists` for a name already in the channel
    (unless `force`, which replaces the file and its record), in both cases before uploading anything.
    Each file's provenance (by filename; `build` gives it) goes beside it; a file without one is recorded as
    published by this user or job. `patches` (by filename) replace the `depends` and `constrains` that index.json
    says, as a channel's repodata patches do (`mirror` keeps its upstream's). `compact` rewrites `repodata.json`
    before returning even where the subdir is too large for that to be the default (see `group.py`). Without
    `create_folder`, a folder channel that does not exist is refused (`NotFound`) rather than made: a mistyped
    path must not start a new channel.
    """
    started = time.monotonic()
    storage = open_storage(channel)
    if not files:
        raise UsageError("nothing to publish: name at least one .conda or .tar.bz2 file")
    folder = storage.channel.path
    if not create_folder and folder is not None and not folder.is_dir():
        raise NotFound(
            f"channel folder {folder} does not exist; check the path, or create the channel with "
            f"`condafarm init {folder}`"
        )
    prepared = [prepare(Path(f)) for f in files]
    fixes = {name: checked_patch(name, patch) for name, patch in (patches or {}).items()}
    seen: set[str] = set()
    for item in prepared:
        if item.key in seen:
            raise UsageError(f"{item.filename} is named twice; publish each file once")
        seen.add(item.key)
    by_subdir: dict[str, list[Prepared]] = {}
    for item in prepared:
        by_subdir.setdefault(item.subdir, []).append(item)
    # Read first (an unreadable repodata.json fails here, before anything is uploaded); the commit reuses it.
    current = {
        subdir: Plan.read(storage, subdir, {i.name for i in items}, compact) for subdir, items in by_subdir.items()
    }
    heads = {item.key: storage.head(item.key) for item in prepared}
    existing = {key for key, head in heads.items() if head is not None}
    unfinished = set() if force else _unfinished(storage, prepared, heads, current)
    taken = sorted(existing - unfinished)
    if taken and not force:
        first = next(i for i in prepared if i.key == taken[0])
        hint = "raise the build number (condafarm build --build-number=+1) or pass --force to replace it"
        if current[first.subdir].record(first.filename, first.name) is None:
            hint = f"it is not indexed and differs from this file: run `condafarm index {storage.channel.url}`, {hint}"
        raise AlreadyExists(
            f"{storage.channel.url_of(taken[0])} already exists and published packages never change; {hint}"
        )
    ensure_conditional_writes(storage)  # a store that would let publishers overwrite each other is refused now
    now = time.time()
    noted_at = time.monotonic()  # how long its intents have stood is timed by this clock, never by their stamp
    noted: dict[intents.Intent, dict[str, Any]] = {}
    for subdir, items in by_subdir.items():
        records = {i.filename: {**i.record(int(now * 1000)), **fixes.get(i.filename, {})} for i in items}
        replace = {i.filename for i in items if force or i.key in unfinished}
        noted.update(intents.note(storage, subdir, records, now, replace))

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
        _forget(storage, list(noted), created, uploaded, existing if force else set(), noted_at)
        raise

    intents.mark_ready(storage, noted)
    report = PublishReport(storage.channel.url)
    for subdir in by_subdir:
        mine = {intent: record for intent, record in noted.items() if intent.subdir == subdir}
        report.adopted += commit_together(storage, subdir, mine, current[subdir])
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
    keep_page_current(storage)
    report.seconds = time.monotonic() - started
    report.requests = storage.request_counts()
    return report


#: Record fields a repodata patch may replace.
PATCHABLE = ("depends", "constrains")


def checked_patch(filename: str, patch: Mapping[str, Any]) -> dict[str, list[str]]:
    """A patch of `filename`'s record: only `PATCHABLE` fields, each a list of match specs a client can read."""
    unknown = set(patch) - set(PATCHABLE)
    if unknown:
        raise PackageError(f"{filename}: a patch may change only {' and '.join(PATCHABLE)}, not {sorted(unknown)}")
    fields = {key: list(value) for key, value in patch.items() if isinstance(value, (list, tuple))}
    if len(fields) != len(patch) or any(not isinstance(v, str) for value in fields.values() for v in value):
        raise PackageError(f"{filename}: a patch's {' and '.join(PATCHABLE)} must be lists of match specs")
    check_record({"name": "x", "version": "0", "build": "0", "build_number": 0, **fields}, None, filename)
    return fields


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
    noted_at: float,
) -> None:
    """After a failed upload: leave the channel as it was, as far as that is possible.

    The intents go first, so no other publisher adopts these files from now on; then the files this publish
    created are deleted, except any another publisher already indexed (it adopted the intent earlier), and
    except, after a very long upload, all of them: a committer may be adopting them right now, so they are left
    for `index`, never deleted under a commit that names them. That is judged by how long ago this publisher
    noted its intents (`noted_at`, by `time.monotonic()`): the store received them after that, so no committer
    can have seen them as old as that yet (it judges by the store's clock, `intents.py`), whatever this host's
    wall clock says or does meanwhile.
    Files this publish replaced (`--force`) cannot be restored, so their records are updated to the new bytes;
    new names are deleted like any other, so a failed publish leaves none of its new packages behind.
    """
    intents.finish(storage, noted)
    adoptable = time.monotonic() - noted_at >= ADOPT_AFTER_SECONDS / 2
    with contextlib.suppress(CondafarmError):
        overwritten = [i for i in uploaded if i.key in replaced]
        now_ms = int(time.time() * 1000)
        for subdir in {i.subdir for i in overwritten}:
            mine = [i for i in overwritten if i.subdir == subdir]

            def change(groups: dict[str, NameRecords], mine: list[Prepared] = mine) -> None:
                for item in mine:
                    groups[item.name].set(item.filename, item.record(now_ms))

            if commit_names(storage, subdir, {i.name for i in mine}, change, first=None, legacy=None) is not None:
                compact(storage, subdir)
        for subdir in {i.subdir for i in created}:
            mine = [i for i in created if i.subdir == subdir]
            now = Plan.read(storage, subdir, {i.name for i in mine})
            for item in mine:
                if adoptable:
                    log.warning("%s was uploaded long ago and may be committed by now; left for `index`", item.key)
                elif now.record(item.filename, item.name) is None:
                    storage.delete(item.key)
                    storage.delete(provenance_key(item.subdir, item.filename))


def _unfinished(
    storage: Storage,
    prepared: list[Prepared],
    heads: dict[str, ObjectInfo | None],
    current: dict[str, Plan],
) -> set[str]:
    """Keys of files already in the channel with exactly these bytes but in no record: left by a publish of the
    same file that died between its upload and its index update. Publishing again finishes its work."""
    found: set[str] = set()
    for item in prepared:
        head = heads[item.key]
        plan = current[item.subdir]
        indexed = plan.record(item.filename, item.name) is not None or plan.yanked(item.filename, item.name)
        if head is None or head.size != item.hashes.size or indexed:
            continue
        if holds(storage, head, item.hashes.sha256):
            found.add(item.key)
    return found


__all__ = ["Prepared", "PublishReport", "Published", "prepare", "publish"]
