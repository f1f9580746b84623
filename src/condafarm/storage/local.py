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
import logging
import os
import stat
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import IO

from ..errors import AccessDenied, AlreadyExists, CondafarmError, Conflict, NotFound, StorageError, UsageError
from .contract import Blob, Leftover, ObjectInfo, ObjectReader, Storage
from .files import hold_lock, is_leftover, prune_empty_folders, replace, write_temp
from .location import Channel, check_key

log = logging.getLogger(__name__)

COPY_CHUNK = 1024 * 1024


def _etag(st: os.stat_result) -> str:
    return f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"


def _open_without_waiting(path: Path) -> IO[bytes]:
    """`path` opened for reading; a fifo opens at once (its reader then checks what it opened) instead of waiting
    for a writer that never comes."""
    return open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)), "rb")


def _a_folder_is_no_object(path: Path) -> None:
    """A folder where a file should be (someone made it by hand): absent, as S3 has no such thing."""
    log.warning("%s is a folder where condafarm expects a file; treated as absent", path)


class LocalStorage(Storage):
    """Storage on a folder; `channel.path` is the channel root."""

    conditions_proven = True  # implemented here, with os.link and lock files

    def __init__(self, channel: Channel) -> None:
        assert channel.path is not None
        self.channel = channel
        self.root = channel.path
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"{self.root} is a file, not a channel folder; give the folder that holds noarch/")
        self._real_root = self.root.resolve()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _inside(self, path: Path) -> bool:
        """Whether `path`, with every symlink followed, is still inside the channel folder."""
        return path.resolve().is_relative_to(self._real_root)

    def _writable(self, key: str) -> Path:
        """The path of `key`, refused if a symlinked folder on the way leads outside the channel folder."""
        path = self._path(key)
        if not self._inside(path.parent):
            raise AccessDenied(
                f"{path.parent} leads outside the channel folder {self.root} (a symlink); "
                "condafarm never writes outside a channel: replace the link with a real folder"
            )
        return path

    def list_objects(self, prefix: str, *, known: Collection[str] = ()) -> Iterator[ObjectInfo]:
        # one directory read: `known` has nothing to speed up
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
                if entry.is_symlink() and not self._inside(Path(entry.path)):
                    log.warning("ignoring %s: a symlink to a file outside the channel folder", entry.path)
                    continue
                st = entry.stat()
                if not st.st_ino:  # Windows leaves a directory entry's inode 0, and the etag holds it
                    st = os.stat(entry.path)
            except FileNotFoundError:  # a temporary file another writer just moved into place
                continue
            key = f"{base}/{entry.name}" if base else entry.name
            yield ObjectInfo(key=key, size=st.st_size, etag=_etag(st), modified=st.st_mtime)

    def list_dirs(self, prefix: str = "") -> list[str]:
        folder = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not folder.is_dir():
            raise NotFound(f"channel folder {folder} does not exist; create it with `condafarm init`")
        return sorted(
            e.name for e in os.scandir(folder) if e.is_dir() and (not e.is_symlink() or self._inside(Path(e.path)))
        )

    def leftovers(self, prefix: str) -> list[Leftover]:
        folder = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        base = prefix.strip("/")
        found: list[Leftover] = []
        if not folder.is_dir():
            return found
        now = self.store_time()
        for dirpath, _, names in os.walk(folder):  # not into symlinked folders: they are not the channel's
            relative = Path(dirpath).relative_to(folder).as_posix()
            inner = "/".join(part for part in (base, "" if relative == "." else relative) if part)
            for name in filter(is_leftover, names):
                with contextlib.suppress(FileNotFoundError):
                    st = os.lstat(os.path.join(dirpath, name))
                    key = f"{inner}/{name}" if inner else name
                    age = None if now is None else max(0.0, now - st.st_mtime)
                    found.append(Leftover(key, "temporary file", st.st_size, age))
        return found

    def store_time(self) -> float | None:
        """The folder's own time, which on a network share is its server's clock, not this host's: the mtime of a
        temporary file written and removed at once (left behind, it is a leftover like any other). None where
        this process cannot write the folder, and so could remove nothing there either."""
        if not self.root.is_dir():
            return None
        try:
            probe = write_temp(self.root / "clock", lambda f: None)
        except CondafarmError:
            return None
        try:
            return probe.stat().st_mtime
        finally:
            probe.unlink(missing_ok=True)

    def get(self, key: str, *, limit: int | None = None) -> Blob | None:
        """The whole file, refused when it is not a regular file inside the channel folder: side files are read
        with `get`, and another party could plant a symlink there to a secret (which an error would then quote),
        to /dev/zero (read until memory ends) or a fifo (read never answered; opened without blocking)."""
        path = self._path(key)
        try:
            with _open_without_waiting(path) as f:
                st = os.fstat(f.fileno())
                if stat.S_ISDIR(st.st_mode):
                    _a_folder_is_no_object(path)
                    return None
                if not stat.S_ISREG(st.st_mode) or not self._inside(path):
                    raise AccessDenied(
                        f"{path} is not a file inside {self.root} (a symlink out of it, a fifo or a device); "
                        "condafarm does not read it: remove it"
                    )
                return Blob(f.read() if limit is None else f.read(limit + 1), _etag(st))
        except FileNotFoundError:
            return None
        except (IsADirectoryError, PermissionError) as exc:
            if path.is_dir():  # Windows says PermissionError for a folder
                _a_folder_is_no_object(path)
                return None
            raise AccessDenied(f"cannot read {path}: permission denied") from exc

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(st.st_mode):
            _a_folder_is_no_object(path)
            return None
        return ObjectInfo(key=key, size=st.st_size, etag=_etag(st), modified=st.st_mtime)

    def stream(self, info: ObjectInfo) -> ObjectReader:
        return self.open(info)

    def open(self, info: ObjectInfo) -> ObjectReader:
        """The file `info` describes, as S3's If-Match reads it: `Conflict` if it was replaced since (an open
        file keeps the bytes it was opened with, so checking once is enough)."""
        path = self._path(info.key)
        try:
            file = _open_without_waiting(path)  # closed by the reader, or here when it is not that file
        except FileNotFoundError as exc:
            raise NotFound(f"{path} disappeared while indexing") from exc
        st = os.fstat(file.fileno())
        if not stat.S_ISREG(st.st_mode):  # a fifo planted since it was listed would never answer
            file.close()
            raise AccessDenied(f"{path} is not a file (a fifo or a device); condafarm does not read it: remove it")
        if _etag(st) != info.etag:
            file.close()
            raise Conflict(f"{path} changed while it was being read")
        return LocalReader(file)

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
        path = self._writable(key)
        tmp = write_temp(path, lambda f: f.write(data))
        # The etag is taken from the temporary file: a rename or link keeps inode, mtime and size, while a stat
        # after the move could already see the next writer's file.
        etag = _etag(tmp.stat())
        try:
            if if_absent:
                self._link_new(tmp, path)
            elif if_match is not None:
                with hold_lock(path):
                    try:
                        current = _etag(path.stat())
                    except FileNotFoundError:
                        raise Conflict(f"{path} was removed by another writer") from None
                    if current != if_match:
                        raise Conflict(f"{path} was changed by another writer")
                    replace(tmp, path)
            else:
                replace(tmp, path)
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
        target = self._writable(key)

        def copy(dst: IO[bytes]) -> None:
            with open(path, "rb") as src:
                while chunk := src.read(COPY_CHUNK):
                    dst.write(chunk)
                    if progress is not None:
                        progress(len(chunk))

        tmp = write_temp(target, copy)
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
                replace(tmp, target)
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
            with hold_lock(path):
                if path.exists():
                    raise AlreadyExists(f"{path} already exists") from None
                replace(tmp, path)

    def delete(self, key: str) -> None:
        path = self._writable(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # Folders exist only for their objects, as on S3: a failed first build leaves no empty noarch/ behind.
        prune_empty_folders(path.parent, self.root)


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
