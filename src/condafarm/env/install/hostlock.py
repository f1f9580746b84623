"""An exclusive lock shared by every process on a host, released by the operating system if its holder dies.

`flock` on Linux and macOS, `msvcrt.locking` on Windows: a job killed while holding it never blocks the next.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path
from types import TracebackType

from ...errors import AccessDenied, CondafarmError


class HostLock:
    """`with HostLock(path, timeout):` waits up to `timeout` seconds for the lock, then raises."""

    def __init__(self, path: Path, timeout: float = 3600.0, poll: float = 0.2) -> None:
        self.path, self.timeout, self.poll = path, timeout, poll
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if free; False if another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if self.path.is_symlink():  # Windows has no O_NOFOLLOW
                raise OSError(errno.ELOOP, "a symlink")
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise AccessDenied(
                f"{self.path} is a symlink, which condafarm never opens or creates a file through (another user of "
                "the cache may have planted it): remove it"
            ) from exc
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases flock and msvcrt locks alike
            self._fd = None

    def __enter__(self) -> HostLock:
        deadline = time.monotonic() + self.timeout
        while not self.try_acquire():
            if time.monotonic() > deadline:
                raise CondafarmError(
                    f"waited {self.timeout:.0f}s for {self.path}, held by another job on this host; "
                    "retry later or remove the environment cache"
                )
            time.sleep(self.poll)
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
