"""Keeping secrets out of everything condafarm prints: log records at every level and error messages.

botocore's debug log (`-vv`) prints request headers, which carry the session token and the signature, and a
`user:password@` endpoint URL can end up in an error. Everything bound for a terminal or a farm log passes
through `redact`.
"""

from __future__ import annotations

import logging
import os
import re

MASK = "***"

#: Environment variables whose values are secrets wherever they appear.
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")

_PATTERNS = [
    # URL userinfo: scheme://user:password@host
    (re.compile(r"(?P<keep>[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@"), rf"\g<keep>{MASK}@"),
    # Header dumps: 'X-Amz-Security-Token': b'...' / X-Amz-Security-Token: ...
    (
        re.compile(r"(?P<keep>x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[^'\"\s,}]+", re.IGNORECASE),
        rf"\g<keep>{MASK}",
    ),
    # anaconda.org-style tokens in channel URLs: https://conda.anaconda.org/t/TOKEN/channel
    (re.compile(r"(?P<keep>/t/)[^/\s]+(?=/)"), rf"\g<keep>{MASK}"),
    # SigV4 signatures in Authorization headers and presigned query strings
    (re.compile(r"(?P<keep>Signature=)[0-9a-fA-F]+"), rf"\g<keep>{MASK}"),
    (re.compile(r"(?P<keep>X-Amz-Signature=)[0-9a-fA-F]+", re.IGNORECASE), rf"\g<keep>{MASK}"),
    (
        re.compile(r"(?P<keep>aws_secret_access_key['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+", re.IGNORECASE),
        rf"\g<keep>{MASK}",
    ),
]


def redact(text: str) -> str:
    """`text` with secret values from the environment, URL passwords, tokens and signatures masked."""
    for name in SECRET_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 8:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """A formatter that masks secrets in each formatted record, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
