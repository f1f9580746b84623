"""The storage contract: what every store behind a channel offers (`Storage`), what a listing says of an object,
what an interrupted write leaves, and the readers `open`/`stream` return. `local.py` and `s3/` implement it;
tests/test_storage_contract.py states it on every backend."""

from __future__ import annotations

import abc
import io
import os
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from .location import Channel


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing says about one object.

    `etag` is a token that changes whenever the content changes: S3's ETag, or for a folder the file's
    inode, mtime and size (see `local.py`).
    """

    key: str
    size: int
    etag: str
    #: When the store received this content, in epoch seconds by the *store's* clock (S3's LastModified, a file's
    #: mtime), None where the store did not say. Hosts' clocks may disagree with it and with each other, so it is
    #: only ever compared with the same store's times (`Storage.store_time`), never with `time.time()`.
    modified: float | None = field(default=None, compare=False, hash=False)
    #: User metadata (`package-sha256`...), filled by `head()` on stores that keep it; listings leave it empty.
    metadata: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Leftover:
    """Something an interrupted write left behind that no reader needs (a temporary file, an unfinished
    multipart upload): reported by `check`, removed by `index` once it is old enough to be abandoned."""

    key: str
    what: str
    size: int
    #: How long ago it was last written, by the store's clock alone (a host's may run ahead); None where the
    #: store's time is unknown (a folder this process cannot write): it is then never taken to be abandoned.
    age_seconds: float | None


@dataclass(frozen=True)
class Blob:
    """An object's whole content with the etag of exactly that content, for compare-and-swap updates."""

    data: bytes
    etag: str
    metadata: dict[str, str] = field(default_factory=dict)


class ObjectReader(io.RawIOBase, IO[bytes]):
    """A read-only file over one object, as `Storage.open` and `Storage.stream` return it.

    Beyond a file it carries the object's user metadata (`package-sha256`...) and, for readers that fetch byte
    ranges on demand, a way to fetch a known range in one request and to tell whether every byte is held.
    """

    #: The object's user metadata, known after the first read; empty where the store keeps none.
    metadata: dict[str, str]

    def __init__(self) -> None:
        super().__init__()
        self.metadata = {}

    def readable(self) -> bool:
        return True

    @property
    def complete(self) -> bool:
        """Whether reading the whole object again costs no request (true of local files)."""
        return True

    def prefetch(self, start: int, end: int) -> None:
        """Make `[start, end)` available in one request; nothing to do where reads are local."""


