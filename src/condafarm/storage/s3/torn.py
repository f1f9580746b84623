"""Torn reads: a body that breaks off, or that is not the MD5 its ETag states, is read again before it counts.

Any connection can break mid-body, and stores that write objects in place (some emulators and gateways) can
serve a write in progress. Both pass; a damaged object reads the same every time. So a torn read is retried a
few times with a growing pause, and never taken for corrupt data or an unreachable store.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import botocore.exceptions

#: Reads of one object (or byte range) before a torn body is an error.
READ_ATTEMPTS = 4

_MD5 = re.compile(r"[0-9a-fA-F]{32}")


#: A body that ended early (shorter than its Content-Length, or its connection broke), or that does not match
#: the checksum the store sent with it.
_TORN = (
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.FlexibleChecksumError,
)


def is_torn(exc: BaseException) -> bool:
    """Whether `exc` is a torn body (see `_TORN`)."""
    return isinstance(exc, _TORN)


def pause(attempt: int) -> None:
    """Wait before reading again: 0.1 s, then twice as long each time."""
    time.sleep(0.1 * 2**attempt)


def stated_md5(response: Mapping[str, Any]) -> str | None:
    """The MD5 of the whole body that a GetObject response's ETag states; None where an ETag states none
    (a multipart `-N` ETag, SSE-KMS or SSE-C encryption)."""
    etag = str(response.get("ETag", "")).strip('"')
    if not _MD5.fullmatch(etag) or response.get("SSECustomerAlgorithm"):
        return None
    if str(response.get("ServerSideEncryption", "")).startswith("aws:kms"):
        return None
    return etag.lower()
