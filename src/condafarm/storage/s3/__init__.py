"""A channel in an S3 (or S3-compatible) bucket: the only package that talks to boto3."""

from __future__ import annotations

from .reader import RangeReader
from .signing import HttpSigner
from .storage import S3Storage

__all__ = ["HttpSigner", "RangeReader", "S3Storage"]