class Storage(abc.ABC):
    """A channel's objects. Implementations must make conditional puts atomic."""

    channel: Channel
    #: Reads cost no request (a local disk): read small packages whole, hash them in place, and spread large
    #: batches over processes. False where every read is a network request: read by ranges, never twice.
    cheap_reads: bool = True
    #: Threads worth giving to concurrent reads. Local reads are CPU-bound Python, so one per core helps
    #: (hashing releases the GIL); network reads wait, so many help.
    read_threads: int = max(1, min(4, os.cpu_count() or 1))
    #: `head()` returns the user metadata `put`/`upload` stored, so one HEAD proves a published file's sha256.
    keeps_object_metadata: bool = False
    #: Conditional writes are known to be honoured (checked by `conditions.py` before the first write).
    conditions_proven: bool = False
    #: What the store says it is (S3's `Server` header, with its version, in its latest answer; empty where no
    #: server answers): a proof of conditional writes holds only for the server it was made on.
    server: str = ""
    #: The user promised that only one writer ever writes this channel (`--single-writer`): a store that
    #: ignores conditional writes may then be written, and every commit is read back.
    single_writer: bool = False

    @abc.abstractmethod
    def list_objects(self, prefix: str, *, known: Collection[str] = ()) -> Iterator[ObjectInfo]:
        """Objects directly under `prefix` (a folder such as `linux-64/`), not recursing.

        `known` are keys the caller expects there (what an earlier listing found): a store that lists in pages
        may cut the listing at them into ranges listed at once. They never change what is listed.
        """

    @abc.abstractmethod
    def list_dirs(self, prefix: str = "") -> list[str]:
        """Names of the folders directly under `prefix`."""

    @abc.abstractmethod
    def get(self, key: str, *, limit: int | None = None) -> Blob | None:
        """The whole object, or None if it does not exist.

        With `limit`, an object larger than `limit` bytes is read no further than `limit + 1` bytes: a reader
        that takes no more than `limit` (a side file another party can write) sees that it is over without
        holding a hostile object whole.
        """

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Size and etag of `key`, or None if it does not exist."""

    @abc.abstractmethod
    def stream(self, info: ObjectInfo) -> ObjectReader:
        """The whole object as a sequential stream (one request on S3), failing if it changed since `info`."""

    @abc.abstractmethod
    def open(self, info: ObjectInfo) -> ObjectReader:
        """A seekable reader, failing if the object changed since `info`; on S3 it fetches byte ranges on demand
        (see `RangeReader`)."""

    @abc.abstractmethod
    def put(
        self,
        key: str,
        data: bytes,
        *,
        if_absent: bool = False,
        if_match: str | None = None,
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> str:
        """Write `data`, returning the new etag.

        `if_absent` raises `AlreadyExists` when the key exists; `if_match` raises `Conflict` unless the
        current etag equals it. Both checks are atomic with the write.
        """

    @abc.abstractmethod
    def upload(
        self,
        key: str,
        path: Path,
        *,
        sha256: str,
        md5: str,
        if_absent: bool = False,
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> str:
        """Write the file at `path` (any size, streamed) and prove the store holds exactly its bytes.

        Packages are pinned by hash in lockfiles, so an upload is checked against `sha256`/`md5` (S3 checksums
        and ETags; a read-back locally); a mismatch removes the object and raises `StorageError`.
        `progress(n)` is called with each chunk's byte count. Returns the new etag; `if_absent` as in `put`.
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key`; removing a missing key is not an error."""

    @abc.abstractmethod
    def store_time(self) -> float | None:
        """The store's own time now, in epoch seconds, as late as it has said (S3: the Date of its latest answer,
        so call it after the request whose objects it ages; a folder: the mtime of a file written and removed at
        once, which on a share is its server's clock). Ages are `store_time() - ObjectInfo.modified`, two times of
        one clock, never a host's clock against the store's. None where the store has not said (nothing was asked
        yet, no Date, a folder this process cannot write): an age is then unknown, and nothing is taken for old.
        """

    def leftovers(self, prefix: str) -> list[Leftover]:
        """What interrupted writes left under `prefix`, at any depth; stores that leave nothing return []."""
        return []

    def discard(self, leftover: Leftover) -> None:
        """Remove a leftover (only ever one `leftovers()` returned)."""
        self.delete(leftover.key)

    def can_copy_from(self, source: Storage) -> bool:
        """Whether `copy_from(source, ...)` copies inside the store, without the bytes passing through us."""
        return False

    def copy_from(self, source: Storage, key: str, *, if_absent: bool = False) -> str:
        """Copy `key` from `source` inside the store (metadata included); only where `can_copy_from(source)`.

        Returns the new etag; `if_absent` as in `put`.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot copy from {type(source).__name__}")

    def correct_cache_control(self, key: str) -> bool:
        """Give the object at `key` the Cache-Control header condafarm writes it with now (`cache_control.py`),
        for objects an older condafarm wrote without one; True if it had to be rewritten. Folders carry no
        headers: nothing to do."""
        return False

    def request_counts(self) -> dict[str, int]:
        """Requests made so far, by operation (for tests and benchmarks); empty for stores without requests."""
        return {}


__all__ = ["Blob", "Leftover", "ObjectInfo", "ObjectReader", "Storage"]
