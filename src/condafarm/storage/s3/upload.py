"""Uploading a file to S3, whole or in parts, and proving the stored object is exactly the file."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import StorageError
from ..cache_control import cache_control
from .errors import FAILURES, translated

if TYPE_CHECKING:
    from .storage import S3Storage

log = logging.getLogger(__name__)

#: Files above this go up in parts, several at once; each part is checksummed by S3 as it arrives.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_BYTES = 16 * 1024 * 1024
UPLOAD_THREADS = 8
#: S3's limit on parts per upload; larger files get larger parts.
MAX_PARTS = 10_000


@dataclass(frozen=True)
class _Expected:
    """What S3 may report for an uploaded file: an MD5 ETag and its base64 SHA-256 (`-N` for N parts).

    A multipart object's ETag is the MD5 of its parts' MD5s with `-N` on AWS, but the whole file's MD5 on some
    stores: both prove the bytes.
    """

    etags: tuple[str, ...]
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
    args: dict[str, Any] = {
        "Bucket": storage.bucket,
        "Key": storage.channel.key(key),
        "Metadata": metadata or {},
        "CacheControl": cache_control(key),
    }
    if content_type:
        args["ContentType"] = content_type
    if size > storage.multipart_threshold:
        response, expected = _multipart(storage, key, path, size, md5, args, if_absent, progress)
    else:
        # ChecksumSHA256 makes S3 refuse a body whose sha256 is not the package's: checked server-side.
        args.update(Body=path.read_bytes(), ChecksumSHA256=_b64(sha256))
        if if_absent:
            args["IfNoneMatch"] = "*"
        with translated(storage.channel, "PutObject", key, condition="absent" if if_absent else None):
            response = storage.client.put_object(**args)
        expected = _Expected(etags=(md5,), checksum=args["ChecksumSHA256"])
        if progress is not None:
            progress(size)
    _verify(storage, key, response, expected, size, sha256, created=if_absent)
    return str(response["ETag"])


def _multipart(
    storage: S3Storage,
    key: str,
    path: Path,
    size: int,
    md5: str,
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
    return response, _Expected(etags=(f"{md5_of_md5s}-{count}", md5), checksum=f"{sha_of_shas}-{count}")


def _verify(
    storage: S3Storage,
    key: str,
    response: dict[str, Any],
    expected: _Expected,
    size: int,
    sha256: str,
    *,
    created: bool,
) -> None:
    """Prove the stored object is exactly the file, with what the store already told us where it can.

    S3 returns the SHA-256 checksum it verified; stores that do not (moto, some S3-compatible servers) give an
    MD5 ETag of what they stored. Either matching the file proves content and size without another request.
    Under SSE-KMS (ETags are not MD5s there) a HEAD checks the size. A store whose ETag is neither form of the
    file's MD5 may simply compute ETags its own way, so the object is read back and hashed: only bytes that
    differ are a failed upload.
    """
    etag = str(response["ETag"]).strip('"')
    checksum = response.get("ChecksumSHA256")
    url = storage.channel.url_of(key)
    if checksum is not None:
        if checksum == expected.checksum:
            return
        problem = f"the store computed SHA-256 {checksum} of what it received, the file's is {expected.checksum}"
    elif str(response.get("ServerSideEncryption", "")).startswith("aws:kms"):
        head = storage.head(key)
        if head is not None and head.size == size:
            return
        problem = f"the store holds {head.size if head else 0} bytes, the file has {size}"
    elif etag in expected.etags:
        return
    else:
        actual = _read_back(storage, key)
        if actual == sha256:
            log.info("%s: the store's ETag %s is not an MD5 of the file; verified by reading it back", url, etag)
            return
        problem = f"reading it back gives SHA-256 {actual}, the file's is {sha256}"
    # A damaged object this upload created is removed; one it replaced (--force) is left for the caller to
    # report, since deleting it would leave its record naming a missing file.
    if created:
        storage.delete(key)
    fate = "it was removed" if created else "it replaced the previous file"
    raise StorageError(
        f"upload of {url} failed verification: the store holds other bytes than the file ({problem}); {fate}. "
        "Something between this host and the store changes data: check proxies and the store, then publish again"
    )


def _read_back(storage: S3Storage, key: str) -> str:
    """The SHA-256 of the object as stored. Unconditional: the ETag is what is in doubt, and only the file's
    exact bytes can match."""
    digest = hashlib.sha256()
    with translated(storage.channel, "GetObject", key):
        body = storage.client.get_object(Bucket=storage.bucket, Key=storage.channel.key(key))["Body"]
        for chunk in body.iter_chunks(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()
