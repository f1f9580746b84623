"""condafarm: build, publish, index and serve conda channels on S3 or a folder, for render farms.

The public API is what this module exports; everything else may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .channel import Channel, S3Options, parse_channel
from .check import CheckReport, check_channel
from .errors import (
    AccessDenied,
    AlreadyExists,
    ChannelProblems,
    CondafarmError,
    Conflict,
    NotFound,
    PackageError,
    StorageError,
    UsageError,
)
from .index import IndexReport, SubdirReport, index_channel, init_channel
from .listing import Listed, list_packages
from .package import Hashes, PackageMetadata, read_metadata
from .storage import open_storage

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "Channel",
    "ChannelProblems",
    "CheckReport",
    "CondafarmError",
    "Conflict",
    "Hashes",
    "IndexReport",
    "Listed",
    "NotFound",
    "PackageError",
    "PackageMetadata",
    "S3Options",
    "StorageError",
    "SubdirReport",
    "UsageError",
    "check_channel",
    "index_channel",
    "init_channel",
    "list_packages",
    "open_storage",
    "parse_channel",
    "read_metadata",
]
