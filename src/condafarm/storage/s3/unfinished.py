"""Multipart uploads that an interrupted publish left open, which the store keeps (and bills) until aborted.

`find` lists them with ListMultipartUploads and sizes them with ListParts; `abort` ends one. They are the S3
leftovers of the storage contract (`Storage.leftovers`), reported by `check` and removed by `index`.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from ...errors import StorageError
from ..contract import Leftover
from .errors import error_code, translated

if TYPE_CHECKING:
    from .storage import S3Storage

log = logging.getLogger(__name__)

WHAT = "unfinished multipart upload"
#: Error codes of a store that has no ListMultipartUploads (s3rver answers 501 NotImplemented).
UNSUPPORTED = ("NotImplemented", "501")
_Page = dict[str, Any]


class NotSupported(StorageError):
    """The store cannot list multipart uploads at all (not a permission: no credentials would help)."""


def _pages(call: Callable[..., _Page], args: dict[str, Any], markers: dict[str, str]) -> Iterator[_Page]:
    """Every page of a paged S3 call, each next one asked from the markers (argument: field of the page) the
    last one gave. Not botocore's paginator: loading its model costs ~40 ms, more than the one request an index
    run makes here."""
    while True:
        page = call(**args)
        yield page
        following = {arg: page.get(field) for arg, field in markers.items()}
        if not page.get("IsTruncated") or None in following.values():
            return
        args = {**args, **following}


def find(storage: S3Storage, prefix: str) -> list[tuple[Leftover, str]]:
    """Uploads whose key is under `prefix` (at any depth: one request covers a subdir's shards and state too),
    each with its upload id.

    Age counts from the last part written (else from the start): a live upload keeps adding parts. It is
    measured by the store's clock alone, up to the time the store answered the listing of the parts
    (`store_time`): a host whose clock runs ahead never aborts a live upload early.
    """
    client, channel = storage.client, storage.channel
    strip = len(channel.prefix) + 1 if channel.prefix else 0
    with translated(channel, "ListMultipartUploads", prefix.strip("/") or None):
        pages = _pages(
            client.list_multipart_uploads,
            {"Bucket": storage.bucket, "Prefix": storage.folder(prefix)},
            {"KeyMarker": "NextKeyMarker", "UploadIdMarker": "NextUploadIdMarker"},
        )
        try:
            uploads = [upload for page in pages for upload in page.get("Uploads", ())]
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in UNSUPPORTED:
                raise
            raise NotSupported(
                f"the store does not implement ListMultipartUploads ({error_code(exc)}), so uploads an "
                "interrupted publish left open cannot be found there; skipped"
            ) from exc
    found = []
    for upload in uploads:
        key = str(upload["Key"])[strip:]
        with translated(channel, "ListParts", key):
            pages = _pages(
                client.list_parts,
                {"Bucket": storage.bucket, "Key": upload["Key"], "UploadId": upload["UploadId"]},
                {"PartNumberMarker": "NextPartNumberMarker"},
            )
            try:
                parts = [part for page in pages for part in page.get("Parts", ())]
            except client.exceptions.NoSuchUpload:
                continue  # completed or aborted since it was listed
        times: list[datetime.datetime] = [
            t for t in (upload.get("Initiated"), *(p.get("LastModified") for p in parts)) if t
        ]
        size = sum(int(part.get("Size", 0)) for part in parts)
        now = storage.store_time()
        age = max(0.0, now - max(times).timestamp()) if times and now is not None else None
        found.append((Leftover(key, WHAT, size, age), str(upload["UploadId"])))
    return found


def abort(storage: S3Storage, leftover: Leftover, upload_id: str) -> None:
    """End the upload; the store drops its parts. One already ended is not an error."""
    with translated(storage.channel, "AbortMultipartUpload", leftover.key):
        try:
            storage.client.abort_multipart_upload(
                Bucket=storage.bucket, Key=storage.channel.key(leftover.key), UploadId=upload_id
            )
        except storage.client.exceptions.NoSuchUpload:
            log.debug("%s was already ended", leftover.key)
