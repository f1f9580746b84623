"""Uploading a file to S3, whole or in parts, and proving the stored object is exactly the file."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import StorageError
from .errors import FAILURES, translated

if TYPE_CHECKING:
    from .storage import S3Storage

#: Files above this go up in parts, several at once; each part is checksummed by S3 as it arrives.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_BYTES = 16 * 1024 * 1024
UPLOAD_THREADS = 8
#: S3's limit on parts per upload; larger files get larger parts.
MAX_PARTS = 10_000


@dataclass(frozen=True)
class _Expected:
    """What S3 should report for an uploaded file: its MD5 ETag and its base64 SHA-256 (`-N` for N parts)."""

    md5: str
    checksum: str


def upload_file(
    storage: S3Storage,
    key: str,
    path: Path,
    *,
    sha256: str,
    md5: str,
    if_absent: bool,
    metadata: dict[str, str] | None,
    content_type: str | None,
    progress: Callable[[int], None] | None,
) -> str:
    """`Storage.upload` on S3: one checksummed PUT, or a multipart upload above `storage.multipart_threshold`."""
    size = path.stat().st_size
    args: dict[str, Any] = {"Bucket": storage.bucket, "Key": storage.channel.key(key), "Metadata": metadata or {}}
    if content_type:
        args["ContentType"] = content_type
    if size > storage.multipart_threshold:
        response, expected = _multipart(storage, key, path, size, args, if_absent, progress)
    else:
        # ChecksumSHA256 makes S3 refuse a body whose sha256 is not the package's: checked server-side.
        args.update(Body=path.read_bytes(), ChecksumSHA256=_b64(sha256))
        if if_absent:
            args["IfNoneMatch"] = "*"
        with translated(storage.channel, "PutObject", key, condition="absent" if if_absent else None):
            response = storage.client.put_object(**args)
        expected = _Expected(md5=md5, checksum=args["ChecksumSHA256"])
        if progress is not None:
            progress(size)
    _verify(storage, key, response, expected, size, created=if_absent)
    return str(response["ETag"])


def _multipart(
    storage: S3Storage,
    key: str,
    path: Path,
    size: int,
    args: dict[str, Any],
    if_absent: bool,
    progress: Callable[[int], None] | None,
) -> tuple[dict[str, Any], _Expected]:
    """Upload in parts, several at once, each checked by S3 against its SHA-256 as it arrives."""
    client = storage.client
    part_bytes = max(storage.part_bytes, -(-size // MAX_PARTS))
    count = -(-size // part_bytes)
    with translated(storage.channel, "CreateMultipartUpload", key):
        upload_id = client.create_multipart_upload(**args, ChecksumAlgorithm="SHA256")["UploadId"]
    md5s: dict[int, bytes] = {}
    sha256s: dict[int, bytes] = {}

    def one(number: int) -> dict[str, Any]:
        with open(path, "rb") as f:
            f.seek((number - 1) * part_bytes)
            data = f.read(part_bytes)
        md5s[number] = hashlib.md5(data, usedforsecurity=False).digest()
        sha256s[number] = hashlib.sha256(data).digest()
        checksum = base64.b64encode(sha256s[number]).decode()
        with translated(storage.channel, "UploadPart", key):
            response = client.upload_part(
                Bucket=storage.bucket,
                Key=args["Key"],
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
                ChecksumSHA256=checksum,
            )
        if progress is not None:
            progress(len(data))
        return {"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": checksum}

    try:
        with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
            parts = list(pool.map(one, range(1, count + 1)))
        complete: dict[str, Any] = {
            "Bucket": storage.bucket,
            "Key": args["Key"],
            "UploadId": upload_id,
            "MultipartUpload": {"Parts": parts},
        }
        if if_absent:
            complete["IfNoneMatch"] = "*"
        with translated(storage.channel, "CompleteMultipartUpload", key, condition="absent" if if_absent else None):
            response: dict[str, Any] = client.complete_multipart_upload(**complete)
    except BaseException:
        with contextlib.suppress(*FAILURES):
            client.abort_multipart_upload(Bucket=storage.bucket, Key=args["Key"], UploadId=upload_id)
        raise
    order = range(1, count + 1)
    md5_of_md5s = hashlib.md5(b"".join(md5s[n] for n in order), usedforsecurity=False).hexdigest()
    sha_of_shas = base64.b64encode(hashlib.sha256(b"".join(sha256s[n] for n in order)).digest()).decode()
    return response, _Expected(md5=f"{md5_of_md5s}-{count}", checksum=f"{sha_of_shas}-{count}")


def _verify(
    storage: S3Storage, key: str, response: dict[str, Any], expected: _Expected, size: int, *, created: bool
) -> None:
    """Prove the stored object is exactly the file, with what the store already told us.

    S3 returns the SHA-256 checksum it verified; stores that do not (moto, some S3-compatible servers) give
    the MD5 ETag of what they stored. Either matching the file proves content and size without another
    request. Only under SSE-KMS without a checksum (ETags are not MD5s there) is a HEAD needed, for the size.
    """
    etag = str(response["ETag"]).strip('"')
    checksum = response.get("ChecksumSHA256")
    problem = None
    if checksum is not None:
        if checksum != expected.checksum:
            problem = f"S3 computed SHA-256 {checksum}, the file has {expected.checksum}"
    elif not str(response.get("ServerSideEncryption", "")).startswith("aws:kms"):
        if etag != expected.md5:
            problem = f"S3 computed ETag {etag}, the file has MD5 {expected.md5}"
    else:
        head = storage.head(key)
        if head is None or head.size != size:
            problem = f"it holds {head.size if head else 0} bytes, the file has {size}"
    if problem is None:
        return
    # A damaged object this upload created is removed; one it replaced (--force) is left for the caller to
    # report, since deleting it would leave its record naming a missing file.
    if created:
        storage.delete(key)
    raise StorageError(f"upload of {storage.channel.url_of(key)} failed verification ({problem}); retry")


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()
