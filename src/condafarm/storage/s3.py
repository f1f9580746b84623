"""A channel in an S3 (or S3-compatible) bucket: the only module that talks to boto3.

Credentials come from boto3's standard chain (environment, `AWS_PROFILE`, SSO, `credential_process` as
Deadline Cloud queue roles use, instance roles), resolved here once per storage. Conditional writes use S3's
`If-None-Match: *` and `If-Match: ETAG`, which answer 412 to the loser of a race.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, cast
from urllib.parse import unquote_plus, urlsplit
from xml.etree import ElementTree

import boto3
import botocore.config
import botocore.exceptions
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest

from ..errors import AccessDenied, AlreadyExists, Conflict, NotFound, StorageError
from . import Blob, ObjectInfo, ObjectReader, Storage
from .location import Channel, S3Options

#: IAM action each S3 API operation needs, to name the missing permission in AccessDenied messages.
_IAM_ACTION = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CopyObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
}

#: The first ranged read of a `.conda` fetches this much of the file's end: the zip central directory and,
#: for all but large packages, the whole `info-*.tar.zst` member, so most packages cost one request.
TAIL_BYTES = 256 * 1024
READAHEAD_BYTES = 64 * 1024
#: Files above this go up in parts, several at once; each part is checksummed by S3 as it arrives.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_BYTES = 16 * 1024 * 1024
UPLOAD_THREADS = 8
#: A listing page's object entries, which `_take_listing` reads itself.
_CONTENTS = re.compile(rb"<Contents>.*?</Contents>", re.S)
#: S3's limit on parts per upload; larger files get larger parts.
MAX_PARTS = 10_000
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
        self.client.meta.events.register("before-parse.s3.ListObjectsV2", self._take_listing)
        self._listed = threading.local()

    # -- bookkeeping -----------------------------------------------------------------------------------
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

    def _fail(self, exc: Exception, operation: str, key: str | None) -> NoReturn:
        raise translate_error(exc, operation, self.channel, key) from exc

    # -- Storage -----------------------------------------------------------------------------------------
    def _folder(self, prefix: str) -> str:
        """The full key prefix, ending in `/`, of a folder inside the channel (`""` is the channel root)."""
        full = self._key(prefix.strip("/")) if prefix.strip("/") else self.channel.prefix
        return f"{full}/" if full else ""

    def _take_listing(self, response_dict: dict[str, Any], **_: Any) -> None:
        """Read a listing page's objects with ElementTree before botocore parses the page.

        botocore's response parser spends ~150 us per listed object (dates, owners, storage classes we never
        use): half the time of a no-op index of 2000 packages. This keeps Key, Size and ETag, and hands
        botocore the page without its `<Contents>` so it parses only the rest (continuation token, prefixes).
        """
        body = response_dict.get("body")
        if response_dict.get("status_code") != 200 or not body:
            return
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            return  # let botocore report it
        # botocore asks for url-encoded keys (EncodingType=url) and decodes them as it parses; so do we.
        encoded = root.findtext("{*}EncodingType") == "url"
        self._listed.contents = [
            {
                "Key": unquote_plus(key) if encoded else key,
                "Size": int(c.findtext("{*}Size") or 0),
                "ETag": c.findtext("{*}ETag"),
            }
            for c in root.iterfind("{*}Contents")
            for key in [c.findtext("{*}Key") or ""]
        ]
        response_dict["body"] = _CONTENTS.sub(b"", body)

    def _pages(self, folder: str) -> Iterator[dict[str, Any]]:
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=folder, Delimiter="/"
            ):
                page["Contents"] = self._listed.__dict__.pop("contents", page.get("Contents") or [])
                yield page
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            self._fail(exc, "ListObjectsV2", None)

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        strip = len(self.channel.prefix) + 1 if self.channel.prefix else 0
        for page in self._pages(self._folder(prefix)):
            for obj in page.get("Contents", ()):
                yield ObjectInfo(key=obj["Key"][strip:], size=obj["Size"], etag=obj["ETag"])

    def list_dirs(self, prefix: str = "") -> list[str]:
        folder = self._folder(prefix)
        return sorted(
            common["Prefix"][len(folder) :].rstrip("/")
            for page in self._pages(folder)
            for common in page.get("CommonPrefixes", ())
        )

    def get(self, key: str) -> Blob | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            data = response["Body"].read()
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            self._fail(exc, "GetObject", key)
        except botocore.exceptions.BotoCoreError as exc:
            self._fail(exc, "GetObject", key)
        self._add_bytes(len(data))
        return Blob(data, response["ETag"], dict(response.get("Metadata") or {}))

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            self._fail(exc, "HeadObject", key)
        except botocore.exceptions.BotoCoreError as exc:
            self._fail(exc, "HeadObject", key)
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            etag=response["ETag"],
            metadata=dict(response.get("Metadata") or {}),
        )

    def stream(self, info: ObjectInfo) -> ObjectReader:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(info.key), IfMatch=info.etag)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if isinstance(exc, botocore.exceptions.ClientError) and _code(exc) == "PreconditionFailed":
                raise Conflict(f"{self.channel.url_of(info.key)} changed while it was being read") from exc
            self._fail(exc, "GetObject", info.key)
        return _CountingStream(response["Body"], dict(response.get("Metadata") or {}), self._add_bytes)

    def open(self, info: ObjectInfo) -> ObjectReader:
        return RangeReader(info.size, lambda start, end: self._get_range(info.key, start, end, info.etag))

    def _get_range(self, key: str, start: int, end: int, etag: str) -> tuple[bytes, dict[str, str]]:
        try:
            # If-Match: a file replaced between listing and reading must not be read as a mix of both.
            response = self.client.get_object(
                Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end - 1}", IfMatch=etag
            )
            data = response["Body"].read()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if isinstance(exc, botocore.exceptions.ClientError) and _code(exc) == "PreconditionFailed":
                raise Conflict(f"{self.channel.url_of(key)} changed while it was being read") from exc
            self._fail(exc, "GetObject", key)
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
        try:
            return str(self.client.put_object(**args)["ETag"])
        except botocore.exceptions.ClientError as exc:
            code = _code(exc)
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                if if_absent:
                    raise AlreadyExists(f"{self.channel.url_of(key)} already exists") from exc
                raise Conflict(f"{self.channel.url_of(key)} was changed by another writer") from exc
            if code in ("NoSuchKey", "404") and if_match is not None:
                raise Conflict(f"{self.channel.url_of(key)} was removed by another writer") from exc
            self._fail(exc, "PutObject", key)
        except botocore.exceptions.BotoCoreError as exc:
            self._fail(exc, "PutObject", key)

    def _conditional_failure(self, exc: botocore.exceptions.ClientError, key: str, operation: str) -> NoReturn:
        if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise AlreadyExists(f"{self.channel.url_of(key)} already exists") from exc
        self._fail(exc, operation, key)

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
        size = path.stat().st_size
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key), "Metadata": metadata or {}}
        if content_type:
            args["ContentType"] = content_type
        if size > self.multipart_threshold:
            response, expected = self._multipart(key, path, size, args, if_absent, progress)
        else:
            # ChecksumSHA256 makes S3 refuse a body whose sha256 is not the package's: checked server-side.
            args.update(Body=path.read_bytes(), ChecksumSHA256=_b64(sha256))
            if if_absent:
                args["IfNoneMatch"] = "*"
            try:
                response = self.client.put_object(**args)
            except botocore.exceptions.ClientError as exc:
                self._conditional_failure(exc, key, "PutObject")
            except botocore.exceptions.BotoCoreError as exc:
                self._fail(exc, "PutObject", key)
            expected = _Expected(md5=md5, checksum=args["ChecksumSHA256"])
            if progress is not None:
                progress(size)
        self._verify_upload(key, response, expected, size, created=if_absent)
        return str(response["ETag"])

    def _multipart(
        self,
        key: str,
        path: Path,
        size: int,
        args: dict[str, Any],
        if_absent: bool,
        progress: Callable[[int], None] | None,
    ) -> tuple[dict[str, Any], _Expected]:
        """Upload in parts, several at once, each checked by S3 against its SHA-256 as it arrives."""
        part_bytes = max(self.part_bytes, -(-size // MAX_PARTS))
        count = -(-size // part_bytes)
        try:
            upload_id = self.client.create_multipart_upload(**args, ChecksumAlgorithm="SHA256")["UploadId"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            self._fail(exc, "CreateMultipartUpload", key)
        md5s: dict[int, bytes] = {}
        sha256s: dict[int, bytes] = {}

        def one(number: int) -> dict[str, Any]:
            with open(path, "rb") as f:
                f.seek((number - 1) * part_bytes)
                data = f.read(part_bytes)
            md5s[number] = hashlib.md5(data, usedforsecurity=False).digest()
            sha256s[number] = hashlib.sha256(data).digest()
            checksum = base64.b64encode(sha256s[number]).decode()
            try:
                response = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=args["Key"],
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                    ChecksumSHA256=checksum,
                )
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                self._fail(exc, "UploadPart", key)
            if progress is not None:
                progress(len(data))
            return {"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": checksum}

        try:
            with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
                parts = list(pool.map(one, range(1, count + 1)))
            complete: dict[str, Any] = {
                "Bucket": self.bucket,
                "Key": args["Key"],
                "UploadId": upload_id,
                "MultipartUpload": {"Parts": parts},
            }
            if if_absent:
                complete["IfNoneMatch"] = "*"
            try:
                response: dict[str, Any] = self.client.complete_multipart_upload(**complete)
            except botocore.exceptions.ClientError as exc:
                self._conditional_failure(exc, key, "CompleteMultipartUpload")
            except botocore.exceptions.BotoCoreError as exc:
                self._fail(exc, "CompleteMultipartUpload", key)
        except BaseException:
            with contextlib.suppress(botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=args["Key"], UploadId=upload_id)
            raise
        order = range(1, count + 1)
        md5_of_md5s = hashlib.md5(b"".join(md5s[n] for n in order), usedforsecurity=False).hexdigest()
        sha_of_shas = base64.b64encode(hashlib.sha256(b"".join(sha256s[n] for n in order)).digest()).decode()
        return response, _Expected(md5=f"{md5_of_md5s}-{count}", checksum=f"{sha_of_shas}-{count}")

    def _verify_upload(
        self, key: str, response: dict[str, Any], expected: _Expected, size: int, *, created: bool
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
            head = self.head(key)
            if head is None or head.size != size:
                problem = f"it holds {head.size if head else 0} bytes, the file has {size}"
        if problem is None:
            return
        # A damaged object this upload created is removed; one it replaced (--force) is left for the caller to
        # report, since deleting it would leave its record naming a missing file.
        if created:
            self.delete(key)
        raise StorageError(f"upload of {self.channel.url_of(key)} failed verification ({problem}); retry")

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
        try:
            head = source.head(key)
            if head is not None and head.size > 5 * 1024**3:
                self.client.copy(src, self.bucket, target)
                return str(self.client.head_object(Bucket=self.bucket, Key=target)["ETag"])
            args: dict[str, Any] = {"Bucket": self.bucket, "Key": target, "CopySource": src}
            if if_absent:
                args["IfNoneMatch"] = "*"
            return str(self.client.copy_object(**args)["CopyObjectResult"]["ETag"])
        except botocore.exceptions.ClientError as exc:
            self._conditional_failure(exc, key, "CopyObject")
        except botocore.exceptions.BotoCoreError as exc:
            self._fail(exc, "CopyObject", key)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            self._fail(exc, "DeleteObject", key)


class _CountingStream(ObjectReader):
    """A GetObject body as a file object that counts the bytes it delivers and carries the metadata."""

    def __init__(self, body: Any, metadata: dict[str, str], count: Callable[[int], None]) -> None:
        super().__init__()
        self._body = body
        self.metadata = metadata
        self._count = count

    @property
    def complete(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._body.read(len(buffer))
        except botocore.exceptions.BotoCoreError as exc:
            raise StorageError(f"download interrupted: {exc}") from exc
        buffer[: len(data)] = data
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
        if len(data) != end - start:
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


def make_session(options: S3Options) -> boto3.session.Session:
    """The boto3 session for `options.profile` (or the default chain): where credentials are resolved."""
    try:
        return boto3.session.Session(profile_name=options.profile)
    except botocore.exceptions.ProfileNotFound as exc:
        raise AccessDenied(
            f"AWS profile {options.profile!r} is not in your AWS config; fix AWS_PROFILE or run `aws configure`"
        ) from exc


def make_client(channel: Channel, session: boto3.session.Session | None = None) -> Any:
    """The boto3 S3 client for `channel`: the one place credentials and endpoint options are resolved."""
    options = channel.s3
    session = session or make_session(options)
    s3_config: dict[str, Any] = {}
    if options.addressing_style:
        s3_config["addressing_style"] = options.addressing_style
    config = botocore.config.Config(
        s3=cast(Any, s3_config or None),
        retries={"mode": "standard", "max_attempts": 6},
        max_pool_connections=64,
        connect_timeout=10,
        read_timeout=60,
        tcp_keepalive=True,
    )
    return session.client("s3", endpoint_url=options.endpoint_url, region_name=options.region, config=config)


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


@dataclass(frozen=True)
class _Expected:
    """What S3 should report for an uploaded file: its MD5 ETag and its base64 SHA-256 (`-N` for N parts)."""

    md5: str
    checksum: str


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate_error(exc: Exception, operation: str, channel: Channel, key: str | None) -> Exception:
    """One actionable condafarm error for a boto3 failure; never includes credentials."""
    where = f"endpoint {channel.s3.endpoint_url}" if channel.s3.endpoint_url else "AWS S3"
    target = channel.url_of(key) if key else channel.url
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return AccessDenied(
            "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
            "run `aws sso login`, or run on a host with a role"
        )
    if isinstance(
        exc,
        botocore.exceptions.CredentialRetrievalError
        | botocore.exceptions.TokenRetrievalError
        | botocore.exceptions.SSOError,
    ):
        return AccessDenied(f"could not get AWS credentials ({type(exc).__name__}); refresh your login or role")
    if isinstance(exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError):
        return StorageError(f"cannot reach {where} for {target}; check --endpoint-url and the network")
    if isinstance(exc, botocore.exceptions.ClientError):
        code = _code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket" or (code == "404" and operation == "HeadBucket"):
            return NotFound(f"bucket {channel.bucket!r} does not exist at {where}; check the channel URL")
        if code in ("NoSuchKey", "404"):
            return NotFound(f"{target} does not exist")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
            return AccessDenied(f"{where} rejected the AWS credentials ({code}); check AWS_PROFILE or the access keys")
        if code in ("AccessDenied", "AllAccessDisabled", "Forbidden") or status == 403:
            action = _IAM_ACTION.get(operation, f"s3:{operation}")
            resource = (
                f"arn:aws:s3:::{channel.bucket}"
                if action == "s3:ListBucket"
                else f"arn:aws:s3:::{channel.bucket}/{channel.key(key or '*')}"
            )
            return AccessDenied(
                f"access denied: the credentials lack {action} on {resource}; "
                "grant it to these credentials or use others"
            )
        message = exc.response.get("Error", {}).get("Message", "")
        return StorageError(f"S3 {operation} on {target} failed: {code} {message}".strip())
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return StorageError(f"S3 {operation} on {target} failed: {exc}")
    return exc


class HttpSigner:
    """SigV4 headers for plain HTTP GETs of a channel's objects, for HTTP clients that cannot sign S3 requests.

    py-rattler's own S3 support presigns URLs with its own credential chain; handing it signed headers instead
    keeps credentials resolved here, by boto3 (profiles, SSO, `credential_process`, roles), refreshed as they
    expire, and works wherever header authentication does. `root_url` is the channel's HTTP address (endpoint,
    addressing style and region as boto3 resolves them); `headers(host, path)` signs a GET of that URL.
    """

    def __init__(self, channel: Channel) -> None:
        session = make_session(channel.s3)
        client = make_client(channel, session)
        credentials = session.get_credentials()
        if credentials is None:
            raise translate_error(botocore.exceptions.NoCredentialsError(), "GetObject", channel, None)
        self._credentials = credentials
        self.region = str(client.meta.region_name or "us-east-1")
        # boto3 builds object URLs for this endpoint, addressing style and region; the channel root is one of
        # them minus the probe name (presigning is local: no request is made).
        probe = channel.key("probe")
        url = urlsplit(client.generate_presigned_url("get_object", Params={"Bucket": channel.bucket, "Key": probe}))
        self.scheme, self.netloc = url.scheme, url.netloc
        self.root_path = url.path[: -len("probe")]
        self.root_url = f"{self.scheme}://{self.netloc}{self.root_path}"

    def headers(self, host: str, path: str) -> dict[str, str] | None:
        """Headers that authenticate `GET path` on `host`, or None when the URL is not in this channel."""
        if host != self.netloc.rsplit(":", 1)[0] or not path.startswith(self.root_path):
            return None
        request = AWSRequest(method="GET", url=f"{self.scheme}://{self.netloc}{path}")
        request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        S3SigV4Auth(self._credentials.get_frozen_credentials(), "s3", self.region).add_auth(request)
        return {name: value for name, value in request.headers.items() if name.lower() != "host"}
