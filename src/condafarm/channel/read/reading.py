"""Reading package files from a storage into repodata records, in parallel, as cheaply as the store allows."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ...conda.package import (
    Hashes,
    HashingReader,
    PackageMetadata,
    check_matches,
    hash_bytes,
    hash_file,
    hashes_from_metadata,
    read_metadata,
    read_metadata_bytes,
    split_filename,
)
from ...conda.repodata import make_record
from ...conda.validate import load_parsers
from ...errors import NotFound, PackageError
from ...storage import ObjectInfo, Storage, open_storage
from ...storage.location import Channel

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

#: Local packages up to this size are read into memory once, for both hashing and parsing.
IN_MEMORY_BYTES = 64 * 1024 * 1024
#: Below this many local packages to read, a process pool costs more to start than it saves.
PROCESS_POOL_MIN = 400

#: `progress(subdir, done, total)` after each package read.
Progress = Callable[[str, int, int], None]
#: A package's record, or why it cannot be indexed.
Result = dict[str, Any] | str


def read_package(storage: Storage, info: ObjectInfo, subdir: str) -> tuple[dict[str, Any], PackageMetadata, Hashes]:
    """Read one package file: its index.json (checked against name and subdir), metadata and hashes.

    Reads as little as the store allows: a small local file once; an S3 `.conda` by ranged reads, using the
    hashes in its object metadata when present and downloading the whole file only when they are not.
    Raises `PackageError` for anything wrong with the file.
    """
    filename = info.name
    split_filename(filename)
    hashes: Hashes | None
    if storage.cheap_reads and info.size <= IN_MEMORY_BYTES:
        with storage.open(info) as f:
            data = f.read()
        hashes = hash_bytes(data)
        metadata = read_metadata_bytes(data, filename)
    elif filename.endswith(".conda"):
        with storage.open(info) as f:
            metadata = read_metadata(f, filename, prefetch=f.prefetch)
            hashes = hashes_from_metadata(f.metadata, info.size)
            if hashes is None and f.complete:
                f.seek(0)
                hashes = hash_file(f)
        if hashes is None:
            with storage.stream(info) as s:
                hashes = hash_file(s)
    else:
        with storage.stream(info) as s:
            reader = HashingReader(s)
            metadata = read_metadata(reader, filename)
            hashes = hashes_from_metadata(s.metadata, info.size) or reader.finish()
    if hashes.size != info.size:
        raise PackageError(f"{filename}: read {hashes.size} bytes but the listing said {info.size}")
    return check_matches(metadata, filename, subdir), metadata, hashes


def _read_one(storage: Storage, info: ObjectInfo, subdir: str, now_ms: int) -> Result:
    """The record for one package file, or why it cannot be indexed.

    A file replaced while it is read raises `Conflict`: the run starts over with a fresh listing rather than
    dropping the record of a file that is there.
    """
    try:
        index, metadata, hashes = read_package(storage, info, subdir)
        return make_record(index, metadata, hashes, now_ms)
    except (PackageError, NotFound) as exc:
        return str(exc).removeprefix(f"{info.name}: ")


def _read_batch(channel: Channel, subdir: str, infos: list[ObjectInfo], now_ms: int) -> list[tuple[ObjectInfo, Result]]:
    """A process pool task: read a batch of local packages in a child process."""
    storage = open_storage(channel)
    return [(info, _read_one(storage, info, subdir, now_ms)) for info in infos]


class Processes:
    """One process per core, shared by the subdirs of an index run and started only when a batch needs it: a
    pool costs ~20-30 ms to start and its children each import py-rattler once, so once per run, not per subdir."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # Imported here: multiprocessing costs ~10 ms to import, which a run without a large batch saves.
                from concurrent.futures import ProcessPoolExecutor

                load_parsers()
                self._pool = ProcessPoolExecutor(max_workers=self.workers)
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None


class Reader:
    """Reads packages in parallel, remembering results by (key, etag) across compare-and-swap retries.

    Network reads wait, so threads suffice. Reading a small local package is Python that threads only fight
    over for the GIL, so a large batch of cheap reads goes to `processes`, one per core, instead (figures in
    bench/README.md).
    """

    def __init__(
        self,
        storage: Storage,
        subdir: str,
        workers: int,
        progress: Progress | None,
        processes: Processes | None = None,
    ) -> None:
        self.storage, self.subdir, self.workers, self.progress = storage, subdir, workers, progress
        self.processes = processes
        self.done: dict[tuple[str, str], Result] = {}
        self._lock = threading.Lock()

    def result(self, info: ObjectInfo) -> Result:
        return self.done[(info.key, info.etag)]

    def read_all(self, infos: list[ObjectInfo], now_ms: int) -> None:
        todo = [i for i in infos if (i.key, i.etag) not in self.done]
        if not todo:
            return
        counter = [0]

        def record(results: list[tuple[ObjectInfo, Result]]) -> None:
            with self._lock:
                for info, result in results:
                    self.done[(info.key, info.etag)] = result
                counter[0] += len(results)
                n = counter[0]
            if self.progress is not None:
                self.progress(self.subdir, n, len(todo))

        cores = os.cpu_count() or 1
        if self.storage.cheap_reads and cores > 1 and self.workers > 1 and len(todo) >= PROCESS_POOL_MIN:
            processes = self.processes or Processes(min(cores, self.workers))
            try:
                processes_pool = processes.pool()
                batches = [todo[i :: cores * 4] for i in range(cores * 4)]
                futures = [
                    processes_pool.submit(_read_batch, self.storage.channel, self.subdir, b, now_ms) for b in batches
                ]
                for future in futures:
                    record(future.result())
            finally:
                if processes is not self.processes:
                    processes.close()
            return

        def one(info: ObjectInfo) -> None:
            record([(info, _read_one(self.storage, info, self.subdir, now_ms))])

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for done in [pool.submit(one, info) for info in todo]:
                done.result()


def prove_published(
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
    candidates = [i for i in infos if storage.keeps_object_metadata and i.name in old]
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
