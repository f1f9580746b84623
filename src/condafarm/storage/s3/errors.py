"""The one translation of botocore failures into condafarm errors that say what to do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import botocore.exceptions

from ...errors import AccessDenied, AlreadyExists, Conflict, NotFound, StorageError
from ..location import Channel
from ..timeouts import timeouts
from .torn import is_torn
from .watch import DeadlineExceeded

#: What any boto3 call may raise: failures to make the request, and error responses.
FAILURES = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
#: Error codes of a missing object (a GET says NoSuchKey; a HEAD has no body, so only its status is known).
MISSING = ("NoSuchKey", "404")
#: Codes of a failed `If-Match`/`If-None-Match` write: 412, or 409 when another conditional write was under way.
_CONDITION_FAILED = ("PreconditionFailed", "ConditionalRequestConflict")

#: What a conditional request asserted, which decides what its failed condition means to the caller:
#: `unchanged` a read with If-Match, `absent` a write with `If-None-Match: *`, `match` a write with If-Match.
Condition = Literal["unchanged", "absent", "match"]

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
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "ListParts": "s3:ListMultipartUploadParts",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
}
#: Actions granted on the bucket itself rather than on its objects.
_BUCKET_ACTIONS = ("s3:ListBucket", "s3:ListBucketMultipartUploads")
#: Codes of requests whose credentials the store did not accept (as opposed to lacking a permission).
_REJECTED = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired")


def error_code(exc: Exception) -> str:
    """S3's error code for a failed request (`NoSuchKey`, `412`...); empty when no response came."""
    if not isinstance(exc, botocore.exceptions.ClientError):
        return ""
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def translated(
    channel: Channel, operation: str, key: str | None, *, condition: Condition | None = None
) -> Iterator[None]:
    """Raise what `translate_error` makes of any boto3 failure inside the block."""
    try:
        yield
    except FAILURES as exc:
        raise translate_error(exc, operation, channel, key, condition=condition) from exc


def _failed_condition(code: str, condition: Condition | None, target: str) -> Exception | None:
    """The error a caller handles for a failed condition (a race it lost), or None if this is not one."""
    if condition == "unchanged" and code == "PreconditionFailed":
        return Conflict(f"{target} changed while it was being read")
    if condition == "absent" and code in _CONDITION_FAILED:
        return AlreadyExists(f"{target} already exists")
    if condition == "match" and code in _CONDITION_FAILED:
        return Conflict(f"{target} was changed by another writer")
    if condition == "match" and code in MISSING:
        return Conflict(f"{target} was removed by another writer")
    return None


def translate_error(
    exc: Exception, operation: str, channel: Channel, key: str | None, *, condition: Condition | None = None
) -> Exception:
    """One actionable condafarm error for a boto3 failure; never includes credentials.

    `condition` is what the request asserted (see `Condition`), so losing a race raises `Conflict` or
    `AlreadyExists`, which callers handle, rather than a storage failure.
    """
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
    if isinstance(exc, DeadlineExceeded):
        return StorageError(f"{exc}, for {target} (CONDAFARM_DEADLINE); check --endpoint-url and the store's health")
    if isinstance(exc, botocore.exceptions.ReadTimeoutError):
        return StorageError(
            f"{where} stopped answering {operation} for {target} for {timeouts().read:g} s "
            "(CONDAFARM_READ_TIMEOUT); check --endpoint-url and the store's health"
        )
    if is_torn(exc):
        return StorageError(
            f"reading {target} from {where} kept breaking off before its end ({exc}); the store or the network "
            "drops connections: try again, and check the store if it persists"
        )
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc)
        lost_race = _failed_condition(code, condition, target)
        if lost_race is not None:
            return lost_race
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket" or (code == "404" and operation == "HeadBucket"):
            return NotFound(f"bucket {channel.bucket!r} does not exist at {where}; check the channel URL")
        if code in MISSING:
            return NotFound(f"{target} does not exist")
        if code in _REJECTED:
            return AccessDenied(f"{where} rejected the AWS credentials ({code}); check AWS_PROFILE or the access keys")
        if code in ("AccessDenied", "AllAccessDisabled", "Forbidden") or status == 403:
            action = _IAM_ACTION.get(operation, f"s3:{operation}")
            resource = (
                f"arn:aws:s3:::{channel.bucket}"
                if action in _BUCKET_ACTIONS
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
