"""Atomic file operations for a folder channel: temporary files, lock files, replace, and their leftovers.

Hidden sibling names (`.NAME.HEX.tmp`, `.NAME.lock`) stay within the 255-byte name limit of common filesystems
however long NAME is, so a package with a long filename can be published.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from ..errors import AccessDenied, StorageError

log = logging.getLogger(__name__)

#: A lock this process has seen unchanged for this long (by its own clock) is taken to belong to a crashed process.
STALE_LOCK_SECONDS = 60.0
LOCK_TIMEOUT_SECONDS = 120.0
#: After this long waiting for a lock, say what we wait for (a crashed writer's lock costs STALE_LOCK_SECONDS).
LOCK_PATIENCE_SECONDS = 3.0
#: Longest file name (in bytes) on ext4, NTFS, APFS and SMB shares.
NAME_MAX = 255


def hidden_sibling(path: Path, suffix: str) -> Path:
    """`.NAME.SUFFIX` beside `path`, with NAME shortened when the whole would be over `NAME_MAX` bytes."""
    room = NAME_MAX - len(f"..{suffix}".encode())
    name = path.name
    while len(name.encode()) > room:
        name = name[:-1]
    return path.with_name(f".{name}.{suffix}")


def is_leftover(name: str) -> bool:
    """Whether a file name is one of our temporary files (what an interrupted write leaves behind)."""
    return name.startswith(".") and name.endswith(".tmp")


@contextlib.contextmanager
def hold_lock(path: Path) -> Iterator[None]:
    """Hold `.NAME.lock` beside `path` (O_EXCL: portable to Windows and network shares) for a compare-and-replace.

    A lock is stale once this process has seen it unchanged for `STALE_LOCK_SECONDS` by its own monotonic clock,
    never by the lock file's mtime: on a network share that is the file server's clock (or the holder's), which
    may disagree with this host's, so a host whose clock runs ahead would break a live lock at once.
    """
    lock = hidden_sibling(path, "lock")
    started = time.monotonic()
    told = False
    seen: tuple[int, int] | None = None
    seen_since = started
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(fd)
            break
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                now = _identity(lock)
                if now != seen:
                    seen, seen_since = now, time.monotonic()
                elif time.monotonic() - seen_since > STALE_LOCK_SECONDS:
                    _break_stale(lock, now)
                    continue
            waited = time.monotonic() - started
            if waited > LOCK_TIMEOUT_SECONDS:
                raise StorageError(
                    f"{lock} has been held for over {LOCK_TIMEOUT_SECONDS:.0f}s; "
                    "if no condafarm process is running, delete it"
                ) from None
            if waited > LOCK_PATIENCE_SECONDS and not told:
                told = True
                log.warning(
                    "waiting for %s, held by another writer (a crashed writer's lock is broken once seen unchanged "
                    "for %.0fs)",
                    lock,
                    STALE_LOCK_SECONDS,
                )
            time.sleep(0.005 + secrets.randbelow(20) / 1000)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _identity(lock: Path) -> tuple[int, int]:
    """What tells one holding of a lock from the next: its file's inode and mtime. Another holding in the same
    mtime tick may look the same, but not for `STALE_LOCK_SECONDS`: every new holding gets a later mtime. Read by
    stat alone: an open file would stop its holder deleting it on Windows."""
    st = lock.stat()
    return st.st_ino, st.st_mtime_ns


def _break_stale(lock: Path, seen: tuple[int, int]) -> None:
    """Remove the lock a crashed process left, which this one has seen unchanged (`seen`), never a live one.

    Two waiters may both find the same lock stale; the first breaks it and takes a new one, which the second
    must not delete. So the lock is first renamed aside (atomic: only one waiter gets it), and deleted only if
    what was renamed is still the one seen; a live lock taken by mistake is put back unless another has been taken.
    """
    aside = hidden_sibling(lock, f"{secrets.token_hex(6)}.stale")
    os.rename(lock, aside)
    if _identity(aside) == seen:
        aside.unlink()
        return
    with contextlib.suppress(FileExistsError):
        os.link(aside, lock)
    aside.unlink()


def prune_empty_folders(folder: Path, root: Path) -> None:
    """Remove `folder` and its parents below `root` while they are empty."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone, or not ours to remove): stop there
            return
        folder = folder.parent


def write_temp(path: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """A durable temporary file next to `path` holding what `write` wrote, to be moved into place atomically."""
    tmp = hidden_sibling(path, f"{secrets.token_hex(6)}.tmp")
    try:
        for attempt in range(3):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                f = open(tmp, "wb")  # noqa: SIM115 (closed by the `with f:` below, once opened)
                break
            except FileNotFoundError:  # a delete pruned the empty folder in between: make it again
                if attempt == 2:
                    raise
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except PermissionError as exc:
        raise AccessDenied(f"cannot write in {path.parent}: permission denied") from exc
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return tmp


def replace(src: Path, dst: Path) -> None:
    """`os.replace`, retried briefly: on Windows it fails while a reader holds `dst` open."""
    for attempt in range(50):
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if os.name != "nt" or attempt == 49:
                raise
            time.sleep(0.02)
