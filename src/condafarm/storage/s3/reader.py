"""File objects over S3 reads: ranged reads fetched on demand, and a whole-object stream that counts bytes."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import botocore.exceptions

from ...errors import StorageError
from ..contract import ObjectReader
from .torn import READ_ATTEMPTS, is_torn, pause

log = logging.getLogger(__name__)

#: The first ranged read of a `.conda` fetches this much of the file's end: the zip central directory and,
#: for all but large packages, the whole `info-*.tar.zst` member, so most packages cost one request.
TAIL_BYTES = 256 * 1024
READAHEAD_BYTES = 64 * 1024


class CountingStream(ObjectReader):
    """A GetObject body as a file object that counts the bytes it delivers and carries the metadata.

    A body that breaks off, or ends before `size` bytes, is picked up where it stopped: `reopen(offset)` returns
    the rest of the same object (a ranged GET with If-Match), a few times at most (see `torn.py`).
    """

    def __init__(
        self,
        body: Any,
        metadata: dict[str, str],
        count: Callable[[int], None],
        *,
        size: int,
        reopen: Callable[[int], Any],
        url: str,
    ) -> None:
        super().__init__()
        self._body = body
        self.metadata = metadata
        self._count = count
        self._size = size
        self._reopen = reopen
        self._url = url
        self._offset = 0
        self._breaks = 0

    @property
    def complete(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        while True:
            try:
                data = self._body.read(len(buffer))
                if data or not buffer or self._offset >= self._size:
                    break
                problem = f"it ended after {self._offset} of {self._size} bytes"
            except botocore.exceptions.BotoCoreError as exc:
                if not is_torn(exc):
                    raise StorageError(f"download of {self._url} interrupted: {exc}") from exc
                problem = str(exc)
            if self._breaks == READ_ATTEMPTS - 1:
                raise StorageError(f"download of {self._url} kept breaking off ({problem})")
            log.info("reading %s broke off (%s); reading on", self._url, problem)
            pause(self._breaks)
            self._breaks += 1
            self._body.close()
            self._body = self._reopen(self._offset)
        buffer[: len(data)] = data
        self._offset += len(data)
        self._count(len(data))
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


class RangeReader(ObjectReader):
    """A seekable, read-only file over `fetch(start, end) -> (bytes, metadata)` byte-range requests.

    The first read fetches the file's last `TAIL_BYTES` (zip readers start at the end); later misses fetch
    at least `READAHEAD_BYTES`, and `prefetch` lets a caller that knows what it needs get it in one request.
    `metadata` holds the object's user metadata from the first response.
    """

    def __init__(self, size: int, fetch: Callable[[int, int], tuple[bytes, dict[str, str]]]) -> None:
        super().__init__()
        self.size = size
        self._fetch = fetch
        self._pos = 0
        self._segments: list[tuple[int, bytes]] = []
        self.requests = 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _load(self, start: int, end: int) -> None:
        start, end = max(0, start), min(self.size, end)
        if start >= end:
            return
        data, metadata = self._fetch(start, end)
        if len(data) != end - start:  # `fetch` reads again while a range comes short; this is the last guard
            raise StorageError(f"short read: asked for {end - start} bytes, got {len(data)}")
        if not self.requests:
            self.metadata = metadata
        self.requests += 1
        self._segments.append((start, data))

    @property
    def complete(self) -> bool:
        """Whether the whole object is already held, so reading it again costs no request."""
        return self._find(0, self.size) is not None

    def prefetch(self, start: int, end: int) -> None:
        """Fetch `[start, end)` in one request unless it is already held."""
        if self._find(start, min(end, self.size)) is None:
            self._load(start, end)

    def _find(self, start: int, end: int) -> bytes | None:
        for seg_start, data in self._segments:
            if seg_start <= start and end <= seg_start + len(data):
                return data[start - seg_start : end - seg_start]
        return None

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self._pos)
        if n <= 0:
            return 0
        chunk = self._find(self._pos, self._pos + n)
        if chunk is None:
            if not self._segments:
                self._load(self.size - TAIL_BYTES, self.size)
            chunk = self._find(self._pos, self._pos + n)
            if chunk is None:
                self._load(self._pos, self._pos + max(n, READAHEAD_BYTES))
                chunk = self._find(self._pos, self._pos + n)
                assert chunk is not None
        buffer[:n] = chunk
        self._pos += n
        return n
