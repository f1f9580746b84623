"""`S3Storage`: the storage contract on an S3 bucket, tying the client, listing, readers and uploads together.

Conditional writes use S3's `If-None-Match: *` and `If-Match: ETAG`, which answer 412 to the loser of a race.
Reads are checked for tearing (`torn.py`); interrupted multipart uploads are its leftovers (`unfinished.py`).
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import botocore.exceptions

from ...errors import AccessDenied, AlreadyExists, Conflict, StorageError
from ..cache_control import cache_control
from ..contract import Blob, Leftover, ObjectInfo, ObjectReader, Storage
from ..location import Channel, check_key
from . import unfinished
from .client import make_client
from .errors import FAILURES, MISSING, Condition, error_code, translate_error, translated
from .listing import Listing
from .reader import CountingStream, RangeReader
from .torn import READ_ATTEMPTS, is_torn, pause, stated_md5
from .upload import MULTIPART_THRESHOLD, PART_BYTES, upload_file

log = logging.getLogger(__name__)

#: Concurrent reads and HEADs: each waits on the network, not on the CPU.
READ_THREADS = 32
#: Threads that may use one client at once, each needing its own pooled connection: the engine indexes up to 4
#: subdirs together, each with `read_threads` readers, then writes its shards with 4 x `read_threads`
#: (channel/index.py, channel/derived.py). An idle pooled connection costs one socket.
CONNECTIONS = 4 * 4 * READ_THREADS


class S3Storage(Storage):
    """Storage on `s3://bucket/prefix`, through one boto3 client shared by all threads."""

    def __init__(self, channel: Channel) -> None:
        assert channel.bucket is not None
        self.channel = channel
        self.cheap_reads = False
        self.read_threads = READ_THREADS
        self.keeps_object_metadata = True
        self.bucket = channel.bucket
        self._counts: Counter[str] = Counter()
        self._bytes_read = 0
        self._lock = threading.Lock()
        self.client = make_client(channel, connections=CONNECTIONS)
        #: Whether this store's single-part ETags are the MD5 of the body, which proves a read whole; cleared
        #: for a store that answers the same bytes twice under an ETag that is not their MD5.
        self.etags_are_md5 = True
        #: Whether these credentials may list multipart uploads (see `leftovers`).
        self._may_list_uploads = True
        self._upload_ids: dict[Leftover, str] = {}
        self.multipart_threshold = MULTIPART_THRESHOLD
        self.part_bytes = PART_BYTES
        self._answered_at = ""  # the Date header of the store's latest answer
        self.client.meta.events.register("request-created.s3", self._count_request)
        self.client.meta.events.register("response-received.s3", self._note_server)
        self._listing = Listing(self.client, channel, self.bucket, threads=self.read_threads)

    def _count_request(self, request: Any, operation_name: str = "", **_: Any) -> None:
        # `request-created` fires once per HTTP attempt, so retries are counted too: the real traffic.
        with self._lock:
            self._counts[operation_name or request.method] += 1

    def _note_server(self, response_dict: dict[str, Any] | None = None, **_: Any) -> None:
        # every answer, refusals included (a 412 says who refused)
        if response_dict is not None:
            headers = response_dict.get("headers", {})
            self.server = str(headers.get("server", ""))
            self._answered_at = str(headers.get("date", "")) or self._answered_at

    def store_time(self) -> float | None:
        """The Date of the store's latest answer: its own clock, costing no request of its own."""
        try:
            return email.utils.parsedate_to_datetime(self._answered_at).timestamp() if self._answered_at else None
        except (TypeError, ValueError):
            return None

    def _add_bytes(self, n: int) -> None:
        with self._lock:
            self._bytes_read += n

    def request_counts(self) -> dict[str, int]:
        with self._lock:
            counts = dict(self._counts)
            counts["bytes_read"] = self._bytes_read
        return counts

    def _key(self, key: str) -> str:
        return self.channel.key(check_key(key))

    def _translated(self, operation: str, key: str, condition: Condition | None = None) -> AbstractContextManager[None]:
        return translated(self.channel, operation, key, condition=condition)

    def list_objects(self, prefix: str, *, known: Collection[str] = ()) -> Iterator[ObjectInfo]:
        """Objects under `prefix`, in ranges listed at once where `known` fills more than a page (`listing.py`)."""
        return self._listing.objects(prefix, known)

    def list_dirs(self, prefix: str = "") -> list[str]:
        return self._listing.dirs(prefix)

    def folder(self, prefix: str) -> str:
        """The full key prefix, ending in `/`, of a folder inside the channel (`""` is the channel root)."""
        return self._listing.folder(prefix)

    def get(self, key: str, *, limit: int | None = None) -> Blob | None:
        """The whole object, read again while it is torn (see `torn.py`); past `limit`, its first `limit + 1`
        bytes (the rest is never downloaded)."""
        unproven: tuple[str, str] | None = None  # (ETag, MD5) of the last read that was not its ETag's MD5
        for attempt in range(READ_ATTEMPTS):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
                if limit is not None and response.get("ContentLength", 0) > limit:
                    return self._beginning(response, limit)
                data = response["Body"].read()
            except FAILURES as exc:
                if error_code(exc) in MISSING:
                    return None
                if not is_torn(exc) or attempt == READ_ATTEMPTS - 1:
                    raise translate_error(exc, "GetObject", self.channel, key) from exc
                log.info("reading %s broke off (%s); reading it again", self.channel.url_of(key), exc)
                pause(attempt)
                continue
            self._add_bytes(len(data))
            blob = Blob(data, response["ETag"], dict(response.get("Metadata") or {}))
            stated = stated_md5(response) if self.etags_are_md5 else None
            if stated is None:
                return blob
            actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
            if actual == stated:
                return blob
            if unproven == (blob.etag, actual):
                log.info("%s answers ETags that are not MD5s; reads are proven by their length only", self.bucket)
                self.etags_are_md5 = False
                return blob
            log.info(
                "%s read as %d bytes that are not its ETag's; reading it again", self.channel.url_of(key), len(data)
            )
            unproven = (blob.etag, actual)
            pause(attempt)
        raise StorageError(
            f"{self.channel.url_of(key)} read differently each of {READ_ATTEMPTS} times, never as the MD5 its ETag "
            "states: the store is serving a write in progress or damaged data; try again once writers are done, "
            "and check the store if it persists"
        )

    def _beginning(self, response: dict[str, Any], limit: int) -> Blob:
        """The first `limit + 1` bytes of an object over `limit`; the connection is closed on the rest. Not
        proven against its ETag: the reader refuses it for its size whatever its bytes."""
        body = response["Body"]
        try:
            data = body.read(limit + 1)
        finally:
            body.close()
        self._add_bytes(len(data))
        return Blob(data, response["ETag"], dict(response.get("Metadata") or {}))

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except FAILURES as exc:
            # Some S3-compatible servers name a missing object NotFound when answering a HEAD.
            if error_code(exc) in (*MISSING, "NotFound"):
                return None
            raise translate_error(self._why_forbidden(exc, key), "HeadObject", self.channel, key) from exc
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            etag=response["ETag"],
            modified=response["LastModified"].timestamp() if response.get("LastModified") else None,
            metadata=dict(response.get("Metadata") or {}),
        )

    def stream(self, info: ObjectInfo) -> ObjectReader:
        def body_from(offset: int) -> Any:
            args = {"Range": f"bytes={offset}-"} if offset else {}
            with self._translated("GetObject", info.key, "unchanged"):
                response = self.client.get_object(
                    Bucket=self.bucket, Key=self._key(info.key), IfMatch=info.etag, **args
                )
            return response

        first = body_from(0)
        return CountingStream(
            first["Body"],
            dict(first.get("Metadata") or {}),
            self._add_bytes,
            size=info.size,
            reopen=lambda offset: body_from(offset)["Body"],
            url=self.channel.url_of(info.key),
        )

    def open(self, info: ObjectInfo) -> ObjectReader:
        return RangeReader(info.size, lambda start, end: self._get_range(info.key, start, end, info.etag))

    def _get_range(self, key: str, start: int, end: int, etag: str) -> tuple[bytes, dict[str, str]]:
        """Bytes `[start, end)`, read again while they come torn or short."""
        for attempt in range(READ_ATTEMPTS):
            # If-Match: a file replaced between listing and reading must not be read as a mix of both.
            try:
                response = self.client.get_object(
                    Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end - 1}", IfMatch=etag
                )
                data = response["Body"].read()
            except FAILURES as exc:
                if not is_torn(exc) or attempt == READ_ATTEMPTS - 1:
                    raise translate_error(exc, "GetObject", self.channel, key, condition="unchanged") from exc
                problem = str(exc)
            else:
                self._add_bytes(len(data))
                if len(data) == end - start:
                    return data, dict(response.get("Metadata") or {})
                problem = f"asked for {end - start} bytes, got {len(data)}"
            log.info("reading %s broke off (%s); reading it again", self.channel.url_of(key), problem)
            pause(attempt)
        raise StorageError(f"{self.channel.url_of(key)} read short {READ_ATTEMPTS} times ({problem})")

    def _why_forbidden(self, exc: Exception, key: str) -> Exception:
        """A HEAD refused with 403 carries no error code (a HEAD answer has no body): ask the same with a one-byte
        GET, whose refusal says whether the credentials were rejected or lack the permission."""
        if error_code(exc) != "403":
            return exc
        try:
            self.client.get_object(Bucket=self.bucket, Key=self._key(key), Range="bytes=0-0")
        except botocore.exceptions.ClientError as why:
            if why.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403:
                return why
        except FAILURES:
            pass  # no better answer than the HEAD's
        return exc

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
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "Body": data,
            "CacheControl": cache_control(key),
        }
        if if_absent:
            args["IfNoneMatch"] = "*"
        if if_match is not None:
            args["IfMatch"] = if_match
        if metadata:
            args["Metadata"] = metadata
        if content_type:
            args["ContentType"] = content_type
        condition: Condition | None = "absent" if if_absent else "match" if if_match is not None else None
        with self._translated("PutObject", key, condition):
            return str(self.client.put_object(**args)["ETag"])

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
        return upload_file(
            self,
            check_key(key),
            path,
            sha256=sha256,
            md5=md5,
            if_absent=if_absent,
            metadata=metadata,
            content_type=content_type,
            progress=progress,
        )

    def can_copy_from(self, source: Storage) -> bool:
        """Buckets behind one endpoint copy server-side (CopyObject)."""
        return isinstance(source, S3Storage) and source.channel.s3 == self.channel.s3

    def copy_from(self, source: Storage, key: str, *, if_absent: bool = False) -> str:
        """Server-side copy of `key` from another channel on the same endpoint (metadata included).

        Objects over 5 GB need a multipart copy, which boto3's managed `copy` does; it cannot be conditional.
        S3 answers 412 to a CopyObject with `If-None-Match: *` onto an existing key; SeaweedFS 4.48 and moto copy
        over it, so with `if_absent` a HEAD first refuses an existing key on every store (it leaves a race on such
        stores, which only the conditional copy closes).
        """
        assert isinstance(source, S3Storage), "copy_from needs can_copy_from(source)"
        src = {"Bucket": source.bucket, "Key": source.channel.key(key)}
        target = self._key(key)
        if if_absent and self.head(key) is not None:
            raise AlreadyExists(f"{self.channel.url_of(key)} already exists")
        with self._translated("CopyObject", key, "absent" if if_absent else None):
            head = source.head(key)
            if head is not None and head.size > 5 * 1024**3:
                self.client.copy(src, self.bucket, target)
                return str(self.client.head_object(Bucket=self.bucket, Key=target)["ETag"])
            # REPLACE, not COPY: the copy gets this channel's Cache-Control, and the source's own metadata.
            args: dict[str, Any] = {
                "Bucket": self.bucket,
                "Key": target,
                "CopySource": src,
                "MetadataDirective": "REPLACE",
                "Metadata": head.metadata if head is not None else {},
                "CacheControl": cache_control(key),
            }
            if if_absent:
                args["IfNoneMatch"] = "*"
            etag = str(self.client.copy_object(**args)["CopyObjectResult"]["ETag"])
        # Quoted, as S3 answers and every HEAD says; SeaweedFS (4.48) leaves a copy's ETag unquoted.
        return etag if etag.startswith('"') else f'"{etag}"'

    def correct_cache_control(self, key: str) -> bool:
        """HEAD `key`; if its Cache-Control is not what it should be, copy it onto itself with the header (its
        content, content type and metadata unchanged; only if it is still the object that HEAD saw)."""
        wanted = cache_control(key)
        with self._translated("HeadObject", key):
            try:
                response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            except FAILURES as exc:
                if error_code(exc) in (*MISSING, "NotFound"):
                    return False
                raise
        if response.get("CacheControl") == wanted:
            return False
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "CopySource": {"Bucket": self.bucket, "Key": self._key(key)},
            "CopySourceIfMatch": response["ETag"],
            "MetadataDirective": "REPLACE",
            "Metadata": dict(response.get("Metadata") or {}),
            "CacheControl": wanted,
        }
        if response.get("ContentType"):
            args["ContentType"] = response["ContentType"]
        try:
            with self._translated("CopyObject", key, "match"):
                self.client.copy_object(**args)
        except Conflict:
            return False  # replaced or removed since the HEAD: its writer gave the new object its header
        return True

    def delete(self, key: str) -> None:
        with self._translated("DeleteObject", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def leftovers(self, prefix: str) -> list[Leftover]:
        """Unfinished multipart uploads directly under `prefix`. Credentials that may not list uploads, and stores
        that cannot (s3rver answers NotImplemented), see none, with one warning: looking for leftovers is never
        what a command is for."""
        if not self._may_list_uploads:
            return []
        try:
            found = unfinished.find(self, prefix)
        except (AccessDenied, unfinished.NotSupported) as exc:
            self._may_list_uploads = False
            log.warning("cannot look for unfinished uploads in %s: %s", self.channel.url, exc)
            return []
        with self._lock:
            self._upload_ids.update(found)
        return [leftover for leftover, _ in found]

    def discard(self, leftover: Leftover) -> None:
        with self._lock:
            upload_id = self._upload_ids.pop(leftover)
        unfinished.abort(self, leftover, upload_id)
