"""`S3Storage`: the storage contract on an S3 bucket, tying the client, listing, readers and uploads together.

Conditional writes use S3's `If-None-Match: *` and `If-Match: ETAG`, which answer 412 to the loser of a race.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from .. import Blob, ObjectInfo, ObjectReader, Storage
from ..location import Channel
from .client import make_client
from .errors import FAILURES, MISSING, Condition, error_code, translate_error, translated
from .listing import Listing
from .reader import CountingStream, RangeReader
from .upload import MULTIPART_THRESHOLD, PART_BYTES, upload_file

#: Concurrent reads and HEADs: each waits on the network, not on the CPU.
READ_THREADS = 32


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
        self.client = make_client(channel)
        self.multipart_threshold = MULTIPART_THRESHOLD
        self.part_bytes = PART_BYTES
        self.client.meta.events.register("request-created.s3", self._count_request)
        self._listing = Listing(self.client, channel, self.bucket)

    def _count_request(self, request: Any, operation_name: str = "", **_: Any) -> None:
        # `request-created` fires once per HTTP attempt, so retries are counted too: the real traffic.
        with self._lock:
            self._counts[operation_name or request.method] += 1

    def _add_bytes(self, n: int) -> None:
        with self._lock:
            self._bytes_read += n

    def request_counts(self) -> dict[str, int]:
        with self._lock:
            counts = dict(self._counts)
            counts["bytes_read"] = self._bytes_read
        return counts

    def _key(self, key: str) -> str:
        return self.channel.key(key)

    def _translated(self, operation: str, key: str, condition: Condition | None = None) -> AbstractContextManager[None]:
        return translated(self.channel, operation, key, condition=condition)

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        return self._listing.objects(prefix)

    def list_dirs(self, prefix: str = "") -> list[str]:
        return self._listing.dirs(prefix)

    def get(self, key: str) -> Blob | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            data = response["Body"].read()
        except FAILURES as exc:
            if error_code(exc) in MISSING:
                return None
            raise translate_error(exc, "GetObject", self.channel, key) from exc
        self._add_bytes(len(data))
        return Blob(data, response["ETag"], dict(response.get("Metadata") or {}))

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except FAILURES as exc:
            # Some S3-compatible servers name a missing object NotFound when answering a HEAD.
            if error_code(exc) in (*MISSING, "NotFound"):
                return None
            raise translate_error(exc, "HeadObject", self.channel, key) from exc
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            etag=response["ETag"],
            metadata=dict(response.get("Metadata") or {}),
        )

    def stream(self, info: ObjectInfo) -> ObjectReader:
        with self._translated("GetObject", info.key, "unchanged"):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(info.key), IfMatch=info.etag)
        return CountingStream(response["Body"], dict(response.get("Metadata") or {}), self._add_bytes)

    def open(self, info: ObjectInfo) -> ObjectReader:
        return RangeReader(info.size, lambda start, end: self._get_range(info.key, start, end, info.etag))

    def _get_range(self, key: str, start: int, end: int, etag: str) -> tuple[bytes, dict[str, str]]:
        # If-Match: a file replaced between listing and reading must not be read as a mix of both.
        with self._translated("GetObject", key, "unchanged"):
            response = self.client.get_object(
                Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end - 1}", IfMatch=etag
            )
            data = response["Body"].read()
        self._add_bytes(len(data))
        return data, dict(response.get("Metadata") or {})

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
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key), "Body": data}
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
            key,
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

        Objects over 5 GB need a multipart copy, which boto3's managed `copy` does; it cannot be conditional,
        so the existence check before it is the guard there.
        """
        assert isinstance(source, S3Storage), "copy_from needs can_copy_from(source)"
        src = {"Bucket": source.bucket, "Key": source.channel.key(key)}
        target = self._key(key)
        with self._translated("CopyObject", key, "absent" if if_absent else None):
            head = source.head(key)
            if head is not None and head.size > 5 * 1024**3:
                self.client.copy(src, self.bucket, target)
                return str(self.client.head_object(Bucket=self.bucket, Key=target)["ETag"])
            args: dict[str, Any] = {"Bucket": self.bucket, "Key": target, "CopySource": src}
            if if_absent:
                args["IfNoneMatch"] = "*"
            return str(self.client.copy_object(**args)["CopyObjectResult"]["ETag"])

    def delete(self, key: str) -> None:
        with self._translated("DeleteObject", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
