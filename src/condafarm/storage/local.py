"""A channel in a local (or network-mounted) folder, with the same atomic conditional writes as S3.

Writes go to a temporary file in the target folder and are moved into place with `os.replace`, so a reader
sees the old or the new file, never half of one. Put-if-absent uses `os.link`, which fails atomically when the
name exists. Put-if-match holds a per-key lock file (created with O_EXCL, portable to Windows and network
shares) while it compares and replaces.

The etag of a file is its inode, mtime and size: every write replaces the file with a new inode, so the
token changes even when two writes land in the same mtime tick with the same size.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from ..errors import AccessDenied, AlreadyExists, Conflict, NotFound, StorageError
from . import Blob, ObjectInfo, ObjectReader, Storage
from .location import Channel

#: A lock older than this is taken to belong to a crashed process.
STALE_LOCK_SECONDS = 60.0
LOCK_TIMEOUT_SECONDS = 120.0
COPY_CHUNK = 1024 * 1024


def _etag(st: os.stat_result) -> str:
    return f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"


class LocalStorage(Storage):
    """Storage on a folder; `channel.path` is the channel root."""

    def __init__(self, channel: Channel) -> None:
        assert channel.path is not None
        self.channel = channel
        self.root = channel.path

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        folder = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        base = prefix.strip("/")
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return
        except PermissionError as exc:
            raise AccessDenied(f"cannot read folder {folder}: permission denied") from exc
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=True):
                    continue
                st = entry.stat()
            except FileNotFoundError:  # a temporary file another writer just moved into place
                continue
            key = f"{base}/{entry.name}" if base else entry.name
            yield ObjectInfo(key=key, size=st.st_size, etag=_etag(st))

    def list_dirs(self, prefix: str = "") -> list[str]:
        folder = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not folder.is_dir():
            raise NotFound(f"channel folder {folder} does not exist; create it with `condafarm init`")
        return sorted(e.name for e in os.scandir(folder) if e.is_dir())

    def get(self, key: str) -> Blob | None:
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                return Blob(f.read(), _etag(st))
        except FileNotFoundError:
            return None
        except PermissionError as exc:
            raise AccessDenied(f"cannot read {path}: permission denied") from exc

    def head(self, key: str) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(key=key, size=st.st_size, etag=_etag(st))

    def stream(self, info: ObjectInfo) -> ObjectReader:
        return self.open(info)

    def open(self, info: ObjectInfo) -> ObjectReader:
        path = self._path(info.key)
        try:
            return LocalReader(open(path, "rb"))
        except FileNotFoundError as exc:
            raise NotFound(f"{path} disappeared while indexing") from exc

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
        path = self._path(key)
        tmp = _write_temp(path, lambda f: f.write(data))
        # The etag is taken from the temporary file: a rename or link keeps inode, mtime and size, while a stat
        # after the move could already see the next writer's file.
        etag = _etag(tmp.stat())
        try:
            if if_absent:
                self._link_new(tmp, path)
            elif if_match is not None:
                with self._lock(path):
                    try:
                        current = _etag(path.stat())
                    except FileNotFoundError:
                        raise Conflict(f"{path} was removed by another writer") from None
                    if current != if_match:
                        raise Conflict(f"{path} was changed by another writer")
                    _replace(tmp, path)
            else:
                _replace(tmp, path)
            return etag
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

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
        target = self._path(key)

        def copy(dst: IO[bytes]) -> None:
            with open(path, "rb") as src:
                while chunk := src.read(COPY_CHUNK):
                    dst.write(chunk)
                    if progress is not None:
                        progress(len(chunk))

        tmp = _write_temp(target, copy)
        try:
            digest = hashlib.sha256()
            with open(tmp, "rb") as f:
                while chunk := f.read(COPY_CHUNK):
                    digest.update(chunk)
            if digest.hexdigest() != sha256:
                raise StorageError(f"{target} read back with a different sha256 than {path}; retry the publish")
            etag = _etag(tmp.stat())
            if if_absent:
                self._link_new(tmp, target)
            else:
                _replace(tmp, target)
            return etag
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _link_new(self, tmp: Path, path: Path) -> None:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise AlreadyExists(f"{path} already exists") from None
        except OSError as exc:
            # Filesystems without hard links (FAT, some SMB shares): the lock gives the same guarantee
            # against other condafarm writers.
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            with self._lock(path):
                if path.exists():
                    raise AlreadyExists(f"{path} already exists") from None
                _replace(tmp, path)

    @contextlib.contextmanager
    def _lock(self, path: Path) -> Iterator[None]:
        lock = path.with_name(f".{path.name}.lock")
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.close(fd)
                break
            except FileExistsError:
                with contextlib.suppress(FileNotFoundError):
                    if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
                        _break_stale(lock)
                        continue
                if time.monotonic() > deadline:
                    raise StorageError(
                        f"{lock} has been held for over {LOCK_TIMEOUT_SECONDS:.0f}s; "
                        "if no condafarm process is running, delete it"
                    ) from None
                time.sleep(0.005 + secrets.randbelow(20) / 1000)
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()


def _break_stale(lock: Path) -> None:
    """Remove a lock left by a crashed process, without removing a live one.

    Two waiters may both find the same lock stale; the first breaks it and takes a new one, which the second
    must not delete. So the lock is first renamed aside (atomic: only one waiter gets it), and deleted only if
    what was renamed is still stale; a live lock taken by mistake is put back unless another has been taken.
    """
    aside = lock.with_name(f"{lock.name}.{secrets.token_hex(6)}.stale")
    os.rename(lock, aside)
    if time.time() - aside.stat().st_mtime > STALE_LOCK_SECONDS:
        aside.unlink()
        return
    with contextlib.suppress(FileExistsError):
        os.link(aside, lock)
    aside.unlink()


def _write_temp(path: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """A durable temporary file next to `path` holding what `write` wrote, to be moved into place atomically."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except PermissionError as exc:
        raise AccessDenied(f"cannot write in {path.parent}: permission denied") from exc
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return tmp


def _replace(src: Path, dst: Path) -> None:
    """`os.replace`, retried briefly: on Windows it fails while a reader holds `dst` open."""
    for attempt in range(50):
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if os.name != "nt" or attempt == 49:
                raise
            time.sleep(0.02)


class LocalReader(ObjectReader):
    """An open file as an `ObjectReader`: every byte is local, so it is always complete and has no metadata."""

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__()
        self._file = file

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        return self._file.readinto(buffer)  # type: ignore[attr-defined, no-any-return]

    def readall(self) -> bytes:
        return self._file.read()

    def close(self) -> None:
        self._file.close()
        super().close()
