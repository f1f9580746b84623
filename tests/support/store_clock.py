"""Objects a store received long ago, without waiting: the age that intent adoption reads (the store's own time of
each write, `channel/commit/intents.py`), set back for chosen objects.

On a folder the store's time of a write is the file's mtime, set back with `os.utime`. On S3 it is the object's
LastModified, which no client can set: `Backdating` is a proxy in front of an S3 endpoint whose listings show
chosen keys as received that many seconds earlier, as a store would list objects written that long ago.
"""

from __future__ import annotations

import datetime
import os
import re
from urllib.parse import unquote_plus

from condafarm.storage.location import Channel
from support.proxy import S3Proxy

_CONTENTS = re.compile(rb"<Contents>.*?</Contents>", re.S)
_KEY = re.compile(rb"<Key>(.*?)</Key>", re.S)
_MODIFIED = re.compile(rb"<LastModified>(.*?)</LastModified>", re.S)


class Backdating:
    """An `S3Proxy` in front of `upstream_port` whose ListObjectsV2 answers show each key of `shifts` (full keys)
    as received `shifts[key]` seconds earlier than the store says; everything else passes unchanged."""

    def __init__(self, upstream_port: int) -> None:
        self.shifts: dict[str, float] = {}
        self.proxy = S3Proxy(upstream_port, rewrite=self._rewrite)

    def stop(self) -> None:
        self.proxy.stop()

    def _rewrite(self, command: str, path: str, data: bytes) -> bytes:
        if command != "GET" or "list-type=" not in path or not self.shifts:
            return data
        return _CONTENTS.sub(self._entry, data)

    def _entry(self, match: re.Match[bytes]) -> bytes:
        entry = match.group(0)
        key = _KEY.search(entry)
        shift = self.shifts.get(unquote_plus(key.group(1).decode())) if key else None
        if shift is None:
            return entry

        def earlier(modified: re.Match[bytes]) -> bytes:
            when = datetime.datetime.fromisoformat(modified.group(1).decode().replace("Z", "+00:00"))
            moved = (when - datetime.timedelta(seconds=shift)).astimezone(datetime.timezone.utc)
            return f"<LastModified>{moved.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</LastModified>".encode()

        return _MODIFIED.sub(earlier, entry)


class StoreClock:
    """One channel (a folder, or on S3 through a `Backdating` proxy) whose objects a test can make old."""

    def __init__(self, channel: Channel, backdating: Backdating | None = None) -> None:
        assert (channel.path is None) == (backdating is not None), "an S3 channel needs its Backdating proxy"
        self.channel = channel
        self._backdating = backdating

    def backdate(self, key: str, seconds: float) -> None:
        """Make the store say it received `key` (relative to the channel) `seconds` before it did."""
        if self._backdating is not None:
            self._backdating.shifts[self.channel.key(key)] = seconds
            return
        assert self.channel.path is not None
        path = self.channel.path.joinpath(*key.split("/"))
        st = path.stat()
        os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))
