"""Reading one upstream package file into a local file, checked against the upstream record's size and sha256.

A folder or S3 upstream is read through condafarm's own storage (`SUBDIR/FILE`); an http(s) upstream with plain
GETs that wait at most `CONDAFARM_CONNECT_TIMEOUT` for a connection and `CONDAFARM_READ_TIMEOUT` for the next
bytes (a download is never cut short while bytes flow). The bytes are the upstream's word only until they are
hashed: a file longer than its record, or with another sha256 or md5, is refused and deleted.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import urljoin, urlsplit

from ..errors import NotFound, PackageError, StorageError, UsageError
from ..storage import Storage, open_storage
from ..storage.location import Kind, S3Options, classify
from ..storage.timeouts import timeouts
from ..version import USER_AGENT
from .closure import Wanted

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_REDIRECTS = 5


class Upstream:
    """Where a mirror reads package files from: a folder, an S3 prefix, or an http(s) channel."""

    def __init__(self, location: str, s3: S3Options | None = None) -> None:
        self.location = location.rstrip("/")
        where = classify(location)
        self.http = where.kind is Kind.HTTP
        self.storage: Storage | None = None if self.http else open_storage(where.channel(s3))
        #: bytes read from the upstream so far, and requests made for them
        self.bytes_read = 0
        self.requests = 0
        self._lock = threading.Lock()

    def tally(self, requests: int = 0, size: int = 0) -> None:
        """Count requests and bytes (downloads run in several threads)."""
        with self._lock:
            self.requests += requests
            self.bytes_read += size

    def fetch(self, wanted: Wanted, target: Path) -> None:
        """Write `wanted`'s bytes to `target`, or raise (and leave no `target`) if they are not what its record
        says: `PackageError` for other bytes, `NotFound`/`StorageError` when they cannot be read."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._open(wanted) as source, open(target, "wb") as out:
                _copy_checked(source, out, wanted, self)
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    @contextmanager
    def _open(self, wanted: Wanted) -> Iterator[IO[bytes]]:
        if self.storage is not None:
            self.tally(requests=1)
            info = self.storage.head(wanted.key)
            if info is None:
                raise NotFound(f"{self.storage.channel.url_of(wanted.key)} is in the upstream's index but missing")
            if info.size != wanted.size:
                raise PackageError(
                    f"{self.storage.channel.url_of(wanted.key)} is {info.size} bytes, its upstream record says "
                    f"{wanted.size}; not copied"
                )
            self.tally(requests=1)
            with self.storage.stream(info) as stream:
                yield stream
            return
        with _http_get(self._url_of(wanted), self) as response:
            yield response

    def _url_of(self, wanted: Wanted) -> str:
        """The record's URL, when it is an http(s) URL of this very file; else the file beside its repodata."""
        url = wanted.url
        if urlsplit(url).scheme.lower() in ("http", "https") and url.rsplit("/", 1)[-1] == wanted.filename:
            return url
        return f"{self.location}/{wanted.key}"


def _copy_checked(source: IO[bytes], out: IO[bytes], wanted: Wanted, upstream: Upstream) -> None:
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    size = 0
    while True:
        chunk = source.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        upstream.tally(size=len(chunk))
        if size > wanted.size:
            break  # a hostile or broken upstream may send without end: stop at the first byte too many
        sha256.update(chunk)
        md5.update(chunk)
        out.write(chunk)
    where = f"{upstream.location}/{wanted.key}"
    if size != wanted.size:
        raise PackageError(
            f"{where}: got {'more than ' if size > wanted.size else ''}{size} bytes, its upstream "
            f"record says {wanted.size}; not copied"
        )
    if sha256.hexdigest() != wanted.sha256 or (wanted.md5 is not None and md5.hexdigest() != wanted.md5):
        raise PackageError(f"{where}: its bytes do not match the sha256/md5 of its upstream record; not copied")


@contextmanager
def _http_get(url: str, upstream: Upstream) -> Iterator[IO[bytes]]:
    """A GET of `url` following at most a few redirects, with connect and read timeouts."""
    limits = timeouts()
    for _ in range(_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise UsageError(f"{url[:200]}: an http(s) upstream may only lead to http(s) URLs")
        kind = http.client.HTTPSConnection if parts.scheme.lower() == "https" else http.client.HTTPConnection
        connection = kind(parts.hostname, parts.port, timeout=limits.connect)
        try:
            upstream.tally(requests=1)
            connection.connect()
            if connection.sock is not None:
                connection.sock.settimeout(limits.read)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request("GET", path or "/", headers={"User-Agent": USER_AGENT})
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                url = urljoin(url, response.getheader("Location") or "")
                log.debug("redirected to %s", url)
                continue
            if response.status == 404:
                raise NotFound(f"{url}: not found (404) although the upstream's index names it")
            if response.status != 200:
                raise StorageError(f"{url}: the upstream answered {response.status} {response.reason}")
            yield response
            return
        except (OSError, http.client.HTTPException) as exc:
            raise StorageError(f"could not read {url}: {exc}; check the upstream URL and the network") from exc
        finally:
            connection.close()
    raise StorageError(f"{url}: more than {_REDIRECTS} redirects")


__all__ = ["Upstream"]
